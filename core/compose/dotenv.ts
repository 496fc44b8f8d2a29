/**
 * `.env` and `env_file` files as Compose reads them: `KEY=value` lines, `export KEY=value`, `#`
 * comments, single quotes (literal), double quotes (escapes `\n`, `\t`, `\"`, `\\`, and variables),
 * unquoted values (trimmed, a ` #` starts a comment, variables expanded). A line `KEY` alone takes
 * KEY from `vars` (left out when it is not set there). Pure: the text comes in.
 */
import type { FieldIssue } from '../errors.ts';
import { interpolateString, type Variables } from './interpolate.ts';

const LINE = /^\s*(?:export\s+)?([^\s=#]+)\s*(?:=(.*))?$/;

/** The variables of a dotenv text, in order; each problem names its line (`path` is `<file>:<line>`). */
export function parseDotenv(text: string, file: string, vars: Variables = {}): { values: Record<string, string>; errors: FieldIssue[] } {
  const values: Record<string, string> = {};
  const errors: FieldIssue[] = [];
  // Variables of the file itself are visible to its later lines, the environment winning as in Compose.
  const scope = (): Variables => ({ ...values, ...vars });
  text.split(/\r?\n/).forEach((raw, index) => {
    const at = `${file}:${index + 1}`;
    if (/^\s*(#|$)/.test(raw)) return;
    const m = LINE.exec(raw);
    if (!m) {
      errors.push({ path: at, message: `must be KEY=value (or a # comment); got ${JSON.stringify(raw.slice(0, 80))}` });
      return;
    }
    const [, key, rawValue] = m;
    if (rawValue === undefined) {
      const from = vars[key];
      if (from !== undefined) values[key] = from;
      return;
    }
    const value = dotenvValue(rawValue.trim(), scope());
    if (typeof value === 'string') Object.defineProperty(values, key, { value, enumerable: true, writable: true, configurable: true });
    else errors.push({ path: at, message: `${key}: ${value.error}` });
  });
  return { values, errors };
}

function dotenvValue(text: string, vars: Variables): string | { error: string } {
  if (text.startsWith("'")) {
    const end = text.indexOf("'", 1);
    if (end < 0) return { error: 'a single-quoted value has no closing quote (values span one line)' };
    return text.slice(1, end);
  }
  if (text.startsWith('"')) {
    let out = '';
    for (let i = 1; i < text.length; i++) {
      const c = text[i];
      if (c === '"') {
        const r = interpolateString(out, vars);
        return r.error !== undefined ? { error: r.error } : r.value;
      }
      if (c === '\\' && i + 1 < text.length) {
        const n = text[++i];
        out += n === 'n' ? '\n' : n === 't' ? '\t' : n === 'r' ? '\r' : n === '$' ? '$$' : n;
      } else out += c;
    }
    return { error: 'a double-quoted value has no closing quote (values span one line)' };
  }
  const bare = text.replace(/\s+#.*$/, '').trim();
  const r = interpolateString(bare, vars);
  return r.error !== undefined ? { error: r.error } : r.value;
}
