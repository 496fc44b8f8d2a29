/** The rollout and scale routes (app/rollout-api.ts) through the API core, with scheduler passes and fake agent reports. */
import { describe, expect, it } from 'vitest';
import { createApi, type ApiResponse } from '../../app/api.ts';
import type { HostStatus } from '../../core/types.ts';
import { parseServiceSpec } from '../../core/spec.ts';
import { passHarness, type PassHarness } from '../pass-harness.ts';

const spec = (version: string, replicas = 2) =>
  JSON.stringify({
    kind: 'Service',
    metadata: { name: 'web' },
    spec: { replicas, containers: [{ name: 'app', image: 'skiff/busybox:latest', env: { VERSION: version }, resources: { cpu: '100m', memory: '32Mi' } }] },
  });

async function api(h: PassHarness) {
  const core = createApi({ store: h.store, now: () => new Date(h.now()), kickScheduler: async () => {} });
  return (method: string, path: string, body?: string): Promise<ApiResponse> =>
    core({ method, path, query: {}, headers: { 'content-type': 'application/json' }, ...(body !== undefined ? { body } : {}) });
}

/** Every container in every host document reports running (no probe): the agents, played. */
async function settle(h: PassHarness, passes = 8): Promise<void> {
  for (let i = 0; i < passes; i++) {
    await h.pass();
    for (const host of await h.inner.listHosts()) {
      const doc = h.channel.docs.get(host.id);
      const tasks = (doc?.tasks ?? []).map((t) => ({
        taskId: t.id,
        namespace: t.namespace,
        service: t.service,
        state: 'running' as const,
        ports: [],
        containers: [],
        since: h.now(),
      }));
      const status: HostStatus = { hostId: host.id, heartbeatAt: h.now(), generation: doc?.generation ?? 0, agentVersion: 't', tasks };
      await h.inner.putHostStatus(status);
    }
  }
}

const PATH = '/v1/namespaces/default/services/web';

describe('rollout routes', () => {
  it('shows status and history, undoes to the previous version and to a named one', async () => {
    const h = await passHarness([{ id: 'h1', cpu: 2000 }]);
    const call = await api(h);
    for (const v of ['1', '2', '3']) {
      await call('POST', '/v1/services', spec(v));
      await settle(h);
    }
    expect((await call('GET', `${PATH}/rollout`)).body).toMatchObject({ specVersion: 3, phase: 'complete', replicas: 2, updated: 2, available: 2, old: 0 });
    const history = (await call('GET', `${PATH}/rollout/history`)).body as { revisions: { version: number; current: boolean }[] };
    expect(history.revisions.map((r) => [r.version, r.current])).toEqual([
      [1, false],
      [2, false],
      [3, true],
    ]);

    expect((await call('POST', `${PATH}/rollout/undo`)).body).toMatchObject({ result: 'undone', toVersion: 2 });
    await settle(h);
    let service = await h.inner.getService('default', 'web');
    expect(service?.spec.spec.containers[0].env).toEqual({ VERSION: '2' });
    expect(service?.rollout).toMatchObject({ specVersion: 4, phase: 'complete' });
    expect(service?.rollout?.revisions.at(-1)).toMatchObject({ version: 4, cause: 'undo to version 2' });

    expect((await call('POST', `${PATH}/rollout/undo`, JSON.stringify({ toVersion: 1 }))).body).toMatchObject({ toVersion: 1 });
    await settle(h);
    service = await h.inner.getService('default', 'web');
    expect(service?.spec.spec.containers[0].env).toEqual({ VERSION: '1' });
    for (const t of await h.inner.listAllTasks()) expect(t.pod.containers[0].env).toEqual({ VERSION: '1' });
  });

  it('refuses an undo to a version it does not keep, naming the ones it keeps', async () => {
    const h = await passHarness([{ id: 'h1', cpu: 2000 }]);
    const call = await api(h);
    await call('POST', '/v1/services', spec('1'));
    await settle(h);
    const res = await call('POST', `${PATH}/rollout/undo`, JSON.stringify({ toVersion: 7 }));
    expect(res.status).toBe(404);
    expect((res.body as { message: string }).message).toContain('revision 7 of service default/web (revisions: 1)');
    expect((await call('POST', `${PATH}/rollout/undo`, JSON.stringify({ toVersion: 'two' }))).status).toBe(400);
  });

  it('restarts every replica with the same spec, new containers first', async () => {
    const h = await passHarness([{ id: 'h1', cpu: 2000 }]);
    const call = await api(h);
    await call('POST', '/v1/services', spec('1'));
    await settle(h);
    const before = (await h.inner.listAllTasks()).map((t) => t.id);
    expect((await call('POST', `${PATH}/rollout/restart`)).status).toBe(202);
    await settle(h);
    const after = await h.inner.listAllTasks();
    expect(after).toHaveLength(2);
    for (const t of after) expect(before).not.toContain(t.id);
    expect((await h.inner.getService('default', 'web'))?.specVersion).toBe(1);
    expect((await call('GET', `${PATH}/rollout`)).body).toMatchObject({ phase: 'complete', updated: 2 });
  });

  it('scales without a rollout, and refuses a bad count', async () => {
    const h = await passHarness([{ id: 'h1', cpu: 2000 }]);
    const call = await api(h);
    await call('POST', '/v1/services', spec('1'));
    await settle(h);
    const ids = (await h.inner.listAllTasks()).map((t) => t.id);
    expect((await call('POST', `${PATH}/scale`, JSON.stringify({ replicas: 4 }))).body).toMatchObject({ result: 'scaled', replicas: 4 });
    await settle(h, 3);
    const tasks = await h.inner.listAllTasks();
    expect(tasks).toHaveLength(4);
    expect(tasks.slice(0, 2).map((t) => t.id)).toEqual(ids);
    expect((await h.inner.getService('default', 'web'))?.specVersion).toBe(1);
    const bad = await call('POST', `${PATH}/scale`, JSON.stringify({ replicas: -1 }));
    expect(bad.status).toBe(400);
    expect((bad.body as { message: string }).message).toContain('replicas: must be an integer from 0 to 1000; got -1');
    expect((await call('POST', '/v1/namespaces/default/services/nope/scale', JSON.stringify({ replicas: 1 }))).status).toBe(404);
  });
});

describe('rollout status of a rollback', () => {
  it('names the version rolled back as soon as the reverted spec is written, before a pass starts its rollout', async () => {
    const h = await passHarness([{ id: 'h1', cpu: 2000 }]);
    const call = await api(h);
    await call('POST', '/v1/services', spec('1'));
    await settle(h);
    const service = (await h.inner.getService('default', 'web'))!;
    await h.inner.setServiceRollout('default', 'web', { ...service.rollout!, specVersion: 1, phase: 'rolledBack', message: 'web-1-abcde crash-looping' }, 1);
    await h.inner.putService(parseServiceSpec(JSON.parse(spec('0'))), h.now(), 1);
    expect((await call('GET', `${PATH}/rollout`)).body).toMatchObject({
      specVersion: 2,
      phase: 'progressing',
      rollbackOf: 1,
      message: 'web-1-abcde crash-looping',
    });
  });
});
