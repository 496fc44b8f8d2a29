/**
 * Watching lists (app/watch.ts): every list answer carries its page's version; a watch at the
 * current version waits until the page changes (or its timeout passes), a watch at an older one
 * answers at once.
 */
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../adapters/memory/store.ts';
import { createApi, type ApiResponse } from '../../app/api.ts';
import { watchedList, watchParams } from '../../app/watch.ts';

const service = (name: string, replicas = 1) => ({
  kind: 'Service',
  metadata: { name },
  spec: { replicas, containers: [{ name: 'app', image: 'skiff/busybox:latest' }] },
});

function api() {
  const core = createApi({ store: new MemoryStore(), now: () => new Date(), kickScheduler: async () => {}, watchIntervalMs: 10 });
  return (method: string, path: string, opts: { body?: unknown; query?: Record<string, string> } = {}): Promise<ApiResponse> =>
    core({ method, path, query: opts.query ?? {}, headers: { 'content-type': 'application/json' }, ...(opts.body ? { body: JSON.stringify(opts.body) } : {}) });
}

describe('watch on lists', () => {
  it('gives every list its version, equal for equal pages', async () => {
    const call = api();
    await call('POST', '/v1/services', { body: service('web') });
    const a = await call('GET', '/v1/services');
    const b = await call('GET', '/v1/services');
    expect(a.headers?.['x-resource-version']).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(b.headers?.['x-resource-version']).toBe(a.headers?.['x-resource-version']);
    expect(a.headers?.etag).toBe(`W/"${a.headers?.['x-resource-version']}"`);
    for (const path of ['/v1/tasks', '/v1/hosts', '/v1/events', '/v1/jobs', '/v1/volumes', '/v1/namespaces'])
      expect((await call('GET', path)).headers?.['x-resource-version'], path).toBeDefined();
  });

  it('holds a watch at the current version until the list changes', async () => {
    const call = api();
    await call('POST', '/v1/services', { body: service('web') });
    const first = await call('GET', '/v1/services');
    const version = first.headers?.['x-resource-version'] as string;
    const watching = call('GET', '/v1/services', { query: { watch: 'true', resourceVersion: version, timeoutSeconds: '20' } });
    let answered = false;
    void watching.then(() => {
      answered = true;
    });
    // The watch has read the list at least once and is waiting.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(answered).toBe(false);
    await call('POST', '/v1/services', { body: service('web', 3) });
    const changed = await watching;
    expect(changed.status).toBe(200);
    expect(changed.headers?.['x-resource-version']).not.toBe(version);
    expect((changed.body as { replicas: number }[])[0].replicas).toBe(3);
  });

  it('answers a watch at an older version at once, and a watch that sees no change when its timeout passes', async () => {
    let clock = 0;
    let reads = 0;
    const list = async () => ({ status: 200, body: [{ n: reads++ < 1 ? 'old' : 'same' }] });
    const sleep = async (ms: number) => {
      clock += ms;
    };
    const stale = await watchedList({ watch: 'true', resourceVersion: 'not-this-one' }, list, { clock: () => clock, sleep });
    expect(reads).toBe(1);
    const version = stale.headers?.['x-resource-version'] as string;
    const same = async () => ({ status: 200, body: [{ n: 'old' }] });
    const timedOut = await watchedList({ watch: 'true', resourceVersion: version, timeoutSeconds: '5' }, same, { clock: () => clock, sleep, intervalMs: 1000 });
    expect(timedOut.headers?.['x-resource-version']).toBe(version);
    // Bounded by its timeout: 5 s of the fake clock, read once a second.
    expect(clock).toBe(5000);
  });

  it('refuses bad watch parameters, naming them', async () => {
    expect(() => watchParams({ watch: 'yes' })).toThrow(/watch: must be true or false/);
    expect(() => watchParams({ watch: 'true' })).toThrow(/resourceVersion: is required with watch=true/);
    expect(() => watchParams({ watch: 'true', resourceVersion: 'abc', timeoutSeconds: '600' })).toThrow(/timeoutSeconds: must be an integer from 1 to 25/);
    const call = api();
    const res = await call('GET', '/v1/tasks', { query: { watch: 'true', resourceVersion: '../etc' } });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ issues: [{ path: 'resourceVersion' }] });
  });
});
