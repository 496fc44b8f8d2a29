/**
 * The table's keys: which item lives where (docs/state.md), and the rules a key part follows so
 * that two items never share a key.
 */
import { ValidationError } from '../../../core/errors.ts';

export type Item = Record<string, unknown>;
export type Key = { pk: string; sk: string };

/** The one index: services, hosts and host statuses, each under its own partition. */
export const GSI1 = 'gsi1';
export const SERVICES = 'SERVICES';
export const HOSTS = 'HOSTS';
export const HOST_STATUSES = 'HOSTSTATUS';
export const SERVICE_SK = '#SERVICE';
export const HOST_SK = '#HOST';
export const STATUS_SK = 'STATUS';
/**
 * The heartbeat item: the agent's liveness alone, in the host's partition, outside every index.
 * One write unit instead of the whole report written twice (table and index): at 15 s per host,
 * heartbeats are most of the table's writes (docs/cost.md).
 */
export const BEAT_SK = 'BEAT';
const PUBLISHED_SK = 'PUBLISHED';
/**
 * The event log's first home: one partition, sorted by time (`<at>#<id>`). No longer written (one
 * partition took every event of the cluster: a hot key, throttled past 1,000 writes a second), but
 * still read and pruned, so the events of a cluster from before the change stay until they expire.
 */
export const EVENTS_PK = 'EVENTS';
const EVENTS_INDEX = 'EVENTS#';
/**
 * The unfiltered log is spread over this many partitions, `EVENTS#LOG#<n>`, an event's by a hash
 * of its id (so writing the same event again lands on the same item). Eight partitions take eight
 * times the writes of one; an unfiltered read queries all eight (in parallel) and merges them.
 */
export const EVENT_LOG_SHARDS = 8;

/** The log partition an event is written to. */
export function eventLogKey(id: string): string {
  return `${EVENTS_INDEX}LOG#${fnv1a(id) % EVENT_LOG_SHARDS}`;
}

// FNV-1a: cheap, stable across processes and versions (it decides where an item is stored or indexed).
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/**
 * Host records and host statuses are indexed under this many `gsi1` partitions each, by a hash of
 * the host id: `HOSTS#<n>` and `HOSTSTATUS#<n>`. One partition took every host record write (each
 * commit rewrites a host's allocations, and the index copies the whole item) and every full agent
 * report: 300–490 write units in one second at 200–2,000 hosts, about 4,000 in a commit burst at
 * 2,000, where one partition takes 1,000 a second (docs/scale.md). Eight take eight times that.
 */
export const HOST_INDEX_SHARDS = 8;

/** The index partition of a host's record. */
export function hostIndexKey(id: string): string {
  return `${HOSTS}#${fnv1a(id) % HOST_INDEX_SHARDS}`;
}

/** The index partition of a host's status. */
export function hostStatusIndexKey(id: string): string {
  return `${HOST_STATUSES}#${fnv1a(id) % HOST_INDEX_SHARDS}`;
}

/**
 * Every index partition of host records: the shards, and the single `HOSTS` of before them, still
 * read (a record written before the shards is moved to its shard by its next update).
 */
export const HOST_INDEX_KEYS: readonly string[] = [HOSTS, ...Array.from({ length: HOST_INDEX_SHARDS }, (_, i) => `${HOSTS}#${i}`)];

/**
 * Every index partition of host statuses: the shards, and the single `HOSTSTATUS` of before them,
 * still read (an agent of an older version writes its status there; a newer one's next report moves it).
 */
export const HOST_STATUS_INDEX_KEYS: readonly string[] = [HOST_STATUSES, ...Array.from({ length: HOST_INDEX_SHARDS }, (_, i) => `${HOST_STATUSES}#${i}`)];

/** Every partition of the unfiltered log: the shards, and the old single partition. */
export const EVENT_LOG_KEYS: readonly string[] = [EVENTS_PK, ...Array.from({ length: EVENT_LOG_SHARDS }, (_, i) => `${EVENTS_INDEX}LOG#${i}`)];

/**
 * The event log's index partitions, one per filter the CLI offers: each event is also written,
 * whole and under the same `<at>#<id>` sort key, to `EVENTS#SVC#<service>`, `EVENTS#NS#<namespace>`
 * and `EVENTS#HOST#<host>` (those it has), so `skiff events --service web` reads web's events only,
 * never the whole 7-day log. Values are percent-encoded: a '#' in one cannot make two keys meet.
 */
export function eventIndexKeys(e: { namespace?: string; service?: string; host?: string }): string[] {
  const keys: string[] = [];
  if (e.service) keys.push(eventIndexKey('service', e.service));
  if (e.namespace) keys.push(eventIndexKey('namespace', e.namespace));
  if (e.host) keys.push(eventIndexKey('host', e.host));
  return keys;
}

export function eventIndexKey(field: 'namespace' | 'service' | 'host', value: string): string {
  const tag = field === 'service' ? 'SVC' : field === 'namespace' ? 'NS' : 'HOST';
  return `${EVENTS_INDEX}${tag}#${encodeURIComponent(value)}`;
}

/** True for the log's own partition and its index partitions. */
export function isEventPartition(pk: unknown): pk is string {
  return typeof pk === 'string' && (pk === EVENTS_PK || pk.startsWith(EVENTS_INDEX));
}
export const HEALTH_KEY: Key = { pk: 'HEALTH', sk: 'CHECKPOINT' };
export const TASK_SK_PREFIX = 'TASK#';
// Six digits keep tasks in slot order under the sort key; no service has a million replicas.
const MAX_SLOT = 999_999;

export function keyPart(field: string, value: string): string {
  if (typeof value !== 'string' || value === '' || value.includes('#')) {
    // '#' separates key parts: `a#b`/`c` and `a`/`b#c` would share one key.
    throw new ValidationError([{ path: field, message: `must be a non-empty string without "#" (got ${JSON.stringify(value)})` }]);
  }
  return value;
}

export function serviceKey(namespace: string, name: string): Key {
  return { pk: `SVC#${keyPart('namespace', namespace)}#${keyPart('name', name)}`, sk: SERVICE_SK };
}

export function taskKey(namespace: string, service: string, slot: number): Key {
  if (!Number.isInteger(slot) || slot < 0 || slot > MAX_SLOT) {
    throw new ValidationError([{ path: 'slot', message: `must be an integer from 0 to ${MAX_SLOT} (got ${slot})` }]);
  }
  return { pk: serviceKey(namespace, service).pk, sk: `${TASK_SK_PREFIX}${String(slot).padStart(6, '0')}` };
}

function hostId(id: string): string {
  if (typeof id !== 'string' || id === '') throw new ValidationError([{ path: 'hostId', message: 'must be a non-empty string' }]);
  return id;
}

/**
 * The partition of the items a host's own agent reads and writes (host, host status). With the
 * instance ARN prefix it is `HOST#<instance ARN>`, the key the host role's IAM policy allows.
 */
export function hostPartitionKey(hostArnPrefix: string, id: string): string {
  return `HOST#${hostArnPrefix}${hostId(id)}`;
}

// The publication record is the scheduler's alone, so it stays outside the partition the host
// may write (`HOST#<id>`, without the prefix): a host cannot forge what was published to it.
export const publishedKey = (id: string): Key => ({ pk: `HOST#${hostId(id)}`, sk: PUBLISHED_SK });
export const taskLabel = (namespace: string, service: string, slot: number) => `task slot ${namespace}/${service}#${slot}`;

// ---- keys back to identities: what a read item's own key says it is ----

/** `(namespace, name)` of a service key, or undefined if `pk`/`sk` are not one. */
export function decodeServiceKey(pk: unknown, sk: unknown): { namespace: string; name: string } | undefined {
  const m = typeof pk === 'string' && sk === SERVICE_SK ? /^SVC#([^#]+)#([^#]+)$/.exec(pk) : null;
  return m ? { namespace: m[1], name: m[2] } : undefined;
}

/** `(namespace, service, slot)` of a task key, or undefined. */
export function decodeTaskKey(pk: unknown, sk: unknown): { namespace: string; service: string; slot: number } | undefined {
  const m = typeof pk === 'string' ? /^SVC#([^#]+)#([^#]+)$/.exec(pk) : null;
  const s = typeof sk === 'string' ? /^TASK#(\d{6})$/.exec(sk) : null;
  return m && s ? { namespace: m[1], service: m[2], slot: Number(s[1]) } : undefined;
}

/** The host id of a key in a host's partition with sort key `expectedSk`, or undefined. */
export function decodeHostKey(hostArnPrefix: string, pk: unknown, sk: unknown, expectedSk: string): string | undefined {
  const head = `HOST#${hostArnPrefix}`;
  if (typeof pk !== 'string' || sk !== expectedSk || !pk.startsWith(head)) return undefined;
  const id = pk.slice(head.length);
  return id !== '' ? id : undefined;
}
