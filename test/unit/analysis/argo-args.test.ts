import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AnalysisTemplate, type AnalysisTemplateSpec, type Metric } from '../../../src/api/analysis.js';
import { compileCondition, ConditionError } from '../../../src/analysis/condition.js';
import { substituteConditionArgs } from '../../../src/analysis/metric-args.js';
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
  rollout: {
    metadata: { name: 'shop', namespace: 'prod', labels: { team: 'payments' }, annotations: { 'example.com/owner': 'alice' } },
    spec: {
      replicas: 3,
      template: { spec: { containers: [{ name: 'app', image: 'shop:2.0' }] } },
      strategy: { canary: { stableService: 'shop-stable', canaryService: 'shop-canary' } },
    },
  },
  stableHash: 'stable1',
  canaryHash: 'canary1',
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
    ['metadata.namespace', 'prod'],
    ['spec.strategy.canary.canaryService', 'shop-canary'],
    ['spec.template.spec.containers[0].image', 'shop:2.0'],
    ['spec.replicas', '3'],
  ])('%s reads that field of the Rollout, as Argo does', (fieldPath, value) => {
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

  it.each([
    ['spec.template.spec.containers[3].image', 'the Rollout has no spec.template.spec.containers[3].image'],
    ['spec.template.spec.containers', 'spec.template.spec.containers is a list, not a value'],
    ['spec.strategy', 'spec.strategy is an object, not a value'],
    ['metadata.name[0]', 'the Rollout has no metadata.name[0]'],
    ['spec..replicas', 'fieldPath spec..replicas does not parse'],
    ["metadata.labels['team'", "fieldPath metadata.labels['team' does not parse"],
  ])('%s makes the run invalid, saying why, rather than measuring with a guess', (fieldPath, why) => {
    const spec = buildRunSpec({ templates: [{ templateName: 't' }], args: [{ name: 'team', valueFrom: { fieldRef: { fieldPath } } }] }, () => argTemplate, context);
    expect(spec.invalidReason).toContain(`argument team: ${why}`);
  });
});

describe('{{args.x}} in a condition (Argo thresholds from arguments)', () => {
  const thresholdTemplate = (args: AnalysisTemplateSpec['args']): AnalysisTemplateSpec => ({
    args,
    metrics: [{ name: 'success', provider: { prometheus: { query: 'ok_ratio' } }, successCondition: 'result[0] >= {{args.threshold}}', failureCondition: 'result[0] < {{ args.floor }}' }],
  });

  it('is replaced by the value when the run is created, so the run shows the threshold it judges by', () => {
    const spec = buildRunSpec({ templates: [{ templateName: 't' }], args: argsOf({ threshold: '0.95', floor: '1' }) }, () => thresholdTemplate([{ name: 'threshold' }, { name: 'floor' }]), context);
    expect(spec.invalidReason).toBeUndefined();
    expect(spec.metrics[0]).toMatchObject({ successCondition: 'result[0] >= 0.95', failureCondition: 'result[0] < 1.0' });
  });

  it('a value that is not a number stays one string literal: it can never change what the condition does', () => {
    const spec = buildRunSpec(
      { templates: [{ templateName: 't' }], args: argsOf({ threshold: '0.9 || true', floor: '0' }) },
      () => thresholdTemplate([{ name: 'threshold' }, { name: 'floor' }]),
      context,
    );
    expect(spec.metrics[0]?.successCondition).toBe('result[0] >= "0.9 || true"');
    const evaluation = evaluateRun({ apiVersion: 'fledge.dev/v1alpha1', kind: 'AnalysisRun', metadata: { name: 'r' }, spec }, undefined, T0);
    expect(evaluation.status.phase).toBe('Error');
    expect(evaluation.due).toEqual([]);
  });

  it.each([
    [[{ name: 'threshold' }, { name: 'floor', value: '0' }], 'successCondition uses {{args.threshold}}, which has no value'],
    [[{ name: 'threshold', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }, { name: 'floor', value: '0' }], 'comes from a Secret'],
  ])('a threshold that is missing or secret makes the run invalid before any measurement (%j)', (args, reason) => {
    const spec = buildRunSpec({ templates: [{ templateName: 't' }] }, () => thresholdTemplate(args as AnalysisTemplateSpec['args']), context);
    expect(spec.invalidReason).toContain(reason);
  });
});

describe('property: an argument in a condition is one literal, whatever its value', () => {
  // Were a value spliced in as text, `0 || true` would compile and pass every measurement.
  it('a number compares equal to itself; anything else never compiles against a double result', () => {
    const value = fc.oneof(fc.string(), fc.double({ noNaN: true }).map(String), fc.integer().map(String), fc.constantFrom('0 || true', '1) || (true', '"', '\\', '0.5 ', ' 1e3', '+2', '.5', '1.', 'Infinity'));
    fc.assert(
      fc.property(value, (v) => {
        const condition = substituteConditionArgs('result == {{args.v}}', () => v);
        const asNumber = Number(v.trim());
        try {
          const compiled = compileCondition(condition);
          expect(Number.isFinite(asNumber)).toBe(true);
          expect(compiled.evaluate(asNumber)).toBe(true);
          expect(compiled.evaluate(asNumber + 1)).toBe(asNumber + 1 === asNumber);
        } catch (err) {
          if (!(err instanceof ConditionError)) throw err;
          expect(/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(v.trim()) && Number.isFinite(asNumber)).toBe(false);
        }
      }),
      { seed: 20261124, numRuns: 2000 },
    );
  });
});
