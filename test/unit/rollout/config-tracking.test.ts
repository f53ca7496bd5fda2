import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { PodTemplate } from '../../../src/api/rollout.js';
import {
  ConfigSourceIndex,
  configContentHash,
  configCopyName,
  configReferences,
  configTrackingEnabled,
  resolveConfig,
  unusedCopies,
  type SourceLookup,
} from '../../../src/rollout/config/tracking.js';
import { podTemplateHash } from '../../../src/rollout/decide/revision.js';

/** A template naming config in every place the pod spec can: env, envFrom, volumes, projected, init and ephemeral containers. */
const everywhere: PodTemplate = {
  metadata: { labels: { app: 'api' } },
  spec: {
    initContainers: [{ name: 'init', image: 'busybox', envFrom: [{ secretRef: { name: 'init-secret' } }] }],
    containers: [
      {
        name: 'api',
        image: 'api:1',
        env: [
          { name: 'A', valueFrom: { configMapKeyRef: { name: 'settings', key: 'a' } } },
          { name: 'B', valueFrom: { secretKeyRef: { name: 'creds', key: 'b', optional: true } } },
          { name: 'C', value: 'plain' },
          { name: 'D', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        ],
        envFrom: [{ configMapRef: { name: 'settings' } }, { secretRef: { name: 'creds', optional: true } }],
      },
    ],
    ephemeralContainers: [{ name: 'debug', image: 'busybox', envFrom: [{ configMapRef: { name: 'debug-env', optional: true } }] }],
    volumes: [
      { name: 'files', configMap: { name: 'files' } },
      { name: 'tls', secret: { secretName: 'tls' } },
      { name: 'both', projected: { sources: [{ configMap: { name: 'projected-cm' } }, { secret: { name: 'projected-secret', optional: true } }, { downwardAPI: { items: [] } }] } },
      { name: 'scratch', emptyDir: {} },
    ],
    imagePullSecrets: [{ name: 'registry' }],
  },
};

const hashes: Record<string, string> = {};
const present =
  (...names: string[]): SourceLookup =>
  (kind, name) =>
    names.includes(`${kind}/${name}`) ? { hash: (hashes[`${kind}/${name}`] ??= configContentHash('api', { data: { of: `${kind}/${name}` } })) } : undefined;

describe('configReferences', () => {
  it('finds every ConfigMap and Secret the pods read, once each, and not image pull secrets', () => {
    expect(configReferences(everywhere)).toEqual([
      { kind: 'Secret', name: 'init-secret', optional: false },
      { kind: 'ConfigMap', name: 'settings', optional: false },
      { kind: 'Secret', name: 'creds', optional: true },
      { kind: 'ConfigMap', name: 'debug-env', optional: true },
      { kind: 'ConfigMap', name: 'files', optional: false },
      { kind: 'Secret', name: 'tls', optional: false },
      { kind: 'ConfigMap', name: 'projected-cm', optional: false },
      { kind: 'Secret', name: 'projected-secret', optional: true },
    ]);
  });

  it('is required as soon as one place requires it', () => {
    const template: PodTemplate = {
      spec: { containers: [{ name: 'a', envFrom: [{ configMapRef: { name: 'x', optional: true } }] }], volumes: [{ name: 'v', configMap: { name: 'x' } }] },
    };
    expect(configReferences(template)).toEqual([{ kind: 'ConfigMap', name: 'x', optional: false }]);
  });

  it('ignores malformed and empty entries instead of throwing', () => {
    const template = { spec: { containers: 'nope', volumes: [null, { configMap: { name: '' } }, { secret: {} }] } } as unknown as PodTemplate;
    expect(configReferences(template)).toEqual([]);
  });
});

describe('configCopyName', () => {
  it('is the source name and the hash', () => {
    expect(configCopyName('settings', 'bcdfg24567')).toBe('settings-bcdfg24567');
  });

  it('stays a valid DNS-1123 subdomain within 253 characters for any valid source name', () => {
    const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/);
    const subdomain = fc.array(label, { minLength: 1, maxLength: 6 }).map((labels) => labels.join('.')).filter((name) => name.length <= 253);
    const hash = fc.stringMatching(/^[bcdfghjklmnpqrstvwxz2456789]{10}$/);
    fc.assert(
      fc.property(subdomain, hash, (source, h) => {
        const copy = configCopyName(source, h);
        expect(copy.length).toBeLessThanOrEqual(253);
        expect(copy.endsWith(`-${h}`)).toBe(true);
        for (const part of copy.split('.')) expect(part).toMatch(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/);
      }),
    );
  });
});

describe('configContentHash', () => {
  it('differs between two Rollouts reading the same content, so neither shares nor collects the other one\'s copy', () => {
    expect(configContentHash('api', { data: { a: '1' } })).not.toBe(configContentHash('web', { data: { a: '1' } }));
  });

  it('for one Rollout, depends on the content only: key order does not matter, a changed value does', () => {
    expect(configContentHash('api', { data: { a: '1', b: '2' } })).toBe(configContentHash('api', { data: { b: '2', a: '1' } }));
    expect(configContentHash('api', { data: { a: '1' } })).not.toBe(configContentHash('api', { data: { a: '2' } }));
    expect(configContentHash('api', { data: { a: '1' } })).not.toBe(configContentHash('api', { binaryData: { a: '1' } }));
    expect(configContentHash('api', { data: { a: '1' }, type: 'Opaque' })).not.toBe(configContentHash('api', { data: { a: '1' }, type: 'kubernetes.io/tls' }));
  });
});

describe('resolveConfig', () => {
  it('leaves a template without references exactly as it is, so its revision does not change on upgrade', () => {
    const plain: PodTemplate = { metadata: { labels: { app: 'api' } }, spec: { containers: [{ name: 'api', image: 'api:1', env: [{ name: 'X', value: '1' }] }] } };
    const before = podTemplateHash(plain);
    const resolved = resolveConfig(plain, () => {
      throw new Error('nothing to look up');
    });
    expect(resolved).toEqual({ template: plain, copies: [], missing: [] });
    expect(podTemplateHash(resolved.template)).toBe(before);
  });

  it('points every reference at its copy and leaves the Rollout template untouched', () => {
    const original = structuredClone(everywhere);
    const all = configReferences(everywhere).map((ref) => `${ref.kind}/${ref.name}`);
    const resolved = resolveConfig(everywhere, present(...all));
    expect(everywhere).toEqual(original);
    expect(resolved.missing).toEqual([]);
    expect(resolved.copies.map((c) => c.copy)).toEqual(configReferences(everywhere).map((ref) => configCopyName(ref.name, hashes[`${ref.kind}/${ref.name}`] ?? '')));
    // The rewritten template names only copies, in every place the original named a source.
    const rewrittenRefs = configReferences(resolved.template).map((ref) => ref.name);
    expect(rewrittenRefs).toEqual(resolved.copies.map((c) => c.copy));
    const spec = resolved.template.spec as { volumes: Array<{ secret?: { secretName: string } }>; imagePullSecrets: unknown };
    expect(spec.volumes[1]?.secret?.secretName).toBe(configCopyName('tls', hashes['Secret/tls'] ?? ''));
    expect(spec.imagePullSecrets).toEqual([{ name: 'registry' }]);
  });

  it('reports a missing required source, and leaves a missing optional one as named', () => {
    const resolved = resolveConfig(everywhere, present('ConfigMap/settings', 'Secret/init-secret', 'Secret/tls', 'ConfigMap/projected-cm'));
    expect(resolved.missing).toEqual(['ConfigMap/files']);
    const names = configReferences(resolved.template).map((ref) => ref.name);
    expect(names).toContain('creds');
    expect(names).toContain('files');
    expect(names).not.toContain('settings');
  });

  it('gives a new revision for new content and the same revision for the same content', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.string()), fc.dictionary(fc.string(), fc.string()), (first, second) => {
        const revisionFor = (data: Record<string, string>): string =>
          podTemplateHash(resolveConfig(everywhere, (kind, name) => ({ hash: configContentHash('api', kind === 'ConfigMap' && name === 'settings' ? { data } : {}) })).template);
        expect(revisionFor(first)).toBe(revisionFor({ ...first }));
        const same = configContentHash('api', { data: first }) === configContentHash('api', { data: second });
        expect(revisionFor(first) === revisionFor(second)).toBe(same);
      }),
    );
  });
});

describe('unusedCopies', () => {
  it('keeps the copies a template in use names and returns the rest', () => {
    const inUse = resolveConfig(everywhere, present('ConfigMap/settings', 'Secret/init-secret', 'ConfigMap/files', 'Secret/tls', 'ConfigMap/projected-cm')).template;
    const settingsCopy = configCopyName('settings', hashes['ConfigMap/settings'] ?? '');
    const owned = [
      { kind: 'ConfigMap' as const, name: settingsCopy },
      { kind: 'ConfigMap' as const, name: 'settings-oldoldold2' },
      // Same name, other kind: a Secret named like a ConfigMap copy is not in use.
      { kind: 'Secret' as const, name: settingsCopy },
    ];
    expect(unusedCopies(owned, [inUse])).toEqual([owned[1], owned[2]]);
    expect(unusedCopies(owned, [])).toEqual(owned);
  });
});

describe('configTrackingEnabled', () => {
  it('is on unless the Rollout opts out', () => {
    expect(configTrackingEnabled({})).toBe(true);
    expect(configTrackingEnabled({ configTracking: {} })).toBe(true);
    expect(configTrackingEnabled({ configTracking: { enabled: true } })).toBe(true);
    expect(configTrackingEnabled({ configTracking: { enabled: false } })).toBe(false);
  });
});

describe('ConfigSourceIndex', () => {
  it('maps a source to the Rollouts that read it, following their changes', () => {
    const index = new ConfigSourceIndex();
    index.set('shop', 'api', [{ kind: 'ConfigMap', name: 'settings', optional: false }]);
    index.set('shop', 'web', [{ kind: 'ConfigMap', name: 'settings', optional: false }, { kind: 'Secret', name: 'creds', optional: false }]);
    expect(index.readersOf('shop', 'ConfigMap', 'settings').sort()).toEqual(['shop/api', 'shop/web']);
    expect(index.readersOf('shop', 'Secret', 'settings')).toEqual([]);
    expect(index.readersOf('other', 'ConfigMap', 'settings')).toEqual([]);
    index.set('shop', 'web', []);
    expect(index.readersOf('shop', 'ConfigMap', 'settings')).toEqual(['shop/api']);
    expect(index.readersOf('shop', 'Secret', 'creds')).toEqual([]);
  });
});
