import type { AuditEvent } from './audit.js';

const WRITE_VERBS = new Set(['create', 'update', 'patch', 'delete']);

/**
 * Per Rollout, the writes of one update by kind ("verb resource"): a mean per Rollout can hide Rollouts that cost
 * more. The audit log names what a write touched except a create of a generated name (audited before the apiserver
 * names it), so creates come from the objects: the ReplicaSets a watch saw added and the Events listed afterwards.
 */
export interface RolloutWrites {
  /** The most writes any one Rollout made. */
  max: number;
  /** How many Rollouts made each number of writes. */
  histogram: Record<string, number>;
  /** Per kind, the most any one Rollout made, and the mean. */
  byKind: Record<string, { max: number; mean: number }>;
  /** The audit log's writes less those counted per Rollout: 0 when every write was put down to its Rollout. */
  unaccounted: number;
  /** The audited writes no Rollout was named by, per kind (creates of Events and ReplicaSets are counted from the objects instead). */
  unnamed: Record<string, number>;
}

/** The Rollout a named write belongs to, by the names the controller gives: `r7`, `r7-<hash>`, `r7.<hex>`. */
function rolloutOf(resource: string, name: string): string | undefined {
  if (resource === 'rollouts') return name;
  if (resource === 'replicasets') return name.slice(0, name.lastIndexOf('-'));
  if (resource === 'events') return name.slice(0, name.indexOf('.'));
  return undefined;
}

export function rolloutWrites(
  names: readonly string[],
  audited: Iterable<AuditEvent>,
  /** Per Rollout, its ReplicaSets and Events created during the update (their creates are not named in the log). */
  created: { replicaSets: ReadonlyMap<string, number>; events: ReadonlyMap<string, number> },
): RolloutWrites {
  const counts = new Map<string, Map<string, number>>(names.map((name) => [name, new Map()]));
  const add = (rollout: string, kind: string, count = 1): void => {
    const kinds = counts.get(rollout);
    kinds?.set(kind, (kinds.get(kind) ?? 0) + count);
  };
  let auditedWrites = 0;
  const unnamed: Record<string, number> = {};
  for (const event of audited) {
    const ref = event.objectRef;
    if (!WRITE_VERBS.has(event.verb) || ref?.resource === undefined) continue;
    auditedWrites++;
    const kind = `${event.verb} ${ref.resource}${ref.subresource ? `/${ref.subresource}` : ''}`;
    const rollout = ref.name ? rolloutOf(ref.resource, ref.name) : undefined;
    if (rollout !== undefined && counts.has(rollout)) add(rollout, kind);
    else unnamed[kind] = (unnamed[kind] ?? 0) + 1;
  }
  for (const [rollout, count] of created.replicaSets) add(rollout, 'create replicasets', count);
  for (const [rollout, count] of created.events) add(rollout, 'create events', count);

  const totals = [...counts.values()].map((kinds) => [...kinds.values()].reduce((sum, count) => sum + count, 0));
  const histogram: Record<string, number> = {};
  for (const total of [...totals].sort((a, b) => a - b)) histogram[String(total)] = (histogram[String(total)] ?? 0) + 1;
  const kinds = [...new Set([...counts.values()].flatMap((byKind) => [...byKind.keys()]))].sort();
  const byKind = Object.fromEntries(
    kinds.map((kind) => {
      const each = [...counts.values()].map((byKind) => byKind.get(kind) ?? 0);
      return [kind, { max: Math.max(...each), mean: Number((each.reduce((sum, count) => sum + count, 0) / Math.max(1, each.length)).toFixed(2)) }];
    }),
  );
  return { max: Math.max(0, ...totals), histogram, byKind, unaccounted: auditedWrites - totals.reduce((sum, total) => sum + total, 0), unnamed };
}
