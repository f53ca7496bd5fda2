import type * as k8s from '@kubernetes/client-node';
import type { CoreApi, CustomApi } from '../kube/api.js';
import { API_VERSION, GROUP, VERSION, type Rollout, type RolloutStatus } from '../api/rollout.js';
import { discoverSource, type Discovered, type ObjectRef } from './source.js';
import { DEFAULT_WRITE_BACK_LIMITS, writeBack, type GitCredentials, type WriteBackLimits, type WriteBackRequest, type WriteBackResult } from './push.js';
import type { ImageRestore } from './edit.js';
import { apiErrorMessage, isNotFound, mergePatchOptions } from '../kube/patch.js';
import type { EventRecorder } from '../kube/events.js';
import type { Logger } from '../observability/logger.js';
import { needsNamespace, WRITE_BACK_RETRY_MS, writeBackScope, type ControllerWriteBack, type NamespaceWord } from './write-back-scope.js';

const AUTHOR = { name: 'Fledge', email: 'fledge-controller@fledge.dev' };

export interface WriteBackDeps {
  core: CoreApi;
  custom: CustomApi;
  events: EventRecorder;
  logger: Logger;
  now: () => number;
  /** --write-back and --write-back-secret; absent, off. */
  controller?: ControllerWriteBack;
  /** --argocd-namespace; absent, `argocd`. */
  argocdNamespace?: string;
  /** --write-back-timeout, --write-back-max-bytes, and the temp directory. */
  limits?: WriteBackLimits;
  /** The Git side; tests may pass another. */
  push?: (request: WriteBackRequest, limits: WriteBackLimits) => Promise<WriteBackResult>;
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

type WriteBackRecord = NonNullable<RolloutStatus['writeBack']>;

/** Every field a write-back record can have. */
const RECORD_FIELDS = ['revision', 'outcome', 'commit', 'branch', 'file', 'repoURL', 'message', 'time'] as const satisfies ReadonlyArray<keyof NonNullable<RolloutStatus['writeBack']>>;

/**
 * The record as a merge patch that replaces the previous one: a merge patch merges nested objects, so a Failed record
 * without a commit would otherwise keep the commit, branch and file of an earlier revision's write-back.
 */
export function replacing(record: NonNullable<RolloutStatus['writeBack']>): Record<string, unknown> {
  return Object.fromEntries(RECORD_FIELDS.map((field) => [field, record[field] ?? null]));
}

/**
 * After an abort, commits the stable images back to Git, in the background: the abort itself never waits for Git.
 * Opted in by the Rollout (spec.writeBack), its Namespace's annotations or the controller (write-back-scope.ts).
 * The outcome lands in status.writeBack (one key, merge-patched) and an Event; decide() turns it into the
 * GitWriteBack condition. One write-back per aborted revision; a failed one is tried again after a while.
 */
export class GitWriteBacks {
  private readonly running = new Set<string>();
  /**
   * Write-backs run one at a time: each may hold a repository's pack in memory (up to --write-back-max-bytes, several
   * times over), and two at once could pass the memory limit. Each is bounded by its deadline, so none waits long.
   */
  private queue: Promise<void> = Promise.resolve();
  /** Aborted revisions nobody opted in, until when they are not looked at again (each look is a Namespace GET). */
  private readonly notOptedIn = new Map<string, number>();

  constructor(private readonly deps: WriteBackDeps) {}

  /**
   * Starts the write-back decide() found due for an aborted revision (writeBackDue), unless one for it is running or
   * nobody opted it in a moment ago.
   */
  start(rollout: Rollout, status: RolloutStatus, revision: string, stableTemplate: k8s.V1PodTemplateSpec | undefined): void {
    const key = `${rollout.metadata.namespace ?? ''}/${rollout.metadata.name ?? ''}@${revision}`;
    if (this.running.has(key) || (this.notOptedIn.get(key) ?? 0) > this.deps.now()) return;
    this.running.add(key);
    this.queue = this.queue.then(() => this.run(rollout, status, revision, stableTemplate)).finally(() => this.running.delete(key));
  }

  private async run(rollout: Rollout, status: RolloutStatus, revision: string, stableTemplate: k8s.V1PodTemplateSpec | undefined): Promise<void> {
    const namespace = rollout.metadata.namespace ?? 'default';
    const name = rollout.metadata.name ?? '';
    const log = this.deps.logger.with({ namespace, name, revision });
    let record: WriteBackRecord | undefined;
    try {
      record = await this.attempt(rollout, status, revision, stableTemplate, log);
    } catch (err) {
      record = { revision, outcome: 'Failed', message: `write-back failed: ${apiErrorMessage(err)}` };
    }
    if (record === undefined) {
      this.rememberNotOptedIn(`${namespace}/${name}@${revision}`);
      return;
    }
    record = { ...record, time: new Date(this.deps.now()).toISOString() };
    log.info('git write-back', { outcome: record.outcome, commit: record.commit, message: record.message });
    try {
      await this.deps.custom.patchNamespacedCustomObjectStatus(
        { group: GROUP, version: VERSION, namespace, plural: 'rollouts', name, body: { status: { writeBack: replacing(record) } } },
        mergePatchOptions(),
      );
    } catch (err) {
      log.warn('could not record the git write-back', { error: apiErrorMessage(err) });
      return;
    }
    this.deps.events.record(
      { apiVersion: API_VERSION, kind: 'Rollout', name, namespace, uid: rollout.metadata.uid },
      record.outcome === 'Failed' ? 'Warning' : 'Normal',
      record.outcome === 'Failed' ? 'GitWriteBackFailed' : 'GitWriteBack',
      record.message ?? record.outcome,
    );
  }

  /** Undefined when nobody opted this Rollout in: nothing is recorded. */
  private async attempt(
    rollout: Rollout,
    status: RolloutStatus,
    revision: string,
    stableTemplate: k8s.V1PodTemplateSpec | undefined,
    log: Logger,
  ): Promise<WriteBackRecord | undefined> {
    const namespace = rollout.metadata.namespace ?? 'default';
    const name = rollout.metadata.name ?? '';
    const namespaceWord = needsNamespace(rollout.spec.writeBack) ? await this.namespaceWord(namespace) : undefined;
    const scope = writeBackScope(rollout.spec.writeBack, namespaceWord, this.deps.controller ?? { mode: 'off' });
    if ('problem' in scope) return { revision, outcome: 'Failed', message: `write-back: ${scope.problem}` };
    if (!scope.enabled) {
      log.info('no git write-back', { reason: scope.reason });
      return undefined;
    }
    const config = rollout.spec.writeBack ?? {};
    const restores = imageRestores(rollout.spec.template, stableTemplate);
    if (restores.length === 0) {
      return { revision, outcome: 'Unchanged', message: 'the aborted revision changed no container image; nothing to restore in Git' };
    }
    const source = await discoverSource(rollout.metadata, config, (ref) => this.read(ref), this.deps.argocdNamespace);
    if ('problem' in source) {
      // Opted in wholesale, a Rollout no GitOps tool applied has no Git to follow: not a failure of anyone's.
      if (source.unmanaged === true && scope.optedInBy !== 'Rollout') {
        return { revision, outcome: 'Unchanged', message: `write-back (opted in by the ${scope.optedInBy}) left Git alone: ${source.problem}` };
      }
      return { revision, outcome: 'Failed', message: `write-back: ${source.problem}` };
    }
    const credentials = scope.secret === undefined ? undefined : await this.credentials(namespace, scope.secret);
    const verdict = status.message ?? 'aborted';
    const result = await (this.deps.push ?? writeBack)(
      {
        source,
        credentials,
        rollout: { name, namespace },
        restores,
        message: commitMessage({ namespace, name }, restores, verdict),
        author: AUTHOR,
        // One review branch per aborted revision: a later abort never lands on (or is refused by) an earlier one's branch.
        ...(config.pushBranch !== undefined && { pushBranch: `${config.pushBranch}-${revision}` }),
      },
      this.deps.limits ?? DEFAULT_WRITE_BACK_LIMITS,
    );
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

  private rememberNotOptedIn(key: string): void {
    const now = this.deps.now();
    for (const [stale, until] of this.notOptedIn) if (until <= now) this.notOptedIn.delete(stale);
    this.notOptedIn.set(key, now + WRITE_BACK_RETRY_MS);
  }

  /** The Namespace's annotations, read only when a write-back may be due. */
  private async namespaceWord(namespace: string): Promise<NamespaceWord> {
    try {
      return { name: namespace, annotations: (await this.deps.core.readNamespace({ name: namespace })).metadata?.annotations ?? {} };
    } catch (err) {
      return { name: namespace, unreadable: apiErrorMessage(err) };
    }
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
