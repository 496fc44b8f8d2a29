import { describe, expect, it } from 'vitest';
import { planGlobal } from '../../core/global.ts';
import { cronJobName, latestRun, planCronJobs } from '../../core/cron.ts';
import { parseServiceSpec } from '../../core/spec.ts';
import { rng } from '../../core/random.ts';
import type { Host, JobStatus, Service, Task } from '../../core/types.ts';
import { aHost, aService, aTask } from '../builders.ts';
import { passHarness } from '../pass-harness.ts';

const T0 = '2026-01-01T00:00:00.000Z';

function globalService(constraints: string[] = []): Service {
  const s = aService({ name: 'agent', constraints });
  return { ...s, spec: { ...s.spec, spec: { ...s.spec.spec, mode: 'global' } } };
}

function plan(service: Service, tasks: Task[], hosts: Host[]) {
  return planGlobal({ service, tasks, hosts: new Map(hosts.map((h) => [h.id, h])), allHosts: hosts, stillOnHosts: false, now: T0, random: rng('g') });
}

describe('planGlobal', () => {
  it('pins one task to every ready host that matches the constraints', () => {
    const hosts = [
      aHost({ id: 'a', labels: { zone: 'x' } }),
      aHost({ id: 'b', labels: { zone: 'y' } }),
      aHost({ id: 'c', labels: { zone: 'x' }, state: 'suspect' }),
    ];
    expect(plan(globalService(), [], hosts).create.map((c) => [c.task.slot, c.task.pinnedHost])).toEqual([
      [1, 'a'],
      [2, 'b'],
    ]);
    expect(plan(globalService(['zone == x']), [], hosts).create.map((c) => c.task.pinnedHost)).toEqual(['a']);
  });

  it('follows hosts: removes the task of a host that drains, goes down or leaves; a host that comes back gets a new one in a free slot', () => {
    const s = globalService();
    const tasks = [aTask(s, 1, { pinnedHost: 'a', host: 'a' }), aTask(s, 2, { pinnedHost: 'b', host: 'b' }), aTask(s, 3, { pinnedHost: 'gone' })];
    const hosts = [aHost({ id: 'a', state: 'draining' }), aHost({ id: 'b' }), aHost({ id: 'd' })];
    const p = plan(s, tasks, hosts);
    expect(p.remove.map((r) => [r.task.slot, r.reason])).toEqual([
      [1, 'host a is draining'],
      [3, 'host is gone'],
    ]);
    expect(p.keep.map((t) => t.slot)).toEqual([2]);
    expect(p.create.map((c) => [c.task.slot, c.task.pinnedHost])).toEqual([[4, 'd']]);
  });

  it('replaces a task in place when the spec changes, and removes unpinned tasks', () => {
    const s = globalService();
    const old = aTask(s, 1, { pinnedHost: 'a', pod: { containers: [], restartPolicy: 'always' } });
    const p = plan(s, [old, aTask(s, 2)], [aHost({ id: 'a' })]);
    expect(p.create.map((c) => [c.task.slot, c.previousIncarnation, c.task.pinnedHost, c.reason])).toEqual([[1, 1, 'a', 'spec changed']]);
    expect(p.remove.map((r) => r.task.slot)).toEqual([2]);
  });

  it('leaves a task pending with the reason when its host has no room, and places the others (pass)', async () => {
    const h = await passHarness([
      { id: 'h1', cpu: 1000 },
      { id: 'h2', cpu: 50 },
    ]);
    const spec = parseServiceSpec({
      kind: 'Service',
      metadata: { name: 'node-agent' },
      spec: { mode: 'global', containers: [{ name: 'a', image: 'skiff/busybox', resources: { cpu: '100m', memory: '16Mi' } }] },
    });
    await h.store.putService(spec, T0, 0);
    await h.pass();
    await h.pass();
    const tasks = await h.store.listTasks('default', 'node-agent');
    expect(tasks.map((t) => [t.pinnedHost, t.host ?? null])).toEqual([
      ['h1', 'h1'],
      ['h2', null],
    ]);
    expect(tasks[1].unplaceable?.rejected).toEqual({ 'insufficient cpu': 1, 'constraint skiff.host == h2': 1 });
  });
});

describe('CronJobs', () => {
  const cron = (over: Partial<Service> = {}, spec: Record<string, unknown> = {}): Service => ({
    namespace: 'default',
    name: 'nightly',
    spec: parseServiceSpec({
      kind: 'CronJob',
      metadata: { name: 'nightly' },
      spec: { schedule: '*/5 * * * *', containers: [{ name: 'a', image: 'skiff/busybox', command: ['true'] }], ...spec },
    }),
    specVersion: 1,
    createdAt: T0,
    updatedAt: T0,
    deleting: false,
    ...over,
  });
  const child = (at: string, state: JobStatus['state'] | undefined): Service => {
    const c = cron();
    const name = cronJobName('nightly', new Date(at));
    return {
      ...c,
      name,
      spec: { ...c.spec, kind: 'Job', metadata: { ...c.spec.metadata, name, labels: { 'skiff.cronjob': 'nightly' } } },
      ...(state ? { job: { state, succeeded: [], failed: [], startedAt: at } } : {}),
    };
  };

  it('reads the schedule in its time zone', () => {
    expect(latestRun('0 11 * * *', 'Europe/Paris', new Date(T0), new Date('2026-01-01T10:30:00Z'))?.toISOString()).toBe('2026-01-01T10:00:00.000Z');
    expect(latestRun('0 11 * * *', undefined, new Date(T0), new Date('2026-01-01T10:30:00Z'))).toBeUndefined();
  });

  it('makes one Job for the latest due run, named by its minute, and none while it exists', () => {
    const now = '2026-01-01T00:17:00.000Z';
    const p = planCronJobs([cron()], now);
    expect(p.create.map((s) => [s.kind, s.metadata.name, s.metadata.labels['skiff.cronjob']])).toEqual([
      ['Job', cronJobName('nightly', new Date('2026-01-01T00:15:00Z')), 'nightly'],
    ]);
    expect(p.create[0].spec.job).toEqual({ completions: 1, parallelism: 1, backoffLimit: 6 });
    expect(planCronJobs([cron(), child('2026-01-01T00:15:00Z', 'running')], now).create).toEqual([]);
  });

  it('forbid skips a run while one is active; replace deletes the active one', () => {
    const now = '2026-01-01T00:21:00.000Z';
    const active = child('2026-01-01T00:15:00Z', 'running');
    expect(planCronJobs([cron({}, { concurrencyPolicy: 'forbid' }), active], now)).toEqual({ create: [], remove: [] });
    const replace = planCronJobs([cron({}, { concurrencyPolicy: 'replace' }), active], now);
    expect(replace.remove.map((r) => r.name)).toEqual([active.name]);
    expect(replace.create).toHaveLength(1);
    expect(planCronJobs([cron(), active], now).create).toHaveLength(1);
  });

  it('keeps a bounded history of finished jobs, oldest deleted first', () => {
    const jobs = ['00:05', '00:10', '00:15', '00:20', '00:25'].map((m) => child(`2026-01-01T${m}:00Z`, 'succeeded'));
    const p = planCronJobs([cron({}, { successfulJobsHistoryLimit: 2 }), ...jobs], '2026-01-01T00:27:00.000Z');
    expect(p.remove.map((r) => r.name)).toEqual(jobs.slice(0, 3).map((j) => j.name));
  });

  it('refuses a schedule of 6 fields and an unknown time zone, naming the field', () => {
    expect(() => cron({}, { schedule: '0 */5 * * * *' })).toThrow(
      'spec.schedule: must have 5 fields (minute hour day-of-month month day-of-week), such as "*/5 * * * *"; got 6 field(s)',
    );
    expect(() => cron({}, { timeZone: 'Mars/Olympus' })).toThrow('spec.timeZone: must be an IANA time zone');
  });
});
