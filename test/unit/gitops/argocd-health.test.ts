import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const dir = join(import.meta.dirname, '..', '..', '..', 'deploy', 'argocd');

/**
 * Runs a health script the way Argo CD does: in gopher-lua with only the base, table and package libraries and a safe
 * `os` (clock, date, difftime, time), no `string`, `math`, `io` or `debug`, and string methods unavailable, under a
 * time limit. `obj` is the resource; the script returns {status, message}. Lua 5.1 stands in for gopher-lua, with the
 * script's environment cut down to what Argo CD opens.
 */
function runHealth(source: string, name: string, obj: unknown): { status: string; message: string } {
  const program = `local cjson = require "cjson"
local input = cjson.decode(io.read("*a"))
local env = {
  assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs, pcall = pcall, print = print,
  select = select, tonumber = tonumber, tostring = tostring, type = type, unpack = unpack, xpcall = xpcall,
  getmetatable = getmetatable, setmetatable = setmetatable, rawequal = rawequal, rawget = rawget, rawset = rawset,
  _VERSION = _VERSION, table = table, package = package,
  os = { clock = os.clock, date = os.date, difftime = os.difftime, time = os.time },
  obj = input,
}
local chunk = assert(loadstring(${JSON.stringify(source)}, ${JSON.stringify(name)}))
setfenv(chunk, env)
local strings = debug.getmetatable("")
local methods = strings.__index
strings.__index = nil
debug.sethook(function() error("time limit exceeded") end, "", 1000000)
local ok, hs = pcall(chunk)
debug.sethook()
strings.__index = methods
if not ok then error(hs) end
print(cjson.encode(hs))`;
  const result = spawnSync('lua5.1', ['-e', program], { input: JSON.stringify(obj), encoding: 'utf8', timeout: 5_000 });
  if (result.status !== 0) throw new Error(`lua5.1 failed (installed by scripts/install-system-deps.sh): ${result.stderr || result.error?.message}`);
  return JSON.parse(result.stdout) as { status: string; message: string };
}

const health = (script: string, obj: unknown): { status: string; message: string } => runHealth(readFileSync(join(dir, script), 'utf8'), script, obj);
const sandboxed = (body: string, name: string): { status: string; message: string } => runHealth(body, name, {});

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

describe("the health harness is Argo CD's sandbox", () => {
  it('refuses what Argo CD does not open: string and math libraries, string methods, io', () => {
    for (const [name, body] of [
      ['string.lua', 'return { status = string.upper("x") }'],
      ['math.lua', 'return { status = tostring(math.floor(1.5)) }'],
      ['method.lua', 'local s = "abc"; return { status = s:upper() }'],
      ['io.lua', 'return { status = io.read("*a") }'],
    ] as const) {
      expect(() => sandboxed(body, name), name).toThrow(/lua5.1 failed/);
    }
    expect(sandboxed('return { status = "Healthy", message = tostring(os.time() > 0) }', 'ok.lua')).toEqual({ status: 'Healthy', message: 'true' });
  });

  it('stops a script that runs past the time limit', () => {
    expect(() => sandboxed('while true do end', 'loop.lua')).toThrow(/time limit exceeded/);
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
