import { describe, expect, it } from 'vitest';
import { doubleWrites, writesOf, type Write } from '../../../bench/scale/double-writes.js';
import type { AuditEvent } from '../../../bench/scale/audit.js';

const w = (replica: string, at: number, object = 'rollouts/ns/r1'): Write => ({ replica, object, at });

describe('doubleWrites: two replicas on one object', () => {
  it('counts a handover, and one within the window, but not as interleaved', () => {
    const handover = doubleWrites([w('a', 0), w('a', 1000), w('b', 12_000)], 10_000);
    expect(handover).toMatchObject({ handedOver: 1, withinWindow: 0, interleaved: 0 });
    const quick = doubleWrites([w('a', 0), w('a', 1000), w('b', 1500)], 10_000);
    expect(quick).toMatchObject({ handedOver: 1, withinWindow: 1, interleaved: 0 });
  });

  it('calls it interleaved when the first replica writes again after the second, within the window', () => {
    const both = doubleWrites([w('b', 1500), w('a', 0), w('a', 2000)], 10_000);
    expect(both).toMatchObject({ handedOver: 1, interleaved: 1 });
    expect(both.examples[0]?.writes.map((write) => write.replica)).toEqual(['a', 'b', 'a']);
    // The same three writes spread beyond the window are a handover and a handback.
    expect(doubleWrites([w('a', 0), w('b', 11_000), w('a', 22_000)], 10_000).interleaved).toBe(0);
  });

  it('keeps objects apart, and one replica alone is never a double write', () => {
    expect(doubleWrites([w('a', 0, 'x'), w('b', 1, 'y'), w('a', 2, 'x')], 10_000)).toMatchObject({ handedOver: 0, interleaved: 0 });
  });
});

describe('writesOf: the audit lines that are writes by a replica', () => {
  const event = (user: string, verb: string, resource: string, name?: string, subresource?: string): AuditEvent => ({
    verb,
    user: { username: user },
    objectRef: { resource, namespace: 'ns', ...(name !== undefined && { name }), ...(subresource !== undefined && { subresource }) },
    requestReceivedTimestamp: '2026-12-07T18:00:00.000000Z',
  });
  it('keeps named writes of raced kinds by known users, status included', () => {
    const replicaOf = (user: string) => (user.startsWith('replica-') ? user : undefined);
    const writes = writesOf(
      [
        event('replica-0', 'patch', 'rollouts', 'r1', 'status'),
        event('replica-1', 'update', 'replicasets', 'r1-abc'),
        event('replica-1', 'create', 'replicasets'),
        event('replica-1', 'get', 'rollouts', 'r1'),
        event('replica-1', 'update', 'leases', 'shard-0'),
        event('admin', 'patch', 'rollouts', 'r1'),
      ],
      replicaOf,
    );
    expect(writes.map((write) => `${write.replica} ${write.object}`)).toEqual(['replica-0 rollouts/ns/r1', 'replica-1 replicasets/ns/r1-abc']);
    expect(writes[0]?.at).toBe(Date.parse('2026-12-07T18:00:00.000Z'));
  });
});
