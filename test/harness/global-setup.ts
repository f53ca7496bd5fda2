import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { ensureBinaries } from './build.js';
import { down, up } from './cluster.js';
import { existsSync } from 'node:fs';
import { kubectlBinary, kubectlDir } from './config.js';

declare module 'vitest' {
  export interface ProvidedContext {
    kubeconfig: string;
    prometheusUrl: string;
    prometheusTargetsDir: string;
    kubectlDir: string;
    /** Traefik's entrypoint for the harness Gateway; empty on FLEDGE_TEST_KUBECONFIG's cluster, which has none. */
    gatewayUrl: string;
    /** Traefik's /metrics; empty with FLEDGE_TEST_KUBECONFIG. */
    traefikMetricsUrl: string;
  }
}

const log = (line: string): void => void process.stderr.write(`cluster: ${line}\n`);

/**
 * Starts the loopback cluster once for the whole e2e run, or uses FLEDGE_TEST_KUBECONFIG's cluster instead.
 * A cluster that was already running (from `npm run cluster:up`) is reused and left running.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env.FLEDGE_TEST_KUBECONFIG;
  // Before `up`, which builds only what a cluster needs and nothing when it reuses a running one.
  await ensureBinaries(external ? 'external-cluster-tests' : 'tests', log);
  if (external) {
    const state = await up(log, { withKubernetes: false });
    project.provide('kubeconfig', external);
    project.provide('prometheusUrl', state.prometheusUrl);
    project.provide('prometheusTargetsDir', state.prometheusTargetsDir);
    // The harness's kubectl if it was ever built, otherwise the one on PATH.
    project.provide('kubectlDir', existsSync(kubectlBinary) ? kubectlDir : '');
    project.provide('gatewayUrl', '');
    project.provide('traefikMetricsUrl', '');
    return async () => {
      if (!state.reused) await down(log);
    };
  }
  const state = await up(log);
  project.provide('kubeconfig', state.kubeconfig);
  project.provide('prometheusUrl', state.prometheusUrl);
  project.provide('prometheusTargetsDir', state.prometheusTargetsDir);
  project.provide('kubectlDir', kubectlDir);
  project.provide('gatewayUrl', state.gatewayUrl);
  project.provide('traefikMetricsUrl', state.traefikMetricsUrl);
  return async () => {
    if (!state.reused) await down(log);
  };
}
