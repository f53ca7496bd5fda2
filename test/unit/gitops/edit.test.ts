import { describe, expect, it } from 'vitest';
import { parseImage, restoreKustomizationImages, restoreRolloutImages } from '../../../src/gitops/edit.js';

const MANIFEST = `# The shop's services; owned by team checkout.
apiVersion: v1
kind: Service
metadata: {name: shop-stable}   # stable traffic
spec: {selector: {app: shop}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: fledge.dev/v1alpha1
kind: Rollout
metadata:
  name: shop
spec:
  replicas: 4
  template:
    metadata: {labels: {app: shop}}
    spec:
      initContainers:
      - name: migrate
        image: "registry.example.com/shop-migrate:v2"   # runs first
      containers:
      - {name: shop, image: registry.example.com/shop:v2, ports: [{containerPort: 8080}]}
      - name: sidecar
        image: 'proxy:1.4'
  strategy:
    canary:
      steps: [{setWeight: 20}, {pause: {}}]
`;

describe('restoring the stable images in Git', () => {
  it('changes only the aborted image values in a Rollout manifest, keeping comments, quotes and flow style byte for byte', () => {
    const result = restoreRolloutImages(MANIFEST, { name: 'shop' }, [
      { container: 'shop', aborted: 'registry.example.com/shop:v2', stable: 'registry.example.com/shop:v1' },
      { container: 'migrate', aborted: 'registry.example.com/shop-migrate:v2', stable: 'registry.example.com/shop-migrate:v1' },
      { container: 'sidecar', aborted: 'proxy:1.5', stable: 'proxy:1.3' },
    ]);
    expect(result.changed).toBe(true);
    if (!result.changed) return;
    const expected = MANIFEST.replace('shop:v2,', 'shop:v1,').replace('"registry.example.com/shop-migrate:v2"', '"registry.example.com/shop-migrate:v1"');
    expect(result.text).toBe(expected);
    // The sidecar's image in Git is not the aborted one: it is left alone.
    expect(result.edits).toEqual(['shop: registry.example.com/shop:v2 → registry.example.com/shop:v1', 'migrate: registry.example.com/shop-migrate:v2 → registry.example.com/shop-migrate:v1']);
  });

  it('does nothing when Git no longer declares the aborted image, or declares another Rollout, or does not parse', () => {
    const fixed = MANIFEST.replace('shop:v2,', 'shop:v3,').replace('shop-migrate:v2', 'shop-migrate:v3');
    expect(restoreRolloutImages(fixed, { name: 'shop' }, [{ container: 'shop', aborted: 'registry.example.com/shop:v2', stable: 'registry.example.com/shop:v1' }])).toEqual({
      changed: false,
      reason: 'Rollout shop no longer declares the aborted image',
    });
    expect(restoreRolloutImages(MANIFEST, { name: 'cart' }, [])).toEqual({ changed: false, reason: 'the file declares no Rollout cart' });
    expect(restoreRolloutImages(MANIFEST, { name: 'shop', namespace: 'other' }, []).changed).toBe(false);
    const broken = restoreRolloutImages('kind: Rollout\nmetadata: {name: shop\n', { name: 'shop' }, []);
    expect(broken.changed).toBe(false);
    if (!broken.changed) expect(broken.reason).toMatch(/^the file does not parse/);
  });

  it('quotes a value that a plain scalar cannot hold', () => {
    const text = 'kind: Rollout\nmetadata: {name: a}\nspec:\n  template:\n    spec:\n      containers:\n      - name: a\n        image: a:2 # new\n';
    const result = restoreRolloutImages(text, { name: 'a' }, [{ container: 'a', aborted: 'a:2', stable: 'a: 1' }]);
    expect(result.changed && result.text).toBe(text.replace('image: a:2', 'image: "a: 1"'));
  });

  it('points a kustomization images: entry back at the stable tag, name or digest', () => {
    const kustomization = `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [rollout.yaml]
images:
- name: shop            # the Rollout's image
  newName: registry.example.com/shop
  newTag: "v2"
- name: proxy
  newTag: 1.4
`;
    const result = restoreKustomizationImages(kustomization, [{ container: 'shop', aborted: 'registry.example.com/shop:v2', stable: 'registry.example.com/shop:v1' }]);
    expect(result.changed && result.text).toBe(kustomization.replace('newTag: "v2"', 'newTag: "v1"'));
    const renamed = restoreKustomizationImages(kustomization, [{ container: 'shop', aborted: 'registry.example.com/shop:v2', stable: 'mirror.example.com/shop:v1' }]);
    expect(renamed.changed && renamed.text).toBe(kustomization.replace('newName: registry.example.com/shop', 'newName: mirror.example.com/shop').replace('newTag: "v2"', 'newTag: "v1"'));
    expect(restoreKustomizationImages(kustomization, [{ container: 'shop', aborted: 'registry.example.com/shop:v3', stable: 'registry.example.com/shop:v1' }])).toEqual({
      changed: false,
      reason: 'no images: entry produces the aborted image',
    });
    expect(restoreKustomizationImages('resources: [a.yaml]\n', []).changed).toBe(false);
  });

  it('splits image references as registries write them', () => {
    expect(parseImage('registry:5000/team/shop:v1@sha256:abc')).toEqual({ name: 'registry:5000/team/shop', tag: 'v1', digest: 'sha256:abc' });
    expect(parseImage('registry:5000/team/shop')).toEqual({ name: 'registry:5000/team/shop' });
    expect(parseImage('shop@sha256:abc')).toEqual({ name: 'shop', digest: 'sha256:abc' });
  });
});
