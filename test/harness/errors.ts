/** A harness failure with a message that tells a person what to do. */
export class HarnessError extends Error {
  override name = 'HarnessError';
}
