/**
 * Bookkeeping of the routed container network (docs/network.md): which hosts still need a subnet,
 * which leases still need their routes, and which leases may belong to instances that are gone.
 * Pure: the hosts and the allocator's leases in, the work to do out.
 */
import type { Host } from './types.ts';
import type { RouteEntry, SubnetLease } from '../ports/network.ts';

export interface NetworkPlan {
  /**
   * Hosts that are not down and hold no subnet, or more than one (a crash mid-undo leaves an
   * orphan claim; the allocator's idempotent acquire says which one is theirs).
   */
  readonly acquire: readonly string[];
  /** The single lease of each host that is not down, whose routes are not recorded as made. */
  readonly route: readonly SubnetLease[];
  /**
   * Hosts whose machine may be gone for good: the down ones, and lease holders no longer
   * registered. Their leases are released (and down hosts forgotten) only once the machine is
   * known to be gone: a fenced host that comes back still has containers on its subnet.
   */
  readonly suspect: readonly string[];
  /** Every lease, by host. */
  readonly leasesOf: ReadonlyMap<string, readonly SubnetLease[]>;
  /** Each host with exactly one routed lease, and that lease's subnet: the hosts pods may run on. */
  readonly routed: ReadonlyMap<string, string>;
}

/**
 * The routed subnets whose routes have drifted: missing from a table, leading to another host, or a
 * black hole. Routes of other destinations are not Skiff's and are ignored.
 */
export function routeDrift(
  routed: ReadonlyMap<string, string>,
  current: { readonly tables: readonly string[]; readonly routes: readonly RouteEntry[] },
): { hostId: string; cidr: string }[] {
  const { tables, routes } = current;
  const held = new Map(routes.map((r) => [`${r.table} ${r.cidr}`, r]));
  const drifted: { hostId: string; cidr: string }[] = [];
  for (const [hostId, cidr] of [...routed].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
    const ok = tables.every((table) => {
      const route = held.get(`${table} ${cidr}`);
      return route !== undefined && route.hostId === hostId && !route.blackhole;
    });
    if (!ok) drifted.push({ hostId, cidr });
  }
  return drifted;
}

/** What the network step must do for `hosts`, given every lease the allocator lists. */
export function planNetwork(hosts: readonly Pick<Host, 'id' | 'state'>[], leases: readonly SubnetLease[]): NetworkPlan {
  const byHost = new Map<string, SubnetLease[]>();
  for (const lease of leases) (byHost.get(lease.hostId) ?? byHost.set(lease.hostId, []).get(lease.hostId)!).push(lease);
  const state = new Map(hosts.map((h) => [h.id, h.state]));

  const acquire: string[] = [];
  const route: SubnetLease[] = [];
  const suspect = new Set<string>();
  const routed = new Map<string, string>();
  for (const host of [...hosts].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
    const held = byHost.get(host.id) ?? [];
    if (held.length === 1 && held[0].routed) routed.set(host.id, held[0].cidr);
    if (host.state === 'down') {
      suspect.add(host.id);
      continue;
    }
    if (held.length !== 1) acquire.push(host.id);
    else if (!held[0].routed) route.push(held[0]);
  }
  for (const lease of leases) if (!state.has(lease.hostId)) suspect.add(lease.hostId);
  return { acquire, route, suspect: [...suspect].sort(), leasesOf: byHost, routed };
}
