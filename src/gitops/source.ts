import { normalizePath } from './snapshot.js';

/** Where a Rollout is declared in Git: the repository, the branch to push to, and the directory (or file) to edit. */
export interface GitSource {
  repoURL: string;
  /** Empty: the remote's default branch. */
  branch: string;
  path: string;
  /** How it was found, for messages: `Flux Kustomization flux-system/shop`, `Argo CD Application argocd/shop`, `spec.writeBack`. */
  via: string;
  /** Argo CD renders the Rollout from a Helm chart at `path`: its images are Helm values. */
  helm?: HelmSource;
  /** Flux's helm-controller renders it from this HelmRelease, whose manifest (and its spec.values) is under `path`. */
  helmRelease?: { namespace: string; name: string };
}

export interface HelmParameter {
  name: string;
  value: string;
}

/** Where an Argo CD Application's Helm values come from, in Helm's order: a later one overrides an earlier one. */
export interface HelmSource {
  /** Repository-relative: the chart's own values.yaml, then the Application's valueFiles. */
  valueFiles: string[];
  /** valueFiles outside this repository (`$ref/...` from another source, URLs, paths that leave it): not followed. */
  unfollowed: string[];
  /** Argo CD Image Updater's override file in the chart's directory; its helm.parameters override the Application's. */
  parameterFile: string;
  /** The values the Application's own spec holds (in the cluster), which override every file; only those present. */
  inCluster: { parameters?: HelmParameter[]; values?: string; valuesObject?: Record<string, unknown> };
}

export const FLUX_NAME_LABEL = 'kustomize.toolkit.fluxcd.io/name';
export const FLUX_NAMESPACE_LABEL = 'kustomize.toolkit.fluxcd.io/namespace';
export const ARGOCD_TRACKING_ANNOTATION = 'argocd.argoproj.io/tracking-id';
export const ARGOCD_INSTANCE_LABEL = 'app.kubernetes.io/instance';
export const FLUX_HELM_NAME_LABEL = 'helm.toolkit.fluxcd.io/name';
export const FLUX_HELM_NAMESPACE_LABEL = 'helm.toolkit.fluxcd.io/namespace';

export interface ObjectRef {
  group: string;
  version: string;
  plural: string;
  namespace: string;
  name: string;
}

export const KUSTOMIZATION = { group: 'kustomize.toolkit.fluxcd.io', version: 'v1', plural: 'kustomizations' } as const;
export const GIT_REPOSITORY = { group: 'source.toolkit.fluxcd.io', version: 'v1', plural: 'gitrepositories' } as const;
export const APPLICATION = { group: 'argoproj.io', version: 'v1alpha1', plural: 'applications' } as const;
export const HELM_RELEASE = { group: 'helm.toolkit.fluxcd.io', version: 'v2', plural: 'helmreleases' } as const;

/** An Argo CD Application's source, as far as discovery reads it. */
interface ApplicationSource {
  repoURL?: string;
  targetRevision?: string;
  path?: string;
  helm?: { valueFiles?: string[]; parameters?: Array<{ name?: string; value?: string }>; values?: string; valuesObject?: Record<string, unknown> };
}

/** The object fields discovery reads; everything else is ignored. */
export interface Discovered {
  /** A HelmRelease's labels: the Flux Kustomization that applied it. */
  metadata?: { labels?: Record<string, string> };
  spec?: {
    path?: string;
    sourceRef?: { kind?: string; name?: string; namespace?: string };
    url?: string;
    ref?: { branch?: string };
    source?: ApplicationSource;
    sources?: ApplicationSource[];
  };
  /** Argo CD's verdict on how it renders each source: `Helm`, `Kustomize`, `Directory`. */
  status?: { sourceType?: string; sourceTypes?: string[] };
}

export interface Overrides {
  repoURL?: string;
  branch?: string;
  path?: string;
}

/** Why no source was found; `unmanaged` when no GitOps tool's labels are on the Rollout at all. */
export interface SourceProblem {
  problem: string;
  unmanaged?: true;
}

type Reader = (ref: ObjectRef) => Promise<Discovered | undefined>;

/** Argo CD's tracking id is `<app>:<group>/<kind>:<namespace>/<name>`; an app in another namespace is `<namespace>_<app>`. */
export function applicationOf(trackingId: string, defaultNamespace: string): { namespace: string; name: string } | undefined {
  const app = trackingId.split(':')[0];
  if (app === undefined || app === '') return undefined;
  const underscore = app.indexOf('_');
  return underscore > 0 ? { namespace: app.slice(0, underscore), name: app.slice(underscore + 1) } : { namespace: defaultNamespace, name: app };
}

/** An Argo CD targetRevision that names a branch (not HEAD, a tag-like version, or a commit). */
function branchOf(targetRevision: string | undefined): string {
  if (targetRevision === undefined || targetRevision === 'HEAD' || /^[0-9a-f]{40}$/.test(targetRevision)) return '';
  return targetRevision;
}

/** Flux's kustomize labels name the Kustomization that applied an object; its GitRepository says where. */
async function fromKustomization(labels: Record<string, string>, read: Reader): Promise<GitSource | SourceProblem | undefined> {
  const name = labels[FLUX_NAME_LABEL];
  const namespace = labels[FLUX_NAMESPACE_LABEL];
  if (name === undefined || namespace === undefined) return undefined;
  const kustomization = await read({ ...KUSTOMIZATION, namespace, name });
  if (kustomization === undefined) return { problem: `Flux Kustomization ${namespace}/${name} not found` };
  const sourceRef = kustomization.spec?.sourceRef;
  if (sourceRef?.kind !== 'GitRepository' || sourceRef.name === undefined) {
    return { problem: `Flux Kustomization ${namespace}/${name} syncs from a ${sourceRef?.kind ?? 'missing'} source, not a GitRepository` };
  }
  const repoNamespace = sourceRef.namespace ?? namespace;
  const repository = await read({ ...GIT_REPOSITORY, namespace: repoNamespace, name: sourceRef.name });
  if (repository?.spec?.url === undefined) return { problem: `Flux GitRepository ${repoNamespace}/${sourceRef.name} not found` };
  return { repoURL: repository.spec.url, branch: repository.spec.ref?.branch ?? '', path: kustomization.spec?.path ?? '.', via: `Flux Kustomization ${namespace}/${name}` };
}

/** A Rollout that Flux's helm-controller rendered: its HelmRelease was applied from Git by a Kustomization. */
async function fromHelmRelease(labels: Record<string, string>, read: Reader): Promise<GitSource | SourceProblem | undefined> {
  const name = labels[FLUX_HELM_NAME_LABEL];
  const namespace = labels[FLUX_HELM_NAMESPACE_LABEL];
  if (name === undefined || namespace === undefined) return undefined;
  const release = await read({ ...HELM_RELEASE, namespace, name });
  if (release === undefined) return { problem: `Flux HelmRelease ${namespace}/${name} not found` };
  const found = await fromKustomization(release.metadata?.labels ?? {}, read);
  if (found === undefined) return { problem: `Flux HelmRelease ${namespace}/${name} has no Flux Kustomization labels, so nothing says where in Git it is declared` };
  if ('problem' in found) return found;
  return { ...found, via: `Flux HelmRelease ${namespace}/${name} (${found.via})`, helmRelease: { namespace, name } };
}

/** The Application's values files and in-cluster values, with paths made repository-relative as Argo CD resolves them. */
function helmSource(helm: NonNullable<ApplicationSource['helm']>, path: string, app: string): HelmSource {
  const valueFiles: string[] = [];
  const unfollowed: string[] = [];
  // Helm always reads the chart's values.yaml first; a file named twice counts where Helm reads it last.
  for (const file of ['values.yaml', ...(helm.valueFiles ?? [])]) {
    // `$ref/...` names another of the Application's sources; a leading '/' is the repository's root.
    const resolved = file.startsWith('$') || /^[a-z][a-z0-9+.-]*:\/\//i.test(file) ? undefined : normalizePath(file.startsWith('/') ? file : `${path}/${file}`);
    if (resolved === undefined) {
      unfollowed.push(file);
      continue;
    }
    if (valueFiles.includes(resolved)) valueFiles.splice(valueFiles.indexOf(resolved), 1);
    valueFiles.push(resolved);
  }
  const parameters = helm.parameters?.flatMap((p) => (typeof p.name === 'string' && typeof p.value === 'string' ? [{ name: p.name, value: p.value }] : []));
  return {
    valueFiles,
    unfollowed,
    parameterFile: normalizePath(`${path}/.argocd-source-${app}.yaml`) ?? `.argocd-source-${app}.yaml`,
    inCluster: {
      ...(parameters !== undefined && parameters.length > 0 && { parameters }),
      ...(typeof helm.values === 'string' && { values: helm.values }),
      ...(helm.valuesObject !== undefined && { valuesObject: helm.valuesObject }),
    },
  };
}

/** Argo CD's Application: its source (or the one of its sources with a path), and how it is rendered. */
async function fromApplication(app: { namespace: string; name: string }, read: Reader): Promise<GitSource | SourceProblem> {
  const where = `Argo CD Application ${app.namespace}/${app.name}`;
  const application = await read({ ...APPLICATION, ...app });
  const sources = application?.spec?.sources ?? [];
  const index = application?.spec?.source !== undefined ? -1 : sources.findIndex((candidate) => candidate.path !== undefined);
  const source = application?.spec?.source ?? sources[index];
  if (source?.repoURL === undefined) {
    const ref = sources.flatMap((candidate) => candidate.helm?.valueFiles ?? []).find((file) => file.startsWith('$'));
    if (ref !== undefined) return { problem: `${where} renders a chart from outside Git with values from another source (${ref}), which write-back does not follow` };
    return { problem: `${where} not found, or it has no Git source` };
  }
  const path = source.path ?? '.';
  // Argo CD renders a directory with a Chart.yaml by Helm even without a helm: section, and says so in its status.
  const sourceType = index < 0 ? application?.status?.sourceType : application?.status?.sourceTypes?.[index];
  const helm = source.helm ?? (sourceType === 'Helm' ? {} : undefined);
  return { repoURL: source.repoURL, branch: branchOf(source.targetRevision), path, via: where, ...(helm !== undefined && { helm: helmSource(helm, path, app.name) }) };
}

/**
 * Finds where the Rollout is declared, from what the GitOps tool that applied it already says: Flux's helm labels
 * lead to the HelmRelease, and its kustomize labels (or the Rollout's own) to the Kustomization (its path) and its
 * GitRepository (url, branch); Argo CD's tracking annotation (or its instance label) leads to the Application
 * (repoURL, targetRevision, path, Helm values). Explicit overrides win, field by field; the Helm fields say how the
 * Rollout is rendered, which no override changes. With a repoURL override nothing needs to be discovered. Undefined
 * with a reason when nothing says.
 */
export async function discoverSource(
  metadata: { labels?: Record<string, string>; annotations?: Record<string, string> },
  overrides: Overrides,
  read: Reader,
  argocdNamespace = 'argocd',
): Promise<GitSource | SourceProblem> {
  const labels = metadata.labels ?? {};
  const tracking = metadata.annotations?.[ARGOCD_TRACKING_ANNOTATION];
  const instance = labels[ARGOCD_INSTANCE_LABEL];
  const app = tracking !== undefined ? applicationOf(tracking, argocdNamespace) : instance !== undefined ? { namespace: argocdNamespace, name: instance } : undefined;
  const found =
    (await fromHelmRelease(labels, read)) ??
    (await fromKustomization(labels, read)) ??
    (app !== undefined ? await fromApplication(app, read) : { problem: 'no Flux or Argo CD labels say where the Rollout comes from', unmanaged: true as const });
  if (!('problem' in found)) {
    return {
      ...found,
      repoURL: overrides.repoURL ?? found.repoURL,
      branch: overrides.branch ?? found.branch,
      path: overrides.path ?? found.path,
      via: overrides.repoURL !== undefined ? 'spec.writeBack' : found.via,
    };
  }
  if (overrides.repoURL === undefined) return { ...found, problem: `${found.problem}; set spec.writeBack.repoURL` };
  return { repoURL: overrides.repoURL, branch: overrides.branch ?? '', path: overrides.path ?? '.', via: 'spec.writeBack' };
}
