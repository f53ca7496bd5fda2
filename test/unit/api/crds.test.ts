import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { SchemaConversionError, structuralSchemaOf, type SchemaProps } from '../../../src/api/crd.js';
import { CRD_OUTPUT_DIRS, crdFileContents } from '../../../src/api/crd-yaml.js';
import { renderCrds } from '../../../src/api/crds.js';

const crdsDir = join(import.meta.dirname, '..', '..', '..', 'crds');

function walk(schema: unknown, visit: (node: Record<string, unknown>, path: string) => void, path = ''): void {
  if (typeof schema !== 'object' || schema === null) return;
  const node = schema as Record<string, unknown>;
  visit(node, path);
  for (const [name, child] of Object.entries((node.properties ?? {}) as Record<string, unknown>)) walk(child, visit, `${path}.${name}`);
  if (node.items !== undefined) walk(node.items, visit, `${path}[]`);
  if (typeof node.additionalProperties === 'object') walk(node.additionalProperties, visit, `${path}{}`);
}

function rolloutSchema(): SchemaProps {
  const crd = renderCrds()['fledge.dev_rollouts.yaml'] as { spec: { versions: Array<{ schema: { openAPIV3Schema: SchemaProps } }> } };
  return crd.spec.versions[0]!.schema.openAPIV3Schema;
}

describe('CRDs generated from the zod schemas', () => {
  it('match the files in crds/ and the Helm chart (run `npm run gen:crds` after changing src/api)', () => {
    for (const dir of CRD_OUTPUT_DIRS) {
      const files = Object.entries(crdFileContents(dir));
      expect(files.length).toBeGreaterThanOrEqual(4);
      for (const [file, text] of files) {
        expect(readFileSync(join(crdsDir, '..', dir, file), 'utf8'), `${dir}/${file} is stale`).toBe(text);
      }
    }
  });

  it('are structural: a type or an extension at every level, no $ref, no additionalProperties: false', () => {
    const problems: string[] = [];
    const schemas = Object.entries(renderCrds()).map(([file, crd]) => [file, (crd as { spec: { versions: Array<{ schema: { openAPIV3Schema: SchemaProps } }> } }).spec.versions[0]!.schema.openAPIV3Schema] as const);
    expect(schemas.map(([file]) => file).sort()).toEqual([
      'fledge.dev_analysisruns.yaml',
      'fledge.dev_analysistemplates.yaml',
      'fledge.dev_clusteranalysistemplates.yaml',
      'fledge.dev_rollouts.yaml',
    ]);
    for (const [file, schema] of schemas) walk(schema, (node, path) => {
      path = `${file}${path}`;
      if ('$ref' in node) problems.push(`${path}: $ref`);
      if (node.additionalProperties === false) problems.push(`${path}: additionalProperties false`);
      if ('anyOf' in node || 'oneOf' in node) problems.push(`${path}: union`);
      const typed = node.type !== undefined || node['x-kubernetes-int-or-string'] === true || node['x-kubernetes-preserve-unknown-fields'] === true;
      if (!typed) problems.push(`${path}: no type`);
    });
    expect(problems).toEqual([]);
  });

  it('keep the pod template open, durations and surge int-or-string, and weights bounded', () => {
    const spec = rolloutSchema().properties!.spec!;
    expect(spec.properties!.template!.properties!.spec).toEqual({ type: 'object', 'x-kubernetes-preserve-unknown-fields': true });
    const canary = spec.properties!.strategy!.properties!.canary!;
    expect(canary.properties!.maxSurge).toMatchObject({ 'x-kubernetes-int-or-string': true, pattern: '^[0-9]+%$', minimum: 0 });
    const step = canary.properties!.steps!.items!;
    expect(step.properties!.setWeight).toEqual({ type: 'integer', minimum: 0, maximum: 100 });
    expect(step.properties!.pause!.properties!.duration).toMatchObject({ 'x-kubernetes-int-or-string': true });
    expect(step['x-kubernetes-validations']![0]!.message).toBe('must have exactly one of setWeight, pause, setCanaryScale, analysis, setHeaderRoute, setMirrorRoute, experiment');
  });

  it('refuse a union Kubernetes cannot express instead of loosening the schema', () => {
    expect(() => structuralSchemaOf(z.object({ either: z.union([z.boolean(), z.string()]) }))).toThrow(SchemaConversionError);
    expect(() => structuralSchemaOf(z.object({ either: z.union([z.boolean(), z.string()]) }))).toThrow(/\.either/);
  });
});
