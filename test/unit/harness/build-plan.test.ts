import { describe, expect, it } from 'vitest';
import { buildPlan } from '../../harness/build.js';
import {
  ARGO_ROLLOUTS_VERSION,
  FLUX_KUSTOMIZE_CONTROLLER_VERSION,
  FLUX_SOURCE_CONTROLLER_VERSION,
  HELM_VERSION,
  KUBERNETES_VERSION,
  KWOK_VERSION,
  TRAEFIK_VERSION,
  argoRolloutsBinary,
  fluxKustomizeControllerBinary,
  fluxSourceControllerBinary,
  helmBinary,
  k8sBinary,
  kwokBinary,
  traefikBinary,
} from '../../harness/config.js';

const nothingCached = (): boolean => false;

describe('what each command builds', () => {
  it('builds Kubernetes, kwok and Traefik for the demo and cluster:up, never helm or Flux', () => {
    for (const target of ['demo', 'cluster'] as const) {
      expect(buildPlan(target, nothingCached).build).toEqual(['kubernetes', 'kwok', 'traefik']);
    }
    expect(buildPlan('demo', nothingCached).announcement).toBe(
      `building for the demo: Kubernetes ${KUBERNETES_VERSION} (the control plane and kubectl), kwok ${KWOK_VERSION} (fake nodes), and Traefik ${TRAEFIK_VERSION} (the gateway that routes traffic to the fake pods); not helm, flux-source-controller, flux-kustomize-controller, or argo-rollouts, which the demo never uses`,
    );
  });

  it('builds everything but Argo Rollouts for the tests, and only helm for the tests on an existing cluster', () => {
    const tests = buildPlan('tests', nothingCached);
    expect(tests.build).toEqual(['kubernetes', 'kwok', 'traefik', 'helm', 'flux-source-controller', 'flux-kustomize-controller']);
    expect(tests.announcement).toBe(
      `building for the test suite: Kubernetes ${KUBERNETES_VERSION} (the control plane and kubectl), kwok ${KWOK_VERSION} (fake nodes), Traefik ${TRAEFIK_VERSION} (the gateway that routes traffic to the fake pods), helm ${HELM_VERSION} (the chart test renders deploy/helm with it), Flux source-controller ${FLUX_SOURCE_CONTROLLER_VERSION} (what fetches the GitOps tests' Git repositories), and Flux kustomize-controller ${FLUX_KUSTOMIZE_CONTROLLER_VERSION} (what applies the GitOps tests' commits); not argo-rollouts, which the test suite never uses`,
    );
    expect(buildPlan('external-cluster-tests', nothingCached).build).toEqual(['helm']);
  });

  it('builds only the two Flux controllers when a GitOps test starts Flux', () => {
    expect(buildPlan('gitops', nothingCached).build).toEqual(['flux-source-controller', 'flux-kustomize-controller']);
    expect(buildPlan('gitops', (path) => path === fluxSourceControllerBinary).announcement).toBe(
      `building for Flux: Flux kustomize-controller ${FLUX_KUSTOMIZE_CONTROLLER_VERSION} (what applies the GitOps tests' commits); not kubernetes, kwok, traefik, helm, or argo-rollouts, which Flux never uses`,
    );
  });

  it('builds Argo Rollouts only for the scale bench, which runs it beside the local cluster', () => {
    expect(buildPlan('bench', nothingCached).build).toEqual(['kubernetes', 'kwok', 'traefik', 'argo-rollouts']);
    const cached = new Set([k8sBinary, kwokBinary, traefikBinary]);
    expect(buildPlan('bench', (path) => cached.has(path)).announcement).toBe(
      `building for the scale bench: Argo Rollouts ${ARGO_ROLLOUTS_VERSION} (the controller the scale bench compares Fledge with); not helm, flux-source-controller, or flux-kustomize-controller, which the scale bench never uses`,
    );
    cached.add(argoRolloutsBinary);
    expect(buildPlan('bench', (path) => cached.has(path)).build).toEqual([]);
  });

  it('builds only what the cache lacks, and says nothing when it lacks nothing', () => {
    const cached = new Set([k8sBinary, helmBinary, traefikBinary, fluxSourceControllerBinary, fluxKustomizeControllerBinary]);
    const plan = buildPlan('tests', (path) => cached.has(path));
    expect(plan.build).toEqual(['kwok']);
    expect(plan.announcement).toBe(`building for the test suite: kwok ${KWOK_VERSION} (fake nodes); not argo-rollouts, which the test suite never uses`);
    cached.delete(traefikBinary);
    cached.add(kwokBinary);
    expect(buildPlan('cluster', (path) => cached.has(path)).build).toEqual(['traefik']);
    cached.add(traefikBinary);
    expect(buildPlan('tests', (path) => cached.has(path))).toEqual({ build: [], announcement: undefined });
  });
});
