/**
 * Compose variable interpolation (compose-spec `interpolation.md`): `$VAR`, `${VAR}`,
 * `${VAR:-default}` / `${VAR-default}` (unset or empty / unset), `${VAR:?error}` / `${VAR?error}`,
 * `${VAR:+other}` / `${VAR+other}`, and `$$` for a literal `$`. Defaults may hold variables too
 * (`${A:-${B}}`). Pure: the variables come in as a map.
 */
import type { FieldIssue } from '../errors.ts';
import { isRecord } from '../spec/messages.ts';

export type Variables = Readonly<Record<string, string | undefined>>;

const NAME = /^[_a-zA-Z][_a-zA-Z0-9]*/;
/** Defaults within defaults, at most: each level recurses, and real files use one or two. */
const MAX_NESTING = 16;

/** What interpolating one string gave: the text, the variables it found unset, or why it cannot be read. */
export interface Interpolated {
  readonly value: string;
  /** Variables used without a default and not set: replaced by "" (Compose warns the same way). */
  readonly unset: readonly string[];
  readonly error?: string;
}

/** Interpolates one string. */
export function interpolateString(text: string, vars: Variables): Interpolated {
  const unset: string[] = [];
  try {
    return { value: expand(text, vars, unset), unset };
  } catch (err) {
    if (err instanceof InterpolationError) return { value: text, unset, error: err.message };
    throw err;
  }
}

class InterpolationError extends Error {}

function lookup(vars: Variables, name: string): string | undefined {
  return Object.hasOwn(vars, name) ? vars[name] : undefined;
}

function expand(text: string, vars: Variables, unset: string[], depth = 0): string {
  if (depth > MAX_NESTING) throw new InterpolationError(`variables nested more than ${MAX_NESTING} deep in a default`);
  let out = '';
  let i = 0;
  while (i < text.length) {
    const dollar = text.indexOf('$', i);
    if (dollar < 0) {
      out += text.slice(i);
      break;
    }
    out += text.slice(i, dollar);
    const next = text[dollar + 1];
    if (next === '$') {
      out += '$';
      i = dollar + 2;
      continue;
    }
    if (next === '{') {
      const end = closingBrace(text, dollar + 2);
      if (end < 0)
        throw new InterpolationError(`invalid interpolation format in ${JSON.stringify(text)}: "\${" has no closing "}"; write "$$" for a literal "$"`);
      out += braced(text.slice(dollar + 2, end), vars, unset, text, depth);
      i = end + 1;
      continue;
    }
    const name = NAME.exec(text.slice(dollar + 1))?.[0];
    if (name === undefined) {
      throw new InterpolationError(
        `invalid interpolation format in ${JSON.stringify(text)}: "$" must start a variable ($NAME or \${NAME}); write "$$" for a literal "$"`,
      );
    }
    const value = lookup(vars, name);
    if (value === undefined) unset.push(name);
    out += value ?? '';
    i = dollar + 1 + name.length;
  }
  return out;
}

/** The index of the `}` that closes the `${` whose body starts at `from`, counting nested `${`. */
function closingBrace(text: string, from: number): number {
  let depth = 1;
  for (let i = from; i < text.length; i++) {
    if (text[i] === '$' && text[i + 1] === '$') i++;
    else if (text[i] === '$' && text[i + 1] === '{') {
      depth++;
      i++;
    } else if (text[i] === '}' && --depth === 0) return i;
  }
  return -1;
}

function braced(body: string, vars: Variables, unset: string[], whole: string, depth: number): string {
  const name = NAME.exec(body)?.[0];
  if (name === undefined)
    throw new InterpolationError(`invalid interpolation format in ${JSON.stringify(whole)}: \${${body}} does not start with a variable name`);
  const rest = body.slice(name.length);
  const value = lookup(vars, name);
  if (rest === '') {
    if (value === undefined) unset.push(name);
    return value ?? '';
  }
  const colon = rest.startsWith(':');
  const op = rest[colon ? 1 : 0];
  const arg = rest.slice(colon ? 2 : 1);
  // With ":" an empty value counts as unset.
  const missing = value === undefined || (colon && value === '');
  switch (op) {
    case '-':
      return missing ? expand(arg, vars, unset, depth + 1) : (value ?? '');
    case '?':
      if (missing) {
        const why = expand(arg, vars, unset, depth + 1);
        throw new InterpolationError(`required variable ${name} is ${value === undefined ? 'not set' : 'empty'}${why ? `: ${why}` : ''}`);
      }
      return value ?? '';
    case '+':
      return missing ? '' : expand(arg, vars, unset, depth + 1);
    default:
      throw new InterpolationError(
        `invalid interpolation format in ${JSON.stringify(whole)}: \${${body}}: after the name comes "}", ":-", "-", ":?", "?", ":+" or "+"`,
      );
  }
}

/**
 * Interpolates every string value of a decoded Compose document (not its keys), as Compose does
 * before reading it. `x-` extension fields are interpolated too: they may be merged in with YAML anchors.
 */
export function interpolateDocument(value: unknown, vars: Variables, path = ''): { value: unknown; errors: FieldIssue[]; warnings: FieldIssue[] } {
  const errors: FieldIssue[] = [];
  const warnings: FieldIssue[] = [];
  const walk = (v: unknown, at: string): unknown => {
    if (typeof v === 'string') {
      const r = interpolateString(v, vars);
      if (r.error !== undefined) errors.push({ path: at, message: r.error });
      for (const name of new Set(r.unset))
        warnings.push({ path: at, message: `variable ${name} is not set (in the environment or .env): it is replaced by an empty string` });
      return r.value;
    }
    if (Array.isArray(v)) return v.map((item, i) => walk(item, `${at}[${i}]`));
    if (isRecord(v)) {
      const out: Record<string, unknown> = {};
      for (const [k, item] of Object.entries(v))
        Object.defineProperty(out, k, { value: walk(item, at ? `${at}.${k}` : k), enumerable: true, writable: true, configurable: true });
      return out;
    }
    return v;
  };
  return { value: walk(value, path), errors, warnings };
}
