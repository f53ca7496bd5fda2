// What the scale and idle-memory benches share: the Rollouts they apply, how they wait for them, and how they stop a
// controller.
import type { Api } from './api.js';
import type { RolloutState, Running } from './controllers.js';
import { rssBytes } from './proc.js';

const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

/** Rollout `r<index>` of 1 replica with steps [setWeight 50, pause {}], for either controller's `apiVersion`. */
export function rolloutManifest(apiVersion: string, namespace: string, index: number, image: string): object {
  const name = `r${index}`;
  return {
    apiVersion,
    kind: 'Rollout',
    metadata: { name, namespace },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image }] } },
      strategy: { canary: { steps: [{ setWeight: 50 }, { pause: {} }] } },
    },
  };
}

/** Runs `task` for 0..count-1 with at most `parallel` in flight; returns each one's answer in order. */
export async function pool<T>(count: number, parallel: number, task: (index: number) => Promise<T>): Promise<T[]> {
  const answers: T[] = new Array<T>(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(parallel, count) }, async () => {
      while (next < count) {
        const index = next++;
        answers[index] = await task(index);
      }
    }),
  );
  return answers;
}

export type Condition = (state: RolloutState, name: string) => boolean;

export interface RolloutObject {
  metadata?: { name?: string; generation?: number; resourceVersion?: string };
  status?: { observedGeneration?: number | string; phase?: string; currentStepIndex?: number };
}

const current = (state: RolloutState): boolean => state.observedGeneration === String(state.generation);
export const healthy: Condition = (state) => current(state) && state.phase === 'Healthy';
/** At the pause, with the status written for the spec `generations` says was applied (a stale state would match too). */
export const pausedAtCanary =
  (generations: Map<string, number>): Condition =>
  (state, name) =>
    current(state) && state.generation >= (generations.get(name) ?? Infinity) && state.phase === 'Paused' && state.currentStepIndex === 1;

/**
 * Every Rollout's last seen state, from a watch, and when each first met the condition being waited for: the
 * time all of them got there is the latest of those, not when a poll happened to notice.
 */
export class RolloutTracker {
  private readonly states = new Map<string, RolloutState>();
  private condition: Condition = () => false;
  private metAt = new Map<string, number>();
  /** Of the names being waited for, those that have not met the condition yet. */
  private pending = new Set<string>();
  private onChange: () => void = () => undefined;

  constructor(private readonly timeoutMs: number) {}

  /** Follows the Rollouts at `path` (a collection) with a watch; the returned function stops it. */
  follow(api: Api, path: string): Promise<() => void> {
    return api.watch<RolloutObject>(path, (_type, rollout, at) => {
      const { metadata, status } = rollout;
      if (!metadata?.name) return;
      this.see(
        metadata.name,
        {
          generation: metadata.generation ?? 0,
          observedGeneration: status?.observedGeneration === undefined ? undefined : String(status.observedGeneration),
          phase: status?.phase,
          currentStepIndex: status?.currentStepIndex,
        },
        at,
      );
    });
  }

  see(name: string, state: RolloutState, at: number): void {
    this.states.set(name, state);
    if (this.pending.has(name) && this.condition(state, name)) this.met(name, at);
  }

  private met(name: string, at: number): void {
    this.metAt.set(name, at);
    this.pending.delete(name);
    if (this.pending.size === 0) this.onChange();
  }

  /** Resolves with the time the last of `names` met `condition`. */
  async waitFor(names: string[], condition: Condition, what: string): Promise<number> {
    this.condition = condition;
    this.metAt = new Map();
    this.pending = new Set(names);
    const now = Date.now();
    for (const name of names) {
      const state = this.states.get(name);
      if (state && condition(state, name)) this.met(name, now);
    }
    const deadline = now + this.timeoutMs;
    try {
      while (this.pending.size > 0) {
        if (Date.now() > deadline) {
          const [missing] = this.pending;
          throw new Error(
            `${this.pending.size} of ${names.length} Rollouts not ${what} within ${Math.round(this.timeoutMs / 1000)} s, e.g. ${missing}: ${JSON.stringify(this.states.get(missing ?? ''))}`,
          );
        }
        await new Promise<void>((wake) => {
          this.onChange = wake;
          setTimeout(wake, 1000);
        });
      }
    } finally {
      this.onChange = () => undefined;
    }
    return Math.max(...names.map((name) => this.metAt.get(name) ?? 0));
  }
}

export interface Memory {
  rssBytes: number;
  heapBytes: number;
}

/** RSS and heap in use, after the controller was made to collect garbage (where it can be). */
export async function sampleMemory(running: Running): Promise<Memory> {
  await running.collectGarbage();
  const metrics = await fetch(running.metricsUrl).then((r) => r.text());
  return { rssBytes: rssBytes(running.pid), heapBytes: running.heapBytes(metrics) };
}

/** SIGTERM, and SIGKILL if the controller has not exited 30 s later. */
export async function stop(running: Running): Promise<void> {
  if (running.process.exitCode !== null || running.process.signalCode !== null) return;
  const exited = new Promise((done) => running.process.once('exit', done));
  running.process.kill('SIGTERM');
  if ((await Promise.race([exited.then(() => true), sleep(30_000).then(() => false)])) === false) {
    running.process.kill('SIGKILL');
    await exited;
  }
}

/** Polls rather than `kubectl wait`, which fails on a CRD so new it has no conditions yet. */
export async function established(api: Api, crd: string): Promise<void> {
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; await sleep(250)) {
    const { status } = await api.call<{ status?: { conditions?: Array<{ type: string; status: string }> } }>(
      'GET',
      `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd}`,
    );
    if (status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) return;
  }
  throw new Error(`CRD ${crd} not Established within 60 s`);
}
