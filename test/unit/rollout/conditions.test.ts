import { describe, expect, it } from 'vitest';
import type { Condition } from '../../../src/api/meta.js';
import { setCondition, setConditions } from '../../../src/api/conditions.js';

const at = (ms: number): string => new Date(ms).toISOString();

describe('setCondition', () => {
  it('adds a condition with observedGeneration and the transition time', () => {
    expect(setCondition([], { type: 'Ready', status: 'False', reason: 'RolloutProgressing', message: 'm' }, 1_000, 3)).toEqual([
      { type: 'Ready', status: 'False', reason: 'RolloutProgressing', message: 'm', observedGeneration: 3, lastTransitionTime: at(1_000) },
    ]);
  });

  it('keeps lastTransitionTime when only reason or message change, moves it when status flips', () => {
    const start: Condition[] = [{ type: 'Ready', status: 'False', reason: 'A', message: 'a', lastTransitionTime: at(1_000) }];
    const sameStatus = setCondition(start, { type: 'Ready', status: 'False', reason: 'B', message: 'b' }, 2_000, 1);
    expect(sameStatus[0]).toMatchObject({ reason: 'B', lastTransitionTime: at(1_000) });
    const flipped = setCondition(sameStatus, { type: 'Ready', status: 'True', reason: 'C', message: 'c' }, 3_000, 1);
    expect(flipped[0]).toMatchObject({ status: 'True', lastTransitionTime: at(3_000) });
  });

  it('keeps positions and other owners’ conditions', () => {
    const start: Condition[] = [
      { type: 'Foreign', status: 'True', reason: 'X', message: 'x', lastTransitionTime: at(0) },
      { type: 'Ready', status: 'False', reason: 'A', message: 'a', lastTransitionTime: at(0) },
    ];
    const next = setConditions(
      start,
      [
        { type: 'Progressing', status: 'True', reason: 'P', message: 'p' },
        { type: 'Ready', status: 'True', reason: 'R', message: 'r' },
      ],
      5,
      undefined,
    );
    expect(next.map((c) => c.type)).toEqual(['Foreign', 'Ready', 'Progressing']);
    expect(next[0]).toBe(start[0]);
    expect(next[1]).not.toHaveProperty('observedGeneration');
  });
});
