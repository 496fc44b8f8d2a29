/**
 * The API as a contract (issue 16): the OpenAPI document the API serves is valid OpenAPI 3.1 (by
 * @seriousme/openapi-schema-validator), names every route the API core serves and no other, and
 * its request schemas are those that validate requests. Then If-Match, ETag and the paging of
 * every list, on the API core over the in-memory store.
 */
import { readFileSync } from 'node:fs';
import { Validator } from '@seriousme/openapi-schema-validator';
import { describe, expect, it } from 'vitest';
import { MemorySecretMetas } from '../../adapters/memory/secret-metas.ts';
import { MemorySecretVault } from '../../adapters/memory/secret-vault.ts';
import { MemoryStore } from '../../adapters/memory/store.ts';
import { createApi, type ApiResponse } from '../../app/api.ts';
import { OPERATIONS, routeKey, routePath } from '../../app/openapi.ts';
import { SKIFF_VERSION } from '../../core/version.ts';
import { passHarness } from '../pass-harness.ts';

function api() {
  const store = new MemoryStore();
  const core = createApi({ store, now: () => new Date('2026-12-07T08:00:00Z'), kickScheduler: async () => {} });
  const call = (
    method: string,
    path: string,
    opts: { body?: unknown; headers?: Record<string, string>; query?: Record<string, string> } = {},
  ): Promise<ApiResponse> =>
    core({
      method,
      path,
      query: opts.query ?? {},
      headers: { 'content-type': 'application/json', ...opts.headers },
      ...(opts.body !== undefined ? { body: typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body) } : {}),
    });
  return { core, call, store };
}

const service = (name: string, replicas = 1, namespace = 'default') => ({
  kind: 'Service',
  metadata: { name, namespace },
  spec: { replicas, containers: [{ name: 'app', image: 'skiff/busybox:latest' }] },
});

interface Doc {
  openapi: string;
  info: { version: string };
  paths: Record<string, Record<string, { parameters: { name: string; in: string }[]; requestBody?: unknown; responses: Record<string, unknown> }>>;
  components: { schemas: Record<string, { properties?: Record<string, unknown> }> };
}

async function documentOf(call: ReturnType<typeof api>['call']): Promise<Doc> {
  const res = await call('GET', '/v1/openapi.json');
  expect(res.status).toBe(200);
  return res.body as Doc;
}

describe('GET /v1/openapi.json', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    const doc = await documentOf(api().call);
    expect(doc.openapi).toBe('3.1.0');
    const validator = new Validator();
    const result = await validator.validate(structuredClone(doc) as unknown as Record<string, unknown>);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it('names every route the API serves, with its method', async () => {
    const { core, call } = api();
    const doc = await documentOf(call);
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    expect(core.routes.length).toBeGreaterThan(30);
    expect(documented.sort()).toEqual(core.routes.map(routeKey).sort());
  });

  it('serves every path and method it documents, and no method it does not', async () => {
    const { call } = api();
    const doc = await documentOf(call);
    for (const [template, ops] of Object.entries(doc.paths)) {
      const path = template.replace(/\{[^}]+\}/g, 'x');
      for (const method of ['GET', 'PUT', 'POST', 'DELETE']) {
        const res = await call(method, path, method === 'GET' || method === 'DELETE' ? {} : { body: '{}' });
        const body = res.body as { error?: string; message?: string };
        if (method.toLowerCase() in ops) {
          // The route answered (a 404 here is "x not found", never "no route").
          expect(res.status, `${method} ${template}`).not.toBe(405);
          expect(body.message ?? '', `${method} ${template}`).not.toMatch(/^no route/);
        } else {
          expect(res.status, `${method} ${template} is not documented, so it must not be served`).toBe(405);
        }
      }
    }
  });

  it('describes each route in OPERATIONS, and each operation is a route', () => {
    const { core } = api();
    expect(Object.keys(OPERATIONS).sort()).toEqual(core.routes.map(routeKey).sort());
  });

  it('turns route patterns into path templates, and refuses one it cannot', () => {
    expect(routePath(/^\/v1\/namespaces\/(?<namespace>[^/]+)\/services\/(?<name>[^/]+)\/scale$/)).toBe('/v1/namespaces/{namespace}/services/{name}/scale');
    expect(routePath(/^\/v1\/openapi\.json$/)).toBe('/v1/openapi.json');
    expect(() => routePath(/^\/v1\/(a|b)$/)).toThrow(/not a plain path template/);
  });

  it("uses the spec parser's own schema for service bodies: every spec field is in it", async () => {
    const doc = await documentOf(api().call);
    const body = doc.components.schemas.ServiceBody as { properties: { spec: { properties: Record<string, unknown> } } };
    expect(Object.keys(body.properties)).toEqual(['kind', 'metadata', 'spec']);
    for (const field of ['replicas', 'containers', 'placement', 'ingress', 'autoscaling', 'update', 'terminationGracePeriodSeconds'])
      expect(body.properties.spec.properties).toHaveProperty(field);
    const put = doc.paths['/v1/namespaces/{namespace}/services/{name}'].put;
    expect(put.requestBody).toMatchObject({ content: { 'application/json': { schema: { $ref: '#/components/schemas/ServiceBody' } } } });
    expect(put.parameters.map((p) => p.name)).toContain('If-Match');
    expect(doc.paths['/v1/tasks'].get.parameters.map((p) => p.name)).toEqual(expect.arrayContaining(['limit', 'cursor', 'watch', 'resourceVersion']));
  });

  it("carries Skiff's version, which is package.json's", async () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(SKIFF_VERSION).toBe(pkg.version);
    const { call } = api();
    expect((await documentOf(call)).info.version).toBe(pkg.version);
    expect((await call('GET', '/v1/version')).body).toEqual({ version: pkg.version, api: 'v1' });
  });
});

describe('If-Match and ETag', () => {
  it('gives the specVersion as ETag, and refuses a write at another version with 412', async () => {
    const { call } = api();
    const created = await call('PUT', '/v1/namespaces/default/services/web', { body: service('web', 1) });
    expect(created.status).toBe(201);
    expect(created.headers?.etag).toBe('"1"');
    const read = await call('GET', '/v1/namespaces/default/services/web');
    expect(read.headers?.etag).toBe('"1"');

    // Alice and Bob both read version 1; Alice writes first.
    const alice = await call('PUT', '/v1/namespaces/default/services/web', { body: service('web', 2), headers: { 'if-match': '"1"' } });
    expect(alice.status).toBe(200);
    expect(alice.headers?.etag).toBe('"2"');
    const bob = await call('PUT', '/v1/namespaces/default/services/web', { body: service('web', 3), headers: { 'if-match': '"1"' } });
    expect(bob.status).toBe(412);
    expect(bob.body).toMatchObject({ error: 'PreconditionFailedError', currentVersion: 2 });
    expect((bob.body as { message: string }).message).toMatch(/is at version 2, not 1/);
    expect(((await call('GET', '/v1/namespaces/default/services/web')).body as { replicas: number }).replicas).toBe(2);
  });

  it('checks If-Match on POST /v1/services, scale, restart, undo and delete', async () => {
    const { call } = api();
    await call('POST', '/v1/services', { body: service('web') });
    const stale = { 'if-match': '"7"' };
    const base = '/v1/namespaces/default/services/web';
    expect((await call('POST', '/v1/services', { body: service('web', 2), headers: stale })).status).toBe(412);
    expect((await call('POST', `${base}/scale`, { body: { replicas: 2 }, headers: stale })).status).toBe(412);
    expect((await call('POST', `${base}/rollout/restart`, { headers: stale })).status).toBe(412);
    expect((await call('POST', `${base}/rollout/undo`, { body: {}, headers: stale })).status).toBe(412);
    expect((await call('DELETE', base, { headers: stale })).status).toBe(412);
    expect((await call('POST', `${base}/scale`, { body: { replicas: 2 }, headers: { 'if-match': 'W/"1"' } })).status).toBe(200);
    expect((await call('DELETE', base, { headers: { 'if-match': '*' } })).status).toBe(202);
  });

  it('refuses If-Match on an object that does not exist, on a write without a version, and a malformed one', async () => {
    const { call } = api();
    const missing = await call('PUT', '/v1/namespaces/default/services/web', { body: service('web'), headers: { 'if-match': '"1"' } });
    expect(missing.status).toBe(412);
    expect((missing.body as { message: string }).message).toMatch(/does not exist/);
    const drain = await call('POST', '/v1/hosts/h1/drain', { headers: { 'if-match': '"1"' } });
    expect(drain.status).toBe(400);
    expect((drain.body as { message: string }).message).toMatch(/has no version to match/);
    const bad = await call('PUT', '/v1/namespaces/default/services/web', { body: service('web'), headers: { 'if-match': 'yesterday please' } });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ issues: [{ path: 'If-Match' }] });
  });

  it('checks If-Match on POST /v1/apply of one workload, and refuses it for several documents', async () => {
    const { call } = api();
    await call('POST', '/v1/services', { body: service('web') });
    const yaml = (replicas: number) =>
      `kind: Service\nmetadata: { name: web }\nspec: { replicas: ${replicas}, containers: [{ name: app, image: skiff/busybox }] }\n`;
    const apply = (body: string, ifMatch: string) => call('POST', '/v1/apply', { body, headers: { 'content-type': 'application/yaml', 'if-match': ifMatch } });
    expect((await apply(yaml(2), '"5"')).status).toBe(412);
    const ok = await apply(yaml(2), '"1"');
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ results: [{ kind: 'Service', namespace: 'default', name: 'web', result: 'updated', specVersion: 2 }] });
    expect(ok.headers?.etag).toBe('"2"');
    const two = await apply(`${yaml(3)}---\n${yaml(3).replace('name: web', 'name: api')}`, '"2"');
    expect(two.status).toBe(400);
    expect((two.body as { message: string }).message).toMatch(/applies to one Service, Job or CronJob document/);
  });

  it('checks the version of a namespace', async () => {
    const { call } = api();
    const ns = { kind: 'Namespace', metadata: { name: 'shop' } };
    const made = await call('POST', '/v1/namespaces', { body: ns });
    expect(made.headers?.etag).toBe('"1"');
    const changed = { ...ns, spec: { quota: { services: 3 } } };
    expect((await call('PUT', '/v1/namespaces/shop', { body: changed, headers: { 'if-match': '"2"' } })).status).toBe(412);
    expect((await call('PUT', '/v1/namespaces/shop', { body: changed, headers: { 'if-match': '"1"' } })).status).toBe(200);
    expect((await call('DELETE', '/v1/namespaces/shop', { headers: { 'if-match': '"1"' } })).status).toBe(412);
  });
});

describe('paging every list', () => {
  it('pages jobs and namespaces with a cursor like the other lists', async () => {
    const { call } = api();
    for (const ns of ['a', 'b', 'c']) await call('POST', '/v1/services', { body: service('web', 1, ns) });
    const first = await call('GET', '/v1/namespaces', { query: { limit: '2' } });
    expect((first.body as { name: string }[]).map((n) => n.name)).toEqual(['a', 'b']);
    const cursor = first.headers?.['x-next-cursor'];
    expect(cursor).toBeDefined();
    const second = await call('GET', '/v1/namespaces', { query: { limit: '2', cursor: cursor as string } });
    expect((second.body as { name: string }[]).map((n) => n.name)).toEqual(['c']);
    expect(second.headers?.['x-next-cursor']).toBeUndefined();
    const job = { kind: 'Job', metadata: { name: 'once' }, spec: { containers: [{ name: 'c', image: 'skiff/busybox' }] } };
    const job2 = { ...job, metadata: { name: 'twice' } };
    await call('POST', '/v1/services', { body: job });
    await call('POST', '/v1/services', { body: job2 });
    const jobs = await call('GET', '/v1/jobs', { query: { limit: '1' } });
    expect((jobs.body as { name: string }[]).map((j) => j.name)).toEqual(['once']);
    expect(jobs.headers?.['x-next-cursor']).toBeDefined();
  });
});

describe('the small bodies are checked with the schemas the document shows', () => {
  it('refuses a bad scale or undo body with the field named', async () => {
    const { call } = api();
    await call('POST', '/v1/services', { body: service('web') });
    const base = '/v1/namespaces/default/services/web';
    const scale = await call('POST', `${base}/scale`, { body: { replicas: 'many' } });
    expect(scale.status).toBe(400);
    expect(scale.body).toMatchObject({ issues: [{ path: 'replicas', message: 'must be an integer from 0 to 1000; got "many"' }] });
    const undo = await call('POST', `${base}/rollout/undo`, { body: { toVersion: 0 } });
    expect(undo.body).toMatchObject({ issues: [{ path: 'toVersion', message: 'must be a positive integer (a version of skiff rollout history); got 0' }] });
    const doc = (await call('GET', '/v1/openapi.json')).body as Doc;
    expect(doc.components.schemas.ScaleBody.properties).toHaveProperty('replicas');
  });
});

describe('the answers match the schemas the document gives them', () => {
  it('services, tasks, hosts, events, volumes, jobs, namespaces, secrets and the version, after a pass placed replicas', async () => {
    const { Ajv2020 } = await import('ajv/dist/2020.js');
    const h = await passHarness([
      { id: 'h1', cpu: 2000 },
      { id: 'h2', cpu: 2000 },
    ]);
    const vault = { metas: new MemorySecretMetas(), vault: new MemorySecretVault() };
    const core = createApi({ store: h.store, now: () => new Date(h.now()), kickScheduler: async () => {}, secrets: vault });
    const call = (path: string, body?: unknown) =>
      core({
        method: body ? 'POST' : 'GET',
        path,
        query: {},
        headers: { 'content-type': 'application/json' },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
    await call('/v1/services', {
      ...service('web', 3),
      spec: {
        replicas: 3,
        containers: [{ name: 'app', image: 'skiff/busybox:latest', volumeMounts: [{ name: 'data', mountPath: '/data' }] }],
        volumes: [{ name: 'data', persistent: {} }],
      },
    });
    await call('/v1/services', {
      ...service('api', 1),
      spec: { ...service('api').spec, autoscaling: { minReplicas: 1, maxReplicas: 3, targetCPUUtilization: 70 } },
    });
    await h.pass();
    await call('/v1/namespaces/default/services/web/scale', { replicas: 2 });
    const doc = (await call('/v1/openapi.json')).body as Doc;
    const ajv = new Ajv2020({ strict: false });
    const check = (name: string, value: unknown) => {
      const validate = ajv.compile(doc.components.schemas[name]);
      expect(validate(value) ? [] : validate.errors, `${name}: ${JSON.stringify(value).slice(0, 200)}`).toEqual([]);
    };
    const tasks = (await call('/v1/tasks')).body as { id: string }[];
    expect(tasks.length).toBe(4);
    for (const t of tasks) check('TaskView', t);
    check('TaskView', (await call(`/v1/tasks/${tasks[0].id}`)).body);
    const services = (await call('/v1/services')).body as unknown[];
    expect(services.length).toBe(2);
    for (const s of services) check('ServiceSummary', s);
    for (const host of (await call('/v1/hosts')).body as unknown[]) check('HostView', host);
    const events = (await call('/v1/events')).body as unknown[];
    expect(events.length).toBeGreaterThan(0);
    for (const e of events) check('Event', e);
    check('Version', (await call('/v1/version')).body);
    for (const v of (await call('/v1/volumes')).body as unknown[]) check('VolumeView', v);
    expect(((await call('/v1/volumes')).body as unknown[]).length).toBe(3);
    await call('/v1/services', { kind: 'Job', metadata: { name: 'once' }, spec: { containers: [{ name: 'c', image: 'skiff/busybox' }] } });
    await call('/v1/namespaces', {
      kind: 'Namespace',
      metadata: { name: 'shop' },
      spec: { quota: { cpu: '2', services: 3 }, ingressHosts: ['*.shop.example.com'] },
    });
    const jobs = (await call('/v1/jobs')).body as unknown[];
    expect(jobs.length).toBe(1);
    for (const j of jobs) check('JobSummary', j);
    const namespaces = (await call('/v1/namespaces')).body as unknown[];
    expect(namespaces.length).toBe(2);
    for (const n of namespaces) check('NamespaceView', n);
    check('NamespaceView', (await call('/v1/namespaces/shop')).body);
    await call('/v1/apply', { kind: 'Secret', metadata: { name: 'db' }, data: { password: 'x' } });
    const secrets = (await call('/v1/secrets')).body as unknown[];
    expect(secrets.length).toBe(1);
    for (const x of secrets) check('SecretView', x);
    // The document names them as the answers of those routes.
    expect(doc.paths['/v1/tasks'].get.responses['200']).toMatchObject({
      content: { 'application/json': { schema: { type: 'array', items: { $ref: '#/components/schemas/TaskView' } } } },
    });
  });
});

describe('ETag and If-Match on jobs', () => {
  it("gives a job's specVersion as ETag and checks it on delete", async () => {
    const { call } = api();
    await call('POST', '/v1/services', { body: { kind: 'Job', metadata: { name: 'once' }, spec: { containers: [{ name: 'c', image: 'skiff/busybox' }] } } });
    const job = await call('GET', '/v1/namespaces/default/jobs/once');
    expect(job.headers?.etag).toBe('"1"');
    expect((await call('DELETE', '/v1/namespaces/default/jobs/once', { headers: { 'if-match': '"2"' } })).status).toBe(412);
    expect((await call('DELETE', '/v1/namespaces/default/jobs/once', { headers: { 'if-match': '"1"' } })).status).toBe(202);
  });
});
