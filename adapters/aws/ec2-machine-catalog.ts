/**
 * The `MachineCatalog` port on EC2: what the instance behind a host id is, from EC2 itself rather
 * than from the agent. `DescribeInstances` gives the instance's state, type and primary private
 * IPv4; `DescribeInstanceTypes` gives the type's vCPUs and memory, the most the host may claim.
 *
 * Cached: an instance type's size never changes (kept for the function's lifetime), and a running
 * instance keeps its private IP; its type can change only across a stop and start, after which the
 * agent claims again. Instances are kept for `instanceTtlMs`, negative answers not at all (a new
 * instance can be missing from DescribeInstances for a moment after launch).
 */
import {
  DescribeInstanceTypesCommand,
  DescribeInstancesCommand,
  type DescribeInstanceTypesCommandOutput,
  type DescribeInstancesCommandOutput,
  type EC2Client,
  type _InstanceType,
} from '@aws-sdk/client-ec2';
import type { MachineVerdict } from '../../core/host-registration.ts';
import type { HostClaim, Resources } from '../../core/types.ts';
import type { MachineCatalog } from '../../ports/machines.ts';
import { ec2Failure } from './ec2-errors.ts';

const INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;
const MiB = 1024 * 1024;
/** The tag every host instance of a cluster carries (infra/hosts.ts). */
const CLUSTER_TAG = 'skiff:cluster';
/** States in which an instance may run an agent. */
const LIVE_STATES: ReadonlySet<string> = new Set(['pending', 'running']);
/** Bounds the caches: far above any cluster's hosts and instance types. */
const MAX_CACHED = 10_000;

interface Instance {
  readonly type: string;
  readonly address?: string;
  readonly at: number;
}

export interface Ec2MachineCatalogOptions {
  /** How long an instance's type and address are taken as known. @default 600_000 (10 min) */
  readonly instanceTtlMs?: number;
  readonly now?: () => number;
  /** The cluster's name: an instance whose `skiff:cluster` tag names another is no host of this cluster. */
  readonly cluster?: string;
}

export class Ec2MachineCatalog implements MachineCatalog {
  private readonly instances = new Map<string, Instance>();
  private readonly types = new Map<string, Resources>();
  private readonly ttlMs: number;
  private readonly now: () => number;
  private readonly cluster: string | undefined;

  constructor(
    private readonly client: EC2Client,
    options: Ec2MachineCatalogOptions = {},
  ) {
    this.ttlMs = options.instanceTtlMs ?? 600_000;
    this.now = options.now ?? Date.now;
    this.cluster = options.cluster;
  }

  async describe(hostId: string, _claim: HostClaim): Promise<MachineVerdict> {
    if (!INSTANCE_ID.test(hostId)) return { known: false, reason: `${JSON.stringify(hostId)} is not an EC2 instance id` };
    const instance = await this.instance(hostId);
    if (typeof instance === 'string') return { known: false, reason: instance };
    const size = await this.typeSize(instance.type);
    if (size === undefined) return { known: false, reason: `EC2 does not describe instance type ${instance.type} of ${hostId}` };
    return {
      known: true,
      facts: { maxCapacity: size, ...(instance.address ? { address: instance.address } : {}), source: `instance type ${instance.type}` },
    };
  }

  /** The instance, or why it cannot be a host. */
  private async instance(id: string): Promise<Instance | string> {
    const cached = this.instances.get(id);
    if (cached && this.now() - cached.at < this.ttlMs) return cached;
    let out: DescribeInstancesCommandOutput;
    try {
      // A filter rather than InstanceIds: an unknown id is an empty answer, not an error.
      out = await this.client.send(new DescribeInstancesCommand({ Filters: [{ Name: 'instance-id', Values: [id] }] }));
    } catch (err) {
      throw ec2Failure('DescribeInstances', `instance ${id}`, err);
    }
    const found = (out.Reservations ?? []).flatMap((r) => r.Instances ?? []).find((i) => i.InstanceId === id);
    if (!found) return `EC2 knows no instance ${id}`;
    const state = found.State?.Name ?? 'unknown';
    if (!LIVE_STATES.has(state)) return `instance ${id} is ${state}`;
    const tag = found.Tags?.find((t) => t.Key === CLUSTER_TAG)?.Value;
    if (this.cluster !== undefined && tag !== this.cluster) return `instance ${id} is not tagged ${CLUSTER_TAG}=${this.cluster}`;
    if (!found.InstanceType) return `EC2 gives no instance type for ${id}`;
    const instance: Instance = { type: found.InstanceType, ...(found.PrivateIpAddress ? { address: found.PrivateIpAddress } : {}), at: this.now() };
    if (this.instances.size >= MAX_CACHED) this.instances.clear();
    this.instances.set(id, instance);
    return instance;
  }

  /** The type's vCPUs (as millicores) and memory (bytes); undefined when EC2 does not know it. */
  private async typeSize(type: string): Promise<Resources | undefined> {
    const cached = this.types.get(type);
    if (cached) return cached;
    let out: DescribeInstanceTypesCommandOutput;
    try {
      out = await this.client.send(new DescribeInstanceTypesCommand({ InstanceTypes: [type as _InstanceType] }));
    } catch (err) {
      if ((err as { name?: string }).name === 'InvalidInstanceType') return undefined;
      throw ec2Failure('DescribeInstanceTypes', `instance type ${type}`, err);
    }
    const info = (out.InstanceTypes ?? []).find((t) => t.InstanceType === type);
    const vcpus = info?.VCpuInfo?.DefaultVCpus;
    const mib = info?.MemoryInfo?.SizeInMiB;
    if (!vcpus || !mib) return undefined;
    const size = { cpu: vcpus * 1000, memory: mib * MiB };
    if (this.types.size >= MAX_CACHED) this.types.clear();
    this.types.set(type, size);
    return size;
  }
}
