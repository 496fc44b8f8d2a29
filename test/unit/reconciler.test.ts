import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { reconcileService, podOf } from '../../core/reconciler.ts';
import { schedule } from '../../core/scheduler.ts';
import { addWhileFits, allocationFor, assignments, documentTasks, reviewAllocations } from '../../core/allocations.ts';
import { rng } from '../../core/random.ts';
import type { Host, Service, Task } from '../../core/types.ts';
import { aHost, aService, aTask, MiB } from '../builders.ts';

const now = '2026-01-01T00:00:00.000Z';
const hosts = new Map([
  ['h1', aHost({ id: 'h1' })],
  ['h2', aHost({ id: 'h2', state: 'down' })],
]);

function plan(service: Service, tasks: Task[], stillOnHosts = false) {
  return reconcileService({ service, tasks, hosts, stillOnHosts, now, random: rng('t') });
}

describe('reconcileService', () => {
  it('creates a task for every empty slot', () => {
    const p = plan(aService({ replicas: 3 }), []);
    expect(p.create.map((c) => c.task.slot)).toEqual([1, 2, 3]);
    expect(p.create.every((c) => c.previousIncarnation === undefined && c.task.incarnation === 1)).toBe(true);
    expect(new Set(p.create.map((c) => c.task.id)).size).toBe(3);
    expect(p.create[0].task.id).toMatch(/^web-1-[a-z0-9]{5}$/);
  });

  it('keeps tasks that match the spec', () => {
    const s = aService({ replicas: 2 });
    const p = plan(s, [aTask(s, 1, { host: 'h1' }), aTask(s, 2)]);
    expect(p.create).toEqual([]);
    expect(p.remove).toEqual([]);
    expect(p.keep).toHaveLength(2);
  });

  it('removes the tasks of slots above the replica count', () => {
    const s = aService({ replicas: 1 });
    const p = plan(s, [aTask(s, 1), aTask(s, 2), aTask(s, 3)]);
    expect(p.remove.map((r) => r.task.slot)).toEqual([2, 3]);
    expect(p.remove[0].reason).toBe('scaled to 1');
  });

  it('replaces a task whose pod spec changed, with the next incarnation', () => {
    const old = aService({ replicas: 1, memory: 32 * MiB });
    const changed = aService({ replicas: 1, memory: 64 * MiB, specVersion: 2 });
    const p = plan(changed, [aTask(old, 1, { host: 'h1' })]);
    expect(p.create).toHaveLength(1);
    expect(p.create[0]).toMatchObject({ previousIncarnation: 1, reason: 'rolled to version 2' });
    expect(p.create[0].task.incarnation).toBe(2);
  });

  it('does not replace tasks when only the replica count changed', () => {
    const s = aService({ replicas: 2, specVersion: 2 });
    const p = plan(s, [aTask(aService({ replicas: 1 }), 1, { host: 'h1' })]);
    expect(p.create.map((c) => c.task.slot)).toEqual([2]);
    expect(p.keep.map((t) => t.slot)).toEqual([1]);
  });

  it('replaces tasks on a host that is down or gone', () => {
    const s = aService({ replicas: 2 });
    const p = plan(s, [aTask(s, 1, { host: 'h2' }), aTask(s, 2, { host: 'h9' })]);
    expect(p.create.map((c) => c.reason)).toEqual(['host h2 is down', 'host h9 is gone']);
  });

  it('replaces a task on a draining host while keeping the old one running until the new one runs', () => {
    const s = aService({ replicas: 1 });
    const draining = new Map([
      ['h1', aHost({ id: 'h1', state: 'draining' })],
      ['h3', aHost({ id: 'h3' })],
    ]);
    const old = aTask(s, 1, { host: 'h1' });
    const p = reconcileService({ service: s, tasks: [old], hosts: draining, stillOnHosts: false, now, random: rng('t') });
    expect(p.create).toHaveLength(1);
    expect(p.create[0].reason).toBe('host h1 is draining');
    expect(p.create[0].task.previous).toEqual({ id: old.id, host: 'h1', specVersion: old.specVersion, pod: old.pod });

    const replacement = { ...p.create[0].task, host: 'h3' };
    const status = (state: 'running' | 'starting', health?: 'healthy' | 'starting') => () => ({
      taskId: replacement.id,
      namespace: 'default',
      service: 'web',
      state,
      ...(health ? { health } : {}),
      ports: [],
      containers: [],
      since: now,
    });
    const waiting = reconcileService({
      service: s,
      tasks: [replacement],
      hosts: draining,
      stillOnHosts: false,
      now,
      random: rng('t'),
      statusOf: status('starting'),
    });
    expect(waiting.release).toEqual([]);
    expect(waiting.create).toEqual([]);
    const notYetHealthy = reconcileService({
      service: s,
      tasks: [replacement],
      hosts: draining,
      stillOnHosts: false,
      now,
      random: rng('t'),
      statusOf: status('running', 'starting'),
    });
    expect(notYetHealthy.release).toEqual([]);
    const ready = reconcileService({
      service: s,
      tasks: [replacement],
      hosts: draining,
      stillOnHosts: false,
      now,
      random: rng('t'),
      statusOf: status('running', 'healthy'),
    });
    expect(ready.release).toEqual([replacement]);
  });

  it('moves a task whose probe keeps failing after repeated restarts, avoiding its host', () => {
    const s = aService({ replicas: 1 });
    const t = aTask(s, 1, { host: 'h1' });
    const statusOf = (restarts: number) => () => ({
      taskId: t.id,
      namespace: 'default',
      service: 'web',
      state: 'running' as const,
      health: 'unhealthy' as const,
      restarts,
      ports: [],
      containers: [],
      since: now,
    });
    expect(reconcileService({ service: s, tasks: [t], hosts, stillOnHosts: false, now, random: rng('t'), statusOf: statusOf(2) }).create).toEqual([]);
    const p = reconcileService({ service: s, tasks: [t], hosts, stillOnHosts: false, now, random: rng('t'), statusOf: statusOf(3) });
    expect(p.create[0]).toMatchObject({ reason: 'unhealthy after 3 restarts on h1', task: { avoidHost: 'h1', incarnation: 2 } });
  });

  it('removes every task of a deleting service, and the service once nothing is left', () => {
    const s = aService({ replicas: 2, deleting: true });
    expect(plan(s, [aTask(s, 1), aTask(s, 2)]).remove).toHaveLength(2);
    expect(plan(s, [aTask(s, 1)]).removeService).toBe(false);
    expect(plan(s, [], true).removeService).toBe(false);
    expect(plan(s, [], false).removeService).toBe(true);
  });

  it('pod is the containers and restart policy of the spec', () => {
    const s = aService();
    expect(podOf(s)).toEqual({ containers: s.spec.spec.containers, restartPolicy: 'always' });
  });

  it("pod carries the spec's pidsLimit when it has one", () => {
    const s = aService();
    const limited = { ...s, spec: { ...s.spec, spec: { ...s.spec.spec, pidsLimit: 64 } } };
    expect(podOf(limited)).toEqual({ containers: s.spec.spec.containers, restartPolicy: 'always', pidsLimit: 64 });
  });
});

/**
 * A model of the scheduler pass over pure state, with writes that can be lost (as conditional
 * writes lose races): whatever is lost, repeated passes converge.
 */
function modelPass(state: { hosts: Host[]; tasks: Task[] }, service: Service, seed: number, drop: (i: number) => boolean) {
  let writes = 0;
  const random = rng(seed);
  const p = reconcileService({ service, tasks: state.tasks, hosts: new Map(state.hosts.map((h) => [h.id, h])), stillOnHosts: false, now, random });
  let tasks = state.tasks.slice();
  for (const c of p.create) if (!drop(writes++)) tasks = [...tasks.filter((t) => t.slot !== c.task.slot), c.task];
  for (const r of p.remove) if (!drop(writes++)) tasks = tasks.filter((t) => t.id !== r.task.id);
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const effective = state.hosts.map((h) => ({
    ...h,
    allocations: reviewAllocations(
      h,
      assignments(byId.values()),
      tasks.filter((t) => t.host === h.id),
    ).keep,
  }));
  const pending = tasks.filter((t) => !t.host);
  const decided = schedule(
    effective,
    pending.map((t) => ({ ...allocationFor(t), taskId: t.id, constraints: [], strategy: 'spread' as const })),
    { seed: String(seed) },
  );
  for (const pl of decided.placements) if (!drop(writes++)) byId.set(pl.taskId, { ...byId.get(pl.taskId)!, host: pl.hostId });
  tasks = [...byId.values()];
  const hostsOut = state.hosts.map((h) => {
    const review = reviewAllocations(
      h,
      assignments(byId.values()),
      tasks.filter((t) => t.host === h.id),
    );
    const next = addWhileFits(h.capacity, review.keep, review.missing.map(allocationFor));
    if (drop(writes++)) return h;
    // rejected claims are undone
    for (const r of next.rejected) byId.set(r.taskId, { ...byId.get(r.taskId)!, host: undefined });
    return { ...h, allocations: next.allocations, version: h.version + 1 };
  });
  return { hosts: hostsOut, tasks: [...byId.values()] };
}

describe('convergence', () => {
  it('converges to the desired replicas, each on one host, whatever writes are lost (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 12 }),
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.boolean(), { minLength: 50, maxLength: 50 }),
        (replicas, nHosts, lost) => {
          const service = aService({ replicas });
          let state = { hosts: Array.from({ length: nHosts }, (_, i) => aHost({ id: `h${i}`, cpu: 1000 })), tasks: [] as Task[] };
          let i = 0;
          // lossy passes first, then clean ones: the system must settle
          for (let pass = 0; pass < 4; pass++) state = modelPass(state, service, pass, () => lost[i++ % lost.length]);
          for (let pass = 4; pass < 8; pass++) state = modelPass(state, service, pass, () => false);
          expect(state.tasks).toHaveLength(replicas);
          const capacity = nHosts * 10;
          const placed = state.tasks.filter((t) => t.host);
          expect(placed).toHaveLength(Math.min(replicas, capacity));
          for (const h of state.hosts) {
            const docs = documentTasks(h, assignments(state.tasks));
            expect(docs.map((d) => d.id).sort()).toEqual(
              placed
                .filter((t) => t.host === h.id)
                .map((t) => t.id)
                .sort(),
            );
          }
          // a task id appears in at most one host document
          const ids = state.hosts.flatMap((h) => documentTasks(h, assignments(state.tasks)).map((d) => d.id));
          expect(new Set(ids).size).toBe(ids.length);
        },
      ),
      { numRuns: 200 },
    );
  });
});
