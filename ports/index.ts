/**
 * Ports: the small interfaces that handlers and the agent need from the outside world.
 * Adapters for AWS (`adapters/aws`) and for local mode implement them; the core never sees them.
 */
import type { ClusterEvent, Host, HostDocument, HostStatus, Service, ServiceSpec, Task } from '../core/types.ts';
import type { HealthCheckpoint } from '../core/health.ts';

/** The cluster state. Every write is conditional; a lost race is a `ConflictError` (retryable). */
export interface Store {
  // services
  getService(namespace: string, name: string): Promise<Service | undefined>;
  listServices(namespace?: string): Promise<Service[]>;
  /**
   * Create or replace a service's spec. `expectedVersion` undefined = create or replace whatever is
   * there; a number = only if the stored specVersion equals it (0 = only if absent).
   */
  putService(spec: ServiceSpec, now: string, expectedVersion?: number): Promise<Service>;
  /** Mark a service deleting (the scheduler stops its tasks, then calls `removeService`). */
  markServiceDeleting(namespace: string, name: string, now: string): Promise<Service | undefined>;
  /** Remove a deleting service item once it has no tasks left. */
  removeService(namespace: string, name: string): Promise<void>;

  // tasks (one item per slot of a service)
  listTasks(namespace: string, service: string): Promise<Task[]>;
  listAllTasks(): Promise<Task[]>;
  /** Create a task in a free slot, or replace the slot's task if its incarnation is still `previousIncarnation`. */
  putTask(task: Task, previousIncarnation: number | undefined): Promise<void>;
  /** Claim a pending task for a host: succeeds only if the task id matches and it has no host. */
  assignTask(namespace: string, service: string, slot: number, taskId: string, hostId: string): Promise<void>;
  /** Undo an assignment that could not be committed on the host (only if still assigned to that host). */
  unassignTask(namespace: string, service: string, slot: number, taskId: string, hostId: string): Promise<void>;
  setTaskDesired(namespace: string, service: string, slot: number, taskId: string, desired: Task['desired']): Promise<void>;
  setTaskUnplaceable(namespace: string, service: string, slot: number, taskId: string, unplaceable: Task['unplaceable'] | undefined): Promise<void>;
  /** Delete a slot's task, only if it is still the same task. */
  deleteTask(namespace: string, service: string, slot: number, taskId: string): Promise<void>;

  // hosts
  getHost(id: string): Promise<Host | undefined>;
  listHosts(): Promise<Host[]>;
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
   * Forgetting a host that is already gone is a no-op.
   */
  forgetHost(host: Host): Promise<void>;
  /** Clear a task's `previous` (its previous incarnation may stop), only if the slot still holds `taskId`. */
  releasePrevious(namespace: string, service: string, slot: number, taskId: string): Promise<void>;

  // health bookkeeping
  getHealthCheckpoint(): Promise<HealthCheckpoint | undefined>;
  putHealthCheckpoint(checkpoint: HealthCheckpoint): Promise<void>;

  // events (newest last); recording the same event id twice keeps one
  putEvents(events: readonly ClusterEvent[]): Promise<void>;
  listEvents(filter: { namespace?: string; service?: string; host?: string; limit?: number }): Promise<ClusterEvent[]>;
  /** Delete events older than `before` (ISO time); returns how many. */
  pruneEvents(before: string, max: number): Promise<number>;

  // host status (written by the host's own agent)
  /** The agent's whole report; written when it changes (and then it is also a heartbeat). */
  putHostStatus(status: HostStatus): Promise<void>;
  /**
   * The agent is alive and its report is unchanged: a small write instead of the whole report.
   * Statuses read afterwards carry the later of the report's and the heartbeat's time.
   */
  putHeartbeat(hostId: string, at: string): Promise<void>;
  getHostStatus(hostId: string): Promise<HostStatus | undefined>;
  listHostStatuses(): Promise<HostStatus[]>;

  // host document bookkeeping: what was last published, so unchanged documents are not re-sent
  getPublished(hostId: string): Promise<{ generation: number; hash: string } | undefined>;
  /** Record a publication, only if the previous one is still `previousGeneration` (0 = none). */
  setPublished(hostId: string, previousGeneration: number, next: { generation: number; hash: string }): Promise<void>;
}

/** The channel that carries each host's document to it (SSM Parameter Store on AWS). */
export interface HostChannel {
  publish(doc: HostDocument): Promise<void>;
  /**
   * Read the host's document. `knownGeneration` lets the adapter skip fetching the body when
   * the head says nothing changed; then `unchanged` is returned.
   */
  fetch(hostId: string, knownGeneration?: number): Promise<HostDocument | 'unchanged' | undefined>;
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
   */
  sync(desired: readonly DnsRecordSet[]): Promise<{ changed: number; failed?: readonly DnsSetFailure[] }>;
}

/** One ingress: HTTP requests for `host` go to the healthy replicas of a service. */
export interface IngressRoute {
  readonly host: string;
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
