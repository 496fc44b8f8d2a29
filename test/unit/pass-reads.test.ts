/**
 * The pass reads tasks service by service (app/task-reads.ts), and a service the index does not list
 * yet (it lags) still has its placed tasks read, through the hosts' allocations: none of them is
 * taken for stale and stopped.
 */
import { describe, expect, it } from 'vitest';
import { passHarness } from '../pass-harness.ts';
import { readSnapshot } from '../../app/scheduler/pass.ts';
import { readTasks, servicesToRead } from '../../app/task-reads.ts';
import type { Store } from '../../ports/index.ts';
import { aSpec } from '../builders.ts';

/** The store as a lagging index shows it: `hidden` services are missing from listServices. */
function lagging(store: Store, hidden: Set<string>): Store {
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'listServices') return async (ns?: string) => (await target.listServices(ns)).filter((s) => !hidden.has(`${s.namespace}/${s.name}`));
      if (prop === 'listAllTasks') return async () => Promise.reject(new Error('the pass must not read every task of the table'));
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

describe('the pass reads tasks service by service', () => {
  it('reads the same tasks, in the same order, as a read of every task', async () => {
    const h = await passHarness([
      { id: 'h1', cpu: 4000 },
      { id: 'h2', cpu: 4000 },
    ]);
    for (const name of ['web', 'api', 'db']) await h.inner.putService(aSpec({ name, replicas: 3 }), h.now(), 0);
    await h.pass('s1');
    const snapshot = await readSnapshot(lagging(h.inner, new Set()));
    expect(snapshot.tasks).toEqual(await h.inner.listAllTasks());
    expect(snapshot.tasks).toHaveLength(9);
  });

  it('reads the tasks of a service the index does not list yet when a host holds one of them, and stops none of them', async () => {
    const h = await passHarness([
      { id: 'h1', cpu: 4000 },
      { id: 'h2', cpu: 4000 },
    ]);
    await h.inner.putService(aSpec({ name: 'web', replicas: 2 }), h.now(), 0);
    await h.inner.putService(aSpec({ name: 'api', replicas: 2 }), h.now(), 0);
    await h.pass('s1');
    const docsBefore = structuredClone([...h.channel.docs.values()]);
    const tasksBefore = await h.inner.listAllTasks();
    expect(tasksBefore.filter((t) => t.host)).toHaveLength(4);

    // The index now misses `web` (a lagging replica of it): its tasks come through the allocations.
    const store = lagging(h.store, new Set(['default/web']));
    const snapshot = await readSnapshot(store);
    expect(snapshot.services.map((s) => s.name)).toEqual(['api']);
    expect(snapshot.tasks.map((t) => t.id).sort()).toEqual(tasksBefore.map((t) => t.id).sort());

    const result = await h.pass('s2', { store });
    expect(result.published).toEqual([]);
    expect([...h.channel.docs.values()]).toEqual(docsBefore);
    expect(await h.inner.listAllTasks()).toEqual(tasksBefore);
  });

  it('names each service once, the listed ones first, and skips a name no task key can hold', async () => {
    const h = await passHarness([{ id: 'h1', cpu: 4000 }]);
    await h.inner.putService(aSpec({ name: 'web', replicas: 1 }), h.now(), 0);
    await h.pass('s1');
    const [host] = await h.inner.listHosts();
    const forged = {
      ...host!,
      allocations: {
        ...host!.allocations,
        x: { taskId: 'x', namespace: 'default', service: 'a#b', slot: 0, resources: { cpu: 1, memory: 1 }, hostPorts: [] },
      },
    };
    expect(servicesToRead([{ namespace: 'default', name: 'web' }], [forged])).toEqual([
      { namespace: 'default', name: 'web' },
      { namespace: 'default', name: 'a#b' },
    ]);
    const tasks = await readTasks(h.inner, [{ namespace: 'default', name: 'web' }], [forged]);
    expect(tasks.map((t) => t.service)).toEqual(['web']);
  });
});
