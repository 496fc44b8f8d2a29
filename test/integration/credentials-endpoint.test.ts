/**
 * The agent's per-task credentials endpoint over real HTTP on 127.0.0.1, assuming roles through the
 * STS stand-in with the real SDK client: what a container gets with its token, and every refusal.
 */
import { STSClient } from '@aws-sdk/client-sts';
import { afterEach, describe, expect, it } from 'vitest';
import { stsRoleAssumer } from '../../adapters/aws/sts-role-assumer.ts';
import { CredentialsEndpoint, sessionNameFor, TaskTokens, type CredentialTask, type RoleCredentials } from '../../agent/credentials-endpoint.ts';
import { startStsServer, type StsServer } from '../../local/sts-server.ts';

const WEB_ROLE = 'arn:aws:iam::123456789012:role/skiff/local/shop-web';
const API_ROLE = 'arn:aws:iam::123456789012:role/skiff/local/shop-api';
let clock = Date.parse('2026-12-01T00:00:00Z');
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

async function setup() {
  const sts: StsServer = await startStsServer({ allowedRolePath: '/skiff/local/', now: () => clock });
  cleanups.push(() => sts.close());
  const client = new STSClient({
    endpoint: sts.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
  const tasks = new Map<string, CredentialTask>([
    ['web-1-aaaaa', { id: 'web-1-aaaaa', namespace: 'shop', service: 'web', roleArn: WEB_ROLE }],
    ['api-1-bbbbb', { id: 'api-1-bbbbb', namespace: 'shop', service: 'api', roleArn: API_ROLE }],
    ['plain-1-ccccc', { id: 'plain-1-ccccc', namespace: 'shop', service: 'plain' }],
  ]);
  const issued: [string, RoleCredentials][] = [];
  const tokens = new TaskTokens(new Uint8Array(32).fill(3));
  const endpoint = new CredentialsEndpoint({
    tokens,
    assumeRole: stsRoleAssumer(client),
    tasks: () => tasks,
    now: () => clock,
    onIssued: (t, c) => issued.push([t.id, c]),
  });
  cleanups.push(() => endpoint.close());
  await endpoint.listen('127.0.0.1');
  const get = async (taskId: string, token: string | undefined) => {
    const res = await fetch(endpoint.uriFor('127.0.0.1', taskId), token === undefined ? {} : { headers: { authorization: token } });
    return { status: res.status, body: (await res.json()) as Record<string, string> };
  };
  return { sts, tasks, tokens, endpoint, get, issued };
}

describe('the credentials endpoint', () => {
  it("serves a task its role's credentials with its token, in the SDKs' format, from a session named by the task", async () => {
    const { get, tokens, sts, issued } = await setup();
    const res = await get('web-1-aaaaa', tokens.tokenFor('web-1-aaaaa'));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      AccessKeyId: expect.stringMatching(/^ASIA/),
      SecretAccessKey: expect.any(String),
      Token: expect.any(String),
      Expiration: new Date(clock + 3600_000).toISOString(),
      RoleArn: WEB_ROLE,
    });
    expect(sts.isAccepted(res.body.AccessKeyId, res.body.Token)).toBe(true);
    expect(sts.issued().map((c) => [c.roleArn, c.sessionName])).toEqual([[WEB_ROLE, 'skiff.shop.web-1-aaaaa']]);
    expect(issued.map(([t]) => t)).toEqual(['web-1-aaaaa']);
  });

  it('refuses no token, a forged one, and another task’s token, and never yields another task’s credentials', async () => {
    const { get, tokens, sts } = await setup();
    expect((await get('web-1-aaaaa', undefined)).status).toBe(401);
    expect((await get('web-1-aaaaa', 'v1.web-1-aaaaa.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')).status).toBe(403);
    expect((await get('web-1-aaaaa', 'garbage')).status).toBe(403);
    const stolen = await get('web-1-aaaaa', tokens.tokenFor('api-1-bbbbb'));
    expect(stolen.status).toBe(403);
    expect(stolen.body.message).toMatch(/not task web-1-aaaaa's/);
    // Another host's secret makes tokens this host does not take.
    expect((await get('web-1-aaaaa', new TaskTokens(new Uint8Array(32).fill(4)).tokenFor('web-1-aaaaa'))).status).toBe(403);
    expect(sts.issued()).toEqual([]);
    // The api task with its own token gets the api role, not web's.
    expect((await get('api-1-bbbbb', tokens.tokenFor('api-1-bbbbb'))).body.RoleArn).toBe(API_ROLE);
  });

  it('refuses a task that is gone from the host, and one without a role', async () => {
    const { get, tokens, tasks } = await setup();
    expect((await get('web-1-aaaaa', tokens.tokenFor('web-1-aaaaa'))).status).toBe(200);
    tasks.delete('web-1-aaaaa');
    const gone = await get('web-1-aaaaa', tokens.tokenFor('web-1-aaaaa'));
    expect(gone.status).toBe(403);
    expect(gone.body.message).toMatch(/does not run on this host/);
    const plain = await get('plain-1-ccccc', tokens.tokenFor('plain-1-ccccc'));
    expect(plain.status).toBe(404);
    expect(plain.body.message).toMatch(/no AWS role/);
  });

  it('caches credentials, and renews them once less than 15 minutes are left', async () => {
    const { get, tokens, sts } = await setup();
    const token = tokens.tokenFor('web-1-aaaaa');
    const first = await get('web-1-aaaaa', token);
    clock += 44 * 60_000;
    expect((await get('web-1-aaaaa', token)).body.AccessKeyId).toBe(first.body.AccessKeyId);
    clock += 2 * 60_000; // 14 minutes left
    const renewed = await get('web-1-aaaaa', token);
    expect(renewed.body.AccessKeyId).not.toBe(first.body.AccessKeyId);
    expect(Date.parse(renewed.body.Expiration)).toBe(clock + 3600_000);
    expect(sts.issued()).toHaveLength(2);
  });

  it('makes one AssumeRole for concurrent requests of one task', async () => {
    const { get, tokens, sts } = await setup();
    const token = tokens.tokenFor('web-1-aaaaa');
    const answers = await Promise.all([get('web-1-aaaaa', token), get('web-1-aaaaa', token), get('web-1-aaaaa', token)]);
    expect(new Set(answers.map((a) => a.body.AccessKeyId)).size).toBe(1);
    expect(sts.issued()).toHaveLength(1);
  });

  it('says why when the role cannot be assumed, and serves nothing', async () => {
    const { get, tokens, tasks } = await setup();
    tasks.set('web-1-aaaaa', { id: 'web-1-aaaaa', namespace: 'shop', service: 'web', roleArn: 'arn:aws:iam::123456789012:role/Admin' });
    const res = await get('web-1-aaaaa', tokens.tokenFor('web-1-aaaaa'));
    expect(res.status).toBe(502);
    expect(res.body.message).toMatch(/AccessDenied/);
    expect(res.body).not.toHaveProperty('AccessKeyId');
  });

  it('answers only GET on credentials paths', async () => {
    const { endpoint, tokens } = await setup();
    const base = endpoint.uriFor('127.0.0.1', 'web-1-aaaaa');
    expect((await fetch(base, { method: 'POST', headers: { authorization: tokens.tokenFor('web-1-aaaaa') } })).status).toBe(405);
    expect((await fetch(new URL('/latest/meta-data/iam/security-credentials/', base))).status).toBe(404);
  });

  it('names sessions within IAM’s 64 characters', () => {
    expect(sessionNameFor({ id: 'web-1-aaaaa', namespace: 'shop' })).toBe('skiff.shop.web-1-aaaaa');
    const long = sessionNameFor({ id: `${'w'.repeat(50)}-1-aaaaa`, namespace: 'n'.repeat(40) });
    expect(long.length).toBeLessThanOrEqual(64);
    expect(long).toMatch(/^[\w+=,.@-]{2,64}$/);
  });
});

describe('the credentials endpoint across agent restarts', () => {
  it('listens again on the port it had, so running containers keep their URI', async () => {
    const saved = new Map<string, number>();
    const ports = { get: (a: string) => saved.get(a), set: (a: string, p: number) => void saved.set(a, p) };
    const make = () =>
      new CredentialsEndpoint({
        tokens: new TaskTokens(new Uint8Array(32).fill(3)),
        assumeRole: async () => {
          throw new Error('unused');
        },
        tasks: () => new Map(),
        now: () => clock,
        ports,
      });
    const first = make();
    const url = await first.listen('127.0.0.1');
    await first.close();
    const second = make();
    cleanups.push(() => second.close());
    expect(await second.listen('127.0.0.1')).toBe(url);
  });
});
