import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoStore } from '../../adapters/aws/dynamo-store.ts';
import { dynaliteClient, ensureTable, startDynalite, type DynaliteServer } from '../../local/dynalite.ts';
import { describeStoreContract } from './store.contract.ts';
import { describeVolumeStoreContract } from './volume-store.contract.ts';

let dir: string;
let server: DynaliteServer;
let client: DynamoDBClient;
let tables = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'skiff-store-contract-'));
  server = await startDynalite({ path: join(dir, 'db') });
  client = dynaliteClient(server.endpoint);
});

afterAll(async () => {
  try {
    client?.destroy();
    await server?.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// A table per test, so that list results hold only what the test wrote.
describeStoreContract('DynamoStore on dynalite', async () => {
  const tableName = `skiff-contract-${++tables}`;
  await ensureTable(client, tableName);
  return new DynamoStore(client, { tableName });
});

describeVolumeStoreContract('DynamoStore on dynalite', async () => {
  const tableName = `skiff-contract-${++tables}`;
  await ensureTable(client, tableName);
  return new DynamoStore(client, { tableName });
});
