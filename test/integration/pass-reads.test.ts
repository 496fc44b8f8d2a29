/**
 * A scheduler pass and a discovery sync on dynalite read no event: no Scan of the table (which
 * reads, and bills, every item, the 7-day event log included), and no read of an event partition.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoStore } from '../../adapters/aws/dynamo-store.ts';
import { dynaliteClient, ensureTable, startDynalite, type DynaliteServer } from '../../local/dynalite.ts';
import { runPass } from '../../app/scheduler/pass.ts';
import { runDiscoverySync } from '../../app/discovery.ts';
import type { ClusterEvent } from '../../core/types.ts';
import type { DnsRecordSet } from '../../ports/index.ts';
import { MemoryHostChannel, RecordingWaker } from '../pass-harness.ts';
import { aSpec, MiB } from '../builders.ts';

let dynamo: DynaliteServer;
let client: DynamoDBClient;
/** Every command sent while `recording`: its name and input. */
const sent: { name: string; input: Record<string, unknown> }[] = [];
let recording = false;

beforeAll(async () => {
  dynamo = await startDynalite();
  client = dynaliteClient(dynamo.endpoint);
  (client.middlewareStack as unknown as { add(m: unknown, o: Record<string, unknown>): void }).add(
    (next: (a: { input: Record<string, unknown> }) => Promise<unknown>, context: { commandName?: string }) =>
      async (args: { input: Record<string, unknown> }) => {
        if (recording) sent.push({ name: context.commandName ?? '?', input: args.input });
        return next(args);
      },
    { step: 'initialize', name: 'passReadsRecorder' },
  );
});

afterAll(async () => {
  client?.destroy();
  await dynamo?.close();
});

/** A string attribute value, marshalled (`{ S }`) or not (the document client's input). */
const str = (v: unknown): string | undefined =>
  typeof v === 'string' ? v : typeof (v as { S?: unknown })?.S === 'string' ? (v as { S: string }).S : undefined;

/** The partition keys a read command names (key conditions' values, keys asked for). */
function partitionsRead(c: { name: string; input: Record<string, unknown> }): string[] {
  const out: (string | undefined)[] = [];
  const values = c.input.ExpressionAttributeValues as Record<string, unknown> | undefined;
  if (c.name === 'QueryCommand' && values) out.push(...Object.values(values).map(str));
  if (c.name === 'GetItemCommand') out.push(str((c.input.Key as { pk: unknown }).pk));
  if (c.name === 'BatchGetItemCommand')
    for (const t of Object.values(c.input.RequestItems as Record<string, { Keys: { pk: unknown }[] }>)) for (const k of t.Keys) out.push(str(k.pk));
  return out.filter((v): v is string => v !== undefined);
}

describe('what a pass and a discovery sync read', () => {
  it('reads no event and scans nothing, with hundreds of events in the table', async () => {
    await ensureTable(client, 'reads');
    const store = new DynamoStore(client, { tableName: 'reads' });
    for (const [i, id] of ['h1', 'h2'].entries())
      await store.registerHost({ id, address: `127.0.1.${i + 1}`, capacity: { cpu: 2000, memory: 2048 * MiB }, labels: {} }, '2026-01-01T00:00:00.000Z');
    await store.putService(aSpec({ name: 'web', replicas: 3 }), '2026-01-01T00:00:00.000Z', 0);
    const events: ClusterEvent[] = Array.from({ length: 300 }, (_, i) => ({
      id: `e${i}`,
      at: `2026-01-01T00:00:${String(i % 60).padStart(2, '0')}.000Z`,
      type: 'test.filler',
      message: 'x'.repeat(200),
      namespace: 'default',
      service: 'web',
      host: i % 2 ? 'h1' : 'h2',
    }));
    await store.putEvents(events);
    let clock = Date.parse('2026-01-01T00:01:00.000Z');
    const deps = {
      store,
      channel: new MemoryHostChannel(),
      waker: new RecordingWaker(),
      cluster: 'c',
      now: () => {
        clock += 1000;
        return new Date(clock);
      },
    };
    const first = await runPass(deps);
    expect(first.placed).toBe(3);

    const synced: DnsRecordSet[][] = [];
    recording = true;
    try {
      const idle = await runPass(deps);
      expect(idle.placed + idle.created + idle.published.length).toBe(0);
      await runDiscoverySync({
        store,
        zone: {
          name: 'skiff.internal',
          ttl: 5,
          port: {
            sync: async (r) => {
              synced.push([...r]);
              return { changed: r.length, failed: [] };
            },
          },
        },
      });
    } finally {
      recording = false;
    }
    expect(sent.length).toBeGreaterThan(0);
    expect(sent.filter((c) => c.name === 'ScanCommand')).toEqual([]);
    const eventReads = sent.flatMap(partitionsRead).filter((pk) => pk.startsWith('EVENTS'));
    expect(eventReads).toEqual([]);
    // The tasks were read all the same: one strongly consistent Query of the service's partition each.
    const taskQueries = sent.filter((c) => c.name === 'QueryCommand' && partitionsRead(c).includes('SVC#default#web'));
    expect(taskQueries).toHaveLength(2);
    expect(taskQueries.every((c) => c.input.ConsistentRead === true)).toBe(true);
  });
});
