/**
 * The host list and the service lists read what their page needs: GET /v1/hosts a page of hosts
 * from the index and those hosts' reports, the service routes the hosts their tasks are on; never
 * every host and every status of the cluster.
 */
import { describe, expect, it } from 'vitest';
import { createApi, type ApiResponse } from '../../app/api.ts';
import type { StoreMethod } from '../../adapters/memory/faulty-store.ts';
import type { TaskStatus } from '../../core/types.ts';
import { aSpec } from '../builders.ts';
import { passHarness, T0, type PassHarness } from '../pass-harness.ts';

async function api(h: PassHarness) {
  const core = createApi({ store: h.store, now: () => new Date(h.now()), kickScheduler: async () => {} });
  return (path: string, query: Record<string, string> = {}): Promise<ApiResponse> => core({ method: 'GET', path, query, headers: {} });
}

const callsOf = (h: PassHarness, from: number): StoreMethod[] => h.faults.calls.slice(from).map((c) => c.method);
const hostIds = Array.from({ length: 12 }, (_, i) => `h${String(i).padStart(2, '0')}`);

describe('GET /v1/hosts', () => {
  it('pages through every host with its report, reading a page of hosts and their reports only', async () => {
    const h = await passHarness(hostIds.map((id) => ({ id, cpu: 1000 })));
    await h.inner.putService(aSpec({ name: 'web', replicas: 4 }), T0, 0);
    await h.pass('s');
    const call = await api(h);
    const everyHost = (await call('/v1/hosts')).body as { id: string }[];
    expect(everyHost.map((x) => x.id)).toEqual(hostIds);

    const before = h.faults.calls.length;
    const seen: unknown[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await call('/v1/hosts', { limit: '5', ...(cursor ? { cursor } : {}) });
      expect(page.status).toBe(200);
      seen.push(...(page.body as unknown[]));
      cursor = page.headers?.['x-next-cursor'];
      if (!cursor) break;
    }
    expect(seen).toEqual(everyHost);
    const calls = callsOf(h, before);
    expect(calls).not.toContain('listHosts');
    expect(calls).not.toContain('listHostStatuses');
    expect(calls.filter((m) => m === 'listHostsPage')).toHaveLength(3);
    expect(await call('/v1/hosts', { cursor: '!!' })).toMatchObject({ status: 400 });
    expect(await call('/v1/hosts', { limit: '0' })).toMatchObject({ status: 400 });
  });
});

describe('service and task lists', () => {
  it('read the hosts their tasks are on, never every host and status, and show the same views', async () => {
    const h = await passHarness(hostIds.map((id) => ({ id, cpu: 1000 })));
    await h.inner.putService(aSpec({ name: 'web', replicas: 2 }), T0, 0);
    await h.inner.putService(aSpec({ name: 'api', replicas: 3 }), T0, 0);
    await h.pass('s');
    const byHost = new Map<string, TaskStatus[]>();
    for (const t of await h.inner.listAllTasks())
      byHost.set(t.host!, [
        ...(byHost.get(t.host!) ?? []),
        {
          taskId: t.id,
          namespace: t.namespace,
          service: t.service,
          state: 'running',
          ports: [],
          containers: [{ name: 'web', id: t.id, state: 'running' }],
          since: h.now(),
        },
      ]);
    for (const [hostId, tasks] of byHost) await h.inner.putHostStatus({ hostId, heartbeatAt: h.now(), generation: 1, agentVersion: 'test', tasks });
    const call = await api(h);
    const before = h.faults.calls.length;
    const services = await call('/v1/services');
    const web = await call('/v1/namespaces/default/services/web');
    const tasks = await call('/v1/tasks');
    for (const r of [services, web, tasks]) expect(r.status).toBe(200);
    const calls = callsOf(h, before);
    expect(calls).not.toContain('listHosts');
    expect(calls).not.toContain('listHostStatuses');
    expect((services.body as { name: string; running: number }[]).map((s) => [s.name, s.running])).toEqual([
      ['api', 3],
      ['web', 2],
    ]);
    expect((tasks.body as { state: string }[]).map((t) => t.state)).toEqual(Array(5).fill('running'));
    expect((web.body as { tasks: { state: string; host: string }[] }).tasks.every((t) => t.state === 'running' && hostIds.includes(t.host))).toBe(true);
  });
});
