import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lintPaths, lintText } from '../../../src/cli/lint.js';

const root = join(import.meta.dirname, '..', '..', '..');

describe('lint', () => {
  it('passes every file in examples/', () => {
    const report = lintPaths([join(root, 'examples')]);
    expect(report.problems).toEqual([]);
    expect(report.objects).toBeGreaterThanOrEqual(readdirSync(join(root, 'examples')).filter((f) => f.endsWith('.yaml')).length);
  });

  it('fails broken manifests with the line of each mistake', () => {
    const report = lintPaths([join(root, 'test/fixtures/lint/broken.yaml')]);
    const problems = report.problems.map((p) => `${p.line} ${p.kind}/${p.name}: ${p.message}`);
    expect(problems).toEqual([
      expect.stringMatching(/^11 Rollout\/too-heavy: spec\.strategy\.canary\.steps\.0\.setWeight: .*<= ?100/),
      expect.stringMatching(/^22 Rollout\/bad-pause: spec\.strategy\.canary\.steps\.0\.pause\.duration: /),
      expect.stringMatching(/^25 Rolout\/typo: unknown kind Rolout/),
      expect.stringMatching(/^36 AnalysisTemplate\/bad-cel: spec\.metrics\.0\.successCondition: does not type-check to bool/),
      expect.stringMatching(/^38 AnalysisTemplate\/bad-cel: spec\.metrics\.0\.provider: uses \{\{args\.hash\}\} but the template declares no argument hash/),
    ]);
  });

  it('checks an experiment step’s analyses as an analysis step’s: fieldRefs that do not parse, and placeholders naming no template', () => {
    const rollout = `apiVersion: fledge.dev/v1alpha1
kind: Rollout
metadata: {name: r}
spec:
  selector: {matchLabels: {app: r}}
  template: {metadata: {labels: {app: r}}, spec: {containers: [{name: r, image: r:1}]}}
  strategy:
    canary:
      steps:
      - experiment:
          duration: 10m
          templates:
          - {name: baseline, specRef: stable}
          - {name: canary, specRef: canary}
          analyses:
          - name: compare
            templateName: mann-whitney
            args:
            - {name: baseline-hash, value: "{{templates.baseline.podTemplateHash}}"}
            - {name: canary-hash, value: "{{templates.canry.podTemplateHash}}"}
            - {name: ends, value: "{{experiment.finishedAt}}"}
            - {name: team, valueFrom: {fieldRef: {fieldPath: "metadata.labels[team"}}}
`;
    expect(lintText('r.yaml', rollout).problems.map((p) => `${p.line} ${p.message}`)).toEqual([
      '22 spec.strategy.canary.steps.0.experiment.analyses.0.args.3.valueFrom.fieldRef.fieldPath: fieldRef metadata.labels[team does not parse: write a path into the Rollout, such as metadata.labels[\'key\'] or spec.template.spec.containers[0].image',
      '20 spec.strategy.canary.steps.0.experiment.analyses.0.args.1.value: {{templates.canry.podTemplateHash}} names nothing this experiment has: its templates are baseline, canary',
    ]);
  });

  it('reports YAML syntax errors with their line, and ignores other APIs', () => {
    const result = lintText('x.yaml', 'apiVersion: v1\nkind: ConfigMap\n---\nkey: [unclosed\n');
    expect(result.problems).toHaveLength(1);
    // The parser reports an unclosed flow sequence where it gives up: at or after the line that opened it.
    expect(result.problems[0]).toMatchObject({ message: expect.stringMatching(/^YAML: /) });
    expect(result.problems[0]?.line).toBeGreaterThanOrEqual(4);
    expect(lintText('cm.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n')).toEqual({ objects: 0, problems: [] });
  });

  it('validates AnalysisRuns like templates: schema, status included, and condition type-check', () => {
    const run = (successCondition: string, query: string, phase: string): string => `apiVersion: fledge.dev/v1alpha1
kind: AnalysisRun
metadata:
  name: api-6f9c7d-0-s1
  namespace: shop
  uid: 0b7d7c4e-59b1-4c2a-9d6c-6f0f3c1f2a11
  labels: {fledge.dev/rollout: api}
spec:
  args:
  - {name: namespace, value: shop}
  metrics:
  - name: success-rate
    interval: 30s
    count: 3
    successCondition: ${successCondition}
    provider:
      prometheus:
        address: http://prometheus.monitoring:9090
        query: ${query}
status:
  phase: Running
  startedAt: "2026-11-02T10:00:00Z"
  metricResults:
  - name: success-rate
    phase: Running
    count: 1
    successful: 1
    failed: 0
    inconclusive: 0
    error: 0
    consecutiveError: 0
    measurements:
    - {phase: ${phase}, value: "0.99", startedAt: "2026-11-02T10:00:00Z", finishedAt: "2026-11-02T10:00:01Z"}
`;
    const good = lintText('run.yaml', run('result >= 0.95', 'sum(rate(ok{namespace="{{args.namespace}}"}[1m]))', 'Successful'));
    expect(good).toEqual({ objects: 1, problems: [] });

    const bad = lintText('run.yaml', run('result >= "high"', 'sum(rate(ok{hash="{{args.hash}}"}[1m]))', 'Great'));
    expect(bad.problems.map((p) => `${p.line} ${p.kind}/${p.name}: ${p.message}`)).toEqual([
      expect.stringMatching(/^33 AnalysisRun\/api-6f9c7d-0-s1: status\.metricResults\.0\.measurements\.0\.phase: /),
    ]);
    // Once the schema holds, the CEL and argument checks run as they do for templates.
    const typed = lintText('run.yaml', run('result >= "high"', 'sum(rate(ok{hash="{{args.hash}}"}[1m]))', 'Successful'));
    expect(typed.problems.map((p) => `${p.line} ${p.kind}/${p.name}: ${p.message}`)).toEqual([
      expect.stringMatching(/^15 AnalysisRun\/api-6f9c7d-0-s1: spec\.metrics\.0\.successCondition: does not type-check to bool/),
      expect.stringMatching(/^17 AnalysisRun\/api-6f9c7d-0-s1: spec\.metrics\.0\.provider: uses \{\{args\.hash\}\} but the run declares no argument hash/),
    ]);
  });
  it("accepts Argo's documented web example and a web metric without jsonPath, and still refuses broken conditions", () => {
    const template = (metrics: string): string => `apiVersion: fledge.dev/v1alpha1
kind: AnalysisTemplate
metadata: {name: web}
spec:
  metrics:
${metrics}`;
    const web = (condition: string, jsonPath = '\n        jsonPath: "{$.data.ok}"'): string => `  - name: m
    successCondition: ${condition}
    provider:
      web:
        url: http://status.shop/health${jsonPath}
`;
    expect(lintText('t.yaml', template(web('result == true'))).problems).toEqual([]);
    expect(lintText('t.yaml', template(web("result.status == 'ok'", ''))).problems).toEqual([]);
    expect(lintText('t.yaml', template(web('result > 0.9') + web('result.all(x, x > 1)'))).problems).toEqual([]);
    const refused = lintText('t.yaml', template(web('result + 1') + web('result >=') + web('latency > 1.0')));
    expect(refused.problems.map((p) => `${p.line} ${p.message}`)).toEqual([
      expect.stringMatching(/^7 spec\.metrics\.0\.successCondition: is int, not bool/),
      expect.stringMatching(/^13 spec\.metrics\.1\.successCondition: does not parse/),
      expect.stringMatching(/^19 spec\.metrics\.2\.successCondition: does not type-check .*Unknown variable: latency/),
    ]);
    // A Prometheus result is still a number: Argo's web condition is refused there.
    const prometheus = template(`  - name: m
    successCondition: result == true
    provider:
      prometheus: {address: "http://p:9090", query: up}
`);
    expect(lintText('t.yaml', prometheus).problems).toEqual([expect.objectContaining({ message: expect.stringMatching(/successCondition: does not type-check to bool/) })]);
  });
});
