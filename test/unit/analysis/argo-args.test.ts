import { describe, expect, it } from 'vitest';
import { AnalysisTemplate, type AnalysisTemplateSpec, type Metric } from '../../../src/api/analysis.js';
import { evaluateRun } from '../../../src/analysis/plan.js';
import { buildRunSpec, type RolloutArgContext } from '../../../src/analysis/templates.js';

const T0 = Date.parse('2026-04-01T10:00:00Z');

const templated: Metric = {
  name: 'errors',
  provider: { prometheus: { query: 'error_rate' } },
  successCondition: 'result < 0.05',
  interval: '{{args.interval}}',
  count: '{{ args.count }}',
  failureLimit: '{{args.failures}}',
  inconclusiveLimit: '{{args.failures}}',
  consecutiveErrorLimit: '{{args.failures}}',
};

const template = (args: AnalysisTemplateSpec['args']): AnalysisTemplateSpec => ({ args, metrics: [templated] });

const context: RolloutArgContext = {
  name: 'shop',
  namespace: 'prod',
  stableHash: 'stable1',
  canaryHash: 'canary1',
  stableService: 'shop-stable',
  canaryService: 'shop-canary',
  labels: { team: 'payments' },
  annotations: { 'example.com/owner': 'alice' },
};

const argsOf = (values: Record<string, string>) => Object.entries(values).map(([name, value]) => ({ name, value }));

describe("Argo's templated interval, count and limits", () => {
  it('are accepted by the AnalysisTemplate schema, as Argo writes them', () => {
    const parsed = AnalysisTemplate.safeParse({
      apiVersion: 'fledge.dev/v1alpha1',
      kind: 'AnalysisTemplate',
      metadata: { name: 't' },
      spec: template([{ name: 'interval' }, { name: 'count', value: '3' }, { name: 'failures', value: '1' }]),
    });
    expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
  });

  it('are resolved from the arguments when the run is created, so the run shows the values', () => {
    const spec = buildRunSpec(
      { templates: [{ templateName: 't' }], args: argsOf({ interval: '30s', count: '4' }) },
      () => template([{ name: 'interval' }, { name: 'count' }, { name: 'failures', value: '2' }]),
      context,
    );
    expect(spec.invalidReason).toBeUndefined();
    expect(spec.metrics[0]).toMatchObject({ interval: '30s', count: 4, failureLimit: 2, inconclusiveLimit: 2, consecutiveErrorLimit: 2 });
  });

  it.each([
    [{ interval: 'soon', count: '3' }, 'interval {{args.interval}} is "soon", not a duration'],
    [{ interval: '1m', count: 'three' }, 'count {{ args.count }} is "three", not an integer of at least 1'],
    [{ interval: '1m', count: '0' }, 'count {{ args.count }} is "0", not an integer of at least 1'],
    [{ interval: '1m', count: '-2' }, 'not an integer of at least 1'],
  ])('a resolved value that is not a duration or integer (%j) makes the run invalid, never measured', (values, reason) => {
    const spec = buildRunSpec(
      { templates: [{ templateName: 't' }], args: argsOf(values) },
      () => template([{ name: 'interval' }, { name: 'count' }, { name: 'failures', value: '1' }]),
      context,
    );
    expect(spec.invalidReason).toContain(reason);
    const evaluation = evaluateRun({ apiVersion: 'fledge.dev/v1alpha1', kind: 'AnalysisRun', metadata: { name: 'r' }, spec }, undefined, T0);
    expect(evaluation.status.phase).toBe('Error');
    expect(evaluation.due).toEqual([]);
  });

  it('a count from a Secret cannot be resolved: the run errors instead of guessing', () => {
    const spec = buildRunSpec(
      { templates: [{ templateName: 't' }], args: argsOf({ interval: '1m' }) },
      () => template([{ name: 'interval' }, { name: 'count', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }, { name: 'failures', value: '1' }]),
      context,
    );
    expect(spec.invalidReason).toContain('count {{ args.count }} comes from a Secret');
  });

  it('an AnalysisRun written by hand with templated fields is resolved from its own args, or errors', () => {
    const run = (args: Record<string, string>) =>
      evaluateRun({ apiVersion: 'fledge.dev/v1alpha1', kind: 'AnalysisRun', metadata: { name: 'r' }, spec: { metrics: [templated], args: argsOf(args) } }, undefined, T0);
    const good = run({ interval: '10s', count: '2', failures: '0' });
    expect(good.status.phase).not.toBe('Error');
    expect(good.due.map((metric) => metric.count)).toEqual([2]);
    const bad = run({ interval: '10s', count: '2', failures: 'many' });
    expect(bad.status.phase).toBe('Error');
    expect(bad.status.message).toContain('failureLimit {{args.failures}} is "many", not an integer of at least 0');
  });
});

describe('fieldRef arguments', () => {
  const argTemplate: AnalysisTemplateSpec = {
    args: [{ name: 'team' }],
    metrics: [{ name: 'm', provider: { prometheus: { query: 'up{team="{{args.team}}"}' } }, successCondition: 'result > 0' }],
  };
  it.each([
    ["metadata.labels['team']", 'payments'],
    ['metadata.annotations["example.com/owner"]', 'alice'],
  ])('%s reads the Rollout label or annotation', (fieldPath, value) => {
    const spec = buildRunSpec({ templates: [{ templateName: 't' }], args: [{ name: 'team', valueFrom: { fieldRef: { fieldPath } } }] }, () => argTemplate, context);
    expect(spec.invalidReason).toBeUndefined();
    expect(spec.args).toEqual([{ name: 'team', value }]);
  });

  it('a label the Rollout does not have makes the run invalid, saying which', () => {
    const spec = buildRunSpec(
      { templates: [{ templateName: 't' }], args: [{ name: 'team', valueFrom: { fieldRef: { fieldPath: "metadata.labels['missing']" } } }] },
      () => argTemplate,
      context,
    );
    expect(spec.invalidReason).toContain("argument team: the Rollout has no metadata.labels['missing']");
  });
});
