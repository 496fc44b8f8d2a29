/**
 * IPv4 CIDR arithmetic for the container network: per-host container subnets carved from the
 * cluster CIDR (docs/network.md). Pure: no I/O, and the search start of `allocate` is an argument.
 *
 * Addresses are unsigned 32-bit integers held in ordinary numbers, and sizes are computed with
 * `2 ** n` rather than bit shifts: `1 << 32` is 1 in JavaScript, and a /0 holds 2^32 addresses.
 */
import { ValidationError } from './errors.ts';

/** An IPv4 network: its first address (an unsigned 32-bit integer) and its prefix length. */
export interface Cidr {
  readonly address: number;
  readonly prefix: number;
}

/**
 * The longest host prefix that still leaves room for a container: a Docker bridge subnet spends
 * its network, broadcast and gateway (bridge) addresses, so a /30 holds one container, a /31 none.
 */
export const MAX_HOST_PREFIX = 30;

const ADDRESS_SPACE = 2 ** 32;
// Decimal octets without leading zeros: "010" is octal to inet_aton and decimal to others.
const OCTET = /^(0|[1-9][0-9]{0,2})$/;
const PREFIX = /^(0|[1-9][0-9]?)$/;

/** Parse a dotted-quad IPv4 address into an unsigned 32-bit integer. */
export function parseIpv4(text: string, field = 'address'): number {
  const parts = typeof text === 'string' ? text.split('.') : [];
  if (parts.length !== 4 || parts.some((p) => !OCTET.test(p) || Number(p) > 255)) {
    throw new ValidationError([
      { path: field, message: `${JSON.stringify(text)} is not an IPv4 address: expected four decimal numbers 0-255 without leading zeros, like 10.200.0.0` },
    ]);
  }
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

/** Format an unsigned 32-bit integer as a dotted-quad IPv4 address. */
export function formatIpv4(address: number): string {
  if (!Number.isInteger(address) || address < 0 || address >= ADDRESS_SPACE) {
    throw new RangeError(`${address} is not an IPv4 address (an integer 0 to 2^32-1)`);
  }
  return [24, 16, 8, 0].map((shift) => Math.floor(address / 2 ** shift) % 256).join('.');
}

/** Parse `a.b.c.d/n`. The address must be the network's first one: `10.200.1.0/16` is refused, naming `10.200.0.0/16`. */
export function parseCidr(text: string, field = 'cidr'): Cidr {
  const slash = typeof text === 'string' ? text.indexOf('/') : -1;
  if (slash < 0) {
    throw new ValidationError([{ path: field, message: `${JSON.stringify(text)} is not an IPv4 CIDR: expected address/prefix, like 10.200.0.0/16` }]);
  }
  const prefixText = text.slice(slash + 1);
  if (!PREFIX.test(prefixText) || Number(prefixText) > 32) {
    throw new ValidationError([
      { path: field, message: `${JSON.stringify(text)} has prefix length ${JSON.stringify(prefixText)}: expected a whole number 0-32` },
    ]);
  }
  const prefix = Number(prefixText);
  const address = parseIpv4(text.slice(0, slash), field);
  const network = networkOf(address, prefix);
  if (network !== address) {
    throw new ValidationError([
      { path: field, message: `${text} has host bits set: the /${prefix} network holding ${formatIpv4(address)} is ${formatIpv4(network)}/${prefix}` },
    ]);
  }
  return { address, prefix };
}

/** Format a CIDR as `a.b.c.d/n`. */
export function formatCidr(cidr: Cidr): string {
  return `${formatIpv4(cidr.address)}/${cidr.prefix}`;
}

/** How many addresses a CIDR spans. */
export function cidrSize(cidr: Cidr): number {
  return 2 ** (32 - cidr.prefix);
}

/** Whether two CIDRs share at least one address. */
export function overlaps(a: string | Cidr, b: string | Cidr): boolean {
  const x = typeof a === 'string' ? parseCidr(a) : a;
  const y = typeof b === 'string' ? parseCidr(b) : b;
  return x.address < y.address + cidrSize(y) && y.address < x.address + cidrSize(x);
}

/** Whether `inner` lies wholly inside `outer`. */
export function contains(outer: string | Cidr, inner: string | Cidr): boolean {
  const o = typeof outer === 'string' ? parseCidr(outer) : outer;
  const i = typeof inner === 'string' ? parseCidr(inner) : inner;
  return i.prefix >= o.prefix && networkOf(i.address, o.prefix) === o.address;
}

/** How many containers a host subnet of this prefix holds (all addresses but network, broadcast and the bridge's). */
export function containersPerHost(hostPrefix: number): number {
  checkHostPrefix(hostPrefix, 0);
  return 2 ** (32 - hostPrefix) - 3;
}

/** The subnets of one prefix length that a cluster CIDR divides into. */
export interface Subnets {
  /** The cluster CIDR, canonical. */
  readonly cluster: string;
  readonly prefixLength: number;
  readonly count: number;
  /** The n-th subnet (0-based, in address order). */
  at(index: number): string;
  /** The index of a subnet of this plan, or undefined when `cidr` is not one (another prefix, or outside). */
  indexOf(cidr: string): number | undefined;
}

/** Divide `clusterCidr` into subnets of `prefixLength`: their count, and each one by index. */
export function subnets(clusterCidr: string, prefixLength: number): Subnets {
  const cluster = parseCidr(clusterCidr, 'clusterCidr');
  if (!Number.isInteger(prefixLength) || prefixLength < cluster.prefix || prefixLength > 32) {
    throw new ValidationError([
      {
        path: 'prefixLength',
        message: `must be a whole number from ${cluster.prefix} (the cluster's prefix) to 32 to divide ${formatCidr(cluster)}, got ${prefixLength}`,
      },
    ]);
  }
  const count = 2 ** (prefixLength - cluster.prefix);
  const size = 2 ** (32 - prefixLength);
  return {
    cluster: formatCidr(cluster),
    prefixLength,
    count,
    at(index: number): string {
      if (!Number.isInteger(index) || index < 0 || index >= count) {
        throw new RangeError(`subnet index ${index} is outside 0..${count - 1} of ${formatCidr(cluster)} in /${prefixLength}s`);
      }
      return formatCidr({ address: cluster.address + index * size, prefix: prefixLength });
    },
    indexOf(cidr: string): number | undefined {
      const c = parseCidr(cidr);
      if (c.prefix !== prefixLength || !contains(cluster, c)) return undefined;
      return (c.address - cluster.address) / size;
    },
  };
}

/**
 * The first free host subnet of `clusterCidr`, searching from index `cursor` (modulo the count)
 * and wrapping around; undefined when every one is held. A subnet is free when it overlaps no
 * CIDR in `held`, whatever that CIDR's prefix (a host that kept a /23 from an older setting blocks
 * both /24s inside it). Held CIDRs outside the cluster are ignored.
 *
 * `cursor` lets concurrent allocators start apart (a hash of the host id) instead of all racing
 * for the lowest free subnet; the result depends on nothing else.
 */
export function allocate(clusterCidr: string, prefixLength: number, held: Iterable<string>, cursor = 0): string | undefined {
  const plan = subnets(clusterCidr, prefixLength);
  checkHostPrefix(prefixLength, parseCidr(plan.cluster).prefix);
  if (!Number.isSafeInteger(cursor) || cursor < 0) {
    throw new ValidationError([{ path: 'cursor', message: `must be a non-negative whole number, got ${cursor}` }]);
  }
  const taken = heldRanges(plan, held);
  const start = cursor % plan.count;
  // The free runs are the gaps between the merged held ranges; take the first one reaching past `start`.
  let wrapped: number | undefined;
  let next = 0;
  for (const [lo, hi] of [...taken, [plan.count, plan.count] as const]) {
    if (lo > next) {
      // Free run [next, lo - 1].
      if (lo - 1 >= start) return plan.at(Math.max(next, start));
      wrapped ??= next;
    }
    next = Math.max(next, hi + 1);
  }
  return wrapped === undefined ? undefined : plan.at(wrapped);
}

/**
 * What to change when a cluster CIDR cannot give each of `maxHosts` hosts a subnet of `hostPrefix`,
 * or undefined when it can. Meant for early validation (the CDK construct, at synth).
 */
export function capacityError(clusterCidr: string, hostPrefix: number, maxHosts: number): string | undefined {
  const plan = subnets(clusterCidr, hostPrefix);
  const clusterPrefix = parseCidr(plan.cluster).prefix;
  checkHostPrefix(hostPrefix, clusterPrefix);
  if (!Number.isInteger(maxHosts) || maxHosts < 1) {
    throw new ValidationError([{ path: 'maxHosts', message: `must be a whole number of at least 1, got ${maxHosts}` }]);
  }
  if (plan.count >= maxHosts) return undefined;
  const bits = Math.ceil(Math.log2(maxHosts));
  const neededCluster = hostPrefix - bits;
  const longerHost = clusterPrefix + bits;
  const advice = [
    neededCluster >= 0 ? `use a /${neededCluster} or larger` : undefined,
    longerHost <= MAX_HOST_PREFIX
      ? `a longer host prefix (/${longerHost} gives ${2 ** bits} subnets of ${containersPerHost(longerHost)} containers)`
      : undefined,
  ].filter((a) => a !== undefined);
  return (
    `cluster CIDR ${plan.cluster} holds ${plan.count} host subnet${plan.count === 1 ? '' : 's'} of /${hostPrefix}, fewer than maxHosts ${maxHosts}: ` +
    (advice.length > 0 ? advice.join(', or ') : `no IPv4 network can hold ${maxHosts} host subnets of /${hostPrefix}; lower maxHosts`)
  );
}

function networkOf(address: number, prefix: number): number {
  const size = 2 ** (32 - prefix);
  return address - (address % size);
}

function checkHostPrefix(hostPrefix: number, clusterPrefix: number): void {
  if (!Number.isInteger(hostPrefix) || hostPrefix < clusterPrefix || hostPrefix > MAX_HOST_PREFIX) {
    throw new ValidationError([
      {
        path: 'hostPrefix',
        message: `must be a whole number from ${clusterPrefix} to ${MAX_HOST_PREFIX}, got ${hostPrefix}: a host subnet spends its network, broadcast and bridge addresses, so a /${MAX_HOST_PREFIX} is the smallest that holds a container`,
      },
    ]);
  }
}

/** The held CIDRs as sorted, merged, inclusive ranges of subnet indexes of `plan`. */
function heldRanges(plan: Subnets, held: Iterable<string>): Array<readonly [number, number]> {
  const cluster = parseCidr(plan.cluster);
  const clusterEnd = cluster.address + cidrSize(cluster) - 1;
  const size = 2 ** (32 - plan.prefixLength);
  const ranges: Array<[number, number]> = [];
  for (const text of held) {
    const h = parseCidr(text, 'held');
    const lo = Math.max(cluster.address, h.address);
    const hi = Math.min(clusterEnd, h.address + cidrSize(h) - 1);
    if (lo > hi) continue;
    ranges.push([Math.floor((lo - cluster.address) / size), Math.floor((hi - cluster.address) / size)]);
  }
  ranges.sort((a, b) => a[0] - b[0]);
  const merged: Array<[number, number]> = [];
  for (const r of ranges) {
    const last = merged[merged.length - 1];
    if (last !== undefined && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
    else merged.push([r[0], r[1]]);
  }
  return merged;
}
