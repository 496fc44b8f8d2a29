/**
 * Size and count limits of a spec (docs/spec.md, "Limits"). A spec is a few KB; the limits sit far
 * above any real one and far below what would let one request stall the control plane: every
 * check below is linear in the input and runs before anything that is not.
 */
import { Lexer } from 'yaml';
import type { FieldIssue } from '../errors.ts';

/** The spec as JSON (UTF-8): stored in one DynamoDB item (400 KB) and copied into every task of it. */
export const MAX_SPEC_BYTES = 64 * 1024;
/** Levels of nesting of a spec; the deepest field, spec.containers[].health.http.status[], is at 6. */
export const MAX_SPEC_DEPTH = 16;
/** A YAML text: room for comments around a spec of at most MAX_SPEC_BYTES. */
export const MAX_YAML_LENGTH = 256 * 1024;
/**
 * Nesting a YAML text may reach, estimated from the text (yamlNestingEstimate). The yaml parser
 * recurses per level and overflows the stack near 800 levels; a spec needs fewer than 10.
 */
export const MAX_YAML_NESTING = 64;
/** Ports of a pod, over all its containers: each published port is a proxy process on the host. */
export const MAX_PORTS = 64;
/** Volumes of a pod, and mounts of one container: each is a Docker volume (or an EFS mount) the agent sets up. */
export const MAX_VOLUMES = 16;
/** A mount path is a path in the container; Linux allows 4096 bytes, no real mount needs more than this. */
export const MAX_MOUNT_PATH_LENGTH = 1024;
/** Environment variables of a container. */
export const MAX_ENV = 256;
export const MAX_ENV_NAME_LENGTH = 256;
/** An environment variable's value, in characters: room for a certificate or a small config file. */
export const MAX_ENV_VALUE_LENGTH = 16 * 1024;
/** Labels of a service. */
export const MAX_LABELS = 64;
/** Placement constraints of a service, and the characters of one (a label key and value fit in 400). */
export const MAX_CONSTRAINTS = 32;
export const MAX_CONSTRAINT_LENGTH = 512;
/** Items of a command, args or exec command, and the characters of one (room for an `sh -c` script). */
export const MAX_ARGS = 256;
export const MAX_ARG_LENGTH = 16 * 1024;
/** An image reference: Docker allows 255 for the name, 128 for the tag, plus a digest. */
export const MAX_IMAGE_LENGTH = 512;
/** An HTTP probe's path (with its query). */
export const MAX_HTTP_PATH_LENGTH = 2048;

/** A CPU or memory quantity written as a string: `250m`, `1.5Gi`. */
export const MAX_QUANTITY_LENGTH = 64;
/**
 * Block nesting a YAML text may reach, estimated per line as its indentation plus its block
 * indicators ("- ", "? ", ": "); each open block collection sits at its own column.
 */
export const MAX_YAML_BLOCK_ESTIMATE = 256;

/** The message of a string over its limit. */
export function tooLong(value: string, max: number): string | undefined {
  return value.length > max ? `must be at most ${max} characters; got ${value.length} characters` : undefined;
}

/** The message of a list or map with too many items, if it has. */
export function tooMany(count: number, max: number, what: string): string | undefined {
  return count > max ? `must ${what === 'entries' ? 'have' : 'list'} at most ${max} ${what}; got ${count}` : undefined;
}

/**
 * Why a YAML text is too long or too deeply nested to parse, if it is. The yaml library recurses
 * once per level of nesting and overflows the stack (a RangeError, after seconds of work) near
 * 800 levels, so the nesting is bounded from the text before it is parsed: block nesting from
 * indentation and indicators per line (an over-estimate: an indicator inside a string counts too),
 * flow nesting exactly, from the yaml lexer's bracket tokens (quoted strings are single tokens).
 * The per-line check runs first: the lexer itself recurses on "- - - ..." on one line.
 */
export function yamlTextProblem(text: string): FieldIssue | undefined {
  if (text.length > MAX_YAML_LENGTH) {
    return { path: '', message: `the YAML is ${text.length} characters; the limit is ${MAX_YAML_LENGTH} (256 KiB): a spec is a few KB` };
  }
  let line = 1;
  let column = 0;
  let indent = 0;
  let atIndent = true;
  let indicators = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 10;
    if (c === 10) {
      line++;
      column = 0;
      indent = 0;
      atIndent = true;
      indicators = 0;
      continue;
    }
    column++;
    const space = c === 32 || c === 9;
    if (atIndent && space) indent++;
    else atIndent = false;
    // '-', '?' or ':' followed by a space, a tab, a line end or the end of the text.
    if (c === 45 || c === 63 || c === 58) {
      const next = i + 1 < text.length ? text.charCodeAt(i + 1) : 10;
      if (next === 32 || next === 9 || next === 10 || next === 13) indicators++;
    }
    // An anchor or tag ('&a', '!!str') at the start of a word: the parser recurses on each one too.
    if ((c === 38 || c === 33) && (i === 0 || [32, 9, 10, 44, 91, 123].includes(text.charCodeAt(i - 1)))) indicators++;
    if (indent + indicators > MAX_YAML_BLOCK_ESTIMATE) {
      return {
        path: '',
        message: `YAML nested too deeply at line ${line}, column ${column}: more than ${MAX_YAML_BLOCK_ESTIMATE} levels of indentation, "- ", "? ", ": " indicators, anchors and tags on one line (a spec needs about 10)`,
      };
    }
  }
  let depth = 0;
  for (const token of new Lexer().lex(text)) {
    if (token === '[' || token === '{') depth++;
    else if (token === ']' || token === '}') depth = Math.max(0, depth - 1);
    if (depth > MAX_YAML_NESTING) {
      return { path: '', message: `YAML nested too deeply: more than ${MAX_YAML_NESTING} levels of [ ] and { } (a spec needs about 5)` };
    }
  }
  return undefined;
}

/** UTF-8 bytes of a string, without allocating its encoding. */
function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/** Bytes of a string as a JSON string: its characters plus quotes and escapes. */
function jsonStringLength(text: string): number {
  let escapes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 || c === 0x5c) escapes += 1;
    else if (c < 0x20) escapes += 5;
  }
  return utf8Length(text) + escapes + 2;
}

/**
 * Why a decoded document is too big or too deep to be a spec, if it is. Walks it without
 * recursion (a document nested 100,000 deep is a plain loop here) and stops at the first limit
 * crossed, so its cost is bounded by the limits, not by the input.
 */
export function documentSizeProblem(input: unknown): FieldIssue | undefined {
  let bytes = 0;
  const stack: { value: unknown; depth: number; path: readonly PropertyKey[] }[] = [{ value: input, depth: 0, path: [] }];
  while (stack.length > 0) {
    const { value, depth, path } = stack.pop()!;
    if (typeof value === 'string') bytes += jsonStringLength(value);
    else if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') bytes += String(value).length;
    else if (value === null || value === undefined) bytes += 4;
    else if (typeof value === 'object') {
      if (depth >= MAX_SPEC_DEPTH) {
        return {
          path: '',
          message: `the spec is nested more than ${MAX_SPEC_DEPTH} levels deep (a spec needs 6); the first too deep value is under ${describePath(path)}`,
        };
      }
      const entries = Array.isArray(value) ? value.map((v, i) => [i, v] as const) : Object.entries(value);
      // Brackets and the commas between items; keys with their quotes and colons.
      bytes += 2 + Math.max(0, entries.length - 1);
      for (const [key, item] of entries) {
        if (typeof key === 'string') bytes += jsonStringLength(key) + 1;
        stack.push({ value: item, depth: depth + 1, path: [...path, key] });
      }
    }
    if (bytes > MAX_SPEC_BYTES) {
      return {
        path: '',
        message: `the spec is more than ${MAX_SPEC_BYTES} bytes as JSON (the limit, 64 KiB): a spec is a few KB; keep large configuration in the image or a volume, not in env`,
      };
    }
  }
  return undefined;
}

function describePath(path: readonly PropertyKey[]): string {
  return path.length === 0
    ? 'the top'
    : path
        .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p).slice(0, 40)}`))
        .join('')
        .replace(/^\./, '');
}
