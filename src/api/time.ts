/** Status timestamps are RFC 3339 strings; the core computes in epoch ms. */
export function toTimestamp(epochMs: number): string {
  return new Date(epochMs).toISOString();
}

/** Undefined for absent or unparseable input, so a hand-edited status cannot crash a reconcile. */
export function parseTimestamp(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const epochMs = Date.parse(value);
  return Number.isNaN(epochMs) ? undefined : epochMs;
}
