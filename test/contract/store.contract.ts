/**
 * The `Store` contract: what every adapter of the port (ports/index.ts) must do, observed through
 * the port alone. Run by memory-store.test.ts and dynamo-store.test.ts (on dynalite); what is
 * DynamoDB's own (item keys and sizes, paging, throttling) stays in test/integration/dynamo-store.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { ConflictError, SkiffError, ValidationError } from '../../core/errors.ts';
import type { Task } from '../../core/types.ts';
import type { BadItemSource, Store } from '../../ports/index.ts';
import { LATER, NOW, aSpec, aStatus, aTask, anAllocation, hostInput, race } from './store-fixtures.ts';

/** Declares the contract's tests for one adapter; `makeStore` returns an empty store each time. */
export function describeStoreContract(name: string, makeStore: () => Promise<Store>): void {
  describe(`Store contract: ${name}`, () => {
    describe('services', () => {
      it('creates a service at specVersion 1 and reads it back', async () => {
        const store = await makeStore();
        const spec = aSpec('team', 'web');
        const created = await store.putService(spec, NOW);
        expect(created).toEqual({ namespace: 'team', name: 'web', spec, specVersion: 1, createdAt: NOW, updatedAt: NOW, deleting: false });
        expect(await store.getService('team', 'web')).toEqual(created);
        expect(await store.getService('team', 'absent')).toBeUndefined();
      });

      it('replacing a spec bumps specVersion and keeps createdAt', async () => {
        const store = await makeStore();
        await store.putService(aSpec('team', 'web'), NOW);
        const replaced = await store.putService(aSpec('team', 'web', { replicas: 5 }), LATER);
        expect(replaced).toMatchObject({ specVersion: 2, createdAt: NOW, updatedAt: LATER });
        expect((await store.getService('team', 'web'))?.spec.spec.replicas).toBe(5);
      });

      it('re-applying an identical spec changes nothing', async () => {
        const store = await makeStore();
        const first = await store.putService(aSpec('team', 'web'), NOW);
        expect(await store.putService(aSpec('team', 'web'), LATER)).toEqual(first);
        expect(await store.putService(aSpec('team', 'web'), LATER, 1)).toEqual(first);
      });

      it('honours expectedVersion: 0 only creates, a number only replaces that version', async () => {
        const store = await makeStore();
        await expect(store.putService(aSpec('team', 'web'), NOW, 3)).rejects.toThrow(/does not exist/);
        await store.putService(aSpec('team', 'web'), NOW, 0);
        await expect(store.putService(aSpec('team', 'web', { replicas: 3 }), NOW, 0)).rejects.toBeInstanceOf(ConflictError);
        await expect(store.putService(aSpec('team', 'web', { replicas: 3 }), NOW, 2)).rejects.toThrow(/at specVersion 1, not 2/);
        expect((await store.putService(aSpec('team', 'web', { replicas: 3 }), NOW, 1)).specVersion).toBe(2);
      });

      it('sets a scale without a new specVersion, only at the expected specVersion', async () => {
        const store = await makeStore();
        await store.putService(aSpec('team', 'web', { replicas: 2 }), NOW);
        const scale = { replicas: 5, source: 'cli' as const, at: LATER, reason: 'skiff scale' };
        const scaled = await store.setServiceScale('team', 'web', scale, 1);
        expect(scaled).toMatchObject({ specVersion: 1, scale });
        expect(await store.getService('team', 'web')).toEqual(scaled);
        await expect(store.setServiceScale('team', 'web', scale, 2)).rejects.toBeInstanceOf(ConflictError);
        await expect(store.setServiceScale('team', 'absent', scale, 1)).rejects.toBeInstanceOf(ConflictError);
        await store.markServiceDeleting('team', 'web', LATER);
        await expect(store.setServiceScale('team', 'web', scale, 1)).rejects.toBeInstanceOf(ConflictError);
      });

      it('sets the rollout state without a new specVersion, only at the expected specVersion, and an apply keeps it', async () => {
        const store = await makeStore();
        const spec = aSpec('team', 'web', { replicas: 2 });
        await store.putService(spec, NOW);
        const template = { containers: spec.spec.containers, restartPolicy: spec.spec.restartPolicy };
        const rollout = {
          specVersion: 1,
          phase: 'complete' as const,
          startedAt: NOW,
          progressAt: LATER,
          updated: 2,
          revisions: [{ version: 1, template, at: LATER, cause: 'apply' }],
        };
        const written = await store.setServiceRollout('team', 'web', rollout, 1);
        expect(written).toMatchObject({ specVersion: 1, rollout });
        expect(await store.getService('team', 'web')).toEqual(written);
        await expect(store.setServiceRollout('team', 'web', rollout, 2)).rejects.toBeInstanceOf(ConflictError);
        await expect(store.setServiceRollout('team', 'absent', rollout, 1)).rejects.toBeInstanceOf(ConflictError);
        // The next apply keeps the history: the pass starts the new version's rollout from it.
        const next = await store.putService(aSpec('team', 'web', { replicas: 2, image: 'skiff/busybox:2' }), LATER);
        expect(next).toMatchObject({ specVersion: 2, rollout });
        await store.markServiceDeleting('team', 'web', LATER);
        await expect(store.setServiceRollout('team', 'web', { ...rollout, specVersion: 2 }, 2)).rejects.toBeInstanceOf(ConflictError);
      });

      it('an apply keeps the scale unless it changes spec.replicas', async () => {
        const store = await makeStore();
        await store.putService(aSpec('team', 'web', { replicas: 2 }), NOW);
        const scale = { replicas: 5, source: 'cli' as const, at: LATER };
        await store.setServiceScale('team', 'web', scale, 1);
        // Same replicas, another change: the scale stays, the spec moves on.
        const kept = await store.putService(aSpec('team', 'web', { replicas: 2, image: 'skiff/busybox:2' }), LATER);
        expect(kept).toMatchObject({ specVersion: 2, scale });
        // A new replica count in the spec wins over the earlier scale.
        const reset = await store.putService(aSpec('team', 'web', { replicas: 3, image: 'skiff/busybox:2' }), LATER);
        expect(reset.specVersion).toBe(3);
        expect(reset.scale).toBeUndefined();
        expect((await store.getService('team', 'web'))?.scale).toBeUndefined();
      });

      it('lets exactly one of two concurrent creates with expectedVersion 0 win', async () => {
        const store = await makeStore();
        const { won } = await race([
          () => store.putService(aSpec('team', 'web', { replicas: 1 }), NOW, 0),
          () => store.putService(aSpec('team', 'web', { replicas: 2 }), NOW, 0),
        ]);
        expect(won).toBe(1);
        expect((await store.getService('team', 'web'))?.specVersion).toBe(1);
      });

      it('lists all services, or those of one namespace only', async () => {
        const store = await makeStore();
        await store.putService(aSpec('a', 'one'), NOW);
        await store.putService(aSpec('a', 'two'), NOW);
        await store.putService(aSpec('ab', 'three'), NOW);
        expect((await store.listServices()).map((s) => `${s.namespace}/${s.name}`)).toEqual(['a/one', 'a/two', 'ab/three']);
        expect((await store.listServices('a')).map((s) => s.name)).toEqual(['one', 'two']);
        expect(await store.listServices('none')).toEqual([]);
      });

      it('rejects key parts that would be ambiguous', async () => {
        const store = await makeStore();
        await expect(store.putService(aSpec('a#b', 'web'), NOW)).rejects.toBeInstanceOf(ValidationError);
        await expect(store.getService('a', '')).rejects.toThrow(/name: must be a non-empty string/);
      });

      it('marks a service deleting, refuses to replace it then, and is idempotent', async () => {
        const store = await makeStore();
        await store.putService(aSpec('team', 'web'), NOW);
        const marked = await store.markServiceDeleting('team', 'web', LATER);
        expect(marked).toMatchObject({ deleting: true, updatedAt: LATER, specVersion: 1 });
        expect(await store.markServiceDeleting('team', 'web', '2025-02-01T00:00:00.000Z')).toEqual(marked);
        await expect(store.putService(aSpec('team', 'web', { replicas: 9 }), LATER)).rejects.toThrow(/being deleted; wait and retry/);
        expect(await store.markServiceDeleting('team', 'absent', LATER)).toBeUndefined();
      });

      it('removes a deleting service only once its tasks are gone', async () => {
        const store = await makeStore();
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
        const store = await makeStore();
        await store.putService(aSpec('team', 'web'), NOW);
        for (const slot of [10, 2, 0]) await store.putTask(aTask('team', 'web', slot), undefined);
        const tasks = await store.listTasks('team', 'web');
        expect(tasks.map((t) => t.slot)).toEqual([0, 2, 10]);
        expect(tasks[0]).toEqual(aTask('team', 'web', 0));
        expect(await store.listTasks('team', 'other')).toEqual([]);
      });

      it('creates a slot only when free and replaces it only from the expected incarnation', async () => {
        const store = await makeStore();
        await store.putService(aSpec('team', 'web'), NOW);
        await store.putTask(aTask('team', 'web', 0), undefined);
        await expect(store.putTask(aTask('team', 'web', 0, { id: 'other' }), undefined)).rejects.toThrow(/task slot team\/web#0 already has a task/);
        await store.putTask(aTask('team', 'web', 0, { incarnation: 2, specVersion: 2 }), 1);
        await expect(store.putTask(aTask('team', 'web', 0, { incarnation: 3 }), 1)).rejects.toThrow(/no longer at incarnation 1/);
        await expect(store.putTask(aTask('team', 'web', 0, { incarnation: 2 }), 2)).rejects.toThrow(/must be greater than 2/);
        expect(await store.listTasks('team', 'web')).toEqual([aTask('team', 'web', 0, { incarnation: 2, specVersion: 2 })]);
      });

      it('lets exactly one of two concurrent schedulers create, and one replace, a slot', async () => {
        const store = await makeStore();
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
        const store = await makeStore();
        await expect(store.putTask(aTask('team', 'ghost', 0), undefined)).rejects.toThrow(/service team\/ghost does not exist/);
        expect(await store.listTasks('team', 'ghost')).toEqual([]);
        await store.putService(aSpec('team', 'web'), NOW);
        await store.markServiceDeleting('team', 'web', NOW);
        await expect(store.putTask(aTask('team', 'web', 0), undefined)).rejects.toThrow(/is being deleted/);
        expect(await store.listTasks('team', 'web')).toEqual([]);
      });

      it('rejects slots outside the sortable range', async () => {
        const store = await makeStore();
        await expect(store.putTask(aTask('team', 'web', 1_000_000), undefined)).rejects.toBeInstanceOf(ValidationError);
        await expect(store.putTask(aTask('team', 'web', 1.5), undefined)).rejects.toThrow(/slot: must be an integer/);
      });

      it('claims a pending running task for one host only', async () => {
        const store = await makeStore();
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
        const store = await makeStore();
        await store.putService(aSpec('team', 'web'), NOW);
        await store.putTask(aTask('team', 'web', 0, { desired: 'shutdown' }), undefined);
        await expect(store.assignTask('team', 'web', 0, 'web-0-1', 'h1')).rejects.toBeInstanceOf(ConflictError);
        await expect(store.assignTask('team', 'web', 7, 'web-7-1', 'h1')).rejects.toBeInstanceOf(ConflictError);
      });

      it('lets exactly one of two hosts claim a task assigned concurrently', async () => {
        const store = await makeStore();
        await store.putService(aSpec('team', 'web'), NOW);
        await store.putTask(aTask('team', 'web', 0), undefined);
        const { won } = await race(['h1', 'h2', 'h3'].map((h) => () => store.assignTask('team', 'web', 0, 'web-0-1', h)));
        expect(won).toBe(1);
        expect(['h1', 'h2', 'h3']).toContain((await store.listTasks('team', 'web'))[0].host);
      });

      it('unassigns only from the host the task is assigned to', async () => {
        const store = await makeStore();
        await store.putService(aSpec('team', 'web'), NOW);
        await store.putTask(aTask('team', 'web', 0), undefined);
        await store.assignTask('team', 'web', 0, 'web-0-1', 'h1');
        await expect(store.unassignTask('team', 'web', 0, 'web-0-1', 'h2')).rejects.toThrow(/not task web-0-1 assigned to host h2/);
        await store.unassignTask('team', 'web', 0, 'web-0-1', 'h1');
        expect((await store.listTasks('team', 'web'))[0].host).toBeUndefined();
        await expect(store.unassignTask('team', 'web', 0, 'web-0-1', 'h1')).rejects.toBeInstanceOf(ConflictError);
      });

      it('sets desired state and the unplaceable note only on the same task', async () => {
        const store = await makeStore();
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
        const store = await makeStore();
        await store.putService(aSpec('team', 'web'), NOW);
        await store.putTask(aTask('team', 'web', 0), undefined);
        await expect(store.deleteTask('team', 'web', 0, 'stale')).rejects.toBeInstanceOf(ConflictError);
        await store.deleteTask('team', 'web', 0, 'web-0-1');
        expect(await store.listTasks('team', 'web')).toEqual([]);
        await expect(store.deleteTask('team', 'web', 0, 'web-0-1')).rejects.toBeInstanceOf(ConflictError);
      });

      it('lists the tasks of every service', async () => {
        const store = await makeStore();
        for (const [ns, name] of [
          ['a', 'one'],
          ['a', 'two'],
          ['b', 'three'],
        ]) {
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
        const store = await makeStore();
        const host = await store.registerHost(hostInput('h1'), NOW);
        expect(host).toEqual({ ...hostInput('h1'), state: 'ready', registeredAt: NOW, version: 1, allocations: {} });
        expect(await store.getHost('h1')).toEqual(host);
        expect(await store.getHost('h2')).toBeUndefined();
      });

      it('re-registering refreshes identity but keeps allocations, version, state and registeredAt', async () => {
        const store = await makeStore();
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
        const store = await makeStore();
        const host = await store.registerHost(hostInput('h1'), NOW);
        const shrunk = await store.registerHost({ ...hostInput('h1'), capacity: { cpu: 500, memory: 2 ** 30 } }, LATER);
        expect(shrunk).toMatchObject({ version: 2, capacity: { cpu: 500, memory: 2 ** 30 } });
        await expect(store.updateAllocations(host, {})).rejects.toThrow(/host h1 is no longer at version 1/);
      });

      it('commits allocations only on the version it read, and returns the new host', async () => {
        const store = await makeStore();
        const host = await store.registerHost(hostInput('h1'), NOW);
        const allocations = { t1: anAllocation({ id: 't1', namespace: 'a', service: 's', slot: 0 }) };
        const next = await store.updateAllocations(host, allocations);
        expect(next).toEqual({ ...host, version: 2, allocations });
        expect(await store.getHost('h1')).toEqual(next);
        await expect(store.updateAllocations(host, {})).rejects.toBeInstanceOf(ConflictError);
        await expect(store.updateAllocations({ ...host, id: 'absent' }, {})).rejects.toBeInstanceOf(ConflictError);
      });

      it('lets exactly one of 20 concurrent allocation commits on one host version win', async () => {
        const store = await makeStore();
        const host = await store.registerHost(hostInput('h1'), NOW);
        const commits = Array.from(
          { length: 20 },
          (_, i) => () => store.updateAllocations(host, { [`t${i}`]: anAllocation({ id: `t${i}`, namespace: 'a', service: 's', slot: i }) }),
        );
        const { won, conflicts } = await race(commits);
        expect({ won, conflicts }).toEqual({ won: 1, conflicts: 19 });
        const final = (await store.getHost('h1'))!;
        expect(final.version).toBe(2);
        expect(Object.keys(final.allocations)).toHaveLength(1);
      });

      it('changes host state with a version bump, and treats the same state as a no-op', async () => {
        const store = await makeStore();
        const host = await store.registerHost(hostInput('h1'), NOW);
        await store.setHostState('h1', 'draining', LATER);
        expect(await store.getHost('h1')).toMatchObject({ state: 'draining', version: 2, stateSince: LATER });
        await store.setHostState('h1', 'draining', LATER);
        expect((await store.getHost('h1'))?.version).toBe(2);
        await expect(store.updateAllocations(host, {})).rejects.toBeInstanceOf(ConflictError);
        await expect(store.setHostState('absent', 'down', LATER)).rejects.toThrow(/host absent does not exist/);
      });

      it.each([
        ['null', null],
        ['1e12 cores', { cpu: 1e12 * 1000, memory: 2 ** 30 }],
        ['1 PiB of memory', { cpu: 1000, memory: 2 ** 50 }],
        ['zero cpu', { cpu: 0, memory: 2 ** 30 }],
        ['a fraction of a millicore', { cpu: 0.5, memory: 2 ** 30 }],
      ])('refuses a capacity claim of %s (ValidationError), new or re-registering, and stores nothing', async (_, capacity) => {
        const store = await makeStore();
        await expect(store.registerHost({ ...hostInput('h1'), capacity: capacity as never }, NOW)).rejects.toBeInstanceOf(ValidationError);
        expect(await store.getHost('h1')).toBeUndefined();
        const host = await store.registerHost(hostInput('h1'), NOW);
        await expect(store.registerHost({ ...hostInput('h1'), capacity: capacity as never }, LATER)).rejects.toThrow(/capacity/);
        expect(await store.getHost('h1')).toEqual(host);
      });

      it('a status that fails its schema (a task with ports null, an event time that is no time) is no status, and is reported', async () => {
        const store = await makeStore();
        const good = aStatus('h1');
        await store.putHostStatus({ ...good, tasks: [{ ...good.tasks[0], ports: null as never }] }).catch(() => {});
        await store.putHostStatus({ ...aStatus('h2'), events: [{ id: 'e', at: 'no time', type: 'x', message: 'm' }] }).catch(() => {});
        await store.putHostStatus(aStatus('h3'));
        expect((await store.listHostStatuses()).map((s) => s.hostId)).toEqual(['h3']);
        expect(await store.getHostStatus('h1')).toBeUndefined();
        const reported = (store as unknown as BadItemSource).takeBadItems().items;
        expect(reported.map((r) => r.kind)).toEqual(['hoststatus', 'hoststatus']);
        expect(reported.map((r) => r.reason).join(' ')).toMatch(/ports.*events\.0\.at|events\.0\.at.*ports/s);
      });
    });

    describe('host status and published documents', () => {
      it("keeps an agent's word that its Docker does not answer, and the health checkpoint's hold", async () => {
        const store = await makeStore();
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

      it("keeps an agent's registration claim in its status, and nothing of it reaches the host record", async () => {
        const store = await makeStore();
        const claim = { address: '10.0.1.17', capacity: { cpu: 1e12, memory: 2 ** 31 }, labels: { zone: 'a' }, instanceType: 't4g.small' };
        await store.putHostStatus(aStatus('h1', { claim }));
        expect((await store.getHostStatus('h1'))?.claim).toEqual(claim);
        expect((await store.listHostStatuses())[0].claim).toEqual(claim);
        expect(await store.getHost('h1')).toBeUndefined();
        await store.putHostStatus(aStatus('h1'));
        expect((await store.getHostStatus('h1'))?.claim).toBeUndefined();
      });

      it('keeps the volumes an agent reports deleted in its status, until a report without them', async () => {
        const store = await makeStore();
        await store.putHostStatus(aStatus('h1', { removedVolumes: ['default/db/data/1'] }));
        expect((await store.getHostStatus('h1'))?.removedVolumes).toEqual(['default/db/data/1']);
        expect((await store.listHostStatuses())[0].removedVolumes).toEqual(['default/db/data/1']);
        await store.putHostStatus(aStatus('h1'));
        expect((await store.getHostStatus('h1'))?.removedVolumes).toBeUndefined();
      });

      it('stores, reads and lists host statuses; a new report replaces the old', async () => {
        const store = await makeStore();
        await store.registerHost(hostInput('h1'), NOW);
        await store.putHostStatus(aStatus('h1'));
        await store.putHostStatus(aStatus('h2'));
        await store.putHostStatus(aStatus('h1', { heartbeatAt: LATER, generation: 4 }));
        expect(await store.getHostStatus('h1')).toEqual(aStatus('h1', { heartbeatAt: LATER, generation: 4 }));
        expect(await store.getHostStatus('h3')).toBeUndefined();
        expect((await store.listHostStatuses()).map((s) => [s.hostId, s.generation])).toEqual([
          ['h1', 4],
          ['h2', 3],
        ]);
        // The status lives beside the host item, not in it.
        expect((await store.getHost('h1'))?.version).toBe(1);
      });

      it("takes a later heartbeat as the status's time, keeps the report, and ignores an older one", async () => {
        const store = await makeStore();
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
        const store = await makeStore();
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
        const store = await makeStore();
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

      it('reads the records of many hosts at once, leaving out hosts without one', async () => {
        const store = await makeStore();
        expect(await store.getPublishedMany([])).toEqual(new Map());
        // More than one BatchGetItem's 100 keys, with a repeat and hosts that never had a document.
        const ids = Array.from({ length: 130 }, (_, i) => `h${i}`);
        for (const id of ids.filter((_, i) => i % 3 === 0)) await store.setPublished(id, 0, { generation: 1, hash: `hash-${id}` });
        await store.setPublished('h3', 1, { generation: 2, hash: 'newer' });
        const many = await store.getPublishedMany([...ids, 'h0', 'never']);
        expect([...many.keys()].sort()).toEqual(ids.filter((_, i) => i % 3 === 0).sort());
        expect(many.get('h0')).toEqual({ generation: 1, hash: 'hash-h0' });
        expect(many.get('h3')).toEqual(await store.getPublished('h3'));
        expect(many.get('h3')).toEqual({ generation: 2, hash: 'newer' });
      });
    });

    describe('events, health checkpoint and task hand-over', () => {
      const ev = (at: string, id: string, over: Record<string, string> = {}) => ({ id, at, type: 'task.started', message: `m ${id}`, ...over });

      it('keeps events in time order, newest last, once per id, filtered and limited', async () => {
        const store = await makeStore();
        await store.putEvents([
          ev('2025-01-01T00:00:02.000Z', 'b', { service: 'web', namespace: 'default', host: 'h1' }),
          ev('2025-01-01T00:00:01.000Z', 'a', { service: 'db', host: 'h2' }),
        ]);
        await store.putEvents([
          ev('2025-01-01T00:00:02.000Z', 'b', { service: 'web', namespace: 'default', host: 'h1' }),
          ev('2025-01-01T00:00:03.000Z', 'c', { service: 'web', host: 'h2' }),
        ]);
        expect((await store.listEvents({})).map((e) => e.id)).toEqual(['a', 'b', 'c']);
        expect(await store.listEvents({ service: 'web', host: 'h1' })).toEqual([
          { id: 'b', at: '2025-01-01T00:00:02.000Z', type: 'task.started', message: 'm b', service: 'web', namespace: 'default', host: 'h1' },
        ]);
        expect((await store.listEvents({ limit: 2 })).map((e) => e.id)).toEqual(['b', 'c']);
        expect(await store.pruneEvents('2025-01-01T00:00:02.500Z', 100)).toBe(2);
        expect((await store.listEvents({})).map((e) => e.id)).toEqual(['c']);
      });

      it('stores the health checkpoint', async () => {
        const store = await makeStore();
        expect(await store.getHealthCheckpoint()).toBeUndefined();
        await store.putHealthCheckpoint({ lastRunAt: 5, resumedAt: 3 });
        expect(await store.getHealthCheckpoint()).toEqual({ lastRunAt: 5, resumedAt: 3 });
      });

      it("round-trips a task's previous incarnation and releases it only for the same task", async () => {
        const store = await makeStore();
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

    describe('keys', () => {
      it('rejects an ambiguous key part, slot or host id with a ValidationError on every method that takes one, and writes nothing', async () => {
        const store = await makeStore();
        await store.putService(aSpec('team', 'web'), NOW);
        await store.putTask(aTask('team', 'web', 0), undefined);
        const host = await store.registerHost(hostInput('h1'), NOW);
        const calls: [string, () => Promise<unknown>][] = [
          ['getService', () => store.getService('a#b', 'web')],
          ['listServices', () => store.listServices('a#b')],
          ['putService', () => store.putService(aSpec('team', ''), NOW)],
          ['markServiceDeleting', () => store.markServiceDeleting('team', 'w#b', NOW)],
          ['removeService', () => store.removeService('', 'web')],
          ['listTasks', () => store.listTasks('team', 'w#b')],
          ['putTask', () => store.putTask(aTask('team', 'web', -1), undefined)],
          ['assignTask', () => store.assignTask('team', 'web', 1.5, 'web-0-1', 'h1')],
          ['unassignTask', () => store.unassignTask('team', '', 0, 'web-0-1', 'h1')],
          ['setTaskDesired', () => store.setTaskDesired('t#m', 'web', 0, 'web-0-1', 'shutdown')],
          ['setTaskUnplaceable', () => store.setTaskUnplaceable('team', 'web', 1_000_000, 'web-0-1', undefined)],
          ['releasePrevious', () => store.releasePrevious('team', 'web', -3, 'web-0-1')],
          ['deleteTask', () => store.deleteTask('team', 'w#b', 0, 'web-0-1')],
          ['getHost', () => store.getHost('')],
          ['registerHost', () => store.registerHost(hostInput(''), NOW)],
          ['updateAllocations', () => store.updateAllocations({ ...host, id: '' }, {})],
          ['setHostState', () => store.setHostState('', 'down', NOW)],
          ['forgetHost', () => store.forgetHost({ ...host, id: '', state: 'down' })],
          ['putHostStatus', () => store.putHostStatus(aStatus(''))],
          ['putHeartbeat', () => store.putHeartbeat('', NOW)],
          ['getHostStatus', () => store.getHostStatus('')],
          ['getPublished', () => store.getPublished('')],
          ['setPublished', () => store.setPublished('', 0, { generation: 1, hash: 'x' })],
        ];
        const failures: Record<string, string> = {};
        for (const [method, call] of calls) {
          const err = await call().then(
            () => undefined,
            (e: unknown) => e,
          );
          failures[method] = err instanceof ValidationError ? 'ValidationError' : `${(err as Error | undefined)?.name}: ${(err as Error | undefined)?.message}`;
        }
        expect(failures).toEqual(Object.fromEntries(calls.map(([method]) => [method, 'ValidationError'])));
        expect(await store.listTasks('team', 'web')).toEqual([aTask('team', 'web', 0)]);
        expect(await store.listHosts()).toEqual([host]);
      });
    });

    describe('copies', () => {
      it('hands out copies: mutating what a read returned changes nothing stored', async () => {
        const store = await makeStore();
        await store.putService(aSpec('team', 'web'), NOW);
        await store.putTask(aTask('team', 'web', 0), undefined);
        await store.registerHost(hostInput('h1'), NOW);
        await store.putHostStatus(aStatus('h1'));
        await store.setPublished('h1', 0, { generation: 1, hash: 'x' });
        await store.putEvents([{ id: 'e1', at: NOW, type: 'task.started', message: 'm' }]);
        await store.putHealthCheckpoint({ lastRunAt: 1, resumedAt: 1 });
        const mutate = (value: unknown) => {
          const o = value as Record<string, unknown>;
          for (const k of Object.keys(o)) {
            if (typeof o[k] === 'object' && o[k] !== null) mutate(o[k]);
            else o[k] = 'changed';
          }
        };
        const reads = async () => [
          await store.getService('team', 'web'),
          await store.listServices(),
          await store.listTasks('team', 'web'),
          await store.listAllTasks(),
          await store.getHost('h1'),
          await store.listHosts(),
          await store.getHostStatus('h1'),
          await store.listHostStatuses(),
          await store.getPublished('h1'),
          await store.listEvents({}),
          await store.getHealthCheckpoint(),
        ];
        const before = await reads();
        for (const value of await reads()) mutate(value);
        expect(await reads()).toEqual(before);
      });

      it("keeps what was written, not the caller's object: mutating it afterwards changes nothing stored", async () => {
        const store = await makeStore();
        const spec = structuredClone(aSpec('team', 'web'));
        await store.putService(spec, NOW);
        (spec.spec as { replicas: number }).replicas = 99;
        const task = structuredClone(aTask('team', 'web', 0));
        await store.putTask(task, undefined);
        (task as { desired: string }).desired = 'shutdown';
        const host = await store.registerHost(hostInput('h1'), NOW);
        const allocations = { t1: anAllocation({ id: 't1', namespace: 'team', service: 'web', slot: 0 }) };
        await store.updateAllocations(host, allocations);
        (allocations.t1.hostPorts as number[]).push(9999);
        const status = aStatus('h1');
        await store.putHostStatus(status);
        (status.tasks as unknown[]).length = 0;
        expect((await store.getService('team', 'web'))?.spec.spec.replicas).toBe(2);
        expect((await store.listTasks('team', 'web'))[0].desired).toBe('running');
        expect((await store.getHost('h1'))?.allocations.t1.hostPorts).toEqual([8080]);
        expect((await store.getHostStatus('h1'))?.tasks).toHaveLength(2);
      });

      it('drops fields set to undefined instead of storing them', async () => {
        const store = await makeStore();
        await store.putService(aSpec('team', 'web'), NOW);
        await store.putTask(aTask('team', 'web', 0, { host: undefined, reason: undefined }), undefined);
        const [task] = await store.listTasks('team', 'web');
        expect(Object.keys(task)).not.toContain('host');
        expect(Object.keys(task)).not.toContain('reason');
      });
    });

    describe('more of services, tasks and hosts', () => {
      it('applies concurrent unversioned specs one after the other: each is a version, none is lost to a race', async () => {
        const store = await makeStore();
        const { won } = await race([1, 2, 3].map((replicas) => () => store.putService(aSpec('team', 'web', { replicas }), NOW)));
        expect(won).toBe(3);
        expect((await store.getService('team', 'web'))?.specVersion).toBe(3);
      });

      it('lets a host register concurrently with itself (an agent restarting): one host, version 1', async () => {
        const store = await makeStore();
        const { won } = await race([1, 2, 3].map((i) => () => store.registerHost(hostInput('h1', i), NOW)));
        expect(won).toBe(3);
        expect(await store.listHosts()).toEqual([expect.objectContaining({ id: 'h1', version: 1, state: 'ready' })]);
      });

      it('refuses a versioned replace of a deleting service as being deleted', async () => {
        const store = await makeStore();
        await store.putService(aSpec('team', 'web'), NOW);
        await store.markServiceDeleting('team', 'web', NOW);
        await expect(store.putService(aSpec('team', 'web', { replicas: 4 }), LATER, 1)).rejects.toThrow(/service team\/web is being deleted/);
        await expect(store.putService(aSpec('team', 'web', { replicas: 4 }), LATER, 0)).rejects.toBeInstanceOf(ConflictError);
      });

      it('replaces a slot of a deleting service (a replacement needs no live service), but creates none', async () => {
        const store = await makeStore();
        await store.putService(aSpec('team', 'web'), NOW);
        await store.putTask(aTask('team', 'web', 0), undefined);
        await store.markServiceDeleting('team', 'web', LATER);
        await store.putTask(aTask('team', 'web', 0, { incarnation: 2, desired: 'shutdown' }), 1);
        await expect(store.putTask(aTask('team', 'web', 1), undefined)).rejects.toThrow(/service team\/web is being deleted; task web-1-1 not created/);
        expect((await store.listTasks('team', 'web')).map((t) => [t.slot, t.incarnation])).toEqual([[0, 2]]);
      });

      it('assigns a task again once it was unassigned, and keeps it off a stopped task', async () => {
        const store = await makeStore();
        await store.putService(aSpec('team', 'web'), NOW);
        await store.putTask(aTask('team', 'web', 0), undefined);
        await store.assignTask('team', 'web', 0, 'web-0-1', 'h1');
        await store.unassignTask('team', 'web', 0, 'web-0-1', 'h1');
        await store.assignTask('team', 'web', 0, 'web-0-1', 'h2');
        expect((await store.listTasks('team', 'web'))[0].host).toBe('h2');
        await store.unassignTask('team', 'web', 0, 'web-0-1', 'h2');
        await store.setTaskDesired('team', 'web', 0, 'web-0-1', 'shutdown');
        await expect(store.assignTask('team', 'web', 0, 'web-0-1', 'h1')).rejects.toThrow(
          /task slot team\/web#0 is not an unassigned running task web-0-1 any more/,
        );
      });

      it("returns the stored host from updateAllocations, not the caller's copy of it", async () => {
        const store = await makeStore();
        const host = await store.registerHost(hostInput('h1'), NOW);
        // Same capacity: the identity refresh keeps the version, so `host` may still commit.
        await store.registerHost({ ...hostInput('h1', 7), labels: { zone: 'b' } }, LATER);
        const next = await store.updateAllocations(host, {});
        expect(next).toMatchObject({ address: '127.0.1.7', labels: { zone: 'b' }, version: 2 });
        expect(await store.getHost('h1')).toEqual(next);
      });

      it('drops the reports of a host it refuses to forget (they are gone either way)', async () => {
        const store = await makeStore();
        await store.registerHost(hostInput('h1'), NOW);
        await store.setHostState('h1', 'down', LATER);
        const down = (await store.getHost('h1'))!;
        await store.setHostState('h1', 'ready', LATER);
        await store.putHostStatus(aStatus('h1'));
        await store.setPublished('h1', 0, { generation: 1, hash: 'x' });
        await expect(store.forgetHost(down)).rejects.toThrow(/host h1 changed since version 2; not forgotten/);
        expect(await store.getHost('h1')).toMatchObject({ state: 'ready', version: 3 });
        expect(await store.getHostStatus('h1')).toBeUndefined();
        expect(await store.getPublished('h1')).toBeUndefined();
      });
    });

    describe('more of reports, publications, events and the checkpoint', () => {
      it('merges heartbeat and report by time whatever the order they were written in', async () => {
        const store = await makeStore();
        await store.putHeartbeat('h1', LATER);
        await store.putHostStatus(aStatus('h1', { heartbeatAt: NOW, generation: 9 }));
        expect(await store.getHostStatus('h1')).toEqual(aStatus('h1', { heartbeatAt: LATER, generation: 9 }));
        await store.putHeartbeat('h1', NOW);
        expect((await store.listHostStatuses())[0].heartbeatAt).toBe(NOW);
      });

      it('lists host statuses sorted by host id', async () => {
        const store = await makeStore();
        for (const id of ['h3', 'h10', 'h1']) await store.putHostStatus(aStatus(id));
        expect((await store.listHostStatuses()).map((s) => s.hostId)).toEqual(['h1', 'h10', 'h3']);
      });

      it('refuses a publication whose generation does not grow, before looking at the store', async () => {
        const store = await makeStore();
        const err = await store.setPublished('h1', 2, { generation: 2, hash: 'x' }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(SkiffError);
        expect(err).not.toBeInstanceOf(ConflictError);
        expect((err as Error).message).toMatch(/generation 2 must be greater than 2/);
        expect(await store.getPublished('h1')).toBeUndefined();
      });

      it('refuses a replacement whose incarnation does not grow, as a plain error and not a conflict', async () => {
        const store = await makeStore();
        const err = await store.putTask(aTask('team', 'web', 0, { incarnation: 1 }), 1).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(SkiffError);
        expect(err).not.toBeInstanceOf(ConflictError);
      });

      const at = (second: number) => `2025-01-01T00:00:${String(second).padStart(2, '0')}.000Z`;
      const event = (second: number, id: string, host?: string) => ({ id, at: at(second), type: 'task.started', message: id, ...(host ? { host } : {}) });

      it('keeps the newest events that match the filter, oldest first, up to the limit', async () => {
        const store = await makeStore();
        await store.putEvents([event(1, 'a', 'h1'), event(2, 'b', 'h2'), event(3, 'c', 'h1'), event(4, 'd', 'h2'), event(5, 'e', 'h1')]);
        expect((await store.listEvents({ host: 'h1', limit: 2 })).map((e) => e.id)).toEqual(['c', 'e']);
        expect((await store.listEvents({ host: 'h2' })).map((e) => e.id)).toEqual(['b', 'd']);
        expect(await store.listEvents({ host: 'h9' })).toEqual([]);
        expect(await store.listEvents({ limit: 0 })).toEqual([]);
      });

      it("finds a filter's few events among many newer others, by service, namespace and host together or alone", async () => {
        const store = await makeStore();
        const noise = Array.from({ length: 400 }, (_, i) => ({
          id: `n${i}`,
          at: new Date(Date.parse(NOW) + (i + 10) * 1000).toISOString(),
          type: 't',
          message: 'm',
          namespace: 'default',
          service: 'busy',
          host: 'h2',
        }));
        await store.putEvents([
          { id: 'x', at: NOW, type: 't', message: 'm', namespace: 'default', service: 'web', host: 'h1' },
          { id: 'y', at: new Date(Date.parse(NOW) + 1000).toISOString(), type: 't', message: 'm', namespace: 'other', service: 'web', host: 'h1' },
          ...noise,
        ]);
        expect((await store.listEvents({ service: 'web' })).map((e) => e.id)).toEqual(['x', 'y']);
        expect((await store.listEvents({ service: 'web', namespace: 'other' })).map((e) => e.id)).toEqual(['y']);
        expect((await store.listEvents({ namespace: 'other' })).map((e) => e.id)).toEqual(['y']);
        expect((await store.listEvents({ host: 'h1', limit: 1 })).map((e) => e.id)).toEqual(['y']);
        expect((await store.listEvents({ host: 'h2', service: 'web' })).map((e) => e.id)).toEqual([]);
        expect(await store.listEvents({ host: 'h2', limit: 3 })).toHaveLength(3);
      });

      it('pages back in time with `before` (an event key, `<at>#<id>`): the newest events older than it', async () => {
        const store = await makeStore();
        await store.putEvents([event(1, 'a', 'h1'), event(2, 'b', 'h2'), event(3, 'c', 'h1'), event(4, 'd', 'h1'), event(5, 'e', 'h1')]);
        expect((await store.listEvents({ host: 'h1', limit: 2, before: `${at(5)}#e` })).map((e) => e.id)).toEqual(['c', 'd']);
        expect((await store.listEvents({ host: 'h1', limit: 2, before: `${at(3)}#c` })).map((e) => e.id)).toEqual(['a']);
        expect((await store.listEvents({ limit: 10, before: `${at(2)}#b` })).map((e) => e.id)).toEqual(['a']);
        expect(await store.listEvents({ before: `${at(1)}#a` })).toEqual([]);
      });

      it("prunes an event from every filter's view", async () => {
        const store = await makeStore();
        await store.putEvents([event(1, 'a', 'h1'), { ...event(2, 'b', 'h1'), namespace: 'default', service: 'web' }, event(9, 'c', 'h1')]);
        expect(await store.pruneEvents(at(5), 10)).toBe(2);
        expect((await store.listEvents({ host: 'h1' })).map((e) => e.id)).toEqual(['c']);
        expect(await store.listEvents({ service: 'web' })).toEqual([]);
        expect(await store.listEvents({ namespace: 'default' })).toEqual([]);
      });

      it('keys events by time and id: the same id at another time is another event', async () => {
        const store = await makeStore();
        await store.putEvents([event(1, 'a'), event(1, 'a'), event(2, 'a')]);
        expect((await store.listEvents({})).map((e) => e.at)).toEqual([at(1), at(2)]);
      });

      it('returns at most 200 events unless told otherwise, the newest', async () => {
        const store = await makeStore();
        const many = Array.from({ length: 210 }, (_, i) => ({
          id: `e${String(i).padStart(3, '0')}`,
          at: new Date(Date.parse(NOW) + i * 1000).toISOString(),
          type: 't',
          message: 'm',
        }));
        await store.putEvents(many);
        const listed = await store.listEvents({});
        expect(listed).toHaveLength(200);
        expect([listed[0].id, listed[199].id]).toEqual(['e010', 'e209']);
      });

      it('prunes the oldest events first, at most `max` of them', async () => {
        const store = await makeStore();
        await store.putEvents([event(1, 'a'), event(2, 'b'), event(3, 'c'), event(9, 'd')]);
        expect(await store.pruneEvents(at(5), 2)).toBe(2);
        expect((await store.listEvents({})).map((e) => e.id)).toEqual(['c', 'd']);
        expect(await store.pruneEvents(at(5), 10)).toBe(1);
        expect(await store.pruneEvents(at(5), 10)).toBe(0);
        expect((await store.listEvents({})).map((e) => e.id)).toEqual(['d']);
      });

      it('replaces the health checkpoint on every write', async () => {
        const store = await makeStore();
        await store.putHealthCheckpoint({ lastRunAt: 5, resumedAt: 3 });
        await store.putHealthCheckpoint({ lastRunAt: 9, resumedAt: 3 });
        expect(await store.getHealthCheckpoint()).toEqual({ lastRunAt: 9, resumedAt: 3 });
      });
    });
  });
}
