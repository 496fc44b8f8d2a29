/**
 * The `Store` port on DynamoDB: one table, conditional writes, no transactions (so that the same
 * code runs on dynalite). The item design and why it is race-free are in docs/state.md.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  BatchWriteCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  PutCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
  type QueryCommandInput,
  type ScanCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConflictError, LimitError, SkiffError, ValidationError } from '../../core/errors.ts';
import { jsonEqual } from '../../core/json.ts';
import type { ClusterEvent, Host, HostStatus, Service, ServiceSpec, Task } from '../../core/types.ts';
import type { HealthCheckpoint } from '../../core/health.ts';
import type { Store } from '../../ports/index.ts';

import { dynamoCall, dynamoGet, dynamoQueryAll, StoreUnavailableError } from './dynamo-calls.ts';

export { StoreUnavailableError };

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
}

const OPTION_KEYS = new Set(['tableName', 'hostArnPrefix']);

/** DynamoDB's hard item size limit (names + values), 400 KB. */
export const MAX_ITEM_BYTES = 400 * 1024;

const GSI1 = 'gsi1';
const SERVICES = 'SERVICES';
const HOSTS = 'HOSTS';
const HOST_STATUSES = 'HOSTSTATUS';
const SERVICE_SK = '#SERVICE';
const HOST_SK = '#HOST';
const STATUS_SK = 'STATUS';
/**
 * The heartbeat item: the agent's liveness alone, in the host's partition, outside every index.
 * One write unit instead of the whole report written twice (table and index): at 15 s per host,
 * heartbeats are most of the table's writes (docs/cost.md).
 */
const BEAT_SK = 'BEAT';
const PUBLISHED_SK = 'PUBLISHED';
/** The event log: one partition, sorted by time (`<at>#<id>`), newest last. */
const EVENTS_PK = 'EVENTS';
const HEALTH_KEY = { pk: 'HEALTH', sk: 'CHECKPOINT' };
/** BatchWriteItem takes at most 25 requests. */
const BATCH_WRITE_ITEMS = 25;
/** Days an event is kept by DynamoDB's TTL on AWS (`expiresAt`); local mode prunes instead. */
const EVENT_TTL_DAYS = 7;
const TASK_SK_PREFIX = 'TASK#';
// Six digits keep tasks in slot order under the sort key; no service has a million replicas.
const MAX_SLOT = 999_999;
// BatchGetItem takes at most 100 keys per request.
const BATCH_GET_KEYS = 100;
// Parallel Scan segments of listAllTasks: each reads 1 MB pages in turn; four hide most latency.
const SCAN_SEGMENTS = 4;
// Read-then-conditional-write loops retry a lost race a few times, then report the conflict.
const RACE_ATTEMPTS = 5;
// UnprocessedKeys come back under throttling; back off 50 ms, 100 ms, ... about 6 s in all.
const UNPROCESSED_ATTEMPTS = 8;


type Item = Record<string, unknown>;

/**
 * The cluster state in one DynamoDB table. Takes a plain `DynamoDBClient` (it wraps it in a
 * document client itself, so the caller configures only endpoint, region and credentials).
 */
export class DynamoStore implements Store {
  private readonly doc: DynamoDBDocumentClient;
  private readonly table: string;
  private readonly hostArnPrefix: string;

  constructor(client: DynamoDBClient, options: DynamoStoreOptions) {
    const unknown = Object.keys(options).filter((k) => !OPTION_KEYS.has(k));
    if (unknown.length > 0) throw new SkiffError(`DynamoStore: unknown option(s) ${unknown.join(', ')}`);
    if (!options.tableName) throw new SkiffError('DynamoStore: tableName is required');
    const prefix = options.hostArnPrefix ?? '';
    if (typeof prefix !== 'string' || prefix.includes('#')) {
      // '#' separates key parts: a prefix holding one could make two hosts' keys collide.
      throw new SkiffError(`DynamoStore: hostArnPrefix must be a string without "#", got ${JSON.stringify(prefix)}`);
    }
    this.table = options.tableName;
    this.hostArnPrefix = prefix;
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  // ---- services ----

  async getService(namespace: string, name: string): Promise<Service | undefined> {
    const item = await this.get(serviceKey(namespace, name), `service ${namespace}/${name}`);
    return item && toService(item);
  }

  async listServices(namespace?: string): Promise<Service[]> {
    // The index is eventually consistent: a service created a moment ago may be missing (see docs).
    const input: QueryCommandInput =
      namespace === undefined
        ? { TableName: this.table, IndexName: GSI1, KeyConditionExpression: 'gsi1pk = :p', ExpressionAttributeValues: { ':p': SERVICES } }
        : {
            TableName: this.table,
            IndexName: GSI1,
            KeyConditionExpression: 'gsi1pk = :p AND begins_with(gsi1sk, :ns)',
            ExpressionAttributeValues: { ':p': SERVICES, ':ns': `${keyPart('namespace', namespace)}#` },
          };
    const items = await this.queryAll(input, namespace === undefined ? 'services' : `services of namespace ${namespace}`);
    return items.map(toService).filter((s) => namespace === undefined || s.namespace === namespace);
  }

  async putService(spec: ServiceSpec, now: string, expectedVersion?: number): Promise<Service> {
    const { namespace, name } = spec.metadata;
    const label = `service ${namespace}/${name}`;
    // With no expected version the caller means "replace whatever is there": a lost race is retried.
    const attempts = expectedVersion === undefined ? RACE_ATTEMPTS : 1;
    for (let attempt = 1; ; attempt++) {
      const current = await this.getService(namespace, name);
      if (current?.deleting) throw new ConflictError(`${label} is being deleted; wait and retry`);
      if (expectedVersion === 0 && current) throw new ConflictError(`${label} already exists (specVersion ${current.specVersion})`);
      if (expectedVersion !== undefined && expectedVersion > 0 && current?.specVersion !== expectedVersion) {
        throw new ConflictError(current ? `${label} is at specVersion ${current.specVersion}, not ${expectedVersion}` : `${label} does not exist (expected specVersion ${expectedVersion})`);
      }
      // Re-applying the same spec is a no-op: a new specVersion would roll every task for nothing.
      if (current && jsonEqual(current.spec, spec)) return current;
      const service: Service = {
        namespace,
        name,
        spec,
        specVersion: (current?.specVersion ?? 0) + 1,
        createdAt: current?.createdAt ?? now,
        updatedAt: now,
        deleting: false,
      };
      const item = { ...serviceKey(namespace, name), gsi1pk: SERVICES, gsi1sk: `${namespace}#${name}`, type: 'service', ...service };
      checkItemSize(label, item);
      try {
        await this.call('PutItem', label, () =>
          this.doc.send(
            new PutCommand({
              TableName: this.table,
              Item: item,
              ...(current
                ? {
                    ConditionExpression: '#specVersion = :v AND #deleting = :false',
                    ExpressionAttributeNames: { '#specVersion': 'specVersion', '#deleting': 'deleting' },
                    ExpressionAttributeValues: { ':v': current.specVersion, ':false': false },
                  }
                : { ConditionExpression: 'attribute_not_exists(pk)' }),
            }),
          ),
        `${label} changed while it was being written (was specVersion ${current?.specVersion ?? 'absent'})`,
        );
        return service;
      } catch (err) {
        if (!(err instanceof ConflictError) || attempt >= attempts) throw err;
      }
    }
  }

  async markServiceDeleting(namespace: string, name: string, now: string): Promise<Service | undefined> {
    const label = `service ${namespace}/${name}`;
    try {
      const out = await this.call('UpdateItem', label, () =>
        this.doc.send(
          new UpdateCommand({
            TableName: this.table,
            Key: serviceKey(namespace, name),
            UpdateExpression: 'SET #deleting = :true, #updatedAt = :now',
            ConditionExpression: 'attribute_exists(pk) AND #deleting = :false',
            ExpressionAttributeNames: { '#deleting': 'deleting', '#updatedAt': 'updatedAt' },
            ExpressionAttributeValues: { ':true': true, ':false': false, ':now': now },
            ReturnValues: 'ALL_NEW',
          }),
        ),
      );
      return toService(out.Attributes!);
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      // Absent, or already deleting: both are the answer, not an error (deleting twice is deleting).
      return this.getService(namespace, name);
    }
  }

  async removeService(namespace: string, name: string): Promise<void> {
    const label = `service ${namespace}/${name}`;
    // Read after the deleting mark, so a task created concurrently is seen here or undone by putTask.
    const tasks = await this.listTasks(namespace, name);
    if (tasks.length > 0) throw new ConflictError(`${label} still has ${tasks.length} task(s); stop and delete them first`);
    await this.call(
      'DeleteItem',
      label,
      () =>
        this.doc.send(
          new DeleteCommand({
            TableName: this.table,
            Key: serviceKey(namespace, name),
            ConditionExpression: 'attribute_not_exists(pk) OR #deleting = :true',
            ExpressionAttributeNames: { '#deleting': 'deleting' },
            ExpressionAttributeValues: { ':true': true },
          }),
        ),
      `${label} is not marked deleting; mark it first`,
    );
  }

  // ---- tasks ----

  async listTasks(namespace: string, service: string): Promise<Task[]> {
    const items = await this.queryAll(
      {
        TableName: this.table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :task)',
        ExpressionAttributeValues: { ':pk': serviceKey(namespace, service).pk, ':task': TASK_SK_PREFIX },
        ConsistentRead: true,
      },
      `tasks of service ${namespace}/${service}`,
    );
    return items.map(toTask);
  }

  async listAllTasks(): Promise<Task[]> {
    // A strongly consistent Scan, not the services index then a Query per service: the index lags
    // its writes, and a task missing from this list makes its allocation look stale (see
    // core/allocations.ts). The Scan also reads hosts and statuses, about a third more.
    const segments = await Promise.all(
      Array.from({ length: SCAN_SEGMENTS }, (_, segment) =>
        this.scanAll(
          {
            TableName: this.table,
            FilterExpression: 'begins_with(sk, :task)',
            ExpressionAttributeValues: { ':task': TASK_SK_PREFIX },
            ConsistentRead: true,
            Segment: segment,
            TotalSegments: SCAN_SEGMENTS,
          },
          'all tasks',
        ),
      ),
    );
    return segments
      .flat()
      .map(toTask)
      .sort((a, b) => compare(a.namespace, b.namespace) || compare(a.service, b.service) || a.slot - b.slot);
  }

  async putTask(task: Task, previousIncarnation: number | undefined): Promise<void> {
    const label = taskLabel(task.namespace, task.service, task.slot);
    if (previousIncarnation !== undefined && !(task.incarnation > previousIncarnation)) {
      // Equal incarnations would let two schedulers both "replace" the slot one after the other.
      throw new SkiffError(`${label}: new incarnation ${task.incarnation} must be greater than ${previousIncarnation}`);
    }
    const item: Item = { ...taskKey(task.namespace, task.service, task.slot), type: 'task', ...fromTask(task) };
    checkItemSize(`${label} (task ${task.id})`, item);
    await this.call(
      'PutItem',
      label,
      () =>
        this.doc.send(
          new PutCommand({
            TableName: this.table,
            Item: item,
            ...(previousIncarnation === undefined
              ? { ConditionExpression: 'attribute_not_exists(pk)' }
              : {
                  ConditionExpression: '#incarnation = :prev',
                  ExpressionAttributeNames: { '#incarnation': 'incarnation' },
                  ExpressionAttributeValues: { ':prev': previousIncarnation },
                }),
          }),
        ),
      previousIncarnation === undefined ? `${label} already has a task` : `${label} is no longer at incarnation ${previousIncarnation}`,
    );
    if (previousIncarnation !== undefined) return;
    // No task may outlive its service: the reconciler works service by service and would never
    // see it. Write, then check the parent; removeService does the opposite (mark deleting, then
    // read tasks), so one of the two always sees the other.
    const parent = await this.getService(task.namespace, task.service);
    if (parent && !parent.deleting) return;
    await this.deleteTask(task.namespace, task.service, task.slot, task.id).catch((err: unknown) => {
      if (!(err instanceof ConflictError)) throw err;
    });
    throw new ConflictError(`service ${task.namespace}/${task.service} ${parent ? 'is being deleted' : 'does not exist'}; task ${task.id} not created`);
  }

  async assignTask(namespace: string, service: string, slot: number, taskId: string, hostId: string): Promise<void> {
    // A placed task is no longer unplaceable; the stale note would mislead `skiff get`.
    await this.updateTask(namespace, service, slot, taskId, 'SET #host = :host REMOVE #unplaceable', { '#host': 'host', '#unplaceable': 'unplaceable' }, { ':host': hostId }, {
      condition: 'attribute_not_exists(#host) AND #desired = :running',
      names: { '#desired': 'desired' },
      values: { ':running': 'running' },
      conflict: `is not an unassigned running task ${taskId} any more (replaced, assigned or stopped)`,
    });
  }

  async unassignTask(namespace: string, service: string, slot: number, taskId: string, hostId: string): Promise<void> {
    await this.updateTask(namespace, service, slot, taskId, 'REMOVE #host', { '#host': 'host' }, { ':host': hostId }, {
      condition: '#host = :host',
      conflict: `is not task ${taskId} assigned to host ${hostId} any more`,
    });
  }

  async setTaskDesired(namespace: string, service: string, slot: number, taskId: string, desired: Task['desired']): Promise<void> {
    await this.updateTask(namespace, service, slot, taskId, 'SET #desired = :desired', { '#desired': 'desired' }, { ':desired': desired });
  }

  async setTaskUnplaceable(namespace: string, service: string, slot: number, taskId: string, unplaceable: Task['unplaceable'] | undefined): Promise<void> {
    if (unplaceable === undefined) {
      await this.updateTask(namespace, service, slot, taskId, 'REMOVE #unplaceable', { '#unplaceable': 'unplaceable' }, {});
    } else {
      await this.updateTask(namespace, service, slot, taskId, 'SET #unplaceable = :u', { '#unplaceable': 'unplaceable' }, { ':u': unplaceable });
    }
  }

  async releasePrevious(namespace: string, service: string, slot: number, taskId: string): Promise<void> {
    await this.updateTask(namespace, service, slot, taskId, 'REMOVE #previous', { '#previous': 'previous' }, {});
  }

  async deleteTask(namespace: string, service: string, slot: number, taskId: string): Promise<void> {
    const label = taskLabel(namespace, service, slot);
    await this.call(
      'DeleteItem',
      label,
      () =>
        this.doc.send(
          new DeleteCommand({
            TableName: this.table,
            Key: taskKey(namespace, service, slot),
            ConditionExpression: '#id = :id',
            ExpressionAttributeNames: { '#id': 'id' },
            ExpressionAttributeValues: { ':id': taskId },
          }),
        ),
      `${label} does not hold task ${taskId} any more`,
    );
  }

  // ---- hosts ----

  async getHost(id: string): Promise<Host | undefined> {
    const item = await this.get(this.hostKey(id), `host ${id}`);
    return item && toHost(item);
  }

  async listHosts(): Promise<Host[]> {
    // The index says which hosts exist; their contents come from strongly consistent reads of the
    // host items, since placement decisions are made on them.
    const keys = await this.queryAll(
      {
        TableName: this.table,
        IndexName: GSI1,
        KeyConditionExpression: 'gsi1pk = :p',
        ProjectionExpression: 'pk, sk',
        ExpressionAttributeValues: { ':p': HOSTS },
      },
      'hosts',
    );
    const items = await this.batchGet(keys.map((k) => ({ pk: k.pk, sk: k.sk })), 'hosts');
    return items.map(toHost).sort((a, b) => compare(a.id, b.id));
  }

  async registerHost(host: Pick<Host, 'id' | 'address' | 'capacity' | 'labels'>, now: string): Promise<Host> {
    const label = `host ${host.id}`;
    for (let attempt = 1; ; attempt++) {
      const current = await this.getHost(host.id);
      try {
        if (current === undefined) {
          const created: Host = { ...pick(host), state: 'ready', registeredAt: now, version: 1, allocations: {} };
          await this.call('PutItem', label, () =>
            this.doc.send(
              new PutCommand({
                TableName: this.table,
                Item: { ...this.hostKey(host.id), gsi1pk: HOSTS, gsi1sk: host.id, type: 'host', ...created },
                ConditionExpression: 'attribute_not_exists(pk)',
              }),
            ),
          );
          return created;
        }
        // A host that comes back keeps its state (a fenced host stays down until health says
        // otherwise) and its allocations. A new capacity bumps the version, so that a scheduler
        // that read the old capacity cannot commit allocations against it.
        const capacityChanged = !jsonEqual(current.capacity, host.capacity);
        const out = await this.call('UpdateItem', label, () =>
          this.doc.send(
            new UpdateCommand({
              TableName: this.table,
              Key: this.hostKey(host.id),
              UpdateExpression: capacityChanged
                ? 'SET #address = :address, #labels = :labels, #capacity = :capacity, #version = :next'
                : 'SET #address = :address, #labels = :labels',
              ConditionExpression: capacityChanged ? '#version = :v' : 'attribute_exists(pk)',
              ExpressionAttributeNames: {
                '#address': 'address',
                '#labels': 'labels',
                ...(capacityChanged ? { '#capacity': 'capacity', '#version': 'version' } : {}),
              },
              ExpressionAttributeValues: {
                ':address': host.address,
                ':labels': host.labels,
                ...(capacityChanged ? { ':capacity': host.capacity, ':v': current.version, ':next': current.version + 1 } : {}),
              },
              ReturnValues: 'ALL_NEW',
            }),
          ),
        );
        return toHost(out.Attributes!);
      } catch (err) {
        if (!(err instanceof ConflictError) || attempt >= RACE_ATTEMPTS) throw err;
      }
    }
  }

  async updateAllocations(host: Host, allocations: Host['allocations']): Promise<Host> {
    const label = `host ${host.id}`;
    const next: Host = { ...host, allocations, version: host.version + 1 };
    checkItemSize(`${label} allocations (${Object.keys(allocations).length} tasks)`, { ...this.hostKey(host.id), gsi1pk: HOSTS, gsi1sk: host.id, type: 'host', ...next });
    const out = await this.call(
      'UpdateItem',
      label,
      () =>
        this.doc.send(
          new UpdateCommand({
            TableName: this.table,
            Key: this.hostKey(host.id),
            UpdateExpression: 'SET #allocations = :a, #version = :next',
            ConditionExpression: '#version = :v',
            ExpressionAttributeNames: { '#allocations': 'allocations', '#version': 'version' },
            ExpressionAttributeValues: { ':a': allocations, ':v': host.version, ':next': host.version + 1 },
            ReturnValues: 'ALL_NEW',
          }),
        ),
      `${label} is no longer at version ${host.version}; re-read it`,
    );
    return toHost(out.Attributes!);
  }

  async setHostState(id: string, state: Host['state'], now: string): Promise<void> {
    const label = `host ${id}`;
    for (let attempt = 1; ; attempt++) {
      try {
        // The version bumps with the state, so a placement computed while the host was ready
        // cannot commit onto a host that is now draining or down.
        await this.call('UpdateItem', label, () =>
          this.doc.send(
            new UpdateCommand({
              TableName: this.table,
              Key: this.hostKey(id),
              UpdateExpression: 'SET #state = :s, #since = :now ADD #version :one',
              ConditionExpression: 'attribute_exists(pk) AND #state <> :s',
              ExpressionAttributeNames: { '#state': 'state', '#version': 'version', '#since': 'stateSince' },
              ExpressionAttributeValues: { ':s': state, ':one': 1, ':now': now },
            }),
          ),
        );
        return;
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
        const current = await this.getHost(id);
        if (current === undefined) throw new ConflictError(`${label} does not exist`, { cause: err });
        // Already in that state: nothing to write, and no version bump to disturb placements.
        if (current.state === state) return;
        if (attempt >= RACE_ATTEMPTS) throw err;
      }
    }
  }

  async forgetHost(host: Host): Promise<void> {
    const label = `host ${host.id}`;
    if (host.state !== 'down' || Object.keys(host.allocations).length > 0) {
      throw new ConflictError(`${label} is ${host.state} with ${Object.keys(host.allocations).length} allocation(s): only a down host holding nothing is forgotten`);
    }
    // What hangs off the host first: a crash after them leaves a down host without a report, which
    // the next call forgets; the other order could leave reports of a host no longer listed.
    await this.batchWrite(
      [this.statusKey(host.id), this.beatKey(host.id), publishedKey(host.id)].map((Key) => ({ DeleteRequest: { Key } })),
      `status, heartbeat and publication record of host ${host.id}`,
    );
    try {
      await this.call('DeleteItem', label, () =>
        this.doc.send(
          new DeleteCommand({
            TableName: this.table,
            Key: this.hostKey(host.id),
            // Conditional on the version read: an allocation or state change since means not now.
            ConditionExpression: '#version = :v',
            ExpressionAttributeNames: { '#version': 'version' },
            ExpressionAttributeValues: { ':v': host.version },
          }),
        ),
      );
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      if ((await this.getHost(host.id)) === undefined) return;
      throw new ConflictError(`${label} changed since version ${host.version}; not forgotten`, { cause: err });
    }
  }

  // ---- host status ----

  async putHostStatus(status: HostStatus): Promise<void> {
    const label = `status of host ${status.hostId}`;
    const item: Item = {
      ...this.statusKey(status.hostId),
      gsi1pk: HOST_STATUSES,
      gsi1sk: status.hostId,
      type: 'hoststatus',
      hostId: status.hostId,
      heartbeatAt: status.heartbeatAt,
      generation: status.generation,
      tasks: status.tasks,
      agentVersion: status.agentVersion,
      events: status.events,
      ...(status.runtime ? { runtime: status.runtime } : {}),
    };
    checkItemSize(`${label} (${status.tasks.length} tasks)`, item);
    await this.call('PutItem', label, () => this.doc.send(new PutCommand({ TableName: this.table, Item: item })));
  }

  async putHeartbeat(hostId: string, at: string): Promise<void> {
    const label = `heartbeat of host ${hostId}`;
    if (Number.isNaN(Date.parse(at))) throw new ValidationError([{ path: 'heartbeatAt', message: `must be an ISO 8601 time, got ${JSON.stringify(at)}` }]);
    await this.call('PutItem', label, () =>
      this.doc.send(new PutCommand({ TableName: this.table, Item: { ...this.beatKey(hostId), type: 'heartbeat', hostId, heartbeatAt: at } })),
    );
  }

  async getHostStatus(hostId: string): Promise<HostStatus | undefined> {
    const [item, beat] = await Promise.all([
      this.get(this.statusKey(hostId), `status of host ${hostId}`),
      this.get(this.beatKey(hostId), `heartbeat of host ${hostId}`),
    ]);
    return item && withBeat(toHostStatus(item), beat);
  }

  async listHostStatuses(): Promise<HostStatus[]> {
    // Eventually consistent (index): the lag is far below any heartbeat grace period.
    const items = await this.queryAll(
      { TableName: this.table, IndexName: GSI1, KeyConditionExpression: 'gsi1pk = :p', ExpressionAttributeValues: { ':p': HOST_STATUSES } },
      'host statuses',
    );
    const statuses = items.map(toHostStatus);
    if (statuses.length === 0) return statuses;
    // Half a read unit per host (eventually consistent): far cheaper than every heartbeat rewriting the report.
    const beats = await this.batchGet(statuses.map((s) => this.beatKey(s.hostId)), 'heartbeats', { consistent: false });
    const byHost = new Map(beats.map((b) => [String(b.hostId), b]));
    return statuses.map((s) => withBeat(s, byHost.get(s.hostId)));
  }

  // ---- published bookkeeping ----

  async getPublished(hostId: string): Promise<{ generation: number; hash: string } | undefined> {
    const item = await this.get(publishedKey(hostId), `published document of host ${hostId}`);
    return item && { generation: Number(item.generation), hash: String(item.hash) };
  }

  async setPublished(hostId: string, previousGeneration: number, next: { generation: number; hash: string }): Promise<void> {
    const label = `published document of host ${hostId}`;
    if (!(next.generation > previousGeneration)) {
      throw new SkiffError(`${label}: generation ${next.generation} must be greater than ${previousGeneration}`);
    }
    await this.call(
      'PutItem',
      label,
      () =>
        this.doc.send(
          new PutCommand({
            TableName: this.table,
            Item: { ...publishedKey(hostId), type: 'published', generation: next.generation, hash: next.hash },
            ...(previousGeneration === 0
              ? { ConditionExpression: 'attribute_not_exists(pk)' }
              : {
                  ConditionExpression: '#generation = :prev',
                  ExpressionAttributeNames: { '#generation': 'generation' },
                  ExpressionAttributeValues: { ':prev': previousGeneration },
                }),
          }),
        ),
      `${label} is no longer at generation ${previousGeneration}`,
    );
  }

  // ---- health bookkeeping ----

  async getHealthCheckpoint(): Promise<HealthCheckpoint | undefined> {
    const item = await this.get(HEALTH_KEY, 'health checkpoint');
    return item && { lastRunAt: Number(item.lastRunAt), resumedAt: Number(item.resumedAt), ...(typeof item.heldSince === 'number' ? { heldSince: item.heldSince } : {}) };
  }

  async putHealthCheckpoint(checkpoint: HealthCheckpoint): Promise<void> {
    await this.call('PutItem', 'health checkpoint', () =>
      this.doc.send(new PutCommand({ TableName: this.table, Item: { ...HEALTH_KEY, type: 'health', lastRunAt: checkpoint.lastRunAt, resumedAt: checkpoint.resumedAt, ...(checkpoint.heldSince !== undefined ? { heldSince: checkpoint.heldSince } : {}) } })),
    );
  }

  // ---- events ----

  async putEvents(events: readonly ClusterEvent[]): Promise<void> {
    // The key is the event's time and id, so writing the same event again overwrites it: idempotent.
    const unique = new Map(events.map((e) => [`${e.at}#${e.id}`, e]));
    const items = [...unique.entries()].map(([sk, e]) => ({
      ...e,
      pk: EVENTS_PK,
      sk,
      // `type` is every item's kind in this table; the event's own type is kept beside it.
      type: 'event',
      eventType: e.type,
      expiresAt: Math.floor(Date.parse(e.at) / 1000) + EVENT_TTL_DAYS * 86_400,
    }));
    for (let i = 0; i < items.length; i += BATCH_WRITE_ITEMS) await this.batchWrite(items.slice(i, i + BATCH_WRITE_ITEMS).map((Item) => ({ PutRequest: { Item } })), 'events');
  }

  async listEvents(filter: { namespace?: string; service?: string; host?: string; limit?: number }): Promise<ClusterEvent[]> {
    const limit = filter.limit ?? 200;
    const conditions: string[] = [];
    const values: Record<string, unknown> = { ':p': EVENTS_PK };
    const names: Record<string, string> = {};
    for (const key of ['namespace', 'service', 'host'] as const) {
      const v = filter[key];
      if (v === undefined) continue;
      conditions.push(`#${key} = :${key}`);
      names[`#${key}`] = key;
      values[`:${key}`] = v;
    }
    // Newest first, so the limit keeps the most recent; returned oldest first ("newest last").
    const out: Item[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.call('Query', 'events', () =>
        this.doc.send(
          new QueryCommand({
            TableName: this.table,
            KeyConditionExpression: 'pk = :p',
            ExpressionAttributeValues: values,
            ...(conditions.length ? { FilterExpression: conditions.join(' AND '), ExpressionAttributeNames: names } : {}),
            ScanIndexForward: false,
            Limit: Math.max(limit, 100),
            ExclusiveStartKey: start,
          }),
        ),
      );
      out.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start !== undefined && out.length < limit);
    return out.slice(0, limit).reverse().map(toEvent);
  }

  async pruneEvents(before: string, max: number): Promise<number> {
    const page = await this.call('Query', 'events', () =>
      this.doc.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'pk = :p AND sk < :before',
          ExpressionAttributeValues: { ':p': EVENTS_PK, ':before': before },
          ProjectionExpression: 'pk, sk',
          Limit: max,
        }),
      ),
    );
    const keys = page.Items ?? [];
    for (let i = 0; i < keys.length; i += BATCH_WRITE_ITEMS) {
      await this.batchWrite(keys.slice(i, i + BATCH_WRITE_ITEMS).map((k) => ({ DeleteRequest: { Key: { pk: k.pk, sk: k.sk } } })), 'events');
    }
    return keys.length;
  }

  // ---- plumbing ----

  /** One BatchWriteItem (≤ 25 requests), retrying what DynamoDB leaves unprocessed. */
  private async batchWrite(requests: Record<string, unknown>[], label: string): Promise<void> {
    let pending = requests;
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt >= UNPROCESSED_ATTEMPTS) throw new StoreUnavailableError(`DynamoDB left ${pending.length} ${label} unwritten after ${attempt} attempts; retry later`);
      if (attempt > 0) await sleep(50 * 2 ** (attempt - 1));
      const out = await this.call('BatchWriteItem', label, () => this.doc.send(new BatchWriteCommand({ RequestItems: { [this.table]: pending as never } })));
      pending = (out.UnprocessedItems?.[this.table] ?? []) as Record<string, unknown>[];
    }
  }

  private hostKey(id: string): { pk: string; sk: string } {
    return { pk: hostPartitionKey(this.hostArnPrefix, id), sk: HOST_SK };
  }

  private statusKey(id: string): { pk: string; sk: string } {
    return { pk: hostPartitionKey(this.hostArnPrefix, id), sk: STATUS_SK };
  }

  private beatKey(id: string): { pk: string; sk: string } {
    return { pk: hostPartitionKey(this.hostArnPrefix, id), sk: BEAT_SK };
  }

  private async updateTask(
    namespace: string,
    service: string,
    slot: number,
    taskId: string,
    update: string,
    names: Record<string, string>,
    values: Record<string, unknown>,
    /** A condition on top of "the slot still holds this task", and the conflict message that goes with it. */
    extra?: { condition: string; names?: Record<string, string>; values?: Record<string, unknown>; conflict: string },
  ): Promise<void> {
    const label = taskLabel(namespace, service, slot);
    await this.call(
      'UpdateItem',
      label,
      () =>
        this.doc.send(
          new UpdateCommand({
            TableName: this.table,
            Key: taskKey(namespace, service, slot),
            UpdateExpression: update,
            ConditionExpression: extra ? `#id = :id AND ${extra.condition}` : '#id = :id',
            ExpressionAttributeNames: { ...names, ...extra?.names, '#id': 'id' },
            ExpressionAttributeValues: { ...values, ...extra?.values, ':id': taskId },
          }),
        ),
      `${label} ${extra?.conflict ?? `does not hold task ${taskId} any more`}`,
    );
  }

  private get(key: Item, label: string): Promise<Item | undefined> {
    return dynamoGet(this.doc, this.table, key, label);
  }

  private queryAll(input: QueryCommandInput, label: string): Promise<Item[]> {
    return dynamoQueryAll(this.doc, this.table, input, label);
  }

  /** Every page of a Scan (segment). */
  private async scanAll(input: ScanCommandInput, label: string): Promise<Item[]> {
    const items: Item[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.call('Scan', label, () => this.doc.send(new ScanCommand({ ...input, ExclusiveStartKey: start })));
      items.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start !== undefined);
    return items;
  }

  /** Reads of many keys (strongly consistent unless told), 100 per request, retrying what DynamoDB leaves unprocessed. */
  private async batchGet(keys: Item[], label: string, { consistent = true } = {}): Promise<Item[]> {
    const items: Item[] = [];
    for (let i = 0; i < keys.length; i += BATCH_GET_KEYS) {
      let pending: Item[] = keys.slice(i, i + BATCH_GET_KEYS);
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt >= UNPROCESSED_ATTEMPTS) {
          throw new StoreUnavailableError(`DynamoDB left ${pending.length} ${label} unread after ${attempt} attempts; retry later`);
        }
        if (attempt > 0) await sleep(50 * 2 ** (attempt - 1));
        const out = await this.call('BatchGetItem', label, () =>
          this.doc.send(new BatchGetCommand({ RequestItems: { [this.table]: { Keys: pending, ConsistentRead: consistent } } })),
        );
        items.push(...(out.Responses?.[this.table] ?? []));
        pending = out.UnprocessedKeys?.[this.table]?.Keys ?? [];
      }
    }
    return items;
  }

  /** Run one SDK call; its failure becomes a domain error (see dynamo-errors.ts). */
  private call<T>(op: string, label: string, send: () => Promise<T>, conflict?: string): Promise<T> {
    return dynamoCall(this.table, op, label, send, conflict);
  }

}

// ---- keys ----

function keyPart(field: string, value: string): string {
  if (typeof value !== 'string' || value === '' || value.includes('#')) {
    // '#' separates key parts: `a#b`/`c` and `a`/`b#c` would share one key.
    throw new ValidationError([{ path: field, message: `must be a non-empty string without "#" (got ${JSON.stringify(value)})` }]);
  }
  return value;
}

function serviceKey(namespace: string, name: string): { pk: string; sk: string } {
  return { pk: `SVC#${keyPart('namespace', namespace)}#${keyPart('name', name)}`, sk: SERVICE_SK };
}

function taskKey(namespace: string, service: string, slot: number): { pk: string; sk: string } {
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
const publishedKey = (id: string) => ({ pk: `HOST#${hostId(id)}`, sk: PUBLISHED_SK });
const taskLabel = (namespace: string, service: string, slot: number) => `task slot ${namespace}/${service}#${slot}`;

// ---- items <-> domain ----

function toService(item: Item): Service {
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

function fromTask(task: Task): Item {
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

function toTask(item: Item): Task {
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

function toEvent(item: Item): ClusterEvent {
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

function pick(host: Pick<Host, 'id' | 'address' | 'capacity' | 'labels'>): Pick<Host, 'id' | 'address' | 'capacity' | 'labels'> {
  return { id: host.id, address: host.address, capacity: { cpu: host.capacity.cpu, memory: host.capacity.memory }, labels: host.labels };
}

function toHost(item: Item): Host {
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

function toHostStatus(item: Item): HostStatus {
  return {
    hostId: String(item.hostId),
    heartbeatAt: String(item.heartbeatAt),
    generation: Number(item.generation),
    tasks: (item.tasks ?? []) as HostStatus['tasks'],
    agentVersion: String(item.agentVersion),
    ...(Array.isArray(item.events) ? { events: item.events as HostStatus['events'] } : {}),
    ...(isRuntimeTrouble(item.runtime) ? { runtime: item.runtime } : {}),
  };
}

function isRuntimeTrouble(value: unknown): value is NonNullable<HostStatus['runtime']> {
  const v = value as Record<string, unknown> | null | undefined;
  return typeof v === 'object' && v !== null && v.state === 'unresponsive' && typeof v.since === 'string' && typeof v.message === 'string';
}

/** The status with the later of its own time and its heartbeat's. */
function withBeat(status: HostStatus, beat: Item | undefined): HostStatus {
  const at = typeof beat?.heartbeatAt === 'string' ? beat.heartbeatAt : undefined;
  return at !== undefined && Date.parse(at) > Date.parse(status.heartbeatAt) ? { ...status, heartbeatAt: at } : status;
}

// ---- helpers ----

/** Reject an item DynamoDB would refuse, before sending it, naming the item and its size. */
function checkItemSize(label: string, item: Item): void {
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

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
