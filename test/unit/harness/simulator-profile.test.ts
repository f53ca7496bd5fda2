import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { Rng } from '../../harness/random.js';
import { imageTag, latencyOf, PodBehaviour, podStream, profileForImage, simulatedPod, TrafficAccumulator, type SimulatedPod } from '../../harness/simulator.js';

const GOOD = { errorRatio: 0, latencySeconds: 0.05 };
const SLOW = { errorRatio: 0, latencySeconds: 0.8 };
const BAD = { errorRatio: 0.2, latencySeconds: 0.8 };

describe('simulator profiles from the image tag', () => {
  it.each([
    ['demo:v2-bad', 'v2-bad', BAD],
    ['demo:v3-slow', 'v3-slow', SLOW],
    ['demo:v1', 'v1', GOOD],
    ['demo:V2-BAD', 'V2-BAD', BAD],
    ['registry.example.com:5000/team/demo:v2-bad', 'v2-bad', BAD],
    // A registry port, a repository name or a digest is not a tag.
    ['registry.example.com:5000/bad-demo', '', GOOD],
    ['slow-registry:5000/demo', '', GOOD],
    ['demo:v1@sha256:bad0000000000000000000000000000000000000000000000000000000000bad', 'v1', GOOD],
    ['demo:v2-slow@sha256:0000000000000000000000000000000000000000000000000000000000000000', 'v2-slow', SLOW],
    ['', '', GOOD],
    ['demo:v2-errors50', 'v2-errors50', { errorRatio: 0.5, latencySeconds: 0.05 }],
    ['demo:v2-slow-errors5', 'v2-slow-errors5', { errorRatio: 0.05, latencySeconds: 0.8 }],
    ['demo:v2-bad-errors100', 'v2-bad-errors100', { errorRatio: 1, latencySeconds: 0.8 }],
  ])('%s has tag %j and behaves %j', (image, tag, profile) => {
    expect(imageTag(image)).toBe(tag);
    expect(profileForImage(image)).toEqual(profile);
  });

  it('prefers bad over slow when a tag says both', () => {
    expect(profileForImage('demo:slow-and-bad')).toEqual(BAD);
  });
});

describe('deterministic traffic', () => {
  it('serves exactly rate × time requests, a fifth of them errors for a bad version, whatever the tick size', () => {
    for (const tick of [0.05, 0.1, 0.25, 0.4, 1, 2.5]) {
      const traffic = new TrafficAccumulator(20, BAD);
      let ok = 0;
      let errors = 0;
      const ticks = Math.round(20 / tick);
      for (let i = 0; i < ticks; i++) {
        const t = traffic.tick(tick);
        expect(t.ok).toBeGreaterThanOrEqual(0);
        expect(t.errors).toBeGreaterThanOrEqual(0);
        ok += t.ok;
        errors += t.errors;
      }
      // 20 s at 20 req/s; float error (0.1 s ticks) never loses or invents a request.
      expect(ok + errors, `tick ${tick}`).toBe(400);
      expect(errors, `tick ${tick}`).toBe(80);
    }
  });

  it('carries fractions over instead of rounding each tick', () => {
    const odd = new TrafficAccumulator(3, GOOD);
    const ticks = Array.from({ length: 8 }, () => odd.tick(0.25));
    // 0.75 requests owed per tick: whole requests come out as the owed total passes 1, 2, 3, ...
    expect(ticks.map((t) => t.ok)).toEqual([0, 1, 1, 1, 0, 1, 1, 1]);
    expect(ticks.reduce((sum, t) => sum + t.ok, 0)).toBe(6);
    expect(ticks.every((t) => t.errors === 0)).toBe(true);
  });

  it('never errs for a good or slow version, and the error ratio converges exactly, not statistically', () => {
    const slow = new TrafficAccumulator(20, SLOW);
    const bad = new TrafficAccumulator(20, BAD);
    let badOk = 0;
    let badErrors = 0;
    for (let i = 0; i < 1000; i++) {
      expect(slow.tick(0.25).errors).toBe(0);
      const t = bad.tick(0.25);
      badOk += t.ok;
      badErrors += t.errors;
      // At every point the errors lag the exact share by less than one request.
      expect(Math.abs(badErrors - 0.2 * (badOk + badErrors))).toBeLessThan(1);
    }
    expect(badErrors / (badOk + badErrors)).toBe(0.2);
  });

  it('ignores a clock that went backwards', () => {
    const traffic = new TrafficAccumulator(20, GOOD);
    expect(traffic.tick(-5)).toEqual({ ok: 0, errors: 0 });
    expect(traffic.tick(1)).toEqual({ ok: 20, errors: 0 });
  });
});

describe('simulated latency', () => {
  it('cycles around the typical value, so its mean is exact and p99 stays in the expected bucket', () => {
    const good = Array.from({ length: 100 }, (_, n) => latencyOf(GOOD, n));
    const bad = Array.from({ length: 100 }, (_, n) => latencyOf(BAD, n));
    expect(good.reduce((a, b) => a + b) / 100).toBeCloseTo(0.05, 10);
    expect(bad.reduce((a, b) => a + b) / 100).toBeCloseTo(0.8, 10);
    expect(Math.max(...good)).toBeLessThanOrEqual(0.1);
    expect(Math.min(...bad)).toBeGreaterThan(0.5);
    expect(Math.max(...bad)).toBeLessThanOrEqual(1);
    expect(latencyOf(BAD, 7)).toBe(latencyOf(BAD, 2));
  });
});

describe('which pods are simulated', () => {
  type Port = { containerPort: number; protocol?: string };
  const pod = (
    over: { ready?: boolean; deleting?: boolean; hash?: string | null; image?: string; ip?: string; ports?: Port[]; sidecarPorts?: Port[] } = {},
  ): V1Pod => ({
    metadata: {
      name: 'web-abc-1',
      namespace: 'shop',
      labels: over.hash === null ? { app: 'web' } : { app: 'web', 'fledge.dev/pod-template-hash': over.hash ?? 'abc' },
      ...(over.deleting ? { deletionTimestamp: new Date() } : {}),
    },
    spec: {
      containers: [
        { name: 'web', image: over.image ?? 'demo:v2-bad', ports: over.ports },
        { name: 'sidecar', image: 'proxy:slow', ports: over.sidecarPorts },
      ],
    },
    status: { podIP: over.ip ?? '198.18.0.7', conditions: [{ type: 'Ready', status: over.ready === false ? 'False' : 'True' }] },
  });

  it('serves a Ready pod with the first container’s profile, on its IP', () => {
    expect(simulatedPod(pod())).toEqual({ namespace: 'shop', name: 'web-abc-1', hash: 'abc', image: 'demo:v2-bad', profile: BAD, ip: '198.18.0.7', ports: [8080], role: '' });
    expect(simulatedPod(pod({ image: 'demo:v1' }))?.profile).toEqual(GOOD);
    expect(simulatedPod(pod({ ip: '' }))?.ip).toBeUndefined();
  });

  it('listens on every TCP port any container declares, or on 8080 when none does', () => {
    expect(simulatedPod(pod({ ports: [{ containerPort: 9000 }, { containerPort: 53, protocol: 'UDP' }], sidecarPorts: [{ containerPort: 15090, protocol: 'TCP' }, { containerPort: 9000 }] }))?.ports).toEqual([9000, 15090]);
    expect(simulatedPod(pod({ ports: [{ containerPort: 53, protocol: 'UDP' }] }))?.ports).toEqual([8080]);
  });

  it('skips pods that are not Ready, are terminating, or have no pod-template-hash', () => {
    expect(simulatedPod(pod({ ready: false }))).toBeUndefined();
    expect(simulatedPod(pod({ deleting: true }))).toBeUndefined();
    expect(simulatedPod(pod({ hash: null }))).toBeUndefined();
    expect(simulatedPod({ metadata: { name: 'x', namespace: 'y', labels: { 'fledge.dev/pod-template-hash': 'h' } } })).toBeUndefined();
  });
});

describe('how a pod answers real requests', () => {
  const simulated = (image: string): SimulatedPod => ({ namespace: 'shop', name: 'web-1', hash: 'abc', image, profile: profileForImage(image), ip: '198.18.0.7', ports: [8080], role: '' });

  it('answers with its version, name and hash, and fails exactly every fifth request of a bad version', () => {
    const bad = new PodBehaviour(simulated('demo:v2-bad'), 0);
    const answers = Array.from({ length: 20 }, () => bad.next());
    expect(answers.map((a) => a.status)).toEqual(Array.from({ length: 20 }, (_, i) => ((i + 1) % 5 === 0 ? 500 : 200)));
    expect(answers[0]?.body).toEqual({ version: 'v2-bad', pod: 'web-1', hash: 'abc' });
    expect(answers.every((a) => a.delaySeconds === 0)).toBe(true);
  });

  it('never fails a good version, and waits the profile’s latency times the scale', () => {
    const good = new PodBehaviour(simulated('demo:v1'), 1);
    const answers = Array.from({ length: 10 }, () => good.next());
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(answers.map((a) => a.delaySeconds)).toEqual(Array.from({ length: 10 }, (_, n) => latencyOf(GOOD, n)));
    const halved = new PodBehaviour(simulated('demo:v2-slow'), 0.5);
    expect(halved.next().delaySeconds).toBeCloseTo(0.5 * latencyOf(SLOW, 0), 10);
  });
});

describe('random errors: each request fails with the profile’s probability, from a seeded stream per pod', () => {
  const simulated = (image: string, name = 'web-1'): SimulatedPod => ({ namespace: 'shop', name, hash: 'abc', image, profile: profileForImage(image), ip: '198.18.0.7', ports: [8080], role: '' });
  /** 4.5 standard deviations of a binomial count: an honest generator falls outside about once in 150,000 runs. */
  const binomialBounds = (n: number, p: number): [number, number] => {
    const sd = Math.sqrt(n * p * (1 - p));
    return [n * p - 4.5 * sd, n * p + 4.5 * sd];
  };

  it('fails a binomial share of a pod’s real requests, not every n-th one', () => {
    const pod = simulated('demo:v2-errors05');
    const behaviour = new PodBehaviour(pod, 0, podStream({ seed: 1 }, 'requests', pod));
    const failed: number[] = [];
    const n = 40_000;
    for (let i = 0; i < n; i++) if (behaviour.next().status === 500) failed.push(i);
    const [low, high] = binomialBounds(n, 0.05);
    expect(failed.length).toBeGreaterThan(low);
    expect(failed.length).toBeLessThan(high);
    // Exact mode fails every 20th request; at random the gaps between failures are geometric, so they vary widely.
    const gaps = new Set(failed.slice(1).map((at, i) => at - (failed[i] as number)));
    expect(gaps.size).toBeGreaterThan(50);
    expect(gaps.has(1)).toBe(true);
  });

  it('draws binomial error counts for the synthetic series, whatever the tick', () => {
    const traffic = new TrafficAccumulator(20, profileForImage('demo:v2-errors01'), new Rng(7));
    let requests = 0;
    let errors = 0;
    for (let i = 0; i < 40_000; i++) {
      const t = traffic.tick(i % 2 === 0 ? 0.25 : 0.4);
      requests += t.ok + t.errors;
      errors += t.errors;
    }
    // The request count stays exact (20 a second over 13,000 s); only the errors are random.
    expect(requests).toBe(260_000);
    const [low, high] = binomialBounds(requests, 0.01);
    expect(errors).toBeGreaterThan(low);
    expect(errors).toBeLessThan(high);
    expect(errors).not.toBe(2600);
  });

  it('replays the same failures for the same seed and pod, and others for another pod or seed', () => {
    const statuses = (seed: number, name: string): number[] => {
      const pod = simulated('demo:v2-errors50', name);
      const behaviour = new PodBehaviour(pod, 0, podStream({ seed }, 'requests', pod));
      return Array.from({ length: 200 }, () => behaviour.next().status);
    };
    expect(statuses(3, 'web-1')).toEqual(statuses(3, 'web-1'));
    expect(statuses(3, 'web-2')).not.toEqual(statuses(3, 'web-1'));
    expect(statuses(4, 'web-1')).not.toEqual(statuses(3, 'web-1'));
    const pod = simulated('demo:v2-errors50');
    expect(podStream({ seed: 3 }, 'series', pod)?.next()).not.toBe(podStream({ seed: 3 }, 'requests', pod)?.next());
  });

  it('is off unless asked for: the exact mode stays the default', () => {
    expect(podStream(undefined, 'requests', simulated('demo:v2-errors50'))).toBeUndefined();
    const exact = new PodBehaviour(simulated('demo:v2-errors50'), 0);
    expect(Array.from({ length: 6 }, () => exact.next().status)).toEqual([200, 500, 200, 500, 200, 500]);
  });
});
