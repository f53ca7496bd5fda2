import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { findEdit, type EditTarget } from '../../../src/gitops/find-edit.js';
import { restoreHelmValues, valuesFileLayer } from '../../../src/gitops/helm-values.js';
import { memorySnapshot } from '../../../src/gitops/snapshot.js';
import type { HelmSource } from '../../../src/gitops/source.js';

const PAY = { container: 'pay', aborted: 'ghcr.io/acme/pay:1.4.0', stable: 'ghcr.io/acme/pay:1.3.0' };

const VALUES = `# Default values for pay.
replicaCount: 2

image:
  repository: ghcr.io/acme/pay   # built by CI
  tag: 1.4.0 # bumped by the release job
  pullPolicy: IfNotPresent

sidecar:
  image: {repository: ghcr.io/acme/proxy, tag: "1.4.0"}
`;

/** An Argo CD Application's helm: section as discovery resolves it, for the chart at apps/pay. */
const helm = (overrides: Partial<HelmSource> = {}): HelmSource => ({
  valueFiles: ['apps/pay/values.yaml', 'apps/pay/values-prod.yaml'],
  unfollowed: [],
  parameterFile: 'apps/pay/.argocd-source-pay.yaml',
  inCluster: {},
  ...overrides,
});

const target = (source: Pick<EditTarget, 'helm' | 'helmRelease'> & { path?: string }, restores = [PAY]): EditTarget => ({
  path: source.path ?? 'apps/pay',
  rollout: { name: 'pay', namespace: 'shop' },
  restores,
  ...source,
});

describe('restoring the stable image in Helm values (Argo CD)', () => {
  it("changes the image's tag in values.yaml and nothing else, passing over another image's tag and a bare 1.4.0", async () => {
    // podLabels.version equals the tag too, but only image.tag has a repository beside it that names the aborted image.
    const values = `${VALUES}podLabels: {version: 1.4.0}\n`;
    const snapshot = memorySnapshot({ 'apps/pay/Chart.yaml': 'name: pay\n', 'apps/pay/values.yaml': values, 'apps/pay/values-prod.yaml': 'replicaCount: 4\n' });
    expect(await findEdit(snapshot, target({ helm: helm() }))).toEqual({
      file: 'apps/pay/values.yaml',
      text: values.replace('tag: 1.4.0 #', 'tag: 1.3.0 #'),
      edits: ['pay: image.tag 1.4.0 → 1.3.0'],
    });
  });

  it('changes a digest, a whole reference, and a nested key, keeping the quotes', async () => {
    const digest = 'image:\n  repository: ghcr.io/acme/pay\n  digest: "sha256:aaa"  # pinned\n';
    const restore = { container: 'pay', aborted: 'ghcr.io/acme/pay@sha256:aaa', stable: 'ghcr.io/acme/pay@sha256:bbb' };
    expect(await findEdit(memorySnapshot({ 'apps/pay/values.yaml': digest }), target({ helm: helm() }, [restore]))).toMatchObject({
      text: digest.replace('sha256:aaa', 'sha256:bbb'),
      edits: ['pay: image.digest sha256:aaa → sha256:bbb'],
    });
    const whole = "app:\n  image: 'ghcr.io/acme/pay:1.4.0'\n";
    expect(await findEdit(memorySnapshot({ 'apps/pay/values.yaml': whole }), target({ helm: helm() }))).toMatchObject({ text: "app:\n  image: 'ghcr.io/acme/pay:1.3.0'\n" });
    const nested = 'app:\n  image:\n    tag: "1.4.0"\n  version: 2\n';
    expect(await findEdit(memorySnapshot({ 'apps/pay/values.yaml': nested }), target({ helm: helm() }))).toMatchObject({
      text: nested.replace('"1.4.0"', '"1.3.0"'),
      edits: ['pay: app.image.tag 1.4.0 → 1.3.0'],
    });
  });

  it('edits the later values file that Helm takes the tag from, with the repository from an earlier one', async () => {
    const prod = '# production\nimage:\n  tag: 1.4.0\n';
    const overridden = memorySnapshot({ 'apps/pay/values.yaml': VALUES.replace('tag: 1.4.0', 'tag: 1.2.0'), 'apps/pay/values-prod.yaml': prod });
    expect(await findEdit(overridden, target({ helm: helm() }))).toEqual({ file: 'apps/pay/values-prod.yaml', text: prod.replace('1.4.0', '1.3.0'), edits: ['pay: image.tag 1.4.0 → 1.3.0'] });
    // Both set it: the later file wins in Helm, so it is the one that decides (the earlier value no longer counts).
    const both = memorySnapshot({ 'apps/pay/values.yaml': VALUES, 'apps/pay/values-prod.yaml': prod });
    expect(await findEdit(both, target({ helm: helm() }))).toMatchObject({ file: 'apps/pay/values-prod.yaml', text: prod.replace('1.4.0', '1.3.0') });
  });

  it('refuses when several values could be the tag, naming their keys', async () => {
    const values = 'image:\n  tag: 1.4.0\nmigrations:\n  tag: 1.4.0\nchart: {version: 1.3.9}\n';
    expect(await findEdit(memorySnapshot({ 'apps/pay/values.yaml': values }), target({ helm: helm() }))).toEqual({
      reason: "pay's image ghcr.io/acme/pay:1.4.0: image.tag (apps/pay/values.yaml), migrations.tag (apps/pay/values.yaml) all spell it, and write-back cannot tell which one Helm uses for it",
    });
  });

  it('says which files it looked in, and what it found there, when no value sets the image', async () => {
    const found = await findEdit(memorySnapshot({ 'apps/pay/values.yaml': VALUES.replace('tag: 1.4.0', 'tag: 1.3.0') }), target({ helm: helm({ unfollowed: ['$values/envs/prod.yaml'] }) }));
    expect(found).toEqual({
      reason:
        "no Helm value sets pay's image ghcr.io/acme/pay:1.4.0 (looked for ghcr.io/acme/pay:1.4.0, 1.4.0 in apps/pay/values.yaml): sidecar.image.tag (apps/pay/values.yaml) belongs to ghcr.io/acme/proxy; " +
        'apps/pay/values-prod.yaml does not exist; values files $values/envs/prod.yaml are not followed (another source\'s, or outside this repository)',
    });
    expect(JSON.stringify(found)).not.toContain('no longer declares');
  });

  it("says so when the Application's own helm.parameters set the tag: they live in the cluster, not Git", async () => {
    const inCluster = { parameters: [{ name: 'image.tag', value: '1.4.0' }], valuesObject: { replicaCount: 3 } };
    expect(await findEdit(memorySnapshot({ 'apps/pay/values.yaml': VALUES }), target({ helm: helm({ inCluster }) }))).toEqual({
      reason: "pay's image ghcr.io/acme/pay:1.4.0 is set by the Application's helm.parameters image.tag, which lives in the cluster, not Git",
    });
    // A parameter with another value overrides the file's: no value left spells the aborted image.
    const other = { parameters: [{ name: 'image.tag', value: '1.2.0' }] };
    expect(await findEdit(memorySnapshot({ 'apps/pay/values.yaml': VALUES }), target({ helm: helm({ inCluster: other }) }))).toMatchObject({
      reason: expect.stringContaining("image.tag (apps/pay/values.yaml) is overridden by the Application's helm.parameters"),
    });
    const values = { values: 'image:\n  tag: 1.4.0\n' };
    expect(await findEdit(memorySnapshot({ 'apps/pay/values.yaml': VALUES }), target({ helm: helm({ inCluster: values }) }))).toMatchObject({
      reason: expect.stringContaining("is set by the Application's helm.values image.tag"),
    });
  });

  it("edits Argo CD Image Updater's .argocd-source-<app>.yaml, whose parameters override the values files", async () => {
    const overrides = `helm:
  parameters:
  - name: image.name
    value: ghcr.io/acme/pay
    forcestring: true
  - name: image.tag
    value: 1.4.0
    forcestring: true
`;
    const snapshot = memorySnapshot({ 'apps/pay/values.yaml': VALUES, 'apps/pay/.argocd-source-pay.yaml': overrides });
    expect(await findEdit(snapshot, target({ helm: helm() }))).toEqual({
      file: 'apps/pay/.argocd-source-pay.yaml',
      text: overrides.replace('value: 1.4.0', 'value: 1.3.0'),
      edits: ['pay: image.tag 1.4.0 → 1.3.0'],
    });
  });

  it('renames the repository beside the tag when the stable image has another name', async () => {
    const restore = { container: 'pay', aborted: 'ghcr.io/acme/pay:1.4.0', stable: 'registry.acme.dev/pay:1.3.0' };
    expect(await findEdit(memorySnapshot({ 'apps/pay/values.yaml': VALUES }), target({ helm: helm() }, [restore]))).toMatchObject({
      text: VALUES.replace('repository: ghcr.io/acme/pay ', 'repository: registry.acme.dev/pay ').replace('tag: 1.4.0 #', 'tag: 1.3.0 #'),
      edits: ['pay: image.tag 1.4.0 → 1.3.0', 'pay: image.repository ghcr.io/acme/pay → registry.acme.dev/pay'],
    });
  });

  it('restores two containers that share one tag value with the one edit', async () => {
    const migrate = { container: 'migrate', aborted: 'ghcr.io/acme/pay-migrate:1.4.0', stable: 'ghcr.io/acme/pay-migrate:1.3.0' };
    expect(await findEdit(memorySnapshot({ 'apps/pay/values.yaml': VALUES }), target({ helm: helm() }, [PAY, migrate]))).toMatchObject({
      text: VALUES.replace('tag: 1.4.0 #', 'tag: 1.3.0 #'),
      edits: ['pay: image.tag 1.4.0 → 1.3.0'],
    });
  });
});

describe('restoring the stable image in a Flux HelmRelease', () => {
  const RELEASE = `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [release.yaml]
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: pay
  namespace: shop
spec:
  chart:
    spec: {chart: pay, version: 1.4.0, sourceRef: {kind: HelmRepository, name: acme}}
  valuesFrom:
  - kind: ConfigMap
    name: pay-values
  values:
    image:
      repository: ghcr.io/acme/pay
      tag: "1.4.0"   # release
`;

  it("changes the tag in the HelmRelease's spec.values, not the chart's version", async () => {
    const snapshot = memorySnapshot({ 'apps/shop/kustomization.yaml': 'resources: [pay]\n', 'apps/shop/pay/all.yaml': RELEASE });
    expect(await findEdit(snapshot, target({ path: 'apps/shop', helmRelease: { namespace: 'shop', name: 'pay' } }))).toEqual({
      file: 'apps/shop/pay/all.yaml',
      text: RELEASE.replace('"1.4.0"', '"1.3.0"'),
      edits: ['pay: image.tag 1.4.0 → 1.3.0'],
    });
  });

  it('names spec.valuesFrom when spec.values does not set the image, and says when no HelmRelease is found', async () => {
    const snapshot = memorySnapshot({ 'apps/shop/all.yaml': RELEASE.replace('"1.4.0"', '"1.3.0"') });
    expect(await findEdit(snapshot, target({ path: 'apps/shop', helmRelease: { namespace: 'shop', name: 'pay' } }))).toEqual({
      reason:
        "no Helm value sets pay's image ghcr.io/acme/pay:1.4.0 (looked for ghcr.io/acme/pay:1.4.0, 1.4.0 in apps/shop/all.yaml (HelmRelease shop/pay spec.values)); " +
        "the HelmRelease's spec.valuesFrom (ConfigMap/pay-values) lives in the cluster, not Git, and is not looked at",
    });
    expect(await findEdit(snapshot, target({ path: 'apps/shop', helmRelease: { namespace: 'shop', name: 'cart' } }))).toEqual({
      reason: 'no file declares HelmRelease shop/cart under apps/shop',
    });
  });
});

/** Keys that never name an image, so a generated tag has no sibling that rules it out. */
const key = fc.stringMatching(/^[a-z][a-z0-9]{0,7}$/).filter((name) => !['repository', 'image', 'name', 'registry'].includes(name));
const scalar = fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.string({ maxLength: 12 }).filter((text) => !text.includes('1.4')));
const values: fc.Arbitrary<unknown> = fc.letrec<{ node: unknown }>((tie) => ({
  node: fc.oneof({ depthSize: 'small' }, scalar, fc.dictionary(key, tie('node'), { maxKeys: 4 }), fc.array(tie('node'), { maxLength: 3 })),
})).node;

describe('the Helm values edit, for any values document', () => {
  it('changes exactly the one scalar that holds the tag and keeps every other byte', () => {
    fc.assert(
      fc.property(fc.dictionary(key, values, { minKeys: 1, maxKeys: 5 }), fc.array(key, { minLength: 1, maxLength: 4 }), fc.boolean(), (document, path, flow) => {
        // The tag goes in at `path`, under maps made for it, so it is the only place it occurs.
        let at = document as Record<string, unknown>;
        for (const part of path.slice(0, -1)) {
          const next = at[part];
          at[part] = typeof next === 'object' && next !== null && !Array.isArray(next) ? next : {};
          at = at[part] as Record<string, unknown>;
        }
        at[path.at(-1) as string] = '1.4.0';
        const text = stringify(document, { collectionStyle: flow ? 'flow' : 'block' });
        const layer = valuesFileLayer('values.yaml', text);
        if (typeof layer === 'string') throw new Error(layer);
        const found = restoreHelmValues({ layers: [layer], notes: [] }, [PAY]);
        expect(found).toEqual({ file: 'values.yaml', text: text.replace('1.4.0', '1.3.0'), edits: [`pay: ${path.join('.')} 1.4.0 → 1.3.0`] });
      }),
    );
  });
});
