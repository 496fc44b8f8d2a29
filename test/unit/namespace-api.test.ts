/**
 * Namespaces through the API core with the scheduler pass on the same in-memory state: quotas
 * refuse an apply one over (a 403 with the numbers) and pass one exactly at; ingress patterns keep
 * a tenant off another's hosts; deleting a namespace deletes its services, then itself.
 */
import { describe, expect, it } from 'vitest';
import { createApi, type ApiResponse } from '../../app/api.ts';
import { MemoryTenancyStore } from '../../adapters/memory/tenancy-store.ts';
import { passHarness, type PassHarness } from '../pass-harness.ts';

const spec = (name: string, replicas: number, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    kind: 'Service',
    metadata: { name, namespace: 'shop' },
    spec: { replicas, containers: [{ name: 'app', image: 'skiff/busybox:latest', resources: { cpu: '100m', memory: '512Mi' } }], ...extra },
  });

async function api(h: PassHarness) {
  const core = createApi({ store: h.store, tenancy: new MemoryTenancyStore(), now: () => new Date(h.now()), kickScheduler: async () => {} });
  return (method: string, target: string, body?: string): Promise<ApiResponse> => {
    const url = new URL(target, 'http://x');
    const query = Object.fromEntries(url.searchParams);
    return core({ method, path: url.pathname, query, headers: { 'content-type': 'application/json' }, ...(body !== undefined ? { body } : {}) });
  };
}

const namespace = (spec: Record<string, unknown>, name = 'shop') => JSON.stringify({ kind: 'Namespace', metadata: { name }, spec });

describe('namespaces through the API', () => {
  it('refuses an apply one over the memory quota with the numbers, and takes one exactly at it', async () => {
    const h = await passHarness([{ id: 'h1', cpu: 8000, memory: 16 * 2 ** 30 }]);
    const call = await api(h);
    expect((await call('POST', '/v1/namespaces', namespace({ quota: { memory: '8Gi' } }))).status).toBe(201);
    expect((await call('PUT', '/v1/namespaces/shop/services/a', spec('a', 15))).status).toBe(201);
    const over = await call('POST', '/v1/services', spec('b', 2));
    expect(over.status).toBe(403);
    expect(over.body).toMatchObject({ error: 'QuotaExceededError', message: 'namespace shop: memory 7.5Gi of 8Gi used, this change needs 1Gi more' });
    expect((await call('GET', '/v1/namespaces/shop/services/b')).status).toBe(404);
    expect((await call('POST', '/v1/services', spec('b', 1))).status).toBe(201);
    const shown = (await call('GET', '/v1/namespaces/shop')).body as { used: { memory: number; tasks: number } };
    expect(shown.used).toMatchObject({ memory: 8 * 2 ** 30, tasks: 16 });
  });

  it('keeps a tenant off the ingress hosts the cluster admin gave another namespace', async () => {
    const h = await passHarness([]);
    const call = await api(h);
    await call('POST', '/v1/namespaces', namespace({ ingressHosts: ['*.web.example.com'] }, 'web'));
    const ingress = { ingress: { host: 'www.web.example.com', port: 8080 } };
    const withPort = (name: string) =>
      JSON.stringify({
        kind: 'Service',
        metadata: { name, namespace: 'shop' },
        spec: { replicas: 1, containers: [{ name: 'app', image: 'skiff/busybox', ports: [{ containerPort: 8080 }] }], ...ingress },
      });
    const squat = await call('POST', '/v1/services', withPort('squat'));
    expect(squat.status).toBe(400);
    expect(JSON.stringify(squat.body)).toContain('belongs to namespace web');
  });

  it('deletes a namespace in order: its services first, then the namespace; nothing new meanwhile', async () => {
    const h = await passHarness([{ id: 'h1', cpu: 4000 }]);
    const call = await api(h);
    await call('POST', '/v1/namespaces', namespace({}));
    await call('POST', '/v1/services', spec('a', 1));
    await call('POST', '/v1/services', spec('b', 1));
    await h.pass();
    const del = await call('DELETE', '/v1/namespaces/shop');
    expect(del).toMatchObject({ status: 202, body: { services: ['a', 'b'] } });
    expect((await call('POST', '/v1/services', spec('c', 1))).status).toBe(409);
    expect(((await call('GET', '/v1/namespaces/shop')).body as { deleting: string | null }).deleting).not.toBeNull();
    for (let i = 0; i < 5 && (await h.store.listServices('shop')).length > 0; i++) await h.pass();
    expect(await h.store.listServices('shop')).toEqual([]);
    expect((await call('GET', '/v1/namespaces/shop')).status).toBe(404);
    const events = (await call('GET', '/v1/events?namespace=shop')).body as { type: string; actor?: string }[];
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['namespace.created', 'service.created', 'namespace.deleting']));
    expect(events.filter((e) => e.type.startsWith('namespace.')).every((e) => e.actor === 'local-admin')).toBe(true);
  });
});
