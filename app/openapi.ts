/**
 * The API's OpenAPI 3.1 document (`GET /v1/openapi.json`, docs/api.md), built from the API core's
 * own route table (app/api.ts) and the zod schemas that validate request bodies: a route added
 * without a description here makes the document throw (test/unit/api-openapi.test.ts catches it),
 * and a field added to a spec schema shows up in the document by itself.
 *
 * Service, Job and CronJob specs are validated by `ServiceSchema` (core/spec/schema.ts), and scale
 * and undo bodies by app/request-bodies.ts; their JSON Schemas are emitted as the request bodies.
 * Namespace and Secret documents and token requests are checked by hand-written parsers with their
 * own messages; their shapes are written here as zod schemas (`BODY_SCHEMAS`) that describe what
 * those parsers accept.
 */
import { z } from 'zod';
import { ServiceSchema } from '../core/spec/schema.ts';
import { optionalTransforms, serviceJsonSchema } from '../core/spec/explain.ts';
import { ScaleBodySchema, UndoBodySchema } from './request-bodies.ts';
import { RESPONSE_SCHEMAS } from './response-schemas.ts';
import { API_VERSION, SKIFF_VERSION } from '../core/version.ts';
import type { Route } from './api.ts';

/** What a route is, for the document; keyed by `METHOD /path/{param}` (`routeKey`). */
export interface Operation {
  readonly summary: string;
  readonly description?: string;
  /** Tag grouping in the document. */
  readonly tag: string;
  /** Query parameters beyond the list ones: name → description. */
  readonly query?: Readonly<Record<string, string>>;
  /** The request body, one of BODY_SCHEMAS. */
  readonly body?: keyof typeof BODY_SCHEMAS;
  /** A list: paginated (`limit`, `cursor`, `x-next-cursor`) and watchable (`watch`, `resourceVersion`, `timeoutSeconds`). */
  readonly list?: boolean;
  /** A write conditional on the object's version with `If-Match` (412 on a mismatch). */
  readonly ifMatch?: boolean;
  /** The success status. @default 200 */
  readonly status?: number;
  /** The answer's shape, one of RESPONSE_SCHEMAS (a list: an array of it); absent: an object not described field by field. */
  readonly response?: keyof typeof RESPONSE_SCHEMAS;
}

const NamespaceDocSchema = z
  .strictObject({
    kind: z.literal('Namespace'),
    apiVersion: z.string().optional().describe('Accepted and ignored, for documents written for other tools.'),
    metadata: z.strictObject({
      name: z.string().max(40).describe('The namespace: a DNS label.'),
      labels: z.record(z.string(), z.string().max(253)).optional(),
    }),
    spec: z
      .strictObject({
        quota: z
          .strictObject({
            cpu: z.union([z.string(), z.number()]).optional().describe('CPU summed over every replica: "4" or "4000m".'),
            memory: z.union([z.string(), z.number()]).optional().describe('Memory summed over every replica: "8Gi".'),
            tasks: z.int().min(0).optional().describe('Replicas summed over the services.'),
            services: z.int().min(0).optional(),
            ingressHosts: z.int().min(0).optional().describe('Services with an ingress host.'),
          })
          .optional(),
        ingressHosts: z.array(z.string()).max(50).optional().describe('Host patterns the namespace may use: shop.example.com or *.shop.example.com.'),
      })
      .optional(),
  })
  .describe('A namespace with its quota and ingress host patterns (core/namespace.ts parseNamespaceSpec).');

const SecretDocSchema = z
  .strictObject({
    kind: z.literal('Secret'),
    metadata: z.strictObject({ name: z.string().max(40), namespace: z.string().max(40).default('default') }),
    data: z.record(z.string(), z.string()).describe('Key to value, in clear; the values go to the secret vault, never to the cluster state.'),
  })
  .describe('Named values of a namespace (core/spec/secret.ts parseSecretSpec).');

/** The request bodies, as JSON Schema sources. */
export const BODY_SCHEMAS = {
  service: ServiceSchema,
  documents: z
    .union([ServiceSchema, SecretDocSchema, z.array(z.union([ServiceSchema, SecretDocSchema]))])
    .describe('Documents to apply: as JSON, one document or a list; as YAML (content-type application/yaml), documents separated by ---.'),
  namespace: NamespaceDocSchema,
  token: z.strictObject({
    role: z.enum(['admin', 'edit', 'view']),
    ttl: z.string().optional().describe('How long the token lives, such as "24h" (default 24h).'),
    name: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,64}$/)
      .optional()
      .describe("A name for the token, shown in the audit log's subjects."),
  }),
  revoke: z.union([
    z.strictObject({ token: z.string().describe('The token to revoke; its namespace admin may.') }),
    z.strictObject({ id: z.string().describe('A token id; only the cluster admin may revoke by id.') }),
  ]),
  scale: ScaleBodySchema,
  undo: UndoBodySchema,
} as const;

const SERVICE = '/v1/namespaces/{namespace}/services/{name}';

/** The query of the log routes (app/log-routes.ts). */
const LOG_QUERY = {
  since: 'Lines written at or after this: a duration back from now (10m, 1h30m) or a date (2026-12-07T08:00:00Z)',
  tail: 'Only the last N lines (0-5000)',
  container: 'Only this container of the pods',
  limit: 'At most this many lines in the answer (1-5000, default 1000)',
  cursor: "The answer's cursor, from an earlier call: only the lines not returned yet (how `skiff logs -f` follows); without since or tail",
} as const;

/** Every route of the API core, described. */
export const OPERATIONS: Readonly<Record<string, Operation>> = {
  'GET /v1/healthz': { tag: 'meta', summary: 'Whether the API answers' },
  'GET /v1/version': { tag: 'meta', summary: "The control plane's version and API version", response: 'Version' },
  'GET /v1/openapi.json': { tag: 'meta', summary: 'This document' },
  'GET /.well-known/openid-configuration': {
    tag: 'identity',
    summary: "The OIDC discovery document of the workload tokens' issuer (docs/identity.md)",
  },
  'GET /.well-known/jwks.json': { tag: 'identity', summary: 'The public keys that verify workload tokens, the previous key kept while its tokens live' },
  'POST /v1/namespaces/{namespace}/tasks/{id}/identity-token': {
    tag: 'identity',
    summary: 'A host asks for a workload token of a task placed on it (the agent mounts it at /var/run/skiff/identity/token)',
  },
  'POST /v1/services': {
    tag: 'services',
    summary: 'Apply a service, job or cron job spec (the namespace is in the body)',
    body: 'service',
    ifMatch: true,
    status: 201,
  },
  'GET /v1/services': {
    tag: 'services',
    summary: 'List services with their progress',
    list: true,
    query: { namespace: 'Only this namespace' },
    response: 'ServiceSummary',
  },
  [`GET ${SERVICE}`]: { tag: 'services', summary: 'A service with its tasks; the ETag is its specVersion' },
  [`PUT ${SERVICE}`]: { tag: 'services', summary: 'Apply a service spec at this path', body: 'service', ifMatch: true, status: 201 },
  [`DELETE ${SERVICE}`]: {
    tag: 'services',
    summary: 'Delete a service (its tasks stop, then it goes); its persistent volumes are kept unless deleteVolumes=true',
    description:
      'With deleteVolumes=true the persistent volumes of the service are marked for removal: each host that holds one deletes it once no container uses it (on EFS, its access point and data), and the volume record goes when that host has reported it. Asked of a service already gone, it deletes its retained volumes (404 when there are none).',
    query: { deleteVolumes: 'true: delete its persistent volumes too (default false: they are retained)' },
    ifMatch: true,
    status: 202,
  },
  [`GET ${SERVICE}/rollout`]: { tag: 'rollouts', summary: "A service's rollout status" },
  [`GET ${SERVICE}/rollout/history`]: { tag: 'rollouts', summary: "A service's revisions" },
  [`POST ${SERVICE}/rollout/undo`]: { tag: 'rollouts', summary: 'Return to an earlier revision', body: 'undo', ifMatch: true },
  [`POST ${SERVICE}/rollout/restart`]: { tag: 'rollouts', summary: 'Replace every task, one batch at a time', ifMatch: true, status: 202 },
  [`POST ${SERVICE}/scale`]: { tag: 'rollouts', summary: 'Set the replica count without a new spec', body: 'scale', ifMatch: true },
  'GET /v1/tasks': {
    tag: 'tasks',
    summary: 'List tasks',
    list: true,
    response: 'TaskView',
    query: { namespace: 'Only this namespace', service: 'Only this service', host: 'Only tasks on this host' },
  },
  'GET /v1/tasks/{id}': { tag: 'tasks', summary: 'One task', query: { namespace: "The task's namespace (faster)" }, response: 'TaskView' },
  [`GET ${SERVICE}/logs`]: {
    tag: 'logs',
    summary: "A service's lines, every replica's merged in time order, dead ones' included (docs/logs.md)",
    query: LOG_QUERY,
  },
  'GET /v1/namespaces/{namespace}/tasks/{id}/logs': { tag: 'logs', summary: "A task's lines, its containers' merged in time order", query: LOG_QUERY },
  'GET /v1/hosts/{id}/logs': {
    tag: 'logs',
    summary: "A host's agent's own log, JSON lines (cluster admin)",
    query: { since: LOG_QUERY.since, tail: LOG_QUERY.tail, limit: LOG_QUERY.limit, cursor: LOG_QUERY.cursor },
  },
  'GET /v1/control-plane/logs': {
    tag: 'logs',
    summary: "The control functions' logs, JSON lines (cluster admin)",
    query: {
      function: 'Only this function: api, scheduler, health, autoscaler...',
      since: LOG_QUERY.since,
      tail: LOG_QUERY.tail,
      limit: LOG_QUERY.limit,
      cursor: LOG_QUERY.cursor,
    },
  },
  'GET /v1/hosts': { tag: 'hosts', summary: 'List hosts (cluster admin)', list: true, response: 'HostView' },
  'GET /v1/hosts/{id}': { tag: 'hosts', summary: 'One host (cluster admin)', response: 'HostView' },
  'POST /v1/hosts/{id}/drain': { tag: 'hosts', summary: 'Move the tasks off a host (cluster admin)', status: 202 },
  'POST /v1/hosts/{id}/uncordon': { tag: 'hosts', summary: 'Let a drained host take tasks again (cluster admin)' },
  'GET /v1/events': {
    tag: 'events',
    summary: 'The event log, newest first',
    list: true,
    response: 'Event',
    query: { namespace: 'Only this namespace', service: 'Only this service', host: 'Only this host', actor: 'Only writes by this subject' },
  },
  'POST /v1/apply': {
    tag: 'services',
    summary: 'Apply several documents (services, jobs, cron jobs, secrets)',
    description: 'If-Match applies to a body of one Service, Job or CronJob document.',
    body: 'documents',
    ifMatch: true,
  },
  'GET /v1/secrets': {
    tag: 'secrets',
    summary: 'List secrets (names, keys and versions; never a value)',
    list: true,
    query: { namespace: 'Only this namespace' },
    response: 'SecretView',
  },
  'GET /v1/namespaces/{namespace}/secrets/{name}': { tag: 'secrets', summary: "A secret's keys and version", response: 'SecretView' },
  'DELETE /v1/namespaces/{namespace}/secrets/{name}': { tag: 'secrets', summary: 'Delete a secret no workload reads', ifMatch: true },
  'GET /v1/jobs': { tag: 'jobs', summary: 'List jobs and cron jobs', list: true, query: { namespace: 'Only this namespace' }, response: 'JobSummary' },
  'GET /v1/namespaces/{namespace}/jobs/{name}': { tag: 'jobs', summary: 'A job with its tasks' },
  'DELETE /v1/namespaces/{namespace}/jobs/{name}': { tag: 'jobs', summary: 'Delete a job or cron job', ifMatch: true, status: 202 },
  'GET /v1/volumes': {
    tag: 'volumes',
    summary: 'List persistent volumes',
    list: true,
    query: { namespace: 'Only this namespace', service: 'Only this service' },
    response: 'VolumeView',
  },
  'GET /v1/namespaces': { tag: 'namespaces', summary: 'List namespaces with their usage', list: true, response: 'NamespaceView' },
  'POST /v1/namespaces': { tag: 'namespaces', summary: 'Apply a namespace (cluster admin)', body: 'namespace', ifMatch: true, status: 201 },
  'GET /v1/namespaces/{namespace}': { tag: 'namespaces', summary: 'A namespace with its usage; the ETag is its version', response: 'NamespaceView' },
  'PUT /v1/namespaces/{namespace}': {
    tag: 'namespaces',
    summary: 'Apply a namespace at this path (cluster admin)',
    body: 'namespace',
    ifMatch: true,
    status: 201,
  },
  'DELETE /v1/namespaces/{namespace}': { tag: 'namespaces', summary: 'Delete a namespace and everything in it (cluster admin)', ifMatch: true, status: 202 },
  'POST /v1/namespaces/{namespace}/tokens': { tag: 'tokens', summary: 'Issue a token for a namespace (local clusters)', body: 'token', status: 201 },
  'POST /v1/tokens/revoke': { tag: 'tokens', summary: 'Revoke a token', body: 'revoke' },
};

/** `METHOD /path/{param}` of a route. */
export function routeKey(route: Route): string {
  return `${route[0]} ${routePath(route[1])}`;
}

/**
 * The OpenAPI path of a route pattern: `^\/v1\/hosts\/(?<id>[^/]+)$` is `/v1/hosts/{id}`. Throws on
 * a pattern it cannot write as a path template, so that a new kind of pattern is not documented wrong.
 */
export function routePath(pattern: RegExp): string {
  const path = pattern.source
    .replace(/^\^/, '')
    .replace(/\$$/, '')
    .replace(/\(\?<([A-Za-z]+)>\[\^\/\]\+\)/g, '{$1}')
    .replace(/\\([/.])/g, '$1');
  if (!/^(\/([A-Za-z0-9._-]+|\{[A-Za-z]+\}))+$/.test(path)) throw new Error(`route pattern ${pattern.source} is not a plain path template`);
  return path;
}

/**
 * The operation of a route as the API core runs it (a list is watchable, a write takes If-Match):
 * a route the table does not describe yet runs as a plain route (no watch, If-Match refused), and
 * the document and its test name it as undescribed.
 */
export function runtimeOperation(method: string, pattern: RegExp): Operation {
  return OPERATIONS[`${method} ${routePath(pattern)}`] ?? { tag: 'undescribed', summary: '' };
}

/** The operation of a route; throws for a route the table does not describe. */
export function operationOf(method: string, pattern: RegExp): Operation {
  const key = `${method} ${routePath(pattern)}`;
  const op = OPERATIONS[key];
  if (!op) throw new Error(`route ${key} is not described in app/openapi.ts OPERATIONS`);
  return op;
}

/** JSON Schema of a zod schema as a client sends it (input: defaults make fields optional). */
function inputSchema(schema: z.ZodType): Record<string, unknown> {
  // The spec's schema with each field's description (core/spec/descriptions.ts), as skiff explain shows it.
  const json = {
    ...(schema === ServiceSchema ? serviceJsonSchema() : z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' })),
  } as Record<string, unknown>;
  delete json.$schema;
  return optionalTransforms(json) as Record<string, unknown>;
}

const ERROR_SCHEMA = {
  type: 'object',
  description:
    'Every error answer (docs/api.md, "Errors"): `error` names the kind, `message` says what is wrong in one line; a 400 lists every wrong field in `issues`; a 403 names the `permission` missing; a 412 gives the `currentVersion`.',
  required: ['error', 'message'],
  properties: {
    error: {
      type: 'string',
      examples: ['ValidationError', 'NotFoundError', 'ConflictError', 'PreconditionFailedError', 'ForbiddenError', 'UnauthorizedError', 'QuotaExceededError'],
    },
    message: { type: 'string' },
    issues: { type: 'array', items: { type: 'object', required: ['path', 'message'], properties: { path: { type: 'string' }, message: { type: 'string' } } } },
    permission: { type: 'string' },
    namespace: { type: 'string' },
    currentVersion: { type: ['integer', 'string', 'null'] },
  },
};

const LIST_PARAMETERS = [
  { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 1000 }, description: 'Items per page (default 1000; /v1/events: 200).' },
  { name: 'cursor', in: 'query', schema: { type: 'string' }, description: 'The `x-next-cursor` header of the previous page.' },
  {
    name: 'watch',
    in: 'query',
    schema: { type: 'boolean' },
    description: 'With resourceVersion: answer when the page differs from that version, or after timeoutSeconds with the same page.',
  },
  { name: 'resourceVersion', in: 'query', schema: { type: 'string' }, description: 'The `x-resource-version` header of the page last seen.' },
  { name: 'timeoutSeconds', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 25 }, description: 'How long a watch waits (default 25).' },
];

const IF_MATCH = {
  name: 'If-Match',
  in: 'header',
  schema: { type: 'string' },
  description: 'The version read (the ETag of a GET, or the `specVersion`/`version` field), or *: the write is refused with 412 if the object has another now.',
};

/** The document for these routes. */
export function openApiDocument(routes: readonly Route[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const seen = new Set<string>();
  for (const route of routes) {
    const [method, pattern, , access] = route;
    const op = operationOf(method, pattern);
    const path = routePath(pattern);
    seen.add(`${method} ${path}`);
    const params = [...path.matchAll(/\{([A-Za-z]+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string', maxLength: 253 } }));
    const query = Object.entries(op.query ?? {}).map(([name, description]) => ({ name, in: 'query', schema: { type: 'string' }, description }));
    const status = String(op.status ?? 200);
    const headers: Record<string, unknown> = {};
    if (op.list) {
      headers['x-next-cursor'] = { description: 'There is another page: ask for it with ?cursor=', schema: { type: 'string' } };
      headers['x-resource-version'] = { description: "The page's version, for ?watch=true&resourceVersion=", schema: { type: 'string' } };
    }
    if (method === 'GET' || op.ifMatch) headers.ETag = { description: "The object's version (lists: the page's)", schema: { type: 'string' } };
    const authorization =
      access === 'any'
        ? 'Any authenticated caller.'
        : access === 'public'
          ? 'Public: no authentication (OIDC discovery, for whoever verifies a workload token).'
          : 'action' in access
            ? `Needs ${access.action} (${access.namespace === 'path' ? 'in the namespace of the path' : 'cluster-wide'}).`
            : `Authorized in the handler: ${access.handler}.`;
    paths[path] ??= {};
    paths[path][method.toLowerCase()] = {
      operationId: operationId(method, path),
      tags: [op.tag],
      summary: op.summary,
      description: [op.description, authorization].filter(Boolean).join('\n\n'),
      parameters: [...params, ...query, ...(op.list ? LIST_PARAMETERS : []), ...(op.ifMatch ? [IF_MATCH] : [])],
      ...(access === 'public' ? { security: [] } : {}),
      ...(op.body
        ? {
            requestBody: {
              required: true,
              content: {
                'application/json': { schema: { $ref: `#/components/schemas/${bodyName(op.body)}` } },
                ...(op.body === 'service' || op.body === 'documents' || op.body === 'namespace'
                  ? { 'application/yaml': { schema: { $ref: `#/components/schemas/${bodyName(op.body)}` } } }
                  : {}),
              },
            },
          }
        : {}),
      responses: {
        [status]: {
          description: 'Done',
          ...(Object.keys(headers).length ? { headers } : {}),
          content: { 'application/json': { schema: responseSchema(op) } },
        },
        ...(op.ifMatch ? { '412': errorResponse('If-Match names another version than the current one') } : {}),
        default: errorResponse('An error (docs/api.md "Errors")'),
      },
    };
  }
  const undescribed = Object.keys(OPERATIONS).filter((k) => !seen.has(k));
  if (undescribed.length > 0) throw new Error(`app/openapi.ts OPERATIONS describes routes the API does not serve: ${undescribed.join(', ')}`);
  return {
    openapi: '3.1.0',
    info: {
      title: 'Skiff API',
      version: SKIFF_VERSION,
      description: `The Skiff control plane's API (${API_VERSION}). How to call it: docs/api.md.`,
    },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }, { sigv4: [] }],
    tags: [...new Set(Object.values(OPERATIONS).map((o) => o.tag))].map((name) => ({ name })),
    paths,
    components: {
      schemas: {
        Error: ERROR_SCHEMA,
        ...Object.fromEntries(Object.entries(BODY_SCHEMAS).map(([k, s]) => [bodyName(k), inputSchema(s)])),
        ...Object.fromEntries(Object.entries(RESPONSE_SCHEMAS).map(([k, s]) => [k, outputSchema(s)])),
      },
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: "Local clusters: the token in the data dir's api-token file, or one from skiff token create." },
        sigv4: { type: 'apiKey', in: 'header', name: 'Authorization', description: 'On AWS: an IAM SigV4 signature for the execute-api service.' },
      },
    },
  };
}

/** The success answer's schema: the described shape (a list: an array of it), or an object or array. */
function responseSchema(op: Operation): Record<string, unknown> {
  const item = op.response ? { $ref: `#/components/schemas/${op.response}` } : { type: 'object' };
  return op.list ? { type: 'array', items: item } : op.response ? item : { type: 'object' };
}

/** JSON Schema of an answer's zod schema (as the API sends it). */
function outputSchema(schema: z.ZodType): Record<string, unknown> {
  const json = { ...z.toJSONSchema(schema, { io: 'output', target: 'draft-2020-12' }) } as Record<string, unknown>;
  delete json.$schema;
  // Open: a field added to an answer is not a breaking change.
  return openObjects(json) as Record<string, unknown>;
}

function openObjects(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(openObjects);
  if (typeof node !== 'object' || node === null) return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) if (!(k === 'additionalProperties' && v === false)) out[k] = openObjects(v);
  return out;
}

function errorResponse(description: string) {
  return { description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
}

function bodyName(key: string): string {
  return `${key[0].toUpperCase()}${key.slice(1)}Body`;
}

/** `getV1NamespacesNamespaceServicesName`: unique per method and path. */
function operationId(method: string, path: string): string {
  const words = path
    .split('/')
    .filter(Boolean)
    .map((w) => w.replace(/[{}.]/g, ''))
    .map((w) => w.replace(/json$/, 'Json'));
  return method.toLowerCase() + words.map((w) => w[0].toUpperCase() + w.slice(1)).join('');
}
