import { describe, expect, it } from 'vitest';
import { applicationOf, discoverSource, type Discovered, type ObjectRef } from '../../../src/gitops/source.js';

/** The objects a cluster holds, by group/plural/namespace/name; reads are recorded. */
function cluster(objects: Record<string, Discovered>) {
  const reads: string[] = [];
  const read = async (ref: ObjectRef): Promise<Discovered | undefined> => {
    const key = `${ref.group}/${ref.plural}/${ref.namespace}/${ref.name}`;
    reads.push(key);
    return objects[key];
  };
  return { read, reads };
}

const FLUX = {
  'kustomize.toolkit.fluxcd.io/kustomizations/flux-system/shop': { spec: { path: './apps/shop', sourceRef: { kind: 'GitRepository', name: 'platform', namespace: 'git' } } },
  'source.toolkit.fluxcd.io/gitrepositories/git/platform': { spec: { url: 'https://git.example.com/platform.git', ref: { branch: 'main' } } },
};
const fluxLabels = { labels: { 'kustomize.toolkit.fluxcd.io/name': 'shop', 'kustomize.toolkit.fluxcd.io/namespace': 'flux-system' } };

describe('finding where a Rollout is declared in Git', () => {
  it("follows Flux's labels to the Kustomization's path and its GitRepository's url and branch", async () => {
    const { read, reads } = cluster(FLUX);
    expect(await discoverSource(fluxLabels, {}, read)).toEqual({
      repoURL: 'https://git.example.com/platform.git',
      branch: 'main',
      path: './apps/shop',
      via: 'Flux Kustomization flux-system/shop',
    });
    expect(reads).toEqual(['kustomize.toolkit.fluxcd.io/kustomizations/flux-system/shop', 'source.toolkit.fluxcd.io/gitrepositories/git/platform']);
  });

  it("follows Argo CD's tracking id, or its instance label, to the Application's source", async () => {
    const { read } = cluster({
      'argoproj.io/applications/argocd/shop': { spec: { source: { repoURL: 'https://git.example.com/apps.git', targetRevision: 'release', path: 'shop' } } },
      'argoproj.io/applications/team-a/cart': { spec: { sources: [{ repoURL: 'https://charts.example.com' }, { repoURL: 'https://git.example.com/cart.git', targetRevision: 'HEAD', path: 'deploy' }] } },
    });
    expect(await discoverSource({ annotations: { 'argocd.argoproj.io/tracking-id': 'shop:fledge.dev/Rollout:shop/shop' } }, {}, read)).toEqual({
      repoURL: 'https://git.example.com/apps.git',
      branch: 'release',
      path: 'shop',
      via: 'Argo CD Application argocd/shop',
    });
    expect(await discoverSource({ annotations: { 'argocd.argoproj.io/tracking-id': 'team-a_cart:fledge.dev/Rollout:cart/cart' } }, {}, read)).toMatchObject({
      repoURL: 'https://git.example.com/cart.git',
      branch: '',
      path: 'deploy',
    });
    expect(await discoverSource({ labels: { 'app.kubernetes.io/instance': 'shop' } }, {}, read)).toMatchObject({ via: 'Argo CD Application argocd/shop' });
    expect(applicationOf('', 'argocd')).toBeUndefined();
    // Argo CD installed elsewhere (--argocd-namespace): a tracking id without a namespace means that one.
    const elsewhere = cluster({ 'argoproj.io/applications/gitops/shop': { spec: { source: { repoURL: 'https://git.example.com/apps.git' } } } });
    expect(await discoverSource({ labels: { 'app.kubernetes.io/instance': 'shop' } }, {}, elsewhere.read, 'gitops')).toMatchObject({ via: 'Argo CD Application gitops/shop' });
  });

  it('lets spec.writeBack override field by field, and stand alone when nothing else says', async () => {
    const { read } = cluster(FLUX);
    expect(await discoverSource(fluxLabels, { branch: 'fledge-reverts', path: 'apps/shop/rollout.yaml' }, read)).toMatchObject({
      repoURL: 'https://git.example.com/platform.git',
      branch: 'fledge-reverts',
      path: 'apps/shop/rollout.yaml',
    });
    const alone = cluster({});
    expect(await discoverSource({}, { repoURL: 'https://git.example.com/x.git' }, alone.read)).toEqual({ repoURL: 'https://git.example.com/x.git', branch: '', path: '.', via: 'spec.writeBack' });
    expect(alone.reads).toEqual([]);
  });

  it('says what is missing when nothing leads to a Git source', async () => {
    expect(await discoverSource({}, {}, cluster({}).read)).toEqual({ problem: 'no Flux or Argo CD labels say where the Rollout comes from; set spec.writeBack.repoURL', unmanaged: true });
    expect(await discoverSource(fluxLabels, {}, cluster({}).read)).toEqual({ problem: 'Flux Kustomization flux-system/shop not found; set spec.writeBack.repoURL' });
    const bucket = cluster({ 'kustomize.toolkit.fluxcd.io/kustomizations/flux-system/shop': { spec: { sourceRef: { kind: 'Bucket', name: 'b' } } } });
    expect(await discoverSource(fluxLabels, {}, bucket.read)).toEqual({ problem: 'Flux Kustomization flux-system/shop syncs from a Bucket source, not a GitRepository; set spec.writeBack.repoURL' });
  });
});
