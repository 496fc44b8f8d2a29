/**
 * The local load balancer with real HTTP: small servers on 127.0.0.1 stand in for replicas, each
 * answering with its own name and what it received.
 */
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { AFFINITY_COOKIE, hostName, startProxy, type ProxyServer, type ProxyOptions } from '../../local/proxy.ts';
import type { IngressRoute } from '../../ports/index.ts';

interface Replica {
  readonly name: string;
  readonly port: number;
  readonly target: IngressRoute['targets'][number];
  /** Requests it has answered. */
  hits: number;
  close(): Promise<void>;
}

interface Echo {
  name: string;
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

const cleanups: (() => Promise<void>)[] = [];
/** The proxy's log lines in this test (every proxy the helper starts logs here). */
let logged: string[] = [];
afterEach(async () => {
  const pending = cleanups.splice(0).reverse();
  for (const cleanup of pending) await cleanup().catch(() => {});
  logged = [];
});

function listen(server: http.Server, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** A replica answering every request with an Echo; `handler` replaces that. */
async function replica(name: string, options: { port?: number; handler?: http.RequestListener } = {}): Promise<Replica> {
  const server = http.createServer(
    options.handler ??
      ((req, res) => {
        let body = '';
        req.setEncoding('utf8');
        req.on('data', (chunk: string) => (body += chunk));
        req.on('end', () => {
          r.hits++;
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ name, method: req.method ?? '', url: req.url ?? '', headers: req.headers, body } satisfies Echo));
        });
      }),
  );
  const port = await listen(server, options.port);
  let closed = false;
  const r: Replica = {
    name,
    port,
    target: { taskId: name, ip: '127.0.0.1', port },
    hits: 0,
    close: async () => {
      if (closed) return;
      closed = true;
      await closeServer(server);
    },
  };
  cleanups.push(r.close);
  return r;
}

async function proxy(options: ProxyOptions = {}): Promise<ProxyServer> {
  const p = await startProxy({ log: (line) => logged.push(line), ...options });
  cleanups.push(() => p.close());
  return p;
}

function route(host: string, targets: readonly Replica[], sessionAffinity = false, service = 'web'): IngressRoute {
  return { host, namespace: 'default', service, sessionAffinity, targets: targets.map((r) => r.target) };
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request through the proxy, on a fresh connection. */
function send(p: ProxyServer, o: { host: string; path?: string; method?: string; headers?: Record<string, string>; body?: string }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: p.port, path: o.path ?? '/', method: o.method ?? 'GET', headers: { host: o.host, ...o.headers }, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(o.body);
  });
}

const echo = (a: Answer): Echo => JSON.parse(a.body) as Echo;

/** `name=value` of the affinity cookie the proxy set, if any. */
function affinityCookie(a: Answer): string | undefined {
  return (a.headers['set-cookie'] ?? []).find((c) => c.startsWith(`${AFFINITY_COOKIE}=`))?.split(';')[0];
}

/** A port with nothing listening: a server is started on it and closed. */
async function deadPort(): Promise<number> {
  const server = http.createServer();
  const port = await listen(server);
  await closeServer(server);
  return port;
}

describe('the local proxy', () => {
  it('spreads requests round robin over every replica: 30 requests, 10 each', async () => {
    const replicas = await Promise.all(['web-0', 'web-1', 'web-2'].map((n) => replica(n)));
    const p = await proxy();
    await p.sync([route('shop.example.com', replicas)]);
    const names: string[] = [];
    for (let i = 0; i < 30; i++) {
      const a = await send(p, { host: 'shop.example.com' });
      expect(a.status).toBe(200);
      names.push(echo(a).name);
    }
    expect(replicas.map((r) => r.hits)).toEqual([10, 10, 10]);
    expect(names.slice(0, 6)).toEqual(['web-0', 'web-1', 'web-2', 'web-0', 'web-1', 'web-2']);
  });

  it('routes by the Host header, without its port and regardless of case', async () => {
    const [a, b] = await Promise.all([replica('a-0'), replica('b-0')]);
    const p = await proxy();
    await p.sync([route('a.example.com', [a], false, 'a'), route('b.example.com', [b], false, 'b')]);
    expect(echo(await send(p, { host: 'A.Example.COM:8080' })).name).toBe('a-0');
    expect(echo(await send(p, { host: 'b.example.com.' })).name).toBe('b-0');
    expect(echo(await send(p, { host: 'b.example.com', path: '/cart?id=3' })).url).toBe('/cart?id=3');
  });

  it('keeps a client with the affinity cookie on one replica while that replica is a target', async () => {
    const replicas = await Promise.all(['web-0', 'web-1', 'web-2'].map((n) => replica(n)));
    const p = await proxy();
    await p.sync([route('shop.example.com', replicas, true)]);

    const first = await send(p, { host: 'shop.example.com' });
    const pinnedTo = echo(first).name;
    expect(affinityCookie(first)).toBe(`${AFFINITY_COOKIE}=${pinnedTo}`);
    for (let i = 0; i < 10; i++) {
      const a = await send(p, { host: 'shop.example.com', headers: { cookie: `theme=dark; ${AFFINITY_COOKIE}=${pinnedTo}` } });
      expect(echo(a).name).toBe(pinnedTo);
      expect(affinityCookie(a)).toBeUndefined();
    }

    // Its replica leaves the target set: the client moves, and is pinned to where it went.
    await p.sync([
      route(
        'shop.example.com',
        replicas.filter((r) => r.name !== pinnedTo),
        true,
      ),
    ]);
    const moved = await send(p, { host: 'shop.example.com', headers: { cookie: `${AFFINITY_COOKIE}=${pinnedTo}` } });
    expect(echo(moved).name).not.toBe(pinnedTo);
    expect(affinityCookie(moved)).toBe(`${AFFINITY_COOKIE}=${echo(moved).name}`);
  });

  it('sets no cookie and ignores one when the route has no session affinity', async () => {
    const replicas = await Promise.all(['web-0', 'web-1'].map((n) => replica(n)));
    const p = await proxy();
    await p.sync([route('shop.example.com', replicas)]);
    const names = [];
    for (let i = 0; i < 4; i++) {
      const a = await send(p, { host: 'shop.example.com', headers: { cookie: `${AFFINITY_COOKIE}=web-0` } });
      expect(affinityCookie(a)).toBeUndefined();
      names.push(echo(a).name);
    }
    expect(names).toEqual(['web-0', 'web-1', 'web-0', 'web-1']);
  });

  it('sends nothing more to a replica once sync removes it', async () => {
    const replicas = await Promise.all(['web-0', 'web-1', 'web-2'].map((n) => replica(n)));
    const p = await proxy();
    await p.sync([route('shop.example.com', replicas)]);
    for (let i = 0; i < 3; i++) await send(p, { host: 'shop.example.com' });
    expect(replicas[1].hits).toBe(1);

    await p.sync([route('shop.example.com', [replicas[0], replicas[2]])]);
    for (let i = 0; i < 20; i++) expect((await send(p, { host: 'shop.example.com' })).status).toBe(200);
    expect(replicas.map((r) => r.hits)).toEqual([11, 1, 11]);
  });

  it('loses no GET when a replica is shut down while requests stream through', async () => {
    const replicas = await Promise.all(['web-0', 'web-1', 'web-2'].map((n) => replica(n)));
    const p = await proxy();
    await p.sync([route('shop.example.com', replicas)]);
    const statuses: number[] = [];
    let closing: Promise<void> | undefined;
    // Three clients in parallel; the proxy keeps connections to replicas alive between requests,
    // so closing web-1 cuts connections that are idle, in use and about to be reused.
    const client = async (): Promise<void> => {
      for (let i = 0; i < 20; i++) {
        statuses.push((await send(p, { host: 'shop.example.com' })).status);
        if (statuses.length === 15) closing = replicas[1].close();
      }
    };
    await Promise.all([client(), client(), client()]);
    await closing;
    expect(statuses).toHaveLength(60);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect(replicas[0].hits + replicas[1].hits + replicas[2].hits).toBe(60);
  });

  it('retries a GET on another replica when one resets the connection before answering', async () => {
    const crashing = await replica('web-0', { handler: (req) => req.socket.destroy() });
    const healthy = await replica('web-1');
    const p = await proxy();
    await p.sync([route('shop.example.com', [crashing, healthy])]);
    for (let i = 0; i < 4; i++) {
      const a = await send(p, { host: 'shop.example.com' });
      expect(a.status).toBe(200);
      expect(echo(a).name).toBe('web-1');
    }
    expect(healthy.hits).toBe(4);
  });

  it('does not retry a POST that reached a replica, and says why', async () => {
    const crashing = await replica('web-0', { handler: (req) => req.socket.destroy() });
    const healthy = await replica('web-1');
    const p = await proxy();
    await p.sync([route('shop.example.com', [crashing, healthy])]);
    const a = await send(p, { host: 'shop.example.com', method: 'POST', body: 'order=1' });
    expect(a.status).toBe(502);
    expect(JSON.parse(a.body)).toEqual({
      error: 'BadGateway',
      message: 'a replica of service default/web failed before answering; POST with a body is not retried',
    });
    expect(healthy.hits).toBe(0);
  });

  it('sends a request whose connection was refused to another replica with its body whole, whatever the method', async () => {
    const dead = { taskId: 'web-0', ip: '127.0.0.1', port: await deadPort() };
    const healthy = await replica('web-1');
    const p = await proxy();
    await p.sync([{ host: 'shop.example.com', namespace: 'default', service: 'web', sessionAffinity: false, targets: [dead, healthy.target] }]);
    const a = await send(p, {
      host: 'shop.example.com',
      method: 'POST',
      body: 'order=1&qty=2',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(a.status).toBe(200);
    expect(echo(a)).toMatchObject({ name: 'web-1', method: 'POST', body: 'order=1&qty=2' });
  });

  it('skips a replica that refused a connection for a while, then tries it again', async () => {
    let clock = 0;
    const p = await proxy({ now: () => clock, passiveHealthMs: 2000 });
    const port = await deadPort();
    const healthy = await replica('web-1');
    const target = { taskId: 'web-0', ip: '127.0.0.1', port };
    await p.sync([{ host: 'shop.example.com', namespace: 'default', service: 'web', sessionAffinity: false, targets: [target, healthy.target] }]);
    expect((await send(p, { host: 'shop.example.com' })).status).toBe(200);

    // The replica comes back on its port, but the proxy does not try it until the time is up.
    const revived = await replica('web-0', { port });
    clock = 1999;
    for (let i = 0; i < 4; i++) expect(echo(await send(p, { host: 'shop.example.com' })).name).toBe('web-1');
    expect(revived.hits).toBe(0);
    clock = 2001;
    const names = [];
    for (let i = 0; i < 4; i++) names.push(echo(await send(p, { host: 'shop.example.com' })).name);
    expect(names.sort()).toEqual(['web-0', 'web-0', 'web-1', 'web-1']);
  });

  it('answers 503 naming the service when it has no healthy replica, or when every replica refuses', async () => {
    const p = await proxy();
    await p.sync([
      { host: 'empty.example.com', namespace: 'shop', service: 'cart', sessionAffinity: false, targets: [] },
      {
        host: 'down.example.com',
        namespace: 'shop',
        service: 'pay',
        sessionAffinity: false,
        targets: [
          { taskId: 'pay-0', ip: '127.0.0.1', port: await deadPort() },
          { taskId: 'pay-1', ip: '127.0.0.1', port: await deadPort() },
        ],
      },
    ]);
    const empty = await send(p, { host: 'empty.example.com' });
    expect(empty.status).toBe(503);
    expect(empty.headers['content-type']).toContain('application/json');
    expect(JSON.parse(empty.body)).toEqual({ error: 'ServiceUnavailable', message: 'service shop/cart has no healthy replica for host empty.example.com' });
    const down = await send(p, { host: 'down.example.com' });
    expect(down.status).toBe(503);
    expect(JSON.parse(down.body)).toEqual({
      error: 'ServiceUnavailable',
      message: 'service shop/pay has no replica accepting connections for host down.example.com: all 2 refused',
    });
  });

  it('answers 404 naming the host when no service has it', async () => {
    const p = await proxy();
    const a = await send(p, { host: 'nobody.example.com:8080' });
    expect(a.status).toBe(404);
    expect(JSON.parse(a.body)).toEqual({ error: 'NotFound', message: 'no service has ingress host nobody.example.com' });
  });

  it('passes the original Host and sets X-Forwarded-For, -Proto, -Host, -Port, X-Real-IP and Forwarded from the connection', async () => {
    const web = await replica('web-0');
    const p = await proxy();
    await p.sync([route('shop.example.com', [web])]);
    const plain = echo(await send(p, { host: 'shop.example.com:8443' }));
    expect(plain.headers).toMatchObject({
      host: 'shop.example.com:8443',
      'x-forwarded-for': '127.0.0.1',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': 'shop.example.com:8443',
      'x-forwarded-port': String(p.port),
      'x-real-ip': '127.0.0.1',
      forwarded: 'for=127.0.0.1;host="shop.example.com:8443";proto=http',
    });
  });

  it('replaces forwarding headers a client sent, rather than appending to them: the proxy is where requests enter the cluster', async () => {
    const web = await replica('web-0');
    const p = await proxy();
    await p.sync([route('shop.example.com', [web])]);
    const spoofed = echo(
      await send(p, {
        host: 'shop.example.com',
        headers: {
          'x-forwarded-for': '203.0.113.7, 10.0.0.1',
          'x-forwarded-proto': 'https',
          'x-forwarded-host': 'bank.example',
          'x-forwarded-port': '443',
          'x-forwarded-prefix': '/admin',
          'x-real-ip': '203.0.113.7',
          forwarded: 'for=203.0.113.7;proto=https',
        },
      }),
    ).headers;
    expect(spoofed).toMatchObject({
      'x-forwarded-for': '127.0.0.1',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': 'shop.example.com',
      'x-forwarded-port': String(p.port),
      'x-real-ip': '127.0.0.1',
      forwarded: 'for=127.0.0.1;host=shop.example.com;proto=http',
    });
    expect(spoofed['x-forwarded-prefix']).toBeUndefined();
    expect(JSON.stringify(spoofed)).not.toContain('203.0.113.7');
  });

  it('drops hop-by-hop headers, including those the Connection header names', async () => {
    const web = await replica('web-0');
    const p = await proxy();
    await p.sync([route('shop.example.com', [web])]);
    const seen = echo(
      await send(p, { host: 'shop.example.com', headers: { connection: 'keep-alive, x-hop', 'x-hop': '1', 'x-end': '2', te: 'trailers' } }),
    ).headers;
    expect(seen['x-end']).toBe('2');
    expect(seen['x-hop']).toBeUndefined();
    expect(seen.te).toBeUndefined();
  });

  it('streams a response: the client reads the first part before the replica writes the rest', async () => {
    let clientGotFirst!: () => void;
    const firstSeen = new Promise<void>((resolve) => (clientGotFirst = resolve));
    const streaming = await replica('web-0', {
      handler: (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first;');
        // Only once the client has the first part: a proxy that buffered would wait forever.
        void firstSeen.then(() => res.end('rest'));
      },
    });
    const p = await proxy();
    await p.sync([route('shop.example.com', [streaming])]);
    const body = await new Promise<string>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: p.port, headers: { host: 'shop.example.com' }, agent: false }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            text += chunk;
            if (text === 'first;') clientGotFirst();
          });
          res.on('end', () => resolve(text));
        })
        .on('error', reject);
    });
    expect(body).toBe('first;rest');
  });

  it('streams a request body: the replica reads the first part before the client sends the rest', async () => {
    let replicaGotFirst!: () => void;
    const firstSeen = new Promise<void>((resolve) => (replicaGotFirst = resolve));
    const upload = await replica('web-0', {
      handler: (req, res) => {
        let text = '';
        req.setEncoding('utf8');
        req.on('data', (chunk: string) => {
          text += chunk;
          if (text === 'part1;') replicaGotFirst();
        });
        req.on('end', () => res.end(`got ${text}`));
      },
    });
    const p = await proxy();
    await p.sync([route('shop.example.com', [upload])]);
    const body = await new Promise<string>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: p.port, method: 'PUT', headers: { host: 'shop.example.com' }, agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
      req.write('part1;');
      void firstSeen.then(() => req.end('part2'));
    });
    expect(body).toBe('got part1;part2');
  });

  it('refuses a route table with two routes for one host, and keeps the one it had', async () => {
    const [a, b] = await Promise.all([replica('a-0'), replica('b-0')]);
    const p = await proxy();
    await p.sync([route('shop.example.com', [a], false, 'a')]);
    await expect(p.sync([route('shop.example.com', [a], false, 'a'), route('Shop.example.com', [b], false, 'b')])).rejects.toThrow(
      'two routes for host shop.example.com: services default/a and default/b',
    );
    expect(echo(await send(p, { host: 'shop.example.com' })).name).toBe('a-0');
  });
});

/** A replica that accepts connections and never answers (a hung process, a full accept queue behind Docker's port proxy). */
async function hungReplica(name: string): Promise<Replica & { readonly sockets: Set<net.Socket>; accepted: Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let firstAccepted!: () => void;
  const accepted = new Promise<void>((resolve) => (firstAccepted = resolve));
  const server = net.createServer((socket) => {
    sockets.add(socket);
    // Read (and ignore) the request, so that the proxy closing its side is seen.
    socket.resume();
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    firstAccepted();
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
  let closed = false;
  const r = {
    name,
    port,
    target: { taskId: name, ip: '127.0.0.1', port },
    hits: 0,
    sockets,
    accepted,
    close: async () => {
      if (closed) return;
      closed = true;
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  cleanups.push(r.close);
  return r;
}

/** A raw connection to the proxy; `received` is everything the proxy wrote, once it closed the connection. */
function rawClient(p: ProxyServer): { socket: net.Socket; connected: Promise<void>; received: Promise<string> } {
  const socket = net.connect(p.port, '127.0.0.1');
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => (text += d));
  socket.on('error', () => {});
  const received = new Promise<string>((resolve) => socket.on('close', () => resolve(text)));
  const connected = new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  cleanups.push(async () => void socket.destroy());
  return { socket, connected, received };
}

/** The parts of an answer that would tell a client about the inside: addresses, task ids, error codes, exception text. */
function expectNoInternalDetail(body: string, inside: readonly string[]): void {
  for (const detail of [...inside, '127.0.0.1', 'ECONN', 'ETIMEDOUT', 'Error:', 'Error [', '    at '])
    expect(body, `answer body ${body}`).not.toContain(detail);
}

describe('the local proxy at the edge', () => {
  it('answers 504 when a replica accepts the connection and never answers, once replicaTimeoutMs has passed, and does not retry', async () => {
    const hung = await hungReplica('web-0');
    const healthy = await replica('web-1');
    const p = await proxy({ replicaTimeoutMs: 300 });
    await p.sync([route('shop.example.com', [hung, healthy])]);
    const t0 = performance.now();
    const a = await send(p, { host: 'shop.example.com' });
    // The timer cannot fire early; how late it fires depends on the machine, so only the floor is checked.
    expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
    expect(a.status).toBe(504);
    expect(JSON.parse(a.body)).toEqual({
      error: 'GatewayTimeout',
      message: 'a replica of service default/web did not answer in time for host shop.example.com',
    });
    expect(healthy.hits).toBe(0);
    // The replica's connection is closed, not left to pile up.
    await expect.poll(() => hung.sockets.size, { timeout: 10_000 }).toBe(0);
  });

  it('keeps serving other hosts, and other requests to the same host, while a replica hangs', async () => {
    const hung = await hungReplica('slow-0');
    const fine = await replica('fine-0');
    const p = await proxy({ replicaTimeoutMs: 60_000 });
    await p.sync([route('slow.example.com', [hung], false, 'slow'), route('fine.example.com', [fine], false, 'fine')]);
    let hungAnswered = false;
    const stuck = Promise.all([1, 2, 3].map(() => send(p, { host: 'slow.example.com' }).finally(() => (hungAnswered = true)))).catch(() => []);
    await hung.accepted;
    for (let i = 0; i < 10; i++) expect((await send(p, { host: 'fine.example.com' })).status).toBe(200);
    expect(fine.hits).toBe(10);
    expect(hungAnswered).toBe(false);
    await p.close();
    await stuck;
  });

  it('cuts the client off when a replica stalls in the middle of its response', async () => {
    const stalling = await replica('web-0', {
      handler: (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '100' });
        res.write('first part;');
      },
    });
    const p = await proxy({ replicaTimeoutMs: 300 });
    await p.sync([route('shop.example.com', [stalling])]);
    const outcome = await new Promise<string>((resolve) => {
      http
        .get({ host: '127.0.0.1', port: p.port, headers: { host: 'shop.example.com' }, agent: false }, (res) => {
          res.on('data', () => {});
          res.on('end', () => resolve('complete'));
          res.on('error', () => resolve('cut'));
          res.on('aborted', () => resolve('cut'));
        })
        .on('error', () => resolve('cut'));
    });
    expect(outcome).toBe('cut');
  });

  it('cuts a client that sends its headers a line at a time (slowloris) with a 408, without bothering any replica', async () => {
    const web = await replica('web-0');
    const p = await proxy({ headersTimeoutMs: 400 });
    await p.sync([route('shop.example.com', [web])]);
    const slow = rawClient(p);
    await slow.connected;
    slow.socket.write('GET / HTTP/1.1\r\nHost: shop.example.com\r\n');
    let n = 0;
    const drip = setInterval(() => {
      if (slow.socket.writable) slow.socket.write(`X-Drip-${n++}: a\r\n`);
    }, 50);
    try {
      const received = await slow.received;
      expect(received).toMatch(/^HTTP\/1\.1 408 /);
    } finally {
      clearInterval(drip);
    }
    expect(web.hits).toBe(0);
    // Meanwhile, and after, a client that sends its request at once is served.
    expect((await send(p, { host: 'shop.example.com' })).status).toBe(200);
  });

  it('cuts a connection that sends nothing at all once the header time is up', async () => {
    const p = await proxy({ headersTimeoutMs: 300 });
    const silent = rawClient(p);
    await silent.connected;
    expect(await silent.received).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('cuts a client whose body stops arriving, and stops the replica waiting for the rest', async () => {
    let replicaSaw!: (s: string) => void;
    const seen = new Promise<string>((resolve) => (replicaSaw = resolve));
    const upload = await replica('web-0', {
      handler: (req, res) => {
        let got = '';
        req.setEncoding('utf8');
        req.on('data', (d: string) => (got += d));
        req.on('end', () => res.end('complete'));
        req.on('close', () => replicaSaw(req.complete ? `complete: ${got}` : `cut after: ${got}`));
      },
    });
    // Long enough for the first bytes to reach the replica on a busy machine before the time is up.
    const p = await proxy({ headersTimeoutMs: 1000, requestTimeoutMs: 1500 });
    await p.sync([route('shop.example.com', [upload])]);
    const slow = rawClient(p);
    await slow.connected;
    slow.socket.write('PUT /upload HTTP/1.1\r\nHost: shop.example.com\r\nContent-Length: 1000\r\n\r\nfirst bytes');
    expect(await slow.received).toMatch(/^HTTP\/1\.1 408 /);
    expect(await seen).toBe('cut after: first bytes');
  });

  it('refuses connections beyond maxConnections at once, logs it, and takes new ones when a slot frees', async () => {
    const web = await replica('web-0');
    const p = await proxy({ maxConnections: 2 });
    await p.sync([route('shop.example.com', [web])]);
    const held = [rawClient(p), rawClient(p)];
    await Promise.all(held.map((c) => c.connected));
    await expect(send(p, { host: 'shop.example.com' })).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(web.hits).toBe(0);
    expect(logged.some((l) => l.includes('refused a connection') && l.includes('maxConnections 2'))).toBe(true);

    held[0].socket.destroy();
    // The proxy learns of the close asynchronously; until then it still counts the slot as taken.
    await expect
      .poll(async () => (await send(p, { host: 'shop.example.com' }).catch(() => ({ status: 0 }))).status, { timeout: 10_000, interval: 50 })
      .toBe(200);
  });

  it('answers errors with generic text, and writes the detail (replica, address, cause) to its log', async () => {
    const crashing = await replica('web-0', { handler: (req) => req.socket.destroy() });
    const hung = await hungReplica('slow-0');
    const broken = { taskId: 'bad-0', ip: '127.0.0.1', port: 70_000 };
    const p = await proxy({ replicaTimeoutMs: 200 });
    await p.sync([
      route('crash.example.com', [crashing], false, 'crash'),
      route('slow.example.com', [hung], false, 'slow'),
      { host: 'bug.example.com', namespace: 'default', service: 'bug', sessionAffinity: false, targets: [broken] },
    ]);

    const reset = await send(p, { host: 'crash.example.com', method: 'POST', body: 'x=1' });
    expect(reset.status).toBe(502);
    expectNoInternalDetail(reset.body, ['web-0', String(crashing.port)]);
    expect(logged.find((l) => l.includes('web-0'))).toMatch(new RegExp(`web-0 at 127\\.0\\.0\\.1:${crashing.port}.*ECONNRESET`));

    const timeout = await send(p, { host: 'slow.example.com' });
    expect(timeout.status).toBe(504);
    expectNoInternalDetail(timeout.body, ['slow-0', String(hung.port)]);
    expect(logged.find((l) => l.includes('slow-0'))).toContain(`slow-0 at 127.0.0.1:${hung.port}`);

    // A route the proxy cannot even try (a bug upstream of it) gets a 500 that says nothing of the exception.
    const bug = await send(p, { host: 'bug.example.com' });
    expect(bug.status).toBe(500);
    expect(JSON.parse(bug.body)).toEqual({ error: 'InternalError', message: 'the load balancer failed to handle the request' });
    expectNoInternalDetail(bug.body, ['bad-0', '70000', 'Port']);
    expect(logged.find((l) => l.includes('bug.example.com'))).toContain('ERR_SOCKET_BAD_PORT');
    // And it is still up.
    expect((await send(p, { host: 'nobody.example.com' })).status).toBe(404);
  });

  it('does not count the time a kept-alive connection to a replica sits idle in the pool against the next request on it', async () => {
    const ports: number[] = [];
    const web = await replica('web-0', {
      handler: (req, res) => {
        ports.push(req.socket.remotePort ?? 0);
        res.end('ok');
      },
    });
    const p = await proxy({ replicaTimeoutMs: 200 });
    await p.sync([route('shop.example.com', [web])]);
    expect((await send(p, { host: 'shop.example.com' })).status).toBe(200);
    // Longer than replicaTimeoutMs, shorter than the pool's idle timeout (15 s).
    await new Promise((r) => setTimeout(r, 400));
    expect((await send(p, { host: 'shop.example.com' })).status).toBe(200);
    expect(ports).toHaveLength(2);
    expect(ports[1]).toBe(ports[0]);
  });

  it('answers 500 and stays up when trying the next replica fails in the proxy itself', async () => {
    const dead = { taskId: 'web-0', ip: '127.0.0.1', port: await deadPort() };
    const broken = { taskId: 'web-1', ip: '127.0.0.1', port: 70_000 };
    const p = await proxy();
    await p.sync([{ host: 'shop.example.com', namespace: 'default', service: 'web', sessionAffinity: false, targets: [dead, broken] }]);
    // The second try starts from the first one's error event, outside the request handler's own guard.
    const a = await send(p, { host: 'shop.example.com' });
    expect(a.status).toBe(500);
    expect(JSON.parse(a.body)).toEqual({ error: 'InternalError', message: 'the load balancer failed to handle the request' });
    expect((await send(p, { host: 'nobody.example.com' })).status).toBe(404);
  });

  it('rejects timeouts that cannot work together, naming the options', async () => {
    await expect(startProxy({ headersTimeoutMs: 5000, requestTimeoutMs: 1000 })).rejects.toThrow(
      'headersTimeoutMs (5000) must not exceed requestTimeoutMs (1000)',
    );
    await expect(startProxy({ maxConnections: 0 })).rejects.toThrow('maxConnections must be a positive integer');
  });
});

describe('hostName', () => {
  it.each([
    ['shop.example.com', 'shop.example.com'],
    ['Shop.Example.com:8080', 'shop.example.com'],
    ['shop.example.com.', 'shop.example.com'],
    ['[::1]:8080', '[::1]'],
  ])('%s is %s', (header, expected) => {
    expect(hostName(header)).toBe(expected);
  });
});
