import { describe, expect, it } from 'vitest';
import { profileForImage, TrafficAccumulator } from '../../harness/simulator.js';

describe('workload simulator', () => {
  it('picks the behaviour from the image tag', () => {
    expect(profileForImage('demo:v2-bad')).toEqual({ errorRatio: 0.2, latencySeconds: 0.8 });
    expect(profileForImage('registry.example.com:5000/demo:v3-slow')).toEqual({ errorRatio: 0, latencySeconds: 0.8 });
    expect(profileForImage('demo:v1')).toEqual({ errorRatio: 0, latencySeconds: 0.05 });
    // A registry port is not a tag.
    expect(profileForImage('registry.example.com:5000/bad-demo')).toEqual({ errorRatio: 0, latencySeconds: 0.05 });
  });

  it('serves exactly rate × time requests, with the profile’s share of errors, carrying fractions over', () => {
    const traffic = new TrafficAccumulator(20, { errorRatio: 0.2, latencySeconds: 0.8 });
    let ok = 0;
    let errors = 0;
    for (let i = 0; i < 40; i++) {
      const tick = traffic.tick(0.25);
      ok += tick.ok;
      errors += tick.errors;
    }
    expect(ok + errors).toBe(200);
    expect(errors).toBe(40);
    const odd = new TrafficAccumulator(3, { errorRatio: 0, latencySeconds: 0.05 });
    expect([odd.tick(0.25), odd.tick(0.25), odd.tick(0.25), odd.tick(0.25)].reduce((sum, t) => sum + t.ok, 0)).toBe(3);
  });
});
