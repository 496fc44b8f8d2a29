/**
 * Local mode's API server over real HTTP on 127.0.0.1: it is not an open door for a web page the
 * user happens to visit. Cross-site request forgery needs a body type a page can send without a
 * preflight (text/plain, a form) or an Origin of its own; DNS rebinding needs a foreign Host. The
 * handler behind the server is a recorder: what is under test is the shell's gate (and its bearer
 * token), and whether the CLI's own requests still pass it.
 */
import http from 'node:http';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import { bearerMatches, startApiServer, type LocalApiServer } from '../../local/api-server.ts';
import type { ApiHandler } from '../../app/handlers/api.ts';
import { ApiClient, ApiError } from '../../cli/client.ts';

const TOKEN = 'k1dS8u8a3cGfW0Hq2x9Yb7VtZr4LmN6pQeJoA5sDi0c';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

/** A server whose handler records every event that reached it and answers `{ ok: true }`. */
async function server(): Promise<{ api: LocalApiServer; port: number; seen: APIGatewayProxyEventV2[] }> {
  const seen: APIGatewayProxyEventV2[] = [];
  const handler: ApiHandler = async (event) => {
    seen.push(event);
    return { statusCode: 200, body: JSON.stringify({ ok: true }) };
  };
  const api = await startApiServer(handler, { token: TOKEN });
  cleanups.push(() => api.close());
  return { api, port: Number(new URL(api.url).port), seen };
}

interface Answer {
  status: number;
  body: { error?: string; message?: string; ok?: boolean };
}

/** One raw request, with the token and exactly the headers given (Node adds Host only when none is given); `auth: false` sends no token. */
function send(port: number, o: { method?: string; path?: string; headers?: Record<string, string>; body?: string; auth?: false }): Promise<Answer> {
  const headers = o.auth === false ? o.headers : { authorization: `Bearer ${TOKEN}`, ...o.headers };
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: o.method ?? 'GET', path: o.path ?? '/v1/services', headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Answer['body'] }));
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

const SPEC = JSON.stringify({ kind: 'Service', metadata: { name: 'web' }, spec: { replicas: 1 } });

describe('the local API server', () => {
  it('refuses a body sent as text/plain (what a web page can POST without a preflight) with a 415 that names the accepted types', async () => {
    const { port, seen } = await server();
    const a = await send(port, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: SPEC });
    expect(a.status).toBe(415);
    expect(a.body.error).toBe('UnsupportedMediaType');
    expect(a.body.message).toContain('text/plain');
    expect(a.body.message).toContain('application/json');
    expect(a.body.message).toContain('application/yaml');
    expect(seen).toEqual([]);
  });

  it.each(['application/x-www-form-urlencoded', 'multipart/form-data; boundary=x'])('refuses a form body (%s)', async (type) => {
    const { port, seen } = await server();
    expect((await send(port, { method: 'POST', headers: { 'content-type': type }, body: SPEC })).status).toBe(415);
    expect(seen).toEqual([]);
  });

  it('refuses a body with no Content-Type', async () => {
    const { port, seen } = await server();
    const a = await send(port, { method: 'POST', headers: { 'content-length': String(Buffer.byteLength(SPEC)) }, body: SPEC });
    expect(a.status).toBe(415);
    expect(a.body.message).toContain('no Content-Type');
    expect(seen).toEqual([]);
  });

  it.each(['application/json', 'application/json; charset=utf-8', 'Application/JSON', 'application/yaml', 'application/x-yaml', 'text/yaml'])(
    'passes a body sent as %s to the handler',
    async (type) => {
      const { port, seen } = await server();
      const a = await send(port, { method: 'POST', headers: { 'content-type': type }, body: SPEC });
      expect(a).toEqual({ status: 200, body: { ok: true } });
      expect(seen.map((e) => e.body)).toEqual([SPEC]);
    },
  );

  it('passes a request with no body whatever its Content-Type, since there is nothing to misread', async () => {
    const { port, seen } = await server();
    expect((await send(port, { method: 'POST', path: '/v1/hosts/h1/drain' })).status).toBe(200);
    expect((await send(port, { method: 'DELETE', path: '/v1/namespaces/default/services/web', headers: { 'content-type': 'text/plain' } })).status).toBe(200);
    expect(seen.map((e) => e.rawPath)).toEqual(['/v1/hosts/h1/drain', '/v1/namespaces/default/services/web']);
  });

  it('refuses a Host header that names another host (DNS rebinding) with a 421, and does not call the handler', async () => {
    const { port, seen } = await server();
    for (const host of [`evil.example:${port}`, `127.0.0.1.nip.io:${port}`, `localhost.evil.example:${port}`, `10.0.0.1:${port}`]) {
      const a = await send(port, { headers: { host } });
      expect(a.status, host).toBe(421);
      expect(a.body.error).toBe('MisdirectedRequest');
      expect(a.body.message).toContain(`127.0.0.1:${port}`);
    }
    expect(seen).toEqual([]);
  });

  it('refuses a loopback Host with another port, or with none', async () => {
    const { port, seen } = await server();
    for (const host of [`127.0.0.1:${port + 1}`, `localhost:${port + 1}`, 'localhost', '127.0.0.1']) {
      expect((await send(port, { headers: { host } })).status, host).toBe(421);
    }
    expect(seen).toEqual([]);
  });

  it('accepts a Host that names this API on a loopback address or localhost', async () => {
    const { port, seen } = await server();
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LocalHost:${port}`, `[::1]:${port}`, `127.0.1.5:${port}`]) {
      expect((await send(port, { headers: { host } })).status, host).toBe(200);
    }
    expect(seen).toHaveLength(5);
  });

  it('refuses a request from a web page of another origin with a 403, even with a JSON body', async () => {
    const { port, seen } = await server();
    for (const origin of ['http://evil.example', `http://localhost:${port + 1}`, 'null', `https://127.0.0.1:${port}`]) {
      const a = await send(port, { method: 'POST', headers: { origin, 'content-type': 'application/json' }, body: SPEC });
      expect(a.status, origin).toBe(403);
      expect(a.body.error).toBe('Forbidden');
      expect(a.body.message).toContain(origin);
    }
    // A preflight is refused too, so a browser never sends the request itself.
    expect((await send(port, { method: 'OPTIONS', headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' } })).status).toBe(403);
    expect(seen).toEqual([]);
  });

  it("accepts a request whose Origin is the API's own", async () => {
    const { port, seen } = await server();
    expect((await send(port, { headers: { origin: `http://127.0.0.1:${port}` } })).status).toBe(200);
    expect((await send(port, { headers: { host: `localhost:${port}`, origin: `http://localhost:${port}` } })).status).toBe(200);
    expect(seen).toHaveLength(2);
  });

  it("accepts the CLI's requests: a YAML apply, a JSON body, a body-less POST and a GET", async () => {
    const { api, seen } = await server();
    const client = new ApiClient({ url: api.url, source: 'local', token: TOKEN });
    await client.request('POST', '/v1/services', 'kind: Service\nmetadata: { name: web }\n', 'application/yaml');
    await client.request('POST', '/v1/services', SPEC);
    await client.request('POST', '/v1/hosts/h1/drain');
    await client.request('GET', '/v1/services');
    expect(seen.map((e) => `${e.requestContext.http.method} ${e.rawPath} ${e.headers['content-type'] ?? '-'}`)).toEqual([
      'POST /v1/services application/yaml',
      'POST /v1/services application/json',
      'POST /v1/hosts/h1/drain -',
      'GET /v1/services -',
    ]);
  });

  it("accepts the test helpers' and benchmarks' plain fetch calls", async () => {
    const { api, seen } = await server();
    const authorization = `Bearer ${TOKEN}`;
    expect((await fetch(`${api.url}/v1/healthz`, { headers: { authorization } })).status).toBe(200);
    expect((await fetch(`${api.url}/v1/services`, { method: 'POST', headers: { authorization, 'content-type': 'application/json' }, body: SPEC })).status).toBe(
      200,
    );
    expect((await fetch(`${api.url}/v1/namespaces/default/services/web`, { method: 'DELETE', headers: { authorization } })).status).toBe(200);
    expect(seen).toHaveLength(3);
  });

  it('refuses every route without the bearer token, or with a wrong one, with a 401 that says where the token is', async () => {
    const { port, seen } = await server();
    for (const path of ['/v1/healthz', '/v1/services', '/v1/hosts', '/nothing']) {
      const a = await send(port, { path, auth: false });
      expect(a.status, path).toBe(401);
      expect(a.body.error).toBe('Unauthorized');
      expect(a.body.message).toMatch(/missing Authorization: Bearer <token>.*<data dir>\/token/);
    }
    for (const authorization of [`Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(1)}`, 'Bearer ', `Basic ${TOKEN}`, TOKEN, `Bearer ${TOKEN} extra`]) {
      const a = await send(port, { headers: { authorization } });
      expect(a.status, authorization).toBe(401);
      expect(a.body.message).toMatch(/the bearer token is wrong/);
    }
    // A body is not read for a refused request.
    expect((await send(port, { method: 'POST', auth: false, headers: { 'content-type': 'application/json' }, body: SPEC })).status).toBe(401);
    expect(seen).toEqual([]);
    expect((await send(port, { headers: { authorization: `bearer ${TOKEN}` } })).status).toBe(200);
  });

  it('keeps the guard in front of the token check: a foreign Host is a 421 even with the token', async () => {
    const { port } = await server();
    expect((await send(port, { headers: { host: `evil.example:${port}` } })).status).toBe(421);
  });

  it('the CLI without the token gets a 401 that says how to give one', async () => {
    const { api } = await server();
    const err = await new ApiClient({ url: api.url, source: 'flag' }).request('GET', '/v1/services').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(401);
    expect((err as ApiError).message).toMatch(/no token: pass --token or set \$SKIFF_TOKEN/);
  });

  it('compares tokens whatever their length', () => {
    expect(bearerMatches(`Bearer ${TOKEN}`, TOKEN)).toBe(true);
    expect(bearerMatches(undefined, TOKEN)).toBe(false);
    expect(bearerMatches('Bearer a', TOKEN)).toBe(false);
    expect(bearerMatches(`Bearer ${TOKEN}${TOKEN}`, TOKEN)).toBe(false);
  });
});
