/**
 * `skiff explain FIELD`: what a spec field is, from the schema that validates specs
 * (`ServiceSchema`, as JSON Schema through zod) and the fields' descriptions (descriptions.ts).
 * Needs no cluster.
 */
import { z } from 'zod';
import { ValidationError } from '../errors.ts';
import { withDescriptions } from './descriptions.ts';
import { ServiceSchema } from './schema.ts';
import { didYouMean } from './suggest.ts';

type Node = Record<string, unknown>;

let cached: Node | undefined;

/** The JSON Schema of a spec as a client writes it (defaults make fields optional), each field described. */
export function serviceJsonSchema(): Node {
  cached ??= withDescriptions(optionalTransforms(z.toJSONSchema(ServiceSchema, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' })) as Node);
  return cached;
}

/**
 * Fields parsed by a transform (`labels`, `env`, quantities) have no JSON Schema form: zod emits `{}`
 * and lists them as required, though an absent one takes its default. They are made optional.
 */
export function optionalTransforms(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(optionalTransforms);
  if (typeof node !== 'object' || node === null) return node;
  const out: Node = {};
  for (const [k, v] of Object.entries(node)) out[k] = optionalTransforms(v);
  const props = out.properties as Record<string, Node> | undefined;
  if (props && Array.isArray(out.required)) {
    const typed = (p: Node | undefined) => p !== undefined && ['type', 'anyOf', 'oneOf', 'enum', 'const', '$ref', 'properties'].some((k) => k in p);
    out.required = (out.required as string[]).filter((name) => typed(props[name]));
    if ((out.required as string[]).length === 0) delete out.required;
  }
  return out;
}

export interface ExplainedField {
  /** The path asked for, normalized: `spec.containers.image`. */
  readonly path: string;
  readonly type: string;
  readonly description?: string;
  readonly default?: unknown;
  /** Bounds, lengths, allowed values, in words. */
  readonly rules: readonly string[];
  readonly required: boolean;
  /** Its fields, for a map (or a list of maps). */
  readonly fields: readonly { name: string; type: string; required: boolean; description?: string }[];
}

/** The map node under a field: itself, its list's items, or the map among its alternatives. */
function fieldsOf(node: Node): Node | undefined {
  if (node.properties) return node;
  if (node.items && typeof node.items === 'object') return fieldsOf(node.items as Node);
  for (const alt of (node.anyOf as Node[] | undefined) ?? []) {
    const found = fieldsOf(alt);
    if (found) return found;
  }
  return undefined;
}

function typeOf(node: Node): string {
  if (Array.isArray(node.enum)) return node.enum.map((v) => JSON.stringify(v)).join(' | ');
  if (node.const !== undefined) return JSON.stringify(node.const);
  if (Array.isArray(node.anyOf)) return [...new Set((node.anyOf as Node[]).map(typeOf))].join(' | ');
  if (node.type === 'array') return `list of ${node.items ? typeOf(node.items as Node) : 'any'}`;
  if (node.type === 'object') return 'map';
  if (typeof node.type === 'string') return node.type;
  // A field read by a transform (quantities, env, labels): its description says what it takes.
  return 'see description';
}

function rulesOf(node: Node): string[] {
  const rules: string[] = [];
  if (node.minimum !== undefined && node.maximum !== undefined) rules.push(`from ${node.minimum} to ${node.maximum}`);
  else if (node.minimum !== undefined) rules.push(`at least ${node.minimum}`);
  else if (node.maximum !== undefined) rules.push(`at most ${node.maximum}`);
  if (node.minItems !== undefined || node.maxItems !== undefined) rules.push(`${node.minItems ?? 0} to ${node.maxItems ?? 'any number of'} items`);
  if (node.maxLength !== undefined) rules.push(`at most ${node.maxLength} characters`);
  if (typeof node.pattern === 'string') rules.push(`matches ${node.pattern}`);
  return rules;
}

/**
 * The field at `path`: `spec.containers.image`, with or without list indexes
 * (`spec.containers[0].image`) and a leading kind (`service.spec.replicas`). An unknown field is a
 * ValidationError naming the fields there are, with the closest one.
 */
export function explainField(path: string): ExplainedField {
  const parts = path
    .replace(/\[\d*\]/g, '')
    .split('.')
    .filter((p) => p !== '');
  if (parts.length > 0 && /^(service|job|cronjob)s?$/i.test(parts[0])) parts.shift();
  let node = serviceJsonSchema();
  let required = true;
  const walked: string[] = [];
  for (const part of parts) {
    const map = fieldsOf(node);
    const props = (map?.properties ?? {}) as Record<string, Node>;
    const names = Object.keys(props);
    if (!Object.hasOwn(props, part)) {
      const where = walked.length ? walked.join('.') : 'a spec';
      throw new ValidationError([
        {
          path: [...walked, part].join('.'),
          message: names.length
            ? `${where} has no field "${part}"${didYouMean(part, names)}; its fields: ${names.join(', ')}`
            : `${where} has no fields: it is a ${typeOf(node)}`,
        },
      ]);
    }
    required = Array.isArray(map?.required) && (map.required as string[]).includes(part) && props[part].default === undefined;
    node = props[part];
    walked.push(part);
  }
  const map = fieldsOf(node);
  const props = (map?.properties ?? {}) as Record<string, Node>;
  const req = new Set((map?.required as string[] | undefined) ?? []);
  return {
    path: walked.join('.'),
    type: walked.length ? typeOf(node) : 'map',
    ...(typeof node.description === 'string' ? { description: node.description } : {}),
    ...(node.default !== undefined ? { default: node.default } : {}),
    rules: rulesOf(node),
    required: walked.length > 0 && required,
    fields: Object.entries(props).map(([name, child]) => ({
      name,
      type: typeOf(child),
      required: req.has(name) && child.default === undefined,
      ...(typeof child.description === 'string' ? { description: child.description } : {}),
    })),
  };
}
