/**
 * The audit trail's `actor` (issue 14) survives the event log on both stores: written with the
 * event, read back with it, and kept by the item validation (which drops unknown fields).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { DynamoStore } from '../../adapters/aws/dynamo-store.ts';
import { MemoryStore } from '../../adapters/memory/store.ts';
import type { ClusterEvent } from '../../core/types.ts';
import type { Store } from '../../ports/index.ts';
import { useDynalite } from '../helpers/dynalite.ts';

const db = useDynalite({ onDisk: 'skiff-event-actor-' });
let tableName: string;

beforeAll(async () => {
  tableName = await db.table('actor');
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
  ['DynamoStore on dynalite', async (): Promise<Store> => new DynamoStore(db.client, { tableName })],
])('event actor on %s', (_name, make) => {
  it('is stored and read back with the event', async () => {
    const store = await make();
    await store.putEvents([event, { ...event, id: 'e2', actor: undefined, message: 'host h1 down' }]);
    const read = await store.listEvents({ namespace: 'shop' });
    expect(read.find((e) => e.id === 'e1')).toEqual(event);
    expect(read.find((e) => e.id === 'e2')?.actor).toBeUndefined();
  });
});
