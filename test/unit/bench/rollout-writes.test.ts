import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../../bench/scale/audit.js';
import { rolloutWrites } from '../../../bench/scale/rollout-writes.js';

const audited = (verb: string, resource: string, name?: string, subresource?: string): AuditEvent => ({
  verb,
  user: { username: 'fledge-audited' },
  objectRef: { resource, namespace: 'bench', ...(name !== undefined && { name }), ...(subresource !== undefined && { subresource }) },
  requestReceivedTimestamp: '2026-12-07T21:00:00Z',
});

describe('rolloutWrites', () => {
  it('puts each write down to its Rollout by name, creates by the objects, and says what it could not', () => {
    const log = [
      audited('create', 'replicasets'),
      audited('patch', 'rollouts', 'r0', 'status'),
      audited('patch', 'rollouts', 'r0', 'status'),
      audited('create', 'events'),
      audited('create', 'replicasets'),
      audited('patch', 'rollouts', 'r1', 'status'),
      audited('patch', 'replicasets', 'r1-7d9f8c'),
      audited('patch', 'events', 'r1.18c2a0f3b1'),
      audited('create', 'events'),
      audited('get', 'rollouts', 'r1'),
      audited('watch', 'replicasets'),
      audited('patch', 'leases', 'fledge'),
    ];
    const writes = rolloutWrites(['r0', 'r1'], log, { replicaSets: new Map([['r0', 1], ['r1', 1]]), events: new Map([['r0', 1], ['r1', 1]]) });
    expect(writes.histogram).toEqual({ 4: 1, 5: 1 });
    expect(writes.max).toBe(5);
    expect(writes.byKind).toEqual({
      'create events': { max: 1, mean: 1 },
      'create replicasets': { max: 1, mean: 1 },
      'patch events': { max: 1, mean: 0.5 },
      'patch replicasets': { max: 1, mean: 0.5 },
      'patch rollouts/status': { max: 2, mean: 1.5 },
    });
    // The Lease's patch is nobody's Rollout's.
    expect(writes.unaccounted).toBe(1);
    expect(writes.unnamed, 'the audit log names no create: those are counted from the objects').toEqual({ 'create events': 2, 'create replicasets': 2, 'patch leases': 1 });
  });
});
