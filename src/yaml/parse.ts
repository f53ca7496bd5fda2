// js-yaml for plain values: YAML in, objects out and back, where no comment or layout needs to survive.
import yaml from 'js-yaml';

/** Every document of a multi-document text, as plain values. */
export function parseAll(text: string): unknown[] {
  return yaml.loadAll(text);
}

/**
 * A value as YAML: block style, lines never folded, a repeated object written out again rather than as an anchor.
 * The generated CRDs in crds/ and `get -o yaml` are this library's output, byte for byte, so it stays js-yaml.
 */
export function dump(value: unknown): string {
  return yaml.dump(value, { noRefs: true, lineWidth: -1 });
}
