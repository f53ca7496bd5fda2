/** The apiserver refused what the Rollout asks for, in a way that retrying the same request cannot fix. */
export class RefusedError extends Error {
  constructor(
    readonly reason: 'InvalidSpec' | 'ResourceConflict' | 'ConfigCopyRefused',
    message: string,
  ) {
    super(message);
  }
}
