import type * as k8s from '@kubernetes/client-node';
import type { DeclaredRollout } from '../api/rollout.js';
import { ANNOTATION_REVISION, LABEL_POD_TEMPLATE_HASH } from '../api/labels.js';
import { stepOrdinal } from '../rollout/decide/steps.js';

/** What a steering command will do, decided purely from the Rollout it read, or why it refuses. */
export type ActionPlan =
  | { kind: 'refuse'; message: string }
  | { kind: 'patch'; subresource: 'status' | 'spec'; patch: Record<string, unknown>; done: string };

const refuse = (message: string): ActionPlan => ({ kind: 'refuse', message });

function inCanary(rollout: DeclaredRollout): boolean {
  const status = rollout.status ?? {};
  return status.currentRevision !== undefined && status.currentRevision !== status.stableRevision;
}

export function planPromote(rollout: DeclaredRollout, full: boolean): ActionPlan {
  const name = rollout.metadata.name;
  const status = rollout.status ?? {};
  if (status.abort === true) return refuse(`rollout ${name} is aborted: use \`kubectl fledge retry ${name}\` to start its canary again`);
  if (!inCanary(rollout)) return refuse(`rollout ${name} has no canary in progress (phase ${status.phase ?? 'unknown'}): nothing to promote`);
  if (rollout.spec.paused === true) return refuse(`rollout ${name} is paused by spec.paused: resume it first with \`kubectl fledge resume ${name}\``);
  return {
    kind: 'patch',
    subresource: 'status',
    patch: { status: { promote: full ? 'full' : 'step' } },
    done: full ? `rollout ${name} fully promoted: skipping the remaining steps` : `rollout ${name} promoted past ${stepOrdinal(status.currentStepIndex ?? 0, rollout.spec.strategy.canary.steps?.length ?? 0)}`,
  };
}

export function planAbort(rollout: DeclaredRollout): ActionPlan {
  const name = rollout.metadata.name;
  if (rollout.status?.abort === true) return refuse(`rollout ${name} is already aborted`);
  if (!inCanary(rollout)) return refuse(`rollout ${name} has no canary in progress: nothing to abort`);
  return { kind: 'patch', subresource: 'status', patch: { status: { abort: true } }, done: `rollout ${name} aborted: going back to 100% stable` };
}

export function planRetry(rollout: DeclaredRollout): ActionPlan {
  const name = rollout.metadata.name;
  if (rollout.status?.abort !== true) return refuse(`rollout ${name} is not aborted: there is nothing to retry`);
  return { kind: 'patch', subresource: 'status', patch: { status: { abort: false } }, done: `rollout ${name} retried: its canary starts again from the first step` };
}

export function planPause(rollout: DeclaredRollout): ActionPlan {
  const name = rollout.metadata.name;
  if (rollout.spec.paused === true) return refuse(`rollout ${name} is already paused`);
  return { kind: 'patch', subresource: 'spec', patch: { spec: { paused: true } }, done: `rollout ${name} paused (spec.paused: true)` };
}

export function planResume(rollout: DeclaredRollout): ActionPlan {
  const name = rollout.metadata.name;
  if (rollout.spec.paused !== true) {
    const hint = rollout.status?.phase === 'Paused' ? `; it waits at a pause step: use \`kubectl fledge promote ${name}\`` : '';
    return refuse(`rollout ${name} is not paused by spec.paused${hint}`);
  }
  return { kind: 'patch', subresource: 'spec', patch: { spec: { paused: false } }, done: `rollout ${name} resumed (spec.paused: false)` };
}

export function planRestart(rollout: DeclaredRollout, now: Date): ActionPlan {
  const restartAt = now.toISOString().replace(/\.\d+Z$/, 'Z');
  return {
    kind: 'patch',
    subresource: 'spec',
    patch: { spec: { restartAt } },
    done: `rollout ${rollout.metadata.name} restarting: pods created before ${restartAt} are recreated, maxUnavailable at a time`,
  };
}

/** Rolls the template back to an earlier revision's, read from its ReplicaSet (the previous one by default). */
export function planUndo(rollout: DeclaredRollout, replicaSets: k8s.V1ReplicaSet[], toRevision: number | undefined): ActionPlan {
  const name = rollout.metadata.name;
  const current = rollout.status?.currentRevision;
  const byNumber = replicaSets
    .map((rs) => ({ rs, number: Number(rs.metadata?.annotations?.[ANNOTATION_REVISION] ?? 0), hash: rs.metadata?.labels?.[LABEL_POD_TEMPLATE_HASH] }))
    .sort((a, b) => b.number - a.number);
  const target =
    toRevision === undefined ? byNumber.find((candidate) => candidate.hash !== current) : byNumber.find((candidate) => candidate.number === toRevision);
  if (target === undefined) {
    const known = byNumber.map((candidate) => candidate.number).join(', ') || 'none';
    return refuse(toRevision === undefined ? `rollout ${name} has no earlier revision to go back to` : `rollout ${name} has no revision ${toRevision} (known: ${known})`);
  }
  if (target.hash === current) return refuse(`revision ${target.number} is already the current template of rollout ${name}`);
  const template = structuredClone(target.rs.spec?.template ?? {});
  const labels = { ...(template.metadata?.labels ?? {}) };
  delete labels[LABEL_POD_TEMPLATE_HASH];
  template.metadata = { ...(template.metadata ?? {}), labels };
  return {
    kind: 'patch',
    subresource: 'spec',
    patch: { spec: { template } },
    done: `rollout ${name} template set back to revision ${target.number}`,
  };
}

/** `container=image` pairs; the whole container list is written because a merge patch replaces lists. */
export function planSetImage(rollout: DeclaredRollout, assignments: string[]): ActionPlan {
  const name = rollout.metadata.name;
  const workload = rollout.spec.workloadRef;
  if (rollout.spec.template === undefined) {
    return refuse(`rollout ${name} runs the pod template of Deployment ${workload?.name ?? '?'}: set the image there (kubectl set image deployment/${workload?.name ?? '?'} ...)`);
  }
  const containers = structuredClone((rollout.spec.template.spec.containers ?? []) as Array<{ name: string; image?: string }>);
  if (assignments.length === 0) return refuse('name at least one container=image');
  const changed: string[] = [];
  for (const assignment of assignments) {
    const at = assignment.indexOf('=');
    if (at <= 0 || at === assignment.length - 1) return refuse(`"${assignment}" is not container=image`);
    const containerName = assignment.slice(0, at);
    const image = assignment.slice(at + 1);
    const container = containers.find((candidate) => candidate.name === containerName);
    if (container === undefined) return refuse(`rollout ${name} has no container ${containerName} (has: ${containers.map((c) => c.name).join(', ')})`);
    if (container.image !== image) changed.push(`${containerName}=${image}`);
    container.image = image;
  }
  if (changed.length === 0) return refuse(`rollout ${name} already runs ${assignments.join(', ')}`);
  return {
    kind: 'patch',
    subresource: 'spec',
    patch: { spec: { template: { spec: { containers } } } },
    done: `rollout ${name} image updated: ${changed.join(', ')}`,
  };
}
