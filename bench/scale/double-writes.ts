import type { AuditEvent } from './audit.js';

/** One write the audit log attributes to a replica: who, to what, when (ms). */
export interface Write {
  replica: string;
  object: string;
  at: number;
}

const WRITE_VERBS = new Set(['create', 'update', 'patch', 'delete']);
/** What a Rollout's reconcile writes and another replica could race on. */
const RACED_RESOURCES = new Set(['rollouts', 'replicasets', 'analysisruns', 'services']);

/**
 * The writes of `replicaOf`'s users to Rollouts (and their status), ReplicaSets, AnalysisRuns and Services, by
 * object. A create is audited before the apiserver knows its name when the name is generated, so only named ones count.
 */
export function writesOf(events: Iterable<AuditEvent>, replicaOf: (user: string) => string | undefined): Write[] {
  const writes: Write[] = [];
  for (const event of events) {
    const replica = replicaOf(event.user.username);
    const ref = event.objectRef;
    if (replica === undefined || !WRITE_VERBS.has(event.verb) || ref?.resource === undefined || !RACED_RESOURCES.has(ref.resource) || !ref.name) continue;
    writes.push({ replica, object: `${ref.resource}/${ref.namespace ?? ''}/${ref.name}`, at: Date.parse(event.requestReceivedTimestamp) });
  }
  return writes;
}

export interface DoubleWrites {
  /** Objects written by more than one replica over the run (handed over with their shard: expected). */
  handedOver: number;
  /**
   * Of those, objects where two replicas' writes came within `windowMs` of each other (the issue's literal
   * measure: it counts an orderly handover too, when the new holder writes soon after the old one's last write).
   */
  withinWindow: number;
  /**
   * Objects two replicas wrote at once: one replica wrote, another wrote, then the first wrote again, all within
   * `windowMs`. Both acted on the object in the same lease period; a fenced controller never does this.
   */
  interleaved: number;
  /** Up to 10 interleaved objects, with their writes, for a person to check. */
  examples: Array<{ object: string; writes: Array<{ replica: string; at: string }> }>;
}

/** Double writes in `writes` (any order), per object, with `windowMs` the lease duration. */
export function doubleWrites(writes: readonly Write[], windowMs: number): DoubleWrites {
  const byObject = new Map<string, Write[]>();
  for (const write of writes) byObject.set(write.object, [...(byObject.get(write.object) ?? []), write]);
  const result: DoubleWrites = { handedOver: 0, withinWindow: 0, interleaved: 0, examples: [] };
  for (const [object, list] of byObject) {
    if (new Set(list.map((write) => write.replica)).size < 2) continue;
    result.handedOver++;
    const sorted = [...list].sort((a, b) => a.at - b.at);
    const pairs = sorted.slice(1).map((write, index) => [sorted[index] as Write, write] as const);
    if (pairs.some(([a, b]) => a.replica !== b.replica && b.at - a.at <= windowMs)) result.withinWindow++;
    const interleaved = sorted.some((first, i) =>
      sorted.slice(i + 1).some((second, j) => second.replica !== first.replica && second.at - first.at <= windowMs && sorted.slice(i + 2 + j).some((third) => third.replica === first.replica && third.at - first.at <= windowMs)),
    );
    if (!interleaved) continue;
    result.interleaved++;
    if (result.examples.length < 10) result.examples.push({ object, writes: sorted.map((write) => ({ replica: write.replica, at: new Date(write.at).toISOString() })) });
  }
  return result;
}
