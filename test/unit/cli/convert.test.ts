import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { convertText } from '../../../src/cli/convert.js';
import { exprToCel } from '../../../src/cli/expr-to-cel.js';
import { run } from '../../../src/cli/main.js';

describe('expr-lang conditions to CEL', () => {
  it.each([
    ['result[0] >= 0.95', 'result[0] >= 0.95'],
    ['len(result) == 0 || result[0] >= 0.95', 'size(result) == 0 || result[0] >= 0.95'],
    ['isNaN(result) || result >= 0.9', '(result != result) || result >= 0.9'],
    ['default(result, 0) >= 0.95', 'result >= 0.95'],
    ['result >= 0.9 and not (result > 1) or result == 0', 'result >= 0.9 && ! (result > 1.0) || result == 0.0'],
    ['all(result, {# < 0.5})', 'result.all(x, x < 0.5)'],
    ['any(result, {# > 3})', 'result.exists(x, x > 3)'],
    ['asFloat(result) > 0.5', 'double(result) > 0.5'],
    ['result == 1', 'result == 1.0'],
    ['result[0] >= {{args.threshold}}', 'result[0] >= {{args.threshold}}'],
    ['result > {{ args.low }} and result < {{args.high}}', 'result > {{ args.low }} && result < {{args.high}}'],
  ])('%s becomes %s', (expression, cel) => {
    expect(exprToCel(expression)).toMatchObject({ ok: true, cel });
  });

  it("keeps a web metric's condition over its JSON value, which a Prometheus one refuses", () => {
    expect(exprToCel('result == true', 'json')).toMatchObject({ ok: true, cel: 'result == true' });
    expect(exprToCel('asFloat(result) > 0.9', 'json')).toMatchObject({ ok: true, cel: 'double(result) > 0.9' });
    expect(exprToCel('result == true')).toMatchObject({ ok: false });
  });

  it('says where Fledge differs: no data never reaches a condition', () => {
    const translated = exprToCel('len(result) == 0 || result[0] < 0.05');
    expect(translated.ok && translated.notes.join()).toContain('noDataPolicy');
  });

  it.each([
    ['result > {{inputs.threshold}}', '{{...}} in a condition other than {{args.name}}'],
    ['result.successRate > 0.9', 'unknown name successRate'],
    ['result ** 2 > 1', 'operator **'],
    ['upper(result) == "OK"', 'function upper()'],
    ['result == nil', 'nil'],
  ])('refuses %s rather than guess (%s)', (expression, reason) => {
    expect(exprToCel(expression)).toMatchObject({ ok: false, reason: expect.stringContaining(reason) });
  });
});

const argo = `# our canary
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: t}
spec:
  metrics:
  - name: m
    successCondition: len(result) == 0 || result[0] >= 0.95 # keep
    provider:
      web: {url: "http://x", jsonPath: "{$.ok}", timeoutSeconds: 5, jsonBody: {a: 1}}
---
apiVersion: v1
kind: Service
metadata: {name: untouched}
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: j}
spec:
  metrics:
  - name: load
    provider:
      datadog: {query: 'avg:load{*}'}
`;

describe('convert', () => {
  it('rewrites apiVersion, conditions and web fields, keeps comments and other documents, and reports the rest with its line', () => {
    const { file, findings } = convertText('a.yaml', argo);
    expect(file.text).toContain('# our canary\napiVersion: fledge.dev/v1alpha1');
    expect(file.text).toContain('successCondition: size(result) == 0 || result[0] >= 0.95 # keep');
    expect(file.text).toContain('timeout: 5');
    expect(file.text).toContain(`body: '{"a":1}'`);
    expect(file.text).not.toContain('timeoutSeconds');
    expect(file.text).toContain('apiVersion: v1\nkind: Service');
    expect(file.documents.map((d) => [d.name, d.complete])).toEqual([
      ['t', true],
      ['j', false],
    ]);
    expect(findings.filter((f) => f.severity === 'untranslated').map((f) => `${f.line} ${f.message}`)).toEqual([
      '23 spec.metrics.0.provider.datadog: this provider is not supported (Fledge measures with prometheus, web and job)',
    ]);
  });

  it('refuses step plugins and App Mesh with what to use instead, and passes experiment steps through', () => {
    const rollout = `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: r}
spec:
  selector: {matchLabels: {app: r}}
  template: {metadata: {labels: {app: r}}, spec: {containers: [{name: r, image: r:1}]}}
  rollbackWindow: {revisions: 2}
  strategy:
    canary:
      trafficRouting:
        appMesh: {virtualService: {name: r}}
      steps:
      - plugin: {name: argoproj-labs/gatewayAPI}
      - experiment: {templates: [{name: baseline, specRef: stable}]}
      - experiment: {templates: [{name: canary, specRef: canary, weight: 5}]}
`;
    const converted = convertText('r.yaml', rollout);
    const messages = converted.findings.filter((f) => f.severity === 'untranslated').map((f) => `${f.line} ${f.message}`);
    expect(messages).toEqual([
      expect.stringMatching(/^15 spec\.strategy\.canary\.steps\.2\.experiment\.templates\.0\.weight: an experiment template's weight is routed by trafficRouting gatewayAPI, istio, alb or smi only/),
      expect.stringMatching(/^11 spec\.strategy\.canary\.trafficRouting\.appMesh: AWS App Mesh is discontinued \(AWS ended support on 2026-09-30\): move the mesh to the Gateway API/),
      expect.stringMatching(/^13 spec\.strategy\.canary\.steps\.0\.plugin: step plugins are not supported: Argo downloads and runs plugin binaries.*a webhook/),
    ]);
    expect(converted.file.text).toContain('- experiment: {templates: [{name: baseline, specRef: stable}]}');
  });

  it('converts Argo’s baseline-against-canary experiment completely', () => {
    const rollout = `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: r}
spec:
  selector: {matchLabels: {app: r}}
  template: {metadata: {labels: {app: r}}, spec: {containers: [{name: r, image: r:1}]}}
  strategy:
    canary:
      steps:
      - experiment:
          duration: 1h
          templates:
          - {name: baseline, specRef: stable}
          - {name: canary, specRef: canary}
          analyses:
          - name: mann-whitney
            templateName: mann-whitney
            args:
            - {name: baseline-hash, value: "{{templates.baseline.podTemplateHash}}"}
            - {name: stable-hash, valueFrom: {podTemplateHashValue: Stable}}
`;
    const converted = convertText('r.yaml', rollout);
    expect(converted.findings).toEqual([]);
    expect(converted.file.documents).toEqual([{ kind: 'Rollout', name: 'r', index: 0, canary: true, complete: true }]);
  });

  it('splits an Argo step that combines setCanaryScale and setHeaderRoute with a pause, keeps startingStep on its step, and takes the result', () => {
    // As in Argo's test/e2e/apisix/rollout-apisix-canary-set-header.yaml.
    const rollout = `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: r}
spec:
  selector: {matchLabels: {app: r}}
  template: {metadata: {labels: {app: r}}, spec: {containers: [{name: r, image: r:1}]}}
  strategy:
    canary:
      canaryService: r-canary
      stableService: r-stable
      analysis: {startingStep: 2, templates: [{templateName: rate}]}
      trafficRouting:
        managedRoutes: [{name: set-header}]
        apisix: {route: {name: r-route, rules: [r]}}
      steps:
      - setCanaryScale: {replicas: 1}
        setHeaderRoute: {name: set-header, match: [{headerName: trace, headerValue: {exact: debug}}]}
        pause: {duration: 15}
      - setWeight: 5
      - pause: {}
`;
    const { file, findings } = convertText('r.yaml', rollout);
    const canary = (parse(file.text) as { spec: { strategy: { canary: { steps: unknown[]; analysis: { startingStep: number } } } } }).spec.strategy.canary;
    expect(canary.steps).toEqual([
      { setCanaryScale: { replicas: 1 } },
      { setHeaderRoute: { name: 'set-header', match: [{ headerName: 'trace', headerValue: { exact: 'debug' } }] } },
      { pause: { duration: 15 } },
      { setWeight: 5 },
      { pause: {} },
    ]);
    expect(canary.analysis.startingStep).toBe(4);
    expect(file.documents).toEqual([expect.objectContaining({ name: 'r', complete: true })]);
    // Converting the result again changes nothing.
    expect(convertText('again.yaml', file.text).file.text).toBe(file.text);
    expect(findings.map((f) => `${f.severity} ${f.line} ${f.message}`)).toEqual([
      'note 16 spec.strategy.canary.steps.0: a step with setCanaryScale, setHeaderRoute, pause is split into 3 steps (setCanaryScale, setHeaderRoute, pause): Argo set them at once and waited on pause alone',
      'note 11 spec.strategy.canary.analysis.startingStep: startingStep 2 is 4 once the combined steps before it are split',
    ]);
  });

  it('translates pingPong and several routers at once as Argo writes them (its albmesh manifest), with nothing left over', () => {
    const rollout = `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: r}
spec:
  selector: {matchLabels: {app: r}}
  template: {metadata: {labels: {app: r}}, spec: {containers: [{name: r, image: r:1}]}}
  strategy:
    canary:
      canaryService: canary-service
      stableService: stable-service
      pingPong: {pingService: ping-service, pongService: pong-service}
      trafficRouting:
        alb: {ingress: web, rootService: root, servicePort: 80}
        istio: {virtualService: {name: vs, routes: [primary]}}
      steps: [{setWeight: 25}, {pause: {}}]
`;
    const converted = convertText('r.yaml', rollout);
    expect(converted.findings.filter((f) => f.severity === 'untranslated')).toEqual([]);
    expect(converted.file.text).toContain('pingPong: {pingService: ping-service, pongService: pong-service}');
    expect(converted.file.text).toContain('apiVersion: fledge.dev/v1alpha1');
  });

  it('exits 1 when something was not translated, 0 with --allow-partial', async () => {
    const { writeFileSync, mkdtempSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'fledge-convert-'));
    writeFileSync(join(dir, 'a.yaml'), argo);
    const out = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;
    const stderr = process.stderr.write;
    process.stderr.write = () => true;
    try {
      expect(await run(['convert', '-f', dir, '-o', join(dir, 'out')], out)).toBe(1);
      expect(await run(['convert', '-f', dir, '-o', join(dir, 'out'), '--allow-partial'], out)).toBe(0);
    } finally {
      process.stderr.write = stderr;
    }
  });
});
