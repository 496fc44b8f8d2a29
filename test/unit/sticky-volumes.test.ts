import { describe, expect, it } from 'vitest';
import { schedule, type PlacementRequest } from '../../core/scheduler.ts';
import { parseServiceSpec } from '../../core/spec.ts';
import { stickyHost, volumeKeyString } from '../../core/volumes.ts';
import { aHost, MiB } from '../builders.ts';
import { passHarness, T0, type PassHarness } from '../pass-harness.ts';
import { createApi } from '../../app/api.ts';

function req(id: string, over: Partial<PlacementRequest> = {}): PlacementRequest {
  return {
    taskId: id,
    namespace: 'default',
    service: 'db',
    slot: 1,
    resources: { cpu: 100, memory: 32 * MiB },
    hostPorts: [],
    constraints: [],
    strategy: 'spread',
    ...over,
  };
}

const db = (replicas: number, env: Record<string, string> = {}) =>
  parseServiceSpec({
    kind: 'Service',
    metadata: { name: 'db' },
    spec: {
      replicas,
      volumes: [{ name: 'data', persistent: {} }],
      containers: [
        { name: 'app', image: 'skiff/busybox', env, resources: { cpu: '100m', memory: '32Mi' }, volumeMounts: [{ name: 'data', mountPath: '/data' }] },
      ],
    },
  });

async function hostsOfSlots(h: PassHarness): Promise<Map<number, string | undefined>> {
  return new Map((await h.inner.listTasks('default', 'db')).map((t) => [t.slot, t.host]));
}

describe('sticky placement of persistent volumes', () => {
  it("places a pinned task only on its volume's host, and explains the wait when that host is down", () => {
    const hosts = [aHost({ id: 'h1' }), aHost({ id: 'h2', state: 'down' }), aHost({ id: 'h3' })];
    const pin = { host: 'h2', volume: 'default-db-data-1' };
    const r = schedule(hosts, [req('a', { pin }), req('b', { pin: { ...pin, host: 'h3' } })], { seed: 's' });
    expect(r.placements.map((p) => [p.taskId, p.hostId])).toEqual([['b', 'h3']]);
    expect(r.failures[0].reason.message).toBe(
      'its volume default-db-data-1 lives on host h2, which is down; the replica waits for it to be ready again (0 of 3 hosts fit: 2 not the host of its volume, 1 host not ready)',
    );
    expect(schedule([aHost({ id: 'h1' })], [req('a', { pin })], { seed: 's' }).failures[0].reason.message).toBe(
      'its volume default-db-data-1 lives on host h2, which is gone; the replica waits for it (0 of 1 host fit: 1 not the host of its volume)',
    );
  });

  it('pins a slot to the host of its first recorded volume', () => {
    const records = new Map([
      [volumeKeyString({ namespace: 'n', service: 's', volume: 'a', slot: 1 }), { id: 'n-s-a-1', host: 'h1' }],
      [volumeKeyString({ namespace: 'n', service: 's', volume: 'b', slot: 1 }), { id: 'n-s-b-1', host: 'h2' }],
    ]);
    expect(stickyHost([{ namespace: 'n', service: 's', volume: 'a', slot: 2 }], records)).toEqual({});
    expect(stickyHost([{ namespace: 'n', service: 's', volume: 'a', slot: 1 }], records)).toEqual({ host: 'h1', volume: 'n-s-a-1' });
    expect(
      stickyHost(
        [
          { namespace: 'n', service: 's', volume: 'a', slot: 1 },
          { namespace: 'n', service: 's', volume: 'b', slot: 1 },
        ],
        records,
      ).conflict,
    ).toBe('volumes n-s-a-1 and n-s-b-1 live on different hosts (h1, h2)');
  });

  it("records each slot's volume on its first host and places every later incarnation back there", async () => {
    const h = await passHarness([
      { id: 'h1', cpu: 1000 },
      { id: 'h2', cpu: 1000 },
      { id: 'h3', cpu: 1000 },
    ]);
    await h.inner.putService(db(2), T0, 0);
    await h.pass('a');
    const first = await hostsOfSlots(h);
    const volumes = await h.inner.listVolumes();
    expect(volumes.map((v) => [v.id, v.host])).toEqual([
      ['default-db-data-1', first.get(1)],
      ['default-db-data-2', first.get(2)],
    ]);

    // A rollout: every slot gets a new task, each back on its volume's host whatever the seed.
    await h.inner.putService(db(2, { V: '2' }), T0);
    for (const seed of ['b', 'c', 'd']) await h.pass(seed);
    const tasks = await h.inner.listTasks('default', 'db');
    expect(tasks.every((t) => t.specVersion === 2)).toBe(true);
    expect(await hostsOfSlots(h)).toEqual(first);

    // Its host down: slot 1 waits for it, saying why, and does not move.
    const h1 = first.get(1)!;
    await h.inner.setHostState(h1, 'down', T0);
    for (const seed of ['e', 'f']) await h.pass(seed);
    const waiting = (await h.inner.listTasks('default', 'db')).find((t) => t.slot === 1)!;
    expect(waiting.host).toBeUndefined();
    expect(waiting.unplaceable?.message).toContain(`its volume default-db-data-1 lives on host ${h1}, which is down`);
    expect((await h.inner.listVolumes()).find((v) => v.slot === 1)?.host).toBe(h1);

    // Back: the slot returns to it.
    await h.inner.setHostState(h1, 'ready', T0);
    await h.pass('g');
    expect((await hostsOfSlots(h)).get(1)).toBe(h1);
  });

  it('does not pin when volumes are shared (EFS): a replica goes wherever it fits', async () => {
    const h = await passHarness([
      { id: 'h1', cpu: 1000 },
      { id: 'h2', cpu: 1000 },
    ]);
    await h.inner.putService(db(1), T0, 0);
    await h.pass('a', { volumes: 'shared' });
    const host = (await hostsOfSlots(h)).get(1)!;
    await h.inner.setHostState(host, 'down', T0);
    await h.pass('b', { volumes: 'shared' });
    await h.pass('c', { volumes: 'shared' });
    const moved = (await hostsOfSlots(h)).get(1);
    expect(moved).toBeDefined();
    expect(moved).not.toBe(host);
  });

  it('lists the volumes through the API with name, namespace, service and host, filtered by namespace and service', async () => {
    const h = await passHarness([{ id: 'h1', cpu: 1000 }]);
    await h.inner.putService(db(2), T0, 0);
    await h.pass('a');
    const api = createApi({ store: h.store, now: () => new Date(h.now()), kickScheduler: async () => {} });
    const got = await api({ method: 'GET', path: '/v1/volumes', query: {}, headers: {} });
    expect(got.status).toBe(200);
    expect(got.body).toEqual([
      { name: 'default-db-data-1', namespace: 'default', service: 'db', volume: 'data', slot: 1, host: 'h1', createdAt: expect.any(String), state: 'bound' },
      { name: 'default-db-data-2', namespace: 'default', service: 'db', volume: 'data', slot: 2, host: 'h1', createdAt: expect.any(String), state: 'bound' },
    ]);
    expect((await api({ method: 'GET', path: '/v1/volumes', query: { service: 'web' }, headers: {} })).body).toEqual([]);
    expect((await api({ method: 'GET', path: '/v1/volumes', query: { namespace: 'other' }, headers: {} })).body).toEqual([]);
  });
});
