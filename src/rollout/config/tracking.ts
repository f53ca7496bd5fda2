import type { PodTemplate, RolloutSpec } from '../../api/rollout.js';
import { contentHash } from '../decide/revision.js';

/**
 * Config tracking: each ConfigMap and Secret the pod template references is copied per content (`<name>-<hash>`,
 * immutable, owned by the Rollout), and each ReplicaSet's template points at its own copies. New content is a new
 * template, hence a new revision and a canary, while the stable pods keep reading the old copies.
 */

export type ConfigKind = 'ConfigMap' | 'Secret';

/** One object the pod template reads; optional only if every place that names it says `optional: true`. */
export interface ConfigReference {
  kind: ConfigKind;
  name: string;
  optional: boolean;
}

/** What a copy is made from: a ConfigMap's or Secret's data (and a Secret's type). */
export interface ConfigContent {
  data?: Record<string, string>;
  binaryData?: Record<string, string>;
  type?: string;
}

/** `ConfigMap/name`: how a reference reads in a condition, an Event, and as a map key. */
export const configRefKey = (kind: ConfigKind, name: string): string => `${kind}/${name}`;

/** Tracking is on unless the Rollout opts out with spec.configTracking.enabled: false. */
export function configTrackingEnabled(spec: Pick<RolloutSpec, 'configTracking'>): boolean {
  return spec.configTracking?.enabled !== false;
}

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => value !== null && typeof value === 'object' && !Array.isArray(value);
const objects = (value: unknown): Json[] => (Array.isArray(value) ? value.filter(isObject) : []);

/** A place in a pod spec that names a ConfigMap or Secret: the object holding the name, and under which key. */
interface RefSite {
  kind: ConfigKind;
  holder: Json;
  key: 'name' | 'secretName';
}

/**
 * Every place of the pod spec that names a ConfigMap or Secret a container reads: env valueFrom, envFrom, and
 * configMap, secret and projected volumes, in containers, init containers and ephemeral containers.
 * imagePullSecrets are not config the pods read, so they are left alone.
 */
function refSites(spec: Json): RefSite[] {
  const sites: RefSite[] = [];
  const add = (kind: ConfigKind, holder: unknown, key: RefSite['key'] = 'name'): void => {
    if (isObject(holder) && typeof holder[key] === 'string' && holder[key] !== '') sites.push({ kind, holder, key });
  };
  for (const field of ['initContainers', 'containers', 'ephemeralContainers']) {
    for (const container of objects(spec[field])) {
      for (const env of objects(container.env)) {
        const from = isObject(env.valueFrom) ? env.valueFrom : {};
        add('ConfigMap', from.configMapKeyRef);
        add('Secret', from.secretKeyRef);
      }
      for (const envFrom of objects(container.envFrom)) {
        add('ConfigMap', envFrom.configMapRef);
        add('Secret', envFrom.secretRef);
      }
    }
  }
  for (const volume of objects(spec.volumes)) {
    add('ConfigMap', volume.configMap);
    add('Secret', volume.secret, 'secretName');
    const projected = isObject(volume.projected) ? volume.projected : {};
    for (const source of objects(projected.sources)) {
      add('ConfigMap', source.configMap);
      add('Secret', source.secret);
    }
  }
  return sites;
}

/** The ConfigMaps and Secrets a pod template reads, each once, in the order first named. */
export function configReferences(template: PodTemplate | { spec?: unknown }): ConfigReference[] {
  const byKey = new Map<string, ConfigReference>();
  for (const site of refSites(isObject(template.spec) ? template.spec : {})) {
    const name = site.holder[site.key] as string;
    const optional = site.holder.optional === true;
    const key = configRefKey(site.kind, name);
    const seen = byKey.get(key);
    if (seen === undefined) byKey.set(key, { kind: site.kind, name, optional });
    else seen.optional &&= optional;
  }
  return [...byKey.values()];
}

const MAX_NAME = 253;

/**
 * The hash a copy is named by: of the content and of the Rollout that reads it, so equal content always gives that
 * Rollout the same copy, and two Rollouts reading one ConfigMap never share (nor delete) each other's copy.
 */
export function configContentHash(reader: string, content: ConfigContent): string {
  return contentHash({ reader, data: content.data ?? {}, binaryData: content.binaryData ?? {}, type: content.type ?? '' });
}

/**
 * `<source>-<hash>`, a valid object name (DNS-1123 subdomain, ≤ 253): a long source name is shortened, and never
 * left ending in `.` or `-`, which would start the hash's label with a character a subdomain cannot have there.
 */
export function configCopyName(source: string, hash: string): string {
  const prefix = source.slice(0, MAX_NAME - hash.length - 1).replace(/[.-]+$/, '');
  return `${prefix}-${hash}`;
}

/** What the shell knows of a referenced object: its content hash, or that it does not exist. */
export type SourceLookup = (kind: ConfigKind, name: string) => { hash: string } | undefined;

export interface ConfigCopy {
  kind: ConfigKind;
  source: string;
  copy: string;
  hash: string;
}

export interface ResolvedConfig {
  /** The template the ReplicaSet gets (and the revision is hashed from): each present source replaced by its copy. */
  template: PodTemplate;
  /** The copies that template points at. */
  copies: ConfigCopy[];
  /** `ConfigMap/name` of required sources that do not exist: no ReplicaSet can be made from this template. */
  missing: string[];
}

/**
 * The template with every present source swapped for its content-named copy. An optional source that does not exist
 * is left as named (the kubelet treats it as empty); a required one is reported missing. A template with no
 * references comes back as given, so its revision is what it was before config tracking existed.
 */
export function resolveConfig(template: PodTemplate, lookup: SourceLookup): ResolvedConfig {
  const references = configReferences(template);
  if (references.length === 0) return { template, copies: [], missing: [] };
  const copies: ConfigCopy[] = [];
  const missing: string[] = [];
  for (const ref of references) {
    const found = lookup(ref.kind, ref.name);
    if (found !== undefined) copies.push({ kind: ref.kind, source: ref.name, copy: configCopyName(ref.name, found.hash), hash: found.hash });
    else if (!ref.optional) missing.push(configRefKey(ref.kind, ref.name));
  }
  const rewritten = structuredClone(template);
  const copyOf = new Map(copies.map((c) => [configRefKey(c.kind, c.source), c.copy]));
  for (const site of refSites(rewritten.spec)) {
    const copy = copyOf.get(configRefKey(site.kind, site.holder[site.key] as string));
    if (copy !== undefined) site.holder[site.key] = copy;
  }
  return { template: rewritten, copies, missing };
}

/** A copy this Rollout made, as the cache lists it. */
export interface OwnedCopy {
  kind: ConfigKind;
  name: string;
}

/** The copies no template in use names any longer: the ReplicaSets that read them are gone. */
export function unusedCopies(owned: readonly OwnedCopy[], templatesInUse: ReadonlyArray<{ spec?: unknown }>): OwnedCopy[] {
  const used = new Set(templatesInUse.flatMap((template) => configReferences(template).map((ref) => configRefKey(ref.kind, ref.name))));
  return owned.filter((copy) => !used.has(configRefKey(copy.kind, copy.name)));
}

/**
 * Which Rollouts read which sources, so that a change to a ConfigMap or Secret enqueues only those Rollouts
 * rather than every Rollout of its namespace.
 */
export class ConfigSourceIndex {
  private readonly readers = new Map<string, Set<string>>();
  private readonly sourcesOf = new Map<string, string[]>();

  /** Records what the Rollout `namespace/name` reads now (nothing, when it opted out or is gone). */
  set(namespace: string, name: string, references: readonly ConfigReference[]): void {
    const rollout = `${namespace}/${name}`;
    for (const source of this.sourcesOf.get(rollout) ?? []) {
      const readers = this.readers.get(source);
      readers?.delete(rollout);
      if (readers?.size === 0) this.readers.delete(source);
    }
    const sources = references.map((ref) => `${namespace}/${configRefKey(ref.kind, ref.name)}`);
    if (sources.length === 0) this.sourcesOf.delete(rollout);
    else this.sourcesOf.set(rollout, sources);
    for (const source of sources) {
      const readers = this.readers.get(source) ?? new Set<string>();
      readers.add(rollout);
      this.readers.set(source, readers);
    }
  }

  /** The `namespace/name` keys of the Rollouts that read this ConfigMap or Secret. */
  readersOf(namespace: string, kind: ConfigKind, name: string): string[] {
    return [...(this.readers.get(`${namespace}/${configRefKey(kind, name)}`) ?? [])];
  }
}
