/**
 * The local load balancer: an HTTP reverse proxy on 127.0.0.1, in plain Node (no IPVS, no
 * iptables), standing in for the Application Load Balancer. It routes by the Host header to the
 * healthy replicas of the service that owns the host, round robin, where each replica's host
 * publishes its ingress port (127.0.1.i:<host port>).
 *
 * - `sync(routes)` swaps the whole route table at once (level-triggered, like every port): a
 *   replica left out stops getting new requests immediately; requests in flight finish, and its
 *   keep-alive connections are closed rather than reused (idle ones at once, busy ones after their
 *   response), so that a leaving replica is drained before the agent signals it.
 * - Session affinity: a `skiff-affinity=<task id>` cookie keeps a client on one replica while
 *   that replica is a target; otherwise the client gets another replica and a new cookie.
 * - Passive health: a replica that refuses a connection is skipped for `passiveHealthMs`, and the
 *   request is retried on another replica when that is safe (see `retryable`).
 * - Bodies stream both ways; nothing is buffered.
 * - Routes by host (exact, then wildcards) and longest path prefix (core/ingress-match.ts).
 * - TLS: with `ca`, a second listener speaks HTTPS (HTTP/2 and HTTP/1.1 by ALPN) with a
 *   certificate per host issued on demand by the local CA; plain HTTP to a `tls` route is redirected.
 * - WebSocket (HTTP/1.1 Upgrade) is passed through to a replica on both listeners; a tunnel to a
 *   replica that leaves is kept for `drainMs`, then closed with a WebSocket close frame.
 * - The edge: a replica that stays silent gets a 504 after `replicaTimeoutMs`; clients that send
 *   their request too slowly are cut (slowloris), over HTTP/2 too (idle sessions, streams whose
 *   request stops arriving: see limitSession, limitStream); client connections are capped; forwarding
 *   headers are the proxy's own, never the client's; error answers carry no internal detail, which
 *   goes to `log` instead. See docs/load-balancing.md for the values and why.
 */
import http from 'node:http';
import http2 from 'node:http2';
import net, { type AddressInfo, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { performance } from 'node:perf_hooks';
import type { IngressRoute, LoadBalancer } from '../ports/index.ts';
import { RouteIndex } from '../core/ingress-match.ts';
import { loadLocalCa, type CaFiles } from './ca.ts';
import { FrameCursor, WS_GOING_AWAY, closeFrame } from './websocket-frames.ts';

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
  /**
   * A replica that sends nothing for this long while a request is in flight is given up on: 504
   * before its response started, the client's connection cut after. The ALB's default idle
   * timeout, so a slow endpoint behaves the same locally and on AWS. @default 60000
   */
  readonly replicaTimeoutMs?: number;
  /**
   * Client connections open at once; one more is closed as soon as it is accepted. Each proxied
   * connection holds up to two descriptors (client and replica) in the control plane's process,
   * whose soft limit is often 1024: 256 leaves half of that to the rest. @default 256
   */
  readonly maxConnections?: number;
  /** A client must send a request's whole header section within this long (slowloris), or gets a 408. @default 10000 */
  readonly headersTimeoutMs?: number;
  /** A client must send a whole request, body included, within this long, or gets a 408 and is cut. @default 60000 */
  readonly requestTimeoutMs?: number;
  /** The local CA's files: when given, an HTTPS listener (h2 and HTTP/1.1) starts on `httpsPort`. */
  readonly ca?: CaFiles;
  /** Port of the HTTPS listener; 0 picks a free one. @default 0 */
  readonly httpsPort?: number;
  /**
   * How long an upgraded connection (WebSocket) to a replica that left the routes is kept, so the
   * replica can finish it itself; then the proxy closes it (a close frame, "going away"). The
   * local drain delay (DRAIN_SECONDS.local). @default 5000
   */
  readonly drainMs?: number;
  /** Where the detail of failures goes (replica, address, cause), kept out of answers. @default a line on stderr */
  readonly log?: (line: string) => void;
  /** Monotonic clock in milliseconds, for passive health. @default performance.now */
  readonly now?: () => number;
}

const OPTION_KEYS = new Set([
  'host',
  'port',
  'passiveHealthMs',
  'connectTimeoutMs',
  'idleSocketMs',
  'replicaTimeoutMs',
  'maxConnections',
  'headersTimeoutMs',
  'requestTimeoutMs',
  'ca',
  'httpsPort',
  'drainMs',
  'log',
  'now',
]);

export interface ProxyServer extends LoadBalancer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** `https://127.0.0.1:<port>` of the HTTPS listener, when the proxy has a CA. */
  readonly httpsUrl?: string;
  readonly httpsPort?: number;
  /** The route table in force (a snapshot), for status and benchmarks. */
  routes(): IngressRoute[];
  /** Requests routed to a replica since the start, by `namespace/service`: what the ALB's RequestCount counts (the autoscaler's request rate). */
  requestCounts(): Record<string, number>;
  /** Stops listening, drops every connection (both sides) and waits for the server to close. */
  close(): Promise<void>;
}

type Target = IngressRoute['targets'][number];

interface RouteEntry {
  readonly host: string;
  readonly path?: string;
  readonly route: IngressRoute;
  /** Round-robin position; kept across syncs of the same host and path. */
  next: number;
}

/** Either listener's request and response: node:http's, or node:http2's compatibility API (h2 and, through it, HTTP/1.1 over TLS). */
type Request = http.IncomingMessage | http2.Http2ServerRequest;
type Response = http.ServerResponse | http2.Http2ServerResponse;

/** How many certificates the HTTPS listener keeps; beyond, the oldest is issued again when asked for. */
const MAX_CERTIFICATES = 1000;

/**
 * Streams one HTTP/2 session may have open at once (Node's default is 2^32 - 1). Each holds a
 * connection to a replica while its request is in flight; the ALB allows 128, nginx 128.
 */
const MAX_STREAMS_PER_SESSION = 100;

/**
 * Headers of one connection, not of the message (RFC 9110 §7.6.1), plus `expect`: the proxy has
 * answered a client's `100-continue` itself.
 */
const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
];

/** Methods a retry cannot turn into a different outcome (RFC 9110 §9.2.2), whatever the server did with the first try. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/** Errors that mean no connection to the replica was made, so the request never reached it. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);

/** Errors of a connection that ended before any response byte. */
const CUT_OFF = new Set(['ECONNRESET', 'EPIPE']);

/** The code of the error the proxy raises on a replica that stayed silent for `replicaTimeoutMs`. */
const SILENT = 'SKIFF_REPLICA_TIMEOUT';

/**
 * Forwarding headers. The proxy is where requests enter the cluster, so nothing a client says
 * about an earlier hop can be checked: these are dropped and set again from the connection.
 * `X-Forwarded-Prefix` is not set, only dropped: replicas' frameworks build URLs from it.
 */
const FORWARDING = ['forwarded', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-forwarded-port', 'x-forwarded-prefix', 'x-real-ip'];

/** Starts the proxy; `sync` it with the routes to serve (it starts with none and answers 404). */
export async function startProxy(options: ProxyOptions = {}): Promise<ProxyServer> {
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key)) throw new TypeError(`unknown proxy option "${key}"; known: ${[...OPTION_KEYS].join(', ')}`);
  }
  const passiveHealthMs = options.passiveHealthMs ?? 2000;
  const connectTimeoutMs = options.connectTimeoutMs ?? 2000;
  const replicaTimeoutMs = positive(options, 'replicaTimeoutMs', 60_000);
  const maxConnections = positive(options, 'maxConnections', 256);
  const headersTimeoutMs = positive(options, 'headersTimeoutMs', 10_000);
  const requestTimeoutMs = positive(options, 'requestTimeoutMs', 60_000);
  if (headersTimeoutMs > requestTimeoutMs) {
    throw new TypeError(`headersTimeoutMs (${headersTimeoutMs}) must not exceed requestTimeoutMs (${requestTimeoutMs}): the headers are part of the request`);
  }
  const log = options.log ?? stderrLog;
  const now = options.now ?? (() => performance.now());
  const requests = new Map<string, number>();

  const drainMs = options.drainMs ?? 5000;
  /** Route entries by `host path`, and their index for matching requests. */
  let entries = new Map<string, RouteEntry>();
  let table = new RouteIndex<RouteEntry>([]);
  /** Upgraded connections (WebSocket) by replica endpoint, so that a leaving replica's are closed after the drain. */
  const tunnels = new Map<string, Set<Tunnel>>();
  let httpsPort: number | undefined;
  /** Replicas that refused a connection, by `ip:port`, until when they are skipped. */
  const refusedUntil = new Map<string, number>();
  const agent = new http.Agent({ keepAlive: true, timeout: options.idleSocketMs ?? 15_000, scheduling: 'lifo' });
  /** `ip:port` of every target in the table: a connection to any other endpoint is not kept for reuse. */
  let targeted = new Set<string>();
  // A leaving replica finishes the requests it has, then its connections close instead of going back
  // to the pool: its host port may be given to a new replica, and a pooled connection would still
  // lead to the old container (Docker's port proxy keeps established connections) until its signal.
  const keepSocketAlive = agent.keepSocketAlive.bind(agent);
  agent.keepSocketAlive = (socket) => targeted.has(`${(socket as Socket).remoteAddress}:${(socket as Socket).remotePort}`) && keepSocketAlive(socket);

  /** The HTTP/1.1 response in progress on each client connection, so a client error knows whether it may still answer. */
  const responses = new WeakMap<Duplex, Response>();
  // Node checks both timeouts on this interval (30 s by default, which would let a slow client
  // hold its connection for up to 30 s more); a scan of at most maxConnections is cheap.
  const connectionsCheckingInterval = Math.max(10, Math.min(1000, Math.floor(headersTimeoutMs / 4)));
  const server = http.createServer(
    {
      headersTimeout: headersTimeoutMs,
      requestTimeout: requestTimeoutMs,
      connectionsCheckingInterval,
    },
    (req, res) => {
      responses.set(req.socket, res);
      try {
        route(req, res, false);
      } catch (err) {
        failed(req, res, err);
      }
    },
  );
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => upgrade(req, socket as Socket, head, false));
  // Beyond the cap Node closes a connection as it accepts it: no parser, no buffer, nothing held.
  server.maxConnections = maxConnections;

  /** Refused connections are logged once, then counted for a second, so a flood does not flood the log too. */
  let refusedSinceLog = 0;
  let refusalLogTimer: NodeJS.Timeout | undefined;
  server.on('drop', () => {
    if (refusalLogTimer) return void refusedSinceLog++;
    log(`refused a connection: ${maxConnections} client connections are open (maxConnections ${maxConnections})`);
    refusalLogTimer = setTimeout(() => {
      if (refusedSinceLog) log(`refused ${refusedSinceLog} more connections in the last second (maxConnections ${maxConnections})`);
      refusedSinceLog = 0;
      refusalLogTimer = undefined;
    }, 1000).unref();
  });

  // What Node would do on its own (408 on a timeout, 400 on a request it cannot parse), plus a log
  // line; HTTP/1.1 over TLS gets the same (see the HTTPS listener).
  const onClientError = (err: NodeJS.ErrnoException, socket: Duplex): void => {
    const code = err.code ?? '';
    const from = (socket as Socket).remoteAddress ?? 'a client';
    const started = responses.get(socket)?.headersSent ?? false;
    if (code === 'ECONNRESET' || !socket.writable || started) return void socket.destroy();
    const [status, error, message] =
      code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? ([408, 'RequestTimeout', 'the request did not arrive in time'] as const)
        : code === 'HPE_HEADER_OVERFLOW'
          ? ([431, 'RequestHeaderFieldsTooLarge', 'the request headers are too large'] as const)
          : ([400, 'BadRequest', 'the request is not valid HTTP/1.1'] as const);
    log(
      `${status} to ${from}: ${code === 'ERR_HTTP_REQUEST_TIMEOUT' ? `the request did not arrive within ${headersTimeoutMs} ms (headers) or ${requestTimeoutMs} ms (whole request)` : `${code}: ${err.message}`}`,
    );
    const body = `${JSON.stringify({ error, message })}\n`;
    // Destroyed once the answer is flushed: a slow client that never closes its side holds nothing.
    socket.end(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      () => socket.destroy(),
    );
  };
  server.on('clientError', onClientError);

  /** How to abort the replica request of an HTTP/2 stream in flight, for limitStream. */
  const abortReplica = new WeakMap<http2.ServerHttp2Stream, () => void>();

  /**
   * HTTP/2's counterpart of an idle or silent connection: a session with no open stream for
   * `headersTimeoutMs` is closed (GOAWAY). A stream reaches Node only once its whole header block
   * has arrived, so a client that sends nothing, only PINGs, or a header block it never finishes
   * holds no stream, and is cut here as HTTP/1.1's headers timeout cuts it.
   */
  function limitSession(session: http2.ServerHttp2Session): void {
    const from = session.socket?.remoteAddress ?? 'a client';
    // Not the listener's inactivity timeout (requestTimeoutMs): it would cut a stream waiting for a
    // slow replica, which replicaTimeoutMs bounds; an idle session and slow requests are bounded here.
    session.setTimeout(0);
    let open = 0;
    let streams = 0;
    let idle: NodeJS.Timeout | undefined;
    const arm = (): void => {
      idle = setTimeout(() => {
        if (session.closed || session.destroyed) return;
        // A session that made requests and then idles is ordinary (a browser keeps one); one that never made any is not.
        if (streams === 0) log(`closed an HTTP/2 session from ${from}: no request within ${headersTimeoutMs} ms`);
        session.close();
        setTimeout(() => session.destroy(), 1000).unref();
      }, headersTimeoutMs);
      idle.unref();
    };
    arm();
    session.on('stream', (stream: http2.ServerHttp2Stream) => {
      open++;
      streams++;
      clearTimeout(idle);
      stream.once('close', () => {
        if (--open === 0 && !session.closed && !session.destroyed) arm();
      });
    });
    session.once('close', () => clearTimeout(idle));
  }

  /**
   * HTTP/2's counterpart of HTTP/1.1's request timeout: a stream whose request (body included,
   * up to the client's END_STREAM) has not all arrived within `requestTimeoutMs` is answered 408
   * and reset, or only reset when its response has started; its replica request is aborted with
   * it (route's close handler), so the stream and the replica connection are freed.
   */
  function limitStream(stream: http2.ServerHttp2Stream): void {
    // The whole request came with its headers (a GET): nothing more to wait for.
    if (stream.endAfterHeaders) return;
    const timer = setTimeout(() => {
      if (stream.destroyed || stream.closed || stream.state.remoteClose) return;
      abortReplica.get(stream)?.();
      const from = stream.session?.socket?.remoteAddress ?? 'a client';
      const started = stream.headersSent;
      log(`${started ? 'reset a stream of' : '408 to'} ${from}: the request on HTTP/2 stream ${stream.id} did not arrive within ${requestTimeoutMs} ms`);
      if (started) return void stream.close(http2.constants.NGHTTP2_CANCEL);
      const body = `${JSON.stringify({ error: 'RequestTimeout', message: 'the request did not arrive in time' })}\n`;
      stream.respond({ ':status': 408, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
      // Node sends the answer's frames before the RST_STREAM that frees the stream.
      stream.end(body);
      stream.close(http2.constants.NGHTTP2_NO_ERROR);
    }, requestTimeoutMs);
    timer.unref();
    stream.once('close', () => clearTimeout(timer));
  }

  /** A bug here must not take the proxy down with every other client's request, nor show its text to them. */
  function failed(req: Request, res: Response, err: unknown): void {
    const e = err as NodeJS.ErrnoException | undefined;
    log(`${requestLine(req)}: the proxy failed${e?.code ? ` (${e.code})` : ''}: ${e?.stack ?? String(err)}`);
    if (!res.headersSent) reply(res, 500, 'InternalError', 'the load balancer failed to handle the request');
    else res.destroy();
  }

  function route(req: Request, res: Response, secure: boolean) {
    const hostHeader = authority(req);
    if (!hostHeader) return reply(res, 400, 'BadRequest', 'the request has no Host header: the proxy routes requests by host name');
    const host = hostName(hostHeader);
    const entry = table.match(host, pathOf(req.url));
    if (!entry)
      return reply(
        res,
        404,
        'NotFound',
        table.hasHost(host) ? `no service has ingress host ${host} for path ${pathOf(req.url)}` : `no service has ingress host ${host}`,
      );
    const { route: r } = entry;
    if (!secure && r.tls !== undefined && httpsPort !== undefined) {
      const location = httpsLocation(host, httpsPort, req.url);
      res.writeHead(308, { location, 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(`${location}\n`) });
      return void res.end(`${location}\n`);
    }
    const service = `${r.namespace}/${r.service}`;
    const pinned = r.sessionAffinity ? cookie(req.headers.cookie, AFFINITY_COOKIE) : undefined;
    const order = candidates(entry, pinned);
    if (order.length === 0) return reply(res, 503, 'ServiceUnavailable', `service ${service} has no healthy replica for host ${host}`);
    requests.set(service, (requests.get(service) ?? 0) + 1);

    const method = (req.method ?? 'GET').toUpperCase();
    // Without Content-Length or Transfer-Encoding an HTTP/1.1 request has no body (RFC 9112 §6.3); an
    // HTTP/2 request has none when END_STREAM came with its headers, and may have one without a
    // Content-Length (RFC 9113 §8.1), which is then streamed to the replica chunked.
    const hasBody =
      req.httpVersionMajor >= 2
        ? !(req as http2.Http2ServerRequest).stream.endAfterHeaders
        : req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
    const headers = forwardedHeaders(req, hostHeader, secure);
    let current: http.ClientRequest | undefined;
    let refusals = 0;
    // The client went away: stop the replica's work too.
    res.on('close', () => {
      if (!res.writableFinished) current?.destroy();
    });
    // An HTTP/2 stream whose request stops arriving is answered 408 (limitStream), which first aborts
    // the replica's request: closing the stream ends its body, and the replica would take a cut body for a whole one.
    let abandoned = false;
    if (req instanceof http2.Http2ServerRequest) {
      abortReplica.set(req.stream, () => {
        abandoned = true;
        current?.destroy();
      });
    }

    const attempt = (i: number): void => {
      try {
        tryReplica(i);
      } catch (err) {
        failed(req, res, err);
      }
    };
    const tryReplica = (i: number): void => {
      const target = order[i];
      // Built only for a log line: the path of a request that succeeds does not pay for it.
      const about = (): string => `${requestLine(req)}: replica ${target.taskId} at ${endpoint(target)}`;
      let bodySent = false;
      let answered = false;
      let connectTimer: NodeJS.Timeout | undefined;
      // `timeout` is the socket's: it fires after that long with no byte either way, and is reset
      // to the agent's idle timeout when the socket goes back to the pool.
      const upstream = http.request({ host: target.ip, port: target.port, method, path: req.url, headers, agent, timeout: replicaTimeoutMs });
      current = upstream;
      upstream.on('timeout', () => {
        // Connecting has its own timer (connectTimeoutMs), and failing to connect is a refusal.
        if (upstream.socket?.connecting) return;
        upstream.destroy(Object.assign(new Error(`sent nothing for ${replicaTimeoutMs} ms`), { code: SILENT }));
      });
      const sendBody = (): void => {
        if (!hasBody) return;
        bodySent = true;
        if (!(req instanceof http2.Http2ServerRequest)) return void req.pipe(upstream);
        // Node's HTTP/2 request ends even when the client reset its stream mid-body: ending the
        // replica's request then would hand it a cut body as a whole one, so it is aborted instead.
        req.pipe(upstream, { end: false });
        req.once('end', () => {
          if (req.aborted) abandoned = true;
          if (abandoned) upstream.destroy();
          else upstream.end();
        });
      };
      upstream.on('socket', (socket) => {
        if (!socket.connecting) return sendBody();
        connectTimer = setTimeout(
          () => upstream.destroy(Object.assign(new Error(`connect to ${target.ip}:${target.port} timed out`), { code: 'ETIMEDOUT' })),
          connectTimeoutMs,
        );
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
        // HTTP/2 has no reason phrase (RFC 9113 §8.3.2).
        if (req.httpVersionMajor >= 2) (res as http2.Http2ServerResponse).writeHead(answer.statusCode ?? 502, out as http2.OutgoingHttpHeaders);
        else (res as http.ServerResponse).writeHead(answer.statusCode ?? 502, answer.statusMessage, out);
        answer.pipe(res as NodeJS.WritableStream);
        answer.on('close', () => {
          // The replica cut the body short: the client must see a broken response, not a short one.
          if (!answer.complete) res.destroy();
        });
      });

      upstream.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(connectTimer);
        const code = err.code ?? '';
        // The client went away, or was answered 408: nothing to answer, nothing wrong with the replica.
        if (res.destroyed || abandoned) return;
        if (answered) {
          log(`${about()} failed in the middle of its response (${code === SILENT ? err.message : code || err.message}); the client's connection is cut`);
          return void res.destroy();
        }
        if (code === SILENT) {
          log(`${about()} ${err.message} before answering; answered 504`);
          return reply(res, 504, 'GatewayTimeout', `a replica of service ${service} did not answer in time for host ${host}`);
        }
        const notConnected = NOT_CONNECTED.has(code);
        // A reset on a fresh connection is the replica (or Docker's port proxy in front of a dead
        // container) turning us away; on a reused keep-alive connection it is the ordinary race
        // with the replica closing an idle connection, and says nothing about its health.
        if (notConnected || (CUT_OFF.has(code) && !upstream.reusedSocket)) {
          refusedUntil.set(endpoint(target), now() + passiveHealthMs);
          refusals++;
        }
        const retryable = !bodySent && (notConnected || (CUT_OFF.has(code) && IDEMPOTENT.has(method)));
        const next = retryable && i + 1 < order.length;
        log(
          `${about()} ${notConnected ? 'refused the connection' : 'failed before answering'} (${code || err.message})${next ? '; trying the next replica' : ''}`,
        );
        if (next) return attempt(i + 1);
        if (retryable && refusals === order.length) {
          return reply(res, 503, 'ServiceUnavailable', `service ${service} has no replica accepting connections for host ${host}: all ${order.length} refused`);
        }
        if (retryable) return reply(res, 502, 'BadGateway', `no replica of service ${service} answered for host ${host}`);
        reply(res, 502, 'BadGateway', `a replica of service ${service} failed before answering; ${method} with a body is not retried`);
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
      // Wildcards keep their "*." (hostName leaves it alone); the path is matched case-sensitively.
      const host = hostName(r.host);
      const path = r.path ?? '/';
      const key = `${host} ${path}`;
      if (next.has(key)) {
        const other = next.get(key)!.route;
        throw new Error(
          `two routes for host ${host}${path === '/' ? '' : ` and path ${path}`}: services ${other.namespace}/${other.service} and ${r.namespace}/${r.service}`,
        );
      }
      next.set(key, { host, ...(path === '/' ? {} : { path }), route: r, next: entries.get(key)?.next ?? 0 });
    }
    // One assignment: a request sees the old table or the new one, never a mix.
    entries = next;
    table = new RouteIndex([...next.values()]);
    const live = new Set([...next.values()].flatMap((e) => e.route.targets.map(endpoint)));
    targeted = live;
    // Upgraded connections to replicas that left are kept for the drain, then closed; one that came back is kept.
    for (const [key, set] of tunnels) for (const t of set) live.has(key) ? t.keep() : t.leave(drainMs);
    for (const key of refusedUntil.keys()) if (!live.has(key)) refusedUntil.delete(key);
    // Idle connections to replicas that left are closed now; busy ones close when their response ends.
    for (const sockets of Object.values(agent.freeSockets)) {
      for (const socket of sockets ?? []) if (!live.has(`${socket.remoteAddress}:${socket.remotePort}`)) socket.destroy();
    }
  }

  /**
   * An HTTP/1.1 Upgrade request (WebSocket): the replica is chosen as for a request (route,
   * affinity, skipping refusals, trying the next on a refused connection), then bytes pass both
   * ways untouched. Answers of the proxy itself are written raw: no response object exists here.
   */
  function upgrade(req: http.IncomingMessage, socket: Socket, head: Buffer, secure: boolean): void {
    socket.on('error', () => socket.destroy());
    const answer = (status: number, error: string, message: string, extra: Record<string, string> = {}): void => {
      const body = `${JSON.stringify({ error, message })}\n`;
      const lines = [`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}`, 'Connection: close', 'Content-Type: application/json; charset=utf-8'];
      for (const [k, v] of Object.entries(extra)) lines.push(`${k}: ${v}`);
      lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
      socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`, () => socket.destroy());
    };
    try {
      const hostHeader = req.headers.host;
      if (!hostHeader) return void answer(400, 'BadRequest', 'the request has no Host header: the proxy routes requests by host name');
      const host = hostName(hostHeader);
      const entry = table.match(host, pathOf(req.url));
      if (!entry) return void answer(404, 'NotFound', `no service has ingress host ${host}`);
      const r = entry.route;
      const service = `${r.namespace}/${r.service}`;
      if (!secure && r.tls !== undefined && httpsPort !== undefined) {
        return void answer(308, 'PermanentRedirect', 'this host is served over HTTPS', { Location: httpsLocation(host, httpsPort, req.url) });
      }
      const pinned = r.sessionAffinity ? cookie(req.headers.cookie, AFFINITY_COOKIE) : undefined;
      const order = candidates(entry, pinned);
      if (order.length === 0) return void answer(503, 'ServiceUnavailable', `service ${service} has no healthy replica for host ${host}`);
      requests.set(service, (requests.get(service) ?? 0) + 1);
      const headers = forwardedHeaders(req, hostHeader, secure);
      headers.connection = 'Upgrade';
      headers.upgrade = req.headers.upgrade ?? 'websocket';
      const lines = [`${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/1.1`];
      for (const [k, v] of Object.entries(headers)) for (const one of Array.isArray(v) ? v : [v]) if (one !== undefined) lines.push(`${k}: ${one}`);
      const requestHead = `${lines.join('\r\n')}\r\n\r\n`;

      const attempt = (i: number): void => {
        const target = order[i];
        const upstream = net.connect({ host: target.ip, port: target.port });
        let connected = false;
        const timer = setTimeout(
          () => upstream.destroy(Object.assign(new Error(`connect to ${endpoint(target)} timed out`), { code: 'ETIMEDOUT' })),
          connectTimeoutMs,
        );
        const clientGone = (): void => void upstream.destroy();
        socket.once('close', clientGone);
        upstream.once('error', (err: NodeJS.ErrnoException) => {
          clearTimeout(timer);
          if (connected) return;
          socket.off('close', clientGone);
          if (socket.destroyed) return;
          refusedUntil.set(endpoint(target), now() + passiveHealthMs);
          const next = i + 1 < order.length;
          log(
            `upgrade ${requestLine(req)}: replica ${target.taskId} at ${endpoint(target)} refused the connection (${err.code ?? err.message})${next ? '; trying the next replica' : ''}`,
          );
          if (next) return attempt(i + 1);
          answer(503, 'ServiceUnavailable', `service ${service} has no replica accepting connections for host ${host}: all ${order.length} refused`);
        });
        upstream.once('connect', () => {
          connected = true;
          clearTimeout(timer);
          socket.off('close', clientGone);
          upstream.write(requestHead);
          if (head.length > 0) upstream.write(head);
          const setCookie = r.sessionAffinity && pinned !== target.taskId ? `${AFFINITY_COOKIE}=${target.taskId}; Path=/; HttpOnly; SameSite=Lax` : undefined;
          tunnel(socket, upstream, endpoint(target), setCookie);
        });
      };
      attempt(0);
    } catch (err) {
      log(`upgrade ${requestLine(req)}: the proxy failed: ${(err as Error)?.stack ?? String(err)}`);
      answer(500, 'InternalError', 'the load balancer failed to handle the request');
    }
  }

  /**
   * Passes bytes both ways between a client and a replica after an Upgrade. The replica's answer
   * head is read first (to add the affinity cookie, and to know a WebSocket from other upgrades);
   * after it, the replica's WebSocket frames are followed so that a close can come between two.
   */
  function tunnel(client: Socket, upstream: Socket, key: string, setCookie: string | undefined): void {
    let head: Buffer | undefined = Buffer.alloc(0);
    let websocket = false;
    let closing = false;
    let leaveTimer: NodeJS.Timeout | undefined;
    const cursor = new FrameCursor();
    const destroyBoth = (): void => {
      clearTimeout(leaveTimer);
      client.destroy();
      upstream.destroy();
    };
    const finish = (): void => {
      // FIN both ways, and no more than a second for the peers to close theirs.
      client.end();
      upstream.end();
      setTimeout(destroyBoth, 1000).unref();
    };
    const sendClose = (): void => {
      upstream.pause();
      client.write(closeFrame(WS_GOING_AWAY, 'the replica is going away'));
      finish();
    };
    const t: Tunnel = {
      keep: () => {
        clearTimeout(leaveTimer);
        leaveTimer = undefined;
      },
      leave: (ms) => {
        if (leaveTimer || closing) return;
        leaveTimer = setTimeout(() => {
          closing = true;
          if (!websocket) return finish();
          if (head === undefined && cursor.atBoundary()) return sendClose();
          // Mid-frame: the data handler sends the close at the frame's end; a replica that stalls mid-frame is cut.
          setTimeout(destroyBoth, 1000).unref();
        }, ms);
        leaveTimer.unref();
      },
      destroy: destroyBoth,
    };
    const set = tunnels.get(key) ?? new Set<Tunnel>();
    tunnels.set(key, set);
    set.add(t);
    const forget = (): void => {
      clearTimeout(leaveTimer);
      set.delete(t);
      if (set.size === 0 && tunnels.get(key) === set) tunnels.delete(key);
    };

    const toClient = (chunk: Buffer): void => {
      if (!client.write(chunk)) upstream.pause();
    };
    upstream.on('data', (chunk: Buffer) => {
      if (head !== undefined) {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) {
          if (head.length > 65_536) destroyBoth();
          return;
        }
        let headText = head.subarray(0, end).toString('latin1');
        const rest = head.subarray(end + 4);
        head = undefined;
        websocket = /^HTTP\/1\.1 101\b/.test(headText) && /\r\nupgrade:\s*websocket/i.test(headText);
        if (setCookie) headText += `\r\nSet-Cookie: ${setCookie}`;
        toClient(Buffer.from(`${headText}\r\n\r\n`, 'latin1'));
        chunk = rest;
        if (chunk.length === 0) return;
      }
      if (!websocket) return toClient(chunk);
      if (!closing) {
        cursor.feed(chunk);
        return toClient(chunk);
      }
      const at = cursor.feed(chunk, true);
      if (at < 0) return toClient(chunk);
      if (at > 0) toClient(chunk.subarray(0, at));
      sendClose();
    });
    client.on('drain', () => upstream.resume());
    client.pipe(upstream);
    upstream.on('end', () => client.end());
    client.on('error', destroyBoth);
    upstream.on('error', destroyBoth);
    client.on('close', () => {
      upstream.destroy();
      forget();
    });
    upstream.on('close', () => {
      if (!client.destroyed) client.end();
      setTimeout(() => client.destroy(), 1000).unref();
      forget();
    });
  }

  /** The HTTPS listener: HTTP/2 and HTTP/1.1 (by ALPN) with a certificate per host from the local CA. */
  let secureServer: http2.Http2SecureServer | undefined;
  const secureSockets = new Set<Duplex>();
  if (options.ca) {
    const ca = await loadLocalCa(options.ca);
    const contexts = new Map<string, Promise<tls.SecureContext>>();
    const contextFor = (name: string): Promise<tls.SecureContext> => {
      let context = contexts.get(name);
      if (!context) {
        if (contexts.size >= MAX_CERTIFICATES) contexts.delete(contexts.keys().next().value!);
        context = ca.issue(name).then((pair) => tls.createSecureContext({ key: pair.key, cert: pair.cert }));
        contexts.set(name, context);
        context.catch(() => contexts.delete(name));
      }
      return context;
    };
    // A client that sends no server name (one that dials https://127.0.0.1 with a Host header) gets
    // a certificate for localhost and the loopback addresses, instead of a failed handshake.
    const fallback = await ca.issue('localhost', ['127.0.0.1', '::1']);
    const fallbackContext = tls.createSecureContext({ key: fallback.key, cert: fallback.cert });
    secureServer = http2.createSecureServer(
      {
        allowHTTP1: true,
        settings: { maxConcurrentStreams: MAX_STREAMS_PER_SESSION },
        minVersion: 'TLSv1.2',
        // A client must finish its handshake as fast as it must send its headers (slowloris over TLS).
        handshakeTimeout: headersTimeoutMs,
        key: fallback.key,
        cert: fallback.cert,
        // A certificate is issued only for a host some route serves, so a scan of names costs nothing;
        // another name (an IP address, which some clients send) gets the localhost one, and its client decides.
        SNICallback: (servername, cb) => {
          const name = hostName(servername);
          if (!table.hasHost(name)) return cb(null, fallbackContext);
          contextFor(name).then(
            (context) => cb(null, context),
            (err: Error) => {
              log(`cannot issue a certificate for ${name}: ${err.message}`);
              cb(err, undefined);
            },
          );
        },
      },
      (req, res) => {
        if (req.httpVersionMajor < 2) responses.set(req.socket, res);
        try {
          route(req, res, true);
        } catch (err) {
          failed(req, res, err);
        }
      },
    );
    secureServer.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => upgrade(req, socket as Socket, head, true));
    // HTTP/1.1 over TLS goes through node:http's parser, whose limits are set on this server (Node's
    // own defaults here are 60 s for the headers and 300 s for the request, checked every 30 s).
    Object.assign(secureServer, { headersTimeout: headersTimeoutMs, requestTimeout: requestTimeoutMs, connectionsCheckingInterval });
    secureServer.on('clientError', onClientError);
    // HTTP/2 has neither limit in Node: these are its counterparts.
    secureServer.on('session', limitSession);
    secureServer.on('stream', limitStream);
    // One line a second at most: a client that retries a failing handshake in a loop must not flood the log.
    let handshakeFailures = 0;
    let handshakeLogTimer: NodeJS.Timeout | undefined;
    secureServer.on('tlsClientError', (err: NodeJS.ErrnoException, socket: tls.TLSSocket) => {
      if (handshakeLogTimer) return void handshakeFailures++;
      log(`TLS handshake with ${socket.remoteAddress ?? 'a client'} failed: ${err.code ?? err.message}`);
      handshakeLogTimer = setTimeout(() => {
        if (handshakeFailures) log(`${handshakeFailures} more TLS handshakes failed in the last second`);
        handshakeFailures = 0;
        handshakeLogTimer = undefined;
      }, 1000).unref();
    });
    secureServer.on('secureConnection', (socket: tls.TLSSocket) => {
      secureSockets.add(socket);
      socket.once('close', () => secureSockets.delete(socket));
    });
    secureServer.maxConnections = maxConnections;
    // Idle connections (HTTP/1.1 keep-alive and h2 sessions alike) are closed after this long.
    secureServer.setTimeout(requestTimeoutMs);
    const listening = secureServer;
    await new Promise<void>((resolve, reject) => {
      listening.once('error', reject);
      listening.listen(options.httpsPort ?? 0, options.host ?? '127.0.0.1', () => {
        listening.off('error', reject);
        resolve();
      });
    });
    httpsPort = (listening.address() as AddressInfo).port;
  }

  server.keepAliveTimeout = 5_000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    // The HTTPS listener is up already: a failed start must not leave it holding its port.
    secureServer?.close();
    throw err;
  }
  const address = server.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  return {
    url: `http://${urlHost}:${address.port}`,
    port: address.port,
    ...(httpsPort === undefined ? {} : { httpsUrl: `https://${urlHost}:${httpsPort}`, httpsPort }),
    sync,
    routes: () => [...entries.values()].map((e) => e.route),
    requestCounts: () => Object.fromEntries(requests),
    close: () =>
      new Promise<void>((resolve, reject) => {
        clearTimeout(refusalLogTimer);
        for (const set of tunnels.values()) for (const t of set) t.destroy();
        const secure = secureServer;
        const closeSecure = secure
          ? new Promise<void>((done) => {
              secure.close(() => done());
              for (const socket of secureSockets) socket.destroy();
            })
          : Promise.resolve();
        server.close((err) => (err ? reject(err) : closeSecure.then(resolve)));
        server.closeAllConnections();
        agent.destroy();
      }),
  };
}

/** An upgraded connection to a replica, kept while the replica is a target. */
interface Tunnel {
  /** The replica is a target (again): cancel a pending close. */
  keep(): void;
  /** The replica left the routes: close the tunnel after `ms` (a close frame for a WebSocket). */
  leave(ms: number): void;
  destroy(): void;
}

/** The Host of a request: the Host header (HTTP/1.1), or the :authority pseudo-header (HTTP/2). */
function authority(req: Request): string | undefined {
  return req.headers.host ?? (req.headers[':authority'] as string | undefined);
}

/** The path of a request target, without query or fragment. */
function pathOf(url: string | undefined): string {
  const u = url ?? '/';
  const end = u.search(/[?#]/);
  return end < 0 ? u : u.slice(0, end);
}

/** Where a plain request for a `tls` route is redirected: the same host and target on the HTTPS listener. */
function httpsLocation(host: string, port: number, url: string | undefined): string {
  return `https://${host}${port === 443 ? '' : `:${port}`}${url ?? '/'}`;
}

/** The proxy's log when none is given: a line on stderr. */
export function stderrLog(line: string): void {
  process.stderr.write(`skiff proxy: ${line}\n`);
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

/**
 * The request's headers for the replica: hop-by-hop ones removed, Host kept, and the forwarding
 * headers (X-Forwarded-*, X-Real-IP, Forwarded) the proxy's own, from the connection.
 */
function forwardedHeaders(req: Request, hostHeader: string, secure: boolean): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = withoutHopByHop(req.headers);
  // HTTP/2's pseudo-headers (:method, :path, :authority, :scheme) become the request line and Host of HTTP/1.1.
  for (const h of Object.keys(out)) if (h.startsWith(':')) delete out[h];
  out.host = hostHeader;
  const proto = secure ? 'https' : 'http';
  for (const h of FORWARDING) delete out[h];
  const client = req.socket.remoteAddress ?? '';
  out['x-forwarded-for'] = client;
  out['x-real-ip'] = client;
  out['x-forwarded-proto'] = proto;
  out['x-forwarded-host'] = hostHeader;
  out['x-forwarded-port'] = String(req.socket.localPort ?? '');
  // RFC 7239: an IPv6 node is bracketed and quoted; a value that is not a token is quoted.
  const node = client === '' ? 'unknown' : client.includes(':') ? `"[${client}]"` : client;
  out.forwarded = `for=${node};host=${forwardedValue(hostHeader)};proto=${proto}`;
  return out;
}

/** A Forwarded parameter value: as is when it is a token (RFC 9110 §5.6.2), else a quoted string. */
function forwardedValue(value: string): string {
  return /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(value) ? value : `"${value.replace(/["\\]/g, '\\$&')}"`;
}

/** `GET http://shop.example.com/cart`, for log lines. */
function requestLine(req: Request): string {
  return `${req.method ?? 'GET'} http://${authority(req) ?? '-'}${req.url ?? '/'}`;
}

/** A positive integer option, or its default; anything else is refused with the option's name. */
function positive(options: ProxyOptions, key: 'replicaTimeoutMs' | 'maxConnections' | 'headersTimeoutMs' | 'requestTimeoutMs', fallback: number): number {
  const value = options[key] ?? fallback;
  if (!Number.isInteger(value) || value <= 0) throw new TypeError(`${key} must be a positive integer; got ${value}`);
  return value;
}

function withoutHopByHop(headers: http.IncomingHttpHeaders | http2.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = { ...headers };
  // Connection may name more headers that belong to this connection only.
  const named = String(headers.connection ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .filter(Boolean);
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

function reply(res: Response, status: number, error: string, message: string): void {
  if (res.headersSent || res.destroyed) return void res.destroy();
  const body = `${JSON.stringify({ error, message })}\n`;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
