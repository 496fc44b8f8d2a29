import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { CallCounter, writeUnits } from '../../adapters/aws/call-counter.ts';
import { dynaliteClient, ensureTable, startDynalite, type DynaliteServer } from '../../local/dynalite.ts';

describe('writeUnits', () => {
  it('charges the table at least one unit per KB of the larger image', () => {
    expect(writeUnits(undefined, { size: 10 })).toEqual({ table: 1, index: 0 });
    expect(writeUnits({ size: 3000 }, { size: 100 })).toEqual({ table: 3, index: 0 });
    expect(writeUnits({ size: 100 }, { size: 1025 })).toEqual({ table: 2, index: 0 });
  });

  it('charges the index once for an update in place, twice when its key moves', () => {
    expect(writeUnits({ size: 500, indexKey: 'a' }, { size: 1500, indexKey: 'a' })).toEqual({ table: 2, index: 2 });
    expect(writeUnits({ size: 500, indexKey: 'a' }, { size: 1500, indexKey: 'b' })).toEqual({ table: 2, index: 3 });
  });

  it('charges the index one side when an item enters or leaves it', () => {
    expect(writeUnits(undefined, { size: 2000, indexKey: 'a' })).toEqual({ table: 2, index: 2 });
    expect(writeUnits({ size: 2000, indexKey: 'a' }, undefined)).toEqual({ table: 2, index: 2 });
  });

  it('charges a failed conditional write on the table only', () => {
    expect(writeUnits({ size: 2500, indexKey: 'a' }, { size: 100, indexKey: 'a' }, true)).toEqual({ table: 3, index: 0 });
  });
});

describe('CallCounter on a DynamoDB client', () => {
  let server: DynaliteServer;
  let client: DynamoDBClient;

  beforeAll(async () => {
    server = await startDynalite();
    client = dynaliteClient(server.endpoint);
    await ensureTable(client, 'counted');
  });

  afterAll(async () => {
    try {
      client?.destroy();
    } finally {
      await server?.close();
    }
  });

  it('counts calls per operation and the units they consumed, leaving outputs as the caller asked', async () => {
    const counter = new CallCounter();
    counter.attach(client, 'DynamoDB');
    const doc = DynamoDBDocumentClient.from(client);

    const put = await doc.send(new PutCommand({ TableName: 'counted', Item: { pk: 'a', sk: 'b', v: 1 } }));
    const get = await doc.send(new GetCommand({ TableName: 'counted', Key: { pk: 'a', sk: 'b' }, ConsistentRead: true }));
    const asked = await doc.send(new GetCommand({ TableName: 'counted', Key: { pk: 'a', sk: 'b' }, ReturnConsumedCapacity: 'TOTAL' }));
    counter.record('SSM.SendCommand', 2);

    expect(put.ConsumedCapacity).toBeUndefined();
    expect(get.ConsumedCapacity).toBeUndefined();
    expect(get.Item).toEqual({ pk: 'a', sk: 'b', v: 1 });
    expect(asked.ConsumedCapacity?.CapacityUnits).toBe(0.5);
    expect(counter.snapshot()).toEqual({ calls: { 'DynamoDB.GetItem': 2, 'DynamoDB.PutItem': 1, 'SSM.SendCommand': 2 }, readUnits: 1.5, writeUnits: 1 });

    counter.reset();
    expect(counter.snapshot()).toEqual({ calls: {}, readUnits: 0, writeUnits: 0 });
  });
});
