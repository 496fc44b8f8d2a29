import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoTenancyStore } from '../../adapters/aws/dynamo/tenancy.ts';
import { dynaliteClient, ensureTable, startDynalite, type DynaliteServer } from '../../local/dynalite.ts';
import { describeTenancyStoreContract } from './tenancy-store.contract.ts';

let dir: string;
let server: DynaliteServer;
let client: DynamoDBClient;
let tables = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'skiff-tenancy-contract-'));
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
describeTenancyStoreContract('DynamoTenancyStore on dynalite', async () => {
  const tableName = `skiff-tenancy-${++tables}`;
  await ensureTable(client, tableName);
  return new DynamoTenancyStore(DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } }), tableName);
});
