import { z } from 'zod';

/** Durations as users write them: `30s`, `5m`, `1h`, `1h30m`, `250ms`, or a bare number of seconds. */
export const DURATION_PATTERN = '^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$|^[0-9]+$';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export class DurationError extends Error {
  constructor(readonly input: string) {
    super(`invalid duration ${JSON.stringify(input)}: use forms like 30s, 5m, 1h, 1h30m or a bare number of seconds`);
    this.name = 'DurationError';
  }
}

/** Parses a duration to milliseconds; throws DurationError on anything else. */
export function parseDuration(input: string | number): number {
  if (typeof input === 'number') {
    if (!Number.isFinite(input) || input < 0) throw new DurationError(String(input));
    return input * 1000;
  }
  const text = input.trim();
  if (/^[0-9]+$/.test(text)) return Number(text) * 1000;
  if (!new RegExp(DURATION_PATTERN).test(text)) throw new DurationError(input);
  let total = 0;
  for (const [, amount, unit] of text.matchAll(/([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/g)) {
    total += Number(amount) * (UNIT_MS[unit as string] as number);
  }
  return total;
}

/** A duration field: a string in the forms above or a non-negative integer of seconds. */
export const Duration = z
  .union([z.string().regex(new RegExp(DURATION_PATTERN)), z.number().int().min(0)])
  .meta({ description: 'Duration such as 30s, 5m, 1h or a bare number of seconds.' });
export type Duration = z.infer<typeof Duration>;
