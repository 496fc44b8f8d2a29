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
  return { store, forge, evilPk, reported, pass, channel };
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
