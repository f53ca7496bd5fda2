import type { RolloutStatus } from '../../api/rollout.js';
import type { WebhookResult } from './hooks.js';
import { resolveSettings, type RolloutSettings } from './defaults.js';
import type { AnalysisRunFacts, RolloutFacts } from './facts.js';
import type { Announcement } from './machine.js';
import { scalingLimits, type ScalingLimits } from './replicas.js';
import { stepsHash } from './revision.js';
import { observedCounts, type ObservedCounts } from './status.js';

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
  /** Epoch ms from status.progressStartTime; NaN when absent. */
  previousProgressStart: number;
  events: Announcement[];
}

export function decideContext(facts: RolloutFacts): DecideContext {
  const settings = resolveSettings(facts.rollout.spec);
  const previous = facts.rollout.status ?? {};
  return {
    facts,
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
