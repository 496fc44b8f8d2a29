import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoSubnetStore } from '../../adapters/aws/subnet-store.ts';
import { DynamoStore } from '../../adapters/aws/dynamo-store.ts';
import { dynaliteClient, ensureTable, startDynalite, type DynaliteServer } from '../../local/dynalite.ts';
import { overlaps } from '../../core/cidr.ts';
import { ConflictError, LimitError, SkiffError, ValidationError } from '../../core/errors.ts';

let server: DynaliteServer;
let client: DynamoDBClient;
let doc: DynamoDBDocumentClient;
let tables = 0;

beforeAll(async () => {
  server = await startDynalite();
  client = dynaliteClient(server.endpoint);
  doc = DynamoDBDocumentClient.from(client);
});

afterAll(async () => {
  client?.destroy();
  await server?.close();
});

/** A store on a table of its own, so each test sees only its own subnets. */
async function freshStore(clusterCidr = '10.200.0.0/16', hostPrefixLength = 24): Promise<{ store: DynamoSubnetStore; tableName: string }> {
  const tableName = `skiff-subnets-${++tables}`;
  await ensureTable(client, tableName);
  return { store: new DynamoSubnetStore(client, { tableName, clusterCidr, hostPrefixLength }), tableName };
}

// What the port promises is in test/contract/subnet-store.contract.ts (run on dynalite too); here:
// crash states left in the table, other prefix settings, the shared table, options.
const hosts = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

// Crash states are set up by writing the items as docs/network.md describes them, as a crashed
// writer would have left them.
async function putPointer(tableName: string, hostId: string, cidr: string, version: number, released = false): Promise<void> {
  await doc.send(new PutCommand({ TableName: tableName, Item: { pk: `SUBNETHOLDER#${hostId}`, sk: 'SUBNETHOLDER', hostId, cidr, version, released } }));
}
async function putClaim(tableName: string, hostId: string, cidr: string, version: number): Promise<void> {
  await doc.send(
    new PutCommand({
      TableName: tableName,
      Item: { pk: `SUBNET#${cidr}`, sk: 'SUBNET', cidr, hostId, version, gsi1pk: 'SUBNETS', gsi1sk: `${hostId}#${cidr}` },
    }),
  );
}
async function holderOf(tableName: string, cidr: string): Promise<string | undefined> {
  const out = await doc.send(new GetCommand({ TableName: tableName, Key: { pk: `SUBNET#${cidr}`, sk: 'SUBNET' }, ConsistentRead: true }));
  return out.Item?.hostId as string | undefined;
}

describe('DynamoSubnetStore (dynalite)', () => {
  it('finishes an acquire that crashed after writing its pointer, on the subnet it had picked', async () => {
    const { store, tableName } = await freshStore('10.200.0.0/22', 24);
    await putPointer(tableName, 'crashed', '10.200.2.0/24', 1);
    expect(await store.list()).toEqual([]); // an intent holds nothing
    expect(await store.acquire('other')).not.toBe('10.200.2.0/24');
    expect(await store.acquire('crashed')).toBe('10.200.2.0/24');
  });

  it('moves a crashed acquire on when its picked subnet was taken meanwhile', async () => {
    const { store, tableName } = await freshStore('10.200.0.0/22', 24);
    await putPointer(tableName, 'crashed', '10.200.2.0/24', 1);
    await putPointer(tableName, 'winner', '10.200.2.0/24', 1);
    await putClaim(tableName, 'winner', '10.200.2.0/24', 1);
    const got = await store.acquire('crashed');
    expect(got).not.toBe('10.200.2.0/24');
    expect(await holderOf(tableName, '10.200.2.0/24')).toBe('winner');
    expect(await store.acquire('winner')).toBe('10.200.2.0/24');
  });

  it('never deletes a subnet held by another host, even when the releasing host points at it', async () => {
    const { store, tableName } = await freshStore('10.200.0.0/22', 24);
    await putPointer(tableName, 'stale', '10.200.1.0/24', 3);
    await putPointer(tableName, 'owner', '10.200.1.0/24', 1);
    await putClaim(tableName, 'owner', '10.200.1.0/24', 1);
    await store.release('stale');
    expect(await holderOf(tableName, '10.200.1.0/24')).toBe('owner');
    expect(await store.list()).toEqual([{ hostId: 'owner', cidr: '10.200.1.0/24', routed: false }]);
  });

  it('releases a subnet a crashed acquire left behind under an older pointer', async () => {
    const { store, tableName } = await freshStore('10.200.0.0/22', 24);
    // The host holds 10.200.0.0/24; a crash left its old claim of 10.200.3.0/24 undone.
    await putPointer(tableName, 'h', '10.200.0.0/24', 4);
    await putClaim(tableName, 'h', '10.200.0.0/24', 4);
    await putClaim(tableName, 'h', '10.200.3.0/24', 2);
    expect(await store.acquire('h')).toBe('10.200.0.0/24');
    await store.release('h');
    expect(await store.list()).toEqual([]);
  });

  it('never hands out a subnet overlapping one held under another prefix setting', async () => {
    const { store: wide, tableName } = await freshStore('10.200.0.0/23', 24);
    const held = await wide.acquire('old-host');
    const narrow = new DynamoSubnetStore(client, { tableName, clusterCidr: '10.200.0.0/23', hostPrefixLength: 25 });
    const got = await Promise.all(hosts('new', 2).map((h) => narrow.acquire(h)));
    for (const cidr of got) expect(overlaps(cidr, held)).toBe(false);
    await expect(narrow.acquire('new-3')).rejects.toBeInstanceOf(LimitError);
    // The old host keeps its subnet under the new setting.
    expect(await narrow.acquire('old-host')).toBe(held);
  });

  it('shares the cluster table with the rest of the state without disturbing it', async () => {
    const { store, tableName } = await freshStore();
    const state = new DynamoStore(client, { tableName });
    await state.registerHost({ id: 'h-1', address: '127.0.1.1', capacity: { cpu: 1000, memory: 2 ** 30 }, labels: {} }, '2025-01-01T00:00:00.000Z');
    await store.acquire('h-1');
    expect((await state.listHosts()).map((h) => h.id)).toEqual(['h-1']);
    expect(await state.listAllTasks()).toEqual([]);
  });

  it('refuses bad options and host ids with errors that name them', async () => {
    const { tableName } = await freshStore();
    expect(() => new DynamoSubnetStore(client, { tableName, clusterCidr: '10.200.1.0/16' })).toThrow(/host bits set/);
    expect(() => new DynamoSubnetStore(client, { tableName, clusterCidr: '10.200.0.0/16', hostPrefixLength: 31 })).toThrow(ValidationError);
    expect(() => new DynamoSubnetStore(client, { tableName, clusterCidr: '10.200.0.0/16', cidr: 'x' } as never)).toThrow(/unknown option\(s\) cidr/);
    const store = new DynamoSubnetStore(client, { tableName, clusterCidr: '10.200.0.0/16' });
    await expect(store.acquire('a#b')).rejects.toBeInstanceOf(ValidationError);
    await expect(store.release('')).rejects.toBeInstanceOf(ValidationError);
  });

  it('names the table when it does not exist', async () => {
    const store = new DynamoSubnetStore(client, { tableName: 'no-such-table', clusterCidr: '10.200.0.0/16' });
    const err = await store.acquire('h').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SkiffError);
    expect(err).not.toBeInstanceOf(ConflictError);
    expect((err as Error).message).toMatch(/table no-such-table not found/);
  });
});
