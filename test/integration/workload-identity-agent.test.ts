/**
 * Workload identity on the host, end to end without Docker: the agent's executor wrapper asks the real
 * local API (over HTTP on 127.0.0.1, with its host token) for its tasks' workload tokens, writes them
 * where containers mount them, renews them at 80% of their life, and gives app containers the
 * credentials endpoint's env; the token verifies against the JWKS the API serves without a token.
 */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../adapters/memory/store.ts';
import { MemorySigningKeyStore } from '../../adapters/memory/signing-keys.ts';
import { apiWorkloadTokenSource, bearerHostAuth } from '../../agent/api-token-client.ts';
import { CredentialsEndpoint, TaskTokens } from '../../agent/credentials-endpoint.ts';
import type { CreateOptions, Executor } from '../../agent/executor.ts';
import { SANDBOX } from '../../agent/pod-sandbox.ts';
import {
  CREDENTIALS_TOKEN_ENV,
  CREDENTIALS_URI_ENV,
  withWorkloadIdentity,
  WORKLOAD_TOKEN_DIR,
  WorkloadIdentity,
  type FetchedWorkloadToken,
} from '../../agent/workload-identity.ts';
import { makeApiHandler } from '../../app/handlers/api.ts';
import { HostTokenSigner } from '../../app/host-tokens.ts';
import { localAuthenticator, TokenSigner } from '../../app/tokens.ts';
import { rotateSigningKeys, verifyWorkloadToken, WorkloadTokenIssuer } from '../../app/workload-tokens.ts';
import type { ContainerSpec, HostDocumentTask } from '../../core/types.ts';
import { startApiServer } from '../../local/api-server.ts';
import { aService, aTask } from '../builders.ts';

const ROLE = 'arn:aws:iam::123456789012:role/skiff/local/shop-web';
let clock = Date.parse('2026-12-01T00:00:00Z');
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

async function cluster() {
  const store = new MemoryStore();
  const service = aService({ name: 'web', namespace: 'shop', replicas: 2 });
  await store.putService(service.spec, new Date(clock).toISOString());
  const pod = { ...aTask(service, 1).pod, identity: { awsRole: ROLE } };
  const mine = aTask(service, 1, { id: 'web-1-aaaaa', host: 'host-1', pod });
  const theirs = aTask(service, 2, { id: 'web-2-bbbbb', host: 'host-2', pod });
  await store.putTask(mine, undefined);
  await store.putTask(theirs, undefined);
  const keys = new MemorySigningKeyStore();
  await rotateSigningKeys(keys, clock);
  const key = new Uint8Array(32).fill(5);
  const hosts = new HostTokenSigner(key);
  const handler = makeApiHandler({
    store,
    now: () => new Date(clock),
    kickScheduler: async () => {},
    workloadIdentity: { cluster: 'local', issuer: new WorkloadTokenIssuer({ issuer: 'http://127.0.0.1:1', keys, cacheMs: 0 }) },
  });
  const api = await startApiServer(handler, {
    authenticate: localAuthenticator({
      adminToken: 'admin',
      signer: new TokenSigner(key),
      revocations: { isTokenRevoked: async () => false },
      now: () => new Date(clock),
      hosts,
    }),
  });
  cleanups.push(() => api.close());
  const dir = await mkdtemp(join(tmpdir(), 'skiff-identity-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const asDocTask = (t: typeof mine): HostDocumentTask => ({ id: t.id, namespace: t.namespace, service: t.service, slot: t.slot, specVersion: 1, pod: t.pod });
  return { store, api, hosts, dir, mine: asDocTask(mine), theirs: asDocTask(theirs) };
}

function recording() {
  const calls: { container: ContainerSpec; options: CreateOptions }[] = [];
  const inner = {
    create: async (_t: HostDocumentTask, c: ContainerSpec, options: CreateOptions) => {
      calls.push({ container: c, options });
      return `id-${calls.length}`;
    },
  } as unknown as Executor;
  return { inner, calls };
}

describe('workload identity on the host', () => {
  it("gives an app container its task's token file and credentials env, and the sandbox nothing", async () => {
    const { api, hosts, dir, mine } = await cluster();
    const endpoint = new CredentialsEndpoint({
      tokens: new TaskTokens(new Uint8Array(32).fill(1)),
      assumeRole: async () => {
        throw new Error('not asked here');
      },
      tasks: () => new Map(),
      now: () => clock,
    });
    cleanups.push(() => endpoint.close());
    const seen: FetchedWorkloadToken[] = [];
    const identity = new WorkloadIdentity({
      dir: join(dir, 'identity'),
      endpoint,
      endpointAddress: async () => '127.0.0.1',
      tokens: apiWorkloadTokenSource(api.url, bearerHostAuth(await hosts.issue('host-1', new Date(clock)))),
      now: () => clock,
      log: () => {},
      onToken: (_t, tok) => seen.push(tok),
    });
    const { inner, calls } = recording();
    const ex = withWorkloadIdentity(inner, identity);
    const app = mine.pod.containers[0];
    await ex.create(mine, { ...app, name: SANDBOX }, { hostAddress: '127.0.1.1' });
    await ex.create(mine, app, { hostAddress: '127.0.1.1' });
    expect(calls[0].options).toEqual({ hostAddress: '127.0.1.1' });
    const { secretEnv, mounts } = calls[1].options;
    expect(secretEnv?.[CREDENTIALS_URI_ENV]).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1\/tasks\/web-1-aaaaa\/credentials$/);
    expect(secretEnv?.[CREDENTIALS_TOKEN_ENV]).toBe(endpoint.tokenFor('web-1-aaaaa'));
    expect(calls[1].container).toBe(app);
    expect(mounts).toEqual([{ type: 'bind', source: join(dir, 'identity', 'web-1-aaaaa'), target: WORKLOAD_TOKEN_DIR, readOnly: true }]);
    const file = join(dir, 'identity', 'web-1-aaaaa', 'token');
    const token = await readFile(file, 'utf8');
    expect((await stat(file)).mode & 0o777).toBe(0o644);
    const jwks = await (await fetch(`${api.url}/.well-known/jwks.json`)).json();
    const claims = await verifyWorkloadToken(token, jwks as never, { issuer: 'http://127.0.0.1:1', audience: 'skiff', now: clock });
    expect(claims).toMatchObject({ namespace: 'shop', service: 'web', task: 'web-1-aaaaa' });
    expect(seen).toHaveLength(1);
  });

  it("fails the create of a task that is not the host's own: the API refuses its token", async () => {
    const { api, hosts, dir, theirs } = await cluster();
    const identity = new WorkloadIdentity({
      dir: join(dir, 'identity'),
      tokens: apiWorkloadTokenSource(api.url, bearerHostAuth(await hosts.issue('host-1', new Date(clock)))),
      now: () => clock,
      log: () => {},
    });
    const { inner, calls } = recording();
    await expect(withWorkloadIdentity(inner, identity).create(theirs, theirs.pod.containers[0], { hostAddress: '127.0.1.1' })).rejects.toThrow(
      /refused the workload token of task shop\/web-2-bbbbb \(403\).*not placed on host-1/,
    );
    expect(calls).toEqual([]);
  });

  it('renews the token at 80% of its life, and removes the files of tasks gone from the host', async () => {
    const { api, hosts, dir, mine, theirs } = await cluster();
    const logged: [string, string][] = [];
    const identity = new WorkloadIdentity({
      dir: join(dir, 'identity'),
      tokens: apiWorkloadTokenSource(api.url, bearerHostAuth(await hosts.issue('host-1', new Date(clock)))),
      now: () => clock,
      log: (level, message) => logged.push([level, message]),
    });
    await identity.forContainer(mine);
    const file = join(dir, 'identity', 'web-1-aaaaa', 'token');
    const first = await readFile(file, 'utf8');
    clock += 47 * 60_000;
    await identity.refresh([mine]);
    expect(await readFile(file, 'utf8')).toBe(first);
    clock += 60_000; // 48 minutes of 60
    await identity.refresh([mine]);
    expect(await readFile(file, 'utf8')).not.toBe(first);
    // Another task only (web-1 gone): web-1's directory goes; the other's token is refused (not this host's), and said so.
    await identity.refresh([theirs]);
    await expect(stat(join(dir, 'identity', 'web-1-aaaaa'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(logged.some(([, message]) => message === 'workload token renewal failed')).toBe(true);
  });

  it('gives a token to a task it runs without holding one (adopted after an agent restart) at the next refresh', async () => {
    const { api, hosts, dir, mine } = await cluster();
    const identity = new WorkloadIdentity({
      dir: join(dir, 'identity'),
      tokens: apiWorkloadTokenSource(api.url, bearerHostAuth(hosts.issue('host-1', new Date(clock)))),
      now: () => clock,
      log: () => {},
    });
    await identity.refresh([mine]);
    expect(await readFile(join(dir, 'identity', 'web-1-aaaaa', 'token'), 'utf8')).toMatch(/^ey/);
  });
});
