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
      expect.stringMatching(/^11 Rollout\/too-heavy: spec\.strategy\.canary\.steps\.0\.setWeight: .*<=100/),
      expect.stringMatching(/^22 Rollout\/bad-pause: spec\.strategy\.canary\.steps\.0\.pause\.duration: /),
      expect.stringMatching(/^25 Rolout\/typo: unknown kind Rolout/),
      expect.stringMatching(/^36 AnalysisTemplate\/bad-cel: spec\.metrics\.0\.successCondition: does not type-check to bool/),
      expect.stringMatching(/^38 AnalysisTemplate\/bad-cel: spec\.metrics\.0\.provider: uses \{\{args\.hash\}\} but the template declares no argument hash/),
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
});
