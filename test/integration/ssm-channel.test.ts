import { createHash } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import {
  AccessDeniedException,
  GetParameterCommand,
  GetParametersByPathCommand,
  ListTagsForResourceCommand,
  PutParameterCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { ConflictError, LimitError, ValidationError } from '../../core/errors.ts';
import type { HostDocument, HostDocumentTask } from '../../core/types.ts';
import { HOST_ARN_TAG_KEY, HostChannelError, MAX_CHUNKS, SsmHostChannel, STANDARD_PARAMETER_BYTES } from '../../adapters/aws/ssm-channel.ts';
import { startSsmServer, type SsmServer, type SsmServerOptions } from '../../local/ssm-server.ts';

const credentials = { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local-secret' };
const PREFIX = '/skiff/test';
const noWait = (): Promise<void> => Promise.resolve();

/** Deterministic, poorly compressible text, so that gzip cannot squeeze a big document into one parameter. */
function noise(seed: string, length: number): string {
  let out = '';
  for (let i = 0; out.length < length; i++) out += createHash('sha256').update(`${seed}:${i}`).digest('hex');
  return out.slice(0, length);
}

function aTask(generation: number, i: number): HostDocumentTask {
  return {
    id: `t-${generation}-${i}`,
    namespace: 'default',
    service: `svc-${i % 7}`,
    slot: i,
    specVersion: generation,
    pod: {
      restartPolicy: 'always',
      containers: [
        {
          name: 'main',
          image: 'skiff/busybox:latest',
          command: ['sh', '-c', 'sleep 3600'],
          env: { TOKEN: noise(`${generation}/${i}`, 48), GREETING: 'grüße' },
          ports: [{ containerPort: 8080, protocol: 'tcp' }],
          resources: { cpu: 100, memory: 64 * 1024 * 1024 },
        },
      ],
    },
  };
}

function aDoc(hostId: string, generation: number, tasks: number): HostDocument {
  return { cluster: 'test', hostId, generation, tasks: Array.from({ length: tasks }, (_, i) => aTask(generation, i)) };
}

async function errorOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to fail');
}

function delta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const op of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const d = (after[op] ?? 0) - (before[op] ?? 0);
    if (d !== 0) out[op] = d;
  }
  return out;
}

describe('SsmHostChannel', () => {
  let server: SsmServer;
  let ssm: SSMClient;
  let channel: SsmHostChannel;

  beforeAll(async () => {
    server = await startSsmServer({ port: 0, limits: false });
    ssm = new SSMClient({ endpoint: server.endpoint, region: 'us-east-1', credentials });
    channel = new SsmHostChannel(ssm, { prefix: PREFIX, sleep: noWait });
  });
  afterAll(async () => {
    ssm?.destroy();
    await server?.close();
  });

  async function stored(hostId: string): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    let token: string | undefined;
    do {
      const page = await ssm.send(new GetParametersByPathCommand({ Path: `${PREFIX}/hosts/${hostId}`, Recursive: true, NextToken: token }));
      for (const p of page.Parameters ?? []) out.set(p.Name!, p.Value!);
      token = page.NextToken;
    } while (token);
    return out;
  }

  it('keeps a small document inline in the head parameter and reads it back', async () => {
    const doc = aDoc('small-1', 1, 2);
    await channel.publish(doc);
    expect([...(await stored('small-1')).keys()]).toEqual([`${PREFIX}/hosts/small-1/head`]);
    expect(await channel.fetch('small-1')).toEqual(doc);
  });

  it('splits a 300-task document across Standard-size chunks and reads it back identical', async () => {
    const doc = aDoc('big-1', 4, 300);
    await channel.publish(doc);
    const params = await stored('big-1');
    const chunks = [...params.keys()].filter((n) => n.includes('/g4-c'));
    expect(chunks.length).toBeGreaterThan(1);
    expect(params.size).toBe(chunks.length + 1);
    for (const value of params.values()) expect(Buffer.byteLength(value)).toBeLessThanOrEqual(STANDARD_PARAMETER_BYTES);
    expect(await channel.fetch('big-1')).toEqual(doc);
  });

  it('answers unchanged with exactly one GetParameter when the known generation is current', async () => {
    await channel.publish(aDoc('poll-1', 9, 300));
    const before = server.counts();
    expect(await channel.fetch('poll-1', 9)).toBe('unchanged');
    expect(delta(before, server.counts())).toEqual({ GetParameter: 1 });
  });

  it('reads a changed chunked document with one GetParameter and one GetParameters per 10 chunks', async () => {
    await channel.publish(aDoc('poll-2', 2, 300));
    const chunks = (await stored('poll-2')).size - 1;
    const before = server.counts();
    const doc = await channel.fetch('poll-2', 1);
    expect(doc).toEqual(aDoc('poll-2', 2, 300));
    expect(delta(before, server.counts())).toEqual({ GetParameter: 1, GetParameters: Math.ceil(chunks / 10) });
  });

  it('deletes the previous generation’s chunks once the new head is written', async () => {
    await channel.publish(aDoc('gc-1', 1, 300));
    await channel.publish(aDoc('gc-1', 2, 300));
    const afterSecond = [...(await stored('gc-1')).keys()];
    expect(afterSecond.filter((n) => n.includes('/g1-'))).toEqual([]);
    expect(afterSecond.filter((n) => n.includes('/g2-')).length).toBeGreaterThan(1);

    await channel.publish(aDoc('gc-1', 3, 1));
    expect([...(await stored('gc-1')).keys()]).toEqual([`${PREFIX}/hosts/gc-1/head`]);
    expect(await channel.fetch('gc-1')).toEqual(aDoc('gc-1', 3, 1));
  });

  it('does not write again when the same document is published twice', async () => {
    const doc = aDoc('same-1', 5, 300);
    await channel.publish(doc);
    const before = server.counts();
    await channel.publish(doc);
    expect(delta(before, server.counts()).PutParameter).toBeUndefined();
  });

  it('refuses to publish a generation older than the one already published', async () => {
    await channel.publish(aDoc('old-1', 7, 1));
    expect(await errorOf(channel.publish(aDoc('old-1', 6, 1)))).toBeInstanceOf(ConflictError);
    expect(await channel.fetch('old-1')).toEqual(aDoc('old-1', 7, 1));
  });

  it('refuses to publish a generation already published with other content, writing nothing', async () => {
    await channel.publish(aDoc('same-gen-1', 3, 1));
    const before = server.counts();
    expect(await errorOf(channel.publish(aDoc('same-gen-1', 3, 2)))).toBeInstanceOf(ConflictError);
    expect(delta(before, server.counts()).PutParameter).toBeUndefined();
    expect(await channel.fetch('same-gen-1')).toEqual(aDoc('same-gen-1', 3, 1));
  });

  it('returns undefined for a host that has no document', async () => {
    expect(await channel.fetch('never-published')).toBeUndefined();
  });

  it('removes everything under a host’s path and nothing of other hosts', async () => {
    await channel.publish(aDoc('rm-1', 1, 300));
    await channel.publish(aDoc('rm-10', 1, 1));
    await channel.remove('rm-1');
    expect((await stored('rm-1')).size).toBe(0);
    expect(await channel.fetch('rm-1')).toBeUndefined();
    expect(await channel.fetch('rm-10')).toEqual(aDoc('rm-10', 1, 1));
  });

  it('refuses a document that would need more than the chunk limit, before writing anything', async () => {
    const doc: HostDocument = { ...aDoc('huge-1', 1, 1), tasks: [{ ...aTask(1, 0), service: noise('huge', MAX_CHUNKS * 4096 * 2) }] };
    const before = server.counts();
    expect(await errorOf(channel.publish(doc))).toBeInstanceOf(LimitError);
    expect(delta(before, server.counts())).toEqual({});
  });

  it('rejects a host id that cannot be part of a parameter name', async () => {
    expect(await errorOf(channel.publish(aDoc('bad host', 1, 1)))).toBeInstanceOf(ValidationError);
    expect(await errorOf(channel.fetch('bad/host'))).toBeInstanceOf(ValidationError);
  });

  it('reports a head it cannot parse as corrupt, and a publish replaces it', async () => {
    await ssm.send(new PutParameterCommand({ Name: `${PREFIX}/hosts/corrupt-1/head`, Value: 'garbage', Type: 'String' }));
    await ssm.send(new PutParameterCommand({ Name: `${PREFIX}/hosts/corrupt-1/g3-c0`, Value: 'orphan', Type: 'String' }));
    const err = await errorOf(channel.fetch('corrupt-1'));
    expect(err).toBeInstanceOf(HostChannelError);
    expect(err).toMatchObject({ reason: 'corrupt', retryable: false });

    await channel.publish(aDoc('corrupt-1', 4, 1));
    expect(await channel.fetch('corrupt-1')).toEqual(aDoc('corrupt-1', 4, 1));
    expect([...(await stored('corrupt-1')).keys()]).toEqual([`${PREFIX}/hosts/corrupt-1/head`]);
  });

  it('never hands a reader racing a publisher a torn document', async () => {
    const hostId = 'race-1';
    const expected = new Map<number, HostDocument>();
    // Task counts vary so chunk counts differ between generations.
    for (let g = 1; g <= 12; g++) expected.set(g, aDoc(hostId, g, 150 + (g % 4) * 60));
    await channel.publish(expected.get(1)!);

    let publishing = true;
    const publisher = (async () => {
      try {
        for (let g = 2; g <= 12; g++) await channel.publish(expected.get(g)!);
      } finally {
        publishing = false;
      }
    })();
    const seen: number[] = [];
    const mismatches: number[] = [];
    while (publishing) {
      try {
        const doc = await channel.fetch(hostId);
        if (doc === undefined || doc === 'unchanged') throw new Error(`unexpected ${String(doc)}`);
        seen.push(doc.generation);
        try {
          expect(doc).toEqual(expected.get(doc.generation));
        } catch {
          mismatches.push(doc.generation);
        }
      } catch (err) {
        // Retryable by contract: the document kept changing for the whole bounded retry.
        if (!(err instanceof HostChannelError && err.reason === 'torn-read')) throw err;
      }
    }
    await publisher;
    expect(mismatches).toEqual([]);
    expect(seen.length).toBeGreaterThan(0);
    // Generations only move forward for a reader.
    expect([...seen].sort((a, b) => a - b)).toEqual(seen);
    expect(await channel.fetch(hostId)).toEqual(expected.get(12));
  });

  describe('when a publish lands between the head read and the chunk read', () => {
    let reader: SSMClient;
    let beforeChunkRead: (() => Promise<void>) | undefined;

    beforeAll(() => {
      reader = new SSMClient({ endpoint: server.endpoint, region: 'us-east-1', credentials });
      // Runs the hook right before the reader's GetParameters goes out: the exact window a torn read needs.
      reader.middlewareStack.add(
        (next, context) => async (args) => {
          if (context.commandName === 'GetParametersCommand' && beforeChunkRead) await beforeChunkRead();
          return next(args);
        },
        { step: 'initialize', name: 'publishBeforeChunkRead' },
      );
    });
    afterEach(() => {
      beforeChunkRead = undefined;
    });
    afterAll(() => reader?.destroy());

    it('re-reads the head when the chunks it pointed at were deleted, and returns the newer document', async () => {
      const readerChannel = new SsmHostChannel(reader, { prefix: PREFIX });
      await channel.publish(aDoc('torn-1', 1, 300));
      let published = false;
      beforeChunkRead = async () => {
        if (published) return;
        published = true;
        await channel.publish(aDoc('torn-1', 2, 300));
      };
      const before = server.counts();
      expect(await readerChannel.fetch('torn-1')).toEqual(aDoc('torn-1', 2, 300));
      expect(delta(before, server.counts()).GetParameter).toBe(2 + 1); // the reader's two head reads, the publisher's one
    });

    it('detects chunks overwritten in place by their hash', async () => {
      const readerChannel = new SsmHostChannel(reader, { prefix: PREFIX });
      const first = aDoc('torn-2', 5, 300);
      const replacement = { ...aDoc('torn-2', 5, 300), cluster: 'replaced' };
      await channel.publish(first);
      let published = false;
      beforeChunkRead = async () => {
        if (published) return;
        published = true;
        // Two publishers of the same generation, both past the channel's check (it is not atomic):
        // the second overwrites the same chunk names.
        await channel.remove('torn-2');
        await channel.publish(replacement);
      };
      const parametersBefore = (await stored('torn-2')).size;
      expect(await readerChannel.fetch('torn-2')).toEqual(replacement);
      // Same chunk count: every chunk was still there, only its content changed under the reader.
      expect((await stored('torn-2')).size).toBe(parametersBefore);
    });

    it('gives up with a retryable torn-read error when every read is overtaken', async () => {
      const readerChannel = new SsmHostChannel(reader, { prefix: PREFIX });
      let generation = 1;
      await channel.publish(aDoc('torn-3', generation, 300));
      beforeChunkRead = async () => {
        generation++;
        await channel.publish(aDoc('torn-3', generation, 300));
      };
      const err = await errorOf(readerChannel.fetch('torn-3'));
      expect(err).toBeInstanceOf(HostChannelError);
      expect(err).toMatchObject({ reason: 'torn-read', retryable: true });
    });
  });

  it('rejects unknown options and prefixes Parameter Store would refuse', () => {
    expect(() => new SsmHostChannel(ssm, { prefix: PREFIX, retries: 3 } as never)).toThrow(/unknown option\(s\) retries/);
    expect(() => new SsmHostChannel(ssm, { prefix: 'skiff/test' })).toThrow(/prefix/);
    expect(() => new SsmHostChannel(ssm, { prefix: '/aws/skiff' })).toThrow(/prefix/);
  });
});

describe('SsmHostChannel under AWS request quotas', () => {
  const servers: SsmServer[] = [];
  const clients: SSMClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    for (const s of servers.splice(0)) await s.close();
  });

  async function setup(limits: SsmServerOptions['limits'], maxAttempts?: number): Promise<{ server: SsmServer; ssm: SSMClient }> {
    const server = await startSsmServer({ limits });
    servers.push(server);
    const ssm = new SSMClient({ endpoint: server.endpoint, region: 'us-east-1', credentials, ...(maxAttempts ? { maxAttempts } : {}) });
    clients.push(ssm);
    return { server, ssm };
  }

  it('publishes a chunked document under the default 3 TPS PutParameter quota by backing off', async () => {
    const { server, ssm } = await setup(undefined);
    const channel = new SsmHostChannel(ssm, { prefix: PREFIX, baseDelayMs: 100 });
    const doc = aDoc('quota-1', 1, 300);
    await channel.publish(doc);
    expect(await channel.fetch('quota-1')).toEqual(doc);
    const puts = server.counts().PutParameter ?? 0;
    const written = (await ssm.send(new GetParametersByPathCommand({ Path: `${PREFIX}/hosts/quota-1` }))).Parameters?.length ?? 0;
    // More PutParameter requests than parameters: some were throttled and sent again.
    expect(puts).toBeGreaterThan(written);
  });

  it('turns throttling that outlasts its retries into a retryable HostChannelError', async () => {
    // One token per 100 s after the first: nothing refills during the test.
    const { ssm } = await setup({ get: { rate: 0.01, burst: 2 }, put: { rate: 0.01, burst: 1 } }, 1);
    const channel = new SsmHostChannel(ssm, { prefix: PREFIX, maxAttempts: 2, sleep: noWait });
    await channel.publish(aDoc('slow-1', 1, 1)); // one GetParameter (head), one PutParameter
    const writeErr = await errorOf(channel.publish(aDoc('slow-1', 2, 1)));
    expect(writeErr).toBeInstanceOf(HostChannelError);
    expect(writeErr).toMatchObject({ reason: 'throttled', retryable: true });
    const readErr = await errorOf(channel.fetch('slow-1'));
    expect(readErr).toMatchObject({ reason: 'throttled', retryable: true });
  });
});

describe('SsmHostChannel with a host ARN prefix (instance-scoped reads on AWS)', () => {
  const ARN_PREFIX = 'arn:aws:ec2:eu-west-1:123456789012:instance/';
  let server: SsmServer;
  let ssm: SSMClient;
  let channel: SsmHostChannel;

  beforeAll(async () => {
    server = await startSsmServer({ port: 0, limits: false });
    ssm = new SSMClient({ endpoint: server.endpoint, region: 'eu-west-1', credentials });
    channel = new SsmHostChannel(ssm, { prefix: PREFIX, hostArnPrefix: ARN_PREFIX, sleep: noWait });
  });
  afterAll(async () => {
    ssm?.destroy();
    await server?.close();
  });

  /** Every parameter under the host's path, with its tags. */
  async function tagged(hostId: string): Promise<Map<string, Record<string, string>>> {
    const out = new Map<string, Record<string, string>>();
    let token: string | undefined;
    do {
      const page = await ssm.send(new GetParametersByPathCommand({ Path: `${PREFIX}/hosts/${hostId}`, Recursive: true, NextToken: token }));
      for (const p of page.Parameters ?? []) {
        const tags = await ssm.send(new ListTagsForResourceCommand({ ResourceType: 'Parameter', ResourceId: p.Name! }));
        out.set(p.Name!, Object.fromEntries((tags.TagList ?? []).map((t) => [t.Key!, t.Value!])));
      }
      token = page.NextToken;
    } while (token);
    return out;
  }

  const ownTag = (hostId: string) => ({ [HOST_ARN_TAG_KEY]: `${ARN_PREFIX}${hostId}` });

  it('creates the head and every chunk tagged with the host’s instance ARN, one PutParameter each, and reads the document back', async () => {
    const doc = aDoc('i-0abc', 1, 300);
    const before = server.counts();
    await channel.publish(doc);
    const calls = delta(before, server.counts());
    const params = await tagged('i-0abc');
    expect(params.size).toBeGreaterThan(2);
    for (const tags of params.values()) expect(tags).toEqual(ownTag('i-0abc'));
    expect(calls).toEqual({ GetParameter: 1, PutParameter: params.size });
    expect(await channel.fetch('i-0abc')).toEqual(doc);
  });

  it('overwrites the existing head without tags and creates the next generation’s chunks with them; the tags stay', async () => {
    await channel.publish(aDoc('i-0bcd', 1, 300));
    const before = server.counts();
    await channel.publish(aDoc('i-0bcd', 2, 300));
    const calls = delta(before, server.counts());
    const params = await tagged('i-0bcd');
    expect([...params.keys()].filter((n) => n.includes('/g1-'))).toEqual([]);
    for (const tags of params.values()) expect(tags).toEqual(ownTag('i-0bcd'));
    // Exactly one write per parameter: the stand-in refuses Tags with Overwrite, as AWS does, so
    // a wrong guess would show up here as a failed call followed by a second one.
    expect(calls).toMatchObject({ GetParameter: 1, PutParameter: params.size });
    expect(await channel.fetch('i-0bcd')).toEqual(aDoc('i-0bcd', 2, 300));

    // The same generation again with other content is refused before anything is written.
    const changed = { ...aDoc('i-0bcd', 2, 300), tasks: aDoc('i-0bcd', 2, 301).tasks };
    const again = server.counts();
    expect(await errorOf(channel.publish(changed))).toBeInstanceOf(ConflictError);
    expect(delta(again, server.counts()).PutParameter).toBeUndefined();
    expect(await channel.fetch('i-0bcd')).toEqual(aDoc('i-0bcd', 2, 300));
  });

  it('overwrites a name it meant to create when an interrupted publish left it behind, at one extra call', async () => {
    // A publish that wrote its first chunk and then died: the chunk exists (tagged), the head does not.
    const leftover = `${PREFIX}/hosts/i-0cde/g1-c0`;
    await ssm.send(
      new PutParameterCommand({ Name: leftover, Value: 'stale', Type: 'String', Tags: [{ Key: HOST_ARN_TAG_KEY, Value: `${ARN_PREFIX}i-0cde` }] }),
    );
    const before = server.counts();
    await channel.publish(aDoc('i-0cde', 1, 300));
    const puts = delta(before, server.counts()).PutParameter;
    const params = await tagged('i-0cde');
    for (const tags of params.values()) expect(tags).toEqual(ownTag('i-0cde'));
    expect(puts).toBe(params.size + 1);
    expect(await channel.fetch('i-0cde')).toEqual(aDoc('i-0cde', 1, 300));
  });

  it('tags nothing without a prefix, as in local mode', async () => {
    const plain = new SsmHostChannel(ssm, { prefix: PREFIX, sleep: noWait });
    await plain.publish(aDoc('i-0def', 1, 1));
    expect([...(await tagged('i-0def')).values()]).toEqual([{}]);
    expect(await channel.fetch('i-0def')).toEqual(aDoc('i-0def', 1, 1));
  });

  it('refuses a prefix that cannot begin a tag value', () => {
    expect(() => new SsmHostChannel(ssm, { prefix: PREFIX, hostArnPrefix: 'arn#x' })).toThrow(/hostArnPrefix/);
    expect(() => new SsmHostChannel(ssm, { prefix: PREFIX, hostArnPrefix: 'a'.repeat(129) })).toThrow(/at most 128 characters/);
    expect(() => new SsmHostChannel(ssm, { prefix: PREFIX, hostArnPrefix: 42 as never })).toThrow(/hostArnPrefix/);
  });

  it('reports IAM’s refusal to read a head as a non-retryable denied error that names the tag (at the SDK boundary)', async () => {
    // The stand-in has no IAM; on AWS the host role is denied any Skiff parameter not tagged with
    // its ARN, including one that does not exist yet.
    const client = new SSMClient({ region: 'eu-west-1', credentials });
    const mock = mockClient(client);
    try {
      const denied = 'User is not authorized to perform: ssm:GetParameter with an explicit deny';
      mock.on(GetParameterCommand).rejects(new AccessDeniedException({ Message: denied, message: denied, $metadata: {} }));
      const err = await errorOf(new SsmHostChannel(client, { prefix: PREFIX, hostArnPrefix: ARN_PREFIX }).fetch('i-0abc'));
      expect(err).toBeInstanceOf(HostChannelError);
      expect(err).toMatchObject({ reason: 'denied', retryable: false });
      expect((err as Error).message).toMatch(/read head of i-0abc.*tagged skiff:host-arn with its own instance ARN/);
      expect((err as Error).cause).toBeInstanceOf(AccessDeniedException);
    } finally {
      mock.restore();
      client.destroy();
    }
  });
});
