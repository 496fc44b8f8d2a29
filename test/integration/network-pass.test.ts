/**
 * The routed container network in the scheduler pass (docs/network.md, "On AWS, end to end"):
 * subnets from the real allocator on dynalite, host documents on the SSM stand-in, and EC2 at the
 * SDK boundary (aws-sdk-client-mock, the one part that cannot run here) modelled as route tables
 * that keep their routes, so the test checks what the VPC ends up holding.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import {
  CreateRouteCommand,
  DeleteRouteCommand,
  DescribeInstancesCommand,
  DescribeRouteTablesCommand,
  EC2Client,
  EC2ServiceException,
  ModifyInstanceAttributeCommand,
  ReplaceRouteCommand,
} from '@aws-sdk/client-ec2';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoStore } from '../../adapters/aws/dynamo-store.ts';
import { DynamoSubnetStore } from '../../adapters/aws/subnet-store.ts';
import { SsmHostChannel } from '../../adapters/aws/ssm-channel.ts';
import { VpcRoutes } from '../../adapters/aws/vpc-routes.ts';
import { Ec2Machines } from '../../adapters/aws/ec2-machines.ts';
import { dynaliteClient, ensureTable, startDynalite, type DynaliteServer } from '../../local/dynalite.ts';
import { startSsmServer, type SsmServer } from '../../local/ssm-server.ts';
import { newPassState, runPass } from '../../app/scheduler/pass.ts';
import { makeSchedulerHandler } from '../../app/handlers/scheduler.ts';
import { contains, overlaps } from '../../core/cidr.ts';
import type { HostDocument } from '../../core/types.ts';
import { aSpec, MiB } from '../builders.ts';

const CLUSTER_CIDR = '10.200.0.0/16';
const TABLES = ['rtb-0aaaaaaaaaaaaaaa1', 'rtb-0bbbbbbbbbbbbbbb2'];
const T0 = '2026-01-01T00:00:00.000Z';

let dynamo: DynaliteServer;
let ssm: SsmServer;
let client: DynamoDBClient;
let ssmClient: SSMClient;
let tables = 0;
const ec2 = mockClient(EC2Client);

beforeAll(async () => {
  dynamo = await startDynalite();
  client = dynaliteClient(dynamo.endpoint);
  ssm = await startSsmServer({ limits: false });
  ssmClient = new SSMClient({ endpoint: ssm.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
});
afterEach(() => ec2.reset());
afterAll(async () => {
  ec2.restore();
  ssmClient?.destroy();
  client?.destroy();
  await ssm?.close();
  await dynamo?.close();
});

const ec2Error = (code: string) => new EC2ServiceException({ name: code, $fault: 'client', $metadata: { httpStatusCode: 400 }, message: `${code} (test)` });

/** The VPC as EC2 would keep it: routes per table, the source/destination check and the instance states. */
function fakeVpc() {
  const routes = new Map<string, Map<string, string>>(TABLES.map((t) => [t, new Map()]));
  const forwarding = new Set<string>();
  const states = new Map<string, string>();
  ec2.on(ModifyInstanceAttributeCommand).callsFake(async (input: { InstanceId: string }) => {
    forwarding.add(input.InstanceId);
    return {};
  });
  ec2.on(CreateRouteCommand).callsFake(async (input: { RouteTableId: string; DestinationCidrBlock: string; InstanceId: string }) => {
    const table = routes.get(input.RouteTableId)!;
    if (table.has(input.DestinationCidrBlock)) throw ec2Error('RouteAlreadyExists');
    table.set(input.DestinationCidrBlock, input.InstanceId);
    return {};
  });
  ec2.on(ReplaceRouteCommand).callsFake(async (input: { RouteTableId: string; DestinationCidrBlock: string; InstanceId: string }) => {
    routes.get(input.RouteTableId)!.set(input.DestinationCidrBlock, input.InstanceId);
    return {};
  });
  ec2.on(DeleteRouteCommand).callsFake(async (input: { RouteTableId: string; DestinationCidrBlock: string }) => {
    if (!routes.get(input.RouteTableId)!.delete(input.DestinationCidrBlock)) throw ec2Error('InvalidRoute.NotFound');
    return {};
  });
  ec2.on(DescribeRouteTablesCommand).callsFake(async () => ({
    RouteTables: TABLES.map((id) => ({
      RouteTableId: id,
      Routes: [
        { DestinationCidrBlock: '10.0.0.0/16', GatewayId: 'local', State: 'active' },
        ...[...routes.get(id)!].map(([cidr, instance]) => ({
          DestinationCidrBlock: cidr,
          InstanceId: instance,
          State: states.get(instance) === 'terminated' ? 'blackhole' : 'active',
        })),
      ],
    })),
  }));
  ec2.on(DescribeInstancesCommand).callsFake(async (input: { Filters: { Values: string[] }[] }) => ({
    Reservations: [{ Instances: input.Filters[0].Values.filter((id) => states.has(id)).map((id) => ({ InstanceId: id, State: { Name: states.get(id) } })) }],
  }));
  /** Every table's routes, which must agree: `cidr -> instance`. */
  const table = () => {
    const [first, ...rest] = TABLES.map((t) => Object.fromEntries(routes.get(t)!));
    for (const other of rest) expect(other).toEqual(first);
    return first;
  };
  /** Someone deletes a route by hand. */
  const deleteRoute = (table: string, cidr: string) => routes.get(table)!.delete(cidr);
  return { table, forwarding, states, deleteRoute };
}

async function fixture(hostIds: string[]) {
  const tableName = `net-${++tables}`;
  await ensureTable(client, tableName);
  const store = new DynamoStore(client, { tableName });
  const cluster = `n${tables}`;
  const channel = new SsmHostChannel(ssmClient, { prefix: `/skiff/${cluster}` });
  const vpc = fakeVpc();
  for (const [i, id] of hostIds.entries()) {
    await store.registerHost({ id, address: `127.0.1.${i + 1}`, capacity: { cpu: 2000, memory: 2048 * MiB }, labels: {} }, T0);
    vpc.states.set(id, 'running');
  }
  const ec2Client = ec2 as unknown as EC2Client;
  const network = {
    clusterCidr: CLUSTER_CIDR,
    allocator: new DynamoSubnetStore(client, { tableName, clusterCidr: CLUSTER_CIDR }),
    routes: new VpcRoutes(ec2Client, { routeTableIds: TABLES }),
    machines: new Ec2Machines(ec2Client),
    now: () => clock,
    suspectCheckMs: 0,
  };
  let clock = Date.parse(T0);
  const state = newPassState();
  const pass = () =>
    runPass({
      store,
      channel,
      waker: { wake: async () => {} },
      cluster,
      now: () => {
        clock += 1000;
        return new Date(clock);
      },
      network,
      state,
    });
  const later = (ms: number) => {
    clock += ms;
  };
  const doc = async (id: string) => (await channel.fetch(id)) as HostDocument;
  const handler = makeSchedulerHandler(
    {
      store,
      channel,
      waker: { wake: async () => {} },
      cluster,
      now: () => {
        clock += 1000;
        return new Date(clock);
      },
      network,
      log: () => {},
    },
    undefined,
    { metrics: true },
  );
  return { store, vpc, pass, doc, network, handler, cluster, later };
}

describe('runPass with routed container subnets', () => {
  it('gives each host its own routed subnet before any pod, and puts it in the host document', async () => {
    const f = await fixture(['i-0000000a', 'i-0000000b']);
    await f.store.putService(aSpec({ name: 'web', replicas: 2 }), T0, 0);
    const first = await f.pass();
    expect(first.network).toEqual({ acquired: 2, routed: 2, released: 0, repaired: 0, failed: 0, waiting: 0 });
    expect(first.placed).toBe(2);

    const a = (await f.doc('i-0000000a')).network!;
    const b = (await f.doc('i-0000000b')).network!;
    expect(a.clusterCidr).toBe(CLUSTER_CIDR);
    expect(contains(CLUSTER_CIDR, a.subnet) && contains(CLUSTER_CIDR, b.subnet)).toBe(true);
    expect(overlaps(a.subnet, b.subnet)).toBe(false);
    expect(f.vpc.table()).toEqual({ [a.subnet]: 'i-0000000a', [b.subnet]: 'i-0000000b' });
    expect([...f.vpc.forwarding].sort()).toEqual(['i-0000000a', 'i-0000000b']);
    expect((await f.doc('i-0000000a')).tasks).toHaveLength(1);

    // Settled: the next pass reads the leases and makes no EC2 call at all.
    ec2.resetHistory();
    const second = await f.pass();
    expect(second.network).toEqual({ acquired: 0, routed: 0, released: 0, repaired: 0, failed: 0, waiting: 0 });
    expect(second.published).toEqual([]);
    expect(ec2.calls()).toHaveLength(0);
  });

  it('repairs a host route someone deleted by hand, at the next check of the route tables', async () => {
    const f = await fixture(['i-00000010', 'i-00000011']);
    await f.pass();
    const subnet = (await f.doc('i-00000010')).network!.subnet;
    f.vpc.deleteRoute(TABLES[1], subnet);

    // Within the check interval nothing reads the tables.
    ec2.resetHistory();
    expect((await f.pass()).network?.repaired).toBe(0);
    expect(ec2.commandCalls(DescribeRouteTablesCommand)).toHaveLength(0);

    f.later(300_000);
    const repaired = await f.pass();
    expect(repaired.network?.repaired).toBe(1);
    expect(ec2.commandCalls(DescribeRouteTablesCommand)).toHaveLength(1);
    expect(f.vpc.table()[subnet]).toBe('i-00000010');
    // Only the drifted subnet was made again.
    expect(ec2.commandCalls(ModifyInstanceAttributeCommand).map((c) => c.args[0].input.InstanceId)).toEqual(['i-00000010']);
  });

  it('places nothing on a host whose routes failed, says why, and finishes the host on the next pass', async () => {
    const f = await fixture(['i-0000000c']);
    ec2.on(ModifyInstanceAttributeCommand).rejects(ec2Error('RequestLimitExceeded'));
    await f.store.putService(aSpec({ name: 'api', replicas: 1 }), T0, 0);
    const first = await f.pass();
    expect(first.network).toMatchObject({ acquired: 1, routed: 0, failed: 1, waiting: 1 });
    expect(first.placed).toBe(0);
    const [task] = await f.store.listTasks('default', 'api');
    expect(task.unplaceable?.message).toMatch(/no routed container subnet yet/);
    expect(f.vpc.table()).toEqual({});

    // EC2 answers again: the lease made in the first pass is routed, not a second one taken.
    ec2.on(ModifyInstanceAttributeCommand).resolves({});
    const second = await f.pass();
    expect(second.network).toEqual({ acquired: 0, routed: 1, released: 0, repaired: 0, failed: 0, waiting: 0 });
    expect(second.placed).toBe(1);
    const doc = await f.doc('i-0000000c');
    expect(doc.tasks).toHaveLength(1);
    expect(f.vpc.table()).toEqual({ [doc.network!.subnet]: 'i-0000000c' });
    expect(await f.network.allocator.list()).toHaveLength(1);
  });

  it('publishes how many ready hosts wait for a routed subnet, for the HostsWithoutSubnet alarm', async () => {
    const f = await fixture(['i-0000000f']);
    ec2.on(ModifyInstanceAttributeCommand).rejects(ec2Error('UnauthorizedOperation'));
    const lines: string[] = [];
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    try {
      await f.handler({}, undefined as never);
    } finally {
      write.mockRestore();
    }
    const json = (line: string): Record<string, unknown> | undefined => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        return undefined; // not an EMF line
      }
    };
    const metric = lines.map(json).find((m) => m !== undefined && 'HostsWithoutSubnet' in m);
    expect(metric).toMatchObject({ HostsWithoutSubnet: 1, Cluster: f.cluster });
  });

  it('keeps the subnet of a down host until its instance is terminated, then removes the routes, frees it, and forgets the host', async () => {
    const f = await fixture(['i-0000000d', 'i-0000000e']);
    await f.store.putService(aSpec({ name: 'db', replicas: 2 }), T0, 0);
    await f.pass();
    const subnet = (await f.doc('i-0000000d')).network!.subnet;
    await f.store.putHostStatus({ hostId: 'i-0000000d', heartbeatAt: T0, generation: 1, tasks: [], agentVersion: 'test' });

    // Down but not terminated (a frozen or partitioned host): its containers still use the subnet.
    await f.store.setHostState('i-0000000d', 'down', T0);
    vpcState(f, 'i-0000000d', 'stopped');
    const whileDown = await f.pass();
    expect(whileDown.network?.released).toBe(0);
    expect(f.vpc.table()[subnet]).toBe('i-0000000d');

    expect(whileDown.forgotten).toBeUndefined();
    expect(await f.store.getHost('i-0000000d')).toBeDefined();

    vpcState(f, 'i-0000000d', 'terminated');
    const after = await f.pass();
    expect(after.network?.released).toBe(1);
    expect(Object.values(f.vpc.table())).toEqual(['i-0000000e']);
    expect((await f.network.allocator.list()).map((l) => l.hostId)).toEqual(['i-0000000e']);
    // Its task went to the other host before, so it holds nothing: record, report and document go.
    expect(after.forgotten).toEqual(['i-0000000d']);
    expect(await f.store.getHost('i-0000000d')).toBeUndefined();
    expect(await f.store.getHostStatus('i-0000000d')).toBeUndefined();
    expect(await f.doc('i-0000000d')).toBeUndefined();
    expect((await f.store.listEvents({ host: 'i-0000000d' })).map((e) => e.type)).toContain('host.forgotten');
    // The replica that ran there runs on the other host; the pass after that has nothing to do.
    expect((await f.store.listTasks('default', 'db')).map((t) => t.host)).toEqual(['i-0000000e', 'i-0000000e']);
    const settled = await f.pass();
    expect(settled).toMatchObject({ created: 0, placed: 0, published: [] });
    expect(settled.forgotten).toBeUndefined();
  });
});

function vpcState(f: { vpc: { states: Map<string, string> } }, id: string, state: string): void {
  f.vpc.states.set(id, state);
}
