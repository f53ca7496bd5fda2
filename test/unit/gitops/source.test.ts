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

describe('finding the Helm values a Rollout is rendered from', () => {
  const tracking = (app: string) => ({ annotations: { 'argocd.argoproj.io/tracking-id': `${app}:fledge.dev/Rollout:shop/pay` } });

  it("resolves an Argo CD Application's valueFiles against its path, and keeps the values its spec holds", async () => {
    const { read } = cluster({
      'argoproj.io/applications/argocd/pay': {
        spec: {
          source: {
            repoURL: 'https://git.example.com/apps.git',
            targetRevision: 'main',
            path: 'apps/pay',
            helm: {
              valueFiles: ['values.yaml', 'values-prod.yaml', '../shared/common.yaml', '/global/values.yaml', '$values/envs/prod.yaml', 'https://example.com/v.yaml'],
              parameters: [{ name: 'image.tag', value: '1.4.0' }, { name: 'broken' }],
              values: 'replicaCount: 3\n',
              valuesObject: { resources: {} },
            },
          },
        },
      },
    });
    expect(await discoverSource(tracking('pay'), {}, read)).toEqual({
      repoURL: 'https://git.example.com/apps.git',
      branch: 'main',
      path: 'apps/pay',
      via: 'Argo CD Application argocd/pay',
      helm: {
        // The chart's own values.yaml comes first; named again, it counts where Helm reads it last.
        valueFiles: ['apps/pay/values.yaml', 'apps/pay/values-prod.yaml', 'apps/shared/common.yaml', 'global/values.yaml'],
        unfollowed: ['$values/envs/prod.yaml', 'https://example.com/v.yaml'],
        parameterFile: 'apps/pay/.argocd-source-pay.yaml',
        inCluster: { parameters: [{ name: 'image.tag', value: '1.4.0' }], values: 'replicaCount: 3\n', valuesObject: { resources: {} } },
      },
    });
  });

  it("takes Argo CD's word (status.sourceType) that a source without helm: is a chart, in a multi-source Application too", async () => {
    const { read } = cluster({
      'argoproj.io/applications/argocd/pay': { spec: { source: { repoURL: 'https://git.example.com/apps.git', path: 'charts/pay' } }, status: { sourceType: 'Helm' } },
      'argoproj.io/applications/argocd/cart': {
        spec: { sources: [{ repoURL: 'https://git.example.com/extra.git', targetRevision: 'main' }, { repoURL: 'https://git.example.com/apps.git', path: 'cart' }] },
        status: { sourceTypes: ['Directory', 'Helm'] },
      },
      'argoproj.io/applications/argocd/plain': { spec: { source: { repoURL: 'https://git.example.com/apps.git', path: 'plain' } }, status: { sourceType: 'Directory' } },
    });
    expect(await discoverSource(tracking('pay'), {}, read)).toMatchObject({ helm: { valueFiles: ['charts/pay/values.yaml'], unfollowed: [], parameterFile: 'charts/pay/.argocd-source-pay.yaml', inCluster: {} } });
    expect(await discoverSource(tracking('cart'), {}, read)).toMatchObject({ path: 'cart', helm: { valueFiles: ['cart/values.yaml'] } });
    expect(await discoverSource(tracking('plain'), {}, read)).not.toHaveProperty('helm');
  });

  it('says that values from another source ($ref) are not followed when the chart itself is not in Git', async () => {
    const { read } = cluster({
      'argoproj.io/applications/argocd/pay': {
        spec: { sources: [{ repoURL: 'https://charts.example.com', helm: { valueFiles: ['$values/pay/values.yaml'] } }, { repoURL: 'https://git.example.com/values.git' }] },
      },
    });
    expect(await discoverSource(tracking('pay'), {}, read)).toEqual({
      problem:
        'Argo CD Application argocd/pay renders a chart from outside Git with values from another source ($values/pay/values.yaml), which write-back does not follow; set spec.writeBack.repoURL',
    });
  });

  const helmLabels = { labels: { 'helm.toolkit.fluxcd.io/name': 'pay', 'helm.toolkit.fluxcd.io/namespace': 'shop', 'app.kubernetes.io/instance': 'pay' } };

  it("follows Flux's helm labels to the HelmRelease, and its kustomize labels to the Kustomization and GitRepository", async () => {
    const { read, reads } = cluster({
      ...FLUX,
      'helm.toolkit.fluxcd.io/helmreleases/shop/pay': { metadata: { labels: fluxLabels.labels } },
    });
    expect(await discoverSource(helmLabels, { branch: 'fledge' }, read)).toEqual({
      repoURL: 'https://git.example.com/platform.git',
      branch: 'fledge',
      path: './apps/shop',
      via: 'Flux HelmRelease shop/pay (Flux Kustomization flux-system/shop)',
      helmRelease: { namespace: 'shop', name: 'pay' },
    });
    expect(reads).toEqual([
      'helm.toolkit.fluxcd.io/helmreleases/shop/pay',
      'kustomize.toolkit.fluxcd.io/kustomizations/flux-system/shop',
      'source.toolkit.fluxcd.io/gitrepositories/git/platform',
    ]);
  });

  it('says what is missing on the way from a HelmRelease to Git', async () => {
    expect(await discoverSource(helmLabels, {}, cluster({}).read)).toEqual({ problem: 'Flux HelmRelease shop/pay not found; set spec.writeBack.repoURL' });
    const manual = cluster({ 'helm.toolkit.fluxcd.io/helmreleases/shop/pay': { metadata: { labels: {} } } });
    expect(await discoverSource(helmLabels, {}, manual.read)).toEqual({
      problem: 'Flux HelmRelease shop/pay has no Flux Kustomization labels, so nothing says where in Git it is declared; set spec.writeBack.repoURL',
    });
    const lost = cluster({ 'helm.toolkit.fluxcd.io/helmreleases/shop/pay': { metadata: { labels: fluxLabels.labels } } });
    expect(await discoverSource(helmLabels, {}, lost.read)).toEqual({ problem: 'Flux Kustomization flux-system/shop not found; set spec.writeBack.repoURL' });
  });
});
