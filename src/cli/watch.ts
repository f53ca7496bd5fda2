import * as k8s from '@kubernetes/client-node';
import { GROUP, DeclaredRollout, VERSION } from '../api/rollout.js';
import { ownedBy } from '../api/labels.js';
import type { FledgeClient, RolloutObjects } from './client.js';
import type { AnalysisRunObject } from './view.js';

/** Redraws at most this often, however busy the watch streams are. */
export const MIN_FRAME_INTERVAL_MS = 200;

/**
 * Calls `draw` after a change, at most once per interval: the first change draws at once, changes
 * within the interval collapse into one draw at its end. Pure timing, injectable clock, so it is testable.
 */
export class FrameThrottle {
  private lastDraw = -Infinity;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly draw: () => void,
    private readonly intervalMs = MIN_FRAME_INTERVAL_MS,
    private readonly now: () => number = Date.now,
    private readonly schedule: (fn: () => void, ms: number) => NodeJS.Timeout = setTimeout,
  ) {}

  changed(): void {
    if (this.timer !== undefined) return;
    const wait = this.lastDraw + this.intervalMs - this.now();
    if (wait <= 0) {
      this.fire();
      return;
    }
    this.timer = this.schedule(() => {
      this.timer = undefined;
      this.fire();
    }, wait);
  }

  cancel(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private fire(): void {
    this.lastDraw = this.now();
    this.draw();
  }
}

/** Draws frames in place on a terminal (cursor home, clear to end of each line and of the screen); appends them otherwise. */
export class Screen {
  private first = true;

  constructor(
    private readonly out: NodeJS.WriteStream | { write(text: string): boolean; isTTY?: boolean },
  ) {}

  draw(frame: string): void {
    if (this.out.isTTY !== true) {
      this.out.write(`${frame}\n`);
      return;
    }
    const body = frame
      .replace(/\n$/, '')
      .split('\n')
      .map((line) => `${line}\x1b[K`)
      .join('\n');
    this.out.write(`${this.first ? '\x1b[2J' : ''}\x1b[H${body}\n\x1b[J`);
    this.first = false;
  }
}

type Informer<T extends k8s.KubernetesObject> = k8s.Informer<T> & k8s.ObjectCache<T>;

/**
 * Follows one Rollout and everything `get rollout` shows through watches (list, then watch events),
 * calling onChange with the current objects after every event. Returns a stop function.
 */
export async function watchRolloutObjects(
  client: FledgeClient,
  name: string,
  namespace: string,
  onChange: (objects: RolloutObjects | undefined) => void,
): Promise<() => Promise<void>> {
  const { kc } = client.target;
  const rollout = await client.getRollout(name, namespace);
  const owned = ownedBy(name);
  // A workloadRef may leave the selector to its Deployment: then every pod of the namespace is read, and sorted by hash.
  const podSelector = Object.entries(rollout.spec.selector?.matchLabels ?? {})
    .map(([key, value]) => `${key}=${value}`)
    .join(',');
  const rolloutInformer: Informer<k8s.KubernetesObject> = k8s.makeInformer(
    kc,
    `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/rollouts`,
    () =>
      client.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: 'rollouts' }) as Promise<
        k8s.KubernetesListObject<k8s.KubernetesObject>
      >,
  );
  const rsInformer: Informer<k8s.V1ReplicaSet> = k8s.makeInformer(
    kc,
    `/apis/apps/v1/namespaces/${namespace}/replicasets`,
    () => client.apps.listNamespacedReplicaSet({ namespace, labelSelector: owned }),
    owned,
  );
  const podInformer: Informer<k8s.V1Pod> = k8s.makeInformer(
    kc,
    `/api/v1/namespaces/${namespace}/pods`,
    () => client.core.listNamespacedPod({ namespace, labelSelector: podSelector }),
    podSelector,
  );
  const runInformer: Informer<k8s.KubernetesObject> = k8s.makeInformer(
    kc,
    `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/analysisruns`,
    () =>
      client.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: 'analysisruns', labelSelector: owned }) as Promise<
        k8s.KubernetesListObject<k8s.KubernetesObject>
      >,
    owned,
  );
  const informers = [rolloutInformer, rsInformer, podInformer, runInformer] as Array<Informer<k8s.KubernetesObject>>;
  // Until every informer has listed, a missing object means "not listed yet", not "deleted".
  let listed = false;
  const emit = (): void => {
    if (!listed) return;
    const raw = rolloutInformer.get(name, namespace);
    const parsed = raw === undefined ? undefined : DeclaredRollout.safeParse(raw);
    if (parsed === undefined || !parsed.success) {
      onChange(undefined);
      return;
    }
    const uid = parsed.data.metadata.uid;
    onChange({
      rollout: parsed.data,
      replicaSets: rsInformer.list(namespace).filter((rs) => rs.metadata?.ownerReferences?.some((owner) => owner.uid === uid)),
      pods: [...podInformer.list(namespace)],
      analysisRuns: [...runInformer.list(namespace)] as AnalysisRunObject[],
    });
  };
  for (const informer of informers) {
    // client-node's informer takes no field selector: other Rollouts of the namespace are cached but ignored.
    const relevant = (obj: k8s.KubernetesObject): void => {
      if (informer !== rolloutInformer || obj.metadata?.name === name) emit();
    };
    for (const verb of [k8s.ADD, k8s.UPDATE, k8s.DELETE] as const) informer.on(verb, relevant);
    // A watch that ends on an error is started again: a long --watch outlives apiserver hiccups.
    informer.on(k8s.ERROR, () => setTimeout(() => void informer.start().catch(() => undefined), 1000));
  }
  await Promise.all(informers.map((informer) => informer.start()));
  listed = true;
  emit();
  return async () => {
    await Promise.all(informers.map((informer) => informer.stop()));
  };
}
