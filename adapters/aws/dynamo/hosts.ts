/**
 * Hosts on DynamoDB: one item per host in the host's own partition (`HOST#<prefix><id>`, `#HOST`),
 * listed through the index (`gsi1pk = HOSTS#<shard>`, keys.ts), read strongly consistent. Its version guards every
 * allocation and state change.
 */
import { DeleteCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ConflictError, SkiffError, ValidationError } from '../../../core/errors.ts';
import { capacityIssue } from '../../../core/items.ts';
import { jsonEqual } from '../../../core/json.ts';
import type { Host } from '../../../core/types.ts';
import type { HostStore } from '../../../ports/index.ts';
import { checkItemSize, compare, pick, toHost, valid } from './items.ts';
import { GSI1, HOST_INDEX_KEYS, hostIndexKey, publishedKey } from './keys.ts';
import { RACE_ATTEMPTS, type DynamoTable } from './table.ts';

export class DynamoHosts implements HostStore {
  constructor(private readonly t: DynamoTable) {}

  async getHost(id: string): Promise<Host | undefined> {
    const item = await this.t.get(this.t.hostKey(id), `host ${id}`);
    return item && toHost(this.t.bad, this.t.hostArnPrefix, item);
  }

  async listHosts(): Promise<Host[]> {
    // The index says which hosts exist; their contents come from strongly consistent reads of the
    // host items, since placement decisions are made on them.
    // Every shard of the index, and the partition of before the shards (keys.ts HOST_INDEX_KEYS).
    const keys = (
      await Promise.all(
        HOST_INDEX_KEYS.map((p) =>
          this.t.queryAll(
            {
              TableName: this.t.table,
              IndexName: GSI1,
              KeyConditionExpression: 'gsi1pk = :p',
              ProjectionExpression: 'pk, sk',
              ExpressionAttributeValues: { ':p': p },
            },
            'hosts',
          ),
        ),
      )
    ).flat();
    // A record moved to its shard can show up in both partitions for a moment (the index lags):
    // BatchGetItem refuses a repeated key.
    const unique = new Map(keys.map((k) => [`${String(k.pk)}\u0000${String(k.sk)}`, { pk: k.pk, sk: k.sk }]));
    const items = await this.t.batchGet([...unique.values()], 'hosts');
    return valid(items.map((i) => toHost(this.t.bad, this.t.hostArnPrefix, i))).sort((a, b) => compare(a.id, b.id));
  }

  async listHostsPage({ after, limit }: { readonly after?: string; readonly limit: number }): Promise<{ hosts: Host[]; next?: string }> {
    if (!Number.isInteger(limit) || limit < 1) throw new ValidationError([{ path: 'limit', message: `must be a positive integer, got ${limit}` }]);
    // The first `limit + 1` index entries after the cursor in each partition (sorted by host id
    // there), merged: the page's keys, and whether more follow. Only those hosts are then read.
    const entries = (
      await Promise.all(
        HOST_INDEX_KEYS.map((p) =>
          this.t.call('Query', 'a page of hosts', () =>
            this.t.doc.send(
              new QueryCommand({
                TableName: this.t.table,
                IndexName: GSI1,
                KeyConditionExpression: after === undefined ? 'gsi1pk = :p' : 'gsi1pk = :p AND gsi1sk > :after',
                ProjectionExpression: 'pk, sk, gsi1sk',
                ExpressionAttributeValues: { ':p': p, ...(after === undefined ? {} : { ':after': after }) },
                Limit: limit + 1,
              }),
            ),
          ),
        ),
      )
    )
      .flatMap((out) => out.Items ?? [])
      .filter((i) => typeof i.gsi1sk === 'string');
    const unique = [...new Map(entries.map((i) => [`${String(i.pk)}\u0000${String(i.sk)}`, i])).values()].sort(
      (a, b) => compare(String(a.gsi1sk), String(b.gsi1sk)) || compare(String(a.pk), String(b.pk)),
    );
    const page = unique.slice(0, limit);
    const items = await this.t.batchGet(
      page.map((k) => ({ pk: k.pk, sk: k.sk })),
      'a page of hosts',
    );
    const hosts = valid(items.map((i) => toHost(this.t.bad, this.t.hostArnPrefix, i))).sort((a, b) => compare(a.id, b.id));
    return unique.length > limit ? { hosts, next: String(page[page.length - 1]!.gsi1sk) } : { hosts };
  }

  async getHosts(ids: readonly string[]): Promise<Host[]> {
    const keys = [...new Set(ids)].map((id) => this.t.hostKey(id));
    // Eventually consistent (half the read units): for views, never for placements.
    const items = await this.t.batchGet(keys, 'hosts', { consistent: false });
    return valid(items.map((i) => toHost(this.t.bad, this.t.hostArnPrefix, i))).sort((a, b) => compare(a.id, b.id));
  }

  async registerHost(host: Pick<Host, 'id' | 'address' | 'capacity' | 'labels'>, now: string): Promise<Host> {
    const label = `host ${host.id}`;
    // A claim past any real machine would pull every task onto the host (and read back as no host).
    const issue = capacityIssue(host.capacity);
    if (issue) throw new ValidationError([{ path: 'capacity', message: issue }]);
    for (let attempt = 1; ; attempt++) {
      const current = await this.getHost(host.id);
      try {
        if (current === undefined) {
          const created: Host = { ...pick(host), state: 'ready', registeredAt: now, version: 1, allocations: {} };
          await this.t.call('PutItem', label, () =>
            this.t.doc.send(
              new PutCommand({
                TableName: this.t.table,
                Item: { ...this.t.hostKey(host.id), gsi1pk: hostIndexKey(host.id), gsi1sk: host.id, type: 'host', ...created },
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
        const out = await this.t.call('UpdateItem', label, () =>
          this.t.doc.send(
            new UpdateCommand({
              TableName: this.t.table,
              Key: this.t.hostKey(host.id),
              // The index key too: a record of before the index shards moves to its shard.
              UpdateExpression: capacityChanged
                ? 'SET #address = :address, #labels = :labels, #capacity = :capacity, #version = :next, #gsi1pk = :shard'
                : 'SET #address = :address, #labels = :labels, #gsi1pk = :shard',
              ConditionExpression: capacityChanged ? '#version = :v' : 'attribute_exists(pk)',
              ExpressionAttributeNames: {
                '#address': 'address',
                '#labels': 'labels',
                '#gsi1pk': 'gsi1pk',
                ...(capacityChanged ? { '#capacity': 'capacity', '#version': 'version' } : {}),
              },
              ExpressionAttributeValues: {
                ':address': host.address,
                ':labels': host.labels,
                ':shard': hostIndexKey(host.id),
                ...(capacityChanged ? { ':capacity': host.capacity, ':v': current.version, ':next': current.version + 1 } : {}),
              },
              ReturnValues: 'ALL_NEW',
            }),
          ),
        );
        return this.written(out.Attributes);
      } catch (err) {
        if (!(err instanceof ConflictError) || attempt >= RACE_ATTEMPTS) throw err;
      }
    }
  }

  async updateAllocations(host: Host, allocations: Host['allocations']): Promise<Host> {
    const label = `host ${host.id}`;
    const next: Host = { ...host, allocations, version: host.version + 1 };
    checkItemSize(`${label} allocations (${Object.keys(allocations).length} tasks)`, {
      ...this.t.hostKey(host.id),
      gsi1pk: hostIndexKey(host.id),
      gsi1sk: host.id,
      type: 'host',
      ...next,
    });
    const out = await this.t.call(
      'UpdateItem',
      label,
      () =>
        this.t.doc.send(
          new UpdateCommand({
            TableName: this.t.table,
            Key: this.t.hostKey(host.id),
            // The index key too: a record of before the index shards moves to its shard at its next commit.
            UpdateExpression: 'SET #allocations = :a, #version = :next, #gsi1pk = :shard',
            ConditionExpression: '#version = :v',
            ExpressionAttributeNames: { '#allocations': 'allocations', '#version': 'version', '#gsi1pk': 'gsi1pk' },
            ExpressionAttributeValues: { ':a': allocations, ':v': host.version, ':next': host.version + 1, ':shard': hostIndexKey(host.id) },
            ReturnValues: 'ALL_NEW',
          }),
        ),
      `${label} is no longer at version ${host.version}; re-read it`,
    );
    return this.written(out.Attributes);
  }

  async setHostState(id: string, state: Host['state'], now: string): Promise<void> {
    const label = `host ${id}`;
    const key = this.t.hostKey(id);
    for (let attempt = 1; ; attempt++) {
      try {
        // The version bumps with the state, so a placement computed while the host was ready
        // cannot commit onto a host that is now draining or down.
        await this.t.call('UpdateItem', label, () =>
          this.t.doc.send(
            new UpdateCommand({
              TableName: this.t.table,
              Key: key,
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

  /** The host record an update returned; one that no longer reads as a host is reported and an error. */
  private written(item: Record<string, unknown> | undefined): Host {
    const host = item && toHost(this.t.bad, this.t.hostArnPrefix, item);
    if (host === undefined)
      throw new SkiffError(`host item ${item ? `${String(item.pk)} / ${String(item.sk)}` : ''} is not a valid host record after an update`);
    return host;
  }

  async forgetHost(host: Host): Promise<void> {
    const label = `host ${host.id}`;
    if (host.state !== 'down' || Object.keys(host.allocations).length > 0) {
      throw new ConflictError(
        `${label} is ${host.state} with ${Object.keys(host.allocations).length} allocation(s): only a down host holding nothing is forgotten`,
      );
    }
    // What hangs off the host first: a crash after them leaves a down host without a report, which
    // the next call forgets; the other order could leave reports of a host no longer listed.
    await this.t.batchWrite(
      [this.t.statusKey(host.id), this.t.beatKey(host.id), publishedKey(host.id)].map((Key) => ({ DeleteRequest: { Key } })),
      `status, heartbeat and publication record of host ${host.id}`,
    );
    try {
      await this.t.call('DeleteItem', label, () =>
        this.t.doc.send(
          new DeleteCommand({
            TableName: this.t.table,
            Key: this.t.hostKey(host.id),
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
}
