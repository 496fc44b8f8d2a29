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
