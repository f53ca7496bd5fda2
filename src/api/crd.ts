import { z } from 'zod';
import { GROUP, VERSION } from './rollout.js';

/** An OpenAPI v3 schema as CustomResourceDefinitions take it (structural). */
export interface SchemaProps {
  [key: string]: unknown;
  type?: string;
  properties?: Record<string, SchemaProps>;
  items?: SchemaProps;
  required?: string[];
  additionalProperties?: SchemaProps | boolean;
  anyOf?: SchemaProps[];
  'x-kubernetes-validations'?: CelRule[];
}

export interface CelRule {
  rule: string;
  message: string;
}

export class SchemaConversionError extends Error {
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(`cannot express ${path || '<root>'} as a structural schema: ${reason}`);
    this.name = 'SchemaConversionError';
  }
}

/** Keys that pass through unchanged: value validations and Kubernetes extensions. */
const KEPT_KEYS = new Set([
  'type',
  'description',
  'enum',
  'pattern',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'minLength',
  'maxLength',
  'minItems',
  'maxItems',
  'maxProperties',
  'format',
  'nullable',
  // A default the apiserver applies (structural defaulting); it is in the input shape only when written with .meta().
  'default',
  'x-kubernetes-validations',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
]);

// zod writes the bounds of a safe integer on every int; they say nothing to the apiserver.
const SAFE_BOUNDS = new Set([Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]);

function isEmptySchema(value: unknown): boolean {
  return typeof value === 'object' && value !== null && Object.keys(value).length === 0;
}

/**
 * Rewrites zod's JSON Schema into what Kubernetes accepts: no `$ref` (zod inlines), no
 * `additionalProperties: false`, int-or-string for integer|string unions, preserve-unknown-fields
 * for open objects, and unions of objects (the canary steps) merged into one object with a CEL
 * rule that exactly one alternative is present. Anything else it cannot express throws, so a
 * schema change that Kubernetes could not enforce fails the generator rather than loosening the CRD.
 */
export function toStructural(schema: SchemaProps, path = ''): SchemaProps {
  if (Array.isArray(schema.anyOf)) return unionToStructural(schema, path);
  const out: SchemaProps = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === '$schema') continue;
    if (key === 'properties') {
      out.properties = Object.fromEntries(
        Object.entries(value as Record<string, SchemaProps>).map(([name, child]) => [name, toStructural(child, `${path}.${name}`)]),
      );
    } else if (key === 'items') {
      out.items = toStructural(value as SchemaProps, `${path}[]`);
    } else if (key === 'additionalProperties') {
      if (value === false) continue;
      if (isEmptySchema(value) || value === true) out['x-kubernetes-preserve-unknown-fields'] = true;
      else out.additionalProperties = toStructural(value as SchemaProps, `${path}{}`);
    } else if (key === 'required') {
      out.required = value as string[];
    } else if ((key === 'minimum' || key === 'maximum') && SAFE_BOUNDS.has(value as number)) {
      continue;
    } else if (KEPT_KEYS.has(key)) {
      out[key] = value;
    } else {
      throw new SchemaConversionError(path, `unsupported keyword ${key}`);
    }
  }
  if (out.type === undefined && out['x-kubernetes-preserve-unknown-fields'] !== true) {
    throw new SchemaConversionError(path, 'no type');
  }
  return out;
}

function unionToStructural(schema: SchemaProps, path: string): SchemaProps {
  const branches = (schema.anyOf ?? []).map((branch) => toStructural(branch, path));
  const { anyOf: _anyOf, ...outer } = schema;
  const extra = toStructural({ type: 'object', ...outer }, path);
  delete extra.type;
  const types = new Set(branches.map((branch) => branch.type));

  if (types.size === 2 && types.has('integer') && types.has('string')) {
    // JSON Schema applies pattern only to strings and minimum only to numbers, so both can sit side by side.
    const merged: SchemaProps = { 'x-kubernetes-int-or-string': true, ...extra };
    for (const branch of branches) {
      for (const [key, value] of Object.entries(branch)) if (key !== 'type') merged[key] = value;
    }
    return merged;
  }

  if (types.size === 1 && types.has('object')) {
    const properties: Record<string, SchemaProps> = {};
    const alternatives: string[][] = [];
    for (const branch of branches) {
      Object.assign(properties, branch.properties ?? {});
      alternatives.push(branch.required ?? Object.keys(branch.properties ?? {}));
    }
    const names = alternatives.map((keys) => keys.join('+'));
    const present = alternatives.map((keys) => `(${keys.map((key) => `has(self.${key})`).join(' && ')} ? 1 : 0)`);
    const rule: CelRule = {
      rule: `${present.join(' + ')} == 1`,
      message: `must have exactly one of ${names.join(', ')}`,
    };
    return {
      type: 'object',
      properties,
      ...extra,
      'x-kubernetes-validations': [...(extra['x-kubernetes-validations'] ?? []), rule],
    };
  }

  throw new SchemaConversionError(path, `union of ${[...types].join(', ')}`);
}

/** A zod schema as a structural OpenAPI schema (the input shape: what users write). */
export function structuralSchemaOf(schema: z.ZodType): SchemaProps {
  const json = z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input', reused: 'inline', cycles: 'throw' });
  return toStructural(json as SchemaProps);
}

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description?: string;
  priority?: number;
}

export interface CrdDefinition {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  scope: 'Namespaced' | 'Cluster';
  categories: string[];
  spec: z.ZodType;
  status?: z.ZodType;
  printerColumns: PrinterColumn[];
  /** Paths for the scale subresource, so an HPA can drive spec.replicas. */
  scale?: { specReplicasPath: string; statusReplicasPath: string; labelSelectorPath: string };
}

/** The apiextensions.k8s.io/v1 CustomResourceDefinition for one kind, served and stored at v1alpha1. */
export function customResourceDefinition(definition: CrdDefinition): Record<string, unknown> {
  const properties: Record<string, SchemaProps> = {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    metadata: { type: 'object' },
    spec: structuralSchemaOf(definition.spec),
  };
  // A status from the first read on, with observedGeneration 0 below metadata.generation: kstatus (Flux) would call an
  // object without status Current, and a Kustomization waiting on a Rollout the controller never looked at pass.
  if (definition.status !== undefined) properties.status = { ...structuralSchemaOf(definition.status), default: {} };
  const subresources: Record<string, unknown> = {};
  if (definition.status !== undefined) subresources.status = {};
  if (definition.scale !== undefined) subresources.scale = definition.scale;
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${definition.plural}.${GROUP}` },
    spec: {
      group: GROUP,
      names: {
        kind: definition.kind,
        listKind: `${definition.kind}List`,
        plural: definition.plural,
        singular: definition.singular,
        shortNames: definition.shortNames,
        categories: definition.categories,
      },
      scope: definition.scope,
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: { type: 'object', required: ['spec'], properties } },
          subresources,
          additionalPrinterColumns: definition.printerColumns,
        },
      ],
    },
  };
}
