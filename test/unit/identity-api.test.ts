import { afterEach, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../adapters/memory/store.ts';
import { MemorySigningKeyStore } from '../../adapters/memory/signing-keys.ts';
import { createApi, type ApiRequest } from '../../app/api.ts';
import { makeApiHandler } from '../../app/handlers/api.ts';
import { rotateSigningKeys, verifyWorkloadToken, WorkloadTokenIssuer } from '../../app/workload-tokens.ts';
import { ANONYMOUS, hostIdentity, identityFromAws, LOCAL_ADMIN, type Identity } from '../../core/authz.ts';
import { startApiServer, type LocalApiServer } from '../../local/api-server.ts';
import { aService, aTask } from '../builders.ts';

const T0 = Date.parse('2026-12-01T00:00:00Z');
const ISSUER = 'http://127.0.0.1:7070';

async function setup() {
  const store = new MemoryStore();
  const service = aService({ name: 'web', namespace: 'shop', replicas: 2 });
  await store.putService(service.spec, new Date(T0).toISOString());
  const mine = aTask(service, 1, { id: 'web-1-aaaaa', host: 'host-1' });
  const theirs = aTask(service, 2, { id: 'web-2-bbbbb', host: 'host-2' });
  await store.putTask(mine, undefined);
  await store.putTask(theirs, undefined);
  const keys = new MemorySigningKeyStore();
  await rotateSigningKeys(keys, T0);
  const issuer = new WorkloadTokenIssuer({ issuer: ISSUER, keys });
  const api = createApi({ store, now: () => new Date(T0), kickScheduler: async () => {}, workloadIdentity: { cluster: 'local', issuer } });
  const call = (method: string, path: string, identity?: Identity) =>
    api({ method, path, query: {}, headers: {}, ...(identity ? { identity } : {}) } satisfies ApiRequest);
  return { store, issuer, call, mine, theirs };
}

describe('the identity routes', () => {
  it('issue a token to the host a task is placed on, verifiable with the JWKS served, and record it as an event', async () => {
    const { call, store } = await setup();
    const res = await call('POST', '/v1/namespaces/shop/tasks/web-1-aaaaa/identity-token', hostIdentity('host-1'));
    expect(res.status).toBe(200);
    const { token, id } = res.body as { token: string; id: string };
    const jwks = (await call('GET', '/.well-known/jwks.json', ANONYMOUS)).body as { keys: [] };
    const claims = await verifyWorkloadToken(token, jwks, { issuer: ISSUER, audience: 'skiff', now: T0 });
    expect(claims).toMatchObject({ cluster: 'local', namespace: 'shop', service: 'web', task: 'web-1-aaaaa' });
    const events = await store.listEvents({ limit: 10 });
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'identity.token-issued', task: 'web-1-aaaaa', namespace: 'shop', host: 'host-1', actor: 'host:host-1' }),
    );
    expect(events.find((e) => e.type === 'identity.token-issued')?.message).toContain(id);
  });

  it('refuse a host a token for another host’s task, an absent task, and refuse callers that are not hosts', async () => {
    const { call } = await setup();
    const other = await call('POST', '/v1/namespaces/shop/tasks/web-2-bbbbb/identity-token', hostIdentity('host-1'));
    expect(other.status).toBe(403);
    expect((other.body as { message: string }).message).toMatch(/not placed on host-1/);
    const absent = await call('POST', '/v1/namespaces/shop/tasks/web-3-ccccc/identity-token', hostIdentity('host-1'));
    expect(absent.status).toBe(403);
    expect((await call('POST', '/v1/namespaces/shop/tasks/web-1-aaaaa/identity-token', LOCAL_ADMIN)).status).toBe(401);
    expect((await call('POST', '/v1/namespaces/shop/tasks/web-1-aaaaa/identity-token', ANONYMOUS)).status).toBe(401);
    expect((await call('POST', '/v1/namespaces/shop/tasks/nonsense/identity-token', hostIdentity('host-1'))).status).toBe(400);
  });

  it('refuse a host every other route: it has no role', async () => {
    const { call } = await setup();
    expect((await call('GET', '/v1/hosts', hostIdentity('host-1'))).status).toBe(403);
    expect((await call('GET', '/v1/namespaces/shop/services/web', hostIdentity('host-1'))).status).toBe(403);
    expect((await call('GET', '/v1/services', ANONYMOUS)).status).toBe(401);
  });

  it('serve the discovery document naming the JWKS', async () => {
    const { call } = await setup();
    const res = await call('GET', '/.well-known/openid-configuration', ANONYMOUS);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ issuer: ISSUER, jwks_uri: `${ISSUER}/.well-known/jwks.json` });
  });

  it('say there is no issuer when the control plane has none', async () => {
    const api = createApi({ store: new MemoryStore(), now: () => new Date(T0), kickScheduler: async () => {} });
    const res = await api({ method: 'GET', path: '/.well-known/jwks.json', query: {}, headers: {}, identity: ANONYMOUS });
    expect(res.status).toBe(404);
    expect((res.body as { message: string }).message).toMatch(/no token issuer/);
  });
});

describe('a host as IAM sees it', () => {
  const hostRoleArn = 'arn:aws:iam::123456789012:role/skiff-HostRole';
  it('is a session of the host role named by the instance id; other sessions of it are no host', () => {
    const who = identityFromAws({ iam: { userArn: 'arn:aws:sts::123456789012:assumed-role/skiff-HostRole/i-0123456789abcdef0' } }, { hostRoleArn });
    expect(who).toEqual(hostIdentity('i-0123456789abcdef0'));
    expect(() => identityFromAws({ iam: { userArn: 'arn:aws:sts::123456789012:assumed-role/skiff-HostRole/mallory' } }, { hostRoleArn })).toThrow(
      /not named by an instance id/,
    );
    expect(identityFromAws({ iam: { userArn: 'arn:aws:sts::123456789012:assumed-role/Admin/alice' } }, { hostRoleArn }).source).toBe('iam');
  });
});

describe('the public routes over the shells', () => {
  let server: LocalApiServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('serve the JWKS and discovery document without a token over local HTTP, and nothing else', async () => {
    const { issuer } = await setup();
    const handler = makeApiHandler({
      store: new MemoryStore(),
      now: () => new Date(T0),
      kickScheduler: async () => {},
      workloadIdentity: { cluster: 'local', issuer },
    });
    server = await startApiServer(handler, { token: 'a-token-of-at-least-some-length-0123456789' });
    const jwks = await fetch(`${server.url}/.well-known/jwks.json`);
    expect(jwks.status).toBe(200);
    expect(((await jwks.json()) as { keys: unknown[] }).keys).toHaveLength(1);
    expect((await fetch(`${server.url}/.well-known/openid-configuration`)).status).toBe(200);
    expect((await fetch(`${server.url}/v1/services`)).status).toBe(401);
    expect((await fetch(`${server.url}/.well-known/jwks.json`, { method: 'POST' })).status).toBe(401);
  });

  it('serve them on AWS with no authorizer context, and refuse other routes without one', async () => {
    const { issuer } = await setup();
    const handler = makeApiHandler({
      store: new MemoryStore(),
      now: () => new Date(T0),
      kickScheduler: async () => {},
      workloadIdentity: { cluster: 'c', issuer },
    });
    const event = (method: string, path: string) =>
      ({ rawPath: path, headers: {}, requestContext: { http: { method } } }) as unknown as Parameters<typeof handler>[0];
    const ok = await handler(event('GET', '/.well-known/openid-configuration'), {} as never);
    expect(ok.statusCode).toBe(200);
    const refused = await handler(event('GET', '/v1/services'), {} as never);
    expect(refused.statusCode).toBe(401);
  });
});

describe('local host tokens', () => {
  it('prove a host to the local authenticator, and are no namespace token (nor the reverse)', async () => {
    const { HostTokenSigner } = await import('../../app/host-tokens.ts');
    const { TokenSigner, localAuthenticator } = await import('../../app/tokens.ts');
    const key = new Uint8Array(32).fill(7);
    const hosts = new HostTokenSigner(key);
    const signer = new TokenSigner(key);
    const now = () => new Date(T0);
    const auth = localAuthenticator({ adminToken: 'admin-token', signer, revocations: { isTokenRevoked: async () => false }, now, hosts });
    const hostToken = await hosts.issue('host-2', now());
    expect(await auth(`Bearer ${hostToken}`)).toEqual(hostIdentity('host-2'));
    // A host token is refused where host tokens are not accepted, and a namespace token is no host.
    const noHosts = localAuthenticator({ adminToken: 'admin-token', signer, revocations: { isTokenRevoked: async () => false }, now });
    await expect(noHosts(`Bearer ${hostToken}`)).rejects.toThrow(/aud claim is wrong/);
    const nsToken = (await signer.issue({ namespace: 'shop', role: 'admin', ttlSeconds: 3600 }, now())).token;
    await expect(hosts.verify(nsToken, now())).rejects.toThrow(/host token is not valid/);
    expect((await auth(`Bearer ${nsToken}`)).source).toBe('token');
    // Another cluster's key: refused.
    const foreign = await new HostTokenSigner(new Uint8Array(32).fill(9)).issue('host-2', now());
    await expect(auth(`Bearer ${foreign}`)).rejects.toThrow(/host token is not valid/);
  });

  it("is kept by a new local start while it is this key's, for this host, and has the margin left", async () => {
    const { HostTokenSigner, HOST_TOKEN_TTL_SECONDS } = await import('../../app/host-tokens.ts');
    const hosts = new HostTokenSigner(new Uint8Array(32).fill(7));
    const token = hosts.issue('host-2', new Date(T0));
    const week = 7 * 86_400_000;
    expect(hosts.isCurrent(token, 'host-2', new Date(T0), week)).toBe(true);
    expect(hosts.isCurrent(token, 'host-3', new Date(T0), week)).toBe(false);
    expect(hosts.isCurrent(token, 'host-2', new Date(T0 + HOST_TOKEN_TTL_SECONDS * 1000 - week + 1000), week)).toBe(false);
    expect(new HostTokenSigner(new Uint8Array(32).fill(9)).isCurrent(token, 'host-2', new Date(T0), week)).toBe(false);
    const [head, , sig] = token.split('.');
    const forged = Buffer.from(JSON.stringify({ host: 'host-2', iss: 'x', aud: 'skiff-host', exp: 9e9 })).toString('base64url');
    expect(hosts.isCurrent(`${head}.${forged}.${sig}`, 'host-2', new Date(T0), week)).toBe(false);
    expect(hosts.isCurrent('not-a-token', 'host-2', new Date(T0), week)).toBe(false);
  });
});
