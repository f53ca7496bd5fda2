import { Environment } from '@marcbachmann/cel-js';
import type { SchemaProps } from '../api/crd.js';
import { renderCrds } from '../api/crds.js';

export type SchemaPath = Array<string | number>;
export interface SchemaIssue {
  path: SchemaPath;
  message: string;
}

const celEnvironment = new Environment().registerVariable('self', 'dyn');
const programs = new Map<string, ReturnType<Environment['parse']>>();

function celRule(rule: string): ReturnType<Environment['parse']> {
  let program = programs.get(rule);
  if (program === undefined) {
    program = celEnvironment.parse(rule);
    programs.set(rule, program);
  }
  return program;
}

const typeOf = (value: unknown): string =>
  value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value === 'number' ? (Number.isInteger(value) ? 'integer' : 'number') : typeof value;

function typeMatches(schema: SchemaProps, value: unknown): boolean {
  const actual = typeOf(value);
  if (schema['x-kubernetes-int-or-string'] === true) return actual === 'integer' || actual === 'string';
  if (schema.type === undefined) return true;
  if (schema.type === 'number') return actual === 'number' || actual === 'integer';
  return schema.type === actual;
}

/**
 * What the apiserver checks of a custom resource against its CRD's structural schema, as `kubectl apply` (strict
 * field validation) reports it: unknown fields, types, required fields, value bounds, patterns, enums, and the
 * x-kubernetes-validations CEL rules (transition rules, which compare with oldSelf, need the stored object and are
 * skipped). Every issue is collected, not only the first.
 */
export function validateSchema(value: unknown, schema: SchemaProps, path: SchemaPath = []): SchemaIssue[] {
  const at = (message: string): SchemaIssue => ({ path, message });
  if (value === null && schema.nullable === true) return [];
  if (!typeMatches(schema, value)) {
    const wanted = schema['x-kubernetes-int-or-string'] === true ? 'integer or string' : String(schema.type);
    return [at(`must be of type ${wanted}, not ${typeOf(value)}`)];
  }
  const issues: SchemaIssue[] = [];
  if (Array.isArray(schema.enum) && !schema.enum.includes(value)) issues.push(at(`must be one of ${schema.enum.map((v) => JSON.stringify(v)).join(', ')}`));
  if (typeof value === 'string') {
    if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern).test(value)) issues.push(at(`${JSON.stringify(value)} does not match ${schema.pattern}`));
    if (typeof schema.minLength === 'number' && value.length < schema.minLength) issues.push(at(`must be at least ${schema.minLength} characters`));
    if (typeof schema.maxLength === 'number' && value.length > schema.maxLength) issues.push(at(`must be at most ${schema.maxLength} characters`));
  }
  if (typeof value === 'number') {
    if (typeof schema.minimum === 'number' && value < schema.minimum) issues.push(at(`must be >= ${schema.minimum}`));
    if (typeof schema.maximum === 'number' && value > schema.maximum) issues.push(at(`must be <= ${schema.maximum}`));
  }
  if (Array.isArray(value)) {
    if (typeof schema.minItems === 'number' && value.length < schema.minItems) issues.push(at(`must have at least ${schema.minItems} items`));
    if (typeof schema.maxItems === 'number' && value.length > schema.maxItems) issues.push(at(`must have at most ${schema.maxItems} items`));
    if (schema.items !== undefined) value.forEach((item, index) => issues.push(...validateSchema(item, schema.items as SchemaProps, [...path, index])));
  }
  if (typeOf(value) === 'object') {
    const object = value as Record<string, unknown>;
    if (typeof schema.maxProperties === 'number' && Object.keys(object).length > schema.maxProperties) issues.push(at(`must have at most ${schema.maxProperties} entries`));
    for (const name of schema.required ?? []) if (!(name in object)) issues.push({ path: [...path, name], message: 'is required' });
    const preserve = schema['x-kubernetes-preserve-unknown-fields'] === true;
    for (const [name, child] of Object.entries(object)) {
      const childSchema = schema.properties?.[name] ?? (typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined);
      if (childSchema !== undefined) issues.push(...validateSchema(child, childSchema, [...path, name]));
      else if (!preserve && schema.properties !== undefined) issues.push({ path: [...path, name], message: 'unknown field: the apiserver refuses it' });
    }
  }
  // As the apiserver does, CEL rules run only on a value whose own schema holds.
  if (issues.length === 0) {
    for (const { rule, message } of schema['x-kubernetes-validations'] ?? []) {
      if (/\boldSelf\b/.test(rule)) continue;
      let holds: unknown;
      try {
        holds = celRule(rule)({ self: value });
      } catch {
        // A rule that reads a field the object leaves out errors in cel-js where the apiserver's has() guards it.
        holds = false;
      }
      if (holds !== true) issues.push(at(message));
    }
  }
  return issues;
}

const schemas = new Map(
  Object.values(renderCrds()).map((crd) => {
    const spec = crd.spec as { names: { kind: string }; versions: Array<{ schema: { openAPIV3Schema: SchemaProps } }> };
    return [spec.names.kind, spec.versions[0]?.schema.openAPIV3Schema as SchemaProps] as const;
  }),
);

/** The issues the apiserver would find in one Fledge object, by its kind; undefined for a kind Fledge does not serve. */
export function validateAgainstCrd(object: { kind?: unknown }): SchemaIssue[] | undefined {
  const schema = schemas.get(String(object.kind));
  return schema === undefined ? undefined : validateSchema(object, schema);
}
