/**
 * What the DynamoDB host channel adds to the contract (host-channel-contract.test.ts): its key (the
 * partition IAM's LeadingKeys condition scopes a host to), one call per publish and per poll, read
 * consistency, the 400 KB item limit, and its errors at the SDK boundary.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import {
  DynamoDBClient,
  DynamoDBServiceException,
  GetItemCommand,
  PutItemCommand,
  ProvisionedThroughputExceededException,
  ResourceNotFoundException,
} from '@aws-sdk/client-dynamodb';
import { ConflictError, LimitError } from '../../core/errors.ts';
import type { HostDocument } from '../../core/types.ts';
import { DynamoHostChannel, itemBytes } from '../../adapters/aws/dynamo-host-channel.ts';
import { HostChannelError } from '../../adapters/aws/ssm-channel.ts';
import { dynaliteClient, startDynalite, type DynaliteServer } from '../../local/dynalite.ts';
import { ensureHostDocumentTable } from '../../local/host-document-table.ts';

const TABLE = 'host-docs';
const ARN = 'arn:aws:ec2:us-east-1:123456789012:instance/';
const noWait = (): Promise<void> => Promise.resolve();
let dynalite: DynaliteServer;

beforeAll(async () => {
  dynalite = await startDynalite({});
  await ensureHostDocumentTable(dynaliteClient(dynalite.endpoint), TABLE);
});
afterAll(async () => {
  await dynalite?.close();
});

function aDoc(hostId: string, generation: number, tasks: number, blob = ''): HostDocument {
  return {
    cluster: 'test',
    hostId,
    generation,
    tasks: Array.from({ length: tasks }, (_, i) => ({
      id: `t-${generation}-${i}`,
      namespace: 'default',
      service: 'web',
      slot: i,
      specVersion: 1,
      pod: {
        restartPolicy: 'always' as const,
        containers: [
          { name: 'main', image: 'skiff/busybox:latest', env: { MODE: 'scale', BLOB: blob }, ports: [], resources: { cpu: 50, memory: 64 * 2 ** 20 } },
        ],
      },
    })),
  } as HostDocument;
}

/** A real dynalite client that records each command's name and input. */
function recordingClient(): { client: DynamoDBClient; sent: { op: string; input: Record<string, unknown> }[] } {
  const client = dynaliteClient(dynalite.endpoint);
  const sent: { op: string; input: Record<string, unknown> }[] = [];
  client.middlewareStack.add(
    ((next: (a: { input: Record<string, unknown> }) => Promise<unknown>, context: { commandName?: string }) =>
      async (args: { input: Record<string, unknown> }) => {
        sent.push({ op: (context.commandName ?? '').replace(/Command$/, ''), input: args.input });
        return next(args);
      }) as never,
    { step: 'initialize', name: 'recordCommands' },
  );
  return { client, sent };
}

async function errorOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to fail');
}

describe('DynamoHostChannel on dynalite', () => {
  it('keys each host by HOST#<its instance ARN>, the partition the host role may read', async () => {
    const channel = new DynamoHostChannel(dynaliteClient(dynalite.endpoint), { tableName: TABLE, hostArnPrefix: ARN });
    await channel.publish(aDoc('i-0key', 1, 2));
    const raw = await dynaliteClient(dynalite.endpoint).send(
      new GetItemCommand({ TableName: TABLE, Key: { pk: { S: `HOST#${ARN}i-0key` } }, ConsistentRead: true }),
    );
    expect(raw.Item?.hostId?.S).toBe('i-0key');
    expect(raw.Item?.generation?.N).toBe('1');
    // Another prefix (local mode) is another key: nothing there.
    expect(await new DynamoHostChannel(dynaliteClient(dynalite.endpoint), { tableName: TABLE }).fetch('i-0key')).toBeUndefined();
  });

  it('publishes with one conditional PutItem and no read; polls with one GetItem, eventually consistent unless fresh', async () => {
    const { client, sent } = recordingClient();
    const channel = new DynamoHostChannel(client, { tableName: TABLE });
    await channel.publish(aDoc('i-0calls', 1, 10));
    expect(sent.map((s) => s.op)).toEqual(['PutItem']);
    expect(sent[0]!.input.ConditionExpression).toMatch(/attribute_not_exists/);

    sent.length = 0;
    expect(await channel.fetch('i-0calls', 1)).toBe('unchanged');
    expect(sent.map((s) => [s.op, s.input.ConsistentRead])).toEqual([['GetItem', false]]);

    sent.length = 0;
    await channel.publish(aDoc('i-0calls', 2, 11));
    expect(await channel.fetch('i-0calls', 1, { fresh: true })).toEqual(aDoc('i-0calls', 2, 11));
    expect(sent.map((s) => [s.op, s.input.ConsistentRead])).toEqual([
      ['PutItem', undefined],
      ['GetItem', true],
    ]);
  });

  it('stores a 10-task document gzipped in one write unit (under 1 KB)', async () => {
    const { client, sent } = recordingClient();
    await new DynamoHostChannel(client, { tableName: TABLE }).publish(aDoc('i-0small', 1, 10));
    const item = sent[0]!.input.Item as Parameters<typeof itemBytes>[0];
    expect(item.encoding?.S).toBe('gzip');
    expect(itemBytes(item)).toBeLessThan(1024);
  });

  it('refuses a document whose item would exceed 400 KB with a LimitError, and writes nothing', async () => {
    const channel = new DynamoHostChannel(dynaliteClient(dynalite.endpoint), { tableName: TABLE });
    // Far past the placement budget (the contract test shows a document within it always fits).
    const huge = aDoc('i-0huge', 1, 8, randomBytes(60_000).toString('base64'));
    const err = await errorOf(channel.publish(huge));
    expect(err).toBeInstanceOf(LimitError);
    expect((err as Error).message).toMatch(/i-0huge.*at most 409600 bytes/);
    expect(await channel.fetch('i-0huge')).toBeUndefined();
  });

  it('says why a publish was refused: a newer generation, or the same one with other content', async () => {
    const channel = new DynamoHostChannel(dynaliteClient(dynalite.endpoint), { tableName: TABLE });
    await channel.publish(aDoc('i-0race', 5, 1));
    expect(((await errorOf(channel.publish(aDoc('i-0race', 4, 1)))) as Error).message).toMatch(/already has generation 5 published; refusing to go back to 4/);
    const same = await errorOf(channel.publish(aDoc('i-0race', 5, 2)));
    expect(same).toBeInstanceOf(ConflictError);
    expect((same as Error).message).toMatch(/generation 5 published with other content/);
  });

  it('reads a tampered item as corrupt (its sha256 fails)', async () => {
    const raw = dynaliteClient(dynalite.endpoint);
    const channel = new DynamoHostChannel(raw, { tableName: TABLE });
    await channel.publish(aDoc('i-0bad', 1, 1));
    await raw.send(
      new PutItemCommand({
        TableName: TABLE,
        Item: {
          pk: { S: 'HOST#i-0bad' },
          hostId: { S: 'i-0bad' },
          generation: { N: '2' },
          hash: { S: '0'.repeat(64) },
          encoding: { S: 'json' },
          body: { S: '{}' },
        },
      }),
    );
    const err = await errorOf(channel.fetch('i-0bad'));
    expect(err).toBeInstanceOf(HostChannelError);
    expect((err as HostChannelError).reason).toBe('corrupt');
  });

  it('refuses unknown options and a bad table name or prefix', () => {
    const client = dynaliteClient(dynalite.endpoint);
    expect(() => new DynamoHostChannel(client, { tableName: TABLE, consistent: true } as never)).toThrow(/unknown option\(s\) consistent/);
    expect(() => new DynamoHostChannel(client, { tableName: 'a b' })).toThrow(/tableName/);
    expect(() => new DynamoHostChannel(client, { tableName: TABLE, hostArnPrefix: 'arn#x' })).toThrow(/hostArnPrefix/);
  });
});

describe('DynamoHostChannel at the SDK boundary', () => {
  const meta = (httpStatusCode: number) => ({ $metadata: { httpStatusCode, requestId: 'r-1', attempts: 3 } });
  let mock: ReturnType<typeof mockClient> | undefined;
  afterEach(() => mock?.restore());

  it('retries a throttled publish, then gives up with a retryable HostChannelError', async () => {
    const client = new DynamoDBClient({ region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    mock = mockClient(client);
    const throttled = () => new ProvisionedThroughputExceededException({ message: 'slow down', ...meta(400) });
    mock.on(PutItemCommand).rejectsOnce(throttled()).resolves({});
    const sleeps: number[] = [];
    const channel = new DynamoHostChannel(client, { tableName: TABLE, sleep: async (ms) => void sleeps.push(ms), random: () => 0 });
    await channel.publish(aDoc('i-0t', 1, 1));
    expect(sleeps).toEqual([100]);

    mock.on(PutItemCommand).rejects(throttled());
    const err = await errorOf(new DynamoHostChannel(client, { tableName: TABLE, maxAttempts: 2, sleep: noWait }).publish(aDoc('i-0t', 2, 1)));
    expect(err).toBeInstanceOf(HostChannelError);
    expect(err).toMatchObject({ reason: 'throttled', retryable: true, status: 503 });
  });

  it('turns AccessDenied into a `denied` error that names the LeadingKeys rule, and a missing table into one naming it', async () => {
    const client = new DynamoDBClient({ region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    mock = mockClient(client);
    mock
      .on(GetItemCommand)
      .rejectsOnce(new DynamoDBServiceException({ name: 'AccessDeniedException', $fault: 'client', message: 'not authorized', ...meta(400) }));
    const channel = new DynamoHostChannel(client, { tableName: TABLE, hostArnPrefix: ARN });
    const denied = await errorOf(channel.fetch('i-0other'));
    expect(denied).toMatchObject({ reason: 'denied', retryable: false });
    expect((denied as Error).message).toMatch(/HOST#\$\{ec2:SourceInstanceARN\}/);

    mock.on(GetItemCommand).rejects(new ResourceNotFoundException({ message: 'Requested resource not found', ...meta(400) }));
    const missing = await errorOf(channel.fetch('i-0other'));
    expect(missing).toMatchObject({ reason: 'rejected' });
    expect((missing as Error).message).toMatch(/table host-docs not found/);
  });
});
