import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { jobBackoffSeconds, planJob } from '../../core/jobs.ts';
import { rng } from '../../core/random.ts';
import type { JobSpec, JobStatus, Service, Task, TaskStatus } from '../../core/types.ts';
import { aHost, aService, aTask } from '../builders.ts';

const T0 = '2026-01-01T00:00:00.000Z';
const at = (s: number) => new Date(Date.parse(T0) + s * 1000).toISOString();
const hosts = new Map([['h1', aHost({ id: 'h1' })]]);

function aJob(job: Partial<JobSpec> = {}, over: { restartPolicy?: 'never' | 'on-failure'; status?: JobStatus } = {}): Service {
  const s = aService({ name: 'once' });
  return {
    ...s,
    spec: {
      ...s.spec,
      kind: 'Job',
      spec: { ...s.spec.spec, restartPolicy: over.restartPolicy ?? 'never', job: { completions: 3, parallelism: 2, backoffLimit: 2, ...job } },
    },
    ...(over.status ? { job: over.status } : {}),
  };
}

const report = (task: Task, state: TaskStatus['state'], exitCode?: number, since = T0, restarts = 0): TaskStatus => ({
  taskId: task.id,
  namespace: task.namespace,
  service: task.service,
  state,
  ...(exitCode === undefined ? {} : { exitCode }),
  restarts,
  ports: [],
  containers: [],
  since,
});

function plan(job: Service, tasks: Task[], statuses: TaskStatus[] = [], now = T0) {
  const byId = new Map(statuses.map((s) => [s.taskId, s]));
  return planJob({ service: job, tasks, hosts, stillOnHosts: false, statusOf: (t) => byId.get(t.id), now, random: rng(`j${now}`) });
}

const running = (status: Partial<JobStatus> = {}): JobStatus => ({ state: 'running', succeeded: [], failed: [], startedAt: T0, ...status });

describe('planJob', () => {
  it('starts parallelism tasks, one per slot, and records that the job runs', () => {
    const p = plan(aJob(), []);
    expect(p.create.map((c) => c.task.slot)).toEqual([1, 2]);
    expect(p.create.every((c) => c.task.pod.restartPolicy === 'never')).toBe(true);
    expect(p.status).toEqual(running());
  });

  it('completes a slot whose task exited 0, removes that task and starts the next slot', () => {
    const job = aJob({}, { status: running() });
    const t1 = aTask(job, 1, { host: 'h1' });
    const t2 = aTask(job, 2, { host: 'h1' });
    const p = plan(job, [t1, t2], [report(t1, 'exited', 0), report(t2, 'running')]);
    expect(p.status).toEqual(running({ succeeded: [1] }));
    expect(p.remove.map((r) => [r.task.slot, r.reason])).toEqual([[1, 'completed']]);
    expect(p.create.map((c) => c.task.slot)).toEqual([3]);
    expect(p.keep).toEqual([t2]);
  });

  it('succeeds once every slot completed, and removes what is left', () => {
    const job = aJob({}, { status: running({ succeeded: [1, 2] }) });
    const t3 = aTask(job, 3, { host: 'h1' });
    const p = plan(job, [t3], [report(t3, 'exited', 0)], at(30));
    expect(p.status).toMatchObject({ state: 'succeeded', succeeded: [1, 2, 3], completedAt: at(30) });
    expect(p.create).toEqual([]);
    expect(p.remove.map((r) => r.task.id)).toEqual([t3.id]);
  });

  it('counts a failed task once, and replaces it in its slot only after the back-off', () => {
    const job = aJob({}, { status: running() });
    const t1 = aTask(job, 1, { host: 'h1' });
    const failed = [report(t1, 'failed', 3, T0)];
    const early = plan(job, [t1], failed, at(1));
    expect(early.status).toEqual(running({ failed: [t1.id] }));
    expect(early.create.map((c) => c.task.slot)).toEqual([2]);
    const counted = { ...job, job: early.status! };
    const later = plan(counted, [t1], failed, at(jobBackoffSeconds(1)));
    expect(later.status).toBeUndefined();
    expect(later.create.map((c) => [c.task.slot, c.previousIncarnation, c.task.avoidHost])).toEqual([
      [1, 1, 'h1'],
      [2, undefined, undefined],
    ]);
  });

  it('fails with BackoffLimitExceeded at backoffLimit + 1 failures and removes every task', () => {
    const job = aJob({ backoffLimit: 1 }, { status: running({ failed: ['once-1-old01'] }) });
    const t1 = aTask(job, 1, { host: 'h1', incarnation: 2 });
    const t2 = aTask(job, 2, { host: 'h1' });
    const p = plan(job, [t1, t2], [report(t1, 'failed', 1), report(t2, 'running')], at(9));
    expect(p.status).toMatchObject({ state: 'failed', reason: 'BackoffLimitExceeded', failed: ['once-1-old01', t1.id] });
    expect(p.create).toEqual([]);
    expect(p.remove.map((r) => r.task.slot)).toEqual([1, 2]);
  });

  it('counts restarts in place as failures with restartPolicy on-failure', () => {
    const job = aJob({ backoffLimit: 2 }, { restartPolicy: 'on-failure', status: running() });
    const t1 = aTask(job, 1, { host: 'h1' });
    const p = plan(job, [t1], [report(t1, 'running', undefined, T0, 3)]);
    expect(p.status).toMatchObject({ state: 'failed', reason: 'BackoffLimitExceeded' });
  });

  it('fails with DeadlineExceeded after activeDeadlineSeconds', () => {
    const job = aJob({ activeDeadlineSeconds: 60 }, { status: running() });
    const t1 = aTask(job, 1, { host: 'h1' });
    expect(plan(job, [t1], [report(t1, 'running')], at(59)).status).toBeUndefined();
    expect(plan(job, [t1], [report(t1, 'running')], at(60)).status).toMatchObject({ state: 'failed', reason: 'DeadlineExceeded' });
  });

  it('replaces a task whose host went down without counting a failure', () => {
    const job = aJob({}, { status: running() });
    const t1 = aTask(job, 1, { host: 'gone' });
    const p = plan(job, [t1]);
    expect(p.status).toBeUndefined();
    expect(p.create.map((c) => [c.task.slot, c.reason])).toEqual([
      [1, 'host gone is gone'],
      [2, 'job task'],
    ]);
  });

  it('leaves a finished job alone, removing any task left', () => {
    const job = aJob({}, { status: { ...running({ succeeded: [1, 2, 3] }), state: 'succeeded', completedAt: T0 } });
    const p = plan(job, [aTask(job, 1)]);
    expect(p.create).toEqual([]);
    expect(p.remove).toHaveLength(1);
    expect(p.status).toBeUndefined();
  });

  it('runs any job to an end, never more than parallelism tasks at once, counting each slot once', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 3 }),
        fc.array(fc.constantFrom('ok', 'fail', 'run'), { minLength: 200, maxLength: 200 }),
        (completions, parallelism, backoffLimit, outcomes) => {
          let job = aJob({ completions, parallelism, backoffLimit });
          let tasks: Task[] = [];
          const statuses = new Map<string, TaskStatus>();
          let draw = 0;
          for (let step = 0; step < 100 && job.job?.state !== 'succeeded' && job.job?.state !== 'failed'; step++) {
            const now = at(step * 1000);
            const p = plan(job, tasks, [...statuses.values()], now);
            if (p.status) job = { ...job, job: p.status };
            const removed = new Set(p.remove.map((r) => r.task.id));
            const replaced = new Set(p.create.map((c) => c.task.slot));
            tasks = [...tasks.filter((t) => !removed.has(t.id) && !replaced.has(t.slot)), ...p.create.map((c) => ({ ...c.task, host: 'h1' }))];
            expect(tasks.length).toBeLessThanOrEqual(parallelism);
            expect(new Set(tasks.map((t) => t.slot)).size).toBe(tasks.length);
            for (const t of tasks) {
              if (statuses.get(t.id)?.state !== 'running' && statuses.has(t.id)) continue;
              const o = outcomes[draw++ % outcomes.length];
              statuses.set(t.id, o === 'ok' ? report(t, 'exited', 0, now) : o === 'fail' ? report(t, 'failed', 1, now) : report(t, 'running', undefined, now));
            }
          }
          const end = job.job!;
          expect(['succeeded', 'failed']).toContain(end.state);
          expect(end.succeeded.length).toBeLessThanOrEqual(completions);
          if (end.state === 'succeeded') expect(end.succeeded).toEqual(Array.from({ length: completions }, (_, i) => i + 1));
          else expect(end.failed.length).toBeGreaterThan(backoffLimit);
        },
      ),
      { numRuns: 200 },
    );
  });
});
