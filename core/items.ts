/**
 * What a stored item may hold, kind by kind, and the check that its identity is the one its key
 * says. Pure: the store adapters decode their keys and call these on every item they read.
 *
 * Why: on AWS a host role may write any attribute of any item under its own partition key (IAM's
 * `dynamodb:LeadingKeys` says nothing about the sort key), and a reader used to take namespace,
 * name and host id from the item's attributes. A host could write an item that indexes as a
 * service or as another host's status, or a status whose values crash every pass (`capacity:
 * null`, `ports: null`, an event time that is no time) or pull every task to it (`capacity:
 * 1e12`). So nothing read from the store is trusted: every item is parsed against its schema (every
 * number, string and list bounded), its identity must equal its key's, and a host-written item
 * (status, heartbeat) takes its host id from the key alone. A bad item is skipped and reported
 * (`BadItem`), never fatal.
 */
import { z } from 'zod';
import { parseServiceSpec, serviceSpecToJson } from './spec.ts';
import { MAX_REPLICAS, MAX_REVISION_HISTORY } from './spec/defaults.ts';
import type { ClusterEvent, Host, HostStatus, PodSpec, Service, ServiceSpec, Task } from './types.ts';
import type { HealthCheckpoint } from './health.ts';

// ---- bounds ----

/** A host's CPU claim, in millicores: 1,024 cores. No machine EC2 or anyone sells is bigger. */
export const MAX_HOST_CPU_MILLIS = 1024 * 1000;
/** A host's memory claim, in bytes: 64 TiB (EC2's largest is 32 TiB). */
export const MAX_HOST_MEMORY_BYTES = 64 * 1024 ** 4;
/** Tasks one host reports: far above what fits in a 400 KB item (about 1,300 at 300 B each). */
export const MAX_STATUS_TASKS = 5000;
/** Allocations one host holds: far above what fits in a 400 KB item (about 2,500). */
export const MAX_HOST_ALLOCATIONS = 10_000;
/** Events one status carries (the agent keeps a small ring). */
export const MAX_STATUS_EVENTS = 1000;
/** Volume removals one status reports: those of its document, which a 400 KB item holds a few thousand of. */
export const MAX_REMOVED_VOLUMES = 5000;
const MAX_PORTS = 1000;
const MAX_CONTAINERS = 100;
const MAX_LABELS = 100;
const MAX_ID = 512;
// Messages (a Docker error, a probe's output) are bounded by DynamoDB's 400 KB item anyway: this
// bound only keeps a single value sane, and is generous so that an honest host's long error
// message never makes its whole status invalid (a host without a valid status looks dead).
const MAX_TEXT = 64 * 1024;
const MAX_COUNT = 1e12;

/** The kinds of item in the table. */
export type ItemKind = 'service' | 'task' | 'host' | 'hoststatus' | 'heartbeat' | 'event' | 'published' | 'checkpoint' | 'volume';

/** An item that failed its schema or its key check: skipped by the reader, reported to the control plane. */
export interface BadItem {
  readonly kind: ItemKind;
  /** The item's key as the store names it (`pk / sk` on DynamoDB). */
  readonly key: string;
  /** Why it was refused: the first schema issues, or the identity that disagrees with the key. */
  readonly reason: string;
}

export type ItemResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };

// ---- building blocks ----

const id = z.string().min(1).max(MAX_ID);
const text = z.string().max(MAX_TEXT);
const count = z.number().int().min(0).max(MAX_COUNT);
/** A time: an ISO 8601 string that `Date.parse` understands (events are keyed and expired by it). */
const time = z
  .string()
  .max(64)
  .refine((s) => !Number.isNaN(Date.parse(s)), 'must be a parseable time');
const port = z.number().int().min(0).max(65_535);
const labels = z.record(z.string().max(256), z.string().max(1024)).refine((r) => Object.keys(r).length <= MAX_LABELS, `at most ${MAX_LABELS} labels`);
const resources = z.object({ cpu: z.number().int().min(0).max(MAX_HOST_CPU_MILLIS), memory: z.number().int().min(0).max(MAX_HOST_MEMORY_BYTES) });
/** A host's capacity: positive and within physical bounds. */
export const CapacitySchema = z.object({ cpu: z.number().int().min(1).max(MAX_HOST_CPU_MILLIS), memory: z.number().int().min(1).max(MAX_HOST_MEMORY_BYTES) });

/**
 * A stored spec is one `parseServiceSpec` accepts (through its JSON form): bounded by the same rules
 * as `skiff apply`. The stored value is kept as it is (parsing would fill defaults a writer left out).
 */
const serviceSpec = z.unknown().transform((value, ctx): ServiceSpec => {
  try {
    parseServiceSpec(serviceSpecToJson(value as ServiceSpec));
    return value as ServiceSpec;
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `spec: ${(err as Error).message}` });
    return z.NEVER;
  }
});

/** A stored pod is the containers and restart policy of a spec that parses (kept as stored, as a spec). */
const pod = z
  .object({
    containers: z.array(z.unknown()).max(MAX_CONTAINERS),
    restartPolicy: z.enum(['always', 'on-failure', 'never']),
    pidsLimit: z.number().optional(),
    terminationGracePeriodSeconds: z.number().optional(),
    volumes: z.array(z.unknown()).optional(),
    initContainers: z.array(z.unknown()).optional(),
    identity: z.unknown().optional(),
    network: z.unknown().optional(),
  })
  .transform((value, ctx): PodSpec => {
    if (value.containers.length === 0) return value as unknown as PodSpec;
    try {
      const spec = {
        kind: 'Service',
        metadata: { name: 'pod', namespace: 'pod', labels: {} },
        spec: {
          replicas: 1,
          containers: value.containers,
          restartPolicy: value.restartPolicy,
          pidsLimit: value.pidsLimit,
          terminationGracePeriodSeconds: value.terminationGracePeriodSeconds,
          volumes: value.volumes,
          initContainers: value.initContainers,
          identity: value.identity,
          network: value.network,
          placement: { strategy: 'spread', constraints: [] },
        },
      };
      parseServiceSpec(serviceSpecToJson(spec as unknown as ServiceSpec));
      return value as unknown as PodSpec;
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `pod: ${(err as Error).message}` });
      return z.NEVER;
    }
  });

// ---- the schemas, one per kind ----

/** The rollout state on a service item (core/rollout.ts); revision templates are pods that parse. */
const rollout = z
  .object({
    specVersion: z.number().int().min(1).max(MAX_COUNT),
    phase: z.enum(['progressing', 'complete', 'rolledBack', 'failed']),
    startedAt: time,
    progressAt: time,
    updated: count,
    message: text.optional(),
    rollbackOf: z.number().int().min(1).max(MAX_COUNT).optional(),
    restartedAt: time.optional(),
    revisions: z
      .array(z.object({ version: z.number().int().min(1).max(MAX_COUNT), template: pod, at: time, cause: text.optional() }).strict())
      .max(MAX_REVISION_HISTORY),
  })
  .strict();

export const ServiceItemSchema = z.object({
  namespace: id,
  name: id,
  spec: serviceSpec,
  specVersion: z.number().int().min(1).max(MAX_COUNT),
  createdAt: time,
  updatedAt: time,
  deleting: z.boolean(),
  scale: z
    .object({ replicas: z.number().int().min(0).max(MAX_REPLICAS), source: z.enum(['cli', 'autoscaler']), at: time, reason: text.optional() })
    .strict()
    .optional(),
  // A Job's progress (core/jobs.ts): bounded sets, as planJob keeps them.
  job: z
    .object({
      state: z.enum(['running', 'succeeded', 'failed']),
      succeeded: z.array(z.number().int().min(1).max(MAX_REPLICAS)).max(MAX_REPLICAS),
      failed: z.array(z.string().max(128)).max(101),
      startedAt: time,
      completedAt: time.optional(),
      reason: text.optional(),
      message: text.optional(),
    })
    .strict()
    .optional(),
  rollout: rollout.optional(),
});

const unplaceable = z.object({
  at: time,
  message: text,
  rejected: z.record(z.string().max(256), count).refine((r) => Object.keys(r).length <= MAX_LABELS),
  hosts: count,
  waiting: text.optional(),
});

export const TaskItemSchema = z.object({
  id,
  namespace: id,
  service: id,
  slot: z.number().int().min(0).max(999_999),
  incarnation: count,
  specVersion: count,
  pod,
  desired: z.enum(['running', 'shutdown']),
  host: id.optional(),
  createdAt: time,
  unplaceable: unplaceable.optional(),
  previous: z.object({ id, host: id, specVersion: count, pod }).optional(),
  avoidHost: id.optional(),
  pinnedHost: id.optional(),
  reason: text.optional(),
});

const allocation = z.object({
  taskId: id,
  namespace: id,
  service: id,
  slot: z.number().int().min(0).max(999_999),
  resources,
  hostPorts: z.array(port).max(MAX_PORTS),
});

export const HostItemSchema = z.object({
  id,
  address: z.string().min(1).max(256),
  capacity: CapacitySchema,
  labels: labels.default({}),
  state: z.enum(['ready', 'suspect', 'degraded', 'draining', 'down']),
  stateSince: time.optional(),
  registeredAt: time,
  version: z.number().int().min(1).max(MAX_COUNT),
  allocations: z
    .record(id, allocation)
    .refine((r) => Object.keys(r).length <= MAX_HOST_ALLOCATIONS, `at most ${MAX_HOST_ALLOCATIONS} allocations`)
    .default({}),
});

export const EventSchema = z.object({
  id,
  at: time,
  type: z.string().min(1).max(256),
  message: text,
  namespace: id.optional(),
  service: id.optional(),
  task: id.optional(),
  host: id.optional(),
  actor: z.string().min(1).max(512).optional(),
});

const publishedPort = z.object({
  container: z.string().max(256),
  containerPort: port,
  protocol: z.enum(['tcp', 'udp']),
  hostIp: z.string().max(64),
  hostPort: port,
});

const taskStatus = z.object({
  taskId: id,
  namespace: id,
  service: id,
  state: z.enum(['pending', 'assigned', 'creating', 'starting', 'running', 'exited', 'failed', 'stopped', 'lost']),
  health: z.enum(['starting', 'healthy', 'unhealthy']).optional(),
  restarts: count.optional(),
  lastExitCode: z
    .number()
    .int()
    .min(-(2 ** 31))
    .max(2 ** 32)
    .optional(),
  exitCode: z
    .number()
    .int()
    .min(-(2 ** 31))
    .max(2 ** 32)
    .optional(),
  message: text.optional(),
  ports: z.array(publishedPort).max(MAX_PORTS),
  address: z.string().max(64).optional(),
  containers: z.array(z.object({ name: z.string().max(256), id: z.string().max(256), state: z.string().max(256) })).max(MAX_CONTAINERS),
  since: time,
  // Bounded by the largest host a claim may describe: a host cannot report usage beyond any machine.
  usage: z.object({ cpu: z.number().int().min(0).max(MAX_HOST_CPU_MILLIS), memory: z.number().int().min(0).max(MAX_HOST_MEMORY_BYTES) }).optional(),
});

/** The status a host writes. No `hostId`: that comes from the item's key. */
export const HostStatusItemSchema = z.object({
  heartbeatAt: time,
  generation: count,
  tasks: z.array(taskStatus).max(MAX_STATUS_TASKS),
  agentVersion: z.string().max(256),
  events: z.array(EventSchema).max(MAX_STATUS_EVENTS).optional(),
  runtime: z.object({ state: z.literal('unresponsive'), since: time, message: text }).optional(),
  claim: z
    .object({
      address: z.string().min(1).max(256),
      // Any finite amount: a claim above the machine is capped, not refused (register-hosts).
      capacity: z.object({ cpu: z.number().finite().min(0), memory: z.number().finite().min(0) }),
      labels: labels.default({}),
      instanceType: z.string().max(64).optional(),
    })
    .optional(),
  // volumeKeyString of each volume the host deleted: four short key parts.
  removedVolumes: z.array(z.string().max(320)).max(MAX_REMOVED_VOLUMES).optional(),
});

export const HeartbeatItemSchema = z.object({ heartbeatAt: time });

export const PublishedItemSchema = z.object({ generation: z.number().int().min(1).max(MAX_COUNT), hash: z.string().min(1).max(256) });

export const CheckpointItemSchema = z.object({
  lastRunAt: z.number().finite().min(0),
  resumedAt: z.number().finite().min(0),
  heldSince: z.number().finite().min(0).optional(),
});

// ---- parse + key check ----

function parse<S extends z.ZodType>(schema: S, item: unknown): ItemResult<z.output<S>> {
  const result = schema.safeParse(item);
  if (result.success) return { ok: true, value: result.data };
  const issues = result.error.issues.slice(0, 3).map((i) => `${i.path.length ? i.path.join('.') : '(item)'}: ${i.message}`);
  return { ok: false, reason: issues.join('; ') };
}

/** Each identity attribute the item holds must equal the one its key says. */
function mismatch(item: Record<string, unknown>, expected: Record<string, unknown>): string | undefined {
  for (const [field, value] of Object.entries(expected)) {
    if (item[field] !== value) return `${field} ${JSON.stringify(item[field])} is not ${JSON.stringify(value)}, as its key says`;
  }
  return undefined;
}

function drop<T extends Record<string, unknown>>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/** A service item whose key is `(namespace, name)`. */
export function parseServiceItem(item: Record<string, unknown>, key: { namespace: string; name: string }): ItemResult<Service> {
  const parsed = parse(ServiceItemSchema, item);
  if (!parsed.ok) return parsed;
  const wrong = mismatch(item, key) ?? mismatch(parsed.value.spec.metadata as unknown as Record<string, unknown>, key);
  return wrong ? { ok: false, reason: wrong } : parsed;
}

/** A task item whose key is `(namespace, service, slot)`. */
export function parseTaskItem(item: Record<string, unknown>, key: { namespace: string; service: string; slot: number }): ItemResult<Task> {
  const parsed = parse(TaskItemSchema, item);
  if (!parsed.ok) return parsed;
  const wrong = mismatch(item, key);
  return wrong ? { ok: false, reason: wrong } : { ok: true, value: drop(parsed.value) as Task };
}

/** A host record whose key names host `hostId`. */
export function parseHostItem(item: Record<string, unknown>, key: { hostId: string }): ItemResult<Host> {
  const parsed = parse(HostItemSchema, item);
  if (!parsed.ok) return parsed;
  const wrong = mismatch(item, { id: key.hostId });
  return wrong ? { ok: false, reason: wrong } : { ok: true, value: drop(parsed.value) as Host };
}

/**
 * A host's status, in the partition of host `hostId`. The host writes this item, so the key is the
 * only source of its host id: an item that names another host is a forgery, refused.
 */
export function parseHostStatusItem(item: Record<string, unknown>, key: { hostId: string }): ItemResult<HostStatus> {
  const parsed = parse(HostStatusItemSchema, item);
  if (!parsed.ok) return parsed;
  if (item.hostId !== undefined && item.hostId !== key.hostId)
    return { ok: false, reason: `hostId ${JSON.stringify(item.hostId)} is not ${JSON.stringify(key.hostId)}, as its key says` };
  return {
    ok: true,
    value: drop({
      hostId: key.hostId,
      ...parsed.value,
      events: parsed.value.events?.map((e) => drop(e) as ClusterEvent),
      claim: parsed.value.claim && drop(parsed.value.claim),
    }) as HostStatus,
  };
}

/** A heartbeat in the partition of host `hostId` (its host id from the key alone, as a status). */
export function parseHeartbeatItem(item: Record<string, unknown>, key: { hostId: string }): ItemResult<{ hostId: string; heartbeatAt: string }> {
  const parsed = parse(HeartbeatItemSchema, item);
  if (!parsed.ok) return parsed;
  if (item.hostId !== undefined && item.hostId !== key.hostId)
    return { ok: false, reason: `hostId ${JSON.stringify(item.hostId)} is not ${JSON.stringify(key.hostId)}, as its key says` };
  return { ok: true, value: { hostId: key.hostId, heartbeatAt: parsed.value.heartbeatAt } };
}

/** An event in the log; its key is `<at>#<id>`, when the store keys it so. */
export function parseEventItem(item: Record<string, unknown>, key?: { at: string; id: string }): ItemResult<ClusterEvent> {
  const parsed = parse(EventSchema, item);
  if (!parsed.ok) return parsed;
  const wrong = key && mismatch(item, key);
  return wrong ? { ok: false, reason: wrong } : { ok: true, value: drop(parsed.value) as ClusterEvent };
}

export function parsePublishedItem(item: Record<string, unknown>): ItemResult<{ generation: number; hash: string }> {
  return parse(PublishedItemSchema, item);
}

export function parseCheckpointItem(item: Record<string, unknown>): ItemResult<HealthCheckpoint> {
  const parsed = parse(CheckpointItemSchema, item);
  return parsed.ok ? { ok: true, value: drop(parsed.value) as HealthCheckpoint } : parsed;
}

/** A host's capacity claim within the schema's bounds (and a configured maximum, if any); the reason otherwise. */
export function capacityIssue(capacity: unknown, max?: { cpu: number; memory: number }): string | undefined {
  const parsed = parse(CapacitySchema, capacity);
  if (!parsed.ok) return `capacity ${parsed.reason}`;
  if (max && (parsed.value.cpu > max.cpu || parsed.value.memory > max.memory)) {
    return `capacity ${JSON.stringify(parsed.value)} is above the most a host may claim, ${JSON.stringify(max)}`;
  }
  return undefined;
}

/**
 * Collects bad items for the control plane: the store reports each one here as it skips it, the
 * pass takes them and turns them into `item.invalid` events and the BadItems metric. Bounded, so a
 * store whose reports nobody takes never grows without end.
 */
export class BadItemLog {
  private items: BadItem[] = [];
  private dropped = 0;
  constructor(
    private readonly onBadItem?: (report: BadItem) => void,
    private readonly max = 100,
  ) {}

  report(item: BadItem): void {
    this.onBadItem?.(item);
    // The same item is read on every list: keep one report per key until taken.
    if (this.items.some((i) => i.key === item.key && i.reason === item.reason)) return;
    if (this.items.length >= this.max) this.dropped++;
    else this.items.push(item);
  }

  /** The reports since the last take (one per item and reason), and how many more were left out. */
  take(): { items: BadItem[]; dropped: number } {
    const out = { items: this.items, dropped: this.dropped };
    this.items = [];
    this.dropped = 0;
    return out;
  }
}

/** The event the control plane records for a bad item. */
export function badItemEvent(item: BadItem, at: string): ClusterEvent {
  return {
    id: `item-invalid-${item.kind}-${item.key}`.replace(/[^A-Za-z0-9._:/-]/g, '_').slice(0, 200),
    at,
    type: 'item.invalid',
    message: `skipped a bad ${item.kind} item ${item.key}: ${item.reason}`.slice(0, 2000),
  };
}

/** A task's own stored fields and nothing else (an extra property on the value is not stored); unset ones stay undefined. */
export function taskFields(task: Task): Task {
  return {
    id: task.id,
    namespace: task.namespace,
    service: task.service,
    slot: task.slot,
    incarnation: task.incarnation,
    specVersion: task.specVersion,
    pod: task.pod,
    desired: task.desired,
    host: task.host,
    createdAt: task.createdAt,
    unplaceable: task.unplaceable,
    previous: task.previous,
    avoidHost: task.avoidHost,
    pinnedHost: task.pinnedHost,
    reason: task.reason,
  };
}
