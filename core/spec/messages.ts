/**
 * Messages. Every message names what is accepted and what was given; the path is added later
 * (formatPath). zod's own wording is replaced here.
 */
import { didYouMean } from './suggest.ts';

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function got(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  return String(value);
}

const EXPECTED: Readonly<Record<string, string>> = {
  object: 'a map',
  record: 'a map',
  array: 'a list',
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
};

/** A zod issue as the error map sees it, reduced to what the messages here read. */
export interface RawIssue {
  readonly code?: string;
  readonly input?: unknown;
  readonly expected?: string;
  readonly values?: readonly unknown[];
}

/** An error map for one schema: "is required" when absent, else the rule and what was given. */
export function rule(text: string): (issue: RawIssue) => string {
  return (issue) => (issue.input === undefined && issue.code === 'invalid_type' ? 'is required' : `${text}; got ${got(issue.input)}`);
}

/** Strings in YAML must be quoted when they look like numbers or booleans; say so instead of "expected string". */
export function stringValue(issue: RawIssue): string {
  if (issue.input === undefined) return 'is required';
  if (typeof issue.input === 'number' || typeof issue.input === 'boolean') {
    return `must be a string; got the ${typeof issue.input} ${String(issue.input)}: quote it in YAML ("${String(issue.input)}")`;
  }
  return `must be a string; got ${got(issue.input)}`;
}

/** The fallback for issues that no schema words itself. */
export function defaultMessage(issue: RawIssue): string | undefined {
  if (issue.code === 'invalid_type') {
    if (issue.input === undefined) return 'is required';
    return `must be ${EXPECTED[issue.expected ?? ''] ?? issue.expected}; got ${got(issue.input)}`;
  }
  if (issue.code === 'invalid_value' && issue.values) {
    const hint = typeof issue.input === 'string' ? didYouMean(issue.input, issue.values.map(String)) : '';
    return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}; got ${got(issue.input)}${hint}`;
  }
  return undefined;
}

/** `spec.containers[0].env["MY-VAR"]` */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (typeof segment === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(String(segment))}]`;
  }
  return out;
}
