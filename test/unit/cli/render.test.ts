import type * as k8s from '@kubernetes/client-node';
import { describe, expect, it, vi } from 'vitest';
import type { Rollout, RolloutStatus } from '../../../src/api/rollout.js';
import { colors, renderRollout, weightBar } from '../../../src/cli/render.js';
import { buildRolloutView, type AnalysisRunObject } from '../../../src/cli/view.js';
import { FrameThrottle, Screen } from '../../../src/cli/watch.js';

const plain = colors(false);

function rs(hash: string, revision: number, image: string, replicas: number): k8s.V1ReplicaSet {
  return {
    metadata: { name: `api-${hash}`, labels: { 'fledge.dev/pod-template-hash': hash }, annotations: { 'fledge.dev/revision': String(revision) } },
    spec: { replicas, selector: {}, template: { spec: { containers: [{ name: 'api', image }] } } },
    status: { replicas, readyReplicas: replicas, availableReplicas: replicas },
  };
}

function pod(hash: string, index: number, ready: boolean): k8s.V1Pod {
  return {
    metadata: { name: `api-${hash}-${index}`, labels: { 'fledge.dev/pod-template-hash': hash } },
    status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
  };
}

function rollout(status: RolloutStatus): Rollout {
  return {
    apiVersion: 'fledge.dev/v1alpha1',
    kind: 'Rollout',
    metadata: { name: 'api', namespace: 'shop' },
    spec: {
      replicas: 10,
      selector: { matchLabels: { app: 'api' } },
      template: { spec: {} },
      strategy: { canary: { steps: [{ setWeight: 20 }, { analysis: { templates: [{ templateName: 'success-rate' }] } }, { setWeight: 100 }] } },
    },
    status,
  };
}

const JUDGED = 'canary 2.1% (42/2000) vs baseline 1.0% (20/2000) errors: rate ratio 2.1, 99% anytime-valid interval [1.3, 3.6]; e-value 152 ≥ 100: regression';

/** Three observed states of one canary: starting, at 20% with analysis running, aborted. */
const STATES: Array<{ status: RolloutStatus; sets: k8s.V1ReplicaSet[]; pods: k8s.V1Pod[]; runs: AnalysisRunObject[] }> = [
  {
    status: { phase: 'Progressing', message: 'moving canary to 20%', stableRevision: 's1', currentRevision: 'c2', currentStepIndex: 0, canaryWeight: 20, actualWeight: 0 },
    sets: [rs('s1', 1, 'api:1', 10), rs('c2', 2, 'api:2', 0)],
    pods: Array.from({ length: 10 }, (_, i) => pod('s1', i, true)),
    runs: [],
  },
  {
    status: {
      phase: 'Progressing',
      message: 'canary at 20%, waiting for analysis at step 1/3',
      stableRevision: 's1',
      currentRevision: 'c2',
      currentStepIndex: 1,
      canaryWeight: 20,
      actualWeight: 20,
      stepAnalysisRun: 'api-c2-0-s1',
    },
    sets: [rs('s1', 1, 'api:1', 8), rs('c2', 2, 'api:2', 2)],
    pods: [...Array.from({ length: 8 }, (_, i) => pod('s1', i, true)), pod('c2', 0, true), pod('c2', 1, false)],
    runs: [
      {
        metadata: { name: 'api-c2-0-s1', creationTimestamp: '2026-01-01T00:00:00Z' },
        status: { phase: 'Running', metricResults: [{ name: 'success-rate', phase: 'Running', measurements: [{ phase: 'Successful', value: '0.99' }, { phase: 'Successful', value: '0.98' }] }] },
      },
    ],
  },
  {
    status: { phase: 'Degraded', message: 'aborted: analysis failed', stableRevision: 's1', currentRevision: 'c2', currentStepIndex: 1, canaryWeight: 0, actualWeight: 0, abort: true },
    sets: [rs('s1', 1, 'api:1', 10), rs('c2', 2, 'api:2', 0)],
    pods: Array.from({ length: 10 }, (_, i) => pod('s1', i, true)),
    runs: [
      {
        metadata: { name: 'api-c2-0-s1', creationTimestamp: '2026-01-01T00:00:00Z' },
        status: {
          phase: 'Failed',
          message: 'metric success-rate failed: 0.71',
          metricResults: [
            { name: 'success-rate', phase: 'Failed', measurements: [{ phase: 'Successful', value: '0.99' }, { phase: 'Failed', value: '0.71' }, { phase: 'Error' }, { phase: 'Inconclusive' }] },
            { name: 'error-ratio', phase: 'Failed', measurements: [{ phase: 'Successful', value: '1.2' }, { phase: 'Failed', value: '2.1' }], judgement: { class: 'High', explanation: JUDGED } },
          ],
        },
      },
    ],
  },
];

const frames = STATES.map((state) => renderRollout(buildRolloutView(rollout(state.status), state.sets, state.pods, state.runs), plain));

describe('get rollout frames', () => {
  it('shows the header, the weight bar and both images tagged', () => {
    const frame = frames[1] ?? '';
    expect(frame).toContain('Status:     ◌ Progressing');
    expect(frame).toContain('Step:       1/3');
    expect(frame).toContain(`Weight:     ${'█'.repeat(4)}${'░'.repeat(16)} 20% canary by pod count (desired 20%)`);
    expect(frame).toContain('api:1 (stable)');
    expect(frame).toContain('api:2 (canary)');
    expect(frame).toContain('Replicas:   desired 10');
  });

  it('draws the tree: revisions newest first, pods readiness, the analysis run under its revision with marks', () => {
    const lines = (frames[1] ?? '').split('\n');
    const revision2 = lines.findIndex((line) => line.startsWith('revision 2'));
    const revision1 = lines.findIndex((line) => line.startsWith('revision 1'));
    expect(revision2).toBeGreaterThan(0);
    expect(revision1).toBeGreaterThan(revision2);
    expect(lines[revision2]).toBe('revision 2  canary  api-c2  ✔ 2/2 available  pods 1/2 ready');
    expect(lines[revision2 + 1]).toBe('└─ analysis api-c2-0-s1 (step)  ◌ Running');
    expect(lines[revision2 + 2]).toBe('     success-rate  ✔✔  last 0.98');
    expect(lines[revision1]).toBe('revision 1  stable  api-s1  ✔ 8/8 available  pods 8/8 ready');
  });

  it('shows an experiment step’s templates with their image and pods, and its run as the experiment’s', () => {
    const experiment = (template: string, hash: string, image: string): k8s.V1ReplicaSet => {
      const replicaSet = rs(hash, 0, image, 1);
      replicaSet.metadata = { name: `api-c2-1-s1-${template}`, labels: { 'fledge.dev/pod-template-hash': hash, 'fledge.dev/role': 'experiment', 'fledge.dev/experiment-template': template } };
      return replicaSet;
    };
    const run: AnalysisRunObject = {
      metadata: { name: 'api-c2-1-s1-compare', labels: { 'fledge.dev/analysis': 'experiment' } },
      status: { phase: 'Running', metricResults: [{ name: 'latency', phase: 'Running', measurements: [{ phase: 'Successful', value: '0.4' }] }] },
    };
    const view = buildRolloutView(
      rollout({ phase: 'Progressing', stableRevision: 's1', currentRevision: 'c2', currentStepIndex: 1, experiment: { step: 1, startedAt: '2026-03-01T12:00:00Z' } }),
      [rs('s1', 1, 'api:1', 8), rs('c2', 2, 'api:2', 2), experiment('baseline', 'xb', 'api:1'), experiment('canary', 'xc', 'api:2')],
      [pod('xb', 0, true), pod('xc', 0, false)],
      [run],
    );
    const lines = renderRollout(view, plain).split('\n');
    expect(lines).toContain('experiment baseline  api:1  api-c2-1-s1-baseline  ✔ 1/1 available  pods 1/1 ready');
    expect(lines).toContain('experiment canary  api:2  api-c2-1-s1-canary  ✔ 1/1 available  pods 0/1 ready');
    expect(lines).toContain('└─ analysis api-c2-1-s1-compare (experiment)  ◌ Running');
    // The experiment's images are no revision's: the header names only the stable and the canary.
    expect(lines.filter((line) => line.includes('(canary)'))).toHaveLength(1);
  });

  it('marks every measurement outcome and shows the abort', () => {
    const frame = frames[2] ?? '';
    expect(frame).toContain('Status:     ✖ Degraded (aborted)');
    expect(frame).toContain('success-rate  ✔✖⚠?  last 0.71');
    expect(frame).toContain('metric success-rate failed: 0.71');
    // A judge metric's verdict is explained right under its marks.
    const lines = frame.split('\n');
    const judged = lines.findIndex((line) => line.includes('error-ratio  ✔✖  last 2.1'));
    expect(judged).toBeGreaterThan(0);
    expect(lines[judged + 1]?.trim()).toBe(`judge High: ${JUDGED}`);
    expect(frame).toContain(`Weight:     ${'░'.repeat(20)} 0% canary by pod count (aborted: back to stable)`);
  });

  it('with a router, shows the traffic weight apart from the pods, and why the router has not got there yet', () => {
    const routed = rollout({
      phase: 'Progressing',
      stableRevision: 's1',
      currentRevision: 'c2',
      currentStepIndex: 0,
      canaryWeight: 5,
      actualWeight: 0,
      conditions: [{ type: 'TrafficRouting', status: 'False', reason: 'TrafficPending', message: 'asking for 5% of traffic on the canary; 0% in effect', lastTransitionTime: '2026-03-01T12:00:00Z' }],
    });
    routed.spec.strategy.canary = { ...routed.spec.strategy.canary, stableService: 'a', canaryService: 'b', trafficRouting: { gatewayAPI: { httpRoute: 'api' } } };
    const frame = renderRollout(buildRolloutView(routed, [rs('c2', 2, 'api:2', 1), rs('s1', 1, 'api:1', 10)], [], []), plain);
    expect(frame).toContain(`Weight:     ${'░'.repeat(20)} 0% of traffic on canary via gatewayAPI (desired 5%) (asking for 5% of traffic on the canary; 0% in effect)`);
    expect(frame).toContain('revision 2  canary  api-c2  ✔ 1/1 available');
    expect(frame).toContain('revision 1  stable  api-s1  ✔ 10/10 available');
  });

  it('shows what the write-back to Git did after an abort', () => {
    const committed = rollout({
      phase: 'Degraded',
      abort: true,
      stableRevision: 's1',
      currentRevision: 'c2',
      writeBack: { revision: 'c2', outcome: 'Committed', commit: 'abc', message: 'committed abc123def456 to main (apps/api.yaml, found via spec.writeBack): api: api:2 → api:1' },
    });
    expect(renderRollout(buildRolloutView(committed, [rs('s1', 1, 'api:1', 10)], [], []), plain)).toContain(
      'Git:        ✔ Committed: committed abc123def456 to main (apps/api.yaml, found via spec.writeBack): api: api:2 → api:1',
    );
    const failed = rollout({ phase: 'Degraded', abort: true, writeBack: { revision: 'c2', outcome: 'Failed', message: 'write-back failed: HTTP Error: 401 Unauthorized' } });
    expect(renderRollout(buildRolloutView(failed, [], [], []), plain)).toContain('Git:        ✖ Failed: write-back failed: HTTP Error: 401 Unauthorized');
  });

  it('says there is no canary when the current revision is the stable one', () => {
    const healthy = renderRollout(
      buildRolloutView(rollout({ phase: 'Healthy', stableRevision: 's1', currentRevision: 's1', currentStepIndex: 3, canaryWeight: 100, actualWeight: 100 }), [rs('s1', 1, 'api:1', 10)], [], []),
      plain,
    );
    expect(healthy).toContain(`Weight:     ${'░'.repeat(20)} no canary: all traffic on stable`);
  });

  it('differs from frame to frame as the rollout moves', () => {
    expect(new Set(frames).size).toBe(3);
    expect(frames[0]).not.toContain('analysis');
  });

  it('colours only on request', () => {
    expect(weightBar(50, 4, colors(true))).toContain('\x1b[');
    expect(weightBar(50, 4, plain)).toBe('██░░');
  });
});

describe('Screen', () => {
  it('redraws in place on a terminal: clear once, then cursor home and clear-to-end every frame', () => {
    const written: string[] = [];
    const screen = new Screen({ isTTY: true, write: (text: string) => written.push(text) > 0 });
    screen.draw('a\nb\n');
    screen.draw('c\n');
    expect(written[0]).toBe('\x1b[2J\x1b[Ha\x1b[K\nb\x1b[K\n\x1b[J');
    expect(written[1]).toBe('\x1b[Hc\x1b[K\n\x1b[J');
  });

  it('appends plain frames when piped', () => {
    const written: string[] = [];
    const screen = new Screen({ isTTY: false, write: (text: string) => written.push(text) > 0 });
    screen.draw('a\n');
    expect(written).toEqual(['a\n\n']);
  });
});

describe('FrameThrottle', () => {
  it('draws at once, then at most every 200 ms however many changes arrive', () => {
    vi.useFakeTimers();
    try {
      let draws = 0;
      const throttle = new FrameThrottle(() => draws++, 200, () => Date.now());
      throttle.changed();
      expect(draws).toBe(1);
      for (let i = 0; i < 50; i++) throttle.changed();
      expect(draws).toBe(1);
      vi.advanceTimersByTime(199);
      expect(draws).toBe(1);
      vi.advanceTimersByTime(1);
      expect(draws).toBe(2);
      vi.advanceTimersByTime(1000);
      expect(draws).toBe(2);
      throttle.changed();
      expect(draws).toBe(3);
    } finally {
      vi.useRealTimers();
    }
  });
});
