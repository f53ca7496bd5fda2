import type { RolloutSpec, RolloutStatus } from '../api/rollout.js';

/** On a Namespace: `enabled` or `disabled`, for every Rollout in it that does not say. */
export const WRITE_BACK_ANNOTATION = 'fledge.dev/write-back';
/** On a Namespace: the Secret with Git credentials for Rollouts in it that name none. */
export const WRITE_BACK_SECRET_ANNOTATION = 'fledge.dev/write-back-secret';

/** The controller-wide word (--write-back, --write-back-secret): the last one asked. */
export interface ControllerWriteBack {
  mode: 'off' | 'on';
  secret?: string;
}

/** What the Rollout's Namespace says, or why it could not be read. */
export type NamespaceWord = { name: string; annotations: Record<string, string> } | { name: string; unreadable: string };

export type WriteBackScope =
  | { enabled: false; reason: string }
  | { enabled: true; secret?: string; optedInBy: 'Rollout' | 'Namespace' | 'controller' }
  /** Someone meant something we cannot follow; reported as a failed write-back. */
  | { problem: string };

type WriteBackSpec = RolloutSpec['writeBack'];

/**
 * The Namespace is read (one GET, after an abort) only when the Rollout leaves something open: whether to write
 * back at all, or which Secret to use. An explicit `enabled: false` needs nothing more.
 */
export function needsNamespace(config: WriteBackSpec): boolean {
  if (config?.enabled === false) return false;
  return config === undefined || config.secretRef === undefined;
}

/**
 * Whether to write back after an abort, and with which Secret. The most specific word wins: the Rollout
 * (spec.writeBack present, unless `enabled: false`), then its Namespace's annotations, then the controller's flags.
 */
export function writeBackScope(config: WriteBackSpec, namespace: NamespaceWord | undefined, controller: ControllerWriteBack): WriteBackScope {
  // Present is opted in, as before namespaces and the controller could say: spec.writeBack: {} turns it on.
  const rolloutSays = config === undefined ? undefined : config.enabled !== false;
  if (rolloutSays === false) return { enabled: false, reason: 'spec.writeBack.enabled is false' };

  const annotations = namespace !== undefined && 'annotations' in namespace ? namespace.annotations : {};
  const secret = config?.secretRef?.name ?? annotations[WRITE_BACK_SECRET_ANNOTATION] ?? controller.secret;
  const scope = (optedInBy: 'Rollout' | 'Namespace' | 'controller'): WriteBackScope => ({ enabled: true, optedInBy, ...(secret !== undefined && { secret }) });
  if (rolloutSays === true) return scope('Rollout');

  if (namespace !== undefined && 'unreadable' in namespace) {
    // Without the Namespace nobody can tell whether it opts out; with the controller off, nobody asked for it.
    const problem = `cannot read Namespace ${namespace.name} to see whether it opts out: ${namespace.unreadable}`;
    return controller.mode === 'on' ? { problem } : { enabled: false, reason: problem };
  }
  const word = annotations[WRITE_BACK_ANNOTATION];
  if (word === 'enabled') return scope('Namespace');
  if (word === 'disabled') return { enabled: false, reason: `Namespace ${namespace?.name ?? ''} has ${WRITE_BACK_ANNOTATION}: disabled` };
  if (word !== undefined) {
    return { problem: `Namespace ${namespace?.name ?? ''} has ${WRITE_BACK_ANNOTATION}: ${JSON.stringify(word)}; expected "enabled" or "disabled"` };
  }
  if (controller.mode === 'on') return scope('controller');
  return { enabled: false, reason: 'neither the Rollout, its Namespace nor the controller (--write-back) opts in' };
}

/** A write-back that failed (auth, network, a branch that kept moving) is tried again after this long. */
export const WRITE_BACK_RETRY_MS = 5 * 60_000;

/**
 * Whether a write-back of the stable images is due now for the aborted revision, or when to look again for one that
 * failed: one write-back per aborted revision, unless the Rollout turned it off. Whether anyone opted in is the
 * shell's question (it reads the Namespace).
 */
export function writeBackDue(spec: WriteBackSpec, status: RolloutStatus, now: number): { revision: string } | { retryAt: number } | undefined {
  if (spec?.enabled === false) return undefined;
  const revision = status.currentRevision;
  if (status.abort !== true || revision === undefined || revision === status.stableRevision) return undefined;
  const previous = status.writeBack;
  if (previous?.revision === revision) {
    if (previous.outcome !== 'Failed') return undefined;
    const retryAt = Date.parse(previous.time ?? '') + WRITE_BACK_RETRY_MS;
    if (retryAt > now) return { retryAt };
  }
  return { revision };
}
