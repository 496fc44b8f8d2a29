import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetParameterCommand, ListTagsForResourceCommand, SSMClient } from '@aws-sdk/client-ssm';
import { startSsmServer, type SsmServer } from '../../local/ssm-server.ts';
import { SECRET_TAG_KEY, SsmSecretVault } from '../../adapters/aws/ssm-secrets.ts';

const credentials = { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local-secret' };

describe('the secret vault on the SSM stand-in', () => {
  let dir: string;
  let server: SsmServer;
  let ssm: SSMClient;
  let vault: SsmSecretVault;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'skiff-vault-'));
    server = await startSsmServer({ dataFile: join(dir, 'ssm.json'), limits: false });
    ssm = new SSMClient({ endpoint: server.endpoint, region: 'us-east-1', credentials, maxAttempts: 1 });
    vault = new SsmSecretVault(ssm, { prefix: '/skiff/test' });
  });

  afterAll(async () => {
    ssm?.destroy();
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('stores a secret as a SecureString and reads it back with a new version on each change', async () => {
    const v1 = await vault.putSecret('default', 'db', { password: 's3cret-one' });
    const v2 = await vault.putSecret('default', 'db', { password: 's3cret-two' });
    expect(v1).toBe('v1');
    expect(v2).toBe('v2');
    expect(await vault.getSecret('default', 'db')).toEqual({ data: { password: 's3cret-two' }, version: 'v2' });
    const raw = await ssm.send(new GetParameterCommand({ Name: '/skiff/test/secrets/default/db' }));
    expect(raw.Parameter?.Type).toBe('SecureString');
    expect(raw.Parameter?.Value).not.toContain('s3cret');
  });

  it('never writes the value in clear to the stand-in data file, and keeps its key file 0600', async () => {
    await vault.putSecret('default', 'api', { token: 'plain-text-token-42' });
    await server.close();
    const data = await readFile(join(dir, 'ssm.json'), 'utf8');
    expect(data).toContain('/skiff/test/secrets/default/api');
    expect(data).not.toContain('plain-text-token-42');
    expect((await stat(join(dir, 'ssm.json.key'))).mode & 0o777).toBe(0o600);
    // A restarted stand-in opens what the previous one sealed.
    server = await startSsmServer({ dataFile: join(dir, 'ssm.json'), limits: false });
    ssm.destroy();
    ssm = new SSMClient({ endpoint: server.endpoint, region: 'us-east-1', credentials, maxAttempts: 1 });
    vault = new SsmSecretVault(ssm, { prefix: '/skiff/test' });
    expect((await vault.getSecret('default', 'api'))?.data).toEqual({ token: 'plain-text-token-42' });
  });

  it("creates a secret tagged with its cluster (the hosts' IAM reads by it) and keeps the tag across overwrites", async () => {
    const tagged = new SsmSecretVault(ssm, { prefix: '/skiff/test', cluster: 'test' });
    expect(await tagged.putSecret('prod', 'api', { token: 'a' })).toBe('v1');
    expect(await tagged.putSecret('prod', 'api', { token: 'b' })).toBe('v2');
    const tags = await ssm.send(new ListTagsForResourceCommand({ ResourceType: 'Parameter', ResourceId: '/skiff/test/secrets/prod/api' }));
    expect(tags.TagList).toEqual([{ Key: SECRET_TAG_KEY, Value: 'test' }]);
    expect((await tagged.getSecret('prod', 'api'))?.data).toEqual({ token: 'b' });
  });

  it('answers undefined for an absent secret and deletes idempotently', async () => {
    expect(await vault.getSecret('default', 'nope')).toBeUndefined();
    await vault.deleteSecret('default', 'api');
    await vault.deleteSecret('default', 'api');
    expect(await vault.getSecret('default', 'api')).toBeUndefined();
  });
});
