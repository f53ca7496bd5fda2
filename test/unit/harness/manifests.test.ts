import { describe, expect, it } from 'vitest';
import { AnalysisTemplate } from '../../../src/api/analysis.js';
import { Rollout } from '../../../src/api/rollout.js';
import { analysisTemplate, canaryRollout } from '../../harness/manifests.js';

describe('e2e manifest builders', () => {
  it('build what the API schemas accept', () => {
    const rollout = canaryRollout('web', { replicas: 3, image: 'demo:v1', canary: { steps: [{ setWeight: 50 }, { pause: { duration: '10s' } }] } });
    expect(Rollout.parse(rollout).spec.selector).toEqual({ matchLabels: { app: 'web' } });
    const template = analysisTemplate('ok', { metrics: [{ name: 'up', interval: '1s', successCondition: 'result == 1', provider: { prometheus: { address: 'http://127.0.0.1:9090', query: 'up' } } }] });
    expect(AnalysisTemplate.parse(template).metadata.name).toBe('ok');
  });

  it('refuse, at compile time, what the schemas do not know', () => {
    // @ts-expect-error a misspelled step is no CanaryStep
    const misspelled = canaryRollout('web', { replicas: 1, image: 'demo:v1', canary: { steps: [{ setWieght: 50 }] } });
    expect(Rollout.safeParse(misspelled).success).toBe(false);
    // @ts-expect-error a metric needs a provider
    const providerless = analysisTemplate('bad', { metrics: [{ name: 'up', successCondition: 'result == 1' }] });
    expect(AnalysisTemplate.safeParse(providerless).success).toBe(false);
  });
});
