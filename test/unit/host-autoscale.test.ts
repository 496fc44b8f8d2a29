import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { estimateHosts, lacksCapacity, planHostScaling, utilization, type GroupState, type HostScalingInput } from '../../core/host-autoscale.ts';
import type { PlacementRequest } from '../../core/scheduler.ts';
import type { Host, Task } from '../../core/types.ts';
import { taskView } from '../../core/views.ts';
import { TaskItemSchema } from '../../core/items.ts';
import { aHost, anAllocation, aService, aTask, MiB } from '../builders.ts';

const template = { capacity: { cpu: 4000, memory: 8192 * MiB }, labels: {} };

function req(id: string, over: Partial<PlacementRequest> = {}): PlacementRequest {
  return {
    taskId: id,
    namespace: 'default',
    service: 'web',
    slot: 1,
    resources: { cpu: 1000, memory: 32 * MiB },
    hostPorts: [],
    constraints: [],
    strategy: 'spread',
    ...over,
  };
}

const reqs = (n: number, over: Partial<PlacementRequest> = {}) => Array.from({ length: n }, (_, i) => req(`t${i}`, over));

describe('estimateHosts', () => {
  it.each([
    { what: 'one task of a quarter host', requests: reqs(1), upcoming: 0, limit: 10, newHosts: 1 },
    { what: 'four quarter-host tasks fill one host', requests: reqs(4), upcoming: 0, limit: 10, newHosts: 1 },
    { what: 'five quarter-host tasks need two', requests: reqs(5), upcoming: 0, limit: 10, newHosts: 2 },
    { what: 'nine quarter-host tasks need three', requests: reqs(9), upcoming: 0, limit: 10, newHosts: 3 },
    { what: 'an upcoming host takes the first four', requests: reqs(5), upcoming: 1, limit: 10, newHosts: 1 },
    { what: 'upcoming hosts that take everything ask for nothing more', requests: reqs(8), upcoming: 2, limit: 10, newHosts: 0 },
    { what: 'memory binds before cpu', requests: reqs(3, { resources: { cpu: 100, memory: 3000 * MiB } }), upcoming: 0, limit: 10, newHosts: 2 },
    {
      what: 'one fixed host port per host',
      requests: reqs(3, { resources: { cpu: 10, memory: MiB }, hostPorts: [8080] }),
      upcoming: 0,
      limit: 10,
      newHosts: 3,
    },
  ])('$what: $newHosts new host(s)', ({ requests, upcoming, limit, newHosts }) => {
    const e = estimateHosts({ requests, template, upcoming, limit, seed: 's' });
    expect(e.newHosts).toBe(newHosts);
    expect(e.helped).toHaveLength(requests.length);
    expect(e.tooBig).toEqual([]);
    expect(e.capped).toEqual([]);
  });

  it('packs big requests first, so small ones fill the gaps', () => {
    // 3000 + 1000 on one host, 3000 + 1000 on another: two hosts, where arrival order would need three.
    const requests = [req('s1'), req('s2'), req('b1', { resources: { cpu: 3000, memory: MiB } }), req('b2', { resources: { cpu: 3000, memory: MiB } })];
    expect(estimateHosts({ requests, template, upcoming: 0, limit: 10, seed: 's' }).newHosts).toBe(2);
  });

  it('caps new hosts at the limit and says which tasks are left', () => {
    const e = estimateHosts({ requests: reqs(9), template, upcoming: 0, limit: 1, seed: 's' });
    expect(e.newHosts).toBe(1);
    expect(e.helped).toHaveLength(4);
    expect(e.capped).toHaveLength(5);
  });

  it('does not count a task that would not fit even an empty host, and says why', () => {
    const e = estimateHosts({
      requests: [req('huge', { resources: { cpu: 8000, memory: MiB } }), req('ok')],
      template,
      upcoming: 0,
      limit: 10,
      seed: 's',
    });
    expect(e.newHosts).toBe(1);
    expect(e.helped).toEqual(['ok']);
    expect(e.tooBig).toEqual([{ taskId: 'huge', reason: "an empty host of the group's shape would not fit it (insufficient cpu)" }]);
  });

  it("checks constraints against the shape's labels", () => {
    const e = estimateHosts({
      requests: [req('a', { constraints: ['zone == b'] })],
      template: { ...template, labels: { zone: 'a' } },
      upcoming: 0,
      limit: 10,
      seed: 's',
    });
    expect(e.newHosts).toBe(0);
    expect(e.tooBig[0].reason).toContain('constraint zone == b');
  });
});

describe('lacksCapacity', () => {
  it.each([
    [{ 'insufficient cpu': 2 }, 1, true],
    [{ 'insufficient memory': 1 }, 1, true],
    [{ 'host port 80 in use': 1 }, 1, true],
    [{ 'host not ready': 1 }, 1, false],
    [{ 'no routed container subnet yet': 1 }, 1, false],
    [{ 'constraint zone == a': 1 }, 1, false],
    [{}, 0, true],
  ])('%o of %i host(s): %s', (rejected, hosts, expected) => {
    expect(lacksCapacity({ at: 'x', message: 'm', rejected, hosts })).toBe(expected);
  });
});

// -----------------------------------------------------------------------------------------------

const NOW = '2026-01-01T01:00:00.000Z';
const web = aService({ cpu: 1000, memory: 32 * MiB, replicas: 6 });

function group(over: Partial<GroupState> & { ids?: string[]; protectedIds?: string[] } = {}): GroupState {
  const { ids = ['h1'], protectedIds = [], ...rest } = over;
  return {
    name: 'hosts',
    min: 1,
    max: 3,
    desired: ids.length,
    instances: ids.map((id) => ({ id, lifecycle: 'InService', protectedFromScaleIn: protectedIds.includes(id) })),
    ...rest,
  };
}

const full = (id: string, n = 4): Host =>
  aHost({
    id,
    allocations: Object.fromEntries(
      Array.from({ length: n }, (_, i) => [`${id}-a${i}`, anAllocation(`${id}-a${i}`, { resources: { cpu: 1000, memory: 32 * MiB } })]),
    ),
  });

function pendingTask(slot: number, rejected: Record<string, number> = { 'insufficient cpu': 1 }): Task {
  return aTask(web, slot, { id: `web-${slot}`, unplaceable: { at: NOW, message: '0 of 1 host fit: 1 insufficient cpu', rejected, hosts: 1 } });
}

function input(over: Partial<HostScalingInput>): HostScalingInput {
  return {
    group: group(),
    hosts: [full('h1')],
    tasks: [],
    services: [web],
    drainedByAutoscaler: new Set(),
    unneededSince: new Map(),
    policy: { utilizationThreshold: 0.5, unneededMs: 60_000 },
    now: NOW,
    seed: 's',
    ...over,
  };
}

describe('planHostScaling: scale out', () => {
  it('raises the desired capacity by the hosts the pending tasks need, and notes it on each task', () => {
    const plan = planHostScaling(input({ tasks: [pendingTask(4), pendingTask(5)] }));
    expect(plan.action).toMatchObject({ kind: 'scale-out', desired: 2, added: 1 });
    expect(plan.waiting).toEqual([
      { taskId: 'web-4', note: 'waiting for a new host (1 requested)' },
      { taskId: 'web-5', note: 'waiting for a new host (1 requested)' },
    ]);
  });

  it('does not ask again while the requested hosts are still coming', () => {
    const plan = planHostScaling(input({ group: group({ desired: 2 }), tasks: [pendingTask(4), pendingTask(5)] }));
    expect(plan.upcoming).toBe(1);
    expect(plan.action.kind).toBe('none');
    expect(plan.waiting.map((w) => w.note)).toEqual(['waiting for a new host (1 requested)', 'waiting for a new host (1 requested)']);
  });

  it('asks only for the hosts beyond those coming', () => {
    const tasks = Array.from({ length: 6 }, (_, i) => pendingTask(10 + i));
    const plan = planHostScaling(input({ group: group({ desired: 2 }), tasks }));
    expect(plan.action).toMatchObject({ kind: 'scale-out', desired: 3, added: 1 });
  });

  it('never goes beyond the max', () => {
    const tasks = Array.from({ length: 20 }, (_, i) => pendingTask(10 + i));
    const plan = planHostScaling(input({ tasks }));
    expect(plan.action).toMatchObject({ kind: 'scale-out', desired: 3, added: 2 });
    expect(plan.capped).toHaveLength(12);
    const atMax = planHostScaling(input({ group: group({ ids: ['h1', 'h2', 'h3'] }), hosts: [full('h1'), full('h2'), full('h3')], tasks }));
    expect(atMax.action).toMatchObject({ kind: 'none', reason: expect.stringContaining('at its max of 3') });
  });

  it('ignores tasks pending for reasons a new host does not cure', () => {
    const plan = planHostScaling(input({ tasks: [pendingTask(4, { 'host not ready': 1 })] }));
    expect(plan.action.kind).not.toBe('scale-out');
  });

  it('reports tasks too big for any host and asks nothing for them', () => {
    const huge = aService({ name: 'huge', cpu: 16_000 });
    const task = aTask(huge, 0, { id: 'huge-0', unplaceable: { at: NOW, message: 'm', rejected: { 'insufficient cpu': 1 }, hosts: 1 } });
    const plan = planHostScaling(input({ services: [web, huge], tasks: [task] }));
    expect(plan.action.kind).toBe('none');
    expect(plan.tooBig).toEqual([{ taskId: 'huge-0', reason: "an empty host of the group's shape would not fit it (insufficient cpu)" }]);
  });

  it('copies the shape of a registered host of the group, else takes the fallback', () => {
    const noHosts = input({
      group: group({ ids: [], desired: 0, min: 0 }),
      hosts: [],
      tasks: [aTask(web, 0, { unplaceable: { at: NOW, message: 'no hosts registered', rejected: {}, hosts: 0 } })],
    });
    expect(planHostScaling(noHosts).action).toMatchObject({ kind: 'none', reason: expect.stringContaining('no host of group hosts is registered') });
    expect(planHostScaling({ ...noHosts, fallbackTemplate: template }).action).toMatchObject({ kind: 'scale-out', desired: 1 });
  });
});

describe('planHostScaling: an instance that never registers', () => {
  const later = (ms: number) => new Date(Date.parse(NOW) + ms).toISOString();
  const launching = group({ ids: ['h1', 'i-new'] });

  it('counts it as coming until the timeout, then terminates it, and a new run asks for a host again', () => {
    const tasks = [pendingTask(4), pendingTask(5)];
    const first = planHostScaling(input({ group: launching, tasks }));
    expect(first.upcoming).toBe(1);
    expect(first.action.kind).toBe('none');
    expect([...first.unregisteredSince]).toEqual([['i-new', NOW]]);
    // Still within the 10 minutes: waited for, never asked again.
    const waiting = planHostScaling(input({ group: launching, tasks, unregisteredSince: first.unregisteredSince, now: later(9 * 60_000) }));
    expect(waiting.action.kind).toBe('none');
    expect(waiting.unregisteredSince.get('i-new')).toBe(NOW);
    const timedOut = planHostScaling(input({ group: launching, tasks, unregisteredSince: first.unregisteredSince, now: later(10 * 60_000) }));
    expect(timedOut.action).toEqual({
      kind: 'terminate',
      host: 'i-new',
      reason: 'instance i-new has not registered as a host for 600 s (it failed to boot, or its agent cannot reach the control plane)',
    });
    // Once it is gone from the group, the tasks ask for a host again, and it is forgotten.
    const after = planHostScaling(input({ tasks, unregisteredSince: timedOut.unregisteredSince, now: later(11 * 60_000) }));
    expect(after.action).toMatchObject({ kind: 'scale-out', desired: 2 });
    expect(after.unregisteredSince.size).toBe(0);
  });

  it('forgets an instance once it registers, and keeps one at the min of the group', () => {
    const registered = planHostScaling(
      input({ group: launching, hosts: [full('h1'), aHost({ id: 'i-new' })], unregisteredSince: new Map([['i-new', NOW]]), now: later(20 * 60_000) }),
    );
    expect(registered.unregisteredSince.size).toBe(0);
    expect(registered.action.kind).not.toBe('terminate');
    const atMin = planHostScaling(
      input({
        group: { ...launching, min: 2 },
        unregisteredSince: new Map([['i-new', NOW]]),
        now: later(20 * 60_000),
        policy: { utilizationThreshold: 0.5, unneededMs: 60_000, registerTimeoutMs: 60_000 },
      }),
    );
    expect(atMin.action.kind).not.toBe('terminate');
  });
});

describe('planHostScaling: scale in', () => {
  const idle = aHost({ id: 'h2' });
  const twoHosts = { group: group({ ids: ['h1', 'h2'] }), hosts: [full('h1', 2), idle] };

  it('starts counting when a host becomes unneeded, and drains it once unneeded for the configured time', () => {
    const first = planHostScaling(input(twoHosts));
    expect(first.action.kind).toBe('none');
    expect(first.unneededSince.get('h2')).toBe(NOW);
    const later = new Date(Date.parse(NOW) + 60_000).toISOString();
    const second = planHostScaling(input({ ...twoHosts, unneededSince: first.unneededSince, now: later }));
    expect(second.action).toMatchObject({ kind: 'drain', host: 'h2' });
  });

  it('prefers the least used of the unneeded hosts', () => {
    const plan = planHostScaling(
      input({
        ...twoHosts,
        unneededSince: new Map([
          ['h1', '2026-01-01T00:00:00.000Z'],
          ['h2', '2026-01-01T00:00:00.000Z'],
        ]),
      }),
    );
    expect(plan.action).toMatchObject({ kind: 'drain', host: 'h2' });
  });

  it('removes the newest of equally used hosts first', () => {
    const hosts = [
      aHost({ id: 'h1' }),
      aHost({ id: 'h2', registeredAt: '2026-01-01T00:30:00.000Z' }),
      aHost({ id: 'h3', registeredAt: '2026-01-01T00:10:00.000Z' }),
    ];
    const old = '2026-01-01T00:00:00.000Z';
    const plan = planHostScaling(
      input({
        group: group({ ids: ['h1', 'h2', 'h3'] }),
        hosts,
        unneededSince: new Map([
          ['h1', old],
          ['h2', old],
          ['h3', old],
        ]),
      }),
    );
    expect(plan.action).toMatchObject({ kind: 'drain', host: 'h2' });
  });

  it('keeps a host whose tasks would not fit elsewhere', () => {
    const hosts = [full('h1', 3), aHost({ id: 'h2', allocations: { x: anAllocation('x', { resources: { cpu: 1500, memory: MiB } }) } })];
    const plan = planHostScaling(input({ group: group({ ids: ['h1', 'h2'] }), hosts, unneededSince: new Map([['h2', '2026-01-01T00:00:00.000Z']]) }));
    expect(plan.action.kind).toBe('none');
    expect(plan.unneededSince.has('h2')).toBe(false);
  });

  it('keeps a host above the utilization threshold', () => {
    const hosts = [aHost({ id: 'h1' }), full('h2', 3)];
    const plan = planHostScaling(input({ group: group({ ids: ['h1', 'h2'] }), hosts, unneededSince: new Map([['h2', '2026-01-01T00:00:00.000Z']]) }));
    expect(utilization(hosts[1])).toBe(0.75);
    expect(plan.unneededSince.has('h2')).toBe(false);
  });

  it('never scales in below the min', () => {
    const plan = planHostScaling(
      input({ ...twoHosts, group: group({ ids: ['h1', 'h2'], min: 2 }), unneededSince: new Map([['h2', '2026-01-01T00:00:00.000Z']]) }),
    );
    expect(plan.action).toMatchObject({ kind: 'none', reason: expect.stringContaining('min of 2') });
  });

  it('never drains a second host while one is draining', () => {
    const hosts = [full('h1', 1), aHost({ id: 'h2', state: 'draining', allocations: { x: anAllocation('x') } }), aHost({ id: 'h3' })];
    const plan = planHostScaling(
      input({
        group: group({ ids: ['h1', 'h2', 'h3'] }),
        hosts,
        unneededSince: new Map([['h3', '2026-01-01T00:00:00.000Z']]),
        drainedByAutoscaler: new Set(['h2']),
      }),
    );
    expect(plan.action).toMatchObject({ kind: 'none', reason: 'a host is draining: one scale-in at a time' });
  });

  it('does not scale in while pending tasks wait for capacity or hosts are coming', () => {
    const old = new Map([['h2', '2026-01-01T00:00:00.000Z']]);
    expect(planHostScaling(input({ ...twoHosts, unneededSince: old, tasks: [pendingTask(9, { 'host port 80 in use': 2 })] })).action.kind).not.toBe('drain');
    expect(planHostScaling(input({ ...twoHosts, group: group({ ids: ['h1', 'h2'], desired: 3 }), unneededSince: old })).action.kind).toBe('none');
  });

  it('terminates a host it drained once it is empty, and leaves a person-drained one alone', () => {
    const hosts = [full('h1', 1), aHost({ id: 'h2', state: 'draining' })];
    const g = group({ ids: ['h1', 'h2'] });
    expect(planHostScaling(input({ group: g, hosts, drainedByAutoscaler: new Set(['h2']) })).action).toMatchObject({ kind: 'terminate', host: 'h2' });
    expect(planHostScaling(input({ group: g, hosts })).action.kind).toBe('none');
  });

  it('calls a scale-in off when tasks wait for capacity while its host drains', () => {
    const hosts = [full('h1'), aHost({ id: 'h2', state: 'draining', allocations: { x: anAllocation('x') } })];
    const plan = planHostScaling(input({ group: group({ ids: ['h1', 'h2'] }), hosts, tasks: [pendingTask(7)], drainedByAutoscaler: new Set(['h2']) }));
    expect(plan.action).toMatchObject({ kind: 'uncordon', host: 'h2', reason: '1 pending task(s) need capacity: the scale-in is called off' });
  });

  it('takes a drained host back rather than go below the min', () => {
    const hosts = [full('h1', 1), aHost({ id: 'h2', state: 'draining' })];
    const plan = planHostScaling(input({ group: group({ ids: ['h1', 'h2'], min: 2 }), hosts, drainedByAutoscaler: new Set(['h2']) }));
    expect(plan.action).toMatchObject({ kind: 'uncordon', host: 'h2' });
  });
});

describe('planHostScaling: scale-in protection', () => {
  it('protects the hosts that hold tasks and unprotects the empty ones', () => {
    const plan = planHostScaling(
      input({ group: group({ ids: ['h1', 'h2', 'h3'], protectedIds: ['h2'] }), hosts: [full('h1', 1), aHost({ id: 'h2' }), aHost({ id: 'h3' })] }),
    );
    expect(plan.protect).toEqual(['h1']);
    expect(plan.unprotect).toEqual(['h2']);
  });
});

describe('the pending task message', () => {
  it("shows the scheduler's reason, then the host autoscaler's note", () => {
    const task = aTask(web, 0, {
      unplaceable: { at: NOW, message: '0 of 1 host fit: 1 insufficient cpu', rejected: {}, hosts: 1, waiting: 'waiting for a new host (2 requested)' },
    });
    expect(taskView(task, undefined, undefined).message).toBe('0 of 1 host fit: 1 insufficient cpu; waiting for a new host (2 requested)');
    // The stored item keeps the note (a schema without it would strip it on every read).
    expect(TaskItemSchema.parse(task).unplaceable?.waiting).toBe('waiting for a new host (2 requested)');
  });
});

describe('estimateHosts, for any requests that fit an empty host', () => {
  it('asks for no fewer hosts than the total CPU and memory need, and no more than one per task', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            cpu: fc.integer({ min: 1, max: 4000 }),
            memory: fc.integer({ min: 1, max: 8192 }),
            port: fc.option(fc.constantFrom(80, 443), { nil: undefined }),
          }),
          {
            minLength: 1,
            maxLength: 40,
          },
        ),
        (shapes) => {
          const requests = shapes.map((s, i) => req(`t${i}`, { resources: { cpu: s.cpu, memory: s.memory * MiB }, hostPorts: s.port ? [s.port] : [] }));
          const e = estimateHosts({ requests, template, upcoming: 0, limit: 1000, seed: 's' });
          expect(e.helped).toHaveLength(requests.length);
          const cpu = shapes.reduce((n, s) => n + s.cpu, 0);
          const memory = shapes.reduce((n, s) => n + s.memory, 0);
          const byPort = Math.max(0, ...[80, 443].map((p) => shapes.filter((s) => s.port === p).length));
          expect(e.newHosts).toBeGreaterThanOrEqual(Math.max(Math.ceil(cpu / 4000), Math.ceil(memory / 8192), byPort));
          expect(e.newHosts).toBeLessThanOrEqual(requests.length);
        },
      ),
      { numRuns: 200 },
    );
  });
});
