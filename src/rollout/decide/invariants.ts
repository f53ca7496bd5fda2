import type { RolloutStatus } from '../../api/rollout.js';
import { analysisRunName } from './analysis-runs.js';
import { isTerminal } from '../../analysis/run-machine.js';
import { ANNOTATION_REVISION, LABEL_POD_TEMPLATE_HASH, LABEL_ROLE } from '../../api/labels.js';
import { BASELINE_ROLE, baselineServiceName } from './baseline.js';
import { pendingRestart } from './restart.js';
import { resolveSettings } from './defaults.js';
import type { RolloutFacts } from './facts.js';
import { decide, type RolloutPlan } from './plan.js';
import { canaryStepCounts, scalingLimits } from './replicas.js';
import { canonicalJson } from './revision.js';
import { isAnalysis, setWeightAt } from './steps.js';
import { parseDuration } from '../../api/duration.js';
import { parseTimestamp } from '../../api/time.js';
import { ownedObjectName } from '../../api/labels.js';
import { rollbackWithinWindow } from './rollback-window.js';
import { managedRoutesAt, servingDestinations, stableShareOf, trafficInEffect } from '../../traffic/plan.js';
import { routedSideOf, withSides } from './context.js';
import { awaitingSwap, pingPongServices } from './services.js';

/**
 * What the rollout core promises, as predicates over one reconcile: the facts decide() saw and the
 * plan it made. Each returns the violations it finds (empty when the promise holds), so a property
 * test can check them after every generated event and an e2e test on live objects.
 *
 * 1. Pods within budget: the plan never takes the ReplicaSets above replicas + maxSurge (nor further
 *    above it than they already are), ReplicaSets waiting out a scheduled scale-down aside; and it
 *    never takes available pods below replicas - maxUnavailable (nor below what is available now),
 *    an aborted canary's pods aside, which leave at once by design. With a traffic router the
 *    canary's pods come on top of the stable's whatever maxSurge says, so the ceiling is per
 *    ReplicaSet: none is planned above what it has or its own share (the stable revision replicas,
 *    the canary its step's count), and pods whose scale-down delay has run out serve no traffic,
 *    so they leave regardless of the floor.
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
 * 7. Traffic follows pods (with a router). "In effect" is the weight the router reports, or while it
 *    cannot say, the last one it did (status.actualWeight).
 *    a. An aborted canary is asked for weight 0.
 *    b. In a canary step the weight asked for rises above the weight in effect only when the
 *       canary's ReplicaSet has its step's count available, and is above 0 only while the canary
 *       revision has an available pod.
 *    c. An aborted canary's pods are not reduced, nor their scale-down delay started, while the
 *       router does not report weight 0 (a delay started earlier runs its course).
 *    d. In a promotion the older revisions' pods are not reduced, nor their delay started, before the
 *       stable side selects the promoted revision with weight 0 reported; then only after
 *       scaleDownDelaySeconds.
 *    e. With dynamicStableScale the stable ReplicaSet is never planned below the share of traffic
 *       the router reports on it (all of it, while it cannot say), and the weight asked for moves
 *       traffic back to the stable only as far as its available pods serve (a canary with no
 *       available pod, which serves nothing, aside).
 *    f. A weighting (or experiment) step is left only with its weight and managed routes reported in effect
 *       (weight 0 for a canary sized at no pods), unless a person promoted.
 *    g. A canary revision the template has moved past keeps its pods while the canary side still
 *       selects it and the router does not report 0% on it.
 * 8. Webhooks hold and abort as Flagger's do.
 *    a. A closed gate holds: a canary waiting at a gate leaves it (other than by an abort, a new revision or attempt,
 *       or a person's promote) only once every hook of that gate answered 2xx for that step.
 *    b. A canary whose pre-rollout hooks have not passed is given no pods (pods it has from an earlier life as the
 *       stable revision leave within the budget) and no weight.
 *    c. A rollback hook's 2xx for the canary in flight always aborts it (a person's promote aside).
 * 10. An experiment step runs as Argo's does, beside the Rollout and never in its place.
 *    a. No Service of the Rollout selects an experiment's pods.
 *    b. Experiment ReplicaSets and Services exist only while the canary is at an experiment step: any other is
 *       deleted, and none is made, in every other reconcile.
 *    c. An experiment step is left (in the same canary, without a promote) only once every requiredForCompletion
 *       run succeeded, or, with none required, its duration passed since every pod was available.
 *    d. An experiment's ReplicaSet and Service stay while the router reports traffic on that Service.
 *    e. With a router, an experiment template's Service is asked for weight only while every pod of its template is
 *       available, and the canary and the experiment are never asked for more than all the traffic.
 * 9. The shell's writes follow the targets and touch only what they may.
 *    a. A ReplicaSet is created only for a revision that has none, numbered above every owned one, and every write
 *       leaves each ReplicaSet at its target's count.
 *    b. An AnalysisRun the plan wants is never terminated or pruned; one is created only when none of that name
 *       exists; after the changes, at most analysisRunHistoryLimit finished runs the plan does not want are left.
 *    c. A Service's selector always carries the pod-template hash key (a revision, or null with the Rollout's own
 *       labels), so it never selects pods of another workload.
 *    d. A restart deletes only pods of this Rollout that are older than restartAt, and never more at once than
 *       maxUnavailable (at least one) counting pods already down.
 * 10. pingPong (with a router; the roles are this reconcile's, status.canary.stablePingPong as the routers read it).
 *    a. The side carrying weight selects what it carries: weight above 0 is asked only of a canary side that selects
 *       (or is pointed at, before the routers are) the target's canary revision.
 *    b. No Service under traffic changes its selector: the stable side is pointed only to claim it (no side recorded
 *       yet), and the canary side is re-pointed only while no weight is reported on it.
 *    c. The stable side changes hands only to a side that selects the stable revision, with all traffic reported on
 *       it; once it selects the stable revision, no weight is asked of the canary side outside a canary.
 *    d. An aborted canary gets no weight: all traffic is on the side that selects the stable revision.
 *    e. What the stable side selects serves that side's traffic, the stable revision or not (the one before it, while
 *       the swap after a promotion is pending): its pods are not reduced, nor their scale-down delay started, while
 *       the routers do not report all traffic on the canary side (a delay started earlier runs its course).
 * 12. The baseline behind a router (the judge's third destination).
 *    a. It is asked for no more weight than the canary, and the canary, the baseline and any experiment together for no
 *       more than all the traffic; outside a canary in flight (aborted, promoted, a canary the template moved past)
 *       for none.
 *    b. It is asked for weight only while its Service selects it and every pod of its ReplicaSet is available.
 *    c. Its ReplicaSet and Service are kept (its pods not reduced) while a router reports traffic on that Service.
 *    d. Its Service selects the baseline's pods alone: its own pod-template hash and role; no other Service selects them.
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
  if (facts.hasTrafficRouter) {
    const { stableRevision, currentRevision } = plan.status;
    const canaryCount = canaryStage(plan) ? canaryStepCounts(settings.steps, plan.status.currentStepIndex ?? 0, settings.replicas, { router: true }).canary : 0;
    for (const target of counted) {
      const share = target.revision === stableRevision ? settings.replicas : target.revision === currentRevision ? canaryCount : 0;
      const had = facts.replicaSets.find((rs) => rs.revision === target.revision)?.replicas ?? 0;
      if (target.replicas > Math.max(share, had)) violations.push(`planned ${target.replicas} pods for ${target.revision}, above its share ${share} and the ${had} it had`);
    }
  } else if (total > ceiling) {
    violations.push(`planned ${total} pods, above replicas + maxSurge (${settings.replicas + limits.maxSurge}) and above the ${totalBefore} there were`);
  }

  const abortedCanary = plan.status.abort === true ? plan.status.currentRevision : undefined;
  const delayedOut = (rs: RolloutFacts['replicaSets'][number]): boolean => facts.hasTrafficRouter && rs.scaleDownAt !== undefined && rs.scaleDownAt <= facts.now;
  const serving = facts.replicaSets.filter((rs) => (rs.revision !== abortedCanary || rs.revision === plan.status.stableRevision) && !delayedOut(rs));
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
  // A rollback within spec.rollbackWindow goes back to a revision that ran before: it may skip every step.
  const fastTracked = rollbackWithinWindow(facts.rollout.spec.rollbackWindow, facts.currentRevision, previous.stableRevision, facts.replicaSets);
  if (reached !== undefined && settings.steps.length > 0 && !(stableMoved && previous.promote === 'full' && promoted) && !fastTracked) {
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

/**
 * Services never lead traffic to a version that is neither stable nor being canaried, nor to an aborted canary
 * (pingPong's canary side keeps it, with no weight: invariant 10).
 */
export function serviceViolations(facts: RolloutFacts, plan: RolloutPlan): string[] {
  const { stableRevision, abort } = plan.status;
  const violations: string[] = [];
  const pingPong = facts.rollout.spec.strategy.canary.pingPong;
  for (const target of plan.services) {
    if (target.name === pingPong?.pingService || target.name === pingPong?.pongService) continue;
    if (target.role === 'stable' && target.revision !== stableRevision && !(target.revision === null && facts.currentRevision === stableRevision)) {
      violations.push(`the stable Service selects ${target.revision ?? 'every pod'} while ${facts.currentRevision} is canaried against stable ${stableRevision}`);
    }
    if (target.role === 'canary' && abort === true && target.revision !== stableRevision) violations.push(`the canary Service selects aborted revision ${target.revision}`);
  }
  return violations;
}

/** A canary in flight, neither aborted nor promoted. */
function canaryStage(plan: RolloutPlan): boolean {
  return plan.status.abort !== true && plan.status.stableRevision !== plan.status.currentRevision;
}

/** Invariant 7: with a router, traffic moves only onto pods that can serve it, and pods go only once traffic has left them. */
export function trafficViolations(observed: RolloutFacts, plan: RolloutPlan): string[] {
  if (!observed.hasTrafficRouter || plan.traffic === undefined) return [];
  const facts = withSides(observed, routedSideOf(observed));
  const settings = resolveSettings(facts.rollout.spec);
  const previous = facts.rollout.status ?? {};
  const { stableRevision, currentRevision, abort } = plan.status;
  const violations: string[] = [];
  const target = plan.traffic.canaryWeight;
  const reported = facts.traffic?.problem === undefined ? facts.traffic?.canaryWeight : undefined;
  const inEffect = reported ?? previous.actualWeight ?? 0;
  const rsOf = (revision: string | undefined) => facts.replicaSets.find((rs) => rs.revision === revision);
  const plannedOf = (revision: string) => plan.replicaSets.find((candidate) => candidate.revision === revision);
  /** Flags pods of `rs` the plan takes away, or schedules away, unless `allowed` and after `delayMs` (a delay already running is left alone). */
  const released = (rs: RolloutFacts['replicaSets'][number], allowed: boolean, delayMs: number, what: string): void => {
    const planned = plannedOf(rs.revision);
    if (planned === undefined || rs.replicas === 0 || rs.scaleDownAt !== undefined) return;
    if (planned.replicas < rs.replicas && !(allowed && delayMs === 0)) violations.push(`${what}: ${rs.revision} planned ${planned.replicas} of its ${rs.replicas} pods`);
    if (typeof planned.scaleDownAt === 'number' && !(allowed && planned.scaleDownAt >= facts.now + delayMs)) {
      violations.push(`${what}: ${rs.revision} scheduled to scale down at ${planned.scaleDownAt - facts.now} ms`);
    }
  };

  if (abort === true && currentRevision !== stableRevision) {
    if (target !== 0) violations.push(`7a: the aborted canary is asked for ${target}%`);
    const canary = rsOf(currentRevision);
    if (canary !== undefined) released(canary, reported === 0, settings.abortScaleDownDelayMs, `7c: aborted while the router reports ${reported ?? 'nothing'}`);
  }
  if (canaryStage(plan)) {
    const stepIndex = plan.status.currentStepIndex ?? 0;
    const planned = canaryStepCounts(settings.steps, stepIndex, settings.replicas, { router: true }).canary;
    // The revision the canary side serves: a superseded canary still holding traffic until the router lets it go.
    const canaryAvailable = rsOf(plan.traffic.canaryRevision ?? currentRevision)?.availableReplicas ?? 0;
    if (target > inEffect && canaryAvailable < planned) violations.push(`7b: ${target}% asked above the ${inEffect}% in effect with ${canaryAvailable}/${planned} canary pods available`);
    if (target > 0 && canaryAvailable === 0) violations.push(`7b: ${target}% asked for a canary with no available pod`);
    if (settings.dynamicStableScale) {
      const stable = rsOf(stableRevision);
      const stablePlanned = stable === undefined ? undefined : plannedOf(stable.revision)?.replicas;
      const share = stableShareOf(settings.replicas, reported ?? 0);
      if (stablePlanned !== undefined && stablePlanned < share) violations.push(`7e: stable planned at ${stablePlanned} pods, below the ${share} that ${100 - (reported ?? 0)}% of the traffic needs`);
      const stableAvailable = stable?.availableReplicas ?? 0;
      if (target < inEffect && canaryAvailable > 0 && stableAvailable < stableShareOf(settings.replicas, target)) {
        violations.push(`7e: ${target}% asked (from ${inEffect}%) with ${stableAvailable} stable pods available to serve the rest`);
      }
    }
  }
  // 7g: a canary the template moved past keeps its pods while the canary side selects it and the router reports weight on it.
  const servedBy = facts.traffic?.canarySelects;
  if (canaryStage(plan) && typeof servedBy === 'string' && servedBy !== currentRevision && servedBy !== stableRevision && reported !== 0) {
    const superseded = rsOf(servedBy);
    if (superseded !== undefined) released(superseded, false, 0, `7g: the superseded canary still selected with ${reported ?? 'unknown'}% on it`);
  }
  if (abort !== true && currentRevision === stableRevision) {
    const switched = facts.traffic?.stableSelects === stableRevision && reported === 0;
    // scaleDownDelayRevisionLimit lets an old revision go at once once the stable side has switched; 7g bounds the rest.
    const delayMs = settings.scaleDownDelayRevisionLimit === undefined ? settings.scaleDownDelayMs : 0;
    for (const rs of facts.replicaSets) {
      if (rs.revision !== stableRevision) released(rs, switched, delayMs, '7d: promoted before the stable side took all traffic');
    }
    const limit = settings.scaleDownDelayRevisionLimit;
    const waiting = plan.replicaSets.filter((target) => target.revision !== stableRevision && target.replicas > 0 && typeof (target.scaleDownAt ?? rsOf(target.revision)?.scaleDownAt) === 'number');
    if (limit !== undefined && waiting.length > limit) violations.push(`7g: ${waiting.length} old revisions keep their pods through the scale-down delay, over scaleDownDelayRevisionLimit ${limit}`);
  }

  // 7f: weighting steps this reconcile left, in the same canary, without a promote.
  const from = continuedFrom(previous, plan.status);
  const reached = canaryStage(plan) ? (plan.status.currentStepIndex ?? 0) : previous.stableRevision !== stableRevision ? settings.steps.length : undefined;
  if (from !== undefined && reached !== undefined && previous.promote === undefined) {
    for (let index = from; index < reached; index++) {
      const step = settings.steps[index];
      // Pauses, analyses and experiments (their templates take no weight) ask nothing new of the router.
      if (step === undefined || 'pause' in step || isAnalysis(step) || 'experiment' in step) continue;
      const sized = canaryStepCounts(settings.steps, index, settings.replicas, { router: true }).canary > 0;
      const weight = sized ? setWeightAt(settings.steps, index) : 0;
      const routes = managedRoutesAt(settings.steps, index, settings.trafficRouting?.managedRoutes);
      const wanted = { canaryWeight: weight, additionalDestinations: [], ...routes, stableRevision, canaryRevision: currentRevision };
      // An experiment step's own templates' weights are 11e's; here, the canary's weight and routes it leaves with.
      // The baseline's share is 12's.
      const baselineService = baselineServiceName(facts.rollout);
      const observed =
        facts.traffic === undefined
          ? undefined
          : { ...facts.traffic, additionalDestinations: 'experiment' in step ? [] : (facts.traffic.additionalDestinations ?? []).filter((destination) => destination.serviceName !== baselineService) };
      if (!trafficInEffect(observed, wanted)) violations.push(`7f: left step ${index + 1} (${weight}%) with ${reported === undefined ? 'no weight' : `${reported}%`} reported in effect`);
    }
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

/** Results of `type` hooks for this revision, attempt and step (rollback: any step), as call keys name them. */
function resultsFor(facts: RolloutFacts, type: string, revision: string | undefined, attempt: number, step: number | '*'): { passed: number; failed: number } {
  const suffix = `/${revision}/${attempt}/${step}`;
  const matching = (facts.webhooks ?? []).filter((result) => result.key.startsWith(`${type}/`) && result.key.endsWith(suffix));
  return { passed: matching.filter((r) => r.outcome === 'passed').length, failed: matching.filter((r) => r.outcome === 'failed').length };
}

export function webhookViolations(facts: RolloutFacts, plan: RolloutPlan): string[] {
  const hooks = facts.rollout.spec.strategy.canary.webhooks ?? [];
  if (hooks.length === 0) return [];
  const previous = facts.rollout.status ?? {};
  const next = plan.status;
  const violations: string[] = [];
  const sameCanary =
    previous.currentRevision === facts.currentRevision && next.currentRevision === facts.currentRevision && (previous.attempt ?? 0) === (next.attempt ?? 0);
  const promoted = previous.promote !== undefined;
  const waiting = previous.webhooks?.waitingFor;
  if (waiting !== undefined && sameCanary && !promoted && next.abort !== true && previous.abort !== true) {
    const stillThere = next.webhooks?.waitingFor?.type === waiting.type && next.webhooks.waitingFor.step === waiting.step;
    const count = hooks.filter((hook) => hook.type === waiting.type).length;
    const answered = resultsFor(facts, waiting.type, facts.currentRevision, previous.attempt ?? 0, waiting.step);
    if (!stillThere && answered.passed < count) violations.push(`8a: left the ${waiting.type} gate at step ${waiting.step} with ${answered.passed}/${count} hooks passed`);
  }
  const inCanary = next.currentRevision !== next.stableRevision && next.abort !== true;
  if (inCanary && hooks.some((hook) => hook.type === 'pre-rollout') && next.webhooks?.preRolloutPassed !== next.currentRevision) {
    const canary = plan.replicaSets.find((target) => target.revision === next.currentRevision);
    const has = facts.replicaSets.find((rs) => rs.revision === next.currentRevision)?.replicas ?? 0;
    if ((canary?.replicas ?? 0) > has) violations.push(`8b: canary grown to ${canary?.replicas} pods before pre-rollout passed`);
    const weight = plan.traffic !== undefined && plan.traffic.canaryRevision === next.currentRevision ? plan.traffic.canaryWeight : 0;
    if (weight > 0) violations.push(`8b: ${weight}% canary weight before pre-rollout passed`);
  }
  const wasCanary = previous.currentRevision !== undefined && previous.currentRevision !== previous.stableRevision && previous.abort !== true;
  if (wasCanary && sameCanary && !promoted && resultsFor(facts, 'rollback', facts.currentRevision, previous.attempt ?? 0, '*').passed > 0 && next.abort !== true) {
    violations.push('8c: a rollback hook answered 2xx and the canary was not aborted');
  }
  return violations;
}

/** Invariant 10: pingPong's Services take turns without a selector change under traffic. */
export function pingPongViolations(facts: RolloutFacts, plan: RolloutPlan): string[] {
  const pingPong = facts.rollout.spec.strategy.canary.pingPong;
  if (pingPong === undefined || plan.traffic === undefined) return [];
  const routedWith = routedSideOf(facts);
  const sides = pingPongServices(pingPong, routedWith);
  const selects = facts.serviceSelects ?? {};
  const reported = facts.traffic?.problem === undefined ? facts.traffic?.canaryWeight : undefined;
  const planned = (name: string): string | null | undefined => {
    const target = plan.services.find((candidate) => candidate.name === name);
    return target === undefined ? selects[name] : target.revision;
  };
  const { stableRevision, currentRevision, abort } = plan.status;
  const violations: string[] = [];
  const weight = plan.traffic.canaryWeight;
  if (weight > 0 && planned(sides.canary) !== plan.traffic.canaryRevision) {
    violations.push(`10a: ${weight}% asked of ${sides.canary}, which selects ${planned(sides.canary) ?? 'no revision of ours'}, not ${plan.traffic.canaryRevision}`);
  }
  const claiming = facts.rollout.status?.canary?.stablePingPong === undefined;
  const stableTarget = plan.services.find((target) => target.name === sides.stable);
  if (stableTarget !== undefined && stableTarget.revision !== selects[sides.stable] && !claiming) {
    violations.push(`10b: the stable side ${sides.stable} re-pointed from ${selects[sides.stable] ?? 'nothing'} to ${stableTarget.revision ?? 'every pod'}`);
  }
  const canaryTarget = plan.services.find((target) => target.name === sides.canary);
  if (canaryTarget !== undefined && canaryTarget.revision !== selects[sides.canary] && reported !== 0 && selects[sides.canary] !== undefined) {
    violations.push(`10b: the canary side ${sides.canary} re-pointed from ${selects[sides.canary]} to ${canaryTarget.revision ?? 'every pod'} with ${reported ?? 'unknown'}% on it`);
  }
  const next = plan.status.canary?.stablePingPong ?? routedWith;
  if (next !== routedWith && !(reported === 100 && awaitingSwap(pingPong, routedWith, stableRevision, selects))) {
    violations.push(`10c: the stable side moved to ${next} with ${reported ?? 'unknown'}% reported on it`);
  }
  const settled = selects[sides.stable] === stableRevision;
  if (settled && weight > 0 && (currentRevision === stableRevision || abort === true)) violations.push(`10c: ${weight}% asked of the canary side with no canary`);
  if (abort === true && weight > 0) violations.push(`10d: the aborted canary is asked for ${weight}%`);
  const serving = facts.replicaSets.find((rs) => rs.revision === selects[sides.stable] && rs.revision !== stableRevision && rs.scaleDownAt === undefined);
  const kept = serving === undefined ? undefined : plan.replicaSets.find((target) => target.revision === serving.revision);
  if (serving !== undefined && kept !== undefined && reported !== 100 && (kept.replicas < serving.replicas || typeof kept.scaleDownAt === 'number')) {
    violations.push(`10e: ${serving.revision}, which the stable side ${sides.stable} selects, planned ${kept.replicas} of its ${serving.replicas} pods with ${reported ?? 'unknown'}% on the canary side`);
  }
  return violations;
}

/** Invariant 11: experiments. */
export function experimentViolations(facts: RolloutFacts, plan: RolloutPlan): string[] {
  const violations: string[] = [];
  const hashes = new Set([
    ...(facts.experimentReplicaSets ?? []).map((rs) => rs.revision),
    ...plan.experiment.changes.map((change) => change.revision),
  ]);
  for (const service of plan.services) {
    if (service.revision !== null && hashes.has(service.revision)) violations.push(`11a: Service ${service.name} selects experiment pods ${service.revision}`);
  }
  // 11e: traffic goes to an experiment's pods only while every one of them is available, and never more than there is.
  const destinations = plan.traffic?.additionalDestinations ?? [];
  const baselineService = facts.rollout.spec.strategy.canary.baseline === undefined ? undefined : baselineServiceName(facts.rollout);
  for (const destination of destinations.filter((candidate) => candidate.weight > 0 && candidate.serviceName !== baselineService)) {
    const rs = (facts.experimentReplicaSets ?? []).find((candidate) => candidate.revision === destination.podTemplateHash);
    if (rs === undefined || rs.replicas === 0 || rs.availableReplicas < rs.replicas) violations.push(`11e: ${destination.weight}% asked for experiment Service ${destination.serviceName} without all its pods available`);
  }
  const asked = (plan.traffic?.canaryWeight ?? 0) + destinations.reduce((sum, destination) => sum + destination.weight, 0);
  if (asked > 100) violations.push(`11e: ${asked}% of traffic asked of the canary and the experiment`);
  const running = plan.status.experiment;
  // What a router still sends traffic to stays until it reports none (11d).
  const serving = servingDestinations(facts.traffic);
  const servedHashes = new Set((facts.experimentServices ?? []).filter((service) => serving.includes(service.name)).map((service) => service.revision));
  for (const name of plan.experiment.delete) {
    const rs = (facts.experimentReplicaSets ?? []).find((candidate) => candidate.name === name);
    if (rs !== undefined && servedHashes.has(rs.revision)) violations.push(`11d: experiment ReplicaSet ${name} deleted while the router reports traffic on its Service`);
  }
  for (const name of plan.experiment.services.delete) if (serving.includes(name)) violations.push(`11d: experiment Service ${name} deleted while the router reports traffic on it`);
  if (running === undefined || plan.status.pauseStartTime !== undefined) {
    if (plan.experiment.changes.length > 0 || plan.experiment.services.create.length > 0) violations.push('11b: experiment ReplicaSets or Services are made with no experiment running');
    const left = (facts.experimentReplicaSets ?? []).filter((rs) => !plan.experiment.delete.includes(rs.name) && !servedHashes.has(rs.revision));
    const leftServices = (facts.experimentServices ?? []).filter((service) => !plan.experiment.services.delete.includes(service.name) && !serving.includes(service.name));
    if (left.length + leftServices.length > 0) violations.push(`11b: ${[...left.map((rs) => rs.name), ...leftServices.map((service) => service.name)].join(', ')} kept with no experiment running`);
  }
  const previous = facts.rollout.status ?? {};
  const from = continuedFrom(previous, plan.status);
  const settings = resolveSettings(facts.rollout.spec);
  const canaryOn = canaryStage(plan);
  const reached = canaryOn ? (plan.status.currentStepIndex ?? 0) : previous.stableRevision !== plan.status.stableRevision && plan.status.abort !== true ? settings.steps.length : undefined;
  if (from === undefined || reached === undefined || previous.promote !== undefined) return violations;
  const name = facts.rollout.metadata.name ?? '';
  for (let index = from; index < reached; index++) {
    const step = settings.steps[index];
    if (step === undefined || !('experiment' in step)) continue;
    const id = `${previous.currentRevision}-${previous.attempt ?? 0}-s${index}`;
    const required = (step.experiment.analyses ?? []).filter((analysis) => analysis.requiredForCompletion === true);
    const succeeded = required.every((analysis) => facts.analysisRuns.some((run) => run.name === ownedObjectName(name, `${id}-${analysis.name}`) && run.phase === 'Successful' && run.terminated !== true));
    const availableAt = previous.experiment?.step === index ? (parseTimestamp(previous.experiment.availableAt) ?? facts.now) : undefined;
    const duration = step.experiment.duration;
    const elapsed = required.length === 0 && duration !== undefined && availableAt !== undefined && facts.now >= availableAt + parseDuration(duration);
    if (!(required.length > 0 ? succeeded : elapsed)) violations.push(`11c: left experiment step ${index + 1} of ${plan.status.currentRevision} before it completed`);
  }
  return violations;
}

/** Invariant 12: the baseline's share of traffic and its objects behind a router. */
export function baselineViolations(facts: RolloutFacts, plan: RolloutPlan): string[] {
  if (facts.rollout.spec.strategy.canary.baseline === undefined) return [];
  const violations: string[] = [];
  const name = baselineServiceName(facts.rollout);
  const destinations = plan.traffic?.additionalDestinations ?? [];
  const asked = destinations.filter((destination) => destination.serviceName === name).reduce((sum, destination) => sum + destination.weight, 0);
  const canaryWeight = plan.traffic?.canaryWeight ?? 0;
  if (asked > canaryWeight) violations.push(`12a: ${asked}% asked of the baseline, above the canary's ${canaryWeight}%`);
  const total = canaryWeight + destinations.reduce((sum, destination) => sum + destination.weight, 0);
  if (total > 100) violations.push(`12a: ${total}% asked of the canary, the baseline and the experiment`);
  const { stableRevision, currentRevision, abort } = plan.status;
  const inFlight = abort !== true && stableRevision !== currentRevision && plan.traffic?.canaryRevision === currentRevision;
  if (asked > 0 && !inFlight) violations.push(`12a: ${asked}% asked of the baseline with no canary in flight`);
  const services = facts.baselineServices ?? [];
  if (asked > 0) {
    const revision = destinations.find((destination) => destination.serviceName === name)?.podTemplateHash;
    const rs = (facts.baselines ?? []).find((candidate) => candidate.revision === revision);
    if (rs === undefined || rs.replicas === 0 || rs.availableReplicas < rs.replicas) violations.push(`12b: ${asked}% asked of the baseline without all its pods available`);
    if (!services.some((service) => service.name === name && service.revision === revision)) violations.push(`12b: ${asked}% asked of baseline Service ${name}, which does not select ${revision}`);
  }
  const serving = servingDestinations(facts.traffic);
  const served = services.filter((service) => serving.includes(service.name));
  for (const service of served) {
    if (plan.baseline.services.delete.includes(service.name)) violations.push(`12c: baseline Service ${service.name} deleted while the router reports traffic on it`);
    const rs = (facts.baselines ?? []).find((candidate) => candidate.revision === service.revision);
    if (rs === undefined) continue;
    if (plan.baseline.delete.includes(rs.name)) violations.push(`12c: baseline ${rs.name} deleted while the router reports traffic on its Service`);
    const resized = plan.baseline.changes.find((change) => change.kind === 'update' && change.name === rs.name);
    const replicas = resized?.kind === 'update' ? resized.patch.spec?.replicas : undefined;
    if (replicas !== undefined && replicas < rs.replicas) violations.push(`12c: baseline ${rs.name} scaled from ${rs.replicas} to ${replicas} pods while the router reports traffic on its Service`);
  }
  const baselineHashes = new Set([...(facts.baselines ?? []).map((rs) => rs.revision), ...plan.baseline.changes.map((change) => change.revision)]);
  for (const service of plan.services) {
    if (service.revision !== null && baselineHashes.has(service.revision)) violations.push(`12d: Service ${service.name} selects baseline pods ${service.revision}`);
  }
  for (const service of plan.baseline.services.create) {
    const selector = service.spec?.selector ?? {};
    if (!baselineHashes.has(selector[LABEL_POD_TEMPLATE_HASH] ?? '') || selector[LABEL_ROLE] !== BASELINE_ROLE) violations.push(`12d: baseline Service ${service.metadata?.name} selects ${JSON.stringify(selector)}`);
  }
  return violations;
}

/** Every rollout invariant, for one reconcile. */
export function rolloutViolations(facts: RolloutFacts, plan: RolloutPlan): string[] {
  return [
    ...budgetViolations(facts, plan),
    ...progressViolations(facts, plan),
    ...serviceViolations(facts, plan),
    ...trafficViolations(facts, plan),
    ...pingPongViolations(facts, plan),
    ...replayViolations(facts, plan),
    ...webhookViolations(facts, plan),
    ...writeViolations(facts, plan),
    ...experimentViolations(facts, plan),
    ...baselineViolations(facts, plan),
  ];
}

/** Invariant 9: the writes the plan asks of the shell. */
export function writeViolations(facts: RolloutFacts, plan: RolloutPlan): string[] {
  const violations: string[] = [];
  const highest = Math.max(0, ...facts.replicaSets.map((rs) => rs.revisionNumber));
  for (const change of plan.replicaSetChanges) {
    const target = plan.replicaSets.find((candidate) => candidate.revision === change.revision);
    const replicas = change.kind === 'create' ? change.replicaSet.spec?.replicas : change.patch.spec?.replicas;
    if (replicas !== undefined && replicas !== target?.replicas) violations.push(`ReplicaSet ${change.revision} is written at ${replicas} pods, its target is ${target?.replicas}`);
    if (change.kind !== 'create') continue;
    if (facts.replicaSets.some((rs) => rs.revision === change.revision)) violations.push(`ReplicaSet ${change.revision} is created though one exists`);
    if (Number(change.replicaSet.metadata?.annotations?.[ANNOTATION_REVISION]) <= highest) violations.push(`ReplicaSet ${change.revision} is numbered at or below an owned one (${highest})`);
  }
  for (const target of plan.replicaSets) {
    const rs = facts.replicaSets.find((candidate) => candidate.revision === target.revision);
    const written = plan.replicaSetChanges.some((change) => change.revision === target.revision && (change.kind === 'create' || change.patch.spec?.replicas !== undefined));
    if (rs !== undefined && rs.replicas !== target.replicas && !written) violations.push(`ReplicaSet ${target.revision} stays at ${rs.replicas} pods, its target is ${target.replicas}`);
  }
  const wanted = new Set(plan.analysisRuns.map((run) => run.name));
  const changes = plan.analysisRunChanges;
  for (const name of [...changes.terminate, ...changes.delete.map((run) => run.name)]) {
    const needsAfresh = facts.analysisRuns.some((run) => run.name === name && run.terminated === true);
    if (wanted.has(name) && !(needsAfresh && !changes.terminate.includes(name))) violations.push(`AnalysisRun ${name} is wanted, yet terminated or deleted`);
  }
  for (const { run } of changes.create) {
    if (facts.analysisRuns.some((existing) => existing.name === run.metadata.name)) violations.push(`AnalysisRun ${run.metadata.name} is created though it exists`);
  }
  const deleted = new Set(changes.delete.map((run) => run.name));
  const finishedLeft = facts.analysisRuns.filter((run) => !wanted.has(run.name) && !deleted.has(run.name) && isTerminal(run.phase ?? 'Pending'));
  const limit = resolveSettings(facts.rollout.spec).analysisRunHistoryLimit;
  if (finishedLeft.length > limit) violations.push(`${finishedLeft.length} finished AnalysisRuns are kept, analysisRunHistoryLimit is ${limit}`);
  for (const service of plan.services) {
    if (!(LABEL_POD_TEMPLATE_HASH in service.selector)) violations.push(`Service ${service.name}'s selector leaves out the pod-template hash`);
  }
  const restartAt = pendingRestart(facts.rollout.spec.restartAt, facts.rollout.status?.restartedAt);
  if (plan.podsToDelete.length > 0) {
    const pods = new Map((facts.pods ?? []).map((pod) => [pod.name, pod]));
    const down = (facts.pods ?? []).filter((pod) => pod.terminating || !pod.ready).length;
    const settings = resolveSettings(facts.rollout.spec);
    const budget = Math.max(1, scalingLimits(settings.replicas, settings.maxSurge, settings.maxUnavailable).maxUnavailable);
    if (restartAt === undefined || plan.podsToDelete.some((name) => (pods.get(name)?.createdAt ?? Infinity) >= restartAt)) violations.push(`a restart deletes a pod it may not: ${plan.podsToDelete.join(', ')}`);
    if (down + plan.podsToDelete.length > budget) violations.push(`a restart takes ${down + plan.podsToDelete.length} pods down at once, maxUnavailable allows ${budget}`);
  }
  return violations;
}
