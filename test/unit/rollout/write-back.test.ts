import type * as k8s from '@kubernetes/client-node';
import type { CoreApi, CustomApi } from '../../../src/kube/api.js';
import { describe, expect, it } from 'vitest';
import type { Rollout, RolloutStatus } from '../../../src/api/rollout.js';
import type { WriteBackRequest, WriteBackResult } from '../../../src/gitops/push.js';
import { createLogger } from '../../../src/observability/logger.js';
import { GitWriteBacks } from '../../../src/gitops/write-back.js';
import { WRITE_BACK_RETRY_MS, writeBackDue, type ControllerWriteBack } from '../../../src/gitops/write-back-scope.js';

const template = (image: string): Rollout['spec']['template'] => ({ metadata: { labels: { app: 'shop' } }, spec: { containers: [{ name: 'app', image }] } });
const rollout = (writeBack?: Rollout['spec']['writeBack']): Rollout =>
  ({
    apiVersion: 'fledge.dev/v1alpha1',
    kind: 'Rollout',
    metadata: { name: 'shop', namespace: 'team', annotations: { 'argocd.argoproj.io/tracking-id': 'shop:fledge.dev/Rollout:team/shop' } },
    spec: { selector: { matchLabels: { app: 'shop' } }, template: template('shop:2'), strategy: { canary: {} }, ...(writeBack !== undefined && { writeBack }) },
  }) as unknown as Rollout;
const stable: k8s.V1PodTemplateSpec = { spec: { containers: [{ name: 'app', image: 'shop:1' }] } };
const aborted: RolloutStatus = { abort: true, currentRevision: 'v2', stableRevision: 'v1', message: 'aborted by a person' };

/** The API calls a write-back makes, against one Namespace, one Secret and one Argo CD Application in `gitops`. */
function harness(namespaceAnnotations: Record<string, string>, controller: ControllerWriteBack) {
  const calls: string[] = [];
  const pushes: WriteBackRequest[] = [];
  const patches: unknown[] = [];
  let clock = 1_000_000;
  const core = {
    readNamespace: async ({ name }: { name: string }) => (calls.push(`get namespace ${name}`), { metadata: { name, annotations: namespaceAnnotations } }),
    readNamespacedSecret: async ({ name }: { name: string }) => (
      calls.push(`get secret ${name}`), { data: { password: Buffer.from('token').toString('base64') } }
    ),
  } as unknown as CoreApi;
  const custom = {
    getNamespacedCustomObject: async ({ namespace, name }: { namespace: string; name: string }) => (
      calls.push(`get application ${namespace}/${name}`), { spec: { source: { repoURL: 'https://git.example.com/apps.git', targetRevision: 'main', path: 'apps' } } }
    ),
    patchNamespacedCustomObjectStatus: async ({ body }: { body: unknown }) => void patches.push(body),
  } as unknown as CustomApi;
  const push = async (request: WriteBackRequest): Promise<WriteBackResult> => {
    pushes.push(request);
    return { outcome: 'committed', commit: 'c0ffee'.padEnd(40, '0'), file: 'apps/shop.yaml', branch: 'main', edits: ['app: shop:2 → shop:1'] };
  };
  const writeBacks = new GitWriteBacks({
    core,
    custom,
    events: { record: async () => undefined },
    logger: createLogger('error'),
    now: () => clock,
    controller,
    argocdNamespace: 'gitops',
    push,
  });
  const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 10));
  /** As the reconciler does: decide() says whether one is due (writeBackDue), the shell starts it. */
  const consider = (target: Rollout, status: RolloutStatus, stableTemplate: k8s.V1PodTemplateSpec): void => {
    const due = writeBackDue(target.spec.writeBack, status, clock);
    if (due !== undefined && 'revision' in due) writeBacks.start(target, status, due.revision, stableTemplate);
  };
  return { writeBacks: { consider }, calls, pushes, patches, settle, advance: (ms: number) => void (clock += ms) };
}

describe('GitWriteBacks: opted in by the Namespace or the controller, read only after an abort', () => {
  it('never reads the Namespace for a Rollout that is not aborted, or that opted out itself', async () => {
    const h = harness({ 'fledge.dev/write-back': 'enabled' }, { mode: 'on' });
    h.writeBacks.consider(rollout(), { currentRevision: 'v2', stableRevision: 'v1' }, { spec: { containers: [] } });
    h.writeBacks.consider(rollout({ enabled: false }), aborted, stable);
    await h.settle();
    expect(h.calls).toEqual([]);
  });

  it('asks a silent Namespace once per aborted revision, records nothing, and asks again only after a while', async () => {
    const h = harness({}, { mode: 'off' });
    h.writeBacks.consider(rollout(), aborted, stable);
    await h.settle();
    h.writeBacks.consider(rollout(), aborted, stable);
    await h.settle();
    expect(h.calls).toEqual(['get namespace team']);
    expect(h.patches).toEqual([]);
    h.advance(WRITE_BACK_RETRY_MS);
    h.writeBacks.consider(rollout(), aborted, stable);
    await h.settle();
    expect(h.calls).toEqual(['get namespace team', 'get namespace team']);
  });

  it("writes back a Rollout without spec.writeBack in a Namespace that opts in, with the Namespace's Secret and the configured Argo CD namespace", async () => {
    const h = harness({ 'fledge.dev/write-back': 'enabled', 'fledge.dev/write-back-secret': 'team-git' }, { mode: 'off', secret: 'platform-git' });
    h.writeBacks.consider(rollout(), aborted, stable);
    await h.settle();
    expect(h.calls).toEqual(['get namespace team', 'get application gitops/shop', 'get secret team-git']);
    expect(h.pushes[0]).toMatchObject({ source: { repoURL: 'https://git.example.com/apps.git', via: 'Argo CD Application gitops/shop' }, credentials: { username: 'fledge', password: 'token' } });
    expect(h.patches).toMatchObject([{ status: { writeBack: { revision: 'v2', outcome: 'Committed' } } }]);
  });

  it('leaves Git alone, without failing, for a Rollout no GitOps tool applied when it was opted in wholesale', async () => {
    const h = harness({}, { mode: 'on' });
    const handApplied = rollout();
    handApplied.metadata.annotations = {};
    h.writeBacks.consider(handApplied, aborted, stable);
    await h.settle();
    expect(h.pushes).toEqual([]);
    expect(h.patches).toMatchObject([{ status: { writeBack: { outcome: 'Unchanged', message: expect.stringMatching(/opted in by the controller/) } } }]);
  });

  it('pushes a review branch named for the aborted revision, so two aborts never share one', async () => {
    const h = harness({}, { mode: 'off' });
    h.writeBacks.consider(rollout({ pushBranch: 'fledge/revert' }), aborted, stable);
    await h.settle();
    h.writeBacks.consider(rollout({ pushBranch: 'fledge/revert' }), { ...aborted, currentRevision: 'v3' }, stable);
    await h.settle();
    expect(h.pushes.map((request) => request.pushBranch)).toEqual(['fledge/revert-v2', 'fledge/revert-v3']);
  });

  it('replaces the previous record as a whole: a Failed one carries no commit, branch or file of an earlier write-back', async () => {
    const h = harness({ 'fledge.dev/write-back-secret': 'team-git' }, { mode: 'on' });
    const noApplication = rollout({ repoURL: 'https://git.example.com/apps.git' });
    noApplication.metadata.annotations = {};
    h.writeBacks.consider(noApplication, { ...aborted, writeBack: { revision: 'v1', outcome: 'Committed', commit: 'c0ffee', branch: 'main', file: 'apps/shop.yaml' } }, { spec: { containers: [{ name: 'app', image: 'shop:2' }] } });
    await h.settle();
    const record = (h.patches[0] as { status: { writeBack: Record<string, unknown> } }).status.writeBack;
    expect(record).toMatchObject({ revision: 'v2', outcome: 'Unchanged', commit: null, branch: null, file: null });
  });
});

describe('writeBackDue: one write-back per aborted revision, a failed one again after a while', () => {
  const failedAt = Date.parse('2026-03-01T12:00:00Z');
  const failed = { ...aborted, writeBack: { revision: 'v2', outcome: 'Failed' as const, time: new Date(failedAt).toISOString() } };

  it('is due for an aborted revision that has no record yet, and never for one turned off, not aborted, or recorded', () => {
    expect(writeBackDue(undefined, aborted, failedAt)).toEqual({ revision: 'v2' });
    expect(writeBackDue({ enabled: false }, aborted, failedAt)).toBeUndefined();
    expect(writeBackDue(undefined, { currentRevision: 'v2', stableRevision: 'v1' }, failedAt)).toBeUndefined();
    expect(writeBackDue(undefined, { ...aborted, writeBack: { revision: 'v2', outcome: 'Committed' } }, failedAt)).toBeUndefined();
  });

  it('retries a failed one only once WRITE_BACK_RETRY_MS has passed, and says when', () => {
    expect(writeBackDue(undefined, failed, failedAt + 1000)).toEqual({ retryAt: failedAt + WRITE_BACK_RETRY_MS });
    expect(writeBackDue(undefined, failed, failedAt + WRITE_BACK_RETRY_MS)).toEqual({ revision: 'v2' });
  });
});
