import type * as k8s from '@kubernetes/client-node';
import type { CoreApi } from '../../kube/api.js';
import { API_VERSION, type Rollout } from '../../api/rollout.js';
import type { ResilientInformer } from '../../kube/informer.js';
import { isAlreadyExists, isInvalid, isNotFound } from '../../kube/patch.js';
import type { Logger } from '../../observability/logger.js';
import {
  configContentHash,
  configCopyName,
  configReferences,
  configRefKey,
  configTrackingEnabled,
  resolveConfig,
  unusedCopies,
  type ConfigContent,
  type ConfigCopy,
  type ConfigKind,
  type OwnedCopy,
  type ResolvedConfig,
} from './tracking.js';
import { LABEL_ROLLOUT, rolloutLabelValue } from '../../api/labels.js';
import { RefusedError } from '../act/refused.js';

/** Marks a copy and names what it copies, for `kubectl get cm -l fledge.dev/config-copy-of=NAME`. */
export const LABEL_CONFIG_COPY_OF = 'fledge.dev/config-copy-of';
/**
 * The source's resourceVersion the copy was made from: while the source is still at it, the copy's name gives its
 * content hash, so a restarted controller reads no content it already copied.
 */
export const LABEL_CONFIG_SOURCE_VERSION = 'fledge.dev/config-source-version';

export interface ConfigCopiesDeps {
  /** Metadata-only caches: which ConfigMaps and Secrets exist and at which resourceVersion, never their data. */
  configMaps: ResilientInformer<k8s.KubernetesObject>;
  secrets: ResilientInformer<k8s.KubernetesObject>;
  core: CoreApi;
}

/** The content of a source was read at one resourceVersion and hashed; the data itself is not kept. */
interface KnownHash {
  resourceVersion: string | undefined;
  hash: string;
}

/** A source changed between reading its hash and copying it: the next reconcile sees the new content. */
export class ConfigSourceChanged extends Error {}

/**
 * The shell of config tracking. The caches say which sources exist and their resourceVersion; content is read
 * from the API only when a referenced source's resourceVersion moves, and only its hash is remembered, so the
 * controller holds no Secret data between reconciles.
 */
export class ConfigCopies {
  private readonly hashes = new Map<string, KnownHash>();

  constructor(private readonly deps: ConfigCopiesDeps) {}

  private cache(kind: ConfigKind): ResilientInformer<k8s.KubernetesObject> {
    return kind === 'ConfigMap' ? this.deps.configMaps : this.deps.secrets;
  }

  private async read(kind: ConfigKind, name: string, namespace: string): Promise<(ConfigContent & k8s.KubernetesObject) | undefined> {
    const read = kind === 'ConfigMap' ? this.deps.core.readNamespacedConfigMap({ name, namespace }) : this.deps.core.readNamespacedSecret({ name, namespace });
    return read.catch((err: unknown) => {
      if (isNotFound(err)) return undefined;
      throw err;
    });
  }

  /**
   * The Rollout's template with its sources swapped for copies (as given when it opted out or reads no config).
   * `templatesInUse`, its ReplicaSets' templates, name copies that may already tell a source's content hash.
   */
  async resolve(rollout: Rollout, templatesInUse: ReadonlyArray<{ spec?: unknown }>): Promise<ResolvedConfig> {
    const template = rollout.spec.template;
    if (!configTrackingEnabled(rollout.spec)) return { template, copies: [], missing: [] };
    const namespace = rollout.metadata.namespace ?? 'default';
    const copiesInUse = templatesInUse.flatMap((used) => configReferences(used));
    const found = new Map<string, string>();
    for (const ref of configReferences(template)) {
      const candidates = copiesInUse.filter((copy) => copy.kind === ref.kind).map((copy) => copy.name);
      const hash = await this.hashOf(rollout.metadata.name ?? '', ref.kind, ref.name, namespace, candidates);
      if (hash !== undefined) found.set(configRefKey(ref.kind, ref.name), hash);
    }
    return resolveConfig(template, (kind, name) => {
      const hash = found.get(configRefKey(kind, name));
      return hash === undefined ? undefined : { hash };
    });
  }

  private async hashOf(reader: string, kind: ConfigKind, name: string, namespace: string, candidates: readonly string[]): Promise<string | undefined> {
    const key = `${namespace}/${reader}/${configRefKey(kind, name)}`;
    const cached = this.cache(kind).get(name, namespace);
    if (cached === undefined) {
      this.hashes.delete(key);
      return undefined;
    }
    const resourceVersion = cached.metadata?.resourceVersion;
    const known = this.hashes.get(key);
    if (known !== undefined && known.resourceVersion === resourceVersion) return known.hash;
    const copied = this.copiedAt(kind, name, namespace, resourceVersion, candidates);
    if (copied !== undefined) {
      this.hashes.set(key, { resourceVersion, hash: copied });
      return copied;
    }
    const source = await this.read(kind, name, namespace);
    if (source === undefined) {
      this.hashes.delete(key);
      return undefined;
    }
    const hash = configContentHash(reader, source);
    this.hashes.set(key, { resourceVersion: source.metadata?.resourceVersion, hash });
    return hash;
  }

  /** The hash in the name of a copy made from this source at this resourceVersion, if one of `candidates` is. */
  private copiedAt(kind: ConfigKind, source: string, namespace: string, resourceVersion: string | undefined, candidates: readonly string[]): string | undefined {
    for (const candidate of candidates) {
      const hash = candidate.slice(candidate.lastIndexOf('-') + 1);
      if (configCopyName(source, hash) !== candidate) continue;
      const labels = this.cache(kind).get(candidate, namespace)?.metadata?.labels;
      if (resourceVersion !== undefined && labels?.[LABEL_CONFIG_SOURCE_VERSION] === resourceVersion) return hash;
    }
    return undefined;
  }

  /**
   * Creates the copies a new ReplicaSet will read, before it exists. A copy is immutable and named by its content,
   * so one that exists already is the right one.
   */
  async ensure(rollout: Rollout, copies: readonly ConfigCopy[], log: Logger): Promise<void> {
    const namespace = rollout.metadata.namespace ?? 'default';
    const rolloutName = rollout.metadata.name ?? '';
    for (const wanted of copies) {
      if (this.cache(wanted.kind).get(wanted.copy, namespace) !== undefined) continue;
      const source = await this.read(wanted.kind, wanted.source, namespace);
      if (source === undefined || configContentHash(rolloutName, source) !== wanted.hash) {
        throw new ConfigSourceChanged(`${configRefKey(wanted.kind, wanted.source)} changed while it was being copied`);
      }
      const metadata: k8s.V1ObjectMeta = {
        name: wanted.copy,
        namespace,
        labels: {
          [LABEL_ROLLOUT]: rolloutLabelValue(rolloutName),
          [LABEL_CONFIG_COPY_OF]: rolloutLabelValue(wanted.source),
          ...(source.metadata?.resourceVersion !== undefined && { [LABEL_CONFIG_SOURCE_VERSION]: source.metadata.resourceVersion }),
        },
        ownerReferences: [{ apiVersion: API_VERSION, kind: 'Rollout', name: rolloutName, uid: rollout.metadata.uid ?? '', controller: true, blockOwnerDeletion: true }],
      };
      const content = { ...(source.data && { data: source.data }), ...(source.binaryData && { binaryData: source.binaryData }) };
      log.info('copying config for a new revision', { kind: wanted.kind, source: wanted.source, copy: wanted.copy });
      const create =
        wanted.kind === 'ConfigMap'
          ? this.deps.core.createNamespacedConfigMap({ namespace, body: { metadata, immutable: true, ...content } })
          : this.deps.core.createNamespacedSecret({ namespace, body: { metadata, immutable: true, ...(source.type && { type: source.type }), ...content } });
      await create.catch((err: unknown) => {
        if (isAlreadyExists(err)) return;
        // The apiserver's words are left out: about a Secret they could quote what it holds.
        if (isInvalid(err)) {
          throw new RefusedError(
            'ConfigCopyRefused',
            `the apiserver refuses a copy of ${configRefKey(wanted.kind, wanted.source)}${wanted.kind === 'Secret' ? ` (type ${source.type ?? 'Opaque'})` : ''}; set spec.configTracking.enabled: false to read it as written`,
          );
        }
        throw err;
      });
    }
  }

  /** Deletes the copies of this Rollout that no template in use names: their ReplicaSets are gone. */
  async collect(rollout: Rollout, templatesInUse: ReadonlyArray<{ spec?: unknown }>, log: Logger): Promise<void> {
    const namespace = rollout.metadata.namespace ?? 'default';
    const owned = (kind: ConfigKind): OwnedCopy[] =>
      (rollout.metadata.uid === undefined ? [] : this.cache(kind).listOwnedBy(rollout.metadata.uid)).map((obj) => ({ kind, name: obj.metadata?.name ?? '' }));
    for (const copy of unusedCopies([...owned('ConfigMap'), ...owned('Secret')], templatesInUse)) {
      log.info('deleting config copy no ReplicaSet reads', { kind: copy.kind, copy: copy.name });
      const remove = copy.kind === 'ConfigMap' ? this.deps.core.deleteNamespacedConfigMap({ name: copy.name, namespace }) : this.deps.core.deleteNamespacedSecret({ name: copy.name, namespace });
      await remove.catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
    }
  }
}
