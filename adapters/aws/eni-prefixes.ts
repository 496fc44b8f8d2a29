/**
 * The `HostRoutes` port without routes: each host's container subnet is a block of the hosts' VPC
 * subnet, delegated to the host's network interface as /28 IPv4 prefixes (`AssignPrivateIpAddresses`
 * with `Ipv4Prefixes`, the way the Amazon VPC CNI's prefix mode does), so the VPC itself delivers a
 * container address to its host. No route table entry per host: the route-table quota (about 45
 * hosts by default, 995 at most) no longer caps the cluster; the subnet's size does. Container
 * addresses are the interface's own, so the source/destination check stays on, and the interface's
 * security groups apply to them (docs/network.md, "Prefix mode").
 *
 * A host subnet of /26 is four /28 prefixes; `ensure` assigns the ones the interface lacks, after
 * taking any of them back from another interface that still holds it (a stopped host the pass
 * declared gone). `list` reports, as one "route" per host subnet, the blocks an interface holds
 * whole; a block held in part is drift that `ensure` repairs.
 */
import {
  AssignPrivateIpAddressesCommand,
  DescribeNetworkInterfacesCommand,
  type EC2Client,
  type NetworkInterface,
  UnassignPrivateIpAddressesCommand,
} from '@aws-sdk/client-ec2';
import { formatCidr, formatIpv4, parseCidr, type Cidr } from '../../core/cidr.ts';
import { NotFoundError, SkiffError, ValidationError } from '../../core/errors.ts';
import type { HostRoutes, RouteEntry } from '../../ports/network.ts';
import { ec2Failure } from './ec2-errors.ts';
import { sdkErrorCode } from './sdk-errors.ts';

/** The only IPv4 prefix length EC2 delegates to a network interface. */
export const PREFIX_LENGTH = 28;

/** The name `list` gives its one "table": every host's block lives on its interface, not in a route table. */
export const PREFIX_TABLE = 'eni-prefixes';

export interface EniPrefixesOptions {
  /** The VPC subnet the hosts run in; host subnets are blocks of it (of a prefix-type CIDR reservation in it). */
  readonly subnetId: string;
  /** Prefix length of each host's container subnet (`hostSubnetPrefix`): /28 or larger, so it is whole prefixes. */
  readonly hostPrefix: number;
}

const OPTION_KEYS = new Set(['subnetId', 'hostPrefix']);
const INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;
const SUBNET_ID = /^subnet-[0-9a-f]{8,17}$/;

/** The /28 prefixes that make up `block` (a /28 or larger), in address order. */
export function prefixesOf(block: string | Cidr): string[] {
  const cidr = typeof block === 'string' ? parseCidr(block, 'cidr') : block;
  if (cidr.prefix > PREFIX_LENGTH) {
    throw new ValidationError([{ path: 'cidr', message: `${formatCidr(cidr)} is smaller than a /${PREFIX_LENGTH}, the prefix EC2 delegates to an interface` }]);
  }
  const count = 2 ** (PREFIX_LENGTH - cidr.prefix);
  return Array.from({ length: count }, (_, i) => `${formatIpv4(cidr.address + i * 16)}/${PREFIX_LENGTH}`);
}

/**
 * The whole host blocks among an interface's /28 prefixes: for each block of `hostPrefix` that some
 * prefix falls in, the block when every one of its prefixes is there.
 */
export function wholeBlocks(prefixes: readonly string[], hostPrefix: number): string[] {
  const held = new Set(prefixes.map((p) => formatCidr(parseCidr(p))));
  const blocks = new Set<string>();
  for (const p of held) {
    const { address } = parseCidr(p);
    const size = 2 ** (32 - hostPrefix);
    blocks.add(formatCidr({ address: address - (address % size), prefix: hostPrefix }));
  }
  return [...blocks].filter((b) => prefixesOf(b).every((p) => held.has(p))).sort();
}

/** Host subnets as /28 prefixes on the hosts' network interfaces (EC2 API). */
export class EniPrefixes implements HostRoutes {
  private readonly subnetId: string;
  private readonly hostPrefix: number;

  constructor(
    private readonly client: EC2Client,
    options: EniPrefixesOptions,
  ) {
    const unknown = Object.keys(options).filter((k) => !OPTION_KEYS.has(k));
    if (unknown.length > 0) throw new SkiffError(`EniPrefixes: unknown option(s) ${unknown.join(', ')}`);
    if (typeof options.subnetId !== 'string' || !SUBNET_ID.test(options.subnetId)) {
      throw new SkiffError(`EniPrefixes: subnetId must be a subnet id (subnet-...), got ${JSON.stringify(options.subnetId)}`);
    }
    const { hostPrefix } = options;
    if (!Number.isInteger(hostPrefix) || hostPrefix < 16 || hostPrefix > PREFIX_LENGTH) {
      throw new SkiffError(`EniPrefixes: hostPrefix must be a whole number from 16 to ${PREFIX_LENGTH} (whole /${PREFIX_LENGTH} prefixes), got ${hostPrefix}`);
    }
    this.subnetId = options.subnetId;
    this.hostPrefix = hostPrefix;
  }

  async ensure(hostId: string, cidr: string): Promise<void> {
    if (typeof hostId !== 'string' || !INSTANCE_ID.test(hostId)) {
      throw new ValidationError([{ path: 'hostId', message: `must be an EC2 instance id (i-...), got ${JSON.stringify(hostId)}` }]);
    }
    const block = parseCidr(cidr);
    if (block.prefix !== this.hostPrefix) {
      throw new ValidationError([{ path: 'cidr', message: `${formatCidr(block)} is not a /${this.hostPrefix}, the host subnet size this cluster delegates` }]);
    }
    const wanted = prefixesOf(block);
    const own = await this.primaryInterface(hostId);
    const held = new Set((own.Ipv4Prefixes ?? []).map((p) => p.Ipv4Prefix));
    const missing = wanted.filter((p) => !held.has(p));
    if (missing.length === 0) return;
    // A prefix another interface still holds (the block's previous host, stopped and declared gone)
    // is taken back first: EC2 delegates an address to one interface only.
    for (const other of await this.interfaces()) {
      if (other.NetworkInterfaceId === own.NetworkInterfaceId) continue;
      const theirs = (other.Ipv4Prefixes ?? []).map((p) => p.Ipv4Prefix).filter((p): p is string => p !== undefined && missing.includes(p));
      if (theirs.length > 0) await this.unassign(other.NetworkInterfaceId!, theirs);
    }
    await this.call('AssignPrivateIpAddresses', `prefixes ${missing.join(', ')} on ${own.NetworkInterfaceId} (instance ${hostId})`, () =>
      this.client.send(new AssignPrivateIpAddressesCommand({ NetworkInterfaceId: own.NetworkInterfaceId, Ipv4Prefixes: missing })),
    );
  }

  async remove(cidr: string): Promise<void> {
    const wanted = new Set(prefixesOf(cidr));
    for (const eni of await this.interfaces()) {
      const theirs = (eni.Ipv4Prefixes ?? []).map((p) => p.Ipv4Prefix).filter((p): p is string => p !== undefined && wanted.has(p));
      if (theirs.length > 0) await this.unassign(eni.NetworkInterfaceId!, theirs);
    }
  }

  async list(): Promise<{ tables: readonly string[]; routes: RouteEntry[] }> {
    const routes: RouteEntry[] = [];
    for (const eni of await this.interfaces()) {
      const instance = eni.Attachment?.InstanceId;
      const prefixes = (eni.Ipv4Prefixes ?? []).map((p) => p.Ipv4Prefix).filter((p): p is string => p !== undefined);
      for (const cidr of wholeBlocks(prefixes, this.hostPrefix)) {
        routes.push({ table: PREFIX_TABLE, cidr, ...(instance ? { hostId: instance } : {}), blackhole: instance === undefined });
      }
    }
    return { tables: [PREFIX_TABLE], routes };
  }

  /** The instance's interface at device index 0, the one its containers' bridge routes through. */
  private async primaryInterface(instanceId: string): Promise<NetworkInterface & { NetworkInterfaceId: string }> {
    const out = await this.call('DescribeNetworkInterfaces', `the network interface of instance ${instanceId}`, () =>
      this.client.send(
        new DescribeNetworkInterfacesCommand({
          Filters: [
            { Name: 'attachment.instance-id', Values: [instanceId] },
            { Name: 'attachment.device-index', Values: ['0'] },
          ],
        }),
      ),
    );
    const eni = out.NetworkInterfaces?.[0];
    if (!eni?.NetworkInterfaceId) throw new NotFoundError(`network interface of instance ${instanceId}`);
    if (eni.SubnetId !== undefined && eni.SubnetId !== this.subnetId) {
      throw new SkiffError(
        `instance ${instanceId} runs in ${eni.SubnetId}, not in ${this.subnetId}: in prefix mode every host must run in the subnet that holds the cluster CIDR`,
      );
    }
    return eni as NetworkInterface & { NetworkInterfaceId: string };
  }

  /** Every network interface in the hosts' subnet, all pages. */
  private async interfaces(): Promise<NetworkInterface[]> {
    const all: NetworkInterface[] = [];
    let nextToken: string | undefined;
    do {
      const out = await this.call('DescribeNetworkInterfaces', `network interfaces of ${this.subnetId}`, () =>
        this.client.send(
          new DescribeNetworkInterfacesCommand({ Filters: [{ Name: 'subnet-id', Values: [this.subnetId] }], NextToken: nextToken, MaxResults: 1000 }),
        ),
      );
      for (const eni of out.NetworkInterfaces ?? []) if (eni.NetworkInterfaceId) all.push(eni);
      nextToken = out.NextToken;
    } while (nextToken);
    return all;
  }

  private async unassign(networkInterfaceId: string, prefixes: string[]): Promise<void> {
    try {
      await this.call('UnassignPrivateIpAddresses', `prefixes ${prefixes.join(', ')} on ${networkInterfaceId}`, () =>
        this.client.send(new UnassignPrivateIpAddressesCommand({ NetworkInterfaceId: networkInterfaceId, Ipv4Prefixes: prefixes })),
      );
    } catch (err) {
      // The interface went away with its instance, and its prefixes with it: nothing left to take back.
      if (!(err instanceof NotFoundError)) throw err;
    }
  }

  /** Run one EC2 call; turn its failure into a domain error naming the operation and the resource. */
  private async call<T>(op: string, label: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (err) {
      switch (sdkErrorCode(err)) {
        case 'InvalidNetworkInterfaceID.NotFound':
        case 'InvalidNetworkInterfaceID.Malformed':
          throw new NotFoundError(label, { cause: err });
        case 'PrivateIpAddressLimitExceeded':
          throw new SkiffError(
            `${op} of ${label} failed: the interface holds no more addresses (an instance type allows a fixed number per interface, and each /28 prefix takes one): ` +
              'use a smaller host subnet (hostSubnetPrefix 27 or 28) or a larger instance type',
            { cause: err },
          );
        case 'InsufficientCidrBlocks':
          throw new SkiffError(
            `${op} of ${label} failed: the subnet has no free /28 block where asked; free it, or give the cluster a larger CIDR reservation`,
            {
              cause: err,
            },
          );
      }
      throw ec2Failure(op, label, err);
    }
  }
}
