import type { RolloutStatus } from '../../api/rollout.js';
import type { WebhookResult } from './hooks.js';
import { resolveSettings, type RolloutSettings } from './defaults.js';
import type { AnalysisRunFacts, PingPongSide, RolloutFacts } from './facts.js';
import type { Announcement } from './machine.js';
import { scalingLimits, type ScalingLimits } from './replicas.js';
import { stepsHash } from './revision.js';
import { observedCounts, type ObservedCounts } from './status.js';
import { recordedStableSide, servicesBySide, withSideSelects } from './services.js';

/** What every step of one decide() reads, worked out once from the facts; `events` collects its Events in order. */
export interface DecideContext {
  facts: RolloutFacts;
  settings: RolloutSettings;
  limits: ScalingLimits;
  /** The status the last reconcile wrote (empty on first sight). */
  previous: RolloutStatus;
  counts: ObservedCounts;
  rollout: { name: string; namespace: string };
  currentStepsHash: string;
  runByName: ReadonlyMap<string, AnalysisRunFacts>;
  hookResults: ReadonlyMap<string, WebhookResult>;
  routed: boolean;
  /** The canary weight the router reports in effect; undefined without a router or while it reports a problem. */
  observedWeight: number | undefined;
  /** With pingPong: the side this reconcile's routers treat as stable (the swap after it takes effect next time). */
  routedWith: PingPongSide;
  /** Epoch ms from status.progressStartTime; NaN when absent. */
  previousProgressStart: number;
  events: Announcement[];
}

export function decideContext(observed: RolloutFacts): DecideContext {
  const settings = resolveSettings(observed.rollout.spec);
  const previous = observed.rollout.status ?? {};
  const routedWith = routedSideOf(observed);
  const facts = withSides(observed, routedWith);
  return {
    facts,
    routedWith,
    settings,
    limits: scalingLimits(settings.replicas, settings.maxSurge, settings.maxUnavailable),
    previous,
    counts: observedCounts(facts),
    rollout: { name: facts.rollout.metadata.name ?? '', namespace: facts.rollout.metadata.namespace ?? 'default' },
    currentStepsHash: stepsHash(settings.steps),
    runByName: new Map(facts.analysisRuns.map((run) => [run.name, run])),
    hookResults: new Map((facts.webhooks ?? []).map((result) => [result.key, result])),
    routed: facts.hasTrafficRouter,
    observedWeight: facts.traffic?.problem === undefined ? facts.traffic?.canaryWeight : undefined,
    previousProgressStart: Date.parse(previous.progressStartTime ?? ''),
    events: [],
  };
}

/** The side the routers were read as stable: what the observer says, else what status recorded (ping at first). */
export function routedSideOf(facts: RolloutFacts): PingPongSide {
  return facts.routedWith ?? recordedStableSide(facts.rollout.status);
}

/** The facts with the traffic observation saying what the stable and canary sides select, in `routedWith`'s roles. */
export function withSides(facts: RolloutFacts, routedWith: PingPongSide): RolloutFacts {
  if (facts.traffic === undefined || facts.serviceSelects === undefined) return facts;
  return { ...facts, traffic: withSideSelects(facts.traffic, servicesBySide(facts.rollout.spec.strategy.canary, routedWith), facts.serviceSelects) };
}
