import type * as k8s from '@kubernetes/client-node';
import type { AppsApi, CoreApi, CustomApi, NetworkingApi } from '../../../src/kube/api.js';
import type { Rollout, RolloutStatus } from '../../../src/api/rollout.js';
import { ControllerMetrics } from '../../../src/observability/metrics.js';
import { createLogger } from '../../../src/observability/logger.js';
import { LABEL_ROLLOUT } from '../../../src/api/labels.js';
import { RolloutReconciler } from '../../../src/rollout/reconciler.js';
import { ConfigCopies } from '../../../src/rollout/config/copies.js';
import { FakeKube } from '../fake-kube.js';
import { makeRollout, revisionOf, T0, templateFor } from './fake-cluster.js';

export const KEY = 'shop/api';

/** The real RolloutReconciler on a FakeKube, with the clock in the test's hands. */
export function reconcilerOn(
  rollout: Rollout = makeRollout({ replicas: 4, steps: [{ setWeight: 25 }, { setWeight: 50 }, { pause: {} }] }),
  { countsStalenessMs }: { countsStalenessMs?: number } = {},
) {
  const kube = new FakeKube();
  const clock = { now: T0 };
  const metrics = new ControllerMetrics();
  kube.put('rollouts', rollout);
  kube.eventClock = () => clock.now;
  /** A controller process on this apiserver: a fresh one is a restart, with nothing in memory. */
  const start = (): RolloutReconciler => new RolloutReconciler({
    rollouts: kube.informer('rollouts'),
    replicaSets: kube.informer<k8s.V1ReplicaSet>('replicasets'),
    // As main.ts configures it: only Services labelled fledge.dev/rollout are cached.
    services: kube.informer<k8s.V1Service>('services', LABEL_ROLLOUT),
    analysisRuns: kube.informer('analysisruns'),
    analysisTemplates: kube.informer('analysistemplates'),
    configCopies: new ConfigCopies({ configMaps: kube.informer('configmaps'), secrets: kube.informer('secrets'), core: kube.core as unknown as CoreApi }),
    apps: kube.apps as unknown as AppsApi,
    core: kube.core as unknown as CoreApi,
    custom: kube.custom as unknown as CustomApi,
    networking: kube.networking as unknown as NetworkingApi,
    events: kube.recorder,
    metrics,
    logger: createLogger('error', {}),
    now: () => clock.now,
    ...(countsStalenessMs !== undefined && { countsStalenessMs }),
  });
  const reconciler = start();
  kube.sync();
  /** One level-triggered pass with every cache caught up, then the pods the plan asked for become available. */
  const step = async (): Promise<void> => {
    kube.sync();
    await reconciler.reconcile(KEY);
    kube.settleReplicaSets();
    clock.now += 1_000;
  };
  const status = (): RolloutStatus => kube.get<Rollout>('rollouts', 'shop', 'api')?.status ?? {};
  const replicasOf = (image: string): number | undefined => kube.get<k8s.V1ReplicaSet>('replicasets', 'shop', `api-${revisionOf(image)}`)?.spec?.replicas;
  const setImage = (image: string): void => {
    const current = kube.get<Rollout>('rollouts', 'shop', 'api') as Rollout;
    kube.put('rollouts', { ...current, metadata: { ...current.metadata, generation: (current.metadata.generation ?? 1) + 1 }, spec: { ...current.spec, template: templateFor(image) } });
  };
  return { kube, clock, metrics, reconciler, start, step, status, replicasOf, setImage };
}
