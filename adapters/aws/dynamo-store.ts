/**
 * The `Store` port on DynamoDB: one table, conditional writes, no transactions (so that the same
 * code runs on dynalite). The item design and why it is race-free are in docs/state.md.
 *
 * One file per aggregate under dynamo/ (services, tasks, hosts, reports, publications, events, the
 * health checkpoint) over one shared `DynamoTable` (keys in dynamo/keys.ts, item mapping and sizes
 * in dynamo/items.ts); `DynamoStore` puts them together behind the whole port.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { SkiffError } from '../../core/errors.ts';
import type { HealthCheckpoint } from '../../core/health.ts';
import { BadItemLog, type BadItem } from '../../core/items.ts';
import type { ClusterEvent, Host, HostStatus, JobStatus, RolloutState, Service, ServiceScale, ServiceSpec, Task } from '../../core/types.ts';
import type { EventFilter, Store } from '../../ports/index.ts';
import { StoreUnavailableError } from './dynamo-calls.ts';
import { DynamoEvents } from './dynamo/events.ts';
import { DynamoHealthCheckpoint } from './dynamo/health-checkpoint.ts';
import { DynamoHosts } from './dynamo/hosts.ts';
import { DynamoPublications } from './dynamo/publications.ts';
import { DynamoHostReports } from './dynamo/reports.ts';
import { DynamoServices } from './dynamo/services.ts';
import { DynamoTable } from './dynamo/table.ts';
import { DynamoTasks } from './dynamo/tasks.ts';
import { DynamoVolumes } from './dynamo/volumes.ts';
import type { VolumeKey, VolumeRecord } from '../../core/volumes.ts';

export { StoreUnavailableError };
export { hostPartitionKey } from './dynamo/keys.ts';
export { MAX_ITEM_BYTES, itemSize } from './dynamo/items.ts';

export interface DynamoStoreOptions {
  /** The table created from `tableDefinition()` (local/dynalite.ts) or by the CDK stack. */
  readonly tableName: string;
  /**
   * Put before the host id in the partition key of the items a host's agent reads and writes
   * (host, host status): `HOST#<hostArnPrefix><hostId>`. On AWS it is
   * `arn:<partition>:ec2:<region>:<account>:instance/` (`SKIFF_HOST_ARN_PREFIX`), so the key holds
   * the instance ARN that the host role's `dynamodb:LeadingKeys = HOST#${ec2:SourceInstanceARN}`
   * condition checks: IAM has no variable with the bare instance id (docs/aws.md).
   * @default '' (keys `HOST#<hostId>`)
   */
  readonly hostArnPrefix?: string;
  /**
   * Called for each item a read skips because it fails its schema or its key check (core/items.ts),
   * as it is skipped; the same reports are also kept for `takeBadItems`.
   */
  readonly onBadItem?: (report: BadItem) => void;
}

const OPTION_KEYS = new Set(['tableName', 'hostArnPrefix', 'onBadItem']);

/**
 * The cluster state in one DynamoDB table. Takes a plain `DynamoDBClient` (it wraps it in a
 * document client itself, so the caller configures only endpoint, region and credentials).
 */
export class DynamoStore implements Store {
  private readonly services: DynamoServices;
  private readonly tasks: DynamoTasks;
  private readonly hosts: DynamoHosts;
  private readonly reports: DynamoHostReports;
  private readonly publications: DynamoPublications;
  private readonly volumes: DynamoVolumes;
  private readonly events: DynamoEvents;
  private readonly health: DynamoHealthCheckpoint;
  private readonly bad: BadItemLog;

  constructor(client: DynamoDBClient, options: DynamoStoreOptions) {
    const unknown = Object.keys(options).filter((k) => !OPTION_KEYS.has(k));
    if (unknown.length > 0) throw new SkiffError(`DynamoStore: unknown option(s) ${unknown.join(', ')}`);
    if (!options.tableName) throw new SkiffError('DynamoStore: tableName is required');
    const prefix = options.hostArnPrefix ?? '';
    if (typeof prefix !== 'string' || prefix.includes('#')) {
      // '#' separates key parts: a prefix holding one could make two hosts' keys collide.
      throw new SkiffError(`DynamoStore: hostArnPrefix must be a string without "#", got ${JSON.stringify(prefix)}`);
    }
    const doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
    this.bad = new BadItemLog(options.onBadItem);
    const table = new DynamoTable(doc, options.tableName, prefix, this.bad);
    // Services and tasks check each other (no task outlives its service): each reads the other's port.
    this.services = new DynamoServices(table, { listTasks: (namespace, service) => this.tasks.listTasks(namespace, service) });
    this.tasks = new DynamoTasks(table, this.services);
    this.hosts = new DynamoHosts(table);
    this.reports = new DynamoHostReports(table);
    this.publications = new DynamoPublications(table);
    this.volumes = new DynamoVolumes(table);
    this.events = new DynamoEvents(table);
    this.health = new DynamoHealthCheckpoint(table);
  }

  /** The items reads have skipped since the last call (one report per item and reason), and how many more were left out. */
  takeBadItems(): { items: BadItem[]; dropped: number } {
    return this.bad.take();
  }

  // ---- services ----
  getService(namespace: string, name: string): Promise<Service | undefined> {
    return this.services.getService(namespace, name);
  }
  listServices(namespace?: string): Promise<Service[]> {
    return this.services.listServices(namespace);
  }
  putService(spec: ServiceSpec, now: string, expectedVersion?: number): Promise<Service> {
    return this.services.putService(spec, now, expectedVersion);
  }
  setServiceScale(namespace: string, name: string, scale: ServiceScale, expectedSpecVersion: number): Promise<Service> {
    return this.services.setServiceScale(namespace, name, scale, expectedSpecVersion);
  }
  setServiceRollout(namespace: string, name: string, rollout: RolloutState, expectedSpecVersion: number): Promise<Service> {
    return this.services.setServiceRollout(namespace, name, rollout, expectedSpecVersion);
  }

  setJobStatus(namespace: string, name: string, status: JobStatus, expectedSpecVersion: number): Promise<Service> {
    return this.services.setJobStatus(namespace, name, status, expectedSpecVersion);
  }
  markServiceDeleting(namespace: string, name: string, now: string): Promise<Service | undefined> {
    return this.services.markServiceDeleting(namespace, name, now);
  }
  removeService(namespace: string, name: string): Promise<void> {
    return this.services.removeService(namespace, name);
  }

  // ---- tasks ----
  listTasks(namespace: string, service: string): Promise<Task[]> {
    return this.tasks.listTasks(namespace, service);
  }
  listAllTasks(): Promise<Task[]> {
    return this.tasks.listAllTasks();
  }
  putTask(task: Task, previousIncarnation: number | undefined): Promise<void> {
    return this.tasks.putTask(task, previousIncarnation);
  }
  assignTask(namespace: string, service: string, slot: number, taskId: string, hostId: string): Promise<void> {
    return this.tasks.assignTask(namespace, service, slot, taskId, hostId);
  }
  unassignTask(namespace: string, service: string, slot: number, taskId: string, hostId: string): Promise<void> {
    return this.tasks.unassignTask(namespace, service, slot, taskId, hostId);
  }
  setTaskDesired(namespace: string, service: string, slot: number, taskId: string, desired: Task['desired']): Promise<void> {
    return this.tasks.setTaskDesired(namespace, service, slot, taskId, desired);
  }
  setTaskUnplaceable(namespace: string, service: string, slot: number, taskId: string, unplaceable: Task['unplaceable'] | undefined): Promise<void> {
    return this.tasks.setTaskUnplaceable(namespace, service, slot, taskId, unplaceable);
  }
  releasePrevious(namespace: string, service: string, slot: number, taskId: string): Promise<void> {
    return this.tasks.releasePrevious(namespace, service, slot, taskId);
  }
  deleteTask(namespace: string, service: string, slot: number, taskId: string): Promise<void> {
    return this.tasks.deleteTask(namespace, service, slot, taskId);
  }

  // ---- hosts ----
  getHost(id: string): Promise<Host | undefined> {
    return this.hosts.getHost(id);
  }
  listHosts(): Promise<Host[]> {
    return this.hosts.listHosts();
  }
  listHostsPage(page: { readonly after?: string; readonly limit: number }): Promise<{ hosts: Host[]; next?: string }> {
    return this.hosts.listHostsPage(page);
  }
  getHosts(ids: readonly string[]): Promise<Host[]> {
    return this.hosts.getHosts(ids);
  }
  registerHost(host: Pick<Host, 'id' | 'address' | 'capacity' | 'labels'>, now: string): Promise<Host> {
    return this.hosts.registerHost(host, now);
  }
  updateAllocations(host: Host, allocations: Host['allocations']): Promise<Host> {
    return this.hosts.updateAllocations(host, allocations);
  }
  setHostState(id: string, state: Host['state'], now: string): Promise<void> {
    return this.hosts.setHostState(id, state, now);
  }
  forgetHost(host: Host): Promise<void> {
    return this.hosts.forgetHost(host);
  }

  // ---- host reports ----
  putHostStatus(status: HostStatus): Promise<void> {
    return this.reports.putHostStatus(status);
  }
  putHeartbeat(hostId: string, at: string): Promise<void> {
    return this.reports.putHeartbeat(hostId, at);
  }
  getHostStatus(hostId: string): Promise<HostStatus | undefined> {
    return this.reports.getHostStatus(hostId);
  }
  listHostStatuses(): Promise<HostStatus[]> {
    return this.reports.listHostStatuses();
  }
  getHostStatuses(hostIds: readonly string[]): Promise<HostStatus[]> {
    return this.reports.getHostStatuses(hostIds);
  }

  // ---- volumes ----
  recordVolume(volume: VolumeRecord): Promise<VolumeRecord> {
    return this.volumes.recordVolume(volume);
  }
  listVolumes(namespace?: string): Promise<VolumeRecord[]> {
    return this.volumes.listVolumes(namespace);
  }
  deleteVolume(volume: VolumeKey): Promise<void> {
    return this.volumes.deleteVolume(volume);
  }
  markVolumeDeleting(volume: VolumeKey, now: string): Promise<VolumeRecord | undefined> {
    return this.volumes.markVolumeDeleting(volume, now);
  }
  forgetDeletedVolume(volume: VolumeKey): Promise<void> {
    return this.volumes.forgetDeletedVolume(volume);
  }

  // ---- publications ----
  getPublished(hostId: string): Promise<{ generation: number; hash: string } | undefined> {
    return this.publications.getPublished(hostId);
  }
  getPublishedMany(hostIds: readonly string[]): Promise<Map<string, { generation: number; hash: string }>> {
    return this.publications.getPublishedMany(hostIds);
  }
  setPublished(hostId: string, previousGeneration: number, next: { generation: number; hash: string }): Promise<void> {
    return this.publications.setPublished(hostId, previousGeneration, next);
  }

  // ---- events ----
  putEvents(events: readonly ClusterEvent[]): Promise<void> {
    return this.events.putEvents(events);
  }
  listEvents(filter: EventFilter): Promise<ClusterEvent[]> {
    return this.events.listEvents(filter);
  }
  pruneEvents(before: string, max: number): Promise<number> {
    return this.events.pruneEvents(before, max);
  }

  // ---- health bookkeeping ----
  getHealthCheckpoint(): Promise<HealthCheckpoint | undefined> {
    return this.health.getHealthCheckpoint();
  }
  putHealthCheckpoint(checkpoint: HealthCheckpoint): Promise<void> {
    return this.health.putHealthCheckpoint(checkpoint);
  }
}
