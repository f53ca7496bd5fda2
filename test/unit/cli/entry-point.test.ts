import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..', '..');

/** `npx tsx src/cli/main.ts ...` from the checkout, as a developer would type it. */
function direct(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync('npx', ['tsx', 'src/cli/main.ts', ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

// Each case starts npx and tsx, which takes seconds on a busy machine.
describe('src/cli/main.ts run directly', { timeout: 60_000 }, () => {
  it('lints, with the exit code and report of the installed plugin', () => {
    const broken = direct(['lint', '-f', 'test/fixtures/lint/broken.yaml']);
    expect(broken.status, broken.stderr).toBe(1);
    expect(broken.stdout).toMatch(/^test\/fixtures\/lint\/broken\.yaml:11: error: Rollout\/too-heavy: /m);
    expect(broken.stdout).toMatch(/✖ 5 problems in 4 objects \(1 files\)\n$/);
    const examples = direct(['lint', '-f', 'examples']);
    expect(examples.status, examples.stdout + examples.stderr).toBe(0);
    expect(examples.stdout).toMatch(/^✔ \d+ objects in \d+ files are valid\n$/);
  });

  it('answers an unknown command with usage and exit code 2', () => {
    const unknown = direct(['frobnicate']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/^unknown command: frobnicate$/m);
  });
});
