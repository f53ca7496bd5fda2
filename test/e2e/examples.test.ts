import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestNamespace, eventually, installCrds, kubectl, startController, testKubeConfig, type ControllerProcess } from '../harness/e2e.js';

const examplesDir = new URL('../../examples/', import.meta.url).pathname;
const examples = readdirSync(examplesDir).filter((f) => f.endsWith('.yaml'));

describe('examples/', () => {
  let ns: Awaited<ReturnType<typeof createTestNamespace>>;
  let controller: ControllerProcess;
  beforeAll(async () => {
    await installCrds();
    ns = await createTestNamespace('examples');
    controller = await startController(ns.name);
  });
  afterAll(async () => {
    await controller.kill();
    await ns.remove();
  });

  it('has examples to test', () => {
    expect(examples.length).toBeGreaterThanOrEqual(2);
  });

  it.each(examples)('%s is accepted by the apiserver and its Rollouts become Healthy', async (file) => {
    const text = readFileSync(join(examplesDir, file), 'utf8');
    const applied = await kubectl(['apply', '-n', ns.name, '-f', '-'], { input: text });
    expect(applied.code, applied.stderr).toBe(0);
    const names = [...text.matchAll(/kind: Rollout\nmetadata: \{name: ([\w-]+)\}/g)].map((m) => m[1] as string);
    expect(names.length).toBeGreaterThan(0);
    const custom = testKubeConfig().makeApiClient(k8s.CustomObjectsApi);
    for (const name of names) {
      await eventually(`${name} Healthy`, async () => {
        const obj = (await custom.getNamespacedCustomObject({ group: 'fledge.dev', version: 'v1alpha1', namespace: ns.name, plural: 'rollouts', name })) as {
          status?: { phase?: string };
        };
        return obj.status?.phase === 'Healthy' ? true : undefined;
      });
    }
  });
});
