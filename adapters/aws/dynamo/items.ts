/**
 * Items <-> domain values, and item sizes as DynamoDB counts them. Every item read is checked
 * against its kind's schema and its own key (core/items.ts); one that fails is reported to the
 * store's bad-item log and read as absent.
 */
import { LimitError } from '../../../core/errors.ts';
import type { HealthCheckpoint } from '../../../core/health.ts';
import {
  parseCheckpointItem,
  parseEventItem,
  parseHeartbeatItem,
  parseHostItem,
  parseHostStatusItem,
  parsePublishedItem,
  parseServiceItem,
  parseTaskItem,
  taskFields,
  type BadItemLog,
  type ItemKind,
  type ItemResult,
} from '../../../core/items.ts';
import type { ClusterEvent, Host, HostStatus, Service, Task } from '../../../core/types.ts';
import {
  BEAT_SK,
  EVENTS_PK,
  HOST_SK,
  eventIndexKeys,
  eventLogKey,
  isEventPartition,
  STATUS_SK,
  decodeHostKey,
  decodeServiceKey,
  decodeTaskKey,
  type Item,
} from './keys.ts';

/** DynamoDB's hard item size limit (names + values), 400 KB. */
export const MAX_ITEM_BYTES = 400 * 1024;

/** Where bad items go: the store's log (see core/items.ts `BadItemLog`). */
export type BadItemReporter = Pick<BadItemLog, 'report'>;

/** An item's key, as reports name it. */
export function keyName(item: Item): string {
  return `${String(item.pk)} / ${String(item.sk)}`;
}

function accept<T>(log: BadItemReporter, kind: ItemKind, item: Item, result: ItemResult<T>): T | undefined {
  if (result.ok) return result.value;
  log.report({ kind, key: keyName(item), reason: result.reason });
  return undefined;
}

function refuse(log: BadItemReporter, kind: ItemKind, item: Item, reason: string): undefined {
  log.report({ kind, key: keyName(item), reason });
  return undefined;
}

/** The service an item holds, if it is a valid service at its own key; reported and undefined otherwise. */
export function toService(log: BadItemReporter, item: Item): Service | undefined {
  const key = decodeServiceKey(item.pk, item.sk);
  if (key === undefined) return refuse(log, 'service', item, 'its key is not a service key (SVC#<namespace>#<name> / #SERVICE)');
  return accept(log, 'service', item, parseServiceItem(item, key));
}

export function fromTask(task: Task): Item {
  return { ...taskFields(task) };
}

export function toTask(log: BadItemReporter, item: Item): Task | undefined {
  const key = decodeTaskKey(item.pk, item.sk);
  if (key === undefined) return refuse(log, 'task', item, 'its key is not a task key (SVC#<namespace>#<service> / TASK#<slot>)');
  return accept(log, 'task', item, parseTaskItem(item, key));
}

export function toEvent(log: BadItemReporter, item: Item): ClusterEvent | undefined {
  const { pk, sk, type: _kind, eventType, expiresAt: _ttl, ...rest } = item;
  if (!isEventPartition(pk) || typeof sk !== 'string') return refuse(log, 'event', item, 'its key is not an event key');
  const parsed = parseEventItem({ ...rest, type: eventType });
  if (parsed.ok && sk !== `${parsed.value.at}#${parsed.value.id}`) return refuse(log, 'event', item, `its sort key is not <at>#<id>`);
  // An index copy sits only under the index keys of its own fields (keys.ts eventIndexKeys).
  if (parsed.ok && pk !== EVENTS_PK && pk !== eventLogKey(parsed.value.id) && !eventIndexKeys(parsed.value).includes(pk))
    return refuse(log, 'event', item, 'its partition is neither its log shard nor one of its index keys');
  return accept(log, 'event', item, parsed);
}

export function pick(host: Pick<Host, 'id' | 'address' | 'capacity' | 'labels'>): Pick<Host, 'id' | 'address' | 'capacity' | 'labels'> {
  return { id: host.id, address: host.address, capacity: { cpu: host.capacity.cpu, memory: host.capacity.memory }, labels: host.labels };
}

export function toHost(log: BadItemReporter, hostArnPrefix: string, item: Item): Host | undefined {
  const hostId = decodeHostKey(hostArnPrefix, item.pk, item.sk, HOST_SK);
  if (hostId === undefined) return refuse(log, 'host', item, 'its key is not a host key (HOST#<host> / #HOST)');
  return accept(log, 'host', item, parseHostItem(item, { hostId }));
}

/** The host status an item holds; its host id comes from the key alone (the host writes the attributes). */
export function toHostStatus(log: BadItemReporter, hostArnPrefix: string, item: Item): HostStatus | undefined {
  const hostId = decodeHostKey(hostArnPrefix, item.pk, item.sk, STATUS_SK);
  if (hostId === undefined) return refuse(log, 'hoststatus', item, 'its key is not a host status key (HOST#<host> / STATUS)');
  return accept(log, 'hoststatus', item, parseHostStatusItem(item, { hostId }));
}

/** The heartbeat time an item holds, if valid and in the partition of the host it is read for. */
export function toBeat(log: BadItemReporter, hostArnPrefix: string, item: Item | undefined): { hostId: string; heartbeatAt: string } | undefined {
  if (item === undefined) return undefined;
  const hostId = decodeHostKey(hostArnPrefix, item.pk, item.sk, BEAT_SK);
  if (hostId === undefined) return refuse(log, 'heartbeat', item, 'its key is not a heartbeat key (HOST#<host> / BEAT)');
  return accept(log, 'heartbeat', item, parseHeartbeatItem(item, { hostId }));
}

export function toPublished(log: BadItemReporter, item: Item): { generation: number; hash: string } | undefined {
  return accept(log, 'published', item, parsePublishedItem({ generation: item.generation, hash: item.hash }));
}

export function toCheckpoint(log: BadItemReporter, item: Item): HealthCheckpoint | undefined {
  return accept(log, 'checkpoint', item, parseCheckpointItem({ lastRunAt: item.lastRunAt, resumedAt: item.resumedAt, heldSince: item.heldSince }));
}

/** The status with the later of its own time and its heartbeat's. */
export function withBeat(status: HostStatus, beat: { heartbeatAt: string } | undefined): HostStatus {
  const at = beat?.heartbeatAt;
  return at !== undefined && Date.parse(at) > Date.parse(status.heartbeatAt) ? { ...status, heartbeatAt: at } : status;
}

/** Every item that reads as a value; the rest reported and left out. */
export function valid<T>(values: readonly (T | undefined)[]): T[] {
  return values.filter((v): v is T => v !== undefined);
}

// ---- sizes ----

/** Reject an item DynamoDB would refuse, before sending it, naming the item and its size. */
export function checkItemSize(label: string, item: Item): void {
  const size = itemSize(item);
  if (size > MAX_ITEM_BYTES) {
    throw new LimitError(`${label} would be ${size} bytes; a DynamoDB item holds at most ${MAX_ITEM_BYTES} bytes (400 KB)`);
  }
}

/**
 * An item's size as DynamoDB counts it: UTF-8 names and strings, numbers at about one byte per two
 * digits plus one, 1 byte for booleans and nulls, 3 bytes plus 1 per element for maps and lists.
 */
export function itemSize(item: Item): number {
  let size = 0;
  for (const [name, value] of Object.entries(item)) {
    if (value === undefined) continue;
    size += Buffer.byteLength(name) + valueSize(value);
  }
  return size;
}

function valueSize(value: unknown): number {
  switch (typeof value) {
    case 'string':
      return Buffer.byteLength(value);
    case 'number': {
      const digits = String(Math.abs(value)).replace(/e.*$/, '').replace('.', '').replace(/^0+/, '').length || 1;
      return 1 + Math.ceil(digits / 2) + (value < 0 ? 1 : 0);
    }
    case 'boolean':
      return 1;
    case 'object': {
      if (value === null) return 1;
      if (Array.isArray(value)) return 3 + value.reduce((sum: number, v) => sum + 1 + valueSize(v), 0);
      let size = 3;
      for (const [k, v] of Object.entries(value)) {
        if (v === undefined) continue;
        size += 1 + Buffer.byteLength(k) + valueSize(v);
      }
      return size;
    }
    default:
      return 0;
  }
}

export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
