/**
 * The audit trail's `actor` (issue 14) survives the event log on both stores: written with the
 * event, read back with it, and kept by the item validation (which drops unknown fields).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoStore } from '../../adapters/aws/dynamo-store.ts';
import { MemoryStore } from '../../adapters/memory/store.ts';
import type { ClusterEvent } from '../../core/types.ts';
import { dynaliteClient, ensureTable, startDynalite, type DynaliteServer } from '../../local/dynalite.ts';
import type { Store } from '../../ports/index.ts';

let dir: string;
let server: DynaliteServer;
let client: DynamoDBClient;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'skiff-event-actor-'));
  server = await startDynalite({ path: join(dir, 'db') });
  client = dynaliteClient(server.endpoint);
  await ensureTable(client, 'actor');
});

afterAll(async () => {
  try {
    client?.destroy();
    await server?.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const event: ClusterEvent = {
  id: 'e1',
  at: '2026-01-01T00:00:00.000Z',
  type: 'service.created',
  message: 'service shop/web created by token:ci@shop',
  namespace: 'shop',
  service: 'web',
  actor: 'token:ci@shop',
};

describe.each([
  ['MemoryStore', async (): Promise<Store> => new MemoryStore()],
  ['DynamoStore on dynalite', async (): Promise<Store> => new DynamoStore(client, { tableName: 'actor' })],
])('event actor on %s', (_name, make) => {
  it('is stored and read back with the event', async () => {
    const store = await make();
    await store.putEvents([event, { ...event, id: 'e2', actor: undefined, message: 'host h1 down' }]);
    const read = await store.listEvents({ namespace: 'shop' });
    expect(read.find((e) => e.id === 'e1')).toEqual(event);
    expect(read.find((e) => e.id === 'e2')?.actor).toBeUndefined();
  });
});
