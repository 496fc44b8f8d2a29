/**
 * Names and routes follow the replicas: compute the DNS records and ingress routes the cluster
 * should have from the current tasks (only running, healthy replicas), and hand them to the DNS
 * zone and the load balancer. Both ports are level-triggered, and an unchanged set is not sent
 * again, so running this often costs reads only.
 *
 * Failures are isolated (docs/discovery.md): a record set or route that fails comes back in the
 * result and the rest is applied; a DNS sync that fails whole does not keep the load balancer
 * from syncing, nor the other way round. When either failed whole, a DiscoverySyncError is thrown
 * after both ran, carrying both results.
 */
import type { DnsSetFailure, DnsZone, LoadBalancer, RouteFailure, Store } from '../ports/index.ts';
import { dnsRecords, type Addressing } from '../core/discovery.ts';
import { ingressRoutes } from '../core/ingress.ts';
import { taskViews } from '../core/views.ts';
import { stableStringify } from '../core/json.ts';
import { SkiffError } from '../core/errors.ts';
import { readTasks } from './task-reads.ts';

export interface DiscoveryDeps {
  readonly store: Store;
  readonly zone?: { readonly name: string; readonly ttl: number; readonly port: DnsZone };
  readonly loadBalancer?: LoadBalancer;
  /** What names lead to (core/discovery.ts). @default 'host' */
  readonly addressing?: Addressing;
  /** Told about each record set or route that failed, once while the failure stays the same. @default ignore */
  readonly warn?: (message: string) => void;
}

export interface DiscoveryResult {
  readonly records: number;
  readonly routes: number;
  readonly dnsChanged: boolean;
  readonly routesChanged: boolean;
  /** Record sets not held as desired (capped or refused); every other set was applied. */
  readonly dnsFailed: readonly DnsSetFailure[];
  /** Routes not served as desired; every other route was synced. */
  readonly routesFailed: readonly RouteFailure[];
  /** DNS changes left for the next run: the sync ran out of its time (Route53Zone `maxSyncMs`). */
  readonly dnsUnfinished?: number;
  /** Why the DNS sync failed whole, when it did. */
  readonly dnsError?: string;
  /** Why the load-balancer sync failed whole, when it did. */
  readonly routesError?: string;
}

/** The DNS or the load-balancer sync (or both) failed whole; the other one ran. `result` has both outcomes. */
export class DiscoverySyncError extends SkiffError {
  override readonly retryable = true;
  readonly result: DiscoveryResult;
  constructor(result: DiscoveryResult, causes: readonly unknown[]) {
    const parts = [result.dnsError && `DNS: ${result.dnsError}`, result.routesError && `load balancer: ${result.routesError}`].filter(Boolean);
    super(`discovery sync failed: ${parts.join('; ')}`, { cause: causes.length === 1 ? causes[0] : new AggregateError(causes) });
    this.name = 'DiscoverySyncError';
    this.result = result;
  }
}

/**
 * Last sets handed over, per process: the ports are level-triggered, this only saves calls. A set
 * with failures that a retry cannot fix (capped, refused, a quota) counts as handed over: it is
 * sent again when the desired set changes, not on every pass.
 */
const last = new WeakMap<object, { dns?: string; routes?: string; warned?: string }>();

/**
 * How long one DNS sync may keep starting Route 53 change batches when it runs after a scheduler
 * pass (Route53Zone `maxSyncMs`): the zone takes one batch at a time, each PENDING up to 60 s, so a
 * big change (3,000 record changes at 2,000 tasks) held the next pass for minutes (docs/scale.md).
 * The rest goes out after the next passes, which do not wait for DNS to place and publish.
 */
export const DNS_SYNC_BUDGET_MS = 10_000;

/** Route failures that the next pass may get through by itself. */
const RETRYABLE_ROUTE_FAILURES = new Set<RouteFailure['reason']>(['conflict', 'unavailable']);

export async function runDiscoverySync(deps: DiscoveryDeps): Promise<DiscoveryResult> {
  // Tasks service by service, not by a Scan that reads the event log too (app/task-reads.ts).
  const [services, statuses, hosts] = await Promise.all([deps.store.listServices(), deps.store.listHostStatuses(), deps.store.listHosts()]);
  const tasks = await readTasks(deps.store, services, hosts);
  const views = taskViews(tasks, statuses, hosts);
  const memo = last.get(deps) ?? {};
  last.set(deps, memo);
  const causes: unknown[] = [];

  let dnsChanged = false;
  let records = 0;
  let dnsFailed: readonly DnsSetFailure[] = [];
  let dnsUnfinished = 0;
  let dnsError: string | undefined;
  if (deps.zone) {
    try {
      const desired = dnsRecords(deps.zone.name, services, views, deps.zone.ttl, deps.addressing);
      records = desired.length;
      const key = stableStringify(desired);
      if (key !== memo.dns) {
        const out = await deps.zone.port.sync(desired);
        dnsFailed = out.failed ?? [];
        dnsUnfinished = out.unfinished ?? 0;
        // A sync cut short by its time is handed over again next run, which continues it.
        memo.dns = dnsUnfinished > 0 ? undefined : key;
        dnsChanged = true;
      }
    } catch (err) {
      memo.dns = undefined;
      dnsError = err instanceof Error ? err.message : String(err);
      causes.push(err);
    }
  }
  let routesChanged = false;
  let routes = 0;
  let routesFailed: readonly RouteFailure[] = [];
  let routesError: string | undefined;
  if (deps.loadBalancer) {
    try {
      const desired = ingressRoutes(services, views);
      routes = desired.length;
      const key = stableStringify(desired);
      if (key !== memo.routes) {
        const out = await deps.loadBalancer.sync(desired);
        routesFailed = out?.failed ?? [];
        memo.routes = routesFailed.some((f) => RETRYABLE_ROUTE_FAILURES.has(f.reason)) ? undefined : key;
        routesChanged = true;
      }
    } catch (err) {
      memo.routes = undefined;
      routesError = err instanceof Error ? err.message : String(err);
      causes.push(err);
    }
  }

  const messages = [
    ...dnsFailed.map((f) => `DNS record set ${f.type} ${f.name} ${f.reason}: ${f.message}`),
    ...routesFailed.map((f) => `ingress ${f.host} of ${f.namespace}/${f.service} not served (${f.reason}): ${f.message}`),
  ];
  const warned = stableStringify(messages);
  if (messages.length > 0 && warned !== memo.warned) for (const m of messages) deps.warn?.(m);
  if (dnsChanged || routesChanged) memo.warned = warned;

  const result: DiscoveryResult = {
    records,
    routes,
    dnsChanged,
    routesChanged,
    dnsFailed,
    routesFailed,
    ...(dnsUnfinished > 0 ? { dnsUnfinished } : {}),
    ...(dnsError !== undefined ? { dnsError } : {}),
    ...(routesError !== undefined ? { routesError } : {}),
  };
  if (causes.length > 0) throw new DiscoverySyncError(result, causes);
  return result;
}
