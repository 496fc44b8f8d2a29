/**
 * The local load balancer: an HTTP reverse proxy on 127.0.0.1, in plain Node (no IPVS, no
 * iptables), standing in for the Application Load Balancer. It routes by the Host header to the
 * healthy replicas of the service that owns the host, round robin, where each replica's host
 * publishes its ingress port (127.0.1.i:<host port>).
 *
 * - `sync(routes)` swaps the whole route table at once (level-triggered, like every port): a
 *   replica left out stops getting new requests immediately; requests in flight finish.
 * - Session affinity: a `skiff-affinity=<task id>` cookie keeps a client on one replica while
 *   that replica is a target; otherwise the client gets another replica and a new cookie.
 * - Passive health: a replica that refuses a connection is skipped for `passiveHealthMs`, and the
 *   request is retried on another replica when that is safe (see `retryable`).
 * - Bodies stream both ways; nothing is buffered.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { IngressRoute, LoadBalancer } from '../ports/index.ts';

/** The cookie that pins a client to a replica when the route asks for session affinity. */
export const AFFINITY_COOKIE = 'skiff-affinity';

export interface ProxyOptions {
  /** Address to listen on. @default '127.0.0.1' */
  readonly host?: string;
  /** Port to listen on; 0 picks a free one. @default 0 */
  readonly port?: number;
  /** How long a replica that refused a connection is skipped. @default 2000 */
  readonly passiveHealthMs?: number;
  /** A connection to a replica not established by then counts as refused. @default 2000 */
  readonly connectTimeoutMs?: number;
  /** Idle keep-alive connections to replicas are closed after this long. @default 15000 */
  readonly idleSocketMs?: number;
  /** Monotonic clock in milliseconds, for passive health. @default performance.now */
  readonly now?: () => number;
}

const OPTION_KEYS = new Set(['host', 'port', 'passiveHealthMs', 'connectTimeoutMs', 'idleSocketMs', 'now']);

export interface Proxy extends LoadBalancer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** The route table in force (a snapshot), for status and benchmarks. */
  routes(): IngressRoute[];
  /** Stops listening, drops every connection (both sides) and waits for the server to close. */
  close(): Promise<void>;
}

type Target = IngressRoute['targets'][number];

interface RouteEntry {
  readonly route: IngressRoute;
  /** Round-robin position; kept across syncs of the same host. */
  next: number;
}

/**
 * Headers of one connection, not of the message (RFC 9110 §7.6.1), plus `expect`: the proxy has
 * answered a client's `100-continue` itself.
 */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect'];

/** Methods a retry cannot turn into a different outcome (RFC 9110 §9.2.2), whatever the server did with the first try. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/** Errors that mean no connection to the replica was made, so the request never reached it. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);

/** Errors of a connection that ended before any response byte. */
const CUT_OFF = new Set(['ECONNRESET', 'EPIPE']);

/** Starts the proxy; `sync` it with the routes to serve (it starts with none and answers 404). */
export async function startProxy(options: ProxyOptions = {}): Promise<Proxy> {
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key)) throw new TypeError(`unknown proxy option "${key}"; known: ${[...OPTION_KEYS].join(', ')}`);
  }
  const passiveHealthMs = options.passiveHealthMs ?? 2000;
  const connectTimeoutMs = options.connectTimeoutMs ?? 2000;
  const now = options.now ?? (() => performance.now());

  let table = new Map<string, RouteEntry>();
  /** Replicas that refused a connection, by `ip:port`, until when they are skipped. */
  const refusedUntil = new Map<string, number>();
  const agent = new http.Agent({ keepAlive: true, timeout: options.idleSocketMs ?? 15_000, scheduling: 'lifo' });

  const server = http.createServer((req, res) => {
    try {
      route(req, res);
    } catch (err) {
      // A bug here must not take the proxy down with every other client's request.
      if (!res.headersSent) reply(res, 500, 'InternalError', `the proxy failed: ${(err as Error).message}`);
      else res.destroy();
    }
  });

  function route(req: http.IncomingMessage, res: http.ServerResponse): void {
    const hostHeader = req.headers.host;
    if (!hostHeader) return reply(res, 400, 'BadRequest', 'the request has no Host header: the proxy routes requests by host name');
    const host = hostName(hostHeader);
    const entry = table.get(host);
    if (!entry) return reply(res, 404, 'NotFound', `no service has ingress host ${host}`);
    const { route: r } = entry;
    const service = `${r.namespace}/${r.service}`;
    const pinned = r.sessionAffinity ? cookie(req.headers.cookie, AFFINITY_COOKIE) : undefined;
    const order = candidates(entry, pinned);
    if (order.length === 0) return reply(res, 503, 'ServiceUnavailable', `service ${service} has no healthy replica for host ${host}`);

    const method = (req.method ?? 'GET').toUpperCase();
    // Without Content-Length or Transfer-Encoding a request has no body (RFC 9112 §6.3).
    const hasBody = req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
    const headers = forwardedHeaders(req, hostHeader);
    let current: http.ClientRequest | undefined;
    let refusals = 0;
    // The client went away: stop the replica's work too.
    res.on('close', () => {
      if (!res.writableFinished) current?.destroy();
    });

    const attempt = (i: number): void => {
      // The next try starts from the previous one's error event, outside the request handler's guard.
      try {
        tryReplica(i);
      } catch (err) {
        if (!res.headersSent) reply(res, 500, 'InternalError', `the proxy failed: ${(err as Error).message}`);
        else res.destroy();
      }
    };
    const tryReplica = (i: number): void => {
      const target = order[i];
      let bodySent = false;
      let answered = false;
      let connectTimer: NodeJS.Timeout | undefined;
      const upstream = http.request({ host: target.ip, port: target.port, method, path: req.url, headers, agent });
      current = upstream;
      const sendBody = (): void => {
        if (!hasBody) return;
        bodySent = true;
        req.pipe(upstream);
      };
      upstream.on('socket', (socket) => {
        if (!socket.connecting) return sendBody();
        connectTimer = setTimeout(() => upstream.destroy(Object.assign(new Error(`connect to ${target.ip}:${target.port} timed out`), { code: 'ETIMEDOUT' })), connectTimeoutMs);
        socket.once('connect', () => {
          clearTimeout(connectTimer);
          // The body is read from the client only once a replica has accepted the connection, so
          // that a refused connection leaves it unread and the request can go elsewhere whole.
          sendBody();
        });
      });
      if (!hasBody) upstream.end();

      upstream.on('response', (answer) => {
        answered = true;
        clearTimeout(connectTimer);
        const out: http.OutgoingHttpHeaders = withoutHopByHop(answer.headers);
        if (r.sessionAffinity && pinned !== target.taskId) {
          const own = answer.headers['set-cookie'] ?? [];
          out['set-cookie'] = [...own, `${AFFINITY_COOKIE}=${target.taskId}; Path=/; HttpOnly; SameSite=Lax`];
        }
        res.writeHead(answer.statusCode ?? 502, answer.statusMessage, out);
        answer.pipe(res);
        answer.on('close', () => {
          // The replica cut the body short: the client must see a broken response, not a short one.
          if (!answer.complete) res.destroy();
        });
      });

      upstream.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(connectTimer);
        if (answered || res.destroyed) return void res.destroy();
        const code = err.code ?? '';
        const notConnected = NOT_CONNECTED.has(code);
        // A reset on a fresh connection is the replica (or Docker's port proxy in front of a dead
        // container) turning us away; on a reused keep-alive connection it is the ordinary race
        // with the replica closing an idle connection, and says nothing about its health.
        if (notConnected || (CUT_OFF.has(code) && !upstream.reusedSocket)) {
          refusedUntil.set(endpoint(target), now() + passiveHealthMs);
          refusals++;
        }
        const retryable = !bodySent && (notConnected || (CUT_OFF.has(code) && IDEMPOTENT.has(method)));
        if (retryable && i + 1 < order.length) return attempt(i + 1);
        if (retryable && refusals === order.length) {
          return reply(res, 503, 'ServiceUnavailable', `service ${service} has no replica accepting connections for host ${host}: all ${order.length} refused`);
        }
        if (retryable) return reply(res, 502, 'BadGateway', `no replica of service ${service} answered for host ${host}; the last, ${target.taskId}, failed with ${code}`);
        reply(res, 502, 'BadGateway', `replica ${target.taskId} of service ${service} failed before answering (${code || err.message}); ${method} with a body is not retried`);
      });
    };
    attempt(0);
  }

  /**
   * The replicas to try, in order: the pinned one when it is still a target and not skipped, then
   * the others round robin, then (as a last resort) those recently refused.
   */
  function candidates(entry: RouteEntry, pinned: string | undefined): Target[] {
    const t = now();
    const up: Target[] = [];
    const down: Target[] = [];
    for (const target of entry.route.targets) ((refusedUntil.get(endpoint(target)) ?? -Infinity) > t ? down : up).push(target);
    const first = pinned === undefined ? -1 : up.findIndex((x) => x.taskId === pinned);
    if (first >= 0) return [up[first], ...up.filter((_, i) => i !== first), ...down];
    if (up.length === 0) return down;
    const start = entry.next % up.length;
    entry.next = (entry.next + 1) % Number.MAX_SAFE_INTEGER;
    return [...up.slice(start), ...up.slice(0, start), ...down];
  }

  async function sync(routes: readonly IngressRoute[]): Promise<void> {
    const next = new Map<string, RouteEntry>();
    for (const r of routes) {
      const host = hostName(r.host);
      if (next.has(host)) {
        const other = next.get(host)!.route;
        throw new Error(`two routes for host ${host}: services ${other.namespace}/${other.service} and ${r.namespace}/${r.service}`);
      }
      next.set(host, { route: r, next: table.get(host)?.next ?? 0 });
    }
    // One assignment: a request sees the old table or the new one, never a mix.
    table = next;
    const live = new Set([...next.values()].flatMap((e) => e.route.targets.map(endpoint)));
    for (const key of refusedUntil.keys()) if (!live.has(key)) refusedUntil.delete(key);
  }

  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  return {
    url: `http://${urlHost}:${address.port}`,
    port: address.port,
    sync,
    routes: () => [...table.values()].map((e) => e.route),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
        agent.destroy();
      }),
  };
}

/** The host name of a Host header: port and trailing dot removed, lowercase. */
export function hostName(header: string): string {
  let host = header.trim();
  if (host.startsWith('[')) host = host.slice(0, host.indexOf(']') + 1 || undefined);
  else host = host.replace(/:\d*$/, '');
  return host.replace(/\.$/, '').toLowerCase();
}

function endpoint(t: Target): string {
  return `${t.ip}:${t.port}`;
}

/** The request's headers for the replica: hop-by-hop ones removed, X-Forwarded-* set, Host kept. */
function forwardedHeaders(req: http.IncomingMessage, hostHeader: string): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = withoutHopByHop(req.headers);
  const client = req.socket.remoteAddress ?? '';
  const prior = req.headers['x-forwarded-for'];
  out['x-forwarded-for'] = prior ? `${Array.isArray(prior) ? prior.join(', ') : prior}, ${client}` : client;
  // The proxy is where requests enter the cluster, and it speaks plain HTTP.
  out['x-forwarded-proto'] = 'http';
  out['x-forwarded-host'] = hostHeader;
  return out;
}

function withoutHopByHop(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = { ...headers };
  // Connection may name more headers that belong to this connection only.
  const named = String(headers.connection ?? '').split(',').map((h) => h.trim().toLowerCase()).filter(Boolean);
  for (const h of [...HOP_BY_HOP, ...named]) delete out[h];
  return out;
}

/** The value of cookie `name` in a Cookie header. */
function cookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function reply(res: http.ServerResponse, status: number, error: string, message: string): void {
  if (res.headersSent || res.destroyed) return void res.destroy();
  const body = `${JSON.stringify({ error, message })}\n`;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
