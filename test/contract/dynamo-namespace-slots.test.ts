import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoNamespaceSlots } from '../../adapters/aws/namespace-slots.ts';
import { DynamoSubnetStore } from '../../adapters/aws/subnet-store.ts';
import { dynaliteClient, ensureTable, startDynalite, type DynaliteServer } from '../../local/dynalite.ts';
import { describeNamespaceSlotsContract } from './namespace-slots.contract.ts';

let server: DynaliteServer;
let client: DynamoDBClient;
let tables = 0;

beforeAll(async () => {
  server = await startDynalite();
  client = dynaliteClient(server.endpoint);
});

afterAll(async () => {
  client?.destroy();
  await server?.close();
});

// A table per test, so each test sees only its own slots.
describeNamespaceSlotsContract('DynamoNamespaceSlots on dynalite', async () => {
  const tableName = `skiff-slots-${++tables}`;
  await ensureTable(client, tableName);
  return new DynamoNamespaceSlots(client, { tableName });
});

describe('DynamoNamespaceSlots', () => {
  it('shares the cluster table with the subnet allocator, each seeing only its own items', async () => {
    const tableName = `skiff-slots-${++tables}`;
    await ensureTable(client, tableName);
    const slots = new DynamoNamespaceSlots(client, { tableName });
    const subnets = new DynamoSubnetStore(client, { tableName, clusterCidr: '10.200.0.0/16' });
    const cidr = await subnets.acquire('i-0a1');
    await slots.claimSlot('shop', 2, '2026-01-01T00:00:00.000Z');
    expect(await slots.listSlots()).toEqual([{ namespace: 'shop', slot: 2, since: '2026-01-01T00:00:00.000Z' }]);
    expect((await subnets.list()).map((l) => l.cidr)).toEqual([cidr]);
  });

  it('refuses unknown options and a missing table name', () => {
    expect(() => new DynamoNamespaceSlots(client, { tableName: 't', extra: 1 } as never)).toThrow(/unknown option\(s\) extra/);
    expect(() => new DynamoNamespaceSlots(client, { tableName: '' })).toThrow(/tableName is required/);
  });
});
