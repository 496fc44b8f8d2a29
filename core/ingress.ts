/**
 * Load-balancer target sets: which replicas each ingress host sends requests to. Pure: the
 * scheduler pass computes the routes from the store and hands them to a `LoadBalancer` (the
 * embedded proxy locally, the ALB on AWS), level-triggered.
 */
import type { IngressRoute } from '../ports/index.ts';
import type { Service, TaskView } from './types.ts';

type Target = IngressRoute['targets'][number];

/**
 * The routes of every service with an ingress (one per host and path), sorted by host, then path. A replica is a target while it
 * should run (`desired: running`), runs, is healthy (or has no probe) and has its ingress port
 * published; targets are sorted by task id.
 */
export function ingressRoutes(services: readonly Service[], tasks: readonly TaskView[]): IngressRoute[] {
  const byService = new Map<string, TaskView[]>();
  for (const t of tasks) {
    const key = serviceKey(t.namespace, t.service);
    const list = byService.get(key);
    if (list) list.push(t);
    else byService.set(key, [t]);
  }

  // The API refuses a second service for a host and path, but two concurrent applies can both pass
  // that check; the older claim keeps it so that the winner does not flip from pass to pass.
  const claims = services
    .filter((s) => s.spec.spec.ingress !== undefined && !s.deleting)
    .sort((a, b) => compare(a.createdAt, b.createdAt) || compare(serviceKey(a.namespace, a.name), serviceKey(b.namespace, b.name)));

  const routes = new Map<string, IngressRoute>();
  for (const s of claims) {
    const ingress = s.spec.spec.ingress!;
    const key = `${ingress.host} ${ingress.path ?? '/'}`;
    if (routes.has(key)) continue;
    const targets = (byService.get(serviceKey(s.namespace, s.name)) ?? [])
      .flatMap((t): Target[] => {
        if (!servesTraffic(t)) return [];
        const endpoint = publishedEndpoint(t, ingress.port);
        return endpoint ? [{ taskId: t.id, ...endpoint }] : [];
      })
      .sort((a, b) => compare(a.taskId, b.taskId) || compare(a.ip, b.ip) || a.port - b.port);
    routes.set(key, {
      host: ingress.host,
      ...(ingress.path !== undefined && ingress.path !== '/' ? { path: ingress.path } : {}),
      ...(ingress.tls !== undefined ? { tls: ingress.tls } : {}),
      namespace: s.namespace,
      service: s.name,
      sessionAffinity: ingress.sessionAffinity,
      targets,
    });
  }
  return [...routes.values()].sort((a, b) => compare(a.host, b.host) || compare(a.path ?? '/', b.path ?? '/'));
}

/**
 * A replica takes requests once it runs and is healthy. A task whose desired state is shutdown is
 * left out while it still runs, so that the load balancer stops sending to it before it stops.
 */
function servesTraffic(t: TaskView): boolean {
  return t.desired === 'running' && t.state === 'running' && t.host !== null && (t.health === undefined || t.health === 'healthy');
}

/** Where the task's host publishes `containerPort` over tcp; an IPv4 binding when there are several. */
function publishedEndpoint(t: TaskView, containerPort: number): { ip: string; port: number } | undefined {
  const bindings = t.ports
    .filter((p) => p.containerPort === containerPort && p.protocol === 'tcp' && p.hostIp !== '' && p.hostPort > 0)
    // Docker lists one binding per address family when a port is published on every address.
    .sort((a, b) => Number(a.hostIp.includes(':')) - Number(b.hostIp.includes(':')) || compare(a.hostIp, b.hostIp) || a.hostPort - b.hostPort);
  const first = bindings[0];
  return first ? { ip: first.hostIp, port: first.hostPort } : undefined;
}

function serviceKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/** Code-unit order, the same on every machine (localeCompare depends on the locale). */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
