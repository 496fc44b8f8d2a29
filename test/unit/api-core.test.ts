/**
 * The API core (app/api.ts) on the in-memory store, called directly as the handlers call it: no
 * server, no dynalite. With the scheduler pass on the same store, a service goes from apply to
 * placed to deleted in milliseconds.
 */
import { describe, expect, it } from 'vitest';
import { createApi, type ApiResponse } from '../../app/api.ts';
import type { Service } from '../../core/types.ts';
import { passHarness, type PassHarness } from '../pass-harness.ts';

const spec = (replicas: number) =>
  JSON.stringify({
    kind: 'Service',
    metadata: { name: 'web' },
    spec: { replicas, containers: [{ name: 'app', image: 'skiff/busybox:latest', resources: { cpu: '100m', memory: '32Mi' } }] },
  });

async function api(h: PassHarness) {
  let kicks = 0;
  const core = createApi({ store: h.store, now: () => new Date(h.now()), kickScheduler: async () => void kicks++ });
  const call = (method: string, path: string, body?: string): Promise<ApiResponse> =>
    core({ method, path, query: {}, headers: { 'content-type': 'application/json' }, ...(body !== undefined ? { body } : {}) });
  return { call, kicks: () => kicks };
}

describe('the API core over the in-memory store', () => {
  it('applies a service, and the pass places it; a scale-down removes the highest slots', async () => {
    const h = await passHarness([
      { id: 'h1', cpu: 1000 },
      { id: 'h2', cpu: 1000 },
    ]);
    const a = await api(h);
    expect((await a.call('POST', '/v1/services', spec(3))).status).toBe(201);
    expect(a.kicks()).toBe(1);
    await h.pass();
    const got = await a.call('GET', '/v1/namespaces/default/services/web');
    expect(got.status).toBe(200);
    expect((got.body as { tasks: { host?: string }[] }).tasks.every((t) => t.host)).toBe(true);

    expect((await a.call('POST', '/v1/services', spec(1))).body).toMatchObject({ result: 'updated' });
    await h.pass();
    expect((await h.inner.listAllTasks()).map((t) => t.slot)).toEqual([1]);
  });

  it('answers unchanged, without a write or a pass, to the same spec again', async () => {
    const h = await passHarness([]);
    const a = await api(h);
    await a.call('POST', '/v1/services', spec(2));
    const before = h.faults.calls.filter((c) => c.method === 'putService').length;
    expect((await a.call('POST', '/v1/services', spec(2))).body).toMatchObject({ result: 'unchanged' });
    expect(h.faults.calls.filter((c) => c.method === 'putService').length).toBe(before);
    expect(a.kicks()).toBe(1);
  });

  it('answers 503 when the store is unavailable, and stores nothing', async () => {
    const h = await passHarness([]);
    const a = await api(h);
    h.faults.failNext('putService');
    const res = await a.call('POST', '/v1/services', spec(2));
    expect(res.status).toBe(503);
    expect(await h.inner.listServices()).toEqual([]);
    expect(a.kicks()).toBe(0);
  });

  it('lets one of two racing creates win and answers 409 to the other', async () => {
    const h = await passHarness([]);
    const a = await api(h);
    // The rival's create lands between this apply's read and its write.
    h.faults.beforeNext('putService', async (s) => void (await h.inner.putService(s, h.now(), 0)));
    const res = await a.call('POST', '/v1/services', spec(2));
    expect(res.status).toBe(409);
    expect((await h.inner.listServices()).map((s: Service) => s.specVersion)).toEqual([1]);
  });

  it('deletes a service: 202 at once, 404 once the passes removed its tasks and item', async () => {
    const h = await passHarness([{ id: 'h1', cpu: 1000 }]);
    const a = await api(h);
    await a.call('POST', '/v1/services', spec(2));
    await h.pass();
    expect((await a.call('DELETE', '/v1/namespaces/default/services/web')).status).toBe(202);
    await h.pass(); // stops the tasks: allocations dropped, the document emptied
    expect(h.channel.docs.get('h1')!.tasks).toEqual([]);
    await h.pass(); // nothing holds it any more: the item goes
    expect((await a.call('GET', '/v1/namespaces/default/services/web')).status).toBe(404);
  });
});

describe('a service with a request target, described', () => {
  const shop = JSON.stringify({
    kind: 'Service',
    metadata: { name: 'shop' },
    spec: {
      replicas: 1,
      containers: [{ name: 'web', image: 'skiff/busybox:latest', ports: [{ containerPort: 8080 }] }],
      ingress: { host: 'shop.example.test', port: 8080 },
      autoscaling: { maxReplicas: 4, targetRequestsPerReplica: 10 },
    },
  });

  it("shows the load balancer's requests per replica, and not measured when the count fails", async () => {
    const h = await passHarness([{ id: 'h1', cpu: 1000 }]);
    let failing = false;
    const asked: string[] = [];
    const requestRates = {
      async requestsPerReplica(services: readonly { namespace: string; name: string }[]) {
        asked.push(...services.map((s) => `${s.namespace}/${s.name}`));
        if (failing) throw new Error('CloudWatch unavailable');
        return new Map([['default/shop', 25]]);
      },
    };
    const core = createApi({ store: h.store, now: () => new Date(h.now()), kickScheduler: async () => {}, requestRates });
    const get = async () =>
      (await core({ method: 'GET', path: '/v1/namespaces/default/services/shop', query: {}, headers: {} })).body as {
        metrics: { metric: string; value?: number; proposal?: number }[];
      };
    expect((await core({ method: 'POST', path: '/v1/services', query: {}, headers: { 'content-type': 'application/json' }, body: shop })).status).toBe(201);
    // The replica placed and reported running by its host (the agent, played).
    await h.pass();
    const [task] = await h.inner.listAllTasks();
    await h.inner.putHostStatus({
      hostId: 'h1',
      heartbeatAt: h.now(),
      generation: 1,
      agentVersion: 't',
      tasks: [{ taskId: task.id, namespace: 'default', service: 'shop', state: 'running', ports: [], containers: [], since: h.now() }],
    });
    expect((await get()).metrics).toEqual([expect.objectContaining({ metric: 'requests', value: 25, proposal: 3 })]);
    expect(asked).toEqual(['default/shop']);
    failing = true;
    expect((await get()).metrics[0].value).toBeUndefined();
  });
});
