/**
 * Names and routes follow the replicas: compute the DNS records and ingress routes the cluster
 * should have from the current tasks (only running, healthy replicas), and hand them to the DNS
 * zone and the load balancer. Both ports are level-triggered, and an unchanged set is not sent
 * again, so running this often costs reads only.
 */
import type { DnsZone, LoadBalancer, Store } from '../ports/index.ts';
import { dnsRecords, type Addressing } from '../core/discovery.ts';
import { ingressRoutes } from '../core/ingress.ts';
import { taskViews } from '../core/views.ts';
import { stableStringify } from '../core/json.ts';

export interface DiscoveryDeps {
  readonly store: Store;
  readonly zone?: { readonly name: string; readonly ttl: number; readonly port: DnsZone };
  readonly loadBalancer?: LoadBalancer;
  /** What names lead to (core/discovery.ts). @default 'host' */
  readonly addressing?: Addressing;
}

export interface DiscoveryResult {
  readonly records: number;
  readonly routes: number;
  readonly dnsChanged: boolean;
  readonly routesChanged: boolean;
}

/** Last sets handed over, per process: the ports are level-triggered, this only saves calls. */
const last = new WeakMap<object, { dns?: string; routes?: string }>();

export async function runDiscoverySync(deps: DiscoveryDeps): Promise<DiscoveryResult> {
  const [services, tasks, statuses, hosts] = await Promise.all([deps.store.listServices(), deps.store.listAllTasks(), deps.store.listHostStatuses(), deps.store.listHosts()]);
  const views = taskViews(tasks, statuses, hosts);
  const memo = last.get(deps) ?? {};
  last.set(deps, memo);

  let dnsChanged = false;
  let records = 0;
  if (deps.zone) {
    const desired = dnsRecords(deps.zone.name, services, views, deps.zone.ttl, deps.addressing);
    records = desired.length;
    const key = stableStringify(desired);
    if (key !== memo.dns) {
      await deps.zone.port.sync(desired);
      memo.dns = key;
      dnsChanged = true;
    }
  }
  let routesChanged = false;
  let routes = 0;
  if (deps.loadBalancer) {
    const desired = ingressRoutes(services, views);
    routes = desired.length;
    const key = stableStringify(desired);
    if (key !== memo.routes) {
      await deps.loadBalancer.sync(desired);
      memo.routes = key;
      routesChanged = true;
    }
  }
  return { records, routes, dnsChanged, routesChanged };
}
