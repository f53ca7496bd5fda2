import { describe, expect, it } from 'vitest';
import { lowestWeightServed, stableShareOf } from '../../../src/traffic/plan.js';

describe('lowestWeightServed', () => {
  it('is the lowest canary weight whose stable share the available stable pods cover, for every size', () => {
    for (let replicas = 1; replicas <= 40; replicas++) {
      for (let available = 0; available <= replicas + 1; available++) {
        const served = Array.from({ length: 101 }, (_, weight) => weight).filter((weight) => stableShareOf(replicas, weight) <= available);
        expect(lowestWeightServed(replicas, available), `${available} of ${replicas} stable pods`).toBe(Math.min(...served));
      }
    }
  });
});
