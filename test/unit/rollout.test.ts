import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { reconcileService } from '../../core/reconciler.ts';
import {
  addRevision,
  budgets,
  decideRollout,
  isAvailable,
  isReady,
  planRollout,
  replicaFailure,
  resolveBudget,
  templateOf,
  updatePolicy,
  withTemplate,
} from '../../core/rollout.ts';
import { parseServiceItem } from '../../core/items.ts';
import { desiredReplicas } from '../../core/replicas.ts';
import { rng } from '../../core/random.ts';
import type { Host, Service, Task, TaskStatus, UpdateSpec } from '../../core/types.ts';
import { aHost, aService, aTask } from '../builders.ts';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const at = (s: number) => new Date(T0 + s * 1000).toISOString();
const UPDATE: UpdateSpec = {
  maxSurge: '25%',
  maxUnavailable: 0,
  minReadySeconds: 0,
  progressDeadlineSeconds: 600,
  autoRollback: true,
  revisionHistoryLimit: 10,
};

function status(task: Pick<Task, 'id'>, over: Partial<TaskStatus> = {}): TaskStatus {
  return { taskId: task.id, namespace: 'default', service: 'web', state: 'running', ports: [], containers: [], since: at(0), ...over };
}

/** A service at `version`, whose template differs per version (an env value), with `update`. */
function versioned(version: number, replicas: number, update: Partial<UpdateSpec> = {}, bad = false): Service {
  const base = aService({ replicas, specVersion: version });
  const c = base.spec.spec.containers[0];
  const containers = [{ ...c, env: { VERSION: String(version), ...(bad ? { BAD: '1' } : {}) } }];
  return { ...base, spec: { ...base.spec, spec: { ...base.spec.spec, containers, update: { ...UPDATE, ...update } } } };
}

describe('budgets', () => {
  it.each<[UpdateSpec['maxSurge'], UpdateSpec['maxUnavailable'], number, { surge: number; unavailable: number }]>([
    ['25%', 0, 4, { surge: 1, unavailable: 0 }],
    ['25%', 0, 10, { surge: 3, unavailable: 0 }],
    ['25%', '25%', 10, { surge: 3, unavailable: 2 }],
    [2, 1, 10, { surge: 2, unavailable: 1 }],
    ['10%', '10%', 3, { surge: 1, unavailable: 0 }],
    ['0%', '10%', 3, { surge: 1, unavailable: 0 }],
  ])('surge %s, unavailable %s of %i replicas', (maxSurge, maxUnavailable, replicas, want) => {
    expect(budgets({ ...UPDATE, maxSurge, maxUnavailable }, replicas)).toEqual(want);
  });

  it('rounds a surge percentage up and an unavailability percentage down', () => {
    expect(resolveBudget('30%', 5, 'up')).toBe(2);
    expect(resolveBudget('30%', 5, 'down')).toBe(1);
  });

  it('gives specs stored before spec.update existed the defaults', () => {
    const s = aService();
    expect(updatePolicy(s.spec).maxSurge).toBe('25%');
  });
});

describe('isAvailable and replicaFailure', () => {
  const t = { id: 'web-1-aaaaa' };
  it('counts a replica only once it runs, passes its probe and has run minReadySeconds', () => {
    expect(isAvailable(status(t, { state: 'starting' }), 0, at(100))).toBe(false);
    expect(isAvailable(status(t, { health: 'starting' }), 0, at(100))).toBe(false);
    expect(isAvailable(status(t, { health: 'healthy' }), 0, at(0))).toBe(true);
    expect(isAvailable(status(t, { health: 'healthy', since: at(95) }), 10, at(100))).toBe(false);
    expect(isAvailable(status(t, { health: 'healthy', since: at(90) }), 10, at(100))).toBe(true);
  });

  it('says how a new replica failed', () => {
    expect(replicaFailure(status(t, { restarts: 1 }), at(1))).toBeUndefined();
    expect(replicaFailure(status(t, { restarts: 2, lastExitCode: 3 }), at(1))).toBe('crash-looping: restarted 2 times, last exit code 3');
    expect(replicaFailure(status(t, { restarts: 2, health: 'unhealthy', message: 'container app: probe failing' }), at(1))).toMatch(
      /^failing its probe: restarted 2 times/,
    );
    expect(replicaFailure(status(t, { state: 'failed', exitCode: 1 }), at(1))).toMatch(/^exited, last exit code 1/);
    // A probed pod replaced for its probe was removed, not exited: no exit code.
    expect(replicaFailure(status(t, { restarts: 2 }), at(1), true)).toBe('failing its probe: restarted 2 times');
  });

  it('takes a replica that restarted but has run a minute since as stable again', () => {
    expect(replicaFailure(status(t, { restarts: 5, since: at(0) }), at(61))).toBeUndefined();
    expect(replicaFailure(status(t, { restarts: 5, state: 'starting', since: at(0) }), at(61))).toMatch(/crash-looping/);
  });
});

describe('planRollout', () => {
  it('with surge only, replaces as many serving slots as the surge allows, keeping the old ones', () => {
    const outdated = [1, 2, 3, 4].map((slot) => ({ slot, available: true, hasPrevious: false }));
    expect(planRollout({ replicas: 4, update: UPDATE, outdated, serving: 4, existing: 4 })).toEqual({ surge: [1], unavailable: [] });
  });

  it('with unavailability only, takes out as many serving slots as allowed', () => {
    const outdated = [1, 2, 3, 4].map((slot) => ({ slot, available: true, hasPrevious: false }));
    const update = { ...UPDATE, maxSurge: 0, maxUnavailable: 2 };
    expect(planRollout({ replicas: 4, update, outdated, serving: 4, existing: 4 })).toEqual({ surge: [], unavailable: [1, 2] });
  });

  it('replaces slots that do not serve first, at once and for free', () => {
    const outdated = [
      { slot: 1, available: true, hasPrevious: false },
      { slot: 2, available: false, hasPrevious: false },
    ];
    expect(planRollout({ replicas: 2, update: UPDATE, outdated, serving: 1, existing: 2 })).toEqual({ surge: [1], unavailable: [2] });
  });

  it('waits while the surge is in use and nothing may be unavailable', () => {
    const outdated = [{ slot: 2, available: true, hasPrevious: false }];
    expect(planRollout({ replicas: 2, update: UPDATE, outdated, serving: 2, existing: 3 })).toEqual({ surge: [], unavailable: [] });
  });
});

describe('reconcileService during a rollout', () => {
  const hosts = new Map([['h1', aHost({ id: 'h1' })]]);
  const healthy = (t: Task) => status(t, { health: 'healthy' });

  it('starts a new replica beside the old one, and stops the old one only once the new one is available', () => {
    const v1 = versioned(1, 2);
    const v2 = versioned(2, 2);
    const tasks = [aTask(v1, 1, { host: 'h1', id: 'web-1-old' }), aTask(v1, 2, { host: 'h1', id: 'web-2-old' })];
    const p = reconcileService({ service: v2, tasks, hosts, stillOnHosts: true, statusOf: healthy, now: at(10), random: rng('s') });
    expect(p.create).toHaveLength(1);
    expect(p.create[0].task.previous?.id).toBe('web-1-old');
    const next = { ...p.create[0].task, host: 'h1' };
    const starting = reconcileService({
      service: v2,
      tasks: [next, tasks[1]],
      hosts,
      stillOnHosts: true,
      statusOf: (t) => (t.id === next.id ? status(t, { health: 'starting' }) : healthy(t)),
      now: at(11),
      random: rng('s'),
    });
    expect(starting.create).toEqual([]);
    expect(starting.release).toEqual([]);
    const ready = reconcileService({ service: v2, tasks: [next, tasks[1]], hosts, stillOnHosts: true, statusOf: healthy, now: at(12), random: rng('s') });
    expect(ready.release).toEqual([next]);
    // The surge is freed in the same pass: the next slot goes.
    expect(ready.create.map((c) => c.task.slot)).toEqual([2]);
  });

  it('gives a slot back to the previous incarnation when the template returns to it (a rollback)', () => {
    const v1 = versioned(1, 1);
    const bad = versioned(2, 1, {}, true);
    const old = aTask(v1, 1, { host: 'h1', id: 'web-1-old' });
    const failing = aTask(bad, 1, { host: 'h1', id: 'web-1-bad', incarnation: 2, previous: { id: old.id, host: 'h1', specVersion: 1, pod: old.pod } });
    const reverted = { ...versioned(3, 1), spec: { ...v1.spec } } as Service;
    const p = reconcileService({ service: reverted, tasks: [failing], hosts, stillOnHosts: true, statusOf: healthy, now: at(10), random: rng('s') });
    expect(p.create).toHaveLength(1);
    expect(p.create[0].task).toMatchObject({ id: 'web-1-old', host: 'h1', incarnation: 3 });
    expect(p.create[0].task.previous).toBeUndefined();
  });

  it('replaces nothing more once the rollout failed without rollback', () => {
    const v1 = versioned(1, 2);
    const v2: Service = {
      ...versioned(2, 2, { autoRollback: false }),
      rollout: { specVersion: 2, phase: 'failed', startedAt: at(0), progressAt: at(0), updated: 0, revisions: [] },
    };
    const tasks = [aTask(v1, 1, { host: 'h1' }), aTask(v1, 2, { host: 'h1', id: 'web-2-x' })];
    expect(reconcileService({ service: v2, tasks, hosts, stillOnHosts: true, statusOf: healthy, now: at(10), random: rng('s') }).create).toEqual([]);
  });

  it('replaces every replica created before a restart, the spec unchanged', () => {
    const v1: Service = {
      ...versioned(1, 1),
      rollout: { specVersion: 1, phase: 'progressing', startedAt: at(5), progressAt: at(5), updated: 0, restartedAt: at(5), revisions: [] },
    };
    const p = reconcileService({
      service: v1,
      tasks: [aTask(v1, 1, { host: 'h1' })],
      hosts,
      stillOnHosts: true,
      statusOf: healthy,
      now: at(10),
      random: rng('s'),
    });
    expect(p.create[0]).toMatchObject({ reason: 'restarted', task: { previous: { id: 'web-1-aaaaa' } } });
  });
});

describe('decideRollout', () => {
  const v1 = versioned(1, 2);
  const healthy = (t: Pick<Task, 'id'>) => status(t, { health: 'healthy' });

  it('completes once every replica runs the template and is available, and records the revision', () => {
    const tasks = [aTask(v1, 1, { host: 'h1' }), aTask(v1, 2, { host: 'h1', id: 'web-2-b' })];
    const d = decideRollout(v1, { tasks, statusOf: healthy, replicas: 2, now: at(1) });
    expect(d.state).toMatchObject({ specVersion: 1, phase: 'complete', updated: 2 });
    expect(d.state?.revisions.map((r) => r.version)).toEqual([1]);
    expect(d.events.map((e) => e.type)).toEqual(['rollout.started', 'rollout.complete']);
  });

  it('rolls back to the last healthy revision when a new replica crash-loops, naming it', () => {
    const bad: Service = {
      ...versioned(2, 2, {}, true),
      rollout: {
        specVersion: 1,
        phase: 'complete',
        startedAt: at(0),
        progressAt: at(0),
        updated: 2,
        revisions: [{ version: 1, template: templateOf(v1.spec), at: at(0) }],
      },
    };
    const started = decideRollout(bad, { tasks: [], statusOf: () => undefined, replicas: 2, now: at(1) });
    expect(started.state).toMatchObject({ specVersion: 2, phase: 'progressing' });
    const withState = { ...bad, rollout: started.state! };
    const failing = aTask(bad, 1, { host: 'h1', id: 'web-1-new', createdAt: at(2) });
    const d = decideRollout(withState, { tasks: [failing], statusOf: (t) => status(t, { restarts: 2, lastExitCode: 1 }), replicas: 2, now: at(5) });
    expect(d.state).toMatchObject({ phase: 'rolledBack' });
    expect(d.revert?.spec.containers).toEqual(v1.spec.spec.containers);
    expect(d.revert?.spec.replicas).toBe(2);
    expect(d.events.map((e) => e.message).join('\n')).toContain('web-1-new on h1 crash-looping: restarted 2 times, last exit code 1');
    // The next version rolls back, and says so.
    const reverted: Service = { ...bad, spec: d.revert!, specVersion: 3, rollout: d.state! };
    expect(decideRollout(reverted, { tasks: [], statusOf: () => undefined, replicas: 2, now: at(6) }).state).toMatchObject({ specVersion: 3, rollbackOf: 2 });
  });

  it('records and puts back the whole pod: volumes, init containers and the grace period too, in a revision the item schema accepts', () => {
    const withPod = (version: number, mount: string, grace: number): Service => {
      const base = versioned(version, 1);
      const c = base.spec.spec.containers[0];
      const spec = {
        ...base.spec.spec,
        containers: [{ ...c, volumeMounts: [{ name: 'shared', mountPath: mount }] }],
        initContainers: [{ ...c, name: 'prepare', ports: [], volumeMounts: [{ name: 'shared', mountPath: '/prep' }] }],
        volumes: [{ name: 'shared', emptyDir: {} }],
        terminationGracePeriodSeconds: grace,
      };
      return { ...base, spec: { ...base.spec, spec } } as Service;
    };
    const v1 = withPod(1, '/data', 10);
    const v2 = withPod(2, '/other', 20);
    const done = decideRollout(v1, { tasks: [aTask(v1, 1, { host: 'h1' })], statusOf: healthy, replicas: 1, now: at(1) });
    expect(done.state?.revisions[0].template).toMatchObject({
      volumes: v1.spec.spec.volumes,
      initContainers: v1.spec.spec.initContainers,
      terminationGracePeriodSeconds: 10,
    });
    const item = { ...v2, rollout: done.state! };
    expect(parseServiceItem(item, { namespace: v2.namespace, name: v2.name })).toMatchObject({ ok: true });
    const reverted = withTemplate(v2.spec, done.state!.revisions[0].template);
    expect(reverted.spec).toMatchObject({ volumes: v1.spec.spec.volumes, initContainers: v1.spec.spec.initContainers, terminationGracePeriodSeconds: 10 });
    expect(reverted.spec.containers[0].volumeMounts).toEqual([{ name: 'shared', mountPath: '/data' }]);
    // A template without init containers puts back a pod without them.
    const { initContainers: _i, ...bare } = templateOf(v1.spec);
    expect(withTemplate(v2.spec, bare).spec.initContainers).toBeUndefined();
  });

  it('fails a rollout past its progress deadline', () => {
    const bad: Service = {
      ...versioned(2, 2, { progressDeadlineSeconds: 30, autoRollback: false }),
      rollout: { specVersion: 2, phase: 'progressing', startedAt: at(0), progressAt: at(0), updated: 0, revisions: [] },
    };
    expect(decideRollout(bad, { tasks: [], statusOf: () => undefined, replicas: 2, now: at(29) }).state).toBeUndefined();
    const d = decideRollout(bad, { tasks: [], statusOf: () => undefined, replicas: 2, now: at(31) });
    expect(d.state).toMatchObject({ phase: 'failed' });
    expect(d.state?.message).toMatch(/no new replica became available for 30s/);
  });

  it('keeps at most revisionHistoryLimit revisions, an equal template moving up', () => {
    const r = (version: number, env: string) => ({
      version,
      template: { ...templateOf(v1.spec), containers: [{ ...v1.spec.spec.containers[0], env: { V: env } }] },
      at: at(0),
    });
    const list = [r(1, 'a'), r(2, 'b'), r(3, 'c')];
    expect(addRevision(list, r(4, 'a'), 10).map((x) => x.version)).toEqual([2, 3, 4]);
    expect(addRevision(list, r(4, 'd'), 2).map((x) => x.version)).toEqual([3, 4]);
  });
});

// ---- properties: a small cluster model driven by random events ----

type Event =
  | { kind: 'healthy'; pick: number }
  | { kind: 'failed'; pick: number }
  | { kind: 'hostLost'; host: number }
  | { kind: 'drain'; host: number }
  | { kind: 'apply'; bad: boolean }
  | { kind: 'scale'; replicas: number }
  | { kind: 'tick' };

const eventArb: fc.Arbitrary<Event> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('healthy' as const), pick: fc.nat(50) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('failed' as const), pick: fc.nat(50) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('hostLost' as const), host: fc.nat(4) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('drain' as const), host: fc.nat(4) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('apply' as const), bad: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('scale' as const), replicas: fc.integer({ min: 1, max: 7 }) }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'tick' as const }) },
);

const updateArb: fc.Arbitrary<UpdateSpec> = fc
  .record({
    maxSurge: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.constantFrom('0%' as const, '25%' as const, '50%' as const)),
    maxUnavailable: fc.oneof(fc.integer({ min: 0, max: 2 }), fc.constantFrom('0%' as const, '25%' as const)),
  })
  .filter((u) => !((u.maxSurge === 0 || u.maxSurge === '0%') && (u.maxUnavailable === 0 || u.maxUnavailable === '0%')))
  .map((u) => ({ ...UPDATE, ...u, progressDeadlineSeconds: 300 }));

/** The cluster as the reconciler and the rollout see it, with the writes of a pass applied as the pass would. */
class Model {
  hosts = new Map<string, Host>(['h0', 'h1', 'h2', 'h3', 'h4'].map((id) => [id, aHost({ id })]));
  tasks = new Map<number, Task>();
  statuses = new Map<string, TaskStatus>();
  /** Templates (by VERSION env value) whose containers crash. */
  bad = new Set<string>();
  /** Replicas a `failed` event crashed, whatever their template. */
  crashed = new Set<string>();
  service: Service;
  time = 0;
  seq = 0;
  version = 1;
  drainedThisStep = false;

  constructor(
    readonly update: UpdateSpec,
    replicas: number,
  ) {
    this.service = versioned(1, replicas, update);
  }

  now(): string {
    return at(this.time);
  }

  statusOf = (t: Pick<Task, 'id' | 'host'>): TaskStatus | undefined => {
    if (!t.host || this.hosts.get(t.host)?.state === 'down') return undefined;
    return this.statuses.get(t.id);
  };

  /** Every replica that exists: tasks and the previous incarnations they keep. */
  existing(): { id: string; host?: string; pod: Task['pod'] }[] {
    return [...this.tasks.values()].flatMap((t) => [{ id: t.id, host: t.host, pod: t.pod }, ...(t.previous ? [t.previous] : [])]);
  }

  /** Replicas that count against the surge: a previous incarnation kept on a draining host is the drain's, not the rollout's. */
  counted(): number {
    return [...this.tasks.values()].reduce((n, t) => n + 1 + (t.previous && this.hosts.get(t.previous.host)?.state !== 'draining' ? 1 : 0), 0);
  }

  serving(replicas: number): number {
    const avail = (t: Pick<Task, 'id' | 'host'>) => isReady(this.statusOf(t), 0, this.now());
    return [...this.tasks.values()].filter((t) => t.slot <= replicas && (avail(t) || (t.previous !== undefined && avail(t.previous)))).length;
  }

  event(e: Event): void {
    const all = this.existing().filter((r) => r.host && this.hosts.get(r.host)?.state !== 'down');
    switch (e.kind) {
      case 'healthy':
      case 'failed': {
        if (all.length === 0) return;
        const r = all[e.pick % all.length];
        const crashes = e.kind === 'failed' || this.bad.has(r.pod.containers[0].env.VERSION);
        if (e.kind === 'failed') this.crashed.add(r.id);
        this.statuses.set(r.id, status(r, crashes ? { restarts: 2, lastExitCode: 1, since: this.now() } : { health: 'healthy', since: this.now() }));
        return;
      }
      case 'hostLost':
      case 'drain': {
        const id = `h${e.host}`;
        const ready = [...this.hosts.values()].filter((h) => h.state === 'ready');
        // Keep one ready host, or nothing could ever converge.
        if (ready.length <= 1 || this.hosts.get(id)!.state !== 'ready') return;
        this.hosts.set(id, { ...this.hosts.get(id)!, state: e.kind === 'drain' ? 'draining' : 'down' });
        return;
      }
      case 'apply': {
        this.version++;
        const next = versioned(this.version, this.service.spec.spec.replicas, this.update, e.bad);
        if (e.bad) this.bad.add(String(this.version));
        this.service = { ...this.service, spec: next.spec, specVersion: this.service.specVersion + 1 };
        return;
      }
      case 'scale':
        this.service = { ...this.service, scale: { replicas: e.replicas, source: 'cli', at: this.now() } };
        return;
      case 'tick':
        this.time += 5;
        return;
    }
  }

  /** One scheduler pass: reconcile, apply the plan, place pending tasks, then the rollout state. */
  pass(): { before: { serving: number; existing: number }; after: { serving: number; existing: number }; replicas: number } {
    this.time += 1;
    const replicas = desiredReplicas(this.service);
    const before = { serving: this.serving(replicas), existing: this.counted() };
    const plan = reconcileService({
      service: this.service,
      tasks: [...this.tasks.values()],
      hosts: this.hosts,
      stillOnHosts: true,
      statusOf: this.statusOf,
      now: this.now(),
      random: rng(`p${this.seq++}`),
    });
    // A scale-up's new slots are desired replicas, not surge (a surge in flight when the count grew finishes as it was).
    const added = plan.create.filter((c) => c.previousIncarnation === undefined).length;
    for (const r of plan.remove) this.tasks.delete(r.task.slot);
    for (const t of plan.release) this.tasks.set(t.slot, { ...this.tasks.get(t.slot)!, previous: undefined });
    for (const c of plan.create) this.tasks.set(c.task.slot, c.task);
    const after = { serving: this.serving(replicas), existing: this.counted() - added };
    const ready = [...this.hosts.values()].filter((h) => h.state === 'ready');
    for (const [slot, t] of this.tasks) if (!t.host) this.tasks.set(slot, { ...t, host: ready[(slot + this.seq) % ready.length].id });
    const decision = decideRollout(this.service, { tasks: [...this.tasks.values()], statusOf: this.statusOf, replicas, now: this.now() });
    if (decision.state) this.service = { ...this.service, rollout: decision.state };
    if (decision.revert) this.service = { ...this.service, spec: decision.revert, specVersion: this.service.specVersion + 1 };
    return { before, after, replicas };
  }

  /** Every replica reports what its template does: healthy, or crash-looping. */
  settle(): void {
    for (const r of this.existing()) {
      const crashes = this.bad.has(r.pod.containers[0].env.VERSION);
      // A bad template keeps crashing; any other replica keeps what it last reported.
      if (!r.host || (this.statuses.has(r.id) && !crashes)) continue;
      this.statuses.set(r.id, status(r, crashes ? { restarts: 2, lastExitCode: 1, since: this.now() } : { health: 'healthy', since: this.now() }));
    }
  }
}

describe('rollout properties', () => {
  it('never takes serving replicas below replicas - maxUnavailable, never exceeds replicas + maxSurge, and converges', () => {
    fc.assert(
      fc.property(updateArb, fc.integer({ min: 1, max: 6 }), fc.array(eventArb, { maxLength: 60 }), (update, replicas, events) => {
        const m = new Model(update, replicas);
        // A healthy first version, so a rollback always has somewhere to go.
        for (let i = 0; i < 6; i++) {
          m.pass();
          m.settle();
        }
        expect(m.service.rollout?.phase).toBe('complete');
        const check = (step: ReturnType<Model['pass']>) => {
          const { surge, unavailable } = budgets(update, step.replicas);
          // Availability lost to a host going down is not the rollout's doing; what a pass takes out is.
          expect(step.after.serving).toBeGreaterThanOrEqual(Math.min(step.before.serving, step.replicas - unavailable));
          expect(step.after.existing).toBeLessThanOrEqual(Math.max(step.before.existing, step.replicas + surge));
        };
        for (const e of events) {
          m.event(e);
          check(m.pass());
        }
        // Then every replica reports, time passes, and the service must end on one healthy template.
        // A rollout ends complete; or failed, when replicas of a healthy template were crashed by
        // an event (the template is blameless, but a rollout cannot tell): the replicas it left serve.
        const ended = () => m.service.rollout?.phase === 'complete' || (m.service.rollout?.phase === 'failed' && m.crashed.size > 0);
        const converged = () =>
          ended() &&
          m.service.rollout?.specVersion === m.service.specVersion &&
          (m.service.rollout?.phase === 'failed' ||
            (m.service.rollout.specVersion === m.service.specVersion &&
              m.tasks.size === desiredReplicas(m.service) &&
              [...m.tasks.values()].every((t) => !t.previous && t.host && m.hosts.get(t.host)?.state === 'ready' && m.statuses.has(t.id))));
        for (let i = 0; i < 80 && !converged(); i++) {
          m.settle();
          check(m.pass());
          m.time += 10;
        }
        const replicasNow = desiredReplicas(m.service);
        expect(m.service.rollout?.specVersion).toBe(m.service.specVersion);
        expect(ended()).toBe(true);
        expect(m.tasks.size).toBe(replicasNow);
        // A failed rollout stops where it is (the replicas it left serve); a complete one left one healthy template.
        if (m.service.rollout?.phase === 'failed') return;
        const template = templateOf(m.service.spec);
        for (const t of m.tasks.values()) {
          expect(t.previous).toBeUndefined();
          expect(templateOf(t.pod)).toEqual(template);
        }
        expect(m.bad.has(template.containers[0].env.VERSION)).toBe(false);
      }),
      {
        numRuns: 300,
        // Counterexamples found before, always run: a rollback that swapped a serving replica for its
        // crashed previous incarnation, and two drained slots whose kept incarnations blocked the surge.
        examples: [
          [
            { ...UPDATE, maxSurge: '0%', maxUnavailable: '25%', progressDeadlineSeconds: 300 },
            2,
            [
              { kind: 'apply', bad: false },
              { kind: 'healthy', pick: 0 },
              { kind: 'failed', pick: 44 },
              { kind: 'failed', pick: 0 },
            ],
          ],
          [
            { ...UPDATE, maxSurge: 1, maxUnavailable: '0%', progressDeadlineSeconds: 300 },
            2,
            [
              { kind: 'drain', host: 2 },
              { kind: 'apply', bad: true },
              { kind: 'drain', host: 3 },
            ],
          ],
        ],
      },
    );
  });
});
