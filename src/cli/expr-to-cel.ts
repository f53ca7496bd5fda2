import { compileCondition, ConditionError, type ResultType } from '../analysis/condition.js';
import { conditionForTypeCheck } from '../analysis/metric-args.js';

/** A condition in Argo's expr-lang, as CEL over Fledge's `result`, with what the reader must know; or why not. */
export type Translation = { ok: true; cel: string; notes: string[] } | { ok: false; reason: string };

/** `before` is the whitespace that preceded the token, so the translation keeps the author's spacing. */
type Token = { kind: 'number' | 'string' | 'ident' | 'punct' | 'arg'; text: string; before: string };

const PUNCTUATION = ['&&', '||', '==', '!=', '>=', '<=', '**', '..', '?.', '??', '(', ')', '[', ']', '{', '}', ',', '.', '<', '>', '!', '+', '-', '*', '/', '%', '?', ':', '#'];

class Untranslatable extends Error {}

function tokenize(expression: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let before = '';
  while (i < expression.length) {
    const rest = expression.slice(i);
    const space = /^\s+/.exec(rest);
    if (space) {
      before = space[0];
      i += space[0].length;
      continue;
    }
    const arg = /^\{\{\s*args\.[A-Za-z_][A-Za-z0-9_-]*\s*\}\}/.exec(rest);
    if (arg !== null) {
      tokens.push({ kind: 'arg', text: arg[0], before });
      before = '';
      i += arg[0].length;
      continue;
    }
    if (rest.startsWith('{{')) throw new Untranslatable('{{...}} in a condition other than {{args.name}}');
    const number = /^(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+)/.exec(rest);
    const ident = /^[A-Za-z_$][A-Za-z0-9_$]*/.exec(rest);
    const string = /^(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')/.exec(rest);
    const punct = PUNCTUATION.find((p) => rest.startsWith(p));
    const [kind, text] = number ? (['number', number[0]] as const) : ident ? (['ident', ident[0]] as const) : string ? (['string', string[0]] as const) : punct ? (['punct', punct] as const) : [undefined, rest[0]];
    if (kind === undefined) throw new Untranslatable(`unexpected character ${JSON.stringify(text)}`);
    tokens.push({ kind, text, before });
    before = '';
    i += text.length;
  }
  return tokens;
}

const KEYWORDS: Record<string, string> = { and: '&&', or: '||', not: '!', true: 'true', false: 'false' };
/** expr-lang's predicate builtins and the CEL macro that means the same over a list. */
const MACROS: Record<string, (list: string, predicate: string) => string> = {
  all: (list, p) => `${list}.all(x, ${p})`,
  any: (list, p) => `${list}.exists(x, ${p})`,
  none: (list, p) => `!${list}.exists(x, ${p})`,
  one: (list, p) => `${list}.exists_one(x, ${p})`,
  filter: (list, p) => `${list}.filter(x, ${p})`,
  map: (list, p) => `${list}.map(x, ${p})`,
};
const NO_DATA_NOTE =
  'Fledge never hands an empty or NaN answer to a condition: it is Inconclusive (noDataPolicy), where Argo passed it through this condition; set noDataPolicy: Pass or Fail on the metric to decide it';

/** Splits the tokens between a call's parentheses into its arguments. */
function splitArguments(tokens: Token[]): Token[][] {
  const args: Token[][] = [[]];
  let depth = 0;
  for (const token of tokens) {
    if (token.kind === 'punct' && ['(', '[', '{'].includes(token.text)) depth++;
    if (token.kind === 'punct' && [')', ']', '}'].includes(token.text)) depth--;
    if (depth === 0 && token.kind === 'punct' && token.text === ',') args.push([]);
    else (args.at(-1) as Token[]).push(token);
  }
  return args.length === 1 && args[0]?.length === 0 ? [] : args;
}

/** The index of the token closing the bracket at `open`. */
function closing(tokens: Token[], open: number): number {
  let depth = 0;
  for (let i = open; i < tokens.length; i++) {
    const text = (tokens[i] as Token).kind === 'punct' ? (tokens[i] as Token).text : '';
    if (['(', '[', '{'].includes(text)) depth++;
    if ([')', ']', '}'].includes(text) && --depth === 0) return i;
  }
  throw new Untranslatable('unbalanced brackets');
}

function translateTokens(tokens: Token[], notes: Set<string>, inPredicate: boolean): string {
  const out: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i] as Token;
    const next = tokens[i + 1];
    if (token.kind === 'ident' && !(token.text in KEYWORDS) && next?.kind === 'punct' && next.text === '(' && tokens[i - 1]?.text !== '.') {
      const end = closing(tokens, i + 1);
      const args = splitArguments(tokens.slice(i + 2, end));
      out.push(token.before + translateCall(token.text, args, notes, inPredicate));
      i = end;
      continue;
    }
    if (token.kind === 'ident') {
      if (token.text in KEYWORDS) out.push(token.before + (KEYWORDS[token.text] as string));
      else if (token.text === 'result') out.push(token.before + 'result');
      else if (token.text === 'nil') throw new Untranslatable('nil: Fledge never hands a missing result to a condition (noDataPolicy decides)');
      else throw new Untranslatable(`unknown name ${token.text}`);
      continue;
    }
    if (token.kind === 'punct') {
      if (token.text === '#') {
        if (!inPredicate) throw new Untranslatable('# outside a predicate');
        out.push(`${token.before}x`);
        continue;
      }
      if (['**', '..', '?.', '??', '{', '}'].includes(token.text)) throw new Untranslatable(`operator ${token.text} has no CEL equivalent here`);
    }
    out.push(token.before + token.text);
  }
  return out.join('').trim();
}

function translateCall(name: string, args: Token[][], notes: Set<string>, inPredicate: boolean): string {
  const arg = (index: number): string => translateTokens(args[index] ?? [], notes, inPredicate);
  const arity = (count: number): void => {
    if (args.length !== count) throw new Untranslatable(`${name}() with ${args.length} arguments`);
  };
  switch (name) {
    case 'len':
      arity(1);
      return `size(${arg(0)})`;
    case 'isNaN':
      arity(1);
      notes.add(NO_DATA_NOTE);
      // NaN is the one value not equal to itself (IEEE 754, which CEL follows).
      return `(${arg(0)} != ${arg(0)})`;
    case 'default':
      arity(2);
      notes.add(NO_DATA_NOTE);
      return arg(0);
    case 'asFloat':
      arity(1);
      return `double(${arg(0)})`;
    case 'asInt':
      arity(1);
      return `int(${arg(0)})`;
    case 'abs':
      arity(1);
      return `(${arg(0)} < 0.0 ? -${arg(0)} : ${arg(0)})`;
  }
  const macro = MACROS[name];
  if (macro !== undefined) {
    arity(2);
    const predicate = args[1] ?? [];
    const first = predicate[0];
    const last = predicate.at(-1);
    if (first?.text !== '{' || last?.text !== '}') throw new Untranslatable(`${name}() without a {predicate}`);
    return macro(arg(0), translateTokens(predicate.slice(1, -1), notes, true));
  }
  throw new Untranslatable(`function ${name}() has no CEL equivalent in Fledge`);
}

/** Why Fledge refuses a condition, or undefined when it type-checks. */
function typeCheck(cel: string, resultType: ResultType): string | undefined {
  try {
    compileCondition(conditionForTypeCheck(cel, undefined), resultType);
    return undefined;
  } catch (err) {
    if (err instanceof ConditionError) return err.reason;
    throw err;
  }
}

/**
 * Translates an Argo expr-lang condition to Fledge's CEL where the meaning is certain: `and`/`or`/`not`, `len`,
 * `isNaN`, `default`, `asFloat`/`asInt`, `abs` and the predicate builtins (`all(result, {# < 1})`). The outcome must
 * type-check as a Fledge condition; anything else is refused with the reason, never guessed.
 */
export function exprToCel(expression: string, resultType: ResultType = 'number'): Translation {
  const notes = new Set<string>();
  if (/len\(\s*result\s*\)\s*==\s*0/.test(expression)) notes.add(NO_DATA_NOTE);
  let cel: string;
  try {
    cel = translateTokens(tokenize(expression), notes, false);
  } catch (err) {
    if (err instanceof Untranslatable) return { ok: false, reason: err.message };
    throw err;
  }
  const refused = typeCheck(cel, resultType);
  if (refused === undefined) return { ok: true, cel, notes: [...notes] };
  // expr-lang compares 1 with 1.0; CEL has no == between int and double, so `result == 1` needs `1.0`. Indexes stay ints.
  const asDoubles = cel.replace(/(^|[^\w.[])(\d+)(?![\w.\]])/g, '$1$2.0');
  if (typeCheck(asDoubles, resultType) === undefined) return { ok: true, cel: asDoubles, notes: [...notes] };
  return { ok: false, reason: `translated to ${JSON.stringify(cel)}, which Fledge refuses: ${refused}` };
}
