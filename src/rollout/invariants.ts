import type { RolloutStatus } from '../api/rollout.js';
import { analysisRunName } from './analysis-runs.js';
import { resolveSettings } from './defaults.js';
import type { RolloutFacts } from './facts.js';
import { decide, type RolloutPlan } from './plan.js';
import { scalingLimits } from './replicas.js';
import { canonicalJson } from './revision.js';
import { isAnalysis } from './steps.js';

/**
 * What the rollout core promises, as predicates over one reconcile: the facts decide() saw and the
 * plan it made. Each returns the violations it finds (empty when the promise holds), so a property
 * test can check them after every generated event and an e2e test on live objects.
 *
 * 1. Pods within budget: the plan never takes the ReplicaSets above replicas + maxSurge (nor further
 *    above it than they already are), ReplicaSets waiting out a scheduled scale-down aside; and it
 *    never takes available pods below replicas - maxUnavailable (nor below what is available now),
 *    an aborted canary's pods aside, which leave at once by design.
 * 2. Stable moves only to a verified revision: status.stableRevision changes only to the template's
 *    revision, only once every step left for it is cleared (invariant 3) in this reconcile,
 *    and never while its background analysis says Failed, Error or Inconclusive unless a person
 *    promoted past it.
 * 3. Steps are cleared, never skipped: the step index advances past an analysis step only on its
 *    own AnalysisRun's Successful verdict (named by revision, attempt and step; a run that was cut
 *    short by termination judges nothing) or a person's promote; a new revision, attempt, abort or steps edit restarts the count from step 0.
 * 4. An aborted canary asks for no pods (without a traffic router) and no weight, and no Service
 *    selects it; the stable Service selects the stable revision, or every pod of the Rollout only
 *    while the template's revision is the stable one (a promotion moving pods).
 * 5. No hot loop: a requeue, when asked for, is in the future.
 * 6. Replay changes nothing: deciding again on the status just written yields the same status,
 *    the same ReplicaSets and no Events, so a restart at any point cannot change the outcome.
 */
export function budgetViolations(facts: RolloutFacts, plan: RolloutPlan): string[] {
  const settings = resolveSettings(facts.rollout.spec);
  const limits = scalingLimits(settings.replicas, settings.maxSurge, settings.maxUnavailable);
  const violations: string[] = [];
  const counted = plan.replicaSets.filter((target) => typeof target.scaleDownAt !== 'number');
  const before = facts.replicaSets.filter((rs) => !counted.every((target) => target.revision !== rs.revision));
  const total = counted.reduce((sum, target) => sum + target.replicas, 0);
  const totalBefore = before.reduce((sum, rs) => sum + rs.replicas, 0);
  const ceiling = Math.max(settings.replicas + limits.maxSurge, totalBefore);
  if (total > ceiling) violations.push(`planned ${total} pods, above replicas + maxSurge (${settings.replicas + limits.maxSurge}) and above the ${totalBefore} there were`);

  const abortedCanary = plan.status.abort === true ? plan.status.currentRevision : undefined;
  const serving = facts.replicaSets.filter((rs) => rs.revision !== abortedCanary || rs.revision === plan.status.stableRevision);
  const availableBefore = serving.reduce((sum, rs) => sum + rs.availableReplicas, 0);
  const kept = serving.reduce((sum, rs) => {
    const target = plan.replicaSets.find((candidate) => candidate.revision === rs.revision);
    return sum + Math.min(rs.availableReplicas, target?.replicas ?? rs.replicas);
  }, 0);
  const floor = Math.min(Math.max(0, settings.replicas - limits.maxUnavailable), availableBefore);
  if (kept < floor) violations.push(`planned to keep ${kept} available pods, below ${floor} (replicas - maxUnavailable, or what was available)`);
  return violations;
}

/** Where the previous status left the canary, or undefined when this reconcile starts it afresh. */
function continuedFrom(previous: RolloutStatus, next: RolloutStatus): number | undefined {
  if (previous.currentRevision === undefined || previous.currentRevision !== next.currentRevision) return undefined;
  if (previous.stepsHash !== next.stepsHash || previous.abortedAt !== undefined) return undefined;
  // Promoting past an analysis hold starts a new attempt on purpose; any other new attempt restarts.
  if ((previous.attempt ?? 0) !== (next.attempt ?? 0) && previous.promote === undefined) return undefined;
  return previous.currentStepIndex ?? 0;
}

export function progressViolations(facts: RolloutFacts, plan: RolloutPlan): string[] {
  const previous = facts.rollout.status ?? {};
  const next = plan.status;
  const settings = resolveSettings(facts.rollout.spec);
  const name = facts.rollout.metadata.name ?? '';
  const violations: string[] = [];
  const revision = next.currentRevision;
  const promoted = previous.promote !== undefined && previous.currentRevision === facts.currentRevision;
  const runOf = (slot: number | 'background') =>
    revision === undefined ? undefined : facts.analysisRuns.find((run) => run.name === analysisRunName(name, revision, previous.attempt ?? 0, slot));
  const runPhase = (slot: number | 'background'): string | undefined => runOf(slot)?.phase;

  const stableMoved = previous.stableRevision !== undefined && next.stableRevision !== previous.stableRevision;
  const canarying = next.stableRevision !== next.currentRevision && next.abort !== true;
  // Where this reconcile's steps end: all of them when stable moved to the canary.
  const reached = stableMoved ? settings.steps.length : canarying ? (next.currentStepIndex ?? 0) : undefined;
  if (stableMoved && next.stableRevision !== facts.currentRevision) {
    violations.push(`stable moved to ${next.stableRevision}, which is not the template's revision (${facts.currentRevision})`);
  }
  // A retry or a new revision starts a new attempt, whose background analysis is a new run.
  const sameAttempt = continuedFrom(previous, next) !== undefined;
  if (stableMoved && !promoted && sameAttempt && ['Failed', 'Error', 'Inconclusive'].includes(runPhase('background') ?? '')) {
    violations.push(`stable moved to ${next.stableRevision} while its background analysis was ${runPhase('background')}`);
  }
  if (reached !== undefined && settings.steps.length > 0 && !(stableMoved && previous.promote === 'full' && promoted)) {
    const from = continuedFrom(previous, next) ?? 0;
    for (let index = from; index < reached; index++) {
      if (!isAnalysis(settings.steps[index])) continue;
      const verdict = runOf(index);
      const cleared = (promoted && index === from) || (continuedFrom(previous, next) !== undefined && verdict?.phase === 'Successful' && verdict.terminated !== true);
      if (!cleared) violations.push(`advanced past analysis step ${index + 1} of ${revision} without its run's Successful verdict or a promote`);
    }
  }
  if (next.abort === true && next.currentRevision !== next.stableRevision) {
    if (next.canaryWeight !== 0) violations.push(`aborted, yet the canary asks for ${next.canaryWeight}%`);
    const canaryPods = plan.replicaSets.find((target) => target.revision === next.currentRevision)?.replicas ?? 0;
    if (!facts.hasTrafficRouter && canaryPods > 0) violations.push(`aborted, yet the canary keeps ${canaryPods} pods`);
  }
  if (plan.requeueAfterMs !== undefined && !(plan.requeueAfterMs > 0)) violations.push(`requeue after ${plan.requeueAfterMs} ms: a hot loop`);
  return violations;
}

/** Services never lead traffic to a version that is neither stable nor being canaried, nor to an aborted canary. */
export function serviceViolations(facts: RolloutFacts, plan: RolloutPlan): string[] {
  const { stableRevision, abort } = plan.status;
  const violations: string[] = [];
  for (const target of plan.services) {
    if (target.role === 'stable' && target.revision !== stableRevision && !(target.revision === null && facts.currentRevision === stableRevision)) {
      violations.push(`the stable Service selects ${target.revision ?? 'every pod'} while ${facts.currentRevision} is canaried against stable ${stableRevision}`);
    }
    if (target.role === 'canary' && abort === true && target.revision !== stableRevision) violations.push(`the canary Service selects aborted revision ${target.revision}`);
  }
  return violations;
}

/** Deciding again on the status just written must change nothing and announce nothing. */
export function replayViolations(facts: RolloutFacts, plan: RolloutPlan): string[] {
  const again = decide({ ...facts, rollout: { ...facts.rollout, status: plan.status } });
  const violations: string[] = [];
  if (canonicalJson(again.status) !== canonicalJson(plan.status)) violations.push('replaying the written status changes it');
  if (canonicalJson(again.replicaSets) !== canonicalJson(plan.replicaSets)) violations.push('replaying the written status changes the ReplicaSets');
  if (again.events.length > 0) violations.push(`replaying the written status announces ${again.events.map((event) => event.reason).join(', ')} again`);
  if (again.requeueAfterMs !== plan.requeueAfterMs) violations.push('replaying the written status changes the requeue');
  return violations;
}

/** Every rollout invariant, for one reconcile. */
export function rolloutViolations(facts: RolloutFacts, plan: RolloutPlan): string[] {
  return [...budgetViolations(facts, plan), ...progressViolations(facts, plan), ...serviceViolations(facts, plan), ...replayViolations(facts, plan)];
}
