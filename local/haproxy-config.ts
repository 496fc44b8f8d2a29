/**
 * The HAProxy data plane's configuration: a pure function from the route table (the same
 * `IngressRoute[]` the Node proxy gets) to an `haproxy.cfg` text. `local/haproxy.ts` writes it and
 * reloads HAProxy; tests read it and run `haproxy -c` on it.
 *
 * The Node proxy (local/proxy.ts) is the reference; this file says where HAProxy does the same:
 * - Routing: one frontend with the plain and the HTTPS bind; `use_backend` rules in
 *   `routeOrder` (core/ingress-match.ts), so the first rule that matches is the route
 *   `matchRoute` would pick: exact hosts, then wildcards (longest suffix first), longest path
 *   first; a path prefix matches segment-wise (`path /api` or `path_beg /api/`).
 * - One backend per route, named `skiff.<namespace>.<service>` (`.2`, `.3`... for a service's
 *   further routes): `requestCountsFromStat` reads the counts per service back from the names.
 *   Its servers are a pool of slots `s1`..`sN` (local/haproxy-slots.ts): the replicas, and free
 *   slots in maintenance that the runtime API fills when replicas come, without a reload.
 * - Affinity: HAProxy's inserted cookie, named `skiff-affinity` like the Node proxy's; its value is
 *   HAProxy's dynamic cookie (a hash of the replica's address and port), not the task id: a
 *   server's cookie cannot be changed at runtime, and a slot holds different replicas over time.
 * - Refused connections: `retry-on conn-failure empty-response` with `option redispatch 1`, so a
 *   retry goes to another replica; a replica that closed without answering is retried only for
 *   idempotent methods (`disable-l7-retry` for the others), as the Node proxy does.
 * - HAProxy's own answers are the Node proxy's JSON `{ "error", "message" }`, naming the host and
 *   service but nothing inside; a plain request for a `tls` route gets a 308 to the HTTPS port.
 */
import { routeOrder, wildcardSuffix } from '../core/ingress-match.ts';
import type { IngressRoute } from '../ports/index.ts';
import { type Layout, layoutForReload, routeKey, type Slot } from './haproxy-slots.ts';
import { AFFINITY_COOKIE } from './proxy.ts';

/** The key HAProxy hashes with a replica's address and port into its affinity cookie: fixed, so a cookie stays valid across restarts (it pins, it does not authenticate). */
const AFFINITY_KEY = 'skiff-affinity';

export interface HaproxyConfigOptions {
  /** Address both listeners bind. @default '127.0.0.1' */
  readonly address?: string;
  /** Port of the plain HTTP listener (HAProxy cannot bind port 0: pick one first). */
  readonly port: number;
  /** The HTTPS listener: its port, the certificate for clients that send no known name, and a crt-list file (one certificate per host). */
  readonly https?: { readonly port: number; readonly defaultCertificate: string; readonly crtList: string };
  /** The workers' stats socket (request counts, and the listeners handed over on a reload). */
  readonly statsSocket: string;
  /** @default 2000 */
  readonly connectTimeoutMs?: number;
  /** A replica silent this long gets a 504 (the ALB's idle timeout, as the Node proxy). @default 60000 */
  readonly replicaTimeoutMs?: number;
  /** A client must send its request headers within this long. @default 10000 */
  readonly headersTimeoutMs?: number;
  /** An old worker left after a reload closes what it still holds after this long. @default 60000 */
  readonly hardStopAfterMs?: number;
  /** Client connections at once. @default 256 */
  readonly maxConnections?: number;
}

/** HAProxy's names (backends, servers, cookie values) take these characters. */
const NAME = /^[A-Za-z0-9_.:-]+$/;
/** Host names as the spec parser accepts them (lowercase labels), exact or `*.` wildcard. */
const HOST = /^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;
/** DNS labels: namespace and service names. */
const LABEL = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
/** An IPv4 address: targets are published ports on 127.0.1.x locally. */
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

const JSON_TYPE = '"application/json; charset=utf-8"';

/** The backend that serves route `index` of service `namespace/service` (`n` counts that service's routes from 1). */
export function backendName(namespace: string, service: string, n: number): string {
  return `skiff.${namespace}.${service}${n === 1 ? '' : `.${n}`}`;
}

/**
 * Each route's backend name, keyed by `routeKey`. Names follow the table sorted by host and path,
 * so a route keeps its name when others come and go.
 */
export function backendNames(routes: readonly IngressRoute[]): Map<string, string> {
  const names = new Map<string, string>();
  const perService = new Map<string, number>();
  for (const r of [...routes].sort((a, b) => cmp(a.host, b.host) || cmp(a.path ?? '/', b.path ?? '/'))) {
    const key = `${r.namespace}/${r.service}`;
    const n = (perService.get(key) ?? 0) + 1;
    perService.set(key, n);
    names.set(routeKey(r), backendName(r.namespace, r.service, n));
  }
  return names;
}

/**
 * The haproxy.cfg text for `routes`, with each backend's servers as `layout` places the replicas
 * in slots (local/haproxy-slots.ts; by default, the targets in order in fresh pools). Throws, naming the route, on a value that cannot go into a
 * configuration safely (the spec parser refuses them all before; this is the last guard).
 */
export function haproxyConfig(routes: readonly IngressRoute[], options: HaproxyConfigOptions, layout?: Layout): string {
  const address = options.address ?? '127.0.0.1';
  const sorted = [...routes].sort(routeOrder);
  for (const r of sorted) check(r);
  const seen = new Set<string>();
  for (const r of sorted) {
    const key = `${r.host} ${r.path ?? '/'}`;
    if (seen.has(key)) throw new Error(`two routes for host ${r.host}${(r.path ?? '/') === '/' ? '' : ` and path ${r.path}`}`);
    seen.add(key);
  }
  const byKey = backendNames(routes);
  const names = new Map<IngressRoute, string>(routes.map((r) => [r, byKey.get(routeKey(r))!]));
  const pools = layout ?? layoutForReload(new Map(), routes);

  const ms = (v: number | undefined, fallback: number): string => `${v ?? fallback}ms`;
  const out: string[] = [];
  out.push(
    '# Written by skiff (local/haproxy-config.ts) from the route table; rewritten on every route change.',
    'global',
    `  stats socket ${options.statsSocket} mode 600 level admin expose-fd listeners`,
    `  hard-stop-after ${ms(options.hardStopAfterMs, 60_000)}`,
    '  ssl-default-bind-options ssl-min-ver TLSv1.2',
    '',
    'defaults',
    '  mode http',
    '  option http-keep-alive',
    `  timeout connect ${ms(options.connectTimeoutMs, 2000)}`,
    `  timeout server ${ms(options.replicaTimeoutMs, 60_000)}`,
    `  timeout http-request ${ms(options.headersTimeoutMs, 10_000)}`,
    '  timeout client 60s',
    '  timeout http-keep-alive 5s',
    // A reload's old worker keeps its idle client connections until it has answered one more request
    // on each (with `Connection: close`), instead of closing them as a request may be arriving: the
    // requests that failed under reloads every 500 ms (docs/load-balancing.md).
    '  option idle-close-on-response',
    // Upgraded connections (WebSocket) have no idle limit in the Node proxy either.
    '  timeout tunnel 1h',
    '  retry-on conn-failure empty-response',
    '  option redispatch 1',
    '',
    'frontend skiff',
    `  bind ${address}:${options.port}`,
  );
  if (options.https) {
    out.push(`  bind ${address}:${options.https.port} ssl crt ${options.https.defaultCertificate} crt-list ${options.https.crtList} alpn h2,http/1.1`);
  }
  out.push(
    `  maxconn ${options.maxConnections ?? 256}`,
    // The host as the Node proxy's hostName, without port, lowercase; a trailing dot is matched by
    // the ACLs below (a regsub here would cost every request a regular expression).
    '  http-request set-var(txn.host) req.hdr(host),host_only,lower',
    // Forwarding headers are the proxy's own, never the client's: one pass over the headers drops
    // the client's, and the proxy's are added (add-header, not set-header, which would scan again).
    '  http-request del-header ^(forwarded|x-forwarded-(for|host|proto|port|prefix)|x-real-ip)$ -m reg',
    '  http-request add-header x-forwarded-for %[src]',
    '  http-request add-header x-real-ip %[src]',
    '  http-request add-header x-forwarded-proto https if { ssl_fc }',
    '  http-request add-header x-forwarded-proto http if !{ ssl_fc }',
    '  http-request add-header x-forwarded-host %[req.hdr(host)]',
    '  http-request add-header x-forwarded-port %[dst_port]',
    '  http-request add-header forwarded for=%[src];proto=https if { ssl_fc }',
    '  http-request add-header forwarded for=%[src];proto=http if !{ ssl_fc }',
    // A replica that closed without answering may have acted on the request: only methods a retry
    // cannot harm are retried then, as in the Node proxy (a refused connection is retried whatever the method).
    '  http-request disable-l7-retry unless { method GET HEAD OPTIONS PUT DELETE }',
  );
  sorted.forEach((r, i) => {
    const suffix = wildcardSuffix(r.host);
    out.push(suffix === undefined ? `  acl host${i} var(txn.host) -m str ${r.host} ${r.host}.` : `  acl host${i} var(txn.host) -m end .${suffix} .${suffix}.`);
    if (r.path !== undefined && r.path !== '/') out.push(`  acl path${i} path ${quote(r.path)}`, `  acl path${i} path_beg ${quote(`${r.path}/`)}`);
  });
  sorted.forEach((r, i) => {
    out.push(`  use_backend ${names.get(r)} if host${i}${r.path !== undefined && r.path !== '/' ? ` path${i}` : ''}`);
  });
  out.push('  default_backend skiff.notfound', '');

  for (const r of sorted) out.push(...backend(r, names.get(r)!, pools.get(routeKey(r)) ?? [], options.https?.port), '');

  // No route: the Node proxy's 404, saying whether the host has routes for other paths.
  out.push('backend skiff.notfound');
  const exact = [...new Set(sorted.filter((r) => wildcardSuffix(r.host) === undefined).map((r) => r.host))];
  const wild = [...new Set(sorted.flatMap((r) => wildcardSuffix(r.host) ?? []))];
  if (exact.length > 0) out.push(`  acl known var(txn.host) -m str ${exact.flatMap((h) => [h, `${h}.`]).join(' ')}`);
  if (wild.length > 0) out.push(`  acl known var(txn.host) -m end ${wild.flatMap((s) => [`.${s}`, `.${s}.`]).join(' ')}`);
  const notFound = (message: string): string => `  http-request return status 404 content-type ${JSON_TYPE} lf-string ${jsonAnswer('NotFound', message)}`;
  if (exact.length + wild.length > 0) out.push(`${notFound('no service has ingress host %[var(txn.host),json(utf8s)] for path %[path,json(utf8s)]')} if known`);
  out.push(notFound('no service has ingress host %[var(txn.host),json(utf8s)]'), '');
  return out.join('\n');
}

function backend(r: IngressRoute, name: string, slots: readonly Slot[], httpsPort: number | undefined): string[] {
  const service = `${r.namespace}/${r.service}`;
  const host = '%[var(txn.host),json(utf8s)]';
  const lines = [`backend ${name}`];
  if (r.tls !== undefined && httpsPort !== undefined) {
    const location = `https://%[var(txn.host)]${httpsPort === 443 ? '' : `:${httpsPort}`}%[url]`;
    lines.push(`  http-request redirect location ${location} code 308 if !{ ssl_fc }`);
  }
  // Which slots hold replicas changes through the runtime API, so the answers look at the servers
  // in service when they are given (not in maintenance), not at the table's targets. Server by
  // server, not `nbsrv`: an old worker finishing its connections after a reload counts its
  // backends' servers as 0 and would answer this 503 to every request still on them. One `acl`
  // line per slot (lines of one name are ORed): a rule line takes at most 64 words.
  for (const s of slots) lines.push(`  acl skiff_in_service srv_is_up(${name}/${s.server})`);
  lines.push(
    `  http-request return status 503 content-type ${JSON_TYPE} lf-string ${jsonAnswer('ServiceUnavailable', `service ${service} has no healthy replica for host ${host}`)}${slots.length > 0 ? ' if !skiff_in_service' : ''}`,
    '  balance roundrobin',
    // A refused connection is retried on the next server in turn (redispatch), once per replica
    // the pool was sized for (half its slots) but one. Not once per slot: the replicas in service
    // change without a reload, and when the retry can only go to the same server HAProxy waits
    // 1 s before each, so a lone refusing replica would hold its 503 for seconds.
    `  retries ${Math.max(1, Math.floor(slots.length / 2) - 1)}`,
    `  http-error status 503 content-type ${JSON_TYPE} lf-string ${jsonAnswer('ServiceUnavailable', `service ${service} has no replica accepting connections for host ${host}: all %[nbsrv] refused`)}`,
    `  http-error status 502 content-type ${JSON_TYPE} lf-string ${jsonAnswer('BadGateway', `no replica of service ${service} answered for host ${host}`)}`,
    `  http-error status 504 content-type ${JSON_TYPE} lf-string ${jsonAnswer('GatewayTimeout', `a replica of service ${service} did not answer in time for host ${host}`)}`,
  );
  // The cookie's value is derived from the replica's address and port (HAProxy's dynamic cookies,
  // computed again when a slot's address changes), so it follows the replica from slot to slot
  // and across restarts; a server's cookie cannot be set through the runtime API.
  if (r.sessionAffinity)
    lines.push(`  cookie ${AFFINITY_COOKIE} insert indirect httponly attr SameSite=Lax attr Path=/ dynamic`, `  dynamic-cookie-key ${AFFINITY_KEY}`);
  // Free slots wait in maintenance at an address nothing is sent to.
  for (const s of slots)
    lines.push(s.target === undefined ? `  server ${s.server} 127.0.0.1:1 disabled` : `  server ${s.server} ${s.target.ip}:${s.target.port}`);
  return lines;
}

/** Refuses what could break out of the configuration's syntax, naming the route and the value. */
function check(r: IngressRoute): void {
  const route = `route ${r.host}${r.path ?? ''} of ${r.namespace}/${r.service}`;
  if (!HOST.test(r.host)) throw new Error(`${route}: host ${JSON.stringify(r.host)} is not a lowercase host name (or *.suffix) HAProxy can match`);
  if (r.path !== undefined && !/^\/[A-Za-z0-9\-._~/$@:+'"]*$/.test(r.path))
    throw new Error(`${route}: path ${JSON.stringify(r.path)} is not an ingress path prefix`);
  if (!LABEL.test(r.namespace) || !LABEL.test(r.service)) throw new Error(`${route}: namespace and service must be DNS labels`);
  for (const t of r.targets) {
    if (!NAME.test(t.taskId)) throw new Error(`${route}: task id ${JSON.stringify(t.taskId)} has characters HAProxy does not take in a server name`);
    if (!IPV4.test(t.ip)) throw new Error(`${route}: target ${t.taskId} address ${JSON.stringify(t.ip)} is not an IPv4 address`);
    if (!Number.isInteger(t.port) || t.port < 1 || t.port > 65535) throw new Error(`${route}: target ${t.taskId} port ${t.port} is not a TCP port`);
  }
}

/** A double-quoted configuration word: `\`, `"`, `$` (environment variables) and `'` escaped. */
function quote(text: string): string {
  return `"${text.replace(/[\\"$']/g, '\\$&')}"`;
}

/** A log-format string for `{"error":...,"message":...}` and a newline; `%[...]` in `message` are HAProxy samples. */
function jsonAnswer(error: string, message: string): string {
  // JSON.stringify of the literal parts; the samples (already JSON-escaped by json(utf8s)) stay as they are.
  const body = `{"error":${JSON.stringify(error)},"message":"${message.replace(/"/g, '\\"')}"}`;
  return `"${body.replace(/[\\"]/g, '\\$&')}\\n"`;
}

/**
 * Requests per service from `show stat` (CSV): each backend's `req_tot` (HTTP requests it
 * handled), summed over a service's backends and keyed `namespace/service`, as the Node proxy's
 * `requestCounts`.
 */
export function requestCountsFromStat(csv: string): Record<string, number> {
  const lines = csv.split('\n').filter((l) => l.trim() !== '');
  const header = lines.find((l) => l.startsWith('# '));
  if (!header) throw new Error(`show stat printed no header line: ${JSON.stringify(csv.slice(0, 200))}`);
  const columns = header.slice(2).split(',');
  const [px, sv, req] = ['pxname', 'svname', 'req_tot'].map((c) => columns.indexOf(c));
  if (px < 0 || sv < 0 || req < 0) throw new Error(`show stat has no pxname, svname or req_tot column: ${header}`);
  const counts: Record<string, number> = {};
  for (const line of lines) {
    if (line.startsWith('#')) continue;
    const cells = line.split(',');
    if (cells[sv] !== 'BACKEND') continue;
    const m = /^skiff\.([a-z0-9-]+)\.([a-z0-9-]+)(\.\d+)?$/.exec(cells[px]);
    if (!m) continue;
    const key = `${m[1]}/${m[2]}`;
    counts[key] = (counts[key] ?? 0) + (Number(cells[req]) || 0);
  }
  return counts;
}

/** Sessions open on each server (`scur`), keyed `backend/server`, from `show stat` (CSV): when a leaving replica's slot is free again. */
export function serverSessionsFromStat(csv: string): Map<string, number> {
  const lines = csv.split('\n').filter((l) => l.trim() !== '');
  const header = lines.find((l) => l.startsWith('# '));
  if (!header) throw new Error(`show stat printed no header line: ${JSON.stringify(csv.slice(0, 200))}`);
  const columns = header.slice(2).split(',');
  const [px, sv, scur] = ['pxname', 'svname', 'scur'].map((c) => columns.indexOf(c));
  if (px < 0 || sv < 0 || scur < 0) throw new Error(`show stat has no pxname, svname or scur column: ${header}`);
  const sessions = new Map<string, number>();
  for (const line of lines) {
    if (line.startsWith('#')) continue;
    const cells = line.split(',');
    if (cells[sv] === 'BACKEND' || cells[sv] === 'FRONTEND' || !cells[px].startsWith('skiff.')) continue;
    sessions.set(`${cells[px]}/${cells[sv]}`, Number(cells[scur]) || 0);
  }
  return sessions;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
