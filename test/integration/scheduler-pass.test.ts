/**
 * The scheduler pass against the real state store (dynalite) and host channel (the SSM stand-in):
 * placements, host documents, and the invariants under concurrent passes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoStore } from '../../adapters/aws/dynamo-store.ts';
import { SsmHostChannel } from '../../adapters/aws/ssm-channel.ts';
import { dynaliteClient, ensureTable, startDynalite, type DynaliteServer } from '../../local/dynalite.ts';
import { startSsmServer, type SsmServer } from '../../local/ssm-server.ts';
import { runPass } from '../../app/scheduler/pass.ts';
import { fits } from '../../core/scheduler.ts';
import type { HostDocument } from '../../core/types.ts';
import type { HostWaker } from '../../ports/index.ts';
import { aSpec, MiB } from '../builders.ts';

let dynamo: DynaliteServer;
let ssm: SsmServer;
let client: DynamoDBClient;
let ssmClient: SSMClient;
let tables = 0;

beforeAll(async () => {
  dynamo = await startDynalite();
  client = dynaliteClient(dynamo.endpoint);
  ssm = await startSsmServer({ limits: false });
  ssmClient = new SSMClient({ endpoint: ssm.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
});

afterAll(async () => {
  ssmClient?.destroy();
  client?.destroy();
  await ssm?.close();
  await dynamo?.close();
});

class RecordingWaker implements HostWaker {
  woken: string[][] = [];
  async wake(ids: readonly string[]) {
    this.woken.push([...ids]);
  }
}

async function fixture(hosts: { id: string; cpu: number; memory: number }[]) {
  const tableName = `pass-${++tables}`;
  await ensureTable(client, tableName);
  const store = new DynamoStore(client, { tableName });
  const cluster = `c${tables}`;
  const channel = new SsmHostChannel(ssmClient, { prefix: `/skiff/${cluster}` });
  const waker = new RecordingWaker();
  for (const [i, h] of hosts.entries())
    await store.registerHost(
      { id: h.id, address: `127.0.1.${i + 1}`, capacity: { cpu: h.cpu, memory: h.memory }, labels: { zone: i % 2 ? 'b' : 'a' } },
      '2026-01-01T00:00:00.000Z',
    );
  let clock = Date.parse('2026-01-01T00:00:00.000Z');
  const pass = (seed?: string) =>
    runPass({
      store,
      channel,
      waker,
      cluster,
      now: () => {
        clock += 1000;
        return new Date(clock);
      },
      ...(seed ? { seed } : {}),
    });
  return { store, channel, waker, cluster, pass };
}

describe('runPass', () => {
  it('creates, places and publishes a service, then does nothing on the next pass', async () => {
    const f = await fixture([
      { id: 'h1', cpu: 1000, memory: 1024 * MiB },
      { id: 'h2', cpu: 1000, memory: 1024 * MiB },
      { id: 'h3', cpu: 1000, memory: 1024 * MiB },
    ]);
    await f.store.putService(aSpec({ name: 'web', replicas: 3 }), '2026-01-01T00:00:00.000Z', 0);
    const first = await f.pass();
    expect(first).toMatchObject({ created: 3, placed: 3, unplaceable: 0, conflicts: 0 });
    expect(first.published.sort()).toEqual(['h1', 'h2', 'h3']);
    expect(f.waker.woken.flat().sort()).toEqual(['h1', 'h2', 'h3']);

    const tasks = await f.store.listTasks('default', 'web');
    expect(new Set(tasks.map((t) => t.host)).size).toBe(3);
    for (const h of ['h1', 'h2', 'h3']) {
      const doc = (await f.channel.fetch(h)) as HostDocument;
      expect(doc.generation).toBe(1);
      expect(doc.tasks.map((t) => t.id)).toEqual(tasks.filter((t) => t.host === h).map((t) => t.id));
    }

    const second = await f.pass();
    expect(second).toMatchObject({ created: 0, removed: 0, placed: 0, published: [] });
  });

  it('scales down by removing the highest slots and their allocations', async () => {
    const f = await fixture([
      { id: 'h1', cpu: 4000, memory: 4096 * MiB },
      { id: 'h2', cpu: 4000, memory: 4096 * MiB },
    ]);
    await f.store.putService(aSpec({ name: 'web', replicas: 4 }), '2026-01-01T00:00:00.000Z', 0);
    await f.pass();
    await f.store.putService(aSpec({ name: 'web', replicas: 1 }), '2026-01-01T00:00:00.000Z', 1);
    const r = await f.pass();
    expect(r.removed).toBe(3);
    const tasks = await f.store.listTasks('default', 'web');
    expect(tasks.map((t) => t.slot)).toEqual([1]);
    const hosts = await f.store.listHosts();
    expect(hosts.flatMap((h) => Object.keys(h.allocations))).toEqual([tasks[0].id]);
  });

  it('records why a task fits no host, and places it once a host fits', async () => {
    const f = await fixture([{ id: 'h1', cpu: 1000, memory: 64 * MiB }]);
    await f.store.putService(aSpec({ name: 'big', replicas: 1, memory: 128 * MiB }), '2026-01-01T00:00:00.000Z', 0);
    const r = await f.pass();
    expect(r.unplaceable).toBe(1);
    const [task] = await f.store.listTasks('default', 'big');
    expect(task.host).toBeUndefined();
    expect(task.unplaceable).toMatchObject({ message: '0 of 1 host fit: 1 insufficient memory', rejected: { 'insufficient memory': 1 }, hosts: 1 });

    await f.store.registerHost({ id: 'h2', address: '127.0.1.2', capacity: { cpu: 1000, memory: 1024 * MiB }, labels: {} }, '2026-01-01T00:00:00.000Z');
    await f.pass();
    const [placed] = await f.store.listTasks('default', 'big');
    expect(placed.host).toBe('h2');
    expect(placed.unplaceable).toBeUndefined();
  });

  it('deletes a service: tasks, allocations and documents emptied, then the service item once no host reports it', async () => {
    const f = await fixture([{ id: 'h1', cpu: 1000, memory: 1024 * MiB }]);
    await f.store.putService(aSpec({ name: 'web', replicas: 2 }), '2026-01-01T00:00:00.000Z', 0);
    await f.pass();
    const [t1] = await f.store.listTasks('default', 'web');
    // the host still reports a task of the service: the service must stay until it is gone
    await f.store.putHostStatus({
      hostId: 'h1',
      heartbeatAt: '2026-01-01T00:00:00.000Z',
      generation: 1,
      agentVersion: 't',
      tasks: [{ taskId: t1.id, namespace: 'default', service: 'web', state: 'running', ports: [], containers: [], since: '2026-01-01T00:00:00.000Z' }],
    });
    await f.store.markServiceDeleting('default', 'web', '2026-01-01T00:00:00.000Z');
    await f.pass();
    await f.pass();
    expect(await f.store.listTasks('default', 'web')).toEqual([]);
    expect(Object.keys((await f.store.getHost('h1'))!.allocations)).toEqual([]);
    expect(((await f.channel.fetch('h1')) as HostDocument).tasks).toEqual([]);
    expect(await f.store.getService('default', 'web')).toMatchObject({ deleting: true });

    await f.store.putHostStatus({ hostId: 'h1', heartbeatAt: '2026-01-01T00:00:01.000Z', generation: 2, agentVersion: 't', tasks: [] });
    await f.pass();
    expect(await f.store.getService('default', 'web')).toBeUndefined();
  });

  it('never over-commits a host nor places a task twice when passes run concurrently', async () => {
    // 6 hosts that hold 4 tasks each (24 slots), 40 replicas wanted over 4 services.
    const f = await fixture(Array.from({ length: 6 }, (_, i) => ({ id: `h${i}`, cpu: 400, memory: 1024 * MiB })));
    for (const name of ['a', 'b', 'c', 'd']) await f.store.putService(aSpec({ name, replicas: 10, cpu: 100 }), '2026-01-01T00:00:00.000Z', 0);
    const results = await Promise.all(Array.from({ length: 5 }, (_, i) => f.pass(`seed-${i}`)));
    expect(results.reduce((n, r) => n + r.conflicts, 0)).toBeGreaterThan(0); // they really raced
    for (let i = 0; i < 3; i++) await f.pass();

    const hosts = await f.store.listHosts();
    const tasks = await f.store.listAllTasks();
    expect(tasks).toHaveLength(40);
    const placedIds = hosts.flatMap((h) => Object.keys(h.allocations));
    expect(new Set(placedIds).size).toBe(placedIds.length); // no task on two hosts
    expect(placedIds).toHaveLength(24); // every slot of every host used, none over
    for (const h of hosts) expect(fits(h.capacity, h.allocations)).toBe(true);
    for (const t of tasks.filter((t) => t.host)) expect(hosts.find((h) => h.id === t.host)!.allocations[t.id]).toBeDefined();
    expect(tasks.filter((t) => !t.host).every((t) => t.unplaceable?.message.includes('insufficient cpu'))).toBe(true);

    const documented = (await Promise.all(hosts.map(async (h) => ((await f.channel.fetch(h.id)) as HostDocument).tasks.map((t) => t.id)))).flat();
    expect(documented.sort()).toEqual(placedIds.sort());
  });
});
