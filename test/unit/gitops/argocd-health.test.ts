import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const dir = join(import.meta.dirname, '..', '..', '..', 'deploy', 'argocd');

/** Runs a health script the way Argo CD does: `obj` is the resource, the script returns {status, message}. */
function health(script: string, obj: unknown): { status: string; message: string } {
  const program = `local cjson = require "cjson"
obj = cjson.decode(io.read("*a"))
local function run()
${readFileSync(join(dir, script), 'utf8')}
end
local hs = run()
print(cjson.encode(hs))`;
  const result = spawnSync('lua5.1', ['-e', program], { input: JSON.stringify(obj), encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`lua5.1 failed (installed by scripts/install-system-deps.sh): ${result.stderr || result.error?.message}`);
  return JSON.parse(result.stdout) as { status: string; message: string };
}

const rollout = (generation: number, status?: Record<string, unknown>) => ({ metadata: { name: 'api', generation }, ...(status && { status }) });

describe('Argo CD health for Rollouts', () => {
  it('is Progressing until the controller has observed the latest generation', () => {
    expect(health('rollout-health.lua', rollout(1))).toMatchObject({ status: 'Progressing' });
    expect(health('rollout-health.lua', rollout(3, { observedGeneration: 2, phase: 'Healthy', message: 'old' })).status).toBe('Progressing');
  });

  it('maps the phases: Healthy, Paused → Suspended, Degraded with the reason, Progressing', () => {
    expect(health('rollout-health.lua', rollout(2, { observedGeneration: 2, phase: 'Healthy', message: 'revision a is healthy' }))).toEqual({ status: 'Healthy', message: 'revision a is healthy' });
    expect(health('rollout-health.lua', rollout(2, { observedGeneration: 2, phase: 'Paused', message: 'canary at 20%' })).status).toBe('Suspended');
    expect(health('rollout-health.lua', rollout(2, { observedGeneration: 2, phase: 'Degraded', message: 'aborted: analysis failed' }))).toEqual({
      status: 'Degraded',
      message: 'aborted: analysis failed',
    });
    expect(health('rollout-health.lua', rollout(2, { observedGeneration: 2, phase: 'Progressing' }))).toEqual({ status: 'Progressing', message: '' });
  });
});

describe('Argo CD health for AnalysisRuns', () => {
  it('maps the run phases', () => {
    const run = (phase?: string) => ({ metadata: { name: 'r' }, ...(phase && { status: { phase, message: `run ${phase}` } }) });
    expect(health('analysisrun-health.lua', run('Successful')).status).toBe('Healthy');
    expect(health('analysisrun-health.lua', run('Failed'))).toEqual({ status: 'Degraded', message: 'run Failed' });
    expect(health('analysisrun-health.lua', run('Error')).status).toBe('Degraded');
    expect(health('analysisrun-health.lua', run('Inconclusive')).status).toBe('Suspended');
    expect(health('analysisrun-health.lua', run('Running')).status).toBe('Progressing');
    expect(health('analysisrun-health.lua', run()).status).toBe('Progressing');
  });
});
