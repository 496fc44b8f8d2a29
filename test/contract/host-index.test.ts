/**
 * Hosts and their statuses are indexed under sharded partitions on DynamoDB (`HOSTS#<n>`,
 * `HOSTSTATUS#<n>`, adapters/aws/dynamo/keys.ts): the lists hold every host whatever its shard, on
 * both stores, and on DynamoDB items written before the shards (`HOSTS`, `HOSTSTATUS`) are still
 * listed, once, and move to their shard on their next write.
 */
import { describe, expect, it } from 'vitest';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoStore } from '../../adapters/aws/dynamo-store.ts';
import { MemoryStore } from '../../adapters/memory/store.ts';
import { HOST_INDEX_SHARDS, hostIndexKey, hostStatusIndexKey } from '../../adapters/aws/dynamo/keys.ts';
import { useDynalite } from '../helpers/dynalite.ts';
import type { Store } from '../../ports/index.ts';
import { aStatus } from './store-fixtures.ts';

const NOW = '2026-01-01T00:00:00.000Z';
const ids = Array.from({ length: 40 }, (_, i) => `i-${String(i).padStart(17, '0')}`);
const capacity = { cpu: 2000, memory: 2 ** 31 };

const db = useDynalite();

async function dynamoStore(): Promise<{ store: DynamoStore; tableName: string }> {
  const tableName = await db.table('host-index');
  return { store: new DynamoStore(db.client, { tableName }), tableName };
}

const stores: [string, () => Promise<Store>][] = [
  ['MemoryStore', async () => new MemoryStore()],
  ['DynamoStore on dynalite', async () => (await dynamoStore()).store],
];

describe.each(stores)('host lists on %s', (_name, make) => {
  it('lists every host and every status, sorted, once each', async () => {
    const store = await make();
    for (const [i, id] of ids.entries()) await store.registerHost({ id, address: `127.0.1.${i + 1}`, capacity, labels: {} }, NOW);
    for (const id of ids) await store.putHostStatus(aStatus(id));
    // A commit and a state change rewrite a record: it stays listed, once.
    const [first] = await store.listHosts();
    await store.updateAllocations(first!, {});
    await store.setHostState(ids[1]!, 'draining', NOW);
    expect((await store.listHosts()).map((h) => h.id)).toEqual(ids);
    expect((await store.listHostStatuses()).map((s) => s.hostId)).toEqual(ids);
  });
});

describe.each(stores)('host pages on %s', (_name, make) => {
  it('pages through every host once, in id order, reading the page only', async () => {
    const store = await make();
    for (const [i, id] of ids.entries()) await store.registerHost({ id, address: `127.0.1.${i + 1}`, capacity, labels: {} }, NOW);
    const seen: string[] = [];
    let after: string | undefined;
    let pages = 0;
    for (;;) {
      const { hosts, next } = await store.listHostsPage({ ...(after !== undefined ? { after } : {}), limit: 7 });
      expect(hosts.length).toBeLessThanOrEqual(7);
      seen.push(...hosts.map((h) => h.id));
      pages++;
      if (next === undefined) break;
      expect(next).toBe(hosts.at(-1)!.id);
      after = next;
    }
    expect(seen).toEqual(ids);
    expect(pages).toBe(Math.ceil(ids.length / 7));
    expect((await store.listHostsPage({ limit: ids.length })).next).toBeUndefined();
    expect((await store.listHostsPage({ after: ids.at(-1)!, limit: 3 })).hosts).toEqual([]);
    await expect(store.listHostsPage({ limit: 0 })).rejects.toThrow(/limit/);
  });

  it('reads the hosts and statuses asked for, in id order, leaving out unknown ones', async () => {
    const store = await make();
    for (const [i, id] of ids.slice(0, 5).entries()) await store.registerHost({ id, address: `127.0.1.${i + 1}`, capacity, labels: {} }, NOW);
    for (const id of ids.slice(0, 3)) await store.putHostStatus(aStatus(id));
    await store.putHeartbeat(ids[0]!, '2030-01-01T00:00:00.000Z');
    const asked = [ids[4]!, ids[0]!, 'i-nope', ids[4]!, ids[2]!];
    expect((await store.getHosts(asked)).map((h) => h.id)).toEqual([ids[0], ids[2], ids[4]]);
    const statuses = await store.getHostStatuses(asked);
    expect(statuses.map((s) => s.hostId)).toEqual([ids[0], ids[2]]);
    expect(statuses[0]!.heartbeatAt).toBe('2030-01-01T00:00:00.000Z');
    expect(await store.getHosts([])).toEqual([]);
    expect(await store.getHostStatuses([])).toEqual([]);
  });
});

describe('the host index on DynamoDB', () => {
  it('spreads hosts and statuses over the shards', () => {
    const used = new Set(ids.map(hostIndexKey));
    expect(used.size).toBe(HOST_INDEX_SHARDS);
    expect(ids.map(hostStatusIndexKey).every((k, i) => k === hostIndexKey(ids[i]!).replace(/^HOSTS#/, 'HOSTSTATUS#'))).toBe(true);
  });

  it('lists records and statuses written before the shards, and moves each to its shard on its next write', async () => {
    const { store, tableName } = await dynamoStore();
    const doc = DynamoDBDocumentClient.from(db.client);
    const [oldId, newId] = [ids[0]!, ids[1]!];
    await store.registerHost({ id: newId, address: '127.0.1.2', capacity, labels: {} }, NOW);
    await store.putHostStatus(aStatus(newId));
    // As the adapter wrote them before the shards.
    const record = { id: oldId, address: '127.0.1.1', capacity, labels: {}, state: 'ready', registeredAt: NOW, version: 1, allocations: {} };
    await doc.send(
      new PutCommand({ TableName: tableName, Item: { pk: `HOST#${oldId}`, sk: '#HOST', gsi1pk: 'HOSTS', gsi1sk: oldId, type: 'host', ...record } }),
    );
    const status = aStatus(oldId);
    await doc.send(
      new PutCommand({
        TableName: tableName,
        Item: {
          pk: `HOST#${oldId}`,
          sk: 'STATUS',
          gsi1pk: 'HOSTSTATUS',
          gsi1sk: oldId,
          type: 'hoststatus',
          hostId: oldId,
          heartbeatAt: status.heartbeatAt,
          generation: status.generation,
          tasks: status.tasks,
          agentVersion: status.agentVersion,
          events: status.events ?? [],
        },
      }),
    );
    expect((await store.listHosts()).map((h) => h.id)).toEqual([oldId, newId]);
    expect((await store.listHostStatuses()).map((s) => s.hostId)).toEqual([oldId, newId]);

    const indexKey = async (sk: string) =>
      (await doc.send(new GetCommand({ TableName: tableName, Key: { pk: `HOST#${oldId}`, sk }, ConsistentRead: true }))).Item?.gsi1pk;
    const [old] = await store.listHosts();
    await store.updateAllocations(old!, {});
    expect(await indexKey('#HOST')).toBe(hostIndexKey(oldId));
    await store.putHostStatus(aStatus(oldId));
    expect(await indexKey('STATUS')).toBe(hostStatusIndexKey(oldId));
    expect((await store.listHosts()).map((h) => h.id)).toEqual([oldId, newId]);
    expect((await store.listHostStatuses()).map((s) => s.hostId)).toEqual([oldId, newId]);
  });

  it('moves a record of before the shards when its host claims again', async () => {
    const { store, tableName } = await dynamoStore();
    const doc = DynamoDBDocumentClient.from(db.client);
    const id = ids[2]!;
    const record = { id, address: '127.0.1.3', capacity, labels: {}, state: 'ready', registeredAt: NOW, version: 1, allocations: {} };
    await doc.send(new PutCommand({ TableName: tableName, Item: { pk: `HOST#${id}`, sk: '#HOST', gsi1pk: 'HOSTS', gsi1sk: id, type: 'host', ...record } }));
    await store.registerHost({ id, address: '127.0.1.3', capacity, labels: { zone: 'a' } }, NOW);
    const item = (await doc.send(new GetCommand({ TableName: tableName, Key: { pk: `HOST#${id}`, sk: '#HOST' }, ConsistentRead: true }))).Item;
    expect(item?.gsi1pk).toBe(hostIndexKey(id));
    expect((await store.listHosts()).map((h) => [h.id, h.labels])).toEqual([[id, { zone: 'a' }]]);
  });
});
