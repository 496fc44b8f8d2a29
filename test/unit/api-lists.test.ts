/**
 * The API's reads that must stay bounded as the cluster grows: a task by id is found without
 * reading every task (its id names its service and slot).
 */
import { describe, expect, it } from 'vitest';
import { createApi, type ApiResponse } from '../../app/api.ts';
import type { StoreMethod } from '../../adapters/memory/faulty-store.ts';
import { aSpec } from '../builders.ts';
import { passHarness, T0, type PassHarness } from '../pass-harness.ts';

async function api(h: PassHarness) {
  const core = createApi({ store: h.store, now: () => new Date(h.now()), kickScheduler: async () => {} });
  return (method: string, path: string, query: Record<string, string> = {}): Promise<ApiResponse> => core({ method, path, query, headers: {} });
}

const callsOf = (h: PassHarness, from: number): StoreMethod[] => h.faults.calls.slice(from).map((c) => c.method);

describe('a task by id', () => {
  it('is found by the service and slot its id names (a service name with dashes too), without reading every task', async () => {
    const h = await passHarness([{ id: 'h1', cpu: 1000 }]);
    await h.inner.putService(aSpec({ name: 'web-api-2', replicas: 3 }), T0, 0);
    await h.inner.putService(aSpec({ name: 'web', replicas: 2 }), T0, 0);
    await h.inner.putService(aSpec({ name: 'web-api-2', namespace: 'other', replicas: 1 }), T0, 0);
    await h.pass('s');
    const call = await api(h);
    for (const task of await h.inner.listAllTasks()) {
      const before = h.faults.calls.length;
      const got = await call('GET', `/v1/tasks/${task.id}`);
      expect(got).toMatchObject({ status: 200, body: { id: task.id, namespace: task.namespace, service: task.service, slot: task.slot, host: 'h1' } });
      expect(callsOf(h, before)).not.toContain('listAllTasks');
      expect(callsOf(h, before)).not.toContain('listHostStatuses');
    }
  });

  it('is one query of its service with ?namespace=, and a 404 for an id of no task', async () => {
    const h = await passHarness([{ id: 'h1', cpu: 1000 }]);
    await h.inner.putService(aSpec({ name: 'web', replicas: 1 }), T0, 0);
    await h.pass('s');
    const call = await api(h);
    const [task] = await h.inner.listAllTasks();
    const before = h.faults.calls.length;
    expect(await call('GET', `/v1/tasks/${task.id}`, { namespace: 'default' })).toMatchObject({ status: 200, body: { id: task.id } });
    expect(callsOf(h, before).filter((m) => m.startsWith('list'))).toEqual(['listTasks']);
    expect(await call('GET', `/v1/tasks/${task.id}`, { namespace: 'other' })).toMatchObject({ status: 404 });
    expect(await call('GET', `/v1/tasks/${task.id.slice(0, -1)}z`)).toMatchObject({ status: 404 });
    for (const id of ['web', 'web-0', 'web-x-abcde', '-0-abcde', 'web-0-abc']) expect(await call('GET', `/v1/tasks/${id}`)).toMatchObject({ status: 404 });
    expect(callsOf(h, before)).not.toContain('listAllTasks');
  });
});

describe('cursor pagination of the lists', () => {
  async function cluster() {
    const h = await passHarness([
      { id: 'h1', cpu: 4000 },
      { id: 'h2', cpu: 4000 },
      { id: 'h3', cpu: 4000 },
    ]);
    for (const name of ['a', 'b', 'c', 'd', 'e']) await h.inner.putService(aSpec({ name, replicas: 2 }), T0, 0);
    await h.pass('s');
    return { h, call: await api(h) };
  }

  async function walk(call: Awaited<ReturnType<typeof api>>, path: string, limit: number): Promise<unknown[][]> {
    const pages: unknown[][] = [];
    let cursor: string | undefined;
    do {
      const res = await call('GET', path, { limit: String(limit), ...(cursor ? { cursor } : {}) });
      expect(res.status).toBe(200);
      expect(Array.isArray(res.body)).toBe(true);
      pages.push(res.body as unknown[]);
      cursor = res.headers?.['x-next-cursor'];
    } while (cursor && pages.length < 50);
    return pages;
  }

  for (const path of ['/v1/services', '/v1/tasks', '/v1/hosts']) {
    it(`walks ${path} page by page to exactly the unpaged list, the array shape kept and the cursor in x-next-cursor`, async () => {
      const { call } = await cluster();
      const all = (await call('GET', path)).body as unknown[];
      expect(all.length).toBeGreaterThan(2);
      const pages = await walk(call, path, 2);
      expect(pages.every((p) => p.length <= 2)).toBe(true);
      expect(pages.flat()).toEqual(all);
      expect(pages.length).toBe(Math.ceil(all.length / 2));
    });
  }

  it('reads a page without reading everything first: no scan of every task, and the tasks of about a page of services', async () => {
    const h = await passHarness([{ id: 'h1', cpu: 100_000, memory: 64 * 1024 ** 3 }]);
    for (let i = 0; i < 40; i++) await h.inner.putService(aSpec({ name: `svc-${String(i).padStart(2, '0')}`, replicas: 1 }), T0, 0);
    await h.pass('s');
    const call = await api(h);
    for (const path of ['/v1/services', '/v1/tasks']) {
      const before = h.faults.calls.length;
      const res = await call('GET', path, { limit: '2' });
      expect((res.body as unknown[]).length).toBe(2);
      expect(res.headers?.['x-next-cursor']).toBeDefined();
      const calls = callsOf(h, before);
      expect(calls).not.toContain('listAllTasks');
      // At most one batch of services' partitions, never all 40.
      expect(calls.filter((c) => c === 'listTasks').length).toBeLessThanOrEqual(16);
    }
    // With a host filter the walk goes on until a page is found: the result is still exact.
    const onH1 = (await call('GET', '/v1/tasks', { host: 'h1', limit: '1000' })).body as unknown[];
    expect(onH1).toHaveLength(40);
  });

  it('answers 400 naming the parameter for a bad cursor or limit', async () => {
    const { call } = await cluster();
    for (const cursor of ['not base64!', Buffer.from('{"x":1}').toString('base64url'), Buffer.from('[').toString('base64url')]) {
      const res = await call('GET', '/v1/tasks', { cursor });
      expect(res.status).toBe(400);
      expect(JSON.stringify(res.body)).toContain('cursor');
    }
    for (const limit of ['0', '1001', 'x', '1.5']) {
      const res = await call('GET', '/v1/services', { limit });
      expect(res.status).toBe(400);
      expect(JSON.stringify(res.body)).toContain('limit');
    }
  });
});

describe('cursor pagination of the events', () => {
  it('pages back in time: each page the newest events older than the last, oldest first, until there are none', async () => {
    const h = await passHarness([]);
    const at = (i: number) => new Date(Date.parse(T0) + i * 1000).toISOString();
    await h.inner.putEvents(Array.from({ length: 7 }, (_, i) => ({ id: `e${i}`, at: at(i), type: 't', message: 'm', host: i % 2 ? 'h1' : 'h2' })));
    const call = await api(h);
    const pages: string[][] = [];
    let cursor: string | undefined;
    do {
      const res = await call('GET', '/v1/events', { limit: '3', ...(cursor ? { cursor } : {}) });
      expect(res.status).toBe(200);
      pages.push((res.body as { id: string }[]).map((e) => e.id));
      cursor = res.headers?.['x-next-cursor'];
    } while (cursor && pages.length < 10);
    expect(pages).toEqual([['e4', 'e5', 'e6'], ['e1', 'e2', 'e3'], ['e0']]);
    const first = await call('GET', '/v1/events', { host: 'h1', limit: '2' });
    expect((first.body as { id: string }[]).map((e) => e.id)).toEqual(['e3', 'e5']);
    const next = await call('GET', '/v1/events', { host: 'h1', limit: '2', cursor: first.headers!['x-next-cursor'] });
    expect((next.body as { id: string }[]).map((e) => e.id)).toEqual(['e1']);
    expect(next.headers?.['x-next-cursor']).toBeUndefined();
    expect(await call('GET', '/v1/events', { cursor: 'bad cursor' })).toMatchObject({ status: 400 });
  });
});
