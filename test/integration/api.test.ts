/**
 * The API core over the real store (dynalite), called directly and through the Lambda handler
 * with API Gateway HTTP API events.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoStore } from '../../adapters/aws/dynamo-store.ts';
import { dynaliteClient, ensureTable, startDynalite, type DynaliteServer } from '../../local/dynalite.ts';
import { createApi, type ApiRequest } from '../../app/api.ts';
import { makeApiHandler } from '../../app/handlers/api.ts';
import { ROOT } from '../helpers/cli.ts';

let dynamo: DynaliteServer;
let client: DynamoDBClient;
let tables = 0;
const hello = readFileSync(join(ROOT, 'examples', 'hello.yaml'), 'utf8');

beforeAll(async () => {
  dynamo = await startDynalite();
  client = dynaliteClient(dynamo.endpoint);
});
afterAll(async () => {
  client?.destroy();
  await dynamo?.close();
});

async function api() {
  const tableName = `api-${++tables}`;
  await ensureTable(client, tableName);
  const store = new DynamoStore(client, { tableName });
  let kicks = 0;
  const handle = createApi({ store, now: () => new Date('2026-01-01T00:00:00Z'), kickScheduler: async () => void kicks++ });
  const call = (method: string, path: string, body?: string, contentType = 'application/json', query: Record<string, string> = {}) =>
    handle({ method, path, query, headers: { 'content-type': contentType }, body } satisfies ApiRequest);
  return { store, call, kicks: () => kicks };
}

const spec = (replicas: number, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ kind: 'Service', metadata: { name: 'web' }, spec: { replicas, containers: [{ name: 'app', image: 'skiff/busybox:latest', ...extra }] } });

describe('the API', () => {
  it('creates a service from YAML with every default filled in, and asks for a scheduler pass', async () => {
    const a = await api();
    const res = await a.call('POST', '/v1/services', hello, 'application/yaml');
    expect(res.status).toBe(201);
    const body = res.body as {
      result: string;
      service: { namespace: string; specVersion: number; spec: { spec: { restartPolicy: string; placement: unknown } } };
    };
    expect(body.result).toBe('created');
    expect(body.service.namespace).toBe('default');
    expect(body.service.spec.spec.restartPolicy).toBe('always');
    expect(body.service.spec.spec.placement).toEqual({ strategy: 'spread', constraints: [] });
    expect(a.kicks()).toBe(1);
  });

  it('treats re-applying an identical spec as unchanged, and a change as an update', async () => {
    const a = await api();
    await a.call('POST', '/v1/services', spec(2));
    const same = await a.call('POST', '/v1/services', spec(2));
    expect(same).toMatchObject({ status: 200, body: { result: 'unchanged', service: { specVersion: 1 } } });
    const changed = await a.call('POST', '/v1/services', spec(3));
    expect(changed).toMatchObject({ status: 200, body: { result: 'updated', service: { specVersion: 2 } } });
  });

  it.each([
    ['an empty body', '', 'request body is empty'],
    ['a body that is not JSON', '{"kind":', 'request body is not valid JSON'],
    ['an unknown field', spec(1, { imagee: 'x' }), 'spec.containers[0].imagee'],
    ['negative replicas', spec(-1), 'spec.replicas'],
    ['a memory quantity in the wrong form', spec(1, { resources: { memory: '12 MB' } }), 'spec.containers[0].resources.memory'],
  ])('rejects %s with a 400 naming the problem, and keeps what was stored', async (_name, body, message) => {
    const a = await api();
    await a.call('POST', '/v1/services', spec(2));
    const res = await a.call('POST', '/v1/services', body);
    expect(res.status).toBe(400);
    expect((res.body as { message: string }).message).toContain(message);
    const stored = await a.store.getService('default', 'web');
    expect(stored?.spec.spec.replicas).toBe(2);
    expect(stored?.specVersion).toBe(1);
  });

  it('rejects an apply while the service is being deleted', async () => {
    const a = await api();
    await a.call('POST', '/v1/services', spec(1));
    expect((await a.call('DELETE', '/v1/namespaces/default/services/web')).status).toBe(202);
    const res = await a.call('POST', '/v1/services', spec(2));
    expect(res.status).toBe(409);
    expect((res.body as { message: string }).message).toContain('being deleted');
  });

  it('lets exactly one of two concurrent creates of a service win', async () => {
    const a = await api();
    const results = await Promise.all([a.call('POST', '/v1/services', spec(1)), a.call('POST', '/v1/services', spec(5))]);
    expect(results.map((r) => r.status).sort()).toEqual([201, 409]);
  });

  it('answers 404 for unknown services, tasks, hosts and routes, and 405 for a wrong method', async () => {
    const a = await api();
    expect(await a.call('GET', '/v1/namespaces/default/services/nope')).toMatchObject({ status: 404, body: { message: 'service default/nope not found' } });
    expect(await a.call('DELETE', '/v1/namespaces/default/services/nope')).toMatchObject({ status: 404 });
    expect(await a.call('GET', '/v1/tasks/nope-1-aaaaa')).toMatchObject({ status: 404 });
    expect(await a.call('GET', '/v1/hosts/nope')).toMatchObject({ status: 404 });
    expect(await a.call('GET', '/v2/whatever')).toMatchObject({ status: 404 });
    expect(await a.call('PATCH', '/v1/services')).toMatchObject({ status: 405 });
  });

  it('lists services with their progress, and pending tasks', async () => {
    const a = await api();
    await a.call('POST', '/v1/services', spec(2));
    await a.store.putTask(
      {
        id: 'web-1-aaaaa',
        namespace: 'default',
        service: 'web',
        slot: 1,
        incarnation: 1,
        specVersion: 1,
        pod: { containers: [], restartPolicy: 'always' },
        desired: 'running',
        createdAt: '2026-01-01T00:00:00Z',
      },
      undefined,
    );
    const list = await a.call('GET', '/v1/services');
    expect(list.body).toEqual([expect.objectContaining({ namespace: 'default', name: 'web', replicas: 2, running: 0, ready: false })]);
    const tasks = await a.call('GET', '/v1/tasks', undefined, 'application/json', { service: 'web', namespace: 'default' });
    expect(tasks.body).toEqual([expect.objectContaining({ id: 'web-1-aaaaa', state: 'pending', host: null, ports: [] })]);
  });
});

describe('the API and malformed input', () => {
  it.each([
    ['YAML nested 5,000 deep', 'POST', '/v1/services', `kind: Service\nspec: ${'['.repeat(5000)}${']'.repeat(5000)}\n`, 'application/yaml', {}, 'nested'],
    [
      'JSON nested 100,000 deep',
      'POST',
      '/v1/services',
      `{"kind":"Service","spec":${'['.repeat(100_000)}${']'.repeat(100_000)}}`,
      'application/json',
      {},
      'nested',
    ],
    ['a malformed percent-encoding in a path', 'GET', '/v1/namespaces/%E0%A4%A/services/web', undefined, 'application/json', {}, 'percent-encoding'],
    ['a service name over 2 KB', 'GET', `/v1/namespaces/default/services/${'a'.repeat(2100)}`, undefined, 'application/json', {}, 'at most 253 characters'],
    ['a host id over 2 KB', 'POST', `/v1/hosts/${'h'.repeat(2100)}/drain`, undefined, 'application/json', {}, 'at most 253 characters'],
    ['a query value over 2 KB', 'GET', '/v1/tasks', undefined, 'application/json', { namespace: 'n'.repeat(2100), service: 'web' }, 'at most 253 characters'],
  ])('answers %s with a 400 naming the problem', async (_name, method, path, body, contentType, query, fragment) => {
    const a = await api();
    const res = await a.call(method, path, body, contentType, query as Record<string, string>);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: 'ValidationError' });
    expect((res.body as { message: string }).message).toContain(fragment);
  });
});

describe('the API Lambda handler', () => {
  it('maps an API Gateway HTTP API event to the API and back, base64 bodies included', async () => {
    const tableName = `api-${++tables}`;
    await ensureTable(client, tableName);
    const handler = makeApiHandler({ store: new DynamoStore(client, { tableName }), now: () => new Date(), kickScheduler: async () => {} });
    const event = (method: string, path: string, body?: string, base64 = false): APIGatewayProxyEventV2 =>
      ({
        version: '2.0',
        routeKey: '$default',
        rawPath: path,
        rawQueryString: '',
        headers: { 'Content-Type': 'application/yaml' },
        body: body && base64 ? Buffer.from(body).toString('base64') : body,
        isBase64Encoded: base64,
        // What API Gateway's IAM authorizer adds for a signed request (no bindings configured: cluster admin).
        requestContext: {
          http: { method, path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 't' },
          authorizer: { iam: { userArn: 'arn:aws:iam::1:user/test' } },
        },
      }) as unknown as APIGatewayProxyEventV2;
    const created = await handler(event('POST', '/v1/services', hello, true), {} as Context);
    expect(created.statusCode).toBe(201);
    expect(created.headers).toMatchObject({ 'content-type': 'application/json' });
    const got = await handler(event('GET', '/v1/namespaces/default/services/hello'), {} as Context);
    expect(JSON.parse(got.body!)).toMatchObject({ name: 'hello', replicas: 3, tasks: [] });
    const bad = await handler(event('POST', '/v1/services', 'kind: Nope\n'), {} as Context);
    expect(bad.statusCode).toBe(400);
    expect(JSON.parse(bad.body!)).toMatchObject({ error: 'ValidationError' });

    // A list page: the array body, and the next page's cursor as a response header.
    expect((await handler(event('POST', '/v1/services', spec(1)), {} as Context)).statusCode).toBe(201);
    const page = (cursor?: string) =>
      ({ ...event('GET', '/v1/services'), queryStringParameters: { limit: '1', ...(cursor ? { cursor } : {}) } }) as APIGatewayProxyEventV2;
    const first = await handler(page(), {} as Context);
    expect(JSON.parse(first.body!).map((s: { name: string }) => s.name)).toEqual(['hello']);
    const cursor = first.headers?.['x-next-cursor'];
    expect(typeof cursor).toBe('string');
    const second = await handler(page(String(cursor)), {} as Context);
    expect(JSON.parse(second.body!).map((s: { name: string }) => s.name)).toEqual(['web']);
    expect(second.headers?.['x-next-cursor']).toBeUndefined();
  });
});

describe('the API and ingress hosts', () => {
  const withIngress = (namespace: string, name: string, host: string, replicas = 1) =>
    JSON.stringify({
      kind: 'Service',
      metadata: { name, namespace },
      spec: {
        replicas,
        containers: [{ name: 'app', image: 'skiff/busybox:latest', ports: [{ containerPort: 8080, name: 'http' }] }],
        ingress: { host, port: 'http' },
      },
    });

  it('rejects an ingress host another service uses, naming both, and stores nothing', async () => {
    const a = await api();
    expect((await a.call('POST', '/v1/services', withIngress('default', 'web', 'shop.example.com'))).status).toBe(201);
    const res = await a.call('POST', '/v1/services', withIngress('shop', 'api', 'shop.example.com'));
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({
      error: 'ValidationError',
      issues: [{ path: 'spec.ingress.host', message: expect.stringContaining('ingress host shop.example.com is already used by service default/web') }],
    });
    expect((res.body as { message: string }).message).toContain('shop/api');
    expect(await a.store.getService('shop', 'api')).toBeUndefined();
    expect(a.kicks()).toBe(1);
  });

  it('shares a host between services by path, and refuses a second claim of the same host and path, naming both', async () => {
    const a = await api();
    const withPath = (name: string, host: string, path?: string) => {
      const doc = JSON.parse(withIngress('default', name, host));
      if (path !== undefined) doc.spec.ingress.path = path;
      return JSON.stringify(doc);
    };
    expect((await a.call('POST', '/v1/services', withPath('web', 'shop.example.com'))).status).toBe(201);
    expect((await a.call('POST', '/v1/services', withPath('api', 'shop.example.com', '/api'))).status).toBe(201);
    expect((await a.call('POST', '/v1/services', withPath('any', '*.example.com'))).status).toBe(201);
    const res = await a.call('POST', '/v1/services', withPath('api2', 'shop.example.com', '/api'));
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({
      issues: [
        {
          path: 'spec.ingress.path',
          message:
            'ingress host shop.example.com and path /api (shop.example.com/api) is already used by service default/api; choose another host or path for default/api2, or remove the ingress of default/api first',
        },
      ],
    });
    expect(await a.store.getService('default', 'api2')).toBeUndefined();
  });

  it('rejects taking the host of another service on an update, and keeps the stored spec', async () => {
    const a = await api();
    await a.call('POST', '/v1/services', withIngress('default', 'web', 'shop.example.com'));
    await a.call('POST', '/v1/services', withIngress('default', 'cart', 'cart.example.com'));
    const res = await a.call('POST', '/v1/services', withIngress('default', 'cart', 'shop.example.com', 3));
    expect(res.status).toBe(400);
    const stored = await a.store.getService('default', 'cart');
    expect(stored?.spec.spec).toMatchObject({ replicas: 1, ingress: { host: 'cart.example.com', port: 8080, sessionAffinity: false } });
    expect(stored?.specVersion).toBe(1);
  });

  it('lets a service keep its own host on an update, and another take a host once it is free', async () => {
    const a = await api();
    await a.call('POST', '/v1/services', withIngress('default', 'web', 'shop.example.com'));
    expect(await a.call('POST', '/v1/services', withIngress('default', 'web', 'shop.example.com', 2))).toMatchObject({
      status: 200,
      body: { result: 'updated' },
    });
    expect((await a.call('POST', '/v1/services', withIngress('default', 'web', 'www.example.com', 2))).status).toBe(200);
    expect((await a.call('POST', '/v1/services', withIngress('default', 'api', 'shop.example.com'))).status).toBe(201);
  });

  it('keeps the host of a service being deleted until it is gone, and says so', async () => {
    const a = await api();
    await a.call('POST', '/v1/services', withIngress('default', 'web', 'shop.example.com'));
    await a.call('DELETE', '/v1/namespaces/default/services/web');
    const res = await a.call('POST', '/v1/services', withIngress('default', 'api', 'shop.example.com'));
    expect(res.status).toBe(400);
    expect((res.body as { message: string }).message).toContain('is already used by service default/web; it is being deleted');
    await a.store.removeService('default', 'web');
    expect((await a.call('POST', '/v1/services', withIngress('default', 'api', 'shop.example.com'))).status).toBe(201);
  });
});
