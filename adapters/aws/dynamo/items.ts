/** Items <-> domain values, and item sizes as DynamoDB counts them. */
import { LimitError } from '../../../core/errors.ts';
import type { ClusterEvent, Host, HostStatus, Service, ServiceSpec, Task } from '../../../core/types.ts';
import type { Item } from './keys.ts';

/** DynamoDB's hard item size limit (names + values), 400 KB. */
export const MAX_ITEM_BYTES = 400 * 1024;

export function toService(item: Item): Service {
  return {
    namespace: String(item.namespace),
    name: String(item.name),
    spec: item.spec as ServiceSpec,
    specVersion: Number(item.specVersion),
    createdAt: String(item.createdAt),
    updatedAt: String(item.updatedAt),
    deleting: item.deleting === true,
  };
}

export function fromTask(task: Task): Item {
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
    reason: task.reason,
  };
}

export function toTask(item: Item): Task {
  return {
    id: String(item.id),
    namespace: String(item.namespace),
    service: String(item.service),
    slot: Number(item.slot),
    incarnation: Number(item.incarnation),
    specVersion: Number(item.specVersion),
    pod: item.pod as Task['pod'],
    desired: item.desired as Task['desired'],
    ...(typeof item.host === 'string' ? { host: item.host } : {}),
    createdAt: String(item.createdAt),
    ...(item.unplaceable !== undefined ? { unplaceable: item.unplaceable as Task['unplaceable'] } : {}),
    ...(item.previous !== undefined ? { previous: item.previous as Task['previous'] } : {}),
    ...(typeof item.avoidHost === 'string' ? { avoidHost: item.avoidHost } : {}),
    ...(typeof item.reason === 'string' ? { reason: item.reason } : {}),
  };
}

export function toEvent(item: Item): ClusterEvent {
  return {
    id: String(item.id),
    at: String(item.at),
    type: String(item.eventType),
    message: String(item.message),
    ...(typeof item.namespace === 'string' ? { namespace: item.namespace } : {}),
    ...(typeof item.service === 'string' ? { service: item.service } : {}),
    ...(typeof item.task === 'string' ? { task: item.task } : {}),
    ...(typeof item.host === 'string' ? { host: item.host } : {}),
  };
}

export function pick(host: Pick<Host, 'id' | 'address' | 'capacity' | 'labels'>): Pick<Host, 'id' | 'address' | 'capacity' | 'labels'> {
  return { id: host.id, address: host.address, capacity: { cpu: host.capacity.cpu, memory: host.capacity.memory }, labels: host.labels };
}

export function toHost(item: Item): Host {
  return {
    id: String(item.id),
    address: String(item.address),
    capacity: item.capacity as Host['capacity'],
    labels: (item.labels ?? {}) as Host['labels'],
    state: item.state as Host['state'],
    ...(typeof item.stateSince === 'string' ? { stateSince: item.stateSince } : {}),
    registeredAt: String(item.registeredAt),
    version: Number(item.version),
    allocations: (item.allocations ?? {}) as Host['allocations'],
  };
}

export function toHostStatus(item: Item): HostStatus {
  return {
    hostId: String(item.hostId),
    heartbeatAt: String(item.heartbeatAt),
    generation: Number(item.generation),
    tasks: (item.tasks ?? []) as HostStatus['tasks'],
    agentVersion: String(item.agentVersion),
    ...(Array.isArray(item.events) ? { events: item.events as HostStatus['events'] } : {}),
  };
}

/** The status with the later of its own time and its heartbeat's. */
export function withBeat(status: HostStatus, beat: Item | undefined): HostStatus {
  const at = typeof beat?.heartbeatAt === 'string' ? beat.heartbeatAt : undefined;
  return at !== undefined && Date.parse(at) > Date.parse(status.heartbeatAt) ? { ...status, heartbeatAt: at } : status;
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
