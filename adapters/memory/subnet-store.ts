/**
 * The `SubnetAllocator` port in memory: the fake beside `DynamoSubnetStore`, with its observable
 * behaviour (test/contract/subnet-store.contract.ts runs against both): a host keeps its subnet
 * across acquires, a released host first tries the subnet it had, a free subnet is picked from a
 * hash of the host id, exhaustion is the same `LimitError`. Each method is atomic here, so the
 * pointer-then-claim steps that make the DynamoDB store crash-safe have nothing to do; crash
 * states are DynamoDB's own and are tested there.
 */
import { allocate, parseCidr, subnets, type Subnets } from '../../core/cidr.ts';
import { LimitError, SkiffError, ValidationError } from '../../core/errors.ts';
import { hash32 } from '../../core/random.ts';
import type { SubnetAllocator, SubnetLease } from '../../ports/network.ts';

export interface MemorySubnetStoreOptions {
  /** The network all host subnets are carved from, `10.200.0.0/16`. */
  readonly clusterCidr: string;
  /** @default 24 */
  readonly hostPrefixLength?: number;
}

const OPTION_KEYS = new Set(['clusterCidr', 'hostPrefixLength']);

export class MemorySubnetStore implements SubnetAllocator {
  private readonly plan: Subnets;
  /** Held subnets by CIDR. */
  private readonly claims = new Map<string, { hostId: string; routed: boolean }>();
  /** The subnet each host last held or aimed at, kept after a release (the DynamoDB store's pointer). */
  private readonly last = new Map<string, string>();

  constructor(options: MemorySubnetStoreOptions) {
    const unknown = Object.keys(options).filter((k) => !OPTION_KEYS.has(k));
    if (unknown.length > 0) throw new SkiffError(`MemorySubnetStore: unknown option(s) ${unknown.join(', ')}`);
    const hostPrefix = options.hostPrefixLength ?? 24;
    allocate(options.clusterCidr, hostPrefix, []);
    this.plan = subnets(options.clusterCidr, hostPrefix);
  }

  async acquire(hostId: string): Promise<string> {
    checkHostId(hostId);
    const held = this.heldBy(hostId);
    if (held.length > 0) return held[0];
    const previous = this.last.get(hostId);
    const cidr = previous !== undefined && !this.claims.has(previous) && this.plan.indexOf(previous) !== undefined ? previous : this.choose(hostId);
    this.claims.set(cidr, { hostId, routed: false });
    this.last.set(hostId, cidr);
    return cidr;
  }

  async release(hostId: string): Promise<void> {
    checkHostId(hostId);
    for (const cidr of this.heldBy(hostId)) this.claims.delete(cidr);
  }

  async list(): Promise<SubnetLease[]> {
    return [...this.claims.entries()]
      .map(([cidr, c]) => ({ hostId: c.hostId, cidr, routed: c.routed }))
      .sort((a, b) => parseCidr(a.cidr).address - parseCidr(b.cidr).address || a.cidr.localeCompare(b.cidr));
  }

  async markRouted(hostId: string, cidr: string): Promise<boolean> {
    checkHostId(hostId);
    parseCidr(cidr);
    const claim = this.claims.get(cidr);
    if (claim?.hostId !== hostId) return false;
    claim.routed = true;
    return true;
  }

  private heldBy(hostId: string): string[] {
    return [...this.claims.entries()].filter(([, c]) => c.hostId === hostId).map(([cidr]) => cidr);
  }

  private choose(hostId: string): string {
    const cidr = allocate(this.plan.cluster, this.plan.prefixLength, this.claims.keys(), hash32(hostId));
    if (cidr === undefined) {
      throw new LimitError(
        `no free /${this.plan.prefixLength} host subnet in cluster CIDR ${this.plan.cluster}: all ${this.plan.count} are held; ` +
          'release the subnets of terminated hosts, or use a larger cluster CIDR or a longer host prefix',
      );
    }
    return cidr;
  }
}

function checkHostId(hostId: string): void {
  if (typeof hostId !== 'string' || hostId === '' || hostId.includes('#')) {
    // The DynamoDB store's rule ('#' ends the host id in its index key), kept so both refuse the same ids.
    throw new ValidationError([{ path: 'hostId', message: `must be a non-empty string without "#" (got ${JSON.stringify(hostId)})` }]);
  }
}
