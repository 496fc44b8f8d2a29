/** What both secret-metadata stores check on the way in and out: the shape, and key parts without "#". */
import { z } from 'zod';
import { ValidationError } from '../core/errors.ts';
import type { SecretMeta } from '../core/secrets.ts';

export function secretPart(field: string, value: string): string {
  if (typeof value !== 'string' || value === '' || value.includes('#') || value.length > 253) {
    throw new ValidationError([{ path: field, message: `must be a non-empty string without "#" (got ${JSON.stringify(value)})` }]);
  }
  return value;
}

const time = z
  .string()
  .max(64)
  .refine((s) => !Number.isNaN(Date.parse(s)));
const SecretMetaSchema = z.object({
  namespace: z.string().min(1).max(63),
  name: z.string().min(1).max(63),
  keys: z.array(z.string().min(1).max(253)).max(64),
  version: z.string().min(1).max(64),
  createdAt: time,
  updatedAt: time,
});

/** The metadata as stored (unknown attributes dropped), or a ValidationError. A value is never a field here. */
export function checkSecretMeta(meta: unknown): SecretMeta {
  const r = SecretMetaSchema.safeParse(meta);
  if (!r.success) throw new ValidationError(r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })));
  secretPart('namespace', r.data.namespace);
  secretPart('name', r.data.name);
  return { ...r.data, keys: [...r.data.keys].sort() };
}
