/** Where a Rollout is declared in Git: the repository, the branch to push to, and the directory (or file) to edit. */
export interface GitSource {
  repoURL: string;
  /** Empty: the remote's default branch. */
  branch: string;
  path: string;
  /** How it was found, for messages: `Flux Kustomization flux-system/shop`, `Argo CD Application argocd/shop`, `spec.writeBack`. */
  via: string;
}

export const FLUX_NAME_LABEL = 'kustomize.toolkit.fluxcd.io/name';
export const FLUX_NAMESPACE_LABEL = 'kustomize.toolkit.fluxcd.io/namespace';
export const ARGOCD_TRACKING_ANNOTATION = 'argocd.argoproj.io/tracking-id';
export const ARGOCD_INSTANCE_LABEL = 'app.kubernetes.io/instance';

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

/** The object fields discovery reads; everything else is ignored. */
export interface Discovered {
  spec?: {
    path?: string;
    sourceRef?: { kind?: string; name?: string; namespace?: string };
    url?: string;
    ref?: { branch?: string };
    source?: { repoURL?: string; targetRevision?: string; path?: string };
    sources?: Array<{ repoURL?: string; targetRevision?: string; path?: string }>;
  };
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

/**
 * Finds where the Rollout is declared, from what the GitOps tool that applied it already says: Flux's kustomize
 * labels lead to the Kustomization (its path) and its GitRepository (url, branch); Argo CD's tracking annotation (or
 * its instance label) leads to the Application (repoURL, targetRevision, path). Explicit overrides win, field by
 * field; with a repoURL override nothing needs to be discovered. Undefined with a reason when nothing says.
 */
export async function discoverSource(
  metadata: { labels?: Record<string, string>; annotations?: Record<string, string> },
  overrides: Overrides,
  read: Reader,
  argocdNamespace = 'argocd',
): Promise<GitSource | SourceProblem> {
  const withOverrides = (found: GitSource): GitSource => ({
    repoURL: overrides.repoURL ?? found.repoURL,
    branch: overrides.branch ?? found.branch,
    path: overrides.path ?? found.path,
    via: overrides.repoURL !== undefined ? 'spec.writeBack' : found.via,
  });
  const labels = metadata.labels ?? {};
  const annotations = metadata.annotations ?? {};

  const fluxName = labels[FLUX_NAME_LABEL];
  const fluxNamespace = labels[FLUX_NAMESPACE_LABEL];
  if (fluxName !== undefined && fluxNamespace !== undefined) {
    const kustomization = await read({ ...KUSTOMIZATION, namespace: fluxNamespace, name: fluxName });
    if (kustomization === undefined) return fallback(`Flux Kustomization ${fluxNamespace}/${fluxName} not found`);
    const sourceRef = kustomization.spec?.sourceRef;
    if (sourceRef?.kind !== 'GitRepository' || sourceRef.name === undefined) {
      return fallback(`Flux Kustomization ${fluxNamespace}/${fluxName} syncs from a ${sourceRef?.kind ?? 'missing'} source, not a GitRepository`);
    }
    const repoNamespace = sourceRef.namespace ?? fluxNamespace;
    const repository = await read({ ...GIT_REPOSITORY, namespace: repoNamespace, name: sourceRef.name });
    if (repository?.spec?.url === undefined) return fallback(`Flux GitRepository ${repoNamespace}/${sourceRef.name} not found`);
    return withOverrides({
      repoURL: repository.spec.url,
      branch: repository.spec.ref?.branch ?? '',
      path: kustomization.spec?.path ?? '.',
      via: `Flux Kustomization ${fluxNamespace}/${fluxName}`,
    });
  }

  const tracking = annotations[ARGOCD_TRACKING_ANNOTATION];
  const app = tracking !== undefined ? applicationOf(tracking, argocdNamespace) : labels[ARGOCD_INSTANCE_LABEL] !== undefined ? { namespace: argocdNamespace, name: labels[ARGOCD_INSTANCE_LABEL] } : undefined;
  if (app !== undefined) {
    const application = await read({ ...APPLICATION, ...app });
    const source = application?.spec?.source ?? application?.spec?.sources?.find((candidate) => candidate.path !== undefined);
    if (source?.repoURL === undefined) return fallback(`Argo CD Application ${app.namespace}/${app.name} not found, or it has no Git source`);
    return withOverrides({ repoURL: source.repoURL, branch: branchOf(source.targetRevision), path: source.path ?? '.', via: `Argo CD Application ${app.namespace}/${app.name}` });
  }
  return fallback('no Flux or Argo CD labels say where the Rollout comes from', true);

  function fallback(problem: string, unmanaged = false): GitSource | SourceProblem {
    if (overrides.repoURL === undefined) return { problem: `${problem}; set spec.writeBack.repoURL`, ...(unmanaged && { unmanaged: true as const }) };
    return { repoURL: overrides.repoURL, branch: overrides.branch ?? '', path: overrides.path ?? '.', via: 'spec.writeBack' };
  }
}
