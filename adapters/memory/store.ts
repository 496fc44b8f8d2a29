/**
 * The `Store` port in memory: the fake beside the DynamoDB store, for unit tests of the use cases
 * (milliseconds instead of a dynalite round trip per call) and chaos tests with `withFaults`.
 *
 * Same observable semantics as `DynamoStore` (test/contract/store.contract.ts runs against both):
 * the same conditions, versions, orderings, validation and error messages. Each method checks its
 * condition and writes with no `await` in between, so it is atomic, as one DynamoDB conditional
 * write is; the read-then-write loops of the DynamoDB store (putService, registerHost) are one step
 * here, which is one of the interleavings DynamoDB allows. What belongs to DynamoDB alone (the
 * 400 KB item limit, throttling, the lag of its index) is not imitated.
 *
 * Values go in and out as copies: a caller that mutates what it passed or got back changes nothing
 * stored. Fields set to `undefined` are dropped on the way in, as the DynamoDB store drops them.
 */
import { ConflictError, SkiffError, ValidationError } from '../../core/errors.ts';
import { jsonEqual } from '../../core/json.ts';
import type { HealthCheckpoint } from '../../core/health.ts';
import type { ClusterEvent, Host, HostStatus, JobStatus, RolloutState, Service, ServiceScale, ServiceSpec, Task } from '../../core/types.ts';
import { scaleAfterApply } from '../../core/replicas.ts';
import {
  BadItemLog,
  capacityIssue,
  parseEventItem,
  parseHostItem,
  parseHostStatusItem,
  taskFields,
  type BadItem,
  type ItemKind,
  type ItemResult,
} from '../../core/items.ts';
import type { BadItemSource, EventFilter, Store } from '../../ports/index.ts';
import { parseVolumeRecord, volumeKeyString, volumeSortKey, type VolumeKey, type VolumeRecord } from '../../core/volumes.ts';

/** Slots are sortable six-digit keys on DynamoDB; the same range here. */
const MAX_SLOT = 999_999;
const DEFAULT_EVENT_LIMIT = 200;

type Published = { generation: number; hash: string };

export interface MemoryStoreOptions {
  /** Called for each value a read skips because it fails its schema (core/items.ts), as on DynamoDB. */
  readonly onBadItem?: (report: BadItem) => void;
}

export class MemoryStore implements Store, BadItemSource {
  private readonly bad: BadItemLog;

  // Hosts, their reports and events are checked on every read against the same schemas as on
  // DynamoDB (a host's agent writes them, with whatever values it likes); services and tasks are
  // written by the control plane alone, through this store.
  constructor(options: MemoryStoreOptions = {}) {
    this.bad = new BadItemLog(options.onBadItem);
  }

  /** The values reads have skipped since the last call (see BadItemSource). */
  takeBadItems(): { items: BadItem[]; dropped: number } {
    return this.bad.take();
  }

  private accept<T>(kind: ItemKind, key: string, result: ItemResult<T>): T | undefined {
    if (result.ok) return result.value;
    this.bad.report({ kind, key, reason: result.reason });
    return undefined;
  }

  private readHost(host: Host | undefined): Host | undefined {
    return host && this.accept('host', `host ${host.id}`, parseHostItem(copy(host) as unknown as Record<string, unknown>, { hostId: host.id }));
  }

  private readStatus(id: string, status: HostStatus | undefined): HostStatus | undefined {
    const valid =
      status && this.accept('hoststatus', `status of host ${id}`, parseHostStatusItem(copy(status) as unknown as Record<string, unknown>, { hostId: id }));
    return valid && withBeat(valid, this.beats.get(id));
  }

  private readonly services = new Map<string, Service>();
  /** By service key, then slot. */
  private readonly tasks = new Map<string, Map<number, Task>>();
  private readonly hosts = new Map<string, Host>();
  private readonly statuses = new Map<string, HostStatus>();
  /** The heartbeat time by host: kept apart from the status, as on DynamoDB (a heartbeat alone is no status). */
  private readonly beats = new Map<string, string>();
  private readonly published = new Map<string, Published>();
  /** By `<at>#<id>`, the event's key on DynamoDB: the same event twice is one. */
  private readonly events = new Map<string, ClusterEvent>();
  private checkpoint: HealthCheckpoint | undefined;

  // ---- services ----

  async getService(namespace: string, name: string): Promise<Service | undefined> {
    return copy(this.services.get(serviceKey(namespace, name)));
  }

  async listServices(namespace?: string): Promise<Service[]> {
    if (namespace !== undefined) keyPart('namespace', namespace);
    return [...this.services.values()]
      .filter((s) => namespace === undefined || s.namespace === namespace)
      .sort((a, b) => byteCompare(`${a.namespace}#${a.name}`, `${b.namespace}#${b.name}`))
      .map((s) => copy(s));
  }

  async putService(spec: ServiceSpec, now: string, expectedVersion?: number): Promise<Service> {
    const { namespace, name } = spec.metadata;
    const key = serviceKey(namespace, name);
    const label = `service ${namespace}/${name}`;
    const current = this.services.get(key);
    if (current?.deleting) throw new ConflictError(`${label} is being deleted; wait and retry`);
    if (expectedVersion === 0 && current) throw new ConflictError(`${label} already exists (specVersion ${current.specVersion})`);
    if (expectedVersion !== undefined && expectedVersion > 0 && current?.specVersion !== expectedVersion) {
      throw new ConflictError(
        current
          ? `${label} is at specVersion ${current.specVersion}, not ${expectedVersion}`
          : `${label} does not exist (expected specVersion ${expectedVersion})`,
      );
    }
    if (current && jsonEqual(current.spec, spec)) return copy(current);
    const service: Service = {
      namespace,
      name,
      spec: plain(spec),
      specVersion: (current?.specVersion ?? 0) + 1,
      createdAt: current?.createdAt ?? now,
      updatedAt: now,
      deleting: false,
    };
    const scale = scaleAfterApply(current, spec);
    // The rollout state and history outlive the spec: the next pass starts the new version's rollout from them.
    const stored: Service = { ...service, ...(scale ? { scale } : {}), ...(current?.rollout ? { rollout: current.rollout } : {}) };
    this.services.set(key, stored);
    return copy(stored);
  }

  async setServiceScale(namespace: string, name: string, scale: ServiceScale, expectedSpecVersion: number): Promise<Service> {
    const key = serviceKey(namespace, name);
    const label = `service ${namespace}/${name}`;
    const current = this.services.get(key);
    if (!current) throw new ConflictError(`${label} does not exist`);
    if (current.deleting) throw new ConflictError(`${label} is being deleted`);
    if (current.specVersion !== expectedSpecVersion) throw new ConflictError(`${label} is at specVersion ${current.specVersion}, not ${expectedSpecVersion}`);
    const scaled: Service = { ...current, scale: plain(scale) };
    this.services.set(key, scaled);
    return copy(scaled);
  }

  async setServiceRollout(namespace: string, name: string, rollout: RolloutState, expectedSpecVersion: number): Promise<Service> {
    const key = serviceKey(namespace, name);
    const label = `service ${namespace}/${name}`;
    const current = this.services.get(key);
    if (!current) throw new ConflictError(`${label} does not exist`);
    if (current.deleting) throw new ConflictError(`${label} is being deleted`);
    if (current.specVersion !== expectedSpecVersion) throw new ConflictError(`${label} is at specVersion ${current.specVersion}, not ${expectedSpecVersion}`);
    const written: Service = { ...current, rollout: plain(rollout) };
    this.services.set(key, written);
    return copy(written);
  }

  async setJobStatus(namespace: string, name: string, status: JobStatus, expectedSpecVersion: number): Promise<Service> {
    const key = serviceKey(namespace, name);
    const label = `job ${namespace}/${name}`;
    const current = this.services.get(key);
    if (!current) throw new ConflictError(`${label} does not exist`);
    if (current.deleting) throw new ConflictError(`${label} is being deleted`);
    if (current.specVersion !== expectedSpecVersion) throw new ConflictError(`${label} is at specVersion ${current.specVersion}, not ${expectedSpecVersion}`);
    const updated: Service = { ...current, job: plain(status) };
    this.services.set(key, updated);
    return copy(updated);
  }

  async markServiceDeleting(namespace: string, name: string, now: string): Promise<Service | undefined> {
    const key = serviceKey(namespace, name);
    const current = this.services.get(key);
    // Absent, or already deleting: both are the answer, not an error (deleting twice is deleting).
    if (current === undefined || current.deleting) return copy(current);
    const marked: Service = { ...current, deleting: true, updatedAt: now };
    this.services.set(key, marked);
    return copy(marked);
  }

  async removeService(namespace: string, name: string): Promise<void> {
    const key = serviceKey(namespace, name);
    const label = `service ${namespace}/${name}`;
    const tasks = this.tasks.get(key)?.size ?? 0;
    if (tasks > 0) throw new ConflictError(`${label} still has ${tasks} task(s); stop and delete them first`);
    const current = this.services.get(key);
    if (current !== undefined && !current.deleting) throw new ConflictError(`${label} is not marked deleting; mark it first`);
    this.services.delete(key);
  }

  // ---- tasks ----

  async listTasks(namespace: string, service: string): Promise<Task[]> {
    const slots = this.tasks.get(serviceKey(namespace, service));
    return slots ? [...slots.values()].sort((a, b) => a.slot - b.slot).map((t) => copy(t)) : [];
  }

  async listAllTasks(): Promise<Task[]> {
    return [...this.tasks.values()]
      .flatMap((slots) => [...slots.values()])
      .sort((a, b) => compare(a.namespace, b.namespace) || compare(a.service, b.service) || a.slot - b.slot)
      .map((t) => copy(t));
  }

  async putTask(task: Task, previousIncarnation: number | undefined): Promise<void> {
    const label = taskLabel(task.namespace, task.service, task.slot);
    if (previousIncarnation !== undefined && !(task.incarnation > previousIncarnation)) {
      throw new SkiffError(`${label}: new incarnation ${task.incarnation} must be greater than ${previousIncarnation}`);
    }
    const key = serviceKey(task.namespace, task.service);
    checkSlot(task.slot);
    const current = this.tasks.get(key)?.get(task.slot);
    if (previousIncarnation === undefined && current !== undefined) throw new ConflictError(`${label} already has a task`);
    if (previousIncarnation !== undefined && current?.incarnation !== previousIncarnation) {
      throw new ConflictError(`${label} is no longer at incarnation ${previousIncarnation}`);
    }
    if (previousIncarnation === undefined) {
      // No task may outlive its service (see DynamoStore.putTask, which writes then checks).
      const parent = this.services.get(key);
      if (parent === undefined || parent.deleting) {
        throw new ConflictError(`service ${task.namespace}/${task.service} ${parent ? 'is being deleted' : 'does not exist'}; task ${task.id} not created`);
      }
    }
    let slots = this.tasks.get(key);
    if (slots === undefined) {
      slots = new Map();
      this.tasks.set(key, slots);
    }
    slots.set(task.slot, toTask(task));
  }

  async assignTask(namespace: string, service: string, slot: number, taskId: string, hostId: string): Promise<void> {
    this.changeTask(
      namespace,
      service,
      slot,
      taskId,
      (t) => {
        if (t.host !== undefined || t.desired !== 'running') return `is not an unassigned running task ${taskId} any more (replaced, assigned or stopped)`;
        // A placed task is no longer unplaceable; the stale note would mislead `skiff get`.
        const { unplaceable: _, ...rest } = t;
        return { ...rest, host: hostId };
      },
      `is not an unassigned running task ${taskId} any more (replaced, assigned or stopped)`,
    );
  }

  async unassignTask(namespace: string, service: string, slot: number, taskId: string, hostId: string): Promise<void> {
    const conflict = `is not task ${taskId} assigned to host ${hostId} any more`;
    this.changeTask(
      namespace,
      service,
      slot,
      taskId,
      (t) => {
        if (t.host !== hostId) return conflict;
        const { host: _, ...rest } = t;
        return rest;
      },
      conflict,
    );
  }

  async setTaskDesired(namespace: string, service: string, slot: number, taskId: string, desired: Task['desired']): Promise<void> {
    this.changeTask(namespace, service, slot, taskId, (t) => ({ ...t, desired }));
  }

  async setTaskUnplaceable(namespace: string, service: string, slot: number, taskId: string, unplaceable: Task['unplaceable'] | undefined): Promise<void> {
    this.changeTask(namespace, service, slot, taskId, (t) => {
      const { unplaceable: _, ...rest } = t;
      return unplaceable === undefined ? rest : { ...rest, unplaceable: plain(unplaceable) };
    });
  }

  async releasePrevious(namespace: string, service: string, slot: number, taskId: string): Promise<void> {
    this.changeTask(namespace, service, slot, taskId, (t) => {
      const { previous: _, ...rest } = t;
      return rest;
    });
  }

  async deleteTask(namespace: string, service: string, slot: number, taskId: string): Promise<void> {
    const key = serviceKey(namespace, service);
    checkSlot(slot);
    const slots = this.tasks.get(key);
    if (slots?.get(slot)?.id !== taskId) throw new ConflictError(`${taskLabel(namespace, service, slot)} does not hold task ${taskId} any more`);
    slots.delete(slot);
    if (slots.size === 0) this.tasks.delete(key);
  }

  // ---- hosts ----

  async getHost(id: string): Promise<Host | undefined> {
    return this.readHost(this.hosts.get(hostId(id)));
  }

  async listHosts(): Promise<Host[]> {
    return [...this.hosts.values()]
      .sort((a, b) => compare(a.id, b.id))
      .map((h) => this.readHost(h))
      .filter((h): h is Host => h !== undefined);
  }

  async listHostsPage({ after, limit }: { readonly after?: string; readonly limit: number }): Promise<{ hosts: Host[]; next?: string }> {
    if (!Number.isInteger(limit) || limit < 1) throw new ValidationError([{ path: 'limit', message: `must be a positive integer, got ${limit}` }]);
    const rest = [...this.hosts.values()].filter((h) => after === undefined || compare(h.id, after) > 0).sort((a, b) => compare(a.id, b.id));
    const page = rest.slice(0, limit);
    const hosts = page.map((h) => this.readHost(h)).filter((h): h is Host => h !== undefined);
    return rest.length > limit ? { hosts, next: page[page.length - 1]!.id } : { hosts };
  }

  async getHosts(ids: readonly string[]): Promise<Host[]> {
    return [...new Set(ids)]
      .sort(compare)
      .map((id) => this.readHost(this.hosts.get(hostId(id))))
      .filter((h): h is Host => h !== undefined);
  }

  async registerHost(host: Pick<Host, 'id' | 'address' | 'capacity' | 'labels'>, now: string): Promise<Host> {
    const issue = capacityIssue(host.capacity);
    if (issue) throw new ValidationError([{ path: 'capacity', message: issue }]);
    const current = this.hosts.get(hostId(host.id));
    if (current === undefined) {
      const created: Host = plain({
        id: host.id,
        address: host.address,
        capacity: { cpu: host.capacity.cpu, memory: host.capacity.memory },
        labels: host.labels,
        state: 'ready',
        registeredAt: now,
        version: 1,
        allocations: {},
      });
      this.hosts.set(host.id, created);
      return copy(created);
    }
    // A host that comes back keeps its state and allocations; a new capacity bumps the version, so
    // that a scheduler that read the old capacity cannot commit allocations against it.
    const capacityChanged = !jsonEqual(current.capacity, host.capacity);
    const next: Host = plain({
      ...current,
      address: host.address,
      labels: host.labels,
      ...(capacityChanged ? { capacity: host.capacity, version: current.version + 1 } : {}),
    });
    this.hosts.set(host.id, next);
    return copy(next);
  }

  async updateAllocations(host: Host, allocations: Host['allocations']): Promise<Host> {
    const current = this.hosts.get(hostId(host.id));
    if (current?.version !== host.version) throw new ConflictError(`host ${host.id} is no longer at version ${host.version}; re-read it`);
    const next: Host = { ...current, allocations: plain(allocations), version: host.version + 1 };
    this.hosts.set(host.id, next);
    return copy(next);
  }

  async setHostState(id: string, state: Host['state'], now: string): Promise<void> {
    const current = this.hosts.get(hostId(id));
    if (current === undefined) throw new ConflictError(`host ${id} does not exist`);
    // Already in that state: nothing to write, and no version bump to disturb placements.
    if (current.state === state) return;
    // The version bumps with the state, so a placement computed while the host was ready cannot commit.
    this.hosts.set(id, { ...current, state, stateSince: now, version: current.version + 1 });
  }

  async forgetHost(host: Host): Promise<void> {
    const label = `host ${host.id}`;
    if (host.state !== 'down' || Object.keys(host.allocations).length > 0) {
      throw new ConflictError(
        `${label} is ${host.state} with ${Object.keys(host.allocations).length} allocation(s): only a down host holding nothing is forgotten`,
      );
    }
    hostId(host.id);
    // What hangs off the host goes first and either way, as on DynamoDB.
    this.statuses.delete(host.id);
    this.beats.delete(host.id);
    this.published.delete(host.id);
    const current = this.hosts.get(host.id);
    if (current === undefined) return;
    if (current.version !== host.version) throw new ConflictError(`${label} changed since version ${host.version}; not forgotten`);
    this.hosts.delete(host.id);
  }

  // ---- host reports ----

  async putHostStatus(status: HostStatus): Promise<void> {
    hostId(status.hostId);
    this.statuses.set(
      status.hostId,
      plain({
        hostId: status.hostId,
        heartbeatAt: status.heartbeatAt,
        generation: status.generation,
        tasks: status.tasks,
        agentVersion: status.agentVersion,
        ...(Array.isArray(status.events) ? { events: status.events } : {}),
        ...(status.runtime ? { runtime: status.runtime } : {}),
        ...(status.claim ? { claim: status.claim } : {}),
        ...(status.removedVolumes?.length ? { removedVolumes: status.removedVolumes } : {}),
      }),
    );
  }

  async putHeartbeat(id: string, at: string): Promise<void> {
    if (Number.isNaN(Date.parse(at))) throw new ValidationError([{ path: 'heartbeatAt', message: `must be an ISO 8601 time, got ${JSON.stringify(at)}` }]);
    this.beats.set(hostId(id), at);
  }

  async getHostStatus(id: string): Promise<HostStatus | undefined> {
    return this.readStatus(id, this.statuses.get(hostId(id)));
  }

  async getHostStatuses(hostIds: readonly string[]): Promise<HostStatus[]> {
    return [...new Set(hostIds)]
      .sort(byteCompare)
      .map((id) => this.readStatus(id, this.statuses.get(hostId(id))))
      .filter((s): s is HostStatus => s !== undefined);
  }

  async listHostStatuses(): Promise<HostStatus[]> {
    return [...this.statuses.entries()]
      .sort(([a], [b]) => byteCompare(a, b))
      .map(([id, s]) => this.readStatus(id, s))
      .filter((s): s is HostStatus => s !== undefined);
  }

  // ---- volumes ----

  private readonly volumes = new Map<string, VolumeRecord>();

  async recordVolume(volume: VolumeRecord): Promise<VolumeRecord> {
    const checked = parseVolumeRecord(volume);
    if (!checked.ok) throw new ValidationError([{ path: 'volume', message: checked.reason }]);
    const key = volumeKeyString(volume);
    const existing = this.volumes.get(key);
    if (existing) return copy(existing);
    this.volumes.set(key, copy(checked.value));
    return copy(checked.value);
  }

  async listVolumes(namespace?: string): Promise<VolumeRecord[]> {
    if (namespace !== undefined) keyPart('namespace', namespace);
    return [...this.volumes.values()]
      .filter((v) => namespace === undefined || v.namespace === namespace)
      .sort((a, b) => byteCompare(volumeSortKey(a), volumeSortKey(b)))
      .map((v) => copy(v));
  }

  async deleteVolume(volume: VolumeKey): Promise<void> {
    this.volumes.delete(volumeKeyString(volume));
  }

  async markVolumeDeleting(volume: VolumeKey, now: string): Promise<VolumeRecord | undefined> {
    const key = volumeKeyString(volume);
    const existing = this.volumes.get(key);
    if (!existing) return undefined;
    const marked = existing.deleting === undefined ? { ...existing, deleting: now } : existing;
    this.volumes.set(key, copy(marked));
    return copy(marked);
  }

  async forgetDeletedVolume(volume: VolumeKey): Promise<void> {
    const key = volumeKeyString(volume);
    const existing = this.volumes.get(key);
    if (!existing) return;
    if (existing.deleting === undefined) throw new ConflictError(`volume ${existing.id} is not marked for removal`);
    this.volumes.delete(key);
  }

  // ---- publications ----

  async getPublished(id: string): Promise<Published | undefined> {
    return copy(this.published.get(hostId(id)));
  }

  async getPublishedMany(ids: readonly string[]): Promise<Map<string, Published>> {
    const out = new Map<string, Published>();
    for (const id of ids) {
      const published = this.published.get(hostId(id));
      if (published) out.set(id, copy(published));
    }
    return out;
  }

  async setPublished(id: string, previousGeneration: number, next: Published): Promise<void> {
    const label = `published document of host ${id}`;
    if (!(next.generation > previousGeneration)) {
      throw new SkiffError(`${label}: generation ${next.generation} must be greater than ${previousGeneration}`);
    }
    const current = this.published.get(hostId(id));
    const holds = previousGeneration === 0 ? current === undefined : current?.generation === previousGeneration;
    if (!holds) throw new ConflictError(`${label} is no longer at generation ${previousGeneration}`);
    this.published.set(id, { generation: next.generation, hash: next.hash });
  }

  // ---- events ----

  async putEvents(events: readonly ClusterEvent[]): Promise<void> {
    for (const e of events) this.events.set(`${e.at}#${e.id}`, toEvent(e));
  }

  async listEvents(filter: EventFilter): Promise<ClusterEvent[]> {
    const limit = filter.limit ?? DEFAULT_EVENT_LIMIT;
    const matches = (e: ClusterEvent) => (['namespace', 'service', 'host'] as const).every((k) => filter[k] === undefined || e[k] === filter[k]);
    // Newest first, so the limit keeps the most recent; returned oldest first ("newest last").
    return [...this.events.entries()]
      .filter(([key]) => filter.before === undefined || byteCompare(key, filter.before) < 0)
      .sort(([a], [b]) => byteCompare(b, a))
      .map(([key, e]) => this.accept('event', `event ${key}`, parseEventItem(copy(e) as unknown as Record<string, unknown>)))
      .filter((e): e is ClusterEvent => e !== undefined && matches(e))
      .slice(0, limit)
      .reverse()
      .map((e) => copy(e));
  }

  async pruneEvents(before: string, max: number): Promise<number> {
    const old = [...this.events.keys()]
      .filter((key) => byteCompare(key, before) < 0)
      .sort(byteCompare)
      .slice(0, max);
    for (const key of old) this.events.delete(key);
    return old.length;
  }

  // ---- health bookkeeping ----

  async getHealthCheckpoint(): Promise<HealthCheckpoint | undefined> {
    return copy(this.checkpoint);
  }

  async putHealthCheckpoint(checkpoint: HealthCheckpoint): Promise<void> {
    this.checkpoint = {
      lastRunAt: checkpoint.lastRunAt,
      resumedAt: checkpoint.resumedAt,
      ...(checkpoint.heldSince !== undefined ? { heldSince: checkpoint.heldSince } : {}),
    };
  }

  // ---- plumbing ----

  /**
   * Change the slot's task if it is still `taskId` and `change` accepts it (returns the new task, or
   * the conflict message's tail when its own condition fails).
   */
  private changeTask(namespace: string, service: string, slot: number, taskId: string, change: (t: Task) => Task | string, missing?: string): void {
    const slots = this.tasks.get(serviceKey(namespace, service));
    checkSlot(slot);
    const label = taskLabel(namespace, service, slot);
    const current = slots?.get(slot);
    if (current?.id !== taskId) throw new ConflictError(`${label} ${missing ?? `does not hold task ${taskId} any more`}`);
    const next = change(current);
    if (typeof next === 'string') throw new ConflictError(`${label} ${next}`);
    slots!.set(slot, toTask(next));
  }
}

// ---- keys: the same rules as the DynamoDB store's keys (the contract checks both) ----

function keyPart(field: string, value: string): string {
  if (typeof value !== 'string' || value === '' || value.includes('#')) {
    throw new ValidationError([{ path: field, message: `must be a non-empty string without "#" (got ${JSON.stringify(value)})` }]);
  }
  return value;
}

function serviceKey(namespace: string, name: string): string {
  return `${keyPart('namespace', namespace)}#${keyPart('name', name)}`;
}

function checkSlot(slot: number): void {
  if (!Number.isInteger(slot) || slot < 0 || slot > MAX_SLOT) {
    throw new ValidationError([{ path: 'slot', message: `must be an integer from 0 to ${MAX_SLOT} (got ${slot})` }]);
  }
}

function hostId(id: string): string {
  if (typeof id !== 'string' || id === '') throw new ValidationError([{ path: 'hostId', message: 'must be a non-empty string' }]);
  return id;
}

const taskLabel = (namespace: string, service: string, slot: number) => `task slot ${namespace}/${service}#${slot}`;

// ---- values ----

/** The task's own fields only, as the DynamoDB store keeps them. */
function toTask(task: Task): Task {
  return plain(taskFields(task));
}

function toEvent(e: ClusterEvent): ClusterEvent {
  return {
    id: String(e.id),
    at: String(e.at),
    type: String(e.type),
    message: String(e.message),
    ...(typeof e.namespace === 'string' ? { namespace: e.namespace } : {}),
    ...(typeof e.service === 'string' ? { service: e.service } : {}),
    ...(typeof e.task === 'string' ? { task: e.task } : {}),
    ...(typeof e.host === 'string' ? { host: e.host } : {}),
    ...(typeof e.actor === 'string' ? { actor: e.actor } : {}),
  };
}

/** The status with the later of its own time and its heartbeat's. */
function withBeat(status: HostStatus, beat: string | undefined): HostStatus {
  return beat !== undefined && Date.parse(beat) > Date.parse(status.heartbeatAt) ? { ...status, heartbeatAt: beat } : status;
}

/** A deep copy without `undefined` fields: what DynamoDB would store (`removeUndefinedValues`). */
function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** A deep copy handed out, so the caller cannot change what is stored. */
function copy<T>(value: T): T {
  return value === undefined ? value : structuredClone(value);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** DynamoDB orders string keys by their UTF-8 bytes. */
function byteCompare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
