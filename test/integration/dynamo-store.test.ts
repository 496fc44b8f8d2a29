import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProvisionedThroughputExceededException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoStore, StoreUnavailableError, hostPartitionKey } from '../../adapters/aws/dynamo-store.ts';
import { dynaliteClient, ensureTable, startDynalite, type DynaliteServer } from '../../local/dynalite.ts';
import { ConflictError, LimitError, ValidationError } from '../../core/errors.ts';
import type { Allocation, Host, HostStatus, ServiceSpec, Task } from '../../core/types.ts';

const NOW = '2025-01-01T00:00:00.000Z';
const LATER = '2025-01-01T00:05:00.000Z';

let dir: string;
let server: DynaliteServer;
let client: DynamoDBClient;
let tables = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'skiff-dynamo-store-'));
  server = await startDynalite({ path: join(dir, 'main') });
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

/** A store on a table of its own, so that list results hold only what the test wrote. */
async function freshStore(c: DynamoDBClient = client): Promise<DynamoStore> {
  const tableName = `skiff-test-${++tables}`;
  await ensureTable(c, tableName);
  return new DynamoStore(c, { tableName });
}

function aSpec(namespace: string, name: string, over: { replicas?: number; image?: string; env?: Record<string, string> } = {}): ServiceSpec {
  return {
    kind: 'Service',
    metadata: { namespace, name, labels: { app: name } },
    spec: {
      replicas: over.replicas ?? 2,
      containers: [
        {
          name: 'main',
          image: over.image ?? 'skiff/busybox:latest',
          command: ['sh', '-c'],
          args: ['httpd -f'],
          env: over.env ?? { MODE: 'test', EMPTY: '' },
          ports: [{ containerPort: 80, name: 'http', protocol: 'tcp' }],
          resources: { cpu: 100, memory: 64 * 1024 * 1024 },
        },
      ],
      restartPolicy: 'always',
      placement: { strategy: 'spread', constraints: ['zone==a'] },
    },
  };
}

function aTask(namespace: string, service: string, slot: number, over: Partial<Task> = {}): Task {
  return {
    id: `${service}-${slot}-${over.incarnation ?? 1}`,
    namespace,
    service,
    slot,
    incarnation: 1,
    specVersion: 1,
    pod: { containers: aSpec(namespace, service).spec.containers, restartPolicy: 'always' },
    desired: 'running',
    createdAt: NOW,
    ...over,
  };
}

function anAllocation(task: Pick<Task, 'id' | 'namespace' | 'service' | 'slot'>): Allocation {
  return { taskId: task.id, namespace: task.namespace, service: task.service, slot: task.slot, resources: { cpu: 100, memory: 1024 }, hostPorts: [8080] };
}

const hostInput = (id: string, i = 1) => ({ id, address: `127.0.1.${i}`, capacity: { cpu: 2000, memory: 4 * 2 ** 30 }, labels: { zone: 'a' } });

/** Run all at once; return how many succeeded and that every failure was a ConflictError. */
async function race(attempts: readonly (() => Promise<unknown>)[]): Promise<{ won: number; conflicts: number }> {
  const results = await Promise.allSettled(attempts.map((a) => a()));
  const failures = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason);
  for (const f of failures) expect(f).toBeInstanceOf(ConflictError);
  return { won: results.length - failures.length, conflicts: failures.length };
}

describe('services', () => {
  it('creates a service at specVersion 1 and reads it back', async () => {
    const store = await freshStore();
    const spec = aSpec('team', 'web');
    const created = await store.putService(spec, NOW);
    expect(created).toEqual({ namespace: 'team', name: 'web', spec, specVersion: 1, createdAt: NOW, updatedAt: NOW, deleting: false });
    expect(await store.getService('team', 'web')).toEqual(created);
    expect(await store.getService('team', 'absent')).toBeUndefined();
  });

  it('replacing a spec bumps specVersion and keeps createdAt', async () => {
    const store = await freshStore();
    await store.putService(aSpec('team', 'web'), NOW);
    const replaced = await store.putService(aSpec('team', 'web', { replicas: 5 }), LATER);
    expect(replaced).toMatchObject({ specVersion: 2, createdAt: NOW, updatedAt: LATER });
    expect((await store.getService('team', 'web'))?.spec.spec.replicas).toBe(5);
  });

  it('re-applying an identical spec changes nothing', async () => {
    const store = await freshStore();
    const first = await store.putService(aSpec('team', 'web'), NOW);
    expect(await store.putService(aSpec('team', 'web'), LATER)).toEqual(first);
    expect(await store.putService(aSpec('team', 'web'), LATER, 1)).toEqual(first);
  });

  it('honours expectedVersion: 0 only creates, a number only replaces that version', async () => {
    const store = await freshStore();
    await expect(store.putService(aSpec('team', 'web'), NOW, 3)).rejects.toThrow(/does not exist/);
    await store.putService(aSpec('team', 'web'), NOW, 0);
    await expect(store.putService(aSpec('team', 'web', { replicas: 3 }), NOW, 0)).rejects.toBeInstanceOf(ConflictError);
    await expect(store.putService(aSpec('team', 'web', { replicas: 3 }), NOW, 2)).rejects.toThrow(/at specVersion 1, not 2/);
    expect((await store.putService(aSpec('team', 'web', { replicas: 3 }), NOW, 1)).specVersion).toBe(2);
  });

  it('lets exactly one of two concurrent creates with expectedVersion 0 win', async () => {
    const store = await freshStore();
    const { won } = await race([
      () => store.putService(aSpec('team', 'web', { replicas: 1 }), NOW, 0),
      () => store.putService(aSpec('team', 'web', { replicas: 2 }), NOW, 0),
    ]);
    expect(won).toBe(1);
    expect((await store.getService('team', 'web'))?.specVersion).toBe(1);
  });

  it('lists all services, or those of one namespace only', async () => {
    const store = await freshStore();
    await store.putService(aSpec('a', 'one'), NOW);
    await store.putService(aSpec('a', 'two'), NOW);
    await store.putService(aSpec('ab', 'three'), NOW);
    expect((await store.listServices()).map((s) => `${s.namespace}/${s.name}`)).toEqual(['a/one', 'a/two', 'ab/three']);
    expect((await store.listServices('a')).map((s) => s.name)).toEqual(['one', 'two']);
    expect(await store.listServices('none')).toEqual([]);
  });

  it('rejects key parts that would be ambiguous', async () => {
    const store = await freshStore();
    await expect(store.putService(aSpec('a#b', 'web'), NOW)).rejects.toBeInstanceOf(ValidationError);
    await expect(store.getService('a', '')).rejects.toThrow(/name: must be a non-empty string/);
  });

  it('marks a service deleting, refuses to replace it then, and is idempotent', async () => {
    const store = await freshStore();
    await store.putService(aSpec('team', 'web'), NOW);
    const marked = await store.markServiceDeleting('team', 'web', LATER);
    expect(marked).toMatchObject({ deleting: true, updatedAt: LATER, specVersion: 1 });
    expect(await store.markServiceDeleting('team', 'web', '2025-02-01T00:00:00.000Z')).toEqual(marked);
    await expect(store.putService(aSpec('team', 'web', { replicas: 9 }), LATER)).rejects.toThrow(/being deleted; wait and retry/);
    expect(await store.markServiceDeleting('team', 'absent', LATER)).toBeUndefined();
  });

  it('removes a deleting service only once its tasks are gone', async () => {
    const store = await freshStore();
    await store.putService(aSpec('team', 'web'), NOW);
    await store.putService(aSpec('team', 'live'), NOW);
    await expect(store.removeService('team', 'live')).rejects.toThrow(/service team\/live is not marked deleting/);
    await store.putTask(aTask('team', 'web', 0), undefined);
    await store.markServiceDeleting('team', 'web', LATER);
    await expect(store.removeService('team', 'web')).rejects.toThrow(/still has 1 task/);
    await store.deleteTask('team', 'web', 0, 'web-0-1');
    await store.removeService('team', 'web');
    expect(await store.getService('team', 'web')).toBeUndefined();
    await store.removeService('team', 'web'); // already gone: nothing to do
  });
});

describe('tasks', () => {
  it('stores tasks per slot and lists them in slot order with their pods', async () => {
    const store = await freshStore();
    await store.putService(aSpec('team', 'web'), NOW);
    for (const slot of [10, 2, 0]) await store.putTask(aTask('team', 'web', slot), undefined);
    const tasks = await store.listTasks('team', 'web');
    expect(tasks.map((t) => t.slot)).toEqual([0, 2, 10]);
    expect(tasks[0]).toEqual(aTask('team', 'web', 0));
    expect(await store.listTasks('team', 'other')).toEqual([]);
  });

  it('creates a slot only when free and replaces it only from the expected incarnation', async () => {
    const store = await freshStore();
    await store.putService(aSpec('team', 'web'), NOW);
    await store.putTask(aTask('team', 'web', 0), undefined);
    await expect(store.putTask(aTask('team', 'web', 0, { id: 'other' }), undefined)).rejects.toThrow(/task slot team\/web#0 already has a task/);
    await store.putTask(aTask('team', 'web', 0, { incarnation: 2, specVersion: 2 }), 1);
    await expect(store.putTask(aTask('team', 'web', 0, { incarnation: 3 }), 1)).rejects.toThrow(/no longer at incarnation 1/);
    await expect(store.putTask(aTask('team', 'web', 0, { incarnation: 2 }), 2)).rejects.toThrow(/must be greater than 2/);
    expect(await store.listTasks('team', 'web')).toEqual([aTask('team', 'web', 0, { incarnation: 2, specVersion: 2 })]);
  });

  it('lets exactly one of two concurrent schedulers create, and one replace, a slot', async () => {
    const store = await freshStore();
    await store.putService(aSpec('team', 'web'), NOW);
    const creates = await race([
      () => store.putTask(aTask('team', 'web', 0, { id: 'a' }), undefined),
      () => store.putTask(aTask('team', 'web', 0, { id: 'b' }), undefined),
    ]);
    expect(creates.won).toBe(1);
    const replaces = await race([
      () => store.putTask(aTask('team', 'web', 0, { id: 'c', incarnation: 2 }), 1),
      () => store.putTask(aTask('team', 'web', 0, { id: 'd', incarnation: 2 }), 1),
    ]);
    expect(replaces.won).toBe(1);
    const [task] = await store.listTasks('team', 'web');
    expect(['c', 'd']).toContain(task.id);
  });

  it('refuses to create a task of an absent or deleting service and leaves nothing behind', async () => {
    const store = await freshStore();
    await expect(store.putTask(aTask('team', 'ghost', 0), undefined)).rejects.toThrow(/service team\/ghost does not exist/);
    expect(await store.listTasks('team', 'ghost')).toEqual([]);
    await store.putService(aSpec('team', 'web'), NOW);
    await store.markServiceDeleting('team', 'web', NOW);
    await expect(store.putTask(aTask('team', 'web', 0), undefined)).rejects.toThrow(/is being deleted/);
    expect(await store.listTasks('team', 'web')).toEqual([]);
  });

  it('rejects slots outside the sortable range', async () => {
    const store = await freshStore();
    await expect(store.putTask(aTask('team', 'web', 1_000_000), undefined)).rejects.toBeInstanceOf(ValidationError);
    await expect(store.putTask(aTask('team', 'web', 1.5), undefined)).rejects.toThrow(/slot: must be an integer/);
  });

  it('claims a pending running task for one host only', async () => {
    const store = await freshStore();
    await store.putService(aSpec('team', 'web'), NOW);
    const unplaceable = { at: NOW, message: '0 of 2 hosts fit', rejected: { 'insufficient memory': 2 }, hosts: 2 };
    await store.putTask(aTask('team', 'web', 0, { unplaceable }), undefined);
    await expect(store.assignTask('team', 'web', 0, 'wrong-id', 'h1')).rejects.toBeInstanceOf(ConflictError);
    await store.assignTask('team', 'web', 0, 'web-0-1', 'h1');
    const [task] = await store.listTasks('team', 'web');
    expect(task.host).toBe('h1');
    expect(task.unplaceable).toBeUndefined();
    await expect(store.assignTask('team', 'web', 0, 'web-0-1', 'h2')).rejects.toThrow(/not an unassigned running task/);
  });

  it('does not assign a task whose desired state is shutdown, nor a missing task', async () => {
    const store = await freshStore();
    await store.putService(aSpec('team', 'web'), NOW);
    await store.putTask(aTask('team', 'web', 0, { desired: 'shutdown' }), undefined);
    await expect(store.assignTask('team', 'web', 0, 'web-0-1', 'h1')).rejects.toBeInstanceOf(ConflictError);
    await expect(store.assignTask('team', 'web', 7, 'web-7-1', 'h1')).rejects.toBeInstanceOf(ConflictError);
  });

  it('lets exactly one of two hosts claim a task assigned concurrently', async () => {
    const store = await freshStore();
    await store.putService(aSpec('team', 'web'), NOW);
    await store.putTask(aTask('team', 'web', 0), undefined);
    const { won } = await race(['h1', 'h2', 'h3'].map((h) => () => store.assignTask('team', 'web', 0, 'web-0-1', h)));
    expect(won).toBe(1);
    expect(['h1', 'h2', 'h3']).toContain((await store.listTasks('team', 'web'))[0].host);
  });

  it('unassigns only from the host the task is assigned to', async () => {
    const store = await freshStore();
    await store.putService(aSpec('team', 'web'), NOW);
    await store.putTask(aTask('team', 'web', 0), undefined);
    await store.assignTask('team', 'web', 0, 'web-0-1', 'h1');
    await expect(store.unassignTask('team', 'web', 0, 'web-0-1', 'h2')).rejects.toThrow(/not task web-0-1 assigned to host h2/);
    await store.unassignTask('team', 'web', 0, 'web-0-1', 'h1');
    expect((await store.listTasks('team', 'web'))[0].host).toBeUndefined();
    await expect(store.unassignTask('team', 'web', 0, 'web-0-1', 'h1')).rejects.toBeInstanceOf(ConflictError);
  });

  it('sets desired state and the unplaceable note only on the same task', async () => {
    const store = await freshStore();
    await store.putService(aSpec('team', 'web'), NOW);
    await store.putTask(aTask('team', 'web', 0), undefined);
    await store.setTaskDesired('team', 'web', 0, 'web-0-1', 'shutdown');
    const note = { at: LATER, message: 'no host fits', rejected: { 'constraint zone==a': 3 }, hosts: 3 };
    await store.setTaskUnplaceable('team', 'web', 0, 'web-0-1', note);
    expect((await store.listTasks('team', 'web'))[0]).toMatchObject({ desired: 'shutdown', unplaceable: note });
    await store.setTaskUnplaceable('team', 'web', 0, 'web-0-1', undefined);
    expect((await store.listTasks('team', 'web'))[0].unplaceable).toBeUndefined();
    await expect(store.setTaskDesired('team', 'web', 0, 'stale', 'running')).rejects.toThrow(/does not hold task stale/);
    await expect(store.setTaskUnplaceable('team', 'web', 0, 'stale', undefined)).rejects.toBeInstanceOf(ConflictError);
    await expect(store.setTaskDesired('team', 'web', 5, 'missing', 'running')).rejects.toBeInstanceOf(ConflictError);
  });

  it('deletes a task only if the slot still holds it', async () => {
    const store = await freshStore();
    await store.putService(aSpec('team', 'web'), NOW);
    await store.putTask(aTask('team', 'web', 0), undefined);
    await expect(store.deleteTask('team', 'web', 0, 'stale')).rejects.toBeInstanceOf(ConflictError);
    await store.deleteTask('team', 'web', 0, 'web-0-1');
    expect(await store.listTasks('team', 'web')).toEqual([]);
    await expect(store.deleteTask('team', 'web', 0, 'web-0-1')).rejects.toBeInstanceOf(ConflictError);
  });

  it('lists the tasks of every service', async () => {
    const store = await freshStore();
    for (const [ns, name] of [['a', 'one'], ['a', 'two'], ['b', 'three']]) {
      await store.putService(aSpec(ns, name), NOW);
      await store.putTask(aTask(ns, name, 0), undefined);
      await store.putTask(aTask(ns, name, 1), undefined);
    }
    await store.putService(aSpec('b', 'empty'), NOW);
    const all = await store.listAllTasks();
    expect(all.map((t) => `${t.namespace}/${t.service}#${t.slot}`).sort()).toEqual(['a/one#0', 'a/one#1', 'a/two#0', 'a/two#1', 'b/three#0', 'b/three#1']);
  });
});

describe('hosts', () => {
  it('registers a new host ready, at version 1, with no allocations', async () => {
    const store = await freshStore();
    const host = await store.registerHost(hostInput('h1'), NOW);
    expect(host).toEqual({ ...hostInput('h1'), state: 'ready', registeredAt: NOW, version: 1, allocations: {} });
    expect(await store.getHost('h1')).toEqual(host);
    expect(await store.getHost('h2')).toBeUndefined();
  });

  it('re-registering refreshes identity but keeps allocations, version, state and registeredAt', async () => {
    const store = await freshStore();
    const host = await store.registerHost(hostInput('h1'), NOW);
    const allocated = await store.updateAllocations(host, { t1: anAllocation({ id: 't1', namespace: 'a', service: 's', slot: 0 }) });
    await store.setHostState('h1', 'down', LATER);
    const down = (await store.getHost('h1'))!;
    const again = await store.registerHost({ ...hostInput('h1', 9), labels: { zone: 'b' } }, LATER);
    expect(again).toEqual({ ...down, address: '127.0.1.9', labels: { zone: 'b' } });
    expect(again.allocations).toEqual(allocated.allocations);
    expect(again.state).toBe('down');
  });

  it('re-registering with another capacity bumps the version so stale placements conflict', async () => {
    const store = await freshStore();
    const host = await store.registerHost(hostInput('h1'), NOW);
    const shrunk = await store.registerHost({ ...hostInput('h1'), capacity: { cpu: 500, memory: 2 ** 30 } }, LATER);
    expect(shrunk).toMatchObject({ version: 2, capacity: { cpu: 500, memory: 2 ** 30 } });
    await expect(store.updateAllocations(host, {})).rejects.toThrow(/host h1 is no longer at version 1/);
  });

  it('commits allocations only on the version it read, and returns the new host', async () => {
    const store = await freshStore();
    const host = await store.registerHost(hostInput('h1'), NOW);
    const allocations = { t1: anAllocation({ id: 't1', namespace: 'a', service: 's', slot: 0 }) };
    const next = await store.updateAllocations(host, allocations);
    expect(next).toEqual({ ...host, version: 2, allocations });
    expect(await store.getHost('h1')).toEqual(next);
    await expect(store.updateAllocations(host, {})).rejects.toBeInstanceOf(ConflictError);
    await expect(store.updateAllocations({ ...host, id: 'absent' }, {})).rejects.toBeInstanceOf(ConflictError);
  });

  it('lets exactly one of 20 concurrent allocation commits on one host version win', async () => {
    const store = await freshStore();
    const host = await store.registerHost(hostInput('h1'), NOW);
    const commits = Array.from({ length: 20 }, (_, i) => () =>
      store.updateAllocations(host, { [`t${i}`]: anAllocation({ id: `t${i}`, namespace: 'a', service: 's', slot: i }) }),
    );
    const { won, conflicts } = await race(commits);
    expect({ won, conflicts }).toEqual({ won: 1, conflicts: 19 });
    const final = (await store.getHost('h1'))!;
    expect(final.version).toBe(2);
    expect(Object.keys(final.allocations)).toHaveLength(1);
  });

  it('changes host state with a version bump, and treats the same state as a no-op', async () => {
    const store = await freshStore();
    const host = await store.registerHost(hostInput('h1'), NOW);
    await store.setHostState('h1', 'draining', LATER);
    expect(await store.getHost('h1')).toMatchObject({ state: 'draining', version: 2, stateSince: LATER });
    await store.setHostState('h1', 'draining', LATER);
    expect((await store.getHost('h1'))?.version).toBe(2);
    await expect(store.updateAllocations(host, {})).rejects.toBeInstanceOf(ConflictError);
    await expect(store.setHostState('absent', 'down', LATER)).rejects.toThrow(/host absent does not exist/);
  });

  it('lists every host, sorted, across batch-read chunks', async () => {
    const store = await freshStore();
    const ids = Array.from({ length: 130 }, (_, i) => `h${String(i).padStart(3, '0')}`);
    for (let i = 0; i < ids.length; i += 26) {
      await Promise.all(ids.slice(i, i + 26).map((id) => store.registerHost(hostInput(id), NOW)));
    }
    await store.putHostStatus(aStatus('h000'));
    await store.setPublished('h000', 0, { generation: 1, hash: 'x' });
    const hosts = await store.listHosts();
    expect(hosts.map((h) => h.id)).toEqual(ids);
    expect(hosts[0]).toEqual({ ...hostInput('h000'), state: 'ready', registeredAt: NOW, version: 1, allocations: {} });
  });
});

function aStatus(hostId: string, over: Partial<HostStatus> = {}): HostStatus {
  return {
    hostId,
    heartbeatAt: NOW,
    generation: 3,
    agentVersion: '0.1.0',
    tasks: [
      {
        taskId: 't1',
        namespace: 'team',
        service: 'web',
        state: 'running',
        ports: [{ container: 'main', containerPort: 80, protocol: 'tcp', hostIp: '127.0.1.1', hostPort: 32768 }],
        containers: [{ name: 'main', id: 'abc', state: 'running' }],
        since: NOW,
      },
      { taskId: 't2', namespace: 'team', service: 'web', state: 'exited', exitCode: 1, message: 'boom', ports: [], containers: [], since: NOW },
    ],
    ...over,
  };
}

describe('host status and published documents', () => {
  it('stores, reads and lists host statuses; a new report replaces the old', async () => {
    const store = await freshStore();
    await store.registerHost(hostInput('h1'), NOW);
    await store.putHostStatus(aStatus('h1'));
    await store.putHostStatus(aStatus('h2'));
    await store.putHostStatus(aStatus('h1', { heartbeatAt: LATER, generation: 4 }));
    expect(await store.getHostStatus('h1')).toEqual(aStatus('h1', { heartbeatAt: LATER, generation: 4 }));
    expect(await store.getHostStatus('h3')).toBeUndefined();
    expect((await store.listHostStatuses()).map((s) => [s.hostId, s.generation])).toEqual([['h1', 4], ['h2', 3]]);
    // The status lives beside the host item, not in it.
    expect((await store.getHost('h1'))?.version).toBe(1);
  });

  it('keeps an agent\'s word that its Docker does not answer, and the health checkpoint\'s hold', async () => {
    const store = await freshStore();
    const runtime = { state: 'unresponsive' as const, since: NOW, message: 'no Docker call answered for more than 30s' };
    await store.putHostStatus(aStatus('h1', { runtime }));
    expect((await store.getHostStatus('h1'))?.runtime).toEqual(runtime);
    await store.putHostStatus(aStatus('h1'));
    expect((await store.getHostStatus('h1'))?.runtime).toBeUndefined();
    await store.putHealthCheckpoint({ lastRunAt: 5, resumedAt: 1, heldSince: 3 });
    expect(await store.getHealthCheckpoint()).toEqual({ lastRunAt: 5, resumedAt: 1, heldSince: 3 });
    await store.putHealthCheckpoint({ lastRunAt: 6, resumedAt: 1 });
    expect(await store.getHealthCheckpoint()).toEqual({ lastRunAt: 6, resumedAt: 1 });
  });

  it('takes a later heartbeat as the status\'s time, keeps the report, and ignores an older one', async () => {
    const store = await freshStore();
    await store.putHostStatus(aStatus('h1'));
    await store.putHostStatus(aStatus('h2'));
    await store.putHeartbeat('h1', LATER);
    expect(await store.getHostStatus('h1')).toEqual(aStatus('h1', { heartbeatAt: LATER }));
    expect((await store.listHostStatuses()).map((s) => [s.hostId, s.heartbeatAt, s.tasks.length])).toEqual([
      ['h1', LATER, 2],
      ['h2', NOW, 2],
    ]);
    // A full report newer than the heartbeat wins again.
    const latest = new Date(Date.parse(LATER) + 1000).toISOString();
    await store.putHostStatus(aStatus('h1', { heartbeatAt: latest, generation: 5 }));
    expect(await store.getHostStatus('h1')).toEqual(aStatus('h1', { heartbeatAt: latest, generation: 5 }));
    // A heartbeat alone is no status: a host that never reported is still absent.
    await store.putHeartbeat('h9', LATER);
    expect(await store.getHostStatus('h9')).toBeUndefined();
    expect((await store.listHostStatuses()).map((s) => s.hostId)).toEqual(['h1', 'h2']);
    await expect(store.putHeartbeat('h1', 'yesterday')).rejects.toThrow(/heartbeatAt: must be an ISO 8601 time, got "yesterday"/);
  });

  it('forgets a down host that holds nothing: record, status, heartbeat and publication record; refuses anything else', async () => {
    const store = await freshStore();
    const ready = await store.registerHost(hostInput('h1'), NOW);
    await expect(store.forgetHost(ready)).rejects.toThrow(/host h1 is ready with 0 allocation\(s\): only a down host holding nothing is forgotten/);
    await store.setHostState('h1', 'down', LATER);
    const down = (await store.getHost('h1'))!;
    const holding = { ...down, allocations: { t1: anAllocation({ id: 't1', namespace: 'a', service: 's', slot: 0 }) } };
    await expect(store.forgetHost(holding)).rejects.toThrow(/host h1 is down with 1 allocation\(s\)/);
    // A copy read before the host changed is refused, and loses nothing but what hangs off the host.
    await expect(store.forgetHost({ ...down, version: down.version - 1 })).rejects.toThrow(/host h1 changed since version 1; not forgotten/);
    expect(await store.getHost('h1')).toBeDefined();

    await store.putHostStatus(aStatus('h1'));
    await store.putHeartbeat('h1', LATER);
    await store.setPublished('h1', 0, { generation: 1, hash: 'x' });
    await store.forgetHost(down);
    expect(await store.getHost('h1')).toBeUndefined();
    expect(await store.getHostStatus('h1')).toBeUndefined();
    expect(await store.getPublished('h1')).toBeUndefined();
    expect(await store.listHosts()).toEqual([]);
    expect(await store.listHostStatuses()).toEqual([]);
    // Again: already gone, nothing to do.
    await store.forgetHost(down);
  });

  it('records a publication only over the generation it expects', async () => {
    const store = await freshStore();
    expect(await store.getPublished('h1')).toBeUndefined();
    await store.setPublished('h1', 0, { generation: 1, hash: 'aaa' });
    await expect(store.setPublished('h1', 0, { generation: 1, hash: 'bbb' })).rejects.toThrow(/no longer at generation 0/);
    await store.setPublished('h1', 1, { generation: 2, hash: 'ccc' });
    await expect(store.setPublished('h1', 1, { generation: 2, hash: 'ddd' })).rejects.toBeInstanceOf(ConflictError);
    expect(await store.getPublished('h1')).toEqual({ generation: 2, hash: 'ccc' });
    const { won } = await race([
      () => store.setPublished('h1', 2, { generation: 3, hash: 'x' }),
      () => store.setPublished('h1', 2, { generation: 3, hash: 'y' }),
    ]);
    expect(won).toBe(1);
  });
});

describe('host items keyed by instance ARN (hostArnPrefix)', () => {
  const ARN_PREFIX = 'arn:aws:ec2:eu-west-1:123456789012:instance/';

  async function prefixedStore(c: DynamoDBClient = client): Promise<{ store: DynamoStore; tableName: string }> {
    const tableName = `skiff-test-${++tables}`;
    await ensureTable(c, tableName);
    return { store: new DynamoStore(c, { tableName, hostArnPrefix: ARN_PREFIX }), tableName };
  }

  /** Every item's keys and type, read straight from the table. */
  async function keysIn(tableName: string): Promise<string[]> {
    const doc = DynamoDBDocumentClient.from(client);
    const out = await doc.send(new ScanCommand({ TableName: tableName, ProjectionExpression: 'pk, sk', ConsistentRead: true }));
    return (out.Items ?? []).map((i) => `${String(i.pk)} ${String(i.sk)}`).sort();
  }

  it('puts the host and status items under HOST#<instance ARN>, the publication record under HOST#<id>', async () => {
    const { store, tableName } = await prefixedStore();
    await store.registerHost(hostInput('i-0abc'), NOW);
    await store.putHostStatus(aStatus('i-0abc'));
    await store.setPublished('i-0abc', 0, { generation: 1, hash: 'h' });
    expect(await keysIn(tableName)).toEqual([
      `HOST#${ARN_PREFIX}i-0abc #HOST`,
      `HOST#${ARN_PREFIX}i-0abc STATUS`,
      'HOST#i-0abc PUBLISHED',
    ]);
    expect(hostPartitionKey(ARN_PREFIX, 'i-0abc')).toBe(`HOST#${ARN_PREFIX}i-0abc`);
    // Without the prefix the same table holds no such host: the keys really differ.
    expect(await new DynamoStore(client, { tableName }).getHost('i-0abc')).toBeUndefined();
  });

  it('reads, lists and updates hosts by their plain ids, exactly as without a prefix', async () => {
    const { store } = await prefixedStore();
    const host = await store.registerHost(hostInput('i-0abc'), NOW);
    await store.registerHost(hostInput('i-0bcd', 2), NOW);
    expect(host.id).toBe('i-0abc');
    expect(await store.getHost('i-0abc')).toEqual(host);
    const allocations = { t1: anAllocation({ id: 't1', namespace: 'a', service: 's', slot: 0 }) };
    const next = await store.updateAllocations(host, allocations);
    await expect(store.updateAllocations(host, {})).rejects.toThrow(/host i-0abc is no longer at version 1/);
    await store.setHostState('i-0bcd', 'down', LATER);
    expect((await store.listHosts()).map((h) => [h.id, h.state, h.version])).toEqual([
      ['i-0abc', 'ready', next.version],
      ['i-0bcd', 'down', 2],
    ]);
    await store.putHostStatus(aStatus('i-0abc'));
    await store.putHostStatus(aStatus('i-0bcd', { generation: 7 }));
    expect(await store.getHostStatus('i-0bcd')).toEqual(aStatus('i-0bcd', { generation: 7 }));
    expect((await store.listHostStatuses()).map((s) => s.hostId)).toEqual(['i-0abc', 'i-0bcd']);
    await store.setPublished('i-0abc', 0, { generation: 1, hash: 'h' });
    expect(await store.getPublished('i-0abc')).toEqual({ generation: 1, hash: 'h' });
  });

  it('lets an agent register and report under the host role’s policy: GetItem, PutItem, UpdateItem on its own partition only', async () => {
    const { tableName } = await prefixedStore();
    // IAM at the SDK boundary, as the host role's OwnHostItems statement reads: only these three
    // actions, on the table, with every leading key equal to HOST#${ec2:SourceInstanceARN}.
    const sourceArn = `${ARN_PREFIX}i-0abc`;
    const asHost = dynaliteClient(server.endpoint);
    const seen: string[] = [];
    try {
      asHost.middlewareStack.add(
        (next, context) => async (args) => {
          const input = args.input as { TableName?: string; Key?: Record<string, unknown>; Item?: Record<string, unknown> };
          const pk = (input.Key ?? input.Item)?.pk as string | { S?: string } | undefined;
          const leadingKey = typeof pk === 'string' ? pk : pk?.S;
          const action = String(context.commandName).replace(/Command$/, '');
          seen.push(`${action} ${leadingKey}`);
          const allowed = ['GetItem', 'PutItem', 'UpdateItem'].includes(action) && input.TableName === tableName && leadingKey === `HOST#${sourceArn}`;
          if (!allowed) {
            throw Object.assign(new Error(`not authorized to perform dynamodb:${action}`), { name: 'AccessDeniedException', $metadata: {} });
          }
          return next(args);
        },
        { step: 'build', name: 'hostRolePolicy' },
      );
      const agentStore = new DynamoStore(asHost, { tableName, hostArnPrefix: ARN_PREFIX });
      await agentStore.registerHost(hostInput('i-0abc'), NOW);
      await agentStore.registerHost({ ...hostInput('i-0abc', 3), capacity: { cpu: 4000, memory: 2 ** 33 } }, LATER);
      await agentStore.putHostStatus(aStatus('i-0abc'));
      await agentStore.putHeartbeat('i-0abc', LATER);
      expect(new Set(seen)).toEqual(new Set([`GetItem HOST#${sourceArn}`, `PutItem HOST#${sourceArn}`, `UpdateItem HOST#${sourceArn}`]));

      // Another host's items and the scheduler's publication record stay out of reach.
      await expect(agentStore.putHostStatus(aStatus('i-0other'))).rejects.toThrow(/PutItem on status of host i-0other failed \(AccessDeniedException\)/);
      await expect(agentStore.putHeartbeat('i-0other', LATER)).rejects.toThrow(/PutItem on heartbeat of host i-0other failed \(AccessDeniedException\)/);
      await expect(agentStore.getPublished('i-0abc')).rejects.toThrow(/AccessDeniedException/);
      await expect(agentStore.listHosts()).rejects.toThrow(/AccessDeniedException/);
    } finally {
      asHost.destroy();
    }
  });

  it('refuses a prefix with "#" and unknown options', () => {
    expect(() => new DynamoStore(client, { tableName: 't', hostArnPrefix: 'arn#' })).toThrow(/hostArnPrefix must be a string without "#"/);
    expect(() => new DynamoStore(client, { tableName: 't', hostPrefix: 'x' } as never)).toThrow(/unknown option\(s\) hostPrefix/);
  });
});

describe('limits and paging', () => {
  const bigEnv = (bytes: number) => ({ BLOB: 'x'.repeat(bytes) });

  it('pages through more than 1 MB of tasks and services', async () => {
    const store = await freshStore();
    // 30 items of 50 KB: every Query needs at least two 1 MB pages.
    await store.putService(aSpec('big', 'web'), NOW);
    const pod = { containers: aSpec('big', 'web', { env: bigEnv(50_000) }).spec.containers, restartPolicy: 'always' as const };
    for (let slot = 0; slot < 30; slot += 10) {
      await Promise.all(Array.from({ length: 10 }, (_, i) => store.putTask(aTask('big', 'web', slot + i, { pod }), undefined)));
    }
    for (let i = 0; i < 30; i += 10) {
      await Promise.all(Array.from({ length: 10 }, (_, j) => store.putService(aSpec('big', `svc${String(i + j).padStart(2, '0')}`, { env: bigEnv(50_000) }), NOW)));
    }
    const tasks = await store.listTasks('big', 'web');
    expect(tasks.map((t) => t.slot)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(tasks[29].pod.containers[0].env.BLOB).toHaveLength(50_000);
    expect(await store.listAllTasks()).toHaveLength(30);
    expect(await store.listServices('big')).toHaveLength(31);
  });

  it('rejects an item over 400 KB before sending it, naming the item and its size', async () => {
    const store = await freshStore();
    await store.putService(aSpec('team', 'web'), NOW);
    const pod = { containers: aSpec('team', 'web', { env: bigEnv(410_000) }).spec.containers, restartPolicy: 'always' as const };
    const err = await store.putTask(aTask('team', 'web', 0, { pod }), undefined).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LimitError);
    expect((err as Error).message).toMatch(/task slot team\/web#0 \(task web-0-1\) would be 4\d{5} bytes/);
    expect(await store.listTasks('team', 'web')).toEqual([]);
    await expect(store.putService(aSpec('team', 'huge', { env: bigEnv(410_000) }), NOW)).rejects.toThrow(/service team\/huge would be/);
    const host = await store.registerHost(hostInput('h1'), NOW);
    const many = Object.fromEntries(
      Array.from({ length: 5000 }, (_, i) => [`task-${i}-${'p'.repeat(40)}`, anAllocation({ id: `task-${i}-${'p'.repeat(40)}`, namespace: 'team', service: 'web', slot: i })]),
    );
    await expect(store.updateAllocations(host, many)).rejects.toThrow(/host h1 allocations \(5000 tasks\) would be \d+ bytes/);
    expect((await store.getHost('h1'))?.version).toBe(1);
  });

  it('turns DynamoDB throttling into a retryable StoreUnavailableError', async () => {
    const throttled = dynaliteClient(server.endpoint);
    try {
      // Answer every request with the SDK's own throttling exception, as DynamoDB would under load.
      throttled.middlewareStack.add(
        () => async () => {
          throw new ProvisionedThroughputExceededException({ message: 'Rate exceeded', $metadata: {} });
        },
        { step: 'initialize', name: 'throttleEverything' },
      );
      const store = new DynamoStore(throttled, { tableName: 'skiff-unused' });
      const err = await store.getHost('h1').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect(err).toMatchObject({ retryable: true, status: 503, message: 'DynamoDB throttled GetItem on host h1; retry later' });
      expect((err as Error).cause).toBeInstanceOf(ProvisionedThroughputExceededException);
    } finally {
      throttled.destroy();
    }
  });

  it('reports a missing table by name', async () => {
    const store = new DynamoStore(client, { tableName: 'skiff-missing' });
    await expect(store.getHost('h1')).rejects.toThrow(/table skiff-missing not found/);
  });
});

describe('dynalite', () => {
  it('keeps the data across a restart on the same folder', async () => {
    const folder = join(dir, 'restart');
    let first: DynaliteServer | undefined = await startDynalite({ path: folder });
    let c = dynaliteClient(first.endpoint);
    try {
      const store = await freshStore(c);
      await store.putService(aSpec('team', 'web'), NOW);
      await store.putTask(aTask('team', 'web', 0), undefined);
      await store.updateAllocations(await store.registerHost(hostInput('h1'), NOW), { t1: anAllocation({ id: 't1', namespace: 'team', service: 'web', slot: 0 }) });
      c.destroy();
      await first.close();
      first = undefined;

      const second = await startDynalite({ path: folder });
      c = dynaliteClient(second.endpoint);
      try {
        const again = await freshStoreNamed(c, `skiff-test-${tables}`);
        expect((await again.getService('team', 'web'))?.specVersion).toBe(1);
        expect(await again.listTasks('team', 'web')).toEqual([aTask('team', 'web', 0)]);
        expect((await again.getHost('h1'))?.version).toBe(2);
      } finally {
        c.destroy();
        await second.close();
      }
    } finally {
      c.destroy();
      await first?.close();
    }
  });

  it('refuses a second server on a folder that is in use', async () => {
    await expect(startDynalite({ path: join(dir, 'main') })).rejects.toThrow(/in use by process \d+ \(this one\)/);
  });
});

async function freshStoreNamed(c: DynamoDBClient, tableName: string): Promise<DynamoStore> {
  await ensureTable(c, tableName); // must find the table, not create an empty one
  return new DynamoStore(c, { tableName });
}

describe('events, health checkpoint and task hand-over', () => {
  const ev = (at: string, id: string, over: Record<string, string> = {}) => ({ id, at, type: 'task.started', message: `m ${id}`, ...over });

  it('keeps events in time order, newest last, once per id, filtered and limited', async () => {
    const store = await freshStore();
    await store.putEvents([ev('2025-01-01T00:00:02.000Z', 'b', { service: 'web', namespace: 'default', host: 'h1' }), ev('2025-01-01T00:00:01.000Z', 'a', { service: 'db', host: 'h2' })]);
    await store.putEvents([ev('2025-01-01T00:00:02.000Z', 'b', { service: 'web', namespace: 'default', host: 'h1' }), ev('2025-01-01T00:00:03.000Z', 'c', { service: 'web', host: 'h2' })]);
    expect((await store.listEvents({})).map((e) => e.id)).toEqual(['a', 'b', 'c']);
    expect(await store.listEvents({ service: 'web', host: 'h1' })).toEqual([{ id: 'b', at: '2025-01-01T00:00:02.000Z', type: 'task.started', message: 'm b', service: 'web', namespace: 'default', host: 'h1' }]);
    expect((await store.listEvents({ limit: 2 })).map((e) => e.id)).toEqual(['b', 'c']);
    expect(await store.pruneEvents('2025-01-01T00:00:02.500Z', 100)).toBe(2);
    expect((await store.listEvents({})).map((e) => e.id)).toEqual(['c']);
  });

  it('writes more events than one batch holds', async () => {
    const store = await freshStore();
    const many = Array.from({ length: 60 }, (_, i) => ev(`2025-01-01T00:00:${String(i).padStart(2, '0')}.000Z`, `e${i}`));
    await store.putEvents(many);
    expect(await store.listEvents({ limit: 1000 })).toHaveLength(60);
  });

  it('stores the health checkpoint', async () => {
    const store = await freshStore();
    expect(await store.getHealthCheckpoint()).toBeUndefined();
    await store.putHealthCheckpoint({ lastRunAt: 5, resumedAt: 3 });
    expect(await store.getHealthCheckpoint()).toEqual({ lastRunAt: 5, resumedAt: 3 });
  });

  it("round-trips a task's previous incarnation and releases it only for the same task", async () => {
    const store = await freshStore();
    await store.putService(aSpec('default', 'web'), NOW);
    const previous = { id: 'web-1-old00', host: 'h1', specVersion: 1, pod: { containers: [], restartPolicy: 'always' as const } };
    const t: Task = aTask('default', 'web', 1, { id: 'web-1-new00', incarnation: 2, previous, avoidHost: 'h9', reason: 'host h1 is draining' });
    await store.putTask(aTask('default', 'web', 1, { id: 'web-1-old00' }), undefined);
    await store.putTask(t, 1);
    expect((await store.listTasks('default', 'web'))[0]).toMatchObject({ previous, avoidHost: 'h9', reason: 'host h1 is draining' });
    await expect(store.releasePrevious('default', 'web', 1, 'web-1-other')).rejects.toBeInstanceOf(ConflictError);
    await store.releasePrevious('default', 'web', 1, 'web-1-new00');
    expect((await store.listTasks('default', 'web'))[0].previous).toBeUndefined();
  });
});
