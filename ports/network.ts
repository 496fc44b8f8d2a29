/**
 * Ports of the container network (docs/network.md): each host gets a container subnet carved from
 * the cluster CIDR, and the VPC routes that subnet to the host, so container addresses are unique
 * and routable across hosts without encapsulation (Flannel's host-gw, kubenet).
 */

/** One host's container subnet. */
export interface SubnetLease {
  readonly hostId: string;
  /** Canonical IPv4 CIDR, `10.200.7.0/24`. */
  readonly cidr: string;
  /** True once `markRouted` recorded that the subnet's routes lead to its host. */
  readonly routed: boolean;
}

/** Hands out host subnets from the cluster CIDR. Two hosts never hold one subnet at the same time. */
export interface SubnetAllocator {
  /** The host's subnet: the one it holds already (idempotent), else a free one it now holds. `LimitError` when none is free. */
  acquire(hostId: string): Promise<string>;
  /** Give up the host's subnet so another host may take it; a no-op when it holds none. */
  release(hostId: string): Promise<void>;
  /** Every held subnet and its host. */
  list(): Promise<SubnetLease[]>;
  /**
   * Record that the routes of the host's `cidr` are made. A no-op (false) when the host no longer
   * holds it; a later claim of the subnet starts unrouted again.
   */
  markRouted(hostId: string, cidr: string): Promise<boolean>;
}

/** Routes each host subnet to its host in the network the hosts share (VPC route tables on AWS). Level-triggered. */
export interface HostRoutes {
  /** Route `cidr` to the host (an EC2 instance id on AWS), replacing a route of `cidr` to anywhere else. */
  ensure(hostId: string, cidr: string): Promise<void>;
  /** Remove the route of `cidr`; a no-op when there is none. */
  remove(cidr: string): Promise<void>;
  /** The tables that hold host routes, and every route they hold now (all destinations), to find drift. */
  list(): Promise<{ readonly tables: readonly string[]; readonly routes: readonly RouteEntry[] }>;
}

/** One route of one table, as the network holds it. */
export interface RouteEntry {
  readonly table: string;
  readonly cidr: string;
  /** The host (instance id) it leads to; absent for a route to anything else (a gateway, NAT). */
  readonly hostId?: string;
  /** The target is gone (a terminated instance): packets are dropped. */
  readonly blackhole: boolean;
}

/** Which hosts' machines are gone for good (terminated instances on AWS): their subnets may be reused. */
export interface HostMachines {
  /** The subset of `hostIds` whose machine no longer exists and never comes back. */
  gone(hostIds: readonly string[]): Promise<Set<string>>;
}
