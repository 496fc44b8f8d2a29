import { describe, expect, it } from 'vitest';
import { createApi, type ApiRequest } from '../../app/api.ts';
import { MemoryStore } from '../../adapters/memory/store.ts';
import { MemoryLogStore } from '../../adapters/memory/log-store.ts';
import { FOLLOW_WINDOW_MS } from '../../core/logs.ts';
import type { Identity } from '../../core/authz.ts';

const NOW = Date.parse('2026-12-07T09:00:00Z');
const T = NOW - 60_000;

const shopViewer: Identity = { subject: 'token:viewer@shop', source: 'token', bindings: [{ role: 'view', namespace: 'shop' }] };

async function setup() {
  const logs = new MemoryLogStore();
  const api = createApi({ store: new MemoryStore(), now: () => new Date(NOW), kickScheduler: async () => undefined, logs });
  const get = async (path: string, query: Record<string, string> = {}, identity?: Identity) => {
    const req: ApiRequest = { method: 'GET', path, query, headers: {}, ...(identity ? { identity } : {}) };
    return api(req);
  };
  return { logs, api, get };
}

type Lines = { lines: { at: string; stream: string; message: string; task?: string; container?: string }[]; cursor: string };

describe('log routes', () => {
  it("merge a service's replicas in time order, dead ones included, and leave other services out", async () => {
    const { logs, get } = await setup();
    await logs.put('shop/web-1-aaaaa/app', [
      { at: T + 1, message: 'one' },
      { at: T + 3, message: 'three' },
    ]);
    // A replica that died: its stream stays.
    await logs.put('shop/web-2-bbbbb/app', [{ at: T + 2, message: 'two' }]);
    await logs.put('shop/web-api-1-ccccc/app', [{ at: T + 2, message: 'another service' }]);
    await logs.put('shop/web-1-aaaaa/sidecar', [{ at: T + 4, message: 'sidecar' }]);
    const out = await get('/v1/namespaces/shop/services/web/logs');
    expect(out.status).toBe(200);
    const body = out.body as Lines;
    expect(body.lines.map((l) => [l.task, l.container, l.message])).toEqual([
      ['web-1-aaaaa', 'app', 'one'],
      ['web-2-bbbbb', 'app', 'two'],
      ['web-1-aaaaa', 'app', 'three'],
      ['web-1-aaaaa', 'sidecar', 'sidecar'],
    ]);
    expect(body.lines[0].at).toBe(new Date(T + 1).toISOString());
    const app = (await get('/v1/namespaces/shop/services/web/logs', { container: 'app' })).body as Lines;
    expect(app.lines.map((l) => l.message)).toEqual(['one', 'two', 'three']);
  });

  it('follow with the cursor: each line once, new replicas and late lines of a slower replica included', async () => {
    const { logs, get } = await setup();
    await logs.put('shop/web-1-aaaaa/app', [{ at: T + 10, message: 'a1' }]);
    let body = (await get('/v1/namespaces/shop/services/web/logs')).body as Lines;
    expect(body.lines.map((l) => l.message)).toEqual(['a1']);
    // Nothing new: nothing again.
    body = (await get('/v1/namespaces/shop/services/web/logs', { cursor: body.cursor })).body as Lines;
    expect(body.lines).toEqual([]);
    await logs.put('shop/web-1-aaaaa/app', [
      { at: T + 20, message: 'a2' },
      { at: T + 20, message: 'a3 same ms' },
    ]);
    body = (await get('/v1/namespaces/shop/services/web/logs', { cursor: body.cursor })).body as Lines;
    expect(body.lines.map((l) => l.message)).toEqual(['a2', 'a3 same ms']);
    // A new replica, and a line of it written before a2 but shipped after it was shown.
    await logs.put('shop/web-3-ddddd/app', [{ at: T + 15, message: 'new replica, late' }]);
    await logs.put('shop/web-1-aaaaa/app', [{ at: T + 20, message: 'a4 same ms, later put' }]);
    body = (await get('/v1/namespaces/shop/services/web/logs', { cursor: body.cursor })).body as Lines;
    expect(body.lines.map((l) => l.message)).toEqual(['new replica, late', 'a4 same ms, later put']);
    body = (await get('/v1/namespaces/shop/services/web/logs', { cursor: body.cursor })).body as Lines;
    expect(body.lines).toEqual([]);
  });

  it('keeps the cursor small: a stream quiet for longer than the window leaves it', async () => {
    const { logs, get } = await setup();
    for (let i = 1; i <= 40; i++) await logs.put(`shop/web-${i}-aaaaa/app`, [{ at: T + i, message: `r${i}` }]);
    let body = (await get('/v1/namespaces/shop/services/web/logs')).body as Lines;
    expect(body.lines).toHaveLength(40);
    await logs.put('shop/web-1-aaaaa/app', [{ at: T + 40 + FOLLOW_WINDOW_MS + 1, message: 'much later' }]);
    body = (await get('/v1/namespaces/shop/services/web/logs', { cursor: body.cursor })).body as Lines;
    expect(body.lines.map((l) => l.message)).toEqual(['much later']);
    expect(body.cursor.length).toBeLessThan(100);
  });

  it('tail: the last N lines over every replica; since: from a duration back', async () => {
    const { logs, get } = await setup();
    await logs.put(
      'shop/web-1-aaaaa/app',
      [1, 3, 5].map((i) => ({ at: T + i * 1000, message: `a${i}` })),
    );
    await logs.put(
      'shop/web-2-bbbbb/app',
      [2, 4, 6].map((i) => ({ at: T + i * 1000, message: `b${i}` })),
    );
    const tail = (await get('/v1/namespaces/shop/services/web/logs', { tail: '3' })).body as Lines;
    expect(tail.lines.map((l) => l.message)).toEqual(['b4', 'a5', 'b6']);
    // The tail's cursor follows from there.
    await logs.put('shop/web-1-aaaaa/app', [{ at: T + 7000, message: 'a7' }]);
    const next = (await get('/v1/namespaces/shop/services/web/logs', { cursor: tail.cursor })).body as Lines;
    expect(next.lines.map((l) => l.message)).toEqual(['a7']);
    // 56 s back from NOW = T + 4 s.
    const since = (await get('/v1/namespaces/shop/services/web/logs', { since: '56s' })).body as Lines;
    expect(since.lines.map((l) => l.message)).toEqual(['b4', 'a5', 'b6', 'a7']);
  });

  it("a task's lines, its containers merged", async () => {
    const { logs, get } = await setup();
    await logs.put('shop/web-1-aaaaa/app', [{ at: T + 1, message: 'app' }]);
    await logs.put('shop/web-1-aaaaa/proxy', [{ at: T + 2, message: 'proxy' }]);
    await logs.put('shop/web-1-aaaaaa/app', [{ at: T + 2, message: 'another task' }]);
    const body = (await get('/v1/namespaces/shop/tasks/web-1-aaaaa/logs')).body as Lines;
    expect(body.lines.map((l) => l.message)).toEqual(['app', 'proxy']);
  });

  it("a tenant reads its namespace's logs and no other's, nor hosts' or the control plane's", async () => {
    const { logs, get } = await setup();
    await logs.put('shop/web-1-aaaaa/app', [{ at: T, message: 'shop line' }]);
    await logs.put('bank/web-1-aaaaa/app', [{ at: T, message: 'bank line' }]);
    await logs.put('host/host-1', [{ at: T, message: '{"message":"agent starting"}' }]);
    await logs.put('control/scheduler', [{ at: T, message: '{"message":"pass"}' }]);
    expect(((await get('/v1/namespaces/shop/services/web/logs', {}, shopViewer)).body as Lines).lines.map((l) => l.message)).toEqual(['shop line']);
    expect((await get('/v1/namespaces/bank/services/web/logs', {}, shopViewer)).status).toBe(403);
    expect((await get('/v1/namespaces/bank/tasks/web-1-aaaaa/logs', {}, shopViewer)).status).toBe(403);
    expect((await get('/v1/hosts/host-1/logs', {}, shopViewer)).status).toBe(403);
    expect((await get('/v1/control-plane/logs', {}, shopViewer)).status).toBe(403);
    // The cluster admin (in-process callers) reads them.
    expect(((await get('/v1/hosts/host-1/logs')).body as Lines).lines.map((l) => l.message)).toEqual(['{"message":"agent starting"}']);
    expect(((await get('/v1/control-plane/logs', { function: 'scheduler' })).body as Lines).lines).toHaveLength(1);
    expect((await get('/v1/hosts/host-9/logs')).status).toBe(404);
    // host-1's stream is a prefix of host-10's: host-10 has its own, and an unknown host-11 has none.
    await logs.put('host/host-10', [{ at: T, message: '{"message":"ten"}' }]);
    expect(((await get('/v1/hosts/host-1/logs')).body as Lines).lines.map((l) => l.message)).toEqual(['{"message":"agent starting"}']);
    await logs.put('host/host-110', [{ at: T, message: '{"message":"one ten"}' }]);
    expect((await get('/v1/hosts/host-11/logs')).status).toBe(404);
  });

  it("on AWS, reads the control functions' own log groups, merged, and follows them", async () => {
    const api = new MemoryLogStore();
    const scheduler = new MemoryLogStore();
    const core = createApi({
      store: new MemoryStore(),
      now: () => new Date(NOW),
      kickScheduler: async () => undefined,
      logs: new MemoryLogStore(),
      controlLogs: { api, scheduler },
    });
    const get = async (query: Record<string, string> = {}) =>
      (await core({ method: 'GET', path: '/v1/control-plane/logs', query, headers: {} })) as { status: number; body: Lines };
    await api.put('2026/12/07/[$LATEST]aaa', [{ at: T + 2, message: '{"message":"request"}' }]);
    await scheduler.put('2026/12/07/[$LATEST]bbb', [{ at: T + 1, message: '{"message":"pass"}' }]);
    const all = await get();
    expect(all.body.lines.map((l) => [l.stream, l.message])).toEqual([
      ['control/scheduler/2026/12/07/[$LATEST]bbb', '{"message":"pass"}'],
      ['control/api/2026/12/07/[$LATEST]aaa', '{"message":"request"}'],
    ]);
    expect((await get({ function: 'scheduler' })).body.lines).toHaveLength(1);
    expect((await get({ function: 'health' })).status).toBe(404);
    expect((await get({ tail: '1' })).body.lines.map((l) => l.stream)).toEqual(['control/api/2026/12/07/[$LATEST]aaa']);
    await scheduler.put('2026/12/07/[$LATEST]ccc', [{ at: T + 3, message: '{"message":"another instance"}' }]);
    const next = await get({ cursor: all.body.cursor });
    expect(next.body.lines.map((l) => l.message)).toEqual(['{"message":"another instance"}']);
  });

  it('refuses bad parameters, naming them', async () => {
    const { get } = await setup();
    const bad = async (query: Record<string, string>, path: string) => {
      const out = await get('/v1/namespaces/shop/services/web/logs', query);
      expect(out.status).toBe(400);
      expect(JSON.stringify(out.body)).toContain(path);
    };
    await bad({ since: 'yesterday' }, 'since');
    await bad({ tail: '-1' }, 'tail');
    await bad({ limit: '0' }, 'limit');
    await bad({ cursor: 'not-a-cursor' }, 'cursor');
    await bad({ container: 'Bad_Name' }, 'container');
    await bad({ cursor: 'WzAse31d', tail: '5' }, 'cursor');
  });

  it('answers 503 when the cluster has no log group', async () => {
    const api = createApi({ store: new MemoryStore(), now: () => new Date(NOW), kickScheduler: async () => undefined });
    const out = await api({ method: 'GET', path: '/v1/namespaces/shop/services/web/logs', query: {}, headers: {} });
    expect(out.status).toBe(503);
    expect(JSON.stringify(out.body)).toContain('log group');
  });
});
