/** Characters that need no quoting in a POSIX shell word. */
const PLAIN = /^[\w@%+=:,./-]+$/;

/** `value` as one shell word: unchanged when plain (so the common path stays greppable), else single-quoted. */
export function shellQuote(value: string): string {
  if (PLAIN.test(value)) return value;
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** `export NAME=value` lines for `eval "$(...)"`: a fresh shell, and every program it starts, sees them. */
export function exportLines(vars: Record<string, string>): string {
  return Object.entries(vars)
    .map(([name, value]) => `export ${name}=${shellQuote(value)}\n`)
    .join('');
}
