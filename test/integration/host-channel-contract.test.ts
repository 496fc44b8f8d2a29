/**
 * ONE contract for every HostChannel adapter: the SSM one on the Parameter Store stand-in, the
 * DynamoDB one on dynalite, and the in-memory fake the pass tests use. Whatever the cluster's
 * `hostChannel`, the scheduler and the agent see the same behaviour (docs/host-channel.md).
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SSMClient } from '@aws-sdk/client-ssm';
import { ConflictError, ValidationError } from '../../core/errors.ts';
import { DOCUMENT_ENVELOPE_BYTES, HOST_DOCUMENT_BYTES, documentTaskBytes } from '../../core/document-size.ts';
import type { HostDocument, HostDocumentTask } from '../../core/types.ts';
import type { HostChannel } from '../../ports/index.ts';
import { SsmHostChannel } from '../../adapters/aws/ssm-channel.ts';
import { DynamoHostChannel } from '../../adapters/aws/dynamo-host-channel.ts';
import { MemoryHostChannel } from '../../adapters/memory/host-channel.ts';
import { startSsmServer, type SsmServer } from '../../local/ssm-server.ts';
import { dynaliteClient, startDynalite, type DynaliteServer } from '../../local/dynalite.ts';
import { ensureHostDocumentTable } from '../../local/host-document-table.ts';

const noWait = (): Promise<void> => Promise.resolve();
let ssm: SsmServer;
let dynalite: DynaliteServer;

beforeAll(async () => {
  ssm = await startSsmServer({ limits: false });
  dynalite = await startDynalite({});
  await ensureHostDocumentTable(dynaliteClient(dynalite.endpoint), 'host-docs');
});
afterAll(async () => {
  await ssm?.close();
  await dynalite?.close();
});

let seq = 0;
const adapters: [string, () => HostChannel][] = [
  [
    'SsmHostChannel (Parameter Store stand-in)',
    () =>
      new SsmHostChannel(new SSMClient({ endpoint: ssm.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } }), {
        prefix: `/skiff/contract${++seq}`,
        sleep: noWait,
      }),
  ],
  [
    'DynamoHostChannel (dynalite)',
    () => new DynamoHostChannel(dynaliteClient(dynalite.endpoint), { tableName: 'host-docs', hostArnPrefix: `c${++seq}-`, sleep: noWait }),
  ],
  ['MemoryHostChannel', () => new MemoryHostChannel()],
];

function noise(seed: string, length: number): string {
  let out = '';
  for (let i = 0; out.length < length; i++) out += createHash('sha256').update(`${seed}:${i}`).digest('hex');
  return out.slice(0, length);
}

function aTask(generation: number, i: number, env: Record<string, string> = {}): HostDocumentTask {
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
          env: { TOKEN: noise(`${generation}/${i}`, 48), GREETING: 'grüße 你好', ...env },
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

/** Printable ASCII without `"` and `\`, uniformly random: about the worst a JSON string can do against gzip. */
function incompressible(length: number): string {
  const alphabet = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).filter((c) => c !== '"' && c !== '\\');
  return [...randomBytes(length)].map((b) => alphabet[b % alphabet.length]).join('');
}

/** A document whose tasks fill the placement budget (core/document-size.ts) with incompressible values. */
function fullDoc(hostId: string, generation: number): HostDocument {
  const tasks: HostDocumentTask[] = [];
  let used = 0;
  for (let i = 0; ; i++) {
    const probe = aTask(generation, i, { BLOB: '' });
    const room = HOST_DOCUMENT_BYTES - used - documentTaskBytes(probe);
    if (room <= 0) break;
    const task = aTask(generation, i, { BLOB: incompressible(Math.min(60_000, room)) });
    used += documentTaskBytes(task);
    tasks.push(task);
  }
  return {
    cluster: 'test',
    hostId,
    generation,
    tasks,
    // The envelope's room taken by volume removals, as a full one can be (MAX_REMOVALS_PER_DOCUMENT).
    removeVolumes: Array.from({ length: 32 }, (_, i) => ({
      id: `v-${i}-${incompressible(100)}`,
      namespace: 'default',
      service: `svc-${incompressible(60)}`,
      volume: `data-${incompressible(60)}`,
      slot: i,
    })),
  } as HostDocument;
}

describe.each(adapters)('HostChannel contract: %s', (_name, make) => {
  it('has no document for a host never published to', async () => {
    expect(await make().fetch('i-0nothing')).toBeUndefined();
    expect(await make().fetch('i-0nothing', 3)).toBeUndefined();
  });

  it('returns what was published (non-ASCII included), and `unchanged` for the generation the reader has', async () => {
    const channel = make();
    const doc = aDoc('i-0a', 1, 3);
    await channel.publish(doc);
    expect(await channel.fetch('i-0a')).toEqual(doc);
    expect(await channel.fetch('i-0a', 0)).toEqual(doc);
    expect(await channel.fetch('i-0a', 1)).toBe('unchanged');
    expect(await channel.fetch('i-0a', 1, { fresh: true })).toBe('unchanged');
    expect(await channel.fetch('i-0a', undefined, { fresh: true })).toEqual(doc);
  });

  it('moves forward, never back, and keeps hosts apart', async () => {
    const channel = make();
    await channel.publish(aDoc('i-0b', 1, 2));
    await channel.publish(aDoc('i-0c', 7, 1));
    const second = aDoc('i-0b', 2, 5);
    await channel.publish(second);
    expect(await channel.fetch('i-0b')).toEqual(second);

    const back = await errorOf(channel.publish(aDoc('i-0b', 1, 1)));
    expect(back).toBeInstanceOf(ConflictError);
    expect((back as Error).message).toMatch(/generation 2 published; refusing to go back to 1/);
    expect(await channel.fetch('i-0b')).toEqual(second);
    expect(await channel.fetch('i-0c')).toEqual(aDoc('i-0c', 7, 1));
  });

  it('keeps a generation to one content: a repeat is a no-op, other content is refused', async () => {
    const channel = make();
    const doc = aDoc('i-0d', 4, 3);
    await channel.publish(doc);
    await channel.publish(structuredClone(doc));
    expect(await channel.fetch('i-0d')).toEqual(doc);

    const other = await errorOf(channel.publish(aDoc('i-0d', 4, 1)));
    expect(other).toBeInstanceOf(ConflictError);
    expect((other as Error).message).toMatch(/generation 4 published with other content/);
    expect(await channel.fetch('i-0d')).toEqual(doc);
  });

  it('removes a document (absent or not), after which a new one can start from any generation', async () => {
    const channel = make();
    await channel.publish(aDoc('i-0e', 9, 2));
    await channel.remove('i-0e');
    expect(await channel.fetch('i-0e')).toBeUndefined();
    await channel.remove('i-0e');
    await channel.remove('i-0never');
    await channel.publish(aDoc('i-0e', 1, 1));
    expect(await channel.fetch('i-0e')).toEqual(aDoc('i-0e', 1, 1));
  });

  it('carries a document that fills the placement budget with incompressible values', { timeout: 60_000 }, async () => {
    const channel = make();
    const doc = fullDoc('i-0f', 3);
    const envelope = JSON.stringify({ ...doc, tasks: [] }).length;
    expect(doc.tasks.reduce((s, t) => s + documentTaskBytes(t), 0)).toBeLessThanOrEqual(HOST_DOCUMENT_BYTES);
    expect(envelope).toBeLessThanOrEqual(DOCUMENT_ENVELOPE_BYTES);
    await channel.publish(doc);
    expect(await channel.fetch('i-0f')).toEqual(doc);
  });

  it('refuses a host id no channel can key, and a generation that is no count, naming the field', async () => {
    const channel = make();
    for (const bad of ['', 'a/b', 'a#b', 'x'.repeat(129)]) {
      expect(await errorOf(channel.fetch(bad))).toBeInstanceOf(ValidationError);
      expect(await errorOf(channel.publish({ ...aDoc('i-0g', 1, 0), hostId: bad }))).toBeInstanceOf(ValidationError);
    }
    const err = await errorOf(channel.publish(aDoc('i-0g', -1, 0)));
    expect(err).toBeInstanceOf(ValidationError);
    expect(JSON.stringify(err)).toMatch(/generation/);
  });
});
