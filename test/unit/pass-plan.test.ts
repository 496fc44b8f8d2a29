/** The pure decisions of a scheduler pass (core/pass.ts), table-driven over small builders. */
import { describe, expect, it } from 'vitest';
import {
  claimsByHost,
  drainedBy,
  freshAgentEvents,
  hostsToForget,
  hostsWithoutSubnet,
  planDocument,
  planHostWrite,
  planPlacement,
  planServices,
  tasksByService,
  type ClusterSnapshot,
} from '../../core/pass.ts';
import { allocationFor, assignments } from '../../core/allocations.ts';
import { describeRejection, REJECT } from '../../core/scheduler.ts';
import { rng } from '../../core/random.ts';
import type { ClusterEvent, Host, HostStatus, Task } from '../../core/types.ts';
import { aHost, anAllocation, aService, aTask } from '../builders.ts';

const now = '2026-01-01T00:00:00.000Z';
const web = aService({ name: 'web', replicas: 2, cpu: 100 });
const onH1 = aTask(web, 1, { id: 'web-1-a', host: 'h1' });
const pending = aTask(web, 2, { id: 'web-2-b' });

describe('planHostWrite', () => {
  const claimedOnH1 = aTask(web, 2, { id: 'web-2-b', host: 'h1' });
  // Two pods of 200 KiB: one fills more than half of a host document (HOST_DOCUMENT_BYTES, 384 KiB).
  const bigPod = { ...onH1.pod, containers: [{ ...onH1.pod.containers[0], env: { BIG: 'x'.repeat(200 * 1024) } }] };
  const bigOnH1 = { ...aTask(web, 1, { id: 'big-1-a', host: 'h1' }), pod: bigPod };
  const bigClaimed = { ...aTask(web, 2, { id: 'big-2-b', host: 'h1' }), pod: bigPod };
  const cases: {
    name: string;
    host: Host;
    tasks: Task[];
    placed?: string[];
    expect: { kind: 'unchanged' } | { kind: 'write'; allocations: string[]; added: number; rejected: string[] };
  }[] = [
    {
      name: 'leaves a host whose allocations match its tasks unchanged',
      host: aHost({ id: 'h1', allocations: { 'web-1-a': allocationFor(onH1) } }),
      tasks: [onH1],
      expect: { kind: 'unchanged' },
    },
    {
      name: 'drops an allocation whose task is gone',
      host: aHost({ id: 'h1', allocations: { 'web-1-a': allocationFor(onH1), 'old-1-x': anAllocation('old-1-x') } }),
      tasks: [onH1],
      expect: { kind: 'write', allocations: ['web-1-a'], added: 0, rejected: [] },
    },
    {
      name: 'drops an allocation whose task moved to another host',
      host: aHost({ id: 'h1', allocations: { 'web-1-a': allocationFor(onH1) } }),
      tasks: [{ ...onH1, host: 'h2' }],
      expect: { kind: 'write', allocations: [], added: 0, rejected: [] },
    },
    {
      name: 'adds the allocation of a task claimed for the host but never committed',
      host: aHost({ id: 'h1', allocations: { 'web-1-a': allocationFor(onH1) } }),
      tasks: [onH1, claimedOnH1],
      expect: { kind: 'write', allocations: ['web-1-a', 'web-2-b'], added: 1, rejected: [] },
    },
    {
      name: 'adds a placement of this pass once, even when it is also a missing claim',
      host: aHost({ id: 'h1' }),
      tasks: [claimedOnH1],
      placed: ['web-2-b'],
      expect: { kind: 'write', allocations: ['web-2-b'], added: 1, rejected: [] },
    },
    {
      name: 'rejects a placement that no longer fits the host as read',
      host: aHost({ id: 'h1', cpu: 150, allocations: { 'web-1-a': allocationFor(onH1) } }),
      tasks: [onH1, claimedOnH1],
      placed: ['web-2-b'],
      expect: { kind: 'write', allocations: ['web-1-a'], added: 0, rejected: ['web-2-b'] },
    },
    {
      name: 'rejects a placement that no longer fits the host document as read (an overlapping pass filled it)',
      host: aHost({ id: 'h1', allocations: { 'big-1-a': allocationFor(bigOnH1) } }),
      tasks: [bigOnH1, bigClaimed],
      placed: ['big-2-b'],
      expect: { kind: 'write', allocations: ['big-1-a'], added: 0, rejected: ['big-2-b'] },
    },
    {
      name: 'adds nothing to a host that is no longer ready, and rejects the claims',
      host: aHost({ id: 'h1', state: 'down', allocations: { 'web-1-a': allocationFor(onH1) } }),
      tasks: [onH1, claimedOnH1],
      placed: ['web-2-b'],
      expect: { kind: 'write', allocations: ['web-1-a'], added: 0, rejected: ['web-2-b'] },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const byId = new Map(c.tasks.map((t) => [t.id, t]));
      const placed = (c.placed ?? []).map((id) => allocationFor(byId.get(id)!));
      const write = planHostWrite(c.host, assignments(c.tasks), claimsByHost(c.tasks).get(c.host.id) ?? [], placed);
      if (c.expect.kind === 'unchanged') {
        expect(write).toEqual({ kind: 'unchanged' });
        return;
      }
      expect(write.kind).toBe('write');
      if (write.kind !== 'write') return;
      expect(Object.keys(write.allocations).sort()).toEqual(c.expect.allocations);
      expect(write.added).toBe(c.expect.added);
      expect(write.rejected.map((a) => a.taskId)).toEqual(c.expect.rejected);
    });
  }
});

describe('planPlacement', () => {
  const base = (hosts: Host[], tasks: Task[], extra: { unavailable?: Map<string, string> } = {}) =>
    planPlacement({
      services: [web],
      hosts,
      tasks: new Map(tasks.map((t) => [t.id, t])),
      live: assignments(tasks),
      claims: claimsByHost(tasks),
      seed: 's',
      ...extra,
    });

  const cases: {
    name: string;
    hosts: Host[];
    tasks: Task[];
    unavailable?: Map<string, string>;
    placed: Record<string, string>;
    failures: string[];
    newReasons: string[];
  }[] = [
    {
      name: 'places a pending task on the host that fits',
      hosts: [aHost({ id: 'h1' })],
      tasks: [pending],
      placed: { 'web-2-b': 'h1' },
      failures: [],
      newReasons: [],
    },
    { name: 'leaves a task with a host alone', hosts: [aHost({ id: 'h1' })], tasks: [onH1], placed: {}, failures: [], newReasons: [] },
    {
      name: 'counts a claimed but uncommitted task against its host',
      hosts: [aHost({ id: 'h1', cpu: 150 })],
      tasks: [onH1, pending],
      placed: {},
      failures: ['web-2-b'],
      newReasons: ['web-2-b'],
    },
    {
      name: 'does not count an allocation whose task is gone',
      hosts: [aHost({ id: 'h1', cpu: 150, allocations: { 'old-1-x': anAllocation('old-1-x') } })],
      tasks: [pending],
      placed: { 'web-2-b': 'h1' },
      failures: [],
      newReasons: [],
    },
    {
      name: 'writes no note when the reason is unchanged',
      hosts: [aHost({ id: 'h1', cpu: 50 })],
      tasks: [{ ...pending, unplaceable: { message: describeRejection(1, { [REJECT.cpu]: 1 }), hosts: 1, rejected: { [REJECT.cpu]: 1 }, at: now } }],
      placed: {},
      failures: ['web-2-b'],
      newReasons: [],
    },
    {
      name: 'places nothing on a host without a routed subnet',
      hosts: [aHost({ id: 'h1' }), aHost({ id: 'h2' })],
      tasks: [pending],
      unavailable: hostsWithoutSubnet([aHost({ id: 'h1' }), aHost({ id: 'h2' })], new Map([['h2', { subnet: '10.0.2.0/24', clusterCidr: '10.0.0.0/16' }]])),
      placed: { 'web-2-b': 'h2' },
      failures: [],
      newReasons: [],
    },
    {
      name: 'places nothing on a down host',
      hosts: [aHost({ id: 'h1', state: 'down' })],
      tasks: [pending],
      placed: {},
      failures: ['web-2-b'],
      newReasons: ['web-2-b'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const plan = base(c.hosts, c.tasks, c.unavailable ? { unavailable: c.unavailable } : {});
      expect(Object.fromEntries(plan.placements.map((p) => [p.taskId, p.hostId]))).toEqual(c.placed);
      expect(plan.failures.map((f) => f.taskId)).toEqual(c.failures);
      expect(plan.newReasons.map((f) => f.taskId)).toEqual(c.newReasons);
    });
  }

  it('is the same plan for the same seed', () => {
    const hosts = Array.from({ length: 8 }, (_, i) => aHost({ id: `h${i}` }));
    const tasks = Array.from({ length: 5 }, (_, i) => aTask(web, i + 1, { id: `web-${i + 1}-x` }));
    expect(base(hosts, tasks).placements).toEqual(base(hosts, tasks).placements);
  });
});

describe('planServices', () => {
  const snapshot = (over: Partial<ClusterSnapshot>): ClusterSnapshot => ({ services: [], hosts: [], statuses: [], tasks: [], ...over });
  const gone = aService({ name: 'gone', deleting: true });
  const report = (hostId: string, task: Task): HostStatus => ({
    hostId,
    heartbeatAt: now,
    generation: 1,
    agentVersion: 't',
    tasks: [{ taskId: task.id, namespace: task.namespace, service: task.service, state: 'running', ports: [], containers: [], since: now }],
  });

  const cases: { name: string; snapshot: ClusterSnapshot; removeService: boolean }[] = [
    { name: 'removes a deleting service that nothing holds', snapshot: snapshot({ services: [gone] }), removeService: true },
    {
      name: 'keeps a deleting service while a host still holds its allocation',
      snapshot: snapshot({ services: [gone], hosts: [aHost({ id: 'h1', allocations: { 'gone-1-a': anAllocation('gone-1-a', { service: 'gone' }) } })] }),
      removeService: false,
    },
    {
      name: 'keeps a deleting service while a host still reports its task',
      snapshot: snapshot({ services: [gone], statuses: [report('h1', aTask(gone, 1, { id: 'gone-1-a' }))] }),
      removeService: false,
    },
    { name: 'keeps a deleting service while it has tasks', snapshot: snapshot({ services: [gone], tasks: [aTask(gone, 1)] }), removeService: false },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(planServices(c.snapshot, now, rng('s'))[0].plan.removeService).toBe(c.removeService);
    });
  }

  it('plans every service in the snapshot order, and the same seed gives the same task ids', () => {
    const api = aService({ name: 'api', replicas: 1 });
    const s = snapshot({ services: [web, api], hosts: [aHost({ id: 'h1' })], tasks: [onH1] });
    const ids = (r: ReturnType<typeof planServices>) => r.flatMap((w) => w.plan.create.map((c) => c.task.id));
    const first = planServices(s, now, rng('seed'));
    expect(first.map((w) => w.service.name)).toEqual(['web', 'api']);
    expect(first[0].tasks).toEqual([onH1]);
    expect(ids(first)).toHaveLength(2);
    expect(ids(planServices(s, now, rng('seed')))).toEqual(ids(first));
    expect(ids(planServices(s, now, rng('other')))).not.toEqual(ids(first));
  });

  it('groups tasks by service in the order they were read', () => {
    const api = aService({ name: 'api' });
    const grouped = tasksByService([aTask(web, 2), aTask(api, 1), aTask(web, 1)]);
    expect([...grouped.keys()]).toEqual(['default/web', 'default/api']);
    expect(grouped.get('default/web')!.map((t) => t.slot)).toEqual([2, 1]);
  });
});

describe('freshAgentEvents', () => {
  const e = (at: string, id: string): ClusterEvent => ({ id, at, type: 'task.started', message: id });
  const cases: {
    name: string;
    statuses: { hostId: string; events?: ClusterEvent[] }[];
    copied: [string, string][];
    events: string[];
    marks: [string, string][];
  }[] = [
    {
      name: 'copies every event of a host seen for the first time',
      statuses: [{ hostId: 'h1', events: [e('t1', 'a'), e('t2', 'b')] }],
      copied: [],
      events: ['a', 'b'],
      marks: [['h1', 't2|b']],
    },
    {
      name: 'skips what was already copied',
      statuses: [{ hostId: 'h1', events: [e('t1', 'a'), e('t2', 'b')] }],
      copied: [['h1', 't1|a']],
      events: ['b'],
      marks: [['h1', 't2|b']],
    },
    {
      name: 'copies nothing and moves no mark when nothing is new',
      statuses: [{ hostId: 'h1', events: [e('t1', 'a')] }],
      copied: [['h1', 't1|a']],
      events: [],
      marks: [],
    },
    { name: 'reads a report without events', statuses: [{ hostId: 'h1' }], copied: [], events: [], marks: [] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = freshAgentEvents(c.statuses, new Map(c.copied));
      expect(r.events.map((x) => x.id)).toEqual(c.events);
      expect([...r.marks]).toEqual(c.marks);
    });
  }
});

describe('hosts to forget, drained hosts, documents', () => {
  const gone = new Set(['h1']);
  const cases: { name: string; host: Host; forget: boolean }[] = [
    { name: 'forgets a down, empty host whose machine is gone', host: aHost({ id: 'h1', state: 'down' }), forget: true },
    {
      name: 'keeps a gone host that still holds an allocation',
      host: aHost({ id: 'h1', state: 'down', allocations: { x: anAllocation('x') } }),
      forget: false,
    },
    { name: 'keeps a gone host that is not down', host: aHost({ id: 'h1', state: 'ready' }), forget: false },
    { name: 'keeps a down host whose machine is not known gone', host: aHost({ id: 'h2', state: 'down' }), forget: false },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(hostsToForget([c.host], gone).map((h) => h.id)).toEqual(c.forget ? [c.host.id] : []);
    });
  }

  it('calls a draining host drained when a write empties it, not when it was empty already', () => {
    const full = aHost({ state: 'draining', allocations: { x: anAllocation('x') } });
    const empty = aHost({ state: 'draining' });
    expect(drainedBy(full, empty)).toBe(true);
    expect(drainedBy(empty, empty)).toBe(false);
    expect(drainedBy({ ...full, state: 'ready' }, { ...empty, state: 'ready' })).toBe(false);
  });

  it('lists in a document only the allocations whose task points back at the host', () => {
    const host = aHost({ id: 'h1', allocations: { 'web-1-a': allocationFor(onH1), 'web-2-b': allocationFor(pending) } });
    const doc = planDocument(host, assignments([onH1, pending]));
    expect(doc.tasks.map((t) => t.id)).toEqual(['web-1-a']);
    expect(planDocument(host, assignments([onH1])).hash).toBe(doc.hash);
    expect(planDocument(host, assignments([onH1]), { subnet: '10.0.1.0/24', clusterCidr: '10.0.0.0/16' }).hash).not.toBe(doc.hash);
  });
});
