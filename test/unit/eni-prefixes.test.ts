import {
  AssignPrivateIpAddressesCommand,
  DescribeNetworkInterfacesCommand,
  type DescribeNetworkInterfacesCommandInput,
  EC2Client,
  EC2ServiceException,
  type NetworkInterface,
  UnassignPrivateIpAddressesCommand,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Ec2UnavailableError } from '../../adapters/aws/ec2-errors.ts';
import { EniPrefixes, PREFIX_TABLE, prefixesOf, wholeBlocks } from '../../adapters/aws/eni-prefixes.ts';
import { MemorySubnetStore } from '../../adapters/memory/subnet-store.ts';
import { syncNetwork } from '../../app/network.ts';
import { NotFoundError, SkiffError, ValidationError } from '../../core/errors.ts';

const SUBNET = 'subnet-0aaaaaaaaaaaaaaa1';
const HOST = 'i-0123456789abcdef0';
const OTHER = 'i-0fedcba9876543210';

/** An EC2 error as the SDK raises it: EC2 has no modeled exceptions, its error code is the name. */
const ec2Error = (code: string) => new EC2ServiceException({ name: code, $fault: 'client', $metadata: { httpStatusCode: 400 }, message: `${code} (test)` });

/**
 * The part of EC2 these calls touch, as a model: interfaces in subnets, attached to instances, with
 * their delegated prefixes. A prefix is delegated to one interface at a time, as EC2 enforces.
 */
class Ec2Model {
  readonly enis = new Map<string, { subnet: string; instance?: string; prefixes: Set<string> }>();
  add(eni: string, instance: string | undefined, subnet = SUBNET, prefixes: string[] = []): void {
    this.enis.set(eni, { subnet, ...(instance ? { instance } : {}), prefixes: new Set(prefixes) });
  }
  describe(input: DescribeNetworkInterfacesCommandInput): { NetworkInterfaces: NetworkInterface[] } {
    const f = new Map((input.Filters ?? []).map((x) => [x.Name, x.Values ?? []]));
    const out: NetworkInterface[] = [];
    for (const [id, e] of this.enis) {
      if (f.has('subnet-id') && !f.get('subnet-id')!.includes(e.subnet)) continue;
      if (f.has('attachment.instance-id') && !f.get('attachment.instance-id')!.includes(e.instance ?? '')) continue;
      if (f.has('attachment.device-index') && !f.get('attachment.device-index')!.includes('0')) continue;
      out.push({
        NetworkInterfaceId: id,
        SubnetId: e.subnet,
        ...(e.instance ? { Attachment: { InstanceId: e.instance, DeviceIndex: 0 } } : {}),
        Ipv4Prefixes: [...e.prefixes].map((p) => ({ Ipv4Prefix: p })),
      });
    }
    return { NetworkInterfaces: out };
  }
  assign(eni: string, prefixes: string[]): object {
    const e = this.enis.get(eni);
    if (!e) throw ec2Error('InvalidNetworkInterfaceID.NotFound');
    for (const p of prefixes) for (const [id, other] of this.enis) if (id !== eni && other.prefixes.has(p)) throw ec2Error('InvalidParameterValue');
    for (const p of prefixes) e.prefixes.add(p);
    return {};
  }
  unassign(eni: string, prefixes: string[]): object {
    const e = this.enis.get(eni);
    if (!e) throw ec2Error('InvalidNetworkInterfaceID.NotFound');
    for (const p of prefixes) e.prefixes.delete(p);
    return {};
  }
}

const ec2 = mockClient(EC2Client);
let model: Ec2Model;
beforeEach(() => {
  model = new Ec2Model();
  ec2.on(DescribeNetworkInterfacesCommand).callsFake((input) => model.describe(input));
  ec2.on(AssignPrivateIpAddressesCommand).callsFake((input) => model.assign(input.NetworkInterfaceId, input.Ipv4Prefixes));
  ec2.on(UnassignPrivateIpAddressesCommand).callsFake((input) => model.unassign(input.NetworkInterfaceId, input.Ipv4Prefixes));
});
afterEach(() => ec2.reset());
afterAll(() => ec2.restore());

const prefixes = (hostPrefix = 26) => new EniPrefixes(ec2 as unknown as EC2Client, { subnetId: SUBNET, hostPrefix });
const held = (eni: string) => [...(model.enis.get(eni)?.prefixes ?? [])].sort();

describe('prefix arithmetic', () => {
  it('splits a host subnet into its /28 prefixes, and finds the whole blocks among an interface’s prefixes', () => {
    expect(prefixesOf('10.0.64.0/26')).toEqual(['10.0.64.0/28', '10.0.64.16/28', '10.0.64.32/28', '10.0.64.48/28']);
    expect(prefixesOf('10.0.64.16/28')).toEqual(['10.0.64.16/28']);
    expect(() => prefixesOf('10.0.64.0/29')).toThrow(ValidationError);
    const block = prefixesOf('10.0.64.64/26');
    expect(wholeBlocks([...block, '10.0.64.0/28'], 26)).toEqual(['10.0.64.64/26']); // 10.0.64.0/26 is held in part
    expect(wholeBlocks(block.slice(1), 26)).toEqual([]);
  });
});

describe('EniPrefixes (at the SDK boundary, over a model of EC2)', () => {
  it('delegates the host subnet to the instance’s primary interface as /28 prefixes, and only the missing ones', async () => {
    model.add('eni-1', HOST, SUBNET, ['10.0.64.16/28']);
    await prefixes().ensure(HOST, '10.0.64.0/26');
    expect(held('eni-1')).toEqual(prefixesOf('10.0.64.0/26').sort());
    const assigned = ec2.commandCalls(AssignPrivateIpAddressesCommand).map((c) => c.args[0].input);
    expect(assigned).toEqual([{ NetworkInterfaceId: 'eni-1', Ipv4Prefixes: ['10.0.64.0/28', '10.0.64.32/28', '10.0.64.48/28'] }]);

    ec2.resetHistory();
    await prefixes().ensure(HOST, '10.0.64.0/26'); // settled: one read, no write
    expect(ec2.commandCalls(AssignPrivateIpAddressesCommand)).toHaveLength(0);
    expect(ec2.commandCalls(DescribeNetworkInterfacesCommand)).toHaveLength(1);
  });

  it('takes a prefix back from the interface that still holds it (the block’s previous host) before delegating it', async () => {
    model.add('eni-1', HOST);
    model.add('eni-2', OTHER, SUBNET, ['10.0.64.32/28', '10.0.65.0/28']);
    await prefixes().ensure(HOST, '10.0.64.0/26');
    expect(held('eni-1')).toEqual(prefixesOf('10.0.64.0/26').sort());
    expect(held('eni-2')).toEqual(['10.0.65.0/28']); // its other prefix is not touched
  });

  it('lists whole blocks as routes to their instance; a detached interface’s blocks are black holes; a block held in part is not listed', async () => {
    model.add('eni-1', HOST, SUBNET, prefixesOf('10.0.64.0/26'));
    model.add('eni-2', OTHER, SUBNET, prefixesOf('10.0.64.64/26').slice(0, 3));
    model.add('eni-3', undefined, SUBNET, prefixesOf('10.0.64.128/26'));
    model.add('eni-4', 'i-0aaaaaaaaaaaaaaaa', 'subnet-0bbbbbbbbbbbbbbb2', prefixesOf('10.0.64.192/26')); // another subnet
    expect(await prefixes().list()).toEqual({
      tables: [PREFIX_TABLE],
      routes: [
        { table: PREFIX_TABLE, cidr: '10.0.64.0/26', hostId: HOST, blackhole: false },
        { table: PREFIX_TABLE, cidr: '10.0.64.128/26', blackhole: true },
      ],
    });
  });

  it('removes a block from whichever interface holds it; removing one nobody holds is a no-op', async () => {
    model.add('eni-1', HOST, SUBNET, [...prefixesOf('10.0.64.0/26'), '10.0.70.0/28']);
    await prefixes().remove('10.0.64.0/26');
    expect(held('eni-1')).toEqual(['10.0.70.0/28']);
    await prefixes().remove('10.0.64.0/26');
    expect(ec2.commandCalls(UnassignPrivateIpAddressesCommand)).toHaveLength(1);
  });

  it('refuses bad input without calling EC2, and names what is wrong', async () => {
    await expect(prefixes().ensure('not-an-instance', '10.0.64.0/26')).rejects.toThrow(/EC2 instance id/);
    await expect(prefixes().ensure(HOST, '10.0.64.0/27')).rejects.toThrow(/not a \/26/);
    expect(ec2.calls()).toHaveLength(0);
    expect(() => new EniPrefixes(ec2 as unknown as EC2Client, { subnetId: 'sn-1', hostPrefix: 26 })).toThrow(/subnet id/);
    expect(() => new EniPrefixes(ec2 as unknown as EC2Client, { subnetId: SUBNET, hostPrefix: 29 })).toThrow(/from 16 to 28/);
  });

  it('says when an instance has no interface, or runs in another subnet', async () => {
    await expect(prefixes().ensure(HOST, '10.0.64.0/26')).rejects.toBeInstanceOf(NotFoundError);
    model.add('eni-9', HOST, 'subnet-0bbbbbbbbbbbbbbb2');
    await expect(prefixes().ensure(HOST, '10.0.64.0/26')).rejects.toThrow(/must run in the subnet that holds the cluster CIDR/);
  });

  it('turns EC2 failures into domain errors: full interface, throttling', async () => {
    model.add('eni-1', HOST);
    ec2.on(AssignPrivateIpAddressesCommand).rejects(ec2Error('PrivateIpAddressLimitExceeded'));
    const full = await prefixes()
      .ensure(HOST, '10.0.64.0/26')
      .catch((e: unknown) => e);
    expect(full).toBeInstanceOf(SkiffError);
    expect((full as Error).message).toMatch(/holds no more addresses.*hostSubnetPrefix/);
    ec2.on(AssignPrivateIpAddressesCommand).rejects(ec2Error('RequestLimitExceeded'));
    await expect(prefixes().ensure(HOST, '10.0.64.0/26')).rejects.toBeInstanceOf(Ec2UnavailableError);
  });
});

describe('the network step of the pass in prefix mode', () => {
  it('gives each host a block of the reservation as prefixes, repairs a block taken away, and frees a gone host’s block', async () => {
    model.add('eni-1', HOST);
    model.add('eni-2', OTHER);
    const allocator = new MemorySubnetStore({ clusterCidr: '10.0.64.0/22', hostPrefixLength: 26 });
    const gone = new Set<string>();
    const deps = {
      clusterCidr: '10.0.64.0/22',
      allocator,
      routes: prefixes(26),
      machines: { gone: async (ids: readonly string[]) => new Set(ids.filter((id) => gone.has(id))) },
      now: () => Date.now(),
      routeCheckMs: 0,
      suspectCheckMs: 0,
    };
    const hosts = [
      { id: HOST, state: 'ready' as const },
      { id: OTHER, state: 'ready' as const },
    ];
    const first = await syncNetwork(deps, hosts);
    expect(first.failed).toEqual([]);
    expect(first.networks.size).toBe(2);
    const mine = first.networks.get(HOST)!.subnet;
    expect(held('eni-1')).toEqual(prefixesOf(mine).sort());
    expect(held('eni-2')).toEqual(prefixesOf(first.networks.get(OTHER)!.subnet).sort());

    // Someone takes a prefix off the interface: the next pass puts it back.
    model.unassign('eni-1', [prefixesOf(mine)[2]]);
    const second = await syncNetwork(deps, hosts);
    expect(second.repaired).toBe(1);
    expect(held('eni-1')).toEqual(prefixesOf(mine).sort());

    // The other host is gone for good: its block goes back to the pool, its prefixes off its interface.
    gone.add(OTHER);
    const third = await syncNetwork(deps, [hosts[0], { id: OTHER, state: 'down' as const }]);
    expect(third.gone).toEqual(new Set([OTHER]));
    expect(held('eni-2')).toEqual([]);
    expect((await allocator.list()).map((l) => l.hostId)).toEqual([HOST]);
  });
});
