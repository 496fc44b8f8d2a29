/** zod's issues turned into FieldIssues with readable paths, unknown fields with a suggestion. */
import { z } from 'zod';
import type { FieldIssue } from '../errors.ts';
import { formatPath } from './messages.ts';
import { ALIASES, PLANNED, REFUSED, ServiceSchema } from './schema.ts';
import { closest } from './suggest.ts';

/** Walks the schema along a value path to the object schema found there, for "did you mean". */
function objectSchemaAt(path: readonly PropertyKey[]): z.ZodObject | undefined {
  let schema: z.ZodType | undefined = ServiceSchema;
  const unwrap = (s: z.ZodType | undefined): z.ZodType | undefined => {
    while (s instanceof z.ZodDefault || s instanceof z.ZodOptional) s = s.unwrap() as z.ZodType;
    return s;
  };
  for (const segment of path) {
    schema = unwrap(schema);
    if (schema instanceof z.ZodObject) schema = (schema.shape as Record<string, z.ZodType>)[String(segment)];
    else if (schema instanceof z.ZodArray) schema = schema.element as z.ZodType;
    else return undefined;
  }
  schema = unwrap(schema);
  return schema instanceof z.ZodObject ? schema : undefined;
}

function unknownFieldIssues(path: readonly PropertyKey[], keys: readonly string[]): FieldIssue[] {
  const schema = objectSchemaAt(path);
  const known = schema ? Object.keys(schema.shape) : [];
  const planned = (schema && PLANNED.get(schema)) ?? [];
  const refused = (schema && REFUSED.get(schema)) ?? {};
  return keys.map((key) => {
    if (Object.hasOwn(refused, key)) return { path: formatPath([...path, key]), message: `"${key}" is not allowed: ${refused[key]}` };
    if (planned.includes(key)) return { path: formatPath([...path, key]), message: `unknown field "${key}": not supported yet` };
    const aliases = (schema && ALIASES.get(schema)) ?? {};
    const alias = Object.hasOwn(aliases, key) ? aliases[key] : undefined;
    if (alias !== undefined) return { path: formatPath([...path, key]), message: `unknown field "${key}" (did you mean "${alias}"?)` };
    // A typo of a planned field still gets its suggestion, with the news that it does not exist yet.
    const match = closest(key, [...known, ...planned]);
    const hint = match === undefined ? '' : planned.includes(match) ? ` (did you mean "${match}"? it is not supported yet)` : ` (did you mean "${match}"?)`;
    return { path: formatPath([...path, key]), message: `unknown field "${key}"${hint}` };
  });
}

export function toFieldIssues(issues: readonly z.core.$ZodIssue[]): FieldIssue[] {
  return issues.flatMap((issue): FieldIssue[] => {
    if (issue.code === 'unrecognized_keys') return unknownFieldIssues(issue.path, issue.keys);
    return [{ path: formatPath(issue.path), message: issue.message }];
  });
}
