/**
 * The shapes of the answers of the lists and of one object, for the OpenAPI document: the fields clients and scripts read
 * (docs/api.md), each required where the API always sends it. Open objects (more fields may come:
 * adding one is not a breaking change). test/unit/api-openapi.test.ts checks real answers of the
 * API core against the document's schemas, so these cannot drift from what the API sends.
 */
import { z } from 'zod';

const when = z.string().describe('An ISO 8601 time.');
const resources = z.object({ cpu: z.number().describe('Millicores.'), memory: z.number().describe('Bytes.') });

export const ServiceSummarySchema = z.object({
  namespace: z.string(),
  name: z.string(),
  dns: z.string().describe('The name that resolves to the healthy replicas.'),
  ingress: z.object({ host: z.string() }).nullable(),
  replicas: z.int().describe('What the reconciler converges to: the spec count, or the one chosen since (scale).'),
  scale: z.object({ replicas: z.int(), source: z.enum(['cli', 'autoscaler']), at: when }).nullable(),
  autoscaling: z.object({ minReplicas: z.int(), maxReplicas: z.int() }).nullable(),
  running: z.int().describe('Replicas running the current spec, healthy if probed.'),
  tasks: z.int(),
  ready: z.boolean().describe('Every replica runs the current spec and no surplus task is left.'),
  specVersion: z.int(),
  deleting: z.union([z.string(), z.boolean()]).optional(),
  createdAt: when,
  updatedAt: when,
});

export const TaskViewSchema = z.object({
  id: z.string(),
  namespace: z.string(),
  service: z.string(),
  slot: z.int(),
  host: z.string().nullable(),
  desired: z.enum(['running', 'shutdown']),
  state: z.enum(['pending', 'assigned', 'creating', 'starting', 'running', 'exited', 'failed', 'stopped', 'lost']),
  health: z.enum(['starting', 'healthy', 'unhealthy']).optional(),
  restarts: z.int().optional(),
  exitCode: z.int().optional(),
  message: z.string().optional(),
  ports: z.array(z.object({ containerPort: z.int(), hostIp: z.string(), hostPort: z.int(), protocol: z.enum(['tcp', 'udp']), container: z.string() })),
  address: z.string().optional().describe("The replica's address on the container network."),
  specVersion: z.int(),
  createdAt: when,
  reserved: resources.optional().describe("What the pod reserves on its host: its containers' CPU (millicores) and memory (bytes) summed."),
  usage: z
    .object({ cpu: z.number().describe("Millicores, over the agent's last sampling interval."), memory: z.number().describe('Bytes: the working set.') })
    .optional()
    .describe('What its running containers use, as its agent last reported it; absent until measured.'),
});

export const HostViewSchema = z.object({
  id: z.string(),
  address: z.string(),
  state: z.enum(['ready', 'suspect', 'degraded', 'draining', 'down']),
  labels: z.record(z.string(), z.string()),
  capacity: resources,
  allocated: resources,
  tasks: z.int(),
  heartbeatAt: when.nullable(),
  registeredAt: when,
});

export const EventSchema = z.object({
  id: z.string(),
  at: when,
  type: z.string().describe('task.placed, task.started, host.down, service.updated, ...'),
  message: z.string(),
  namespace: z.string().optional(),
  service: z.string().optional(),
  task: z.string().optional(),
  host: z.string().optional(),
  actor: z.string().optional().describe('Who made the change, on events of API writes.'),
});

export const VersionSchema = z.object({ version: z.string(), api: z.string() });

export const JobSummarySchema = z.object({
  namespace: z.string(),
  name: z.string(),
  kind: z.enum(['Job', 'CronJob']),
  completions: z.int(),
  parallelism: z.int(),
  succeeded: z.int().describe('Tasks that exited 0.'),
  failed: z.int(),
  active: z.int().describe('Tasks running now.'),
  state: z.enum(['running', 'succeeded', 'failed']),
  reason: z.string().optional(),
  message: z.string().optional(),
  startedAt: when.nullable(),
  completedAt: when.nullable(),
  deleting: z.boolean(),
  createdAt: when,
});

export const SecretViewSchema = z.object({
  namespace: z.string(),
  name: z.string(),
  keys: z.array(z.string()).describe('The keys; no route returns a value.'),
  version: z.string(),
  createdAt: when,
  updatedAt: when,
});

export const VolumeViewSchema = z.object({
  name: z.string().describe('The volume id: <namespace>-<service>-<volume>-<slot>.'),
  namespace: z.string(),
  service: z.string(),
  volume: z.string(),
  slot: z.int(),
  host: z.string().describe('The host that holds its data locally.'),
  createdAt: when,
  state: z
    .enum(['bound', 'retained', 'deleting'])
    .describe('bound: a service of its name declares it; retained: kept without one, for a later service of that name; deleting: its host is deleting it.'),
  deleting: when.optional().describe('When its removal was asked.'),
});

const usage = z.object({ cpu: z.number(), memory: z.number(), tasks: z.int(), services: z.int(), ingressHosts: z.int() });

export const NamespaceViewSchema = z.object({
  name: z.string(),
  object: z.boolean().describe('False for a namespace that exists only through its services.'),
  quota: z.object({ cpu: z.number(), memory: z.number(), tasks: z.int(), services: z.int(), ingressHosts: z.int() }).partial().nullable(),
  ingressHosts: z.array(z.string()).nullable(),
  used: usage,
  deleting: when.nullable(),
  version: z.int().nullable(),
});

/** The answers described, by name (`components.schemas`). */
export const RESPONSE_SCHEMAS = {
  ServiceSummary: ServiceSummarySchema,
  TaskView: TaskViewSchema,
  HostView: HostViewSchema,
  Event: EventSchema,
  Version: VersionSchema,
  JobSummary: JobSummarySchema,
  SecretView: SecretViewSchema,
  VolumeView: VolumeViewSchema,
  NamespaceView: NamespaceViewSchema,
} as const;
