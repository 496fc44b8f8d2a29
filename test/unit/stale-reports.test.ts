/**
 * Right after a control plane (re)start the store still holds the reports of agents that stopped
 * with it: `skiff get` must not show their tasks `running` until each agent reports again
 * (core/views.ts `reportsSince`, app/api.ts). The cut-off is the later of the control plane's start
 * (local mode) and the health checkpoint's `resumedAt` (when the health check saw it come back).
 */
import { describe, expect, it } from 'vitest';
import { createApi } from '../../app/api.ts';
import { taskViews } from '../../core/views.ts';
import type { HostStatus, TaskView } from '../../core/types.ts';
import { aHost, aService, aTask } from '../builders.ts';
import { passHarness } from '../pass-harness.ts';

const T = Date.parse('2026-01-01T00:10:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

function report(hostId: string, taskId: string, at: number): HostStatus {
  return {
    hostId,
    heartbeatAt: iso(at),
    generation: 1,
    agentVersion: 't',
    tasks: [{ taskId, namespace: 'default', service: 'web', state: 'running', ports: [], containers: [], since: iso(at - 60_000) }],
  };
}

describe('taskViews with reportsSince', () => {
  const service = aService();
  const t1 = aTask(service, 1, { host: 'h1' });
  const t2 = aTask(service, 2, { host: 'h2' });
  const hosts = [aHost({ id: 'h1' }), aHost({ id: 'h2' })];

  it('shows a task whose host last reported before the cut-off as assigned, saying why; a fresh report as reported', () => {
    const views = taskViews([t1, t2], [report('h1', t1.id, T - 5_000), report('h2', t2.id, T + 1_000)], hosts, { reportsSince: T });
    expect(views.map((v) => [v.id, v.state])).toEqual([
      [t1.id, 'assigned'],
      [t2.id, 'running'],
    ]);
    expect(views[0].message).toBe(`no report from host h1 since the control plane started at ${iso(T)}; its state is unknown until it reports`);
    expect(views[1].message).toBeUndefined();
  });

  it('takes every report as it is without a cut-off, and a down host stays lost', () => {
    expect(taskViews([t1], [report('h1', t1.id, T - 5_000)], hosts).map((v) => v.state)).toEqual(['running']);
    const down = [aHost({ id: 'h1', state: 'down' })];
    expect(taskViews([t1], [report('h1', t1.id, T - 5_000)], down, { reportsSince: T }).map((v) => v.state)).toEqual(['lost']);
  });
});

describe('the API after a restart', () => {
  async function setup() {
    const h = await passHarness([{ id: 'h1', cpu: 1000 }]);
    const body = JSON.stringify({
      kind: 'Service',
      metadata: { name: 'web' },
      spec: { replicas: 1, containers: [{ name: 'app', image: 'skiff/busybox:latest', resources: { cpu: '100m', memory: '32Mi' } }] },
    });
    const before = createApi({ store: h.store, now: () => new Date(h.now()), kickScheduler: async () => {} });
    await before({ method: 'POST', path: '/v1/services', query: {}, headers: { 'content-type': 'application/json' }, body });
    await h.pass();
    const [task] = await h.inner.listAllTasks();
    return { h, task };
  }
  const tasksOf = async (api: ReturnType<typeof createApi>) => (await api({ method: 'GET', path: '/v1/tasks', query: {}, headers: {} })).body as TaskView[];

  it('shows no stale running from before its start, and running again once the agent reports', async () => {
    const { h, task } = await setup();
    await h.inner.putHostStatus(report('h1', task.id, T - 30_000));
    const api = createApi({ store: h.store, now: () => new Date(T), kickScheduler: async () => {}, startedAt: new Date(T) });
    expect((await tasksOf(api)).map((t) => [t.state, t.message])).toEqual([
      ['assigned', expect.stringMatching(/^no report from host h1 since the control plane started/)],
    ]);
    // A heartbeat alone (the report unchanged) makes it current again.
    await h.inner.putHeartbeat('h1', iso(T + 1_000));
    expect((await tasksOf(api)).map((t) => t.state)).toEqual(['running']);
  });

  it("discounts reports older than the health checkpoint's resumedAt (the control plane came back), without a start time", async () => {
    const { h, task } = await setup();
    await h.inner.putHostStatus(report('h1', task.id, T - 30_000));
    const api = createApi({ store: h.store, now: () => new Date(T), kickScheduler: async () => {} });
    expect((await tasksOf(api)).map((t) => t.state)).toEqual(['running']);
    await h.inner.putHealthCheckpoint({ lastRunAt: T, resumedAt: T });
    expect((await tasksOf(api)).map((t) => t.state)).toEqual(['assigned']);
    const got = await api({ method: 'GET', path: `/v1/tasks/${task.id}`, query: {}, headers: {} });
    expect(got.body).toMatchObject({ state: 'assigned' });
  });
});
