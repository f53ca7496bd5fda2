/**
 * `{{args.name}}` substitution that cannot change a query's structure. Each placeholder's context in
 * the template decides how its value goes in:
 * - inside a PromQL string literal, the value is escaped for that literal (backslash, quote, newline),
 *   so it can never close the string; after `=~` or `!~` it is also regex-escaped, so it matches itself
 *   and nothing more;
 * - anywhere else the value must be a single token (a number, a duration such as 5m, or an identifier);
 *   anything else (spaces, operators, braces) is refused with an error instead of being spliced in.
 * The template is written by the team; the values come from Rollouts and Secrets, which is why they are
 * the ones held to this.
 */
export class ArgumentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArgumentError';
  }
}

const PLACEHOLDER = /\{\{\s*args\.([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}/g;
const BARE_TOKEN = /^(?:[0-9]+(?:\.[0-9]+)?|(?:[0-9]+(?:ms|s|m|h|d|w|y))+|[A-Za-z_:][A-Za-z0-9_:]*)$/;

/** Words that are operators or modifiers in PromQL: as bare values they would change the expression. */
const PROMQL_KEYWORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'atan2']);

type Context = { kind: 'bare' } | { kind: 'string'; quote: string; regex: boolean };

/** The lexical context at each offset of a PromQL template: inside which string literal, if any. */
function contextAt(template: string, offset: number): Context {
  let quote: string | undefined;
  let regex = false;
  for (let i = 0; i < offset; i++) {
    const ch = template[i] as string;
    if (quote !== undefined) {
      if (ch === '\\' && quote !== '`') i++;
      else if (ch === quote) quote = undefined;
      continue;
    }
    if (ch === '"' || ch === "'" || ch === '`') {
      quote = ch;
      const before = template.slice(0, i).trimEnd();
      regex = before.endsWith('=~') || before.endsWith('!~');
    }
  }
  return quote === undefined ? { kind: 'bare' } : { kind: 'string', quote, regex };
}

function escapeRegex(value: string): string {
  return value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function escapeForString(value: string, quote: string): string {
  if (quote === '`') {
    if (value.includes('`')) throw new ArgumentError('a value inside a `raw string` may not contain a backtick');
    return value;
  }
  return value.replace(/\\/g, '\\\\').replace(new RegExp(quote, 'g'), `\\${quote}`).replace(/\n/g, '\\n').replace(/\r/g, '\\r');
}

/** Substitutes every placeholder; throws ArgumentError for a missing argument or a value unsafe for its context. */
export function renderPromQL(template: string, args: Record<string, string>): string {
  return template.replace(PLACEHOLDER, (_match, name: string, offset: number) => {
    const value = args[name];
    if (value === undefined) throw new ArgumentError(`argument ${name} has no value`);
    const context = contextAt(template, offset);
    if (context.kind === 'string') return escapeForString(context.regex ? escapeRegex(value) : value, context.quote);
    if (!BARE_TOKEN.test(value) || PROMQL_KEYWORDS.has(value.toLowerCase())) {
      throw new ArgumentError(`argument ${name} (${JSON.stringify(value)}) is not a single number, duration or name, so it may only be used inside a quoted string`);
    }
    return value;
  });
}

/** For URLs: every value is percent-encoded, so it stays one path segment or query value. */
export function renderUrl(template: string, args: Record<string, string>): string {
  return template.replace(PLACEHOLDER, (_match, name: string) => {
    const value = args[name];
    if (value === undefined) throw new ArgumentError(`argument ${name} has no value`);
    return encodeURIComponent(value);
  });
}

/** For JSON bodies and headers: values are JSON-string-escaped, so they cannot end the string they sit in. */
export function renderText(template: string, args: Record<string, string>): string {
  return template.replace(PLACEHOLDER, (_match, name: string) => {
    const value = args[name];
    if (value === undefined) throw new ArgumentError(`argument ${name} has no value`);
    return JSON.stringify(value).slice(1, -1);
  });
}
