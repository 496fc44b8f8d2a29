/**
 * The zod schemas of the small request bodies that the API core validates with them (scale, undo),
 * the same ones the OpenAPI document shows (app/openapi.ts): what is documented is what is checked.
 */
import { z } from 'zod';
import { ValidationError } from '../core/errors.ts';
import { MAX_REPLICAS } from '../core/spec/defaults.ts';

const got = (input: unknown) => JSON.stringify(input)?.slice(0, 40) ?? String(input);

export const ScaleBodySchema = z.object({
  replicas: z
    .int({ error: (i) => `must be an integer from 0 to ${MAX_REPLICAS}; got ${got(i.input)}` })
    .min(0, { error: (i) => `must be an integer from 0 to ${MAX_REPLICAS}; got ${got(i.input)}` })
    .max(MAX_REPLICAS, { error: (i) => `must be an integer from 0 to ${MAX_REPLICAS}; got ${got(i.input)}` })
    .describe('The replica count: kept across applies that leave spec.replicas unchanged; within spec.autoscaling bounds.'),
});

export const UndoBodySchema = z.object({
  toVersion: z
    .int({ error: (i) => `must be a positive integer (a version of skiff rollout history); got ${got(i.input)}` })
    .min(1, { error: (i) => `must be a positive integer (a version of skiff rollout history); got ${got(i.input)}` })
    .optional()
    .describe('The revision to return to (skiff rollout history); default: the newest one with another template.'),
});

/** `value` checked against `schema`: its output, or a ValidationError naming every wrong field. */
export function checkBody<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new ValidationError(result.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })));
}
