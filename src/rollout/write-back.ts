import type * as k8s from '@kubernetes/client-node';
import { API_VERSION, GROUP, VERSION, type Rollout, type RolloutStatus } from '../api/rollout.js';
import { discoverSource, type Discovered, type ObjectRef } from '../gitops/source.js';
import { writeBack, type GitCredentials, type WriteBackRequest, type WriteBackResult } from '../gitops/push.js';
import type { ImageRestore } from '../gitops/edit.js';
import { apiErrorMessage, isNotFound, mergePatchOptions } from '../kube/patch.js';
import type { EventRecorder } from '../observability/events.js';
import type { Logger } from '../observability/logger.js';

/** A write-back that failed (auth, network, a branch that kept moving) is tried again after this long. */
export const WRITE_BACK_RETRY_MS = 5 * 60_000;
const AUTHOR = { name: 'Fledge', email: 'fledge-controller@fledge.dev' };

export interface WriteBackDeps {
  core: k8s.CoreV1Api;
  custom: k8s.CustomObjectsApi;
  events: EventRecorder;
  logger: Logger;
  now: () => number;
  /** The Git side; tests may pass another. */
  push?: (request: WriteBackRequest) => Promise<WriteBackResult>;
}

type Container = { name: string; image?: string };

function containersOf(spec: Record<string, unknown> | undefined): Container[] {
  const list = (field: string): Container[] => ((spec?.[field] as Container[] | undefined) ?? []).filter((c) => typeof c?.name === 'string');
  return [...list('initContainers'), ...list('containers')];
}

/** The containers whose image the aborted template changed, with the stable revision's image to restore. */
export function imageRestores(aborted: Rollout['spec']['template'], stable: k8s.V1PodTemplateSpec | undefined): ImageRestore[] {
  const stableImages = new Map(containersOf(stable?.spec as Record<string, unknown> | undefined).map((c) => [c.name, c.image]));
  return containersOf(aborted.spec).flatMap((container) => {
    const image = stableImages.get(container.name);
    return container.image !== undefined && image !== undefined && image !== container.image ? [{ container: container.name, aborted: container.image, stable: image }] : [];
  });
}

/** The commit message: what was aborted, what is restored, and the verdict, so `git log` tells the story. */
export function commitMessage(rollout: { namespace: string; name: string }, restores: readonly ImageRestore[], verdict: string): string {
  const list = (pick: (r: ImageRestore) => string): string => restores.map(pick).join(', ');
  return [
    `fledge: restore ${rollout.namespace}/${rollout.name} to ${list((r) => r.stable)}`,
    '',
    `The canary of ${list((r) => r.aborted)} was aborted, and the cluster runs the stable version again:`,
    verdict,
    '',
    'This commit makes Git declare what the cluster runs. To try the new version again, push a fix or revert this commit.',
    '',
    `Rollout: ${rollout.namespace}/${rollout.name}`,
    ...restores.map((r) => `Container ${r.container}: ${r.aborted} -> ${r.stable}`),
  ].join('\n');
}

/**
 * After an abort, commits the stable images back to Git (spec.writeBack), in the background: the abort itself never
 * waits for Git. The outcome lands in status.writeBack (one key, merge-patched) and an Event; decide() turns it into
 * the GitWriteBack condition. One write-back per aborted revision; a failed one is tried again after a while.
 */
export class GitWriteBacks {
  private readonly running = new Set<string>();

  constructor(private readonly deps: WriteBackDeps) {}

  /** Starts a write-back if one is due; returns when to look again for a failed one. */
  consider(rollout: Rollout, status: RolloutStatus, stableTemplate: k8s.V1PodTemplateSpec | undefined): number | undefined {
    const config = rollout.spec.writeBack;
    if (config === undefined || config.enabled === false) return undefined;
    const revision = status.currentRevision;
    if (status.abort !== true || revision === undefined || revision === status.stableRevision) return undefined;
    const previous = status.writeBack;
    if (previous?.revision === revision) {
      if (previous.outcome !== 'Failed') return undefined;
      const retryAt = Date.parse(previous.time ?? '') + WRITE_BACK_RETRY_MS;
      if (retryAt > this.deps.now()) return retryAt - this.deps.now();
    }
    const key = `${rollout.metadata.namespace ?? ''}/${rollout.metadata.name ?? ''}@${revision}`;
    if (this.running.has(key)) return undefined;
    this.running.add(key);
    void this.run(rollout, status, revision, stableTemplate).finally(() => this.running.delete(key));
    return undefined;
  }

  private async run(rollout: Rollout, status: RolloutStatus, revision: string, stableTemplate: k8s.V1PodTemplateSpec | undefined): Promise<void> {
    const namespace = rollout.metadata.namespace ?? 'default';
    const name = rollout.metadata.name ?? '';
    const log = this.deps.logger.with({ namespace, name, revision });
    let record: NonNullable<RolloutStatus['writeBack']>;
    try {
      record = await this.attempt(rollout, status, revision, stableTemplate);
    } catch (err) {
      record = { revision, outcome: 'Failed', message: `write-back failed: ${apiErrorMessage(err)}` };
    }
    record = { ...record, time: new Date(this.deps.now()).toISOString() };
    log.info('git write-back', { outcome: record.outcome, commit: record.commit, message: record.message });
    try {
      await this.deps.custom.patchNamespacedCustomObjectStatus(
        { group: GROUP, version: VERSION, namespace, plural: 'rollouts', name, body: { status: { writeBack: record } } },
        mergePatchOptions(),
      );
    } catch (err) {
      log.warn('could not record the git write-back', { error: apiErrorMessage(err) });
      return;
    }
    await this.deps.events.record(
      { apiVersion: API_VERSION, kind: 'Rollout', name, namespace, uid: rollout.metadata.uid },
      record.outcome === 'Failed' ? 'Warning' : 'Normal',
      record.outcome === 'Failed' ? 'GitWriteBackFailed' : 'GitWriteBack',
      record.message ?? record.outcome,
    );
  }

  private async attempt(rollout: Rollout, status: RolloutStatus, revision: string, stableTemplate: k8s.V1PodTemplateSpec | undefined): Promise<NonNullable<RolloutStatus['writeBack']>> {
    const config = rollout.spec.writeBack ?? {};
    const namespace = rollout.metadata.namespace ?? 'default';
    const name = rollout.metadata.name ?? '';
    const restores = imageRestores(rollout.spec.template, stableTemplate);
    if (restores.length === 0) {
      return { revision, outcome: 'Unchanged', message: 'the aborted revision changed no container image; nothing to restore in Git' };
    }
    const source = await discoverSource(rollout.metadata, config, (ref) => this.read(ref));
    if ('problem' in source) return { revision, outcome: 'Failed', message: `write-back: ${source.problem}` };
    const credentials = config.secretRef === undefined ? undefined : await this.credentials(namespace, config.secretRef.name);
    const verdict = status.message ?? 'aborted';
    const result = await (this.deps.push ?? writeBack)({
      source,
      credentials,
      rollout: { name, namespace },
      restores,
      message: commitMessage({ namespace, name }, restores, verdict),
      author: AUTHOR,
      ...(config.pushBranch !== undefined && { pushBranch: config.pushBranch }),
    });
    if (result.outcome === 'unchanged') return { revision, outcome: 'Unchanged', repoURL: source.repoURL, message: `Git left as it is: ${result.reason}` };
    return {
      revision,
      outcome: 'Committed',
      commit: result.commit,
      branch: result.branch,
      file: result.file,
      repoURL: source.repoURL,
      message: `committed ${result.commit.slice(0, 12)} to ${result.branch} (${result.file}, found via ${source.via}): ${result.edits.join(', ')}`,
    };
  }

  private async read(ref: ObjectRef): Promise<Discovered | undefined> {
    try {
      return (await this.deps.custom.getNamespacedCustomObject({ group: ref.group, version: ref.version, plural: ref.plural, namespace: ref.namespace, name: ref.name })) as Discovered;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  private async credentials(namespace: string, secret: string): Promise<GitCredentials> {
    const data = (await this.deps.core.readNamespacedSecret({ name: secret, namespace })).data ?? {};
    const field = (key: string): string | undefined => (data[key] === undefined ? undefined : Buffer.from(data[key], 'base64').toString('utf8'));
    const password = field('password') ?? field('token');
    if (password === undefined) throw new Error(`Secret ${namespace}/${secret} has neither a password nor a token key`);
    return { username: field('username') ?? 'fledge', password };
  }
}
