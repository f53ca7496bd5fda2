import { describe, expect, it } from 'vitest';
import { fnv1a32, shardingKey, shardOf } from '../../../../src/kube/shards/shard-of.js';

/** Names as clusters have them: a few namespaces per team, services with numbered and suffixed names. */
function rolloutKeys(count: number): string[] {
  const teams = ['payments', 'checkout', 'search', 'identity', 'platform', 'ml-serving', 'ads', 'growth'];
  const kinds = ['api', 'worker', 'web', 'gateway', 'consumer', 'cron'];
  return Array.from({ length: count }, (_, i) => {
    const env = ['prod', 'staging'][Math.floor(i / teams.length) % 2];
    const kind = kinds[Math.floor(i / (2 * teams.length)) % kinds.length];
    return `${teams[i % teams.length]}-${env}/${kind}-${Math.floor(i / (2 * teams.length * kinds.length))}`;
  });
}

describe('shardOf', () => {
  it('is FNV-1a 32 as published (the empty string, "a", "foobar")', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
    // Over UTF-8 bytes (C3 A9), not UTF-16 code units (E9), as other tools hash a name.
    expect(fnv1a32('é')).toBe(0x1e9de8c1);
  });

  it('is stable: the same key always goes to the same shard', () => {
    expect(shardOf('payments-prod/api-0', 8)).toBe(fnv1a32('payments-prod/api-0') % 8);
    expect(new Set(Array.from({ length: 5 }, () => shardOf('payments-prod/api-0', 8))).size).toBe(1);
  });

  it.each([
    [1_000, 4],
    [10_000, 8],
    [10_000, 16],
    [50_000, 32],
  ])('spreads %i Rollouts over %i shards within 1.2x of the mean', (count, shards) => {
    const keys = rolloutKeys(count);
    expect(new Set(keys).size).toBe(count);
    const counts = new Array<number>(shards).fill(0);
    for (const key of keys) counts[shardOf(key, shards)] = (counts[shardOf(key, shards)] ?? 0) + 1;
    const mean = count / shards;
    expect(Math.max(...counts)).toBeLessThanOrEqual(1.2 * mean);
    expect(Math.min(...counts)).toBeGreaterThanOrEqual(0.8 * mean);
  });

  it("puts an AnalysisRun in its Rollout's shard, and one without a Rollout in its own", () => {
    const run = (ownerReferences?: Array<{ kind: string; name: string; controller?: boolean }>) => ({
      metadata: { namespace: 'shop', name: 'web-7f9c-2', ownerReferences: ownerReferences?.map((ref) => ({ apiVersion: 'fledge.dev/v1alpha1', uid: 'u', ...ref })) },
    });
    expect(shardingKey(run([{ kind: 'Rollout', name: 'web', controller: true }]))).toBe('shop/web');
    expect(shardingKey(run([{ kind: 'Rollout', name: 'web' }]))).toBe('shop/web-7f9c-2');
    expect(shardingKey(run())).toBe('shop/web-7f9c-2');
    expect(shardingKey({ metadata: { namespace: 'shop', name: 'web' } })).toBe('shop/web');
  });
});
