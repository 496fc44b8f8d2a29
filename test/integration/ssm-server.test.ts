import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AccessDeniedException,
  DeleteParameterCommand,
  DeleteParametersCommand,
  GetParameterCommand,
  GetParametersByPathCommand,
  GetParametersCommand,
  HierarchyLevelLimitExceededException,
  InvalidNextToken,
  InvalidResourceId,
  ListTagsForResourceCommand,
  ParameterAlreadyExists,
  ParameterLimitExceeded,
  ParameterNotFound,
  ParameterPatternMismatchException,
  PutParameterCommand,
  SSMClient,
  ThrottlingException,
  ValidationException,
} from '@aws-sdk/client-ssm';
import { startSsmServer, type SsmServer } from '../../local/ssm-server.ts';

const credentials = { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local-secret' };

/** maxAttempts 1: the SDK would otherwise retry throttling and hide it from the assertion. */
function clientFor(server: SsmServer, maxAttempts = 1): SSMClient {
  return new SSMClient({ endpoint: server.endpoint, region: 'us-east-1', credentials, maxAttempts });
}

async function errorOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to fail');
}

describe('SSM stand-in without throttling', () => {
  let server: SsmServer;
  let ssm: SSMClient;

  beforeAll(async () => {
    server = await startSsmServer({ port: 0, limits: false });
    ssm = clientFor(server);
  });
  afterAll(async () => {
    ssm?.destroy();
    await server?.close();
  });

  describe('PutParameter and GetParameter', () => {
    it('stores a parameter and returns version 1 in the Standard tier', async () => {
      const out = await ssm.send(new PutParameterCommand({ Name: '/put/basic', Value: 'hello', Type: 'String' }));
      expect(out).toMatchObject({ Version: 1, Tier: 'Standard' });
      const got = await ssm.send(new GetParameterCommand({ Name: '/put/basic' }));
      expect(got.Parameter).toMatchObject({
        Name: '/put/basic',
        Type: 'String',
        Value: 'hello',
        Version: 1,
        ARN: 'arn:aws:ssm:us-east-1:123456789012:parameter/put/basic',
        DataType: 'text',
      });
      expect(got.Parameter?.LastModifiedDate).toBeInstanceOf(Date);
    });

    it('refuses to replace an existing parameter without Overwrite, and bumps the version with it', async () => {
      await ssm.send(new PutParameterCommand({ Name: '/put/twice', Value: 'a', Type: 'String' }));
      const err = await errorOf(ssm.send(new PutParameterCommand({ Name: '/put/twice', Value: 'b', Type: 'String' })));
      expect(err).toBeInstanceOf(ParameterAlreadyExists);
      const out = await ssm.send(new PutParameterCommand({ Name: '/put/twice', Value: 'b', Overwrite: true }));
      expect(out.Version).toBe(2);
      expect((await ssm.send(new GetParameterCommand({ Name: '/put/twice' }))).Parameter?.Value).toBe('b');
    });

    it('requires a Type when creating a parameter', async () => {
      const err = await errorOf(ssm.send(new PutParameterCommand({ Name: '/put/untyped', Value: 'x' })));
      expect(err).toBeInstanceOf(ValidationException);
      expect((err as Error).message).toMatch(/type is required/);
    });

    it('throws a typed ParameterNotFound for a missing name', async () => {
      const err = await errorOf(ssm.send(new GetParameterCommand({ Name: '/nothing/here' })));
      expect(err).toBeInstanceOf(ParameterNotFound);
      expect((err as ParameterNotFound).$metadata.httpStatusCode).toBe(400);
    });

    it('hides a SecureString value unless decryption is asked for', async () => {
      await ssm.send(new PutParameterCommand({ Name: '/put/secret', Value: 's3cret', Type: 'SecureString' }));
      const plain = await ssm.send(new GetParameterCommand({ Name: '/put/secret', WithDecryption: true }));
      expect(plain.Parameter?.Value).toBe('s3cret');
      const hidden = await ssm.send(new GetParameterCommand({ Name: '/put/secret' }));
      expect(hidden.Parameter?.Value).not.toContain('s3cret');
    });

    it('rejects a value that does not match AllowedPattern with ParameterPatternMismatchException', async () => {
      const err = await errorOf(ssm.send(new PutParameterCommand({ Name: '/put/digits', Value: 'abc', Type: 'String', AllowedPattern: '^\\d+$' })));
      expect(err).toBeInstanceOf(ParameterPatternMismatchException);
    });
  });

  describe('name rules', () => {
    it.each([
      ['a space inside', '/bad/na me'],
      ['a character outside a-zA-Z0-9_.-/', '/bad/user@example.com'],
      ['a path without a leading slash', 'bad/path'],
      ['an empty path segment', '/bad//path'],
      ['a trailing slash', '/bad/path/'],
      ['a reserved ssm prefix', '/ssm/mine'],
      ['a reserved aws prefix without a path', 'awsthing'],
    ])('rejects a name with %s as ValidationException', async (_what, name) => {
      const err = await errorOf(ssm.send(new PutParameterCommand({ Name: name, Value: 'v', Type: 'String' })));
      expect(err).toBeInstanceOf(ValidationException);
    });

    it('refuses a path under /aws as access to a reserved name', async () => {
      const err = await errorOf(ssm.send(new PutParameterCommand({ Name: '/aws/mine/x', Value: 'v', Type: 'String' })));
      expect(err).toBeInstanceOf(AccessDeniedException);
      expect((err as Error).message).toContain('reserved parameter name');
    });

    it('accepts 15 hierarchy levels and rejects 16', async () => {
      const levels = (n: number): string => `/${Array.from({ length: n }, (_, i) => `l${i + 1}`).join('/')}`;
      await ssm.send(new PutParameterCommand({ Name: levels(15), Value: 'deep', Type: 'String' }));
      const err = await errorOf(ssm.send(new PutParameterCommand({ Name: levels(16), Value: 'deep', Type: 'String' })));
      expect(err).toBeInstanceOf(HierarchyLevelLimitExceededException);
    });

    it('limits a name to 1011 characters including its ARN prefix', async () => {
      const arnPrefix = 'arn:aws:ssm:us-east-1:123456789012:parameter'.length;
      const fits = `/n${'x'.repeat(1011 - arnPrefix - 2)}`;
      await ssm.send(new PutParameterCommand({ Name: fits, Value: 'v', Type: 'String' }));
      const err = await errorOf(ssm.send(new PutParameterCommand({ Name: `${fits}x`, Value: 'v', Type: 'String' })));
      expect(err).toBeInstanceOf(ValidationException);
      expect((err as Error).message).toContain('1011');
    });

    it('rejects an invalid name on GetParameter with ValidationException rather than ParameterNotFound', async () => {
      const err = await errorOf(ssm.send(new GetParameterCommand({ Name: 'no/leading/slash' })));
      expect(err).toBeInstanceOf(ValidationException);
    });
  });

  describe('value size per tier', () => {
    it('holds 4096 bytes in a Standard parameter and refuses 4097', async () => {
      await ssm.send(new PutParameterCommand({ Name: '/size/std', Value: 'x'.repeat(4096), Type: 'String' }));
      const err = await errorOf(ssm.send(new PutParameterCommand({ Name: '/size/std', Value: 'x'.repeat(4097), Type: 'String', Overwrite: true })));
      expect(err).toBeInstanceOf(ValidationException);
      expect((err as Error).message).toContain('Standard tier parameters support a maximum parameter value of 4096');
    });

    it('counts bytes, not characters, so multi-byte text fills a parameter sooner', async () => {
      const err = await errorOf(ssm.send(new PutParameterCommand({ Name: '/size/utf8', Value: 'é'.repeat(2049), Type: 'String' })));
      expect(err).toBeInstanceOf(ValidationException);
    });

    it('holds 8192 bytes in an Advanced parameter and refuses 8193', async () => {
      const out = await ssm.send(new PutParameterCommand({ Name: '/size/adv', Value: 'x'.repeat(8192), Type: 'String', Tier: 'Advanced' }));
      expect(out.Tier).toBe('Advanced');
      const err = await errorOf(ssm.send(new PutParameterCommand({ Name: '/size/adv2', Value: 'x'.repeat(8193), Type: 'String', Tier: 'Advanced' })));
      expect(err).toBeInstanceOf(ValidationException);
    });

    it('lets Intelligent-Tiering choose Standard for small values and Advanced for large ones', async () => {
      const small = await ssm.send(new PutParameterCommand({ Name: '/size/it-small', Value: 'x', Type: 'String', Tier: 'Intelligent-Tiering' }));
      const large = await ssm.send(new PutParameterCommand({ Name: '/size/it-large', Value: 'x'.repeat(5000), Type: 'String', Tier: 'Intelligent-Tiering' }));
      expect([small.Tier, large.Tier]).toEqual(['Standard', 'Advanced']);
    });

    it('refuses to move an Advanced parameter back to Standard', async () => {
      await ssm.send(new PutParameterCommand({ Name: '/size/down', Value: 'x', Type: 'String', Tier: 'Advanced' }));
      const err = await errorOf(ssm.send(new PutParameterCommand({ Name: '/size/down', Value: 'y', Tier: 'Standard', Overwrite: true })));
      expect(err).toBeInstanceOf(ValidationException);
      expect((err as Error).message).toContain('downgrade');
    });
  });

  describe('GetParameters', () => {
    it('returns found parameters and lists unknown names in InvalidParameters', async () => {
      await ssm.send(new PutParameterCommand({ Name: '/multi/a', Value: 'A', Type: 'String' }));
      await ssm.send(new PutParameterCommand({ Name: '/multi/b', Value: 'B', Type: 'String' }));
      const out = await ssm.send(new GetParametersCommand({ Names: ['/multi/a', '/multi/b', '/multi/missing', 'bad name'] }));
      expect(out.Parameters?.map((p) => p.Value).sort()).toEqual(['A', 'B']);
      expect(out.InvalidParameters?.sort()).toEqual(['/multi/missing', 'bad name']);
    });

    it('refuses more than 10 names', async () => {
      const names = Array.from({ length: 11 }, (_, i) => `/multi/n${i}`);
      const err = await errorOf(ssm.send(new GetParametersCommand({ Names: names })));
      expect(err).toBeInstanceOf(ValidationException);
      expect((err as Error).message).toContain('less than or equal to 10');
    });
  });

  describe('GetParametersByPath', () => {
    beforeAll(async () => {
      for (let i = 0; i < 25; i++) {
        await ssm.send(new PutParameterCommand({ Name: `/tree/p${String(i).padStart(2, '0')}`, Value: `v${i}`, Type: 'String' }));
      }
      await ssm.send(new PutParameterCommand({ Name: '/tree/sub/deep', Value: 'deep', Type: 'String' }));
    });

    it('pages through 25 direct children 10 at a time', async () => {
      const pages: string[][] = [];
      let token: string | undefined;
      do {
        const out = await ssm.send(new GetParametersByPathCommand({ Path: '/tree', MaxResults: 10, NextToken: token }));
        pages.push((out.Parameters ?? []).map((p) => p.Name!));
        token = out.NextToken;
      } while (token);
      expect(pages.map((p) => p.length)).toEqual([10, 10, 5]);
      expect(pages.flat()).toEqual(Array.from({ length: 25 }, (_, i) => `/tree/p${String(i).padStart(2, '0')}`));
    });

    it('descends into sub-paths only when Recursive is set', async () => {
      const collect = async (recursive: boolean): Promise<string[]> => {
        const names: string[] = [];
        let token: string | undefined;
        do {
          const out = await ssm.send(new GetParametersByPathCommand({ Path: '/tree/', Recursive: recursive, NextToken: token }));
          names.push(...(out.Parameters ?? []).map((p) => p.Name!));
          token = out.NextToken;
        } while (token);
        return names;
      };
      expect(await collect(false)).not.toContain('/tree/sub/deep');
      expect(await collect(true)).toContain('/tree/sub/deep');
    });

    it('refuses MaxResults above 10', async () => {
      const err = await errorOf(ssm.send(new GetParametersByPathCommand({ Path: '/tree', MaxResults: 11 })));
      expect(err).toBeInstanceOf(ValidationException);
    });

    it('refuses a NextToken issued for another path', async () => {
      const first = await ssm.send(new GetParametersByPathCommand({ Path: '/tree', MaxResults: 1 }));
      const err = await errorOf(ssm.send(new GetParametersByPathCommand({ Path: '/multi', NextToken: first.NextToken })));
      expect(err).toBeInstanceOf(InvalidNextToken);
    });

    it('refuses a path that does not begin with a slash', async () => {
      const err = await errorOf(ssm.send(new GetParametersByPathCommand({ Path: 'tree' })));
      expect(err).toBeInstanceOf(ValidationException);
    });
  });

  describe('DeleteParameter and DeleteParameters', () => {
    it('deletes one parameter and throws ParameterNotFound the second time', async () => {
      await ssm.send(new PutParameterCommand({ Name: '/del/one', Value: 'x', Type: 'String' }));
      await ssm.send(new DeleteParameterCommand({ Name: '/del/one' }));
      const err = await errorOf(ssm.send(new DeleteParameterCommand({ Name: '/del/one' })));
      expect(err).toBeInstanceOf(ParameterNotFound);
    });

    it('deletes up to 10 names and reports the ones that did not exist', async () => {
      await ssm.send(new PutParameterCommand({ Name: '/del/a', Value: 'x', Type: 'String' }));
      await ssm.send(new PutParameterCommand({ Name: '/del/b', Value: 'x', Type: 'String' }));
      const out = await ssm.send(new DeleteParametersCommand({ Names: ['/del/a', '/del/b', '/del/never'] }));
      expect(out.DeletedParameters?.sort()).toEqual(['/del/a', '/del/b']);
      expect(out.InvalidParameters).toEqual(['/del/never']);
    });

    it('refuses more than 10 names', async () => {
      const names = Array.from({ length: 11 }, (_, i) => `/del/n${i}`);
      const err = await errorOf(ssm.send(new DeleteParametersCommand({ Names: names })));
      expect(err).toBeInstanceOf(ValidationException);
    });
  });

  describe('tags', () => {
    const tagsOf = async (name: string) => (await ssm.send(new ListTagsForResourceCommand({ ResourceType: 'Parameter', ResourceId: name }))).TagList;

    it('keeps the tags a parameter is created with through later overwrites', async () => {
      const tags = [
        { Key: 'skiff:host-arn', Value: 'arn:aws:ec2:eu-west-1:123456789012:instance/i-0abc' },
        { Key: 'team', Value: 'a b_c.d:e/f=g+h-i@j' },
      ];
      await ssm.send(new PutParameterCommand({ Name: '/tags/kept', Value: 'v1', Type: 'String', Tags: tags }));
      expect(await tagsOf('/tags/kept')).toEqual(tags);
      await ssm.send(new PutParameterCommand({ Name: '/tags/kept', Value: 'v2', Overwrite: true }));
      expect(await tagsOf('/tags/kept')).toEqual(tags);
      expect((await ssm.send(new GetParameterCommand({ Name: '/tags/kept' }))).Parameter).toMatchObject({ Value: 'v2', Version: 2 });
      await ssm.send(new PutParameterCommand({ Name: '/tags/none', Value: 'v', Type: 'String' }));
      expect(await tagsOf('/tags/none')).toEqual([]);
    });

    it('refuses Tags together with Overwrite, naming the conflict, even for a parameter that does not exist yet', async () => {
      const err = await errorOf(
        ssm.send(new PutParameterCommand({ Name: '/tags/both', Value: 'v', Type: 'String', Overwrite: true, Tags: [{ Key: 'k', Value: 'v' }] })),
      );
      expect(err).toBeInstanceOf(ValidationException);
      expect((err as Error).message).toMatch(/tags and overwrite can't be used together/);
      expect(await errorOf(ssm.send(new GetParameterCommand({ Name: '/tags/both' })))).toBeInstanceOf(ParameterNotFound);
    });

    it('takes at most 50 tags on a parameter', async () => {
      const tags = (n: number) => Array.from({ length: n }, (_, i) => ({ Key: `k${i}`, Value: 'v' }));
      await ssm.send(new PutParameterCommand({ Name: '/tags/fifty', Value: 'v', Type: 'String', Tags: tags(50) }));
      expect(await tagsOf('/tags/fifty')).toHaveLength(50);
      const err = await errorOf(ssm.send(new PutParameterCommand({ Name: '/tags/fifty-one', Value: 'v', Type: 'String', Tags: tags(51) })));
      expect(err).toBeInstanceOf(ValidationException);
      expect((err as Error).message).toMatch(/at most 50 tags; the request has 51/);
    });

    it('applies the key and value rules of the SSM API model: lengths, characters, the aws: prefix, duplicates', async () => {
      const put = (Key: string, Value: string, Name = '/tags/rules') =>
        errorOf(ssm.send(new PutParameterCommand({ Name, Value: 'v', Type: 'String', Tags: [{ Key, Value }] })));
      const cases: [string, string, RegExp][] = [
        ['k'.repeat(129), 'v', /'tags\.1\.member\.key' failed to satisfy constraint: Member must have length less than or equal to 128/],
        ['', 'v', /'tags\.1\.member\.key' failed to satisfy constraint: Member must have length greater than or equal to 1/],
        ['k', 'v'.repeat(257), /'tags\.1\.member\.value' failed to satisfy constraint: Member must have length less than or equal to 256/],
        ['k', '', /'tags\.1\.member\.value' failed to satisfy constraint: Member must have length greater than or equal to 1/],
        ['k#1', 'v', /'tags\.1\.member\.key' failed to satisfy constraint: Member must satisfy regular expression pattern/],
        ['k', 'a,b', /'tags\.1\.member\.value' failed to satisfy constraint: Member must satisfy regular expression pattern/],
        ['aws:owner', 'v', /can't start with "aws:"/],
      ];
      for (const [key, value, message] of cases) {
        const err = await put(key, value);
        expect(err, `${key}=${value}`).toBeInstanceOf(ValidationException);
        expect((err as Error).message).toMatch(message);
      }
      const dup = await errorOf(
        ssm.send(
          new PutParameterCommand({
            Name: '/tags/rules',
            Value: 'v',
            Type: 'String',
            Tags: [
              { Key: 'k', Value: '1' },
              { Key: 'k', Value: '2' },
            ],
          }),
        ),
      );
      expect((dup as Error).message).toMatch(/Duplicate tag key in the request: k/);
      // 128 and 256 characters, and non-ASCII letters, are fine.
      await ssm.send(new PutParameterCommand({ Name: '/tags/rules', Value: 'v', Type: 'String', Tags: [{ Key: 'ü'.repeat(128), Value: 'v'.repeat(256) }] }));
      expect(await tagsOf('/tags/rules')).toEqual([{ Key: 'ü'.repeat(128), Value: 'v'.repeat(256) }]);
    });

    it('answers ListTagsForResource for a missing parameter with InvalidResourceId, and supports only parameters', async () => {
      expect(await errorOf(tagsOf('/tags/missing'))).toBeInstanceOf(InvalidResourceId);
      const err = await errorOf(ssm.send(new ListTagsForResourceCommand({ ResourceType: 'Document', ResourceId: 'AWS-RunShellScript' })));
      expect(err).toBeInstanceOf(ValidationException);
      expect((err as Error).message).toMatch(/only Parameter/);
    });
  });

  it('counts calls per operation, failed ones included', async () => {
    const before = server.counts();
    await ssm.send(new PutParameterCommand({ Name: '/count/a', Value: 'x', Type: 'String' }));
    await ssm.send(new GetParameterCommand({ Name: '/count/a' }));
    await errorOf(ssm.send(new GetParameterCommand({ Name: '/count/missing' })));
    const after = server.counts();
    expect((after.PutParameter ?? 0) - (before.PutParameter ?? 0)).toBe(1);
    expect((after.GetParameter ?? 0) - (before.GetParameter ?? 0)).toBe(2);
    expect((after.GetParameters ?? 0) - (before.GetParameters ?? 0)).toBe(0);
  });
});

describe('SSM stand-in throttling', () => {
  const servers: SsmServer[] = [];
  const clients: SSMClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    for (const s of servers.splice(0)) await s.close();
  });

  it('throws a typed ThrottlingException once a group exhausts its bucket', async () => {
    // One token per 100 s: the third call in a row cannot have been refilled.
    const server = await startSsmServer({ limits: { get: { rate: 0.01, burst: 2 } } });
    servers.push(server);
    const ssm = clientFor(server);
    clients.push(ssm);
    await errorOf(ssm.send(new GetParameterCommand({ Name: '/t/a' })));
    await errorOf(ssm.send(new GetParameterCommand({ Name: '/t/a' })));
    const err = await errorOf(ssm.send(new GetParametersCommand({ Names: ['/t/a'] })));
    expect(err).toBeInstanceOf(ThrottlingException);
    // Writes draw on their own bucket.
    await ssm.send(new PutParameterCommand({ Name: '/t/a', Value: 'x', Type: 'String' }));
  });

  it('throttles a burst of 100 concurrent reads under the default 40 TPS quota', async () => {
    const server = await startSsmServer({});
    servers.push(server);
    const ssm = clientFor(server);
    clients.push(ssm);
    const results = await Promise.allSettled(Array.from({ length: 100 }, () => ssm.send(new GetParameterCommand({ Name: '/t/none' }))));
    const throttled = results.filter((r) => r.status === 'rejected' && r.reason instanceof ThrottlingException);
    expect(throttled.length).toBeGreaterThan(0);
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
  });
});

describe('SSM stand-in persistence', () => {
  let dir: string;
  const servers: SsmServer[] = [];
  const clients: SSMClient[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'skiff-ssm-'));
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    for (const s of servers.splice(0)) await s.close();
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function start(dataFile: string): Promise<SSMClient> {
    const server = await startSsmServer({ dataFile, limits: false });
    servers.push(server);
    const ssm = clientFor(server);
    clients.push(ssm);
    return ssm;
  }

  it('keeps parameters, versions and deletions across a restart', async () => {
    const dataFile = join(dir, 'nested', 'ssm.json');
    let ssm = await start(dataFile);
    await Promise.all(Array.from({ length: 20 }, (_, i) => ssm.send(new PutParameterCommand({ Name: `/keep/p${i}`, Value: `v${i}`, Type: 'String' }))));
    await ssm.send(new PutParameterCommand({ Name: '/keep/p0', Value: 'v0b', Overwrite: true }));
    await ssm.send(new PutParameterCommand({ Name: '/keep/tagged', Value: 't', Type: 'String', Tags: [{ Key: 'owner', Value: 'i-0abc' }] }));
    await ssm.send(new DeleteParameterCommand({ Name: '/keep/p1' }));
    for (const c of clients.splice(0)) c.destroy();
    for (const s of servers.splice(0)) await s.close();

    ssm = await start(dataFile);
    const p0 = await ssm.send(new GetParameterCommand({ Name: '/keep/p0' }));
    expect(p0.Parameter).toMatchObject({ Value: 'v0b', Version: 2 });
    expect((await ssm.send(new GetParameterCommand({ Name: '/keep/p19' }))).Parameter?.Value).toBe('v19');
    expect(await errorOf(ssm.send(new GetParameterCommand({ Name: '/keep/p1' })))).toBeInstanceOf(ParameterNotFound);
    const tags = await ssm.send(new ListTagsForResourceCommand({ ResourceType: 'Parameter', ResourceId: '/keep/tagged' }));
    expect(tags.TagList).toEqual([{ Key: 'owner', Value: 'i-0abc' }]);
  });

  it('refuses a new Standard parameter once the account holds 10,000', async () => {
    const dataFile = join(dir, 'full.json');
    const parameters = Array.from({ length: 10_000 }, (_, i) => ({
      Name: `/full/p${i}`,
      Type: 'String',
      Value: 'x',
      Version: 1,
      Tier: 'Standard',
      LastModifiedDate: 0,
    }));
    await writeFile(dataFile, JSON.stringify({ format: 'skiff-ssm-local/1', parameters }));
    const ssm = await start(dataFile);
    const err = await errorOf(ssm.send(new PutParameterCommand({ Name: '/full/one-more', Value: 'x', Type: 'String' })));
    expect(err).toBeInstanceOf(ParameterLimitExceeded);
    // Overwriting an existing one does not add a parameter.
    await ssm.send(new PutParameterCommand({ Name: '/full/p0', Value: 'y', Overwrite: true }));
  });

  it('fails to start on a data file that is not its format', async () => {
    const dataFile = join(dir, 'foreign.json');
    await writeFile(dataFile, JSON.stringify({ hello: 'world' }));
    await expect(startSsmServer({ dataFile })).rejects.toThrow(/not in format/);
  });
});

describe('SSM stand-in options', () => {
  it('rejects unknown options by name', async () => {
    await expect(startSsmServer({ prot: 1 } as never)).rejects.toThrow(/unknown option\(s\) prot/);
    await expect(startSsmServer({ limits: { gets: { rate: 1 } } } as never)).rejects.toThrow(/unknown limits group gets/);
  });

  it('listens on loopback only', async () => {
    await expect(startSsmServer({ host: '0.0.0.0' })).rejects.toThrow(/loopback/);
  });
});
