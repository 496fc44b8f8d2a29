/**
 * Ports: the small interfaces that handlers and the agent need from the outside world.
 * Adapters for AWS (`adapters/aws`) and for local mode implement them; the core never sees them.
 */
import type { ClusterEvent, Host, HostDocument, HostStatus, JobStatus, RolloutState, Service, ServiceScale, ServiceSpec, Task } from '../core/types.ts';
import type { HealthCheckpoint } from '../core/health.ts';
import type { BadItem } from '../core/items.ts';
import type { VolumeKey, VolumeRecord } from '../core/volumes.ts';

/*
 * The cluster state, one port per aggregate: the things that change together, under one
 * condition, and that a caller reads together. Callers that need a part of the state may depend on
 * that port alone (the agent needs `HostStore` and `HostReportStore`); `Store` is all of them, the
 * one object the adapters (DynamoDB, in-memory) implement.
 *
 * Every write is conditional; a lost race is a `ConflictError` (retryable). Key parts (namespace,
 * service name) are non-empty and hold no "#", slots are integers from 0 to 999 999, host ids are
 * non-empty: anything else is a `ValidationError`. The contract both adapters pass is
 * test/contract/store.contract.ts.
 */

/** Services: the specs users apply, with their version and the deleting mark. */
export interface ServiceStore {
  getService(namespace: string, name: string): Promise<Service | undefined>;
  /** Every service, or those of one namespace, sorted by namespace then name. May lag a write by a moment (an index on DynamoDB). */
  listServices(namespace?: string): Promise<Service[]>;
  /**
   * Create or replace a service's spec. `expectedVersion` undefined = create or replace whatever is
   * there; a number = only if the stored specVersion equals it (0 = only if absent).
   */
  putService(spec: ServiceSpec, now: string, expectedVersion?: number): Promise<Service>;
  /**
   * Set the replica count chosen after the apply (`skiff scale`, the autoscaler): only while the
   * service is at `expectedSpecVersion` and not deleting, so a scale computed on an older spec
   * conflicts. Never bumps specVersion. Returns the service as written.
   */
  setServiceScale(namespace: string, name: string, scale: ServiceScale, expectedSpecVersion: number): Promise<Service>;
  /**
   * Record a Job's progress (the scheduler, core/jobs.ts): only while the job is at
   * `expectedSpecVersion` and not deleting. Never bumps specVersion. Returns the job as written.
   */
  setJobStatus(namespace: string, name: string, status: JobStatus, expectedSpecVersion: number): Promise<Service>;
  /**
   * Set the rollout state and revision history (the scheduler pass, `rollout restart`, `rollout
   * undo`): only while the service is at `expectedSpecVersion` and not deleting, so a state computed
   * on an older spec conflicts. Never bumps specVersion; `putService` keeps it. Returns the service as written.
   */
  setServiceRollout(namespace: string, name: string, rollout: RolloutState, expectedSpecVersion: number): Promise<Service>;
  /** Mark a service deleting (the scheduler stops its tasks, then calls `removeService`). */
  markServiceDeleting(namespace: string, name: string, now: string): Promise<Service | undefined>;
  /** Remove a deleting service item once it has no tasks left. */
  removeService(namespace: string, name: string): Promise<void>;
}

/**
 * Tasks, one per slot of a service. A task belongs to its service (`putTask` refuses a slot of an
 * absent or deleting service), and every change names the task id it expects in the slot, so a
 * writer that read an older incarnation conflicts instead of changing its successor.
 */
export interface TaskStore {
  /** The service's tasks in slot order (strongly consistent). */
  listTasks(namespace: string, service: string): Promise<Task[]>;
  /** Every task, sorted by namespace, service, slot (strongly consistent). */
  listAllTasks(): Promise<Task[]>;
  /** Create a task in a free slot, or replace the slot's task if its incarnation is still `previousIncarnation`. */
  putTask(task: Task, previousIncarnation: number | undefined): Promise<void>;
  /** Claim a pending task for a host: succeeds only if the task id matches and it has no host. */
  assignTask(namespace: string, service: string, slot: number, taskId: string, hostId: string): Promise<void>;
  /** Undo an assignment that could not be committed on the host (only if still assigned to that host). */
  unassignTask(namespace: string, service: string, slot: number, taskId: string, hostId: string): Promise<void>;
  setTaskDesired(namespace: string, service: string, slot: number, taskId: string, desired: Task['desired']): Promise<void>;
  setTaskUnplaceable(namespace: string, service: string, slot: number, taskId: string, unplaceable: Task['unplaceable'] | undefined): Promise<void>;
  /** Clear a task's `previous` (its previous incarnation may stop), only if the slot still holds `taskId`. */
  releasePrevious(namespace: string, service: string, slot: number, taskId: string): Promise<void>;
  /** Delete a slot's task, only if it is still the same task. */
  deleteTask(namespace: string, service: string, slot: number, taskId: string): Promise<void>;
}

/**
 * Hosts: identity, state and the allocations committed to them, under one version that every
 * allocation or state change bumps (a placement computed on an older version conflicts).
 */
export interface HostStore {
  getHost(id: string): Promise<Host | undefined>;
  /** Every host, sorted by id. A host just registered may be missing for a moment (an index on DynamoDB); the contents are current. */
  listHosts(): Promise<Host[]>;
  /**
   * One page of hosts in id order, after `after` (exclusive), at most `limit`: reads that page, not
   * every host. `next` is the cursor of the following page (a host id), absent on the last page. A
   * page may hold fewer than `limit` hosts while `next` is set (an invalid item took a place).
   */
  listHostsPage(page: { readonly after?: string; readonly limit: number }): Promise<{ hosts: Host[]; next?: string }>;
  /** These hosts, in id order; an unknown id is left out. May lag a write by a moment (for views, not placements). */
  getHosts(ids: readonly string[]): Promise<Host[]>;
  /** Register or refresh a host's identity (address, capacity, labels); keeps its allocations. */
  registerHost(host: Pick<Host, 'id' | 'address' | 'capacity' | 'labels'>, now: string): Promise<Host>;
  /** Replace the host's allocations, only if its version is still `host.version`. Returns the new host. */
  updateAllocations(host: Host, allocations: Host['allocations']): Promise<Host>;
  /** Set a host's state and `stateSince`; a no-op when the state is already `state`. */
  setHostState(id: string, state: Host['state'], now: string): Promise<void>;
  /**
   * Forget a host whose machine is gone for good (call it for nothing else): its status, heartbeat
   * and publication record, then its record, only while that is still at `host.version`, down and
   * without allocations (`ConflictError` otherwise; the report items are gone either way).
   * Forgetting a host that is already gone is a no-op. It lives here, not with the reports, because
   * the host record is what it is conditional on.
   */
  forgetHost(host: Host): Promise<void>;
}

/**
 * What a host's own agent reports: its whole status when it changes, a heartbeat when it does not.
 * Written by the agent alone, without conditions (the last report is the truth); kept apart from
 * the host record so reports never disturb the host's version.
 */
export interface HostReportStore {
  /** The agent's whole report; written when it changes (and then it is also a heartbeat). */
  putHostStatus(status: HostStatus): Promise<void>;
  /**
   * The agent is alive and its report is unchanged: a small write instead of the whole report.
   * Statuses read afterwards carry the later of the report's and the heartbeat's time. A heartbeat
   * without a report is no status.
   */
  putHeartbeat(hostId: string, at: string): Promise<void>;
  getHostStatus(hostId: string): Promise<HostStatus | undefined>;
  /** Every reported status, sorted by host id. May lag a report by a moment (an index on DynamoDB). */
  listHostStatuses(): Promise<HostStatus[]>;
  /** The statuses of these hosts (with their heartbeats), in host id order; a host without one is left out. May lag a report by a moment. */
  getHostStatuses(hostIds: readonly string[]): Promise<HostStatus[]>;
}

/** Host document bookkeeping: what was last published to each host, so unchanged documents are not re-sent. */
export interface PublicationStore {
  getPublished(hostId: string): Promise<{ generation: number; hash: string } | undefined>;
  /**
   * The records of many hosts at once (100 per request on DynamoDB): the pass reads every committed
   * host's before publishing, instead of one read per host. A host without one is absent from the map.
   */
  getPublishedMany(hostIds: readonly string[]): Promise<Map<string, { generation: number; hash: string }>>;
  /** Record a publication, only if the previous one is still `previousGeneration` (0 = none). */
  setPublished(hostId: string, previousGeneration: number, next: { generation: number; hash: string }): Promise<void>;
}

export interface EventFilter {
  namespace?: string;
  service?: string;
  host?: string;
  limit?: number;
  /** Exclusive upper bound on the event key `<at>#<id>`. */
  before?: string;
}

/** The event log, newest last. An event is keyed by its time and id: recording it twice keeps one. */
export interface EventStore {
  putEvents(events: readonly ClusterEvent[]): Promise<void>;
  /**
   * The newest `limit` (default 200) events matching every given field, oldest first; with
   * `before` (an event key, `<at>#<id>`), only events older than it: the next page back in time.
   */
  listEvents(filter: EventFilter): Promise<ClusterEvent[]>;
  /** Delete up to `max` of the oldest events older than `before` (ISO time); returns how many. */
  pruneEvents(before: string, max: number): Promise<number>;
}

/** The health check's memory between runs (when it last ran, when the control plane came back). */
export interface HealthCheckpointStore {
  getHealthCheckpoint(): Promise<HealthCheckpoint | undefined>;
  /** Unconditional: the last write wins. */
  putHealthCheckpoint(checkpoint: HealthCheckpoint): Promise<void>;
}

/**
 * The items a store's reads skipped because they failed their schema or their key check
 * (core/items.ts): a host may write anything under its own partition, so nothing read is trusted.
 * The control plane takes them each pass and records an `item.invalid` event and the BadItems metric.
 */
export interface BadItemSource {
  /** The reports since the last call (one per item and reason), and how many more were left out. */
  takeBadItems(): { items: BadItem[]; dropped: number };
}

/** The whole cluster state: every aggregate port, as the adapters implement it. */
/**
 * Persistent volumes and the host that holds each (core/volumes.ts). Written by the scheduler when it
 * first places a slot that has one; the first host recorded stays (sticky placement relies on it).
 */
export interface VolumeStore {
  /** Records the volume unless it is already recorded; returns the record that holds (the first one). */
  recordVolume(volume: VolumeRecord): Promise<VolumeRecord>;
  /** Every recorded volume, of one namespace when given, by namespace, service, volume and slot (volumeSortKey). */
  listVolumes(namespace?: string): Promise<VolumeRecord[]>;
  /** Forgets a volume (its data is deleted by its host); absent is not an error. */
  deleteVolume(volume: VolumeKey): Promise<void>;
  /**
   * Marks a recorded volume for removal at `now` (`--delete-volumes`; core/volume-removal.ts); a volume
   * already marked keeps its first mark. Returns the record as marked, or undefined when it is not recorded.
   */
  markVolumeDeleting(volume: VolumeKey, now: string): Promise<VolumeRecord | undefined>;
  /**
   * Forgets a volume marked for removal, once its data is gone: only while it is still marked
   * (`ConflictError` for an unmarked one, whose host is its replica's sticky home). Absent is not an error.
   */
  forgetDeletedVolume(volume: VolumeKey): Promise<void>;
}

export interface Store extends ServiceStore, TaskStore, HostStore, HostReportStore, PublicationStore, EventStore, HealthCheckpointStore, VolumeStore {}

/** How a host's document is read. */
export interface HostChannelFetchOptions {
  /**
   * The caller was told a newer document exists (a wake-up follows a publication): the adapter must
   * not answer from a copy that may lag (the DynamoDB channel then reads strongly consistent; a
   * timer's poll reads eventually consistent, at half the price).
   */
  readonly fresh?: boolean;
}

/**
 * The channel that carries each host's document to it: SSM Parameter Store (the default) or
 * DynamoDB (large clusters), chosen per cluster (docs/host-channel.md). Every adapter refuses
 * (ConflictError) to go back a generation, or to give a published generation other content.
 */
export interface HostChannel {
  publish(doc: HostDocument): Promise<void>;
  /**
   * Read the host's document. `knownGeneration` lets the adapter skip fetching the body when
   * the head says nothing changed; then `unchanged` is returned.
   */
  fetch(hostId: string, knownGeneration?: number, options?: HostChannelFetchOptions): Promise<HostDocument | 'unchanged' | undefined>;
  remove(hostId: string): Promise<void>;
}

/** Nudges hosts to poll now instead of at their next (slow) poll. Best effort. */
export interface HostWaker {
  wake(hostIds: readonly string[]): Promise<void>;
}

/** A DNS record set Skiff owns in its zone. Names are fully qualified, without the trailing dot. */
export interface DnsRecordSet {
  readonly name: string;
  readonly type: 'A' | 'SRV';
  readonly ttl: number;
  /** A: IPv4 addresses. SRV: `priority weight port target`. */
  readonly values: readonly string[];
}

/**
 * A record set the zone does not hold as desired. `capped`: its values exceed what one set may
 * hold, and a deterministic subset of them was written. `rejected`: the DNS service refused this
 * set alone; the zone keeps what it had for it. Either way every other set was applied.
 */
export interface DnsSetFailure {
  readonly name: string;
  readonly type: 'A' | 'SRV';
  readonly reason: 'capped' | 'rejected';
  readonly message: string;
}

/** The cluster's DNS zone (Route 53 on AWS). Level-triggered: `sync` makes Skiff's records equal `desired`. */
export interface DnsZone {
  /**
   * Replace Skiff's records in the zone by `desired`: create, change and delete as needed; records
   * Skiff does not own are left alone. A set that cannot be applied fails alone, in `failed`.
   * `unfinished`: changes left for the next sync because this one ran out of its time (the zone
   * takes one change batch at a time); the next sync continues from the zone as it then is.
   */
  sync(desired: readonly DnsRecordSet[]): Promise<{ changed: number; failed?: readonly DnsSetFailure[]; unfinished?: number }>;
}

/** One ingress: HTTP requests for `host` go to the healthy replicas of a service. */
export interface IngressRoute {
  /** A host name, or a wildcard `*.shop.example.com` (core/ingress-match.ts). */
  readonly host: string;
  /** A path prefix; absent means `/`. One route per host and path. */
  readonly path?: string;
  /** Served over HTTPS (plain HTTP is redirected): `true` with the default certificate, or an ACM certificate of its own (AWS). */
  readonly tls?: true | { readonly certificateArn: string };
  readonly namespace: string;
  readonly service: string;
  readonly sessionAffinity: boolean;
  /** The healthy, running replicas: where their ingress port is published. */
  readonly targets: readonly { readonly taskId: string; readonly ip: string; readonly port: number }[];
}

/**
 * A route the load balancer does not serve as desired; every other route was synced. `quota`: a
 * load-balancer quota (rules, target groups, targets) or the rule priorities are exhausted.
 */
export interface RouteFailure {
  readonly host: string;
  readonly namespace: string;
  readonly service: string;
  readonly reason: 'quota' | 'conflict' | 'rejected' | 'denied' | 'unavailable';
  readonly message: string;
}

/** The load balancer (an Application Load Balancer on AWS, the embedded proxy locally). Level-triggered. */
export interface LoadBalancer {
  /** Serve `routes`; a route that cannot be served fails alone, in `failed` (an adapter that cannot fail per route returns nothing). */
  // biome-ignore lint/suspicious/noConfusingVoidType: the embedded proxy swaps its whole table and has no per-route failure to return
  sync(routes: readonly IngressRoute[]): Promise<void | { readonly failed: readonly RouteFailure[] }>;
}
