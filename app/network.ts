/**
 * The network step of a scheduler pass on AWS (docs/network.md, "On AWS, end to end"): give each
 * new host a container subnet and route it there, repair routes that drifted, and take back the
 * subnets of terminated instances (reporting those machines as gone, so the pass can forget their
 * hosts). Level-triggered: every step is idempotent and recorded, so a pass that fails halfway is
 * finished by the next one. A host takes pods only once its subnet is routed.
 */
import type { Host, HostNetwork } from '../core/types.ts';
import { planNetwork, routeDrift, type NetworkPlan } from '../core/network.ts';
import { forEachLimit } from '../core/async.ts';
import type { HostMachines, HostRoutes, SubnetAllocator, SubnetLease } from '../ports/network.ts';

export interface NetworkDeps {
  readonly clusterCidr: string;
  readonly allocator: SubnetAllocator;
  readonly routes: HostRoutes;
  readonly machines: HostMachines;
  /** Clock for the check of suspects; ms since the epoch. */
  readonly now: () => number;
  /**
   * Least time between two asks of the machines about the same down hosts: a stopped instance stays
   * down for hours, and each ask is an EC2 call.
   * @default 60_000
   */
  readonly suspectCheckMs?: number;
  /**
   * Least time between two reads of the route tables to repair drift (a route deleted by hand, a
   * table restored from a template): one DescribeRouteTables call each.
   * @default 300_000
   */
  readonly routeCheckMs?: number;
  readonly log?: (message: string, data?: Record<string, unknown>) => void;
}

export interface NetworkResult {
  /** Each host with a routed subnet: what its document carries. */
  readonly networks: ReadonlyMap<string, HostNetwork>;
  readonly acquired: number;
  readonly routed: number;
  readonly released: number;
  /** Host routes found missing, pointing elsewhere or black-holed, and made again. */
  readonly repaired: number;
  /** Hosts whose step failed this pass (retried by the next); they take no new pods meanwhile. */
  readonly failed: readonly { readonly hostId: string; readonly error: string }[];
  /** Hosts whose machine the machines port said is gone for good, this pass: the pass may forget them. */
  readonly gone: ReadonlySet<string>;
}

/** EC2 calls in flight at once: each `ensure` is 1 + one per route table. */
const CONCURRENCY = 4;

/** What the network step remembers between runs, owned by the caller (the scheduler pass's state). */
export interface NetworkState {
  /** When the route tables were last read for drift (ms). */
  routesCheckedAt?: number;
  /** When the machines were last asked, and about which set of suspects. */
  machinesAsked?: { readonly at: number; readonly key: string };
}

/** One run's working state: the routed subnet by host as it stands, and what happened. */
interface Run {
  readonly deps: NetworkDeps;
  readonly state: NetworkState;
  readonly log: (message: string, data?: Record<string, unknown>) => void;
  readonly routedBy: Map<string, string>;
  readonly failed: { hostId: string; error: string }[];
  acquired: number;
  routed: number;
  released: number;
  repaired: number;
}

/**
 * Runs the network step for `hosts` (every registered host, in any state). `state` paces the EC2
 * reads across runs; a fresh one (the default) reads on this run.
 */
export async function syncNetwork(deps: NetworkDeps, hosts: readonly Pick<Host, 'id' | 'state'>[], state: NetworkState = {}): Promise<NetworkResult> {
  const leases = await deps.allocator.list();
  const plan = planNetwork(hosts, leases);
  const run: Run = { deps, state, log: deps.log ?? (() => {}), routedBy: new Map(plan.routed), failed: [], acquired: 0, routed: 0, released: 0, repaired: 0 };
  await routeNewHosts(run, plan, leases);
  const gone = await releaseGoneMachines(run, plan);
  // Drift: routes of live hosts' subnets that someone removed or changed are made again.
  const liveIds = new Set(hosts.filter((h) => h.state !== 'down').map((h) => h.id));
  await repairDrift(run, new Map([...run.routedBy].filter(([hostId]) => liveIds.has(hostId))));

  for (const f of run.failed) run.log('network step failed for host; retried next pass', { host: f.hostId, error: f.error });
  const networks = new Map<string, HostNetwork>();
  for (const [hostId, subnet] of run.routedBy) networks.set(hostId, { subnet, clusterCidr: deps.clusterCidr });
  return { networks, acquired: run.acquired, routed: run.routed, released: run.released, repaired: run.repaired, failed: run.failed, gone };
}

/** Hosts without a subnet get one, and subnets not yet routed get their routes. */
async function routeNewHosts(run: Run, plan: NetworkPlan, leases: readonly SubnetLease[]): Promise<void> {
  const { deps, log } = run;
  const routeAndMark = async (hostId: string, cidr: string) => {
    // Routes first, then the record: a crash between them only repeats the idempotent ensure.
    await deps.routes.ensure(hostId, cidr);
    if (await deps.allocator.markRouted(hostId, cidr)) {
      run.routedBy.set(hostId, cidr);
      run.routed++;
      log('host subnet routed', { host: hostId, subnet: cidr });
    }
  };
  await forEachLimit(plan.acquire, CONCURRENCY, async (hostId) => {
    try {
      const cidr = await deps.allocator.acquire(hostId);
      const lease = leases.find((l) => l.hostId === hostId && l.cidr === cidr);
      if (!lease) {
        run.acquired++;
        log('host subnet acquired', { host: hostId, subnet: cidr });
      }
      if (lease?.routed) run.routedBy.set(hostId, cidr);
      else await routeAndMark(hostId, cidr);
    } catch (err) {
      run.failed.push({ hostId, error: (err as Error).message });
    }
  });
  await forEachLimit(plan.route, CONCURRENCY, async (lease) => {
    try {
      await routeAndMark(lease.hostId, lease.cidr);
    } catch (err) {
      run.failed.push({ hostId: lease.hostId, error: (err as Error).message });
    }
  });
}

/** Asks about the suspects (paced), and takes back the routes and subnets of machines gone for good. */
async function releaseGoneMachines(run: Run, plan: NetworkPlan): Promise<Set<string>> {
  const { deps, state, log } = run;
  const gone = new Set<string>();
  if (plan.suspect.length === 0) return gone;
  const key = plan.suspect.join(',');
  const last = state.machinesAsked;
  const now = deps.now();
  if (last && last.key === key && now - last.at < (deps.suspectCheckMs ?? 60_000)) return gone;
  state.machinesAsked = { at: now, key };
  try {
    for (const id of await deps.machines.gone(plan.suspect)) gone.add(id);
  } catch (err) {
    // Asked again next pass, whatever the interval.
    state.machinesAsked = undefined;
    run.failed.push({ hostId: plan.suspect[0], error: (err as Error).message });
  }
  for (const hostId of gone) {
    for (const lease of plan.leasesOf.get(hostId) ?? []) {
      try {
        // Routes before the lease: released first, the subnet could go to a new host whose fresh
        // route this late remove would then delete.
        await deps.routes.remove(lease.cidr);
        await deps.allocator.release(hostId);
        run.routedBy.delete(hostId);
        run.released++;
        log('host subnet released', { host: hostId, subnet: lease.cidr });
      } catch (err) {
        run.failed.push({ hostId, error: (err as Error).message });
      }
    }
  }
  return gone;
}

/** Reads the route tables (paced) and makes again the routes of `live` that are missing or wrong. */
async function repairDrift(run: Run, live: ReadonlyMap<string, string>): Promise<void> {
  const { deps, state, log } = run;
  const checkedAt = state.routesCheckedAt;
  if (live.size === 0 || (checkedAt !== undefined && deps.now() - checkedAt < (deps.routeCheckMs ?? 300_000))) return;
  state.routesCheckedAt = deps.now();
  try {
    const drifted = routeDrift(live, await deps.routes.list());
    await forEachLimit(drifted, CONCURRENCY, async ({ hostId, cidr }) => {
      try {
        await deps.routes.ensure(hostId, cidr);
        run.repaired++;
        log('host subnet route repaired', { host: hostId, subnet: cidr });
      } catch (err) {
        run.failed.push({ hostId, error: (err as Error).message });
      }
    });
  } catch (err) {
    // Read again next pass, whatever the interval.
    state.routesCheckedAt = undefined;
    run.failed.push({ hostId: [...live.keys()][0], error: (err as Error).message });
  }
}
