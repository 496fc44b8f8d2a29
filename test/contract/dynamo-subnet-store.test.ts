import { afterAll, beforeAll } from 'vitest';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoSubnetStore } from '../../adapters/aws/subnet-store.ts';
import { dynaliteClient, ensureTable, startDynalite, type DynaliteServer } from '../../local/dynalite.ts';
import { describeSubnetAllocatorContract } from './subnet-store.contract.ts';

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

// A table per test, so each test sees only its own subnets.
describeSubnetAllocatorContract('DynamoSubnetStore on dynalite', async (clusterCidr, hostPrefixLength) => {
  const tableName = `skiff-subnets-${++tables}`;
  await ensureTable(client, tableName);
  return new DynamoSubnetStore(client, { tableName, clusterCidr, hostPrefixLength });
});
