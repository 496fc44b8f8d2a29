/**
 * Hosts cannot lie (issue 10). On AWS a host role may write any attribute of any item under its own
 * partition key (`dynamodb:LeadingKeys` only), so each attack here puts a raw item with the
 * DynamoDB client into the attacker's partition, the way a compromised host could, and checks that
 * the control plane skips it, reports it (`takeBadItems`, then an `item.invalid` event from the
 * pass) and keeps working: every list call succeeds and a scheduler pass runs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoStore, hostPartitionKey } from '../../adapters/aws/dynamo-store.ts';
import { dynaliteClient, ensureTable, startDynalite, type DynaliteServer } from '../../local/dynalite.ts';
import { runPass } from '../../app/scheduler/pass.ts';
import type { BadItem } from '../../core/items.ts';
import type { HostDocument } from '../../core/types.ts';
import type { HostChannel } from '../../ports/index.ts';
import { NOW, aSpec, aStatus, hostInput } from '../contract/store-fixtures.ts';
import { DeleteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { DescribeInstanceTypesCommand, DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { HOST_WRITABLE_ATTRIBUTES } from '../../adapters/aws/dynamo/host-attributes.ts';
import { Ec2MachineCatalog } from '../../adapters/aws/ec2-machine-catalog.ts';
import type { MachineCatalog } from '../../ports/machines.ts';

const ARN = 'arn:aws:ec2:eu-west-1:123456789012:instance/';
const EVIL = 'i-evil';
const VICTIM = 'i-victim';

let server: DynaliteServer;
let client: DynamoDBClient;
let doc: DynamoDBDocumentClient;
let tables = 0;

beforeAll(async () => {
  server = await startDynalite();
  client = dynaliteClient(server.endpoint);
  doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
});

afterAll(async () => {
  client?.destroy();
  await server?.close();
});

/** The host channel as a map: the pass publishes into it (what SSM does on AWS). */
class MapChannel implements HostChannel {
  readonly docs = new Map<string, HostDocument>();
  async publish(d: HostDocument) {
    this.docs.set(d.hostId, d);
  }
  async fetch(hostId: string) {
    return this.docs.get(hostId);
  }
  async remove(hostId: string) {
    this.docs.delete(hostId);
  }
}

/**
 * A cluster on a fresh table: hosts EVIL and VICTIM registered and reporting, a one-replica service
 * `default/web`. `forge` puts a raw item into the attacker's partition.
 */
async function cluster() {
  const tableName = `forged-${++tables}`;
  await ensureTable(client, tableName);
  const reported: BadItem[] = [];
  const store = new DynamoStore(client, { tableName, hostArnPrefix: ARN, onBadItem: (r) => reported.push(r) });
  await store.registerHost(hostInput(EVIL, 1), NOW);
  await store.registerHost(hostInput(VICTIM, 2), NOW);
  await store.putHostStatus(aStatus(EVIL, { tasks: [] }));
  await store.putHostStatus(aStatus(VICTIM, { tasks: [] }));
  await store.putService(aSpec('default', 'web', { replicas: 1 }), NOW);
  const evilPk = hostPartitionKey(ARN, EVIL);
  const forge = (item: Record<string, unknown>) => doc.send(new PutCommand({ TableName: tableName, Item: { pk: evilPk, ...item } }));
  const channel = new MapChannel();
  let clock = Date.parse(NOW);
  const pass = () =>
    runPass({
      store,
      channel,
      waker: { wake: async () => {} },
      cluster: 'forged',
      now: () => {
        clock += 1000;
        return new Date(clock);
      },
    });
  return { store, forge, evilPk, reported, pass, channel, tableName, clockNow: () => new Date(clock).toISOString() };
}

type Cluster = Awaited<ReturnType<typeof cluster>>;

/** Every list and get the API and the pass make succeeds, then a pass runs and records the bad item. */
async function stillWorks(c: Cluster, kind: BadItem['kind']) {
  await expect(c.store.listServices()).resolves.toBeDefined();
  await expect(c.store.listAllTasks()).resolves.toBeDefined();
  await expect(c.store.listTasks('default', 'web')).resolves.toBeDefined();
  await expect(c.store.listHosts()).resolves.toBeDefined();
  await expect(c.store.listHostStatuses()).resolves.toBeDefined();
  await expect(c.store.listEvents({})).resolves.toBeDefined();
  const result = await c.pass();
  expect(result.badItems).toBeGreaterThan(0);
  const events = await c.store.listEvents({});
  const invalid = events.filter((e) => e.type === 'item.invalid');
  expect(invalid.length).toBeGreaterThan(0);
  expect(invalid.some((e) => e.message.includes(`bad ${kind} item`) && e.message.includes(c.evilPk))).toBe(true);
  // A second pass finds the same item again, and still runs.
  await expect(c.pass()).resolves.toMatchObject({ badItems: expect.any(Number) });
  return result;
}

describe('forged items under a host partition', () => {
  it('an item shaped as a service is no service: not listed, not got, not run, reported', async () => {
    const c = await cluster();
    const spec = aSpec('default', 'evil', { replicas: 50 });
    await c.forge({
      sk: 'SVC',
      gsi1pk: 'SERVICES',
      gsi1sk: 'default#evil',
      type: 'service',
      namespace: 'default',
      name: 'evil',
      spec: { ...spec, spec: { ...spec.spec, ingress: { host: 'bank.example.com', port: 80, sessionAffinity: false } } },
      specVersion: 1,
      createdAt: NOW,
      updatedAt: NOW,
      deleting: false,
    });
    // And a task in its own partition: listAllTasks scans the whole table.
    await c.forge({
      sk: 'TASK#000000',
      type: 'task',
      id: 'evil-0-1',
      namespace: 'default',
      service: 'web',
      slot: 0,
      incarnation: 1,
      specVersion: 1,
      pod: { containers: [], restartPolicy: 'always' },
      desired: 'running',
      host: VICTIM,
      createdAt: NOW,
    });
    expect((await c.store.listServices()).map((s) => s.name)).toEqual(['web']);
    expect((await c.store.listAllTasks()).some((t) => t.id === 'evil-0-1')).toBe(false);
    expect(c.reported.map((r) => r.kind).sort()).toEqual(['service', 'task']);
    expect(c.reported[0].reason).toMatch(/key/);
    const result = await stillWorks(c, 'service');
    expect(result.placed).toBe(1);
    // Nothing of the forged service reached a host document.
    const docs = [...c.channel.docs.values()].flatMap((d) => d.tasks.map((t) => t.service));
    expect(docs).toEqual(['web']);
  });

  it("another host's status is refused: by a sort key of its own, or by a hostId other than its key's", async () => {
    const c = await cluster();
    const forged = {
      gsi1pk: 'HOSTSTATUS',
      gsi1sk: VICTIM,
      type: 'hoststatus',
      hostId: VICTIM,
      heartbeatAt: '2099-01-01T00:00:00.000Z',
      generation: 99,
      tasks: [],
      agentVersion: 'evil',
    };
    await c.forge({ sk: 'STATUS-victim', ...forged });
    const statuses = await c.store.listHostStatuses();
    expect(statuses.map((s) => [s.hostId, s.agentVersion])).toEqual([
      [EVIL, '0.1.0'],
      [VICTIM, '0.1.0'],
    ]);
    // In its own STATUS item, naming the victim: the key says EVIL, so it is no status at all.
    await c.forge({ sk: 'STATUS', ...forged });
    const after = await c.store.listHostStatuses();
    expect(after.map((s) => [s.hostId, s.agentVersion])).toEqual([[VICTIM, '0.1.0']]);
    expect(await c.store.getHostStatus(EVIL)).toBeUndefined();
    expect(c.reported.some((r) => r.kind === 'hoststatus' && /hostId "i-victim" is not "i-evil"/.test(r.reason))).toBe(true);
    await stillWorks(c, 'hoststatus');
  });

  it.each([
    ['null', null],
    ['1e12 cores and bytes', { cpu: 1e12, memory: 1e12 * 1024 }],
  ])('a host record with capacity %s is skipped, and no task goes to it', async (_, capacity) => {
    const c = await cluster();
    const record = await c.store.getHost(EVIL);
    await c.forge({ sk: '#HOST', gsi1pk: 'HOSTS', gsi1sk: EVIL, type: 'host', ...record, capacity });
    expect((await c.store.listHosts()).map((h) => h.id)).toEqual([VICTIM]);
    expect(await c.store.getHost(EVIL)).toBeUndefined();
    expect(c.reported.some((r) => r.kind === 'host' && r.reason.includes('capacity'))).toBe(true);
    const result = await stillWorks(c, 'host');
    expect(result.placed).toBe(1);
    expect([...c.channel.docs.keys()]).toEqual([VICTIM]);
  });

  it('a status with a task whose ports are null is skipped; lists and the pass go on', async () => {
    const c = await cluster();
    const status = aStatus(EVIL);
    await c.forge({
      sk: 'STATUS',
      gsi1pk: 'HOSTSTATUS',
      gsi1sk: EVIL,
      type: 'hoststatus',
      ...status,
      tasks: [{ ...status.tasks[0], ports: null }],
    });
    expect((await c.store.listHostStatuses()).map((s) => s.hostId)).toEqual([VICTIM]);
    expect(c.reported.some((r) => r.kind === 'hoststatus' && r.reason.includes('ports'))).toBe(true);
    await stillWorks(c, 'hoststatus');
  });

  it('a status carrying an event with a bad time is skipped; events are saved again by every pass', async () => {
    const c = await cluster();
    await c.forge({
      sk: 'STATUS',
      gsi1pk: 'HOSTSTATUS',
      gsi1sk: EVIL,
      type: 'hoststatus',
      ...aStatus(EVIL, { tasks: [] }),
      events: [{ id: 'e1', at: 'not a time', type: 'task.started', message: 'hi' }],
    });
    expect((await c.store.listHostStatuses()).map((s) => s.hostId)).toEqual([VICTIM]);
    expect(c.reported.some((r) => r.kind === 'hoststatus' && r.reason.includes('events.0.at'))).toBe(true);
    await stillWorks(c, 'hoststatus');
  });

  it('an event item with a bad time in the log is skipped by listEvents', async () => {
    const c = await cluster();
    await c.forge({ pk: 'EVENTS', sk: 'not a time#e1', type: 'event', id: 'e1', at: 'not a time', eventType: 'host.up', message: 'forged' });
    expect((await c.store.listEvents({})).some((e) => e.id === 'e1')).toBe(false);
    expect(c.reported.some((r) => r.kind === 'event' && r.key.startsWith('EVENTS'))).toBe(true);
  });
});

/**
 * The host role's WriteOwnHostItems statement (infra/state.ts) at the SDK boundary, as IAM would
 * evaluate it for the instance `sourceArn`: PutItem only, on its own partition, naming only
 * HOST_WRITABLE_ATTRIBUTES, ReturnValues NONE. dynalite has no IAM; this is the policy, enforced.
 */
function asHostRole(sourceArn: string, tableName: string): { raw: DynamoDBClient; doc: DynamoDBDocumentClient; close: () => void } {
  const raw = dynaliteClient(server.endpoint);
  raw.middlewareStack.add(
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
      const named = [...Object.keys(input.Item ?? {}), ...Object.keys(input.Key ?? {}), ...Object.values(input.ExpressionAttributeNames ?? {})];
      const allowed =
        action === 'PutItem' &&
        input.TableName === tableName &&
        leadingKey === `HOST#${sourceArn}` &&
        named.every((a) => (HOST_WRITABLE_ATTRIBUTES as readonly string[]).includes(a)) &&
        (input.ReturnValues ?? 'NONE') === 'NONE';
      if (!allowed) throw Object.assign(new Error(`not authorized to perform dynamodb:${action}`), { name: 'AccessDeniedException', $metadata: {} });
      return next(args);
    },
    { step: 'build', name: 'hostRolePolicy' },
  );
  return { raw, doc: DynamoDBDocumentClient.from(raw, { marshallOptions: { removeUndefinedValues: true } }), close: () => raw.destroy() };
}

describe('hosts only claim: the control plane registers them (forged items under the host role)', () => {
  const ATTACKER = 'i-0e0000000000000e1';
  const GiB = 2 ** 30;
  const ec2 = mockClient(EC2Client);
  afterAll(() => ec2.restore());

  /** EC2 as the scheduler sees it: the attacker is a running t4g.small at 10.0.1.66 of cluster "forged". */
  function machines(): MachineCatalog {
    ec2.reset();
    ec2.on(DescribeInstancesCommand).resolves({
      Reservations: [
        {
          Instances: [
            {
              InstanceId: ATTACKER,
              InstanceType: 't4g.small',
              PrivateIpAddress: '10.0.1.66',
              State: { Name: 'running' },
              Tags: [{ Key: 'skiff:cluster', Value: 'forged' }],
            },
          ],
        },
      ],
    });
    ec2.on(DescribeInstanceTypesCommand).resolves({
      InstanceTypes: [{ InstanceType: 't4g.small', VCpuInfo: { DefaultVCpus: 2 }, MemoryInfo: { SizeInMiB: 2048 } }],
    });
    return new Ec2MachineCatalog(new EC2Client({ region: 'eu-west-1' }), { cluster: 'forged' });
  }

  /** The attacker's report, with a claim, put through the host role. */
  const claimStatus = (claim: Record<string, unknown>) => ({
    pk: hostPartitionKey(ARN, ATTACKER),
    sk: 'STATUS',
    gsi1pk: 'HOSTSTATUS',
    gsi1sk: ATTACKER,
    type: 'hoststatus',
    ...aStatus(ATTACKER, { tasks: [] }),
    claim,
  });

  it("a host claiming 1e12 CPU is registered with its instance type's capacity, and takes no more than that", async () => {
    const c = await cluster();
    await c.store.putService(aSpec('default', 'many', { replicas: 60 }), NOW);
    const role = asHostRole(`${ARN}${ATTACKER}`, c.tableName);
    try {
      await role.doc.send(
        new PutCommand({
          TableName: c.tableName,
          Item: claimStatus({ address: '10.0.1.66', capacity: { cpu: 1e12, memory: 1e15 }, labels: { zone: 'a' }, instanceType: 'x2iedn.32xlarge' }),
        }),
      );
    } finally {
      role.close();
    }
    const result = await runPass({
      store: c.store,
      channel: c.channel,
      waker: { wake: async () => {} },
      cluster: 'forged',
      now: () => new Date(),
      machines: machines(),
    });
    expect(result.registered).toEqual([ATTACKER]);
    const host = await c.store.getHost(ATTACKER);
    expect(host).toMatchObject({ state: 'ready', address: '10.0.1.66', capacity: { cpu: 2000, memory: 2 * GiB } });
    const allocated = Object.values(host!.allocations).reduce((sum, a) => sum + a.resources.cpu, 0);
    expect(allocated).toBeGreaterThan(0);
    expect(allocated).toBeLessThanOrEqual(2000);
    // The claimed instance type is not what counts: EC2 was asked, for the instance and its type.
    expect(ec2.commandCalls(DescribeInstanceTypesCommand).map((call) => call.args[0].input.InstanceTypes)).toEqual([['t4g.small']]);
    const capped = (await c.store.listEvents({})).find((e) => e.type === 'host.claim-capped');
    expect(capped?.message).toMatch(/claimed cpu 1000000000000, memory 1000000000000000; capped at cpu 2000, memory 2147483648, instance type t4g\.small/);
  });

  it("a claim of an address that is not the instance's private IP registers nothing", async () => {
    const c = await cluster();
    const role = asHostRole(`${ARN}${ATTACKER}`, c.tableName);
    try {
      await role.doc.send(
        new PutCommand({ TableName: c.tableName, Item: claimStatus({ address: '10.0.1.10', capacity: { cpu: 2000, memory: GiB }, labels: {} }) }),
      );
    } finally {
      role.close();
    }
    await runPass({ store: c.store, channel: c.channel, waker: { wake: async () => {} }, cluster: 'forged', now: () => new Date(), machines: machines() });
    expect(await c.store.getHost(ATTACKER)).toBeUndefined();
    const refused = (await c.store.listEvents({})).filter((e) => e.type === 'host.claim-refused');
    expect(refused.map((e) => e.message)).toEqual([`host ${ATTACKER} not registered: claims address 10.0.1.10, but its machine's is 10.0.1.66`]);
  });

  it('a host cannot write its host record: not its state, not its capacity; a fenced host stays down; a record it spoils is not re-created', async () => {
    const c = await cluster();
    const pk = hostPartitionKey(ARN, ATTACKER);
    await c.store.registerHost({ id: ATTACKER, address: '10.0.1.66', capacity: { cpu: 2000, memory: 2 * GiB }, labels: { zone: 'a' } }, NOW);
    await c.store.setHostState(ATTACKER, 'down', NOW);
    const record = (await c.store.getHost(ATTACKER))!;
    const role = asHostRole(`${ARN}${ATTACKER}`, c.tableName);
    try {
      const denied = /AccessDeniedException|not authorized/;
      // The whole record, back to ready with a huge capacity: names state, capacity, version...
      await expect(
        role.doc.send(
          new PutCommand({
            TableName: c.tableName,
            Item: { pk, sk: '#HOST', gsi1pk: 'HOSTS', gsi1sk: ATTACKER, type: 'host', ...record, state: 'ready', capacity: { cpu: 1024000, memory: 2 ** 40 } },
          }),
        ),
      ).rejects.toThrow(denied);
      // Only the state, or only the capacity, by an update.
      await expect(
        role.doc.send(
          new UpdateCommand({
            TableName: c.tableName,
            Key: { pk, sk: '#HOST' },
            UpdateExpression: 'SET #s = :s',
            ExpressionAttributeNames: { '#s': 'state' },
            ExpressionAttributeValues: { ':s': 'ready' },
          }),
        ),
      ).rejects.toThrow(denied);
      await expect(role.doc.send(new DeleteCommand({ TableName: c.tableName, Key: { pk, sk: '#HOST' } }))).rejects.toThrow(denied);
      // The store's own calls, as the agent once made them.
      const asAgent = new DynamoStore(role.raw, { tableName: c.tableName, hostArnPrefix: ARN });
      await expect(asAgent.registerHost({ id: ATTACKER, address: '10.0.1.66', capacity: { cpu: 1024000, memory: 2 ** 40 }, labels: {} }, NOW)).rejects.toThrow(
        denied,
      );
      await expect(asAgent.setHostState(ATTACKER, 'ready', NOW)).rejects.toThrow(denied);
      expect(await c.store.getHost(ATTACKER)).toEqual(record);

      // Its claim (allowed: it is in its report) re-registers it as it is: still down.
      await role.doc.send(
        new PutCommand({
          TableName: c.tableName,
          Item: claimStatus({ address: '10.0.1.66', capacity: { cpu: 1e12, memory: 1e15 }, labels: { zone: 'a', new: 'label' } }),
        }),
      );
      await runPass({ store: c.store, channel: c.channel, waker: { wake: async () => {} }, cluster: 'forged', now: () => new Date(), machines: machines() });
      expect(await c.store.getHost(ATTACKER)).toMatchObject({ state: 'down', capacity: { cpu: 2000, memory: 2 * GiB }, labels: { zone: 'a', new: 'label' } });

      // A put over its record naming only allowed attributes spoils it (no longer a valid host): it
      // drops out of the cluster, and registration does not create a fresh, ready record over it.
      await role.doc.send(
        new PutCommand({ TableName: c.tableName, Item: { pk, sk: '#HOST', gsi1pk: 'HOSTS', gsi1sk: ATTACKER, type: 'host', hostId: ATTACKER } }),
      );
      await c.store.putService(aSpec('default', 'more', { replicas: 4 }), NOW);
      const result = await runPass({
        store: c.store,
        channel: c.channel,
        waker: { wake: async () => {} },
        cluster: 'forged',
        now: () => new Date(),
        machines: machines(),
      });
      expect(result.registered).toBeUndefined();
      expect((await c.store.listHosts()).map((h) => h.id)).toEqual([EVIL, VICTIM]);
      // Nothing is placed on it: its document (published while it was a down host) lists no task.
      expect(c.channel.docs.get(ATTACKER)?.tasks ?? []).toEqual([]);
      expect(result.placed).toBeGreaterThan(0);
    } finally {
      role.close();
    }
  });
});
