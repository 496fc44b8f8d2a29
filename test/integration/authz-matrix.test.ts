/**
 * Who may do what, against the local API over real HTTP with real tokens (issue 14): every role
 * (view, edit, admin of namespace shop; the cluster's admin token) × every route × its own
 * namespace (shop) and another (web), allowed or refused with a 403 naming the permission. Each
 * case runs on a fresh in-memory state behind the same server and signing key, so that one case's
 * write (a delete, a drain) cannot change the next one's answer. Then the 401s: expired, malformed,
 * wrongly signed, revoked and unknown tokens.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../adapters/memory/store.ts';
import { MemoryTenancyStore } from '../../adapters/memory/tenancy-store.ts';
import { makeApiHandler, type ApiHandler } from '../../app/handlers/api.ts';
import { localAuthenticator, TokenSigner } from '../../app/tokens.ts';
import type { NamespaceRole } from '../../core/authz.ts';
import { startApiServer, type LocalApiServer } from '../../local/api-server.ts';

const ADMIN_TOKEN = randomBytes(32).toString('base64url');
const signer = new TokenSigner(new Uint8Array(randomBytes(32)));
let tenancy: MemoryTenancyStore;
let current: ApiHandler;
let server: LocalApiServer;
const tokens: Record<string, string> = {};

const svc = (ns: string, name = 'app', extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    kind: 'Service',
    metadata: { name, namespace: ns },
    spec: { replicas: 1, containers: [{ name: 'c', image: 'skiff/busybox', resources: { cpu: '100m', memory: '32Mi' } }], ...extra },
  });

/** A fresh cluster state: namespaces shop and web, a service in each, one host; the same tokens stay valid. */
async function freshState(): Promise<void> {
  const store = new MemoryStore();
  tenancy = new MemoryTenancyStore();
  current = makeApiHandler({ store, tenancy, tokens: signer, now: () => new Date(), kickScheduler: async () => {} });
  for (const ns of ['shop', 'web']) {
    expect((await call('admin', 'POST', '/v1/namespaces', JSON.stringify({ kind: 'Namespace', metadata: { name: ns } }))).status).toBe(201);
    expect((await call('admin', 'POST', '/v1/services', svc(ns))).status).toBe(201);
  }
  await store.registerHost({ id: 'h1', address: '127.0.1.1', capacity: { cpu: 4000, memory: 4 * 2 ** 30 }, labels: {} }, new Date().toISOString());
}

async function call(who: string, method: string, path: string, body?: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${tokens[who] ?? who}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  server = await startApiServer((event, ctx) => current(event, ctx), {
    authenticate: localAuthenticator({
      adminToken: ADMIN_TOKEN,
      signer,
      revocations: { isTokenRevoked: (jti) => tenancy.isTokenRevoked(jti) },
      now: () => new Date(),
    }),
  });
  tokens.admin = ADMIN_TOKEN;
  for (const role of ['view', 'edit'] as NamespaceRole[]) {
    tokens[role] = (await signer.issue({ namespace: 'shop', role, name: `${role}-bot`, ttlSeconds: 3600 }, new Date())).token;
  }
  tokens['admin-of-shop'] = (await signer.issue({ namespace: 'shop', role: 'admin', ttlSeconds: 3600 }, new Date())).token;
});

afterAll(async () => {
  await server?.close();
});

type Need = NamespaceRole | 'cluster-admin';
const RANK: Record<Need, number> = { view: 1, edit: 2, admin: 3, 'cluster-admin': 4 };

/** Every route: what it needs in its own namespace (`ns`), and the permission a refusal names. */
const ROUTES: { name: string; req: (ns: string) => [string, string, string?]; needs: Need; permission: string; cluster?: true }[] = [
  { name: 'list services of a namespace', req: (ns) => ['GET', `/v1/services?namespace=${ns}`], needs: 'view', permission: 'services:read' },
  { name: 'get a service', req: (ns) => ['GET', `/v1/namespaces/${ns}/services/app`], needs: 'view', permission: 'services:read' },
  { name: 'apply (POST)', req: (ns) => ['POST', '/v1/services', svc(ns, 'new')], needs: 'edit', permission: 'services:write' },
  { name: 'apply (PUT)', req: (ns) => ['PUT', `/v1/namespaces/${ns}/services/new`, svc(ns, 'new')], needs: 'edit', permission: 'services:write' },
  { name: 'delete a service', req: (ns) => ['DELETE', `/v1/namespaces/${ns}/services/app`], needs: 'edit', permission: 'services:delete' },
  { name: 'list tasks of a namespace', req: (ns) => ['GET', `/v1/tasks?namespace=${ns}`], needs: 'view', permission: 'tasks:read' },
  { name: 'events of a namespace', req: (ns) => ['GET', `/v1/events?namespace=${ns}`], needs: 'view', permission: 'events:read' },
  { name: 'get a namespace', req: (ns) => ['GET', `/v1/namespaces/${ns}`], needs: 'view', permission: 'namespaces:read' },
  { name: 'issue a token', req: (ns) => ['POST', `/v1/namespaces/${ns}/tokens`, '{"role":"view"}'], needs: 'admin', permission: 'tokens:create' },
  { name: 'list hosts', req: () => ['GET', '/v1/hosts'], needs: 'cluster-admin', permission: 'hosts:read', cluster: true },
  { name: 'get a host', req: () => ['GET', '/v1/hosts/h1'], needs: 'cluster-admin', permission: 'hosts:read', cluster: true },
  { name: 'drain a host', req: () => ['POST', '/v1/hosts/h1/drain'], needs: 'cluster-admin', permission: 'hosts:drain', cluster: true },
  { name: 'uncordon a host', req: () => ['POST', '/v1/hosts/h1/uncordon'], needs: 'cluster-admin', permission: 'hosts:drain', cluster: true },
  { name: 'events of a host', req: () => ['GET', '/v1/events?host=h1'], needs: 'cluster-admin', permission: 'events:read-cluster', cluster: true },
  {
    name: 'create a namespace',
    req: (ns) => ['POST', '/v1/namespaces', JSON.stringify({ kind: 'Namespace', metadata: { name: ns }, spec: { quota: { tasks: 9 } } })],
    needs: 'cluster-admin',
    permission: 'namespaces:write',
    cluster: true,
  },
  {
    name: 'update a namespace (PUT)',
    req: (ns) => ['PUT', `/v1/namespaces/${ns}`, JSON.stringify({ kind: 'Namespace', metadata: { name: ns }, spec: { quota: { tasks: 9 } } })],
    needs: 'cluster-admin',
    permission: 'namespaces:write',
    cluster: true,
  },
  { name: 'delete a namespace', req: (ns) => ['DELETE', `/v1/namespaces/${ns}`], needs: 'cluster-admin', permission: 'namespaces:delete', cluster: true },
];

const CALLERS: { who: string; role: Need }[] = [
  { who: 'view', role: 'view' },
  { who: 'edit', role: 'edit' },
  { who: 'admin-of-shop', role: 'admin' },
  { who: 'admin', role: 'cluster-admin' },
];

describe('every role × every route × own and other namespace', () => {
  const cases = CALLERS.flatMap((c) =>
    ROUTES.flatMap((r) =>
      (['shop', 'web'] as const).map((ns) => ({
        ...c,
        route: r,
        ns,
        allowed: c.role === 'cluster-admin' || (ns === 'shop' && !r.cluster && RANK[c.role] >= RANK[r.needs]),
      })),
    ),
  );
  it.each(cases)('$who: $route.name in $ns → allowed $allowed', async ({ who, route, ns, allowed }) => {
    await freshState();
    const [method, path, body] = route.req(ns);
    const res = await call(who, method, path, body);
    if (allowed) expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
    else {
      expect(res.status, JSON.stringify(res.body)).toBe(403);
      expect(res.body.permission).toBe(route.permission);
      expect(res.body.message).toContain(route.permission);
    }
  });
});

describe('lists show a tenant only its own namespaces', () => {
  it('services, tasks, namespaces and events without a namespace filter', async () => {
    await freshState();
    const services = (await call('view', 'GET', '/v1/services')).body as unknown as { namespace: string }[];
    expect(services.map((s) => s.namespace)).toEqual(['shop']);
    const namespaces = (await call('view', 'GET', '/v1/namespaces')).body as unknown as { name: string }[];
    expect(namespaces.map((n) => n.name)).toEqual(['shop']);
    expect((await call('admin', 'GET', '/v1/namespaces')).body).toHaveLength(2);
    const events = (await call('view', 'GET', '/v1/events')).body as unknown as { namespace?: string }[];
    expect(events.length).toBeGreaterThan(0);
    expect(events.every((e) => e.namespace === 'shop')).toBe(true);
  });

  it('a namespace admin issues tokens of its role or below, for its own namespace only', async () => {
    await freshState();
    const res = await call('admin-of-shop', 'POST', '/v1/namespaces/shop/tokens', '{"role":"edit","ttl":"1h","name":"ci"}');
    expect(res.status).toBe(201);
    const minted = res.body.token as string;
    expect((await call(minted, 'POST', '/v1/services', svc('shop', 'by-ci'))).status).toBe(201);
    expect((await call(minted, 'POST', '/v1/services', svc('web', 'by-ci'))).status).toBe(403);
    const audit = (await call('admin', 'GET', '/v1/events?namespace=shop&actor=token:ci@shop')).body as unknown as { type: string; actor: string }[];
    expect(audit.map((e) => e.type)).toEqual(['service.created']);
    expect((await call('edit', 'POST', '/v1/namespaces/shop/tokens', '{"role":"view"}')).status).toBe(403);
  });
});

describe('tokens that are refused with a 401 saying why', () => {
  it('expired, malformed, wrongly signed, revoked and unknown', async () => {
    await freshState();
    const expired = (await signer.issue({ namespace: 'shop', role: 'view', ttlSeconds: 60 }, new Date(Date.now() - 3_600_000))).token;
    const foreign = (await new TokenSigner(new Uint8Array(randomBytes(32))).issue({ namespace: 'shop', role: 'admin', ttlSeconds: 3600 }, new Date())).token;
    const [head, payload] = tokens.view.split('.');
    const cases: [string, RegExp][] = [
      [expired, /expired/],
      ['a.b.c', /malformed/],
      [`${head}.${payload}.${'A'.repeat(43)}`, /not signed by this cluster/],
      [foreign, /not signed by this cluster/],
      ['not-a-token', /bearer token is wrong/],
    ];
    for (const [token, message] of cases) {
      const res = await call(token, 'GET', '/v1/services?namespace=shop');
      expect(res.status, token).toBe(401);
      expect(res.body.message).toMatch(message);
    }
    const victim = (await signer.issue({ namespace: 'shop', role: 'edit', ttlSeconds: 3600 }, new Date())).token;
    expect((await call(victim, 'GET', '/v1/services')).status).toBe(200);
    expect((await call('admin-of-shop', 'POST', '/v1/tokens/revoke', JSON.stringify({ token: victim }))).status).toBe(200);
    const refused = await call(victim, 'GET', '/v1/services');
    expect(refused.status).toBe(401);
    expect(refused.body.message).toMatch(/revoked/);
    // A tenant cannot revoke another namespace's token.
    const webToken = (await signer.issue({ namespace: 'web', role: 'view', ttlSeconds: 3600 }, new Date())).token;
    expect((await call('admin-of-shop', 'POST', '/v1/tokens/revoke', JSON.stringify({ token: webToken }))).status).toBe(403);
  });
});
