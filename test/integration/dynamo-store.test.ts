import { request } from 'node:http';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ProvisionedThroughputExceededException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoStore, StoreUnavailableError, hostPartitionKey } from '../../adapters/aws/dynamo-store.ts';
import { HOST_WRITABLE_ATTRIBUTES } from '../../adapters/aws/dynamo/host-attributes.ts';
import { EVENT_LOG_SHARDS } from '../../adapters/aws/dynamo/keys.ts';
import { dynaliteClient, ensureTable, startDynalite, type DynaliteServer } from '../../local/dynalite.ts';
import { LimitError } from '../../core/errors.ts';
import { LATER, NOW, aSpec, aStatus, aTask, anAllocation, hostInput } from '../contract/store-fixtures.ts';
import { useDynalite } from '../helpers/dynalite.ts';

// What the port promises is in test/contract/store.contract.ts, run on dynalite by
// test/contract/dynamo-store.test.ts. Here: what is DynamoDB's own (keys, item sizes, paging,
// batches, throttling, the host role's IAM) and dynalite itself.

const db = useDynalite({ onDisk: 'skiff-dynamo-store-' });
let tables = 0;

/** A store on a table of its own, so that list results hold only what the test wrote. */
async function freshStore(c: DynamoDBClient = db.client): Promise<DynamoStore> {
  const tableName = `skiff-test-${++tables}`;
  await ensureTable(c, tableName);
  return new DynamoStore(c, { tableName });
}

describe('batches and pages', () => {
  it('lists every host, sorted, across batch-read chunks', async () => {
    const store = await freshStore();
    const ids = Array.from({ length: 130 }, (_, i) => `h${String(i).padStart(3, '0')}`);
    for (let i = 0; i < ids.length; i += 26) {
      await Promise.all(ids.slice(i, i + 26).map((id) => store.registerHost(hostInput(id), NOW)));
    }
    await store.putHostStatus(aStatus('h000'));
    await store.setPublished('h000', 0, { generation: 1, hash: 'x' });
    const hosts = await store.listHosts();
    expect(hosts.map((h) => h.id)).toEqual(ids);
    expect(hosts[0]).toEqual({ ...hostInput('h000'), state: 'ready', registeredAt: NOW, version: 1, allocations: {} });
  });
});

describe('host items keyed by instance ARN (hostArnPrefix)', () => {
  const ARN_PREFIX = 'arn:aws:ec2:eu-west-1:123456789012:instance/';

  async function prefixedStore(c: DynamoDBClient = db.client): Promise<{ store: DynamoStore; tableName: string }> {
    const tableName = `skiff-test-${++tables}`;
    await ensureTable(c, tableName);
    return { store: new DynamoStore(c, { tableName, hostArnPrefix: ARN_PREFIX }), tableName };
  }

  /** Every item's keys and type, read straight from the table. */
  async function keysIn(tableName: string): Promise<string[]> {
    const doc = DynamoDBDocumentClient.from(db.client);
    const out = await doc.send(new ScanCommand({ TableName: tableName, ProjectionExpression: 'pk, sk', ConsistentRead: true }));
    return (out.Items ?? []).map((i) => `${String(i.pk)} ${String(i.sk)}`).sort();
  }

  it('puts the host and status items under HOST#<instance ARN>, the publication record under HOST#<id>', async () => {
    const { store, tableName } = await prefixedStore();
    await store.registerHost(hostInput('i-0abc'), NOW);
    await store.putHostStatus(aStatus('i-0abc'));
    await store.setPublished('i-0abc', 0, { generation: 1, hash: 'h' });
    expect(await keysIn(tableName)).toEqual([`HOST#${ARN_PREFIX}i-0abc #HOST`, `HOST#${ARN_PREFIX}i-0abc STATUS`, 'HOST#i-0abc PUBLISHED']);
    expect(hostPartitionKey(ARN_PREFIX, 'i-0abc')).toBe(`HOST#${ARN_PREFIX}i-0abc`);
    // Without the prefix the same table holds no such host: the keys really differ.
    expect(await new DynamoStore(db.client, { tableName }).getHost('i-0abc')).toBeUndefined();
  });

  it('reads, lists and updates hosts by their plain ids, exactly as without a prefix', async () => {
    const { store } = await prefixedStore();
    const host = await store.registerHost(hostInput('i-0abc'), NOW);
    await store.registerHost(hostInput('i-0bcd', 2), NOW);
    expect(host.id).toBe('i-0abc');
    expect(await store.getHost('i-0abc')).toEqual(host);
    const allocations = { t1: anAllocation({ id: 't1', namespace: 'a', service: 's', slot: 0 }) };
    const next = await store.updateAllocations(host, allocations);
    await expect(store.updateAllocations(host, {})).rejects.toThrow(/host i-0abc is no longer at version 1/);
    await store.setHostState('i-0bcd', 'down', LATER);
    expect((await store.listHosts()).map((h) => [h.id, h.state, h.version])).toEqual([
      ['i-0abc', 'ready', next.version],
      ['i-0bcd', 'down', 2],
    ]);
    await store.putHostStatus(aStatus('i-0abc'));
    await store.putHostStatus(aStatus('i-0bcd', { generation: 7 }));
    expect(await store.getHostStatus('i-0bcd')).toEqual(aStatus('i-0bcd', { generation: 7 }));
    expect((await store.listHostStatuses()).map((s) => s.hostId)).toEqual(['i-0abc', 'i-0bcd']);
    await store.setPublished('i-0abc', 0, { generation: 1, hash: 'h' });
    expect(await store.getPublished('i-0abc')).toEqual({ generation: 1, hash: 'h' });
  });

  it('lets an agent report (with its registration claim) under the host role’s policy, PutItem on its own partition only, and refuses it its host record', async () => {
    const { tableName } = await prefixedStore();
    // IAM at the SDK boundary, as the host role's WriteOwnHostItems statement reads: PutItem only, on the table, with every leading key equal to HOST#${ec2:SourceInstanceARN}, and
    // writes naming only HOST_WRITABLE_ATTRIBUTES (bare names in expressions: see the unit test).
    const sourceArn = `${ARN_PREFIX}i-0abc`;
    const asHost = dynaliteClient(db.endpoint);
    const seen: string[] = [];
    try {
      asHost.middlewareStack.add(
        (next, context) => async (args) => {
          const input = args.input as {
            TableName?: string;
            Key?: Record<string, unknown>;
            Item?: Record<string, unknown>;
            ExpressionAttributeNames?: Record<string, string>;
            ReturnValues?: string;
          };
          const pk = (input.Key ?? input.Item)?.pk as string | { S?: string } | undefined;
          const leadingKey = typeof pk === 'string' ? pk : pk?.S;
          const action = String(context.commandName).replace(/Command$/, '');
          seen.push(`${action} ${leadingKey}`);
          // WriteOwnHostItems: every attribute a write names is on the allow-list; ReturnValues NONE or ALL_NEW.
          const named = [...Object.keys(input.Item ?? {}), ...Object.keys(input.Key ?? {}), ...Object.values(input.ExpressionAttributeNames ?? {})];
          const writeOk = named.every((a) => (HOST_WRITABLE_ATTRIBUTES as readonly string[]).includes(a)) && (input.ReturnValues ?? 'NONE') === 'NONE';
          const allowed = action === 'PutItem' && input.TableName === tableName && leadingKey === `HOST#${sourceArn}` && writeOk;
          if (!allowed) {
            throw Object.assign(new Error(`not authorized to perform dynamodb:${action}`), { name: 'AccessDeniedException', $metadata: {} });
          }
          return next(args);
        },
        { step: 'build', name: 'hostRolePolicy' },
      );
      const agentStore = new DynamoStore(asHost, { tableName, hostArnPrefix: ARN_PREFIX });
      const { id: _id, ...claim } = hostInput('i-0abc');
      await agentStore.putHostStatus(aStatus('i-0abc', { claim }));
      await agentStore.putHeartbeat('i-0abc', LATER);
      expect(new Set(seen)).toEqual(new Set([`PutItem HOST#${sourceArn}`]));

      // Its own host record is the control plane's: registering itself, or moving itself back to ready, is refused.
      await expect(agentStore.registerHost(hostInput('i-0abc'), NOW)).rejects.toThrow(/AccessDeniedException/);
      await expect(agentStore.setHostState('i-0abc', 'ready', LATER)).rejects.toThrow(/AccessDeniedException/);

      // Another host's items and the scheduler's publication record stay out of reach.
      await expect(agentStore.putHostStatus(aStatus('i-0other'))).rejects.toThrow(/PutItem on status of host i-0other failed \(AccessDeniedException\)/);
      await expect(agentStore.putHeartbeat('i-0other', LATER)).rejects.toThrow(/PutItem on heartbeat of host i-0other failed \(AccessDeniedException\)/);
      await expect(agentStore.getPublished('i-0abc')).rejects.toThrow(/AccessDeniedException/);
      await expect(agentStore.listHosts()).rejects.toThrow(/AccessDeniedException/);
    } finally {
      asHost.destroy();
    }
  });

  it('refuses a prefix with "#" and unknown options', () => {
    expect(() => new DynamoStore(db.client, { tableName: 't', hostArnPrefix: 'arn#' })).toThrow(/hostArnPrefix must be a string without "#"/);
    expect(() => new DynamoStore(db.client, { tableName: 't', hostPrefix: 'x' } as never)).toThrow(/unknown option\(s\) hostPrefix/);
  });
});

describe('limits and paging', () => {
  // In values of 8 KB: a stored spec still meets the spec's own limits (16 KiB per env value), or reads would skip it.
  const bigEnv = (bytes: number) =>
    Object.fromEntries(Array.from({ length: Math.ceil(bytes / 8192) }, (_, i) => [`BLOB${i}`, 'x'.repeat(Math.min(8192, bytes - i * 8192))]));

  it('pages through more than 1 MB of tasks and services', async () => {
    const store = await freshStore();
    // 30 items of 50 KB: every Query needs at least two 1 MB pages.
    await store.putService(aSpec('big', 'web'), NOW);
    const pod = { containers: aSpec('big', 'web', { env: bigEnv(50_000) }).spec.containers, restartPolicy: 'always' as const };
    for (let slot = 0; slot < 30; slot += 10) {
      await Promise.all(Array.from({ length: 10 }, (_, i) => store.putTask(aTask('big', 'web', slot + i, { pod }), undefined)));
    }
    for (let i = 0; i < 30; i += 10) {
      await Promise.all(
        Array.from({ length: 10 }, (_, j) => store.putService(aSpec('big', `svc${String(i + j).padStart(2, '0')}`, { env: bigEnv(50_000) }), NOW)),
      );
    }
    const tasks = await store.listTasks('big', 'web');
    expect(tasks.map((t) => t.slot)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(Object.values(tasks[29].pod.containers[0].env).join('')).toHaveLength(50_000);
    expect(await store.listAllTasks()).toHaveLength(30);
    expect(await store.listServices('big')).toHaveLength(31);
  });

  it('rejects an item over 400 KB before sending it, naming the item and its size', async () => {
    const store = await freshStore();
    await store.putService(aSpec('team', 'web'), NOW);
    const pod = { containers: aSpec('team', 'web', { env: bigEnv(410_000) }).spec.containers, restartPolicy: 'always' as const };
    const err = await store.putTask(aTask('team', 'web', 0, { pod }), undefined).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LimitError);
    expect((err as Error).message).toMatch(/task slot team\/web#0 \(task web-0-1\) would be 4\d{5} bytes/);
    expect(await store.listTasks('team', 'web')).toEqual([]);
    await expect(store.putService(aSpec('team', 'huge', { env: bigEnv(410_000) }), NOW)).rejects.toThrow(/service team\/huge would be/);
    const host = await store.registerHost(hostInput('h1'), NOW);
    const many = Object.fromEntries(
      Array.from({ length: 5000 }, (_, i) => [
        `task-${i}-${'p'.repeat(40)}`,
        anAllocation({ id: `task-${i}-${'p'.repeat(40)}`, namespace: 'team', service: 'web', slot: i }),
      ]),
    );
    await expect(store.updateAllocations(host, many)).rejects.toThrow(/host h1 allocations \(5000 tasks\) would be \d+ bytes/);
    expect((await store.getHost('h1'))?.version).toBe(1);
  });

  it('turns DynamoDB throttling into a retryable StoreUnavailableError', async () => {
    const throttled = dynaliteClient(db.endpoint);
    try {
      // Answer every request with the SDK's own throttling exception, as DynamoDB would under load.
      throttled.middlewareStack.add(
        () => async () => {
          throw new ProvisionedThroughputExceededException({ message: 'Rate exceeded', $metadata: {} });
        },
        { step: 'initialize', name: 'throttleEverything' },
      );
      const store = new DynamoStore(throttled, { tableName: 'skiff-unused' });
      const err = await store.getHost('h1').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect(err).toMatchObject({ retryable: true, status: 503, message: 'DynamoDB throttled GetItem on host h1; retry later' });
      expect((err as Error).cause).toBeInstanceOf(ProvisionedThroughputExceededException);
    } finally {
      throttled.destroy();
    }
  });

  it('reports a missing table by name', async () => {
    const store = new DynamoStore(db.client, { tableName: 'skiff-missing' });
    await expect(store.getHost('h1')).rejects.toThrow(/table skiff-missing not found/);
  });
});

describe('dynalite', () => {
  it('keeps the data across a restart on the same folder', async () => {
    const folder = join(db.folder, 'restart');
    let first: DynaliteServer | undefined = await startDynalite({ path: folder });
    let c = dynaliteClient(first.endpoint);
    try {
      const store = await freshStore(c);
      await store.putService(aSpec('team', 'web'), NOW);
      await store.putTask(aTask('team', 'web', 0), undefined);
      await store.updateAllocations(await store.registerHost(hostInput('h1'), NOW), {
        t1: anAllocation({ id: 't1', namespace: 'team', service: 'web', slot: 0 }),
      });
      c.destroy();
      await first.close();
      first = undefined;

      const second = await startDynalite({ path: folder });
      c = dynaliteClient(second.endpoint);
      try {
        const again = await freshStoreNamed(c, `skiff-test-${tables}`);
        expect((await again.getService('team', 'web'))?.specVersion).toBe(1);
        expect(await again.listTasks('team', 'web')).toEqual([aTask('team', 'web', 0)]);
        expect((await again.getHost('h1'))?.version).toBe(2);
      } finally {
        c.destroy();
        await second.close();
      }
    } finally {
      c.destroy();
      await first?.close();
    }
  });

  it('answers the request it is reading when it closes, instead of cutting it', async () => {
    const own = await startDynalite();
    try {
      const { port } = new URL(own.endpoint);
      const body = JSON.stringify({});
      // A ListTables whose body is still arriving when close is called: closing must wait for it.
      const answered = new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port: Number(port),
            method: 'POST',
            path: '/',
            headers: {
              'content-type': 'application/x-amz-json-1.0',
              'x-amz-target': 'DynamoDB_20120810.ListTables',
              'content-length': Buffer.byteLength(body),
              authorization: 'AWS4-HMAC-SHA256 Credential=local/20261207/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
              'x-amz-date': '20261207T000000Z',
            },
          },
          (res) => {
            let text = '';
            res.on('data', (d) => (text += d));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
          },
        );
        req.on('error', reject);
        req.write(body.slice(0, 1));
        setTimeout(() => req.end(body.slice(1)), 300);
      });
      await new Promise((r) => setTimeout(r, 100));
      const closing = own.close();
      const res = await answered;
      expect(res.status).toBe(200);
      expect(JSON.parse(res.text)).toHaveProperty('TableNames');
      await closing;
    } finally {
      await own.close();
    }
  });

  it('refuses a second server on a folder that is in use', async () => {
    await expect(startDynalite({ path: join(db.folder, 'db') })).rejects.toThrow(/in use by process \d+ \(this one\)/);
  });
});

async function freshStoreNamed(c: DynamoDBClient, tableName: string): Promise<DynamoStore> {
  await ensureTable(c, tableName); // must find the table, not create an empty one
  return new DynamoStore(c, { tableName });
}

describe('events', () => {
  const ev = (at: string, id: string) => ({ id, at, type: 'task.started', message: `m ${id}` });

  it('writes more events than one batch holds', async () => {
    const store = await freshStore();
    const many = Array.from({ length: 60 }, (_, i) => ev(`2025-01-01T00:00:${String(i).padStart(2, '0')}.000Z`, `e${i}`));
    await store.putEvents(many);
    expect(await store.listEvents({ limit: 1000 })).toHaveLength(60);
  });

  it("reads a filter's events from its own index partition, not the whole log", async () => {
    const c = dynaliteClient(db.endpoint);
    let scanned = 0;
    c.middlewareStack.add(
      (next) => async (args) => {
        const out = await next(args);
        scanned += (out.output as { ScannedCount?: number }).ScannedCount ?? 0;
        return out;
      },
      { step: 'initialize', name: 'countScanned' },
    );
    try {
      const store = await freshStore(c);
      const busy = Array.from({ length: 300 }, (_, i) => ({
        ...ev(new Date(Date.parse(NOW) + (i + 10) * 1000).toISOString(), `n${i}`),
        namespace: 'default',
        service: 'busy',
        host: 'h2',
      }));
      await store.putEvents([{ ...ev(NOW, 'x'), namespace: 'default', service: 'web', host: 'h1' }, ...busy]);
      for (const filter of [{ service: 'web' }, { host: 'h1' }, { service: 'web', namespace: 'default' }]) {
        scanned = 0;
        expect((await store.listEvents(filter)).map((e) => e.id)).toEqual(['x']);
        expect(scanned).toBe(1);
      }
      scanned = 0;
      expect(await store.listEvents({ service: 'busy', limit: 5 })).toHaveLength(5);
      expect(scanned).toBeLessThanOrEqual(100);
    } finally {
      c.destroy();
    }
  });
  it('spreads the unfiltered log over its shards, and still reads newest-limit-oldest-first across them, page by page', async () => {
    const tableName = `skiff-test-${++tables}`;
    await ensureTable(db.client, tableName);
    const store = new DynamoStore(db.client, { tableName });
    const at = (i: number) => new Date(Date.parse(NOW) + i * 1000).toISOString();
    const all = Array.from({ length: 120 }, (_, i) => ev(at(i), `e${i}`));
    await store.putEvents(all);
    // No hot partition: the log's items sit under EVENT_LOG_SHARDS keys, none under the old EVENTS.
    const doc = DynamoDBDocumentClient.from(db.client);
    const items = (await doc.send(new ScanCommand({ TableName: tableName, ProjectionExpression: 'pk', ConsistentRead: true }))).Items ?? [];
    const partitions = new Map<string, number>();
    for (const i of items) partitions.set(String(i.pk), (partitions.get(String(i.pk)) ?? 0) + 1);
    expect([...partitions.keys()].every((pk) => pk.startsWith('EVENTS#LOG#'))).toBe(true);
    expect(partitions.size).toBe(EVENT_LOG_SHARDS);
    expect(Math.max(...partitions.values())).toBeLessThan(120 / 2);
    // The contract across shards: the newest `limit`, oldest first; `before` pages back in time.
    const first = await store.listEvents({ limit: 50 });
    expect(first.map((e) => e.id)).toEqual(all.slice(70).map((e) => e.id));
    const second = await store.listEvents({ limit: 50, before: `${first[0].at}#${first[0].id}` });
    expect(second.map((e) => e.id)).toEqual(all.slice(20, 70).map((e) => e.id));
    // An event of the old single partition (a cluster from before the shards) is still read, and pruned.
    await doc.send(
      new PutCommand({
        TableName: tableName,
        Item: { pk: 'EVENTS', sk: `${at(-1)}#old`, type: 'event', id: 'old', at: at(-1), eventType: 't', message: 'old' },
      }),
    );
    expect((await store.listEvents({ limit: 1000 }))[0].id).toBe('old');
    expect(await store.pruneEvents(at(10), 1000)).toBe(11);
    expect((await store.listEvents({ limit: 1000 })).map((e) => e.id)).toEqual(all.slice(10).map((e) => e.id));
  });
});
