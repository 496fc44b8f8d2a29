/**
 * The STS stand-in with the real `@aws-sdk/client-sts` client over HTTP on 127.0.0.1: the AssumeRole
 * subset the agent uses, the errors STS gives, and credentials that work until they expire.
 */
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { afterEach, describe, expect, it } from 'vitest';
import { startStsServer, type StsServer } from '../../local/sts-server.ts';

const ROLE = 'arn:aws:iam::123456789012:role/skiff/local/shop-web';
let server: StsServer | undefined;
let clock = Date.parse('2026-12-01T00:00:00Z');

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(opts: Parameters<typeof startStsServer>[0] = {}) {
  server = await startStsServer({ now: () => clock, ...opts });
  return server;
}

function client(
  endpoint: string,
  credentials = { accessKeyId: 'local', secretAccessKey: 'local' } as { accessKeyId: string; secretAccessKey: string; sessionToken?: string },
) {
  return new STSClient({ endpoint, region: 'us-east-1', credentials, maxAttempts: 1 });
}

describe('the STS stand-in', () => {
  it('assumes a role under the cluster path, with the session name given, for an hour by default', async () => {
    const sts = await start({ allowedRolePath: '/skiff/local/' });
    const out = await client(sts.endpoint).send(new AssumeRoleCommand({ RoleArn: ROLE, RoleSessionName: 'shop.web-1-abcde' }));
    expect(out.Credentials?.AccessKeyId).toMatch(/^ASIA[0-9A-F]{16}$/);
    expect(out.Credentials?.SecretAccessKey).toBeTruthy();
    expect(out.Credentials?.SessionToken).toBeTruthy();
    expect(out.Credentials?.Expiration?.getTime()).toBe(clock + 3600_000);
    expect(out.AssumedRoleUser?.Arn).toBe('arn:aws:sts::123456789012:assumed-role/shop-web/shop.web-1-abcde');
    expect(sts.issued().map((c) => [c.roleArn, c.sessionName])).toEqual([[ROLE, 'shop.web-1-abcde']]);
  });

  it('accepts the credentials it issued until they expire: GetCallerIdentity names the session', async () => {
    const sts = await start();
    const { Credentials: c } = await client(sts.endpoint).send(new AssumeRoleCommand({ RoleArn: ROLE, RoleSessionName: 'task-1', DurationSeconds: 900 }));
    const creds = { accessKeyId: c!.AccessKeyId!, secretAccessKey: c!.SecretAccessKey!, sessionToken: c!.SessionToken! };
    const who = await client(sts.endpoint, creds).send(new GetCallerIdentityCommand({}));
    expect(who.Arn).toBe('arn:aws:sts::123456789012:assumed-role/shop-web/task-1');
    expect(who.Account).toBe('123456789012');
    expect(sts.isAccepted(creds.accessKeyId, creds.sessionToken)).toBe(true);
    expect(sts.isAccepted(creds.accessKeyId, 'forged')).toBe(false);
    await expect(client(sts.endpoint, { ...creds, sessionToken: 'forged' }).send(new GetCallerIdentityCommand({}))).rejects.toMatchObject({
      name: 'InvalidClientTokenId',
    });
    clock += 900_001;
    expect(sts.isAccepted(creds.accessKeyId, creds.sessionToken)).toBe(false);
    await expect(client(sts.endpoint, creds).send(new GetCallerIdentityCommand({}))).rejects.toMatchObject({ name: 'ExpiredToken' });
  });

  it('refuses roles outside the cluster path with AccessDenied, as IAM does', async () => {
    const sts = await start({ allowedRolePath: '/skiff/local/' });
    const err = await client(sts.endpoint)
      .send(new AssumeRoleCommand({ RoleArn: 'arn:aws:iam::123456789012:role/Admin', RoleSessionName: 'task-1' }))
      .catch((e: Error) => e);
    expect(err).toMatchObject({ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
    expect((err as Error).message).toMatch(/is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::123456789012:role\/Admin/);
    await expect(
      client(sts.endpoint).send(new AssumeRoleCommand({ RoleArn: 'arn:aws:iam::123456789012:role/skiff/other/x', RoleSessionName: 'task-1' })),
    ).rejects.toMatchObject({ name: 'AccessDenied' });
  });

  it.each([
    [{ RoleArn: 'arn:aws:iam::123456789012:user/alice', RoleSessionName: 'task-1' }, /is invalid/],
    [{ RoleArn: ROLE, RoleSessionName: 'x' }, /roleSessionName/],
    [{ RoleArn: ROLE, RoleSessionName: 'has space' }, /roleSessionName/],
    [{ RoleArn: ROLE, RoleSessionName: 'task-1', DurationSeconds: 60 }, /durationSeconds/],
    [{ RoleArn: ROLE, RoleSessionName: 'task-1', DurationSeconds: 7200 }, /exceeds the MaxSessionDuration/],
  ])('refuses a bad request with ValidationError: %o', async (input, message) => {
    const sts = await start();
    const err = await client(sts.endpoint)
      .send(new AssumeRoleCommand(input))
      .catch((e: Error) => e);
    expect(err).toMatchObject({ name: 'ValidationError' });
    expect((err as Error).message).toMatch(message);
  });

  it('checks its options', async () => {
    await expect(startStsServer({ host: '0.0.0.0' })).rejects.toThrow(/loopback/);
    await expect(startStsServer({ allowedRolePath: 'skiff' })).rejects.toThrow(/allowedRolePath/);
    await expect(startStsServer({ dataFile: 'x' } as never)).rejects.toThrow(/unknown option/);
  });
});
