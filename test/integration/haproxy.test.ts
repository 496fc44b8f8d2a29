/**
 * The HAProxy data plane with real HTTP: the real haproxy binary in front of node:http servers on
 * 127.0.0.1 (ports chosen by the OS) standing in for replicas. No Docker. Skipped, saying why,
 * when haproxy is not installed (CI installs it: .ci/run).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureLocalCa } from '../../local/ca.ts';
import { type HaproxyServer, startHaproxy } from '../../local/haproxy.ts';
import { AFFINITY_COOKIE, type ProxyServer } from '../../local/proxy.ts';
import type { IngressRoute } from '../../ports/index.ts';

const haproxyVersion = (() => {
  try {
    return execFileSync('haproxy', ['-v'], { encoding: 'utf8' }).split('\n')[0];
  } catch {
    return undefined;
  }
})();
if (!haproxyVersion) console.warn('test/integration/haproxy.test.ts skipped: haproxy is not installed (apt-get install haproxy)');

interface Replica {
  readonly name: string;
  readonly target: IngressRoute['targets'][number];
  hits: number;
  /** Requests it holds until `release` is called. */
  hold: boolean;
  release(): void;
  close(): Promise<void>;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

async function replica(name: string): Promise<Replica> {
  const held: (() => void)[] = [];
  const r: Replica = {
    name,
    target: { taskId: name, ip: '127.0.0.1', port: 0 },
    hits: 0,
    hold: false,
    release: () => {
      for (const go of held.splice(0)) go();
    },
    close: async () => {},
  };
  const server = http.createServer((req, res) => {
    r.hits++;
    const answer = (): void => {
      const body = JSON.stringify({ name, url: req.url, headers: req.headers });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    if (r.hold) held.push(answer);
    else answer();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  Object.assign(r, {
    target: { taskId: name, ip: '127.0.0.1', port },
    close: () =>
      new Promise<void>((resolve) => {
        r.release();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
  cleanups.push(() => r.close());
  return r;
}

/** A port nothing listens on: a replica that refuses connections. */
async function refusedTarget(name: string): Promise<IngressRoute['targets'][number]> {
  const s = http.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise((resolve) => s.close(resolve));
  return { taskId: name, ip: '127.0.0.1', port };
}

function route(host: string, replicas: readonly { target: IngressRoute['targets'][number] }[], extra: Partial<IngressRoute> = {}): IngressRoute {
  return { host, namespace: 'shop', service: host.split('.')[0].replace('*', 'any'), sessionAffinity: false, targets: replicas.map((r) => r.target), ...extra };
}

/**
 * A WebSocket echo replica on 127.0.0.1, closed with the test: it answers the upgrade (naming the Host
 * it saw in X-Seen-Host), then sends every byte back.
 */
async function webSocketEcho(taskId: string): Promise<{ target: IngressRoute['targets'][number] }> {
  const echo = http.createServer();
  const tunnels = new Set<import('node:stream').Duplex>();
  echo.on('upgrade', (req, socket) => {
    tunnels.add(socket);
    // HAProxy checks the handshake: the accept value must answer the client's key (RFC 6455 §4.2.2).
    const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nX-Seen-Host: ${req.headers.host}\r\n\r\n`,
    );
    socket.on('data', (chunk: Buffer) => socket.write(chunk));
  });
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const t of tunnels) t.destroy();
        echo.closeAllConnections();
        echo.close(() => resolve());
      }),
  );
  return { target: { taskId, ip: '127.0.0.1', port: (echo.address() as AddressInfo).port } };
}

/**
 * A WebSocket client through the proxy to ws.example.com, closed with the test: the upgrade is sent at
 * once; `received` is what came back since the last ping, and `ping` waits for the echo of its text.
 */
function webSocketClient(proxy: ProxyServer): { received: () => string; ping: (text: string) => Promise<void> } {
  const client = net.connect({ host: '127.0.0.1', port: proxy.port });
  cleanups.push(async () => void client.destroy());
  let received = '';
  client.setEncoding('latin1');
  client.on('data', (chunk: string) => {
    received += chunk;
  });
  client.write(
    'GET /chat HTTP/1.1\r\nHost: ws.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
  );
  return {
    received: () => received,
    ping: async (text) => {
      received = '';
      client.write(text);
      await expect.poll(() => received, { timeout: 5000 }).toBe(text);
    },
  };
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  json: () => { name: string; url: string; headers: Record<string, string>; error?: string; message?: string };
}

/** A request on a fresh connection (no keep-alive, unless an agent is given), so each one is balanced on its own. */
function get(proxy: ProxyServer, host: string, path = '/', headers: Record<string, string> = {}, agent: http.Agent | false = false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: proxy.port, path, headers: { host, ...headers }, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The skiff-affinity cookie an answer sets, if any. */
function cookieOf(answer: Answer): string | undefined {
  return /skiff-affinity=([^;]+)/.exec(String(answer.headers['set-cookie'] ?? ''))?.[1];
}

/** A request answered by `name` (fresh connections, round robin brings it within a few tries), to read the cookie that pins a client to it. */
async function answeredBy(proxy: ProxyServer, host: string, name: string): Promise<Answer> {
  for (let i = 0; i < 20; i++) {
    const answer = await get(proxy, host);
    if (answer.json().name === name) return answer;
  }
  throw new Error(`${name} answered none of 20 requests for ${host}`);
}

/** A request with a body, on a fresh connection. */
function send(proxy: ProxyServer, method: string, host: string, body: string): Promise<{ status: number }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: proxy.port, method, path: '/', headers: { host, 'content-length': Buffer.byteLength(body) }, agent: false },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The local CA's certificate of the last `start`, to trust its HTTPS listener. */
let caCert = '';

async function start(): Promise<HaproxyServer> {
  const dir = await mkdtemp(join(tmpdir(), 'skiff-haproxy-test-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const ca = await ensureLocalCa(dir);
  caCert = readFileSync(ca.cert, 'utf8');
  const proxy = await startHaproxy({ ca, runDir: join(dir, 'run'), log: () => {}, hardStopAfterMs: 20_000 });
  cleanups.push(() => proxy.close());
  return proxy;
}

describe('HAProxy data plane without HAProxy', () => {
  it('fails clearly, saying what to install and how to do without', async () => {
    await expect(startHaproxy({ binary: '/nonexistent/haproxy', log: () => {} })).rejects.toThrow(
      '--ingress haproxy needs HAProxy (2.6 or later) on the PATH, but running "/nonexistent/haproxy -v" failed: no such program. Install it (Debian/Ubuntu: apt-get install haproxy), or leave --ingress out to use the built-in Node proxy',
    );
  });
});

describe.skipIf(!haproxyVersion)(`HAProxy data plane (${haproxyVersion ?? 'haproxy not installed'})`, () => {
  it.skipIf(process.platform !== 'linux')(
    'runs HAProxy in a process group of its own (a Ctrl-C does not reach it) but in this session (scheduled beside its clients)',
    { timeout: 30_000 },
    async () => {
      const proxy = await start();
      const worker = await proxy.workerPid();
      expect(worker).toBeGreaterThan(0);
      // /proc/<pid>/stat: pid (comm) state ppid pgrp session ...; comm may hold spaces, so read after its ')'.
      const ids = (pid: number | 'self'): { pgrp: number; session: number } => {
        const [, , pgrp, session] = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
        return { pgrp: Number(pgrp), session: Number(session) };
      };
      const [own, its] = [ids('self'), ids(worker!)];
      expect(its.pgrp).not.toBe(own.pgrp);
      expect(its.session).toBe(own.session);
    },
  );

  it('routes by host and by path prefix, longest first, and answers unknown hosts with the JSON 404', { timeout: 30_000 }, async () => {
    const [web, api, any] = await Promise.all([replica('web-0'), replica('api-0'), replica('any-0')]);
    const proxy = await start();
    await proxy.sync([route('shop.example.com', [web]), route('shop.example.com', [api], { path: '/api', service: 'api' }), route('*.example.com', [any])]);
    expect((await get(proxy, 'shop.example.com', '/')).json().name).toBe('web-0');
    expect((await get(proxy, 'Shop.Example.com.:80', '/cart')).json().name).toBe('web-0');
    expect((await get(proxy, 'shop.example.com', '/api')).json().name).toBe('api-0');
    expect((await get(proxy, 'shop.example.com', '/api/v1?x=1')).json().name).toBe('api-0');
    expect((await get(proxy, 'shop.example.com', '/apis')).json().name).toBe('web-0');
    expect((await get(proxy, 'a.b.example.com', '/api')).json().name).toBe('any-0');
    const missing = await get(proxy, 'nobody.test', '/');
    expect(missing.status).toBe(404);
    expect(missing.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(missing.json()).toEqual({ error: 'NotFound', message: 'no service has ingress host nobody.test' });
    // Forwarding headers are the proxy's own.
    const echoed = (await get(proxy, 'shop.example.com', '/', { 'x-forwarded-for': '6.6.6.6' })).json().headers;
    expect(echoed['x-forwarded-for']).toBe('127.0.0.1');
    expect(echoed['x-forwarded-proto']).toBe('http');
    const counts = proxy.requestCounts;
    await expect.poll(() => counts()['shop/shop'] ?? 0, { timeout: 5000 }).toBeGreaterThanOrEqual(4);
    expect(proxy.routes()).toHaveLength(3);
  });

  it('serves a service of 40 replicas: its pool of 80 slots is a configuration HAProxy takes, and its 503 still works', { timeout: 30_000 }, async () => {
    const replicas = await Promise.all(Array.from({ length: 40 }, (_, i) => replica(`big-${i}`)));
    const proxy = await start();
    await proxy.sync([route('big.example.com', replicas)]);
    const seen = new Set<string>();
    for (let i = 0; i < 40; i++) seen.add((await get(proxy, 'big.example.com')).json().name);
    expect(seen.size).toBe(40);
    // Every replica gone: the service's own 503.
    await proxy.sync([route('big.example.com', [])]);
    const none = await get(proxy, 'big.example.com');
    expect(none.status).toBe(503);
    expect(none.json().message).toBe('service shop/big has no healthy replica for host big.example.com');
  });

  it('balances round robin, and keeps a client on its replica with the skiff-affinity cookie', { timeout: 30_000 }, async () => {
    const replicas = await Promise.all(['web-0', 'web-1', 'web-2'].map(replica));
    const proxy = await start();
    await proxy.sync([route('rr.example.com', replicas), route('sticky.example.com', replicas, { service: 'sticky', sessionAffinity: true })]);
    for (let i = 0; i < 30; i++) await get(proxy, 'rr.example.com');
    expect(replicas.map((r) => r.hits)).toEqual([10, 10, 10]);

    const first = await get(proxy, 'sticky.example.com');
    const setCookie = String(first.headers['set-cookie']);
    const pinned = first.json().name;
    // HAProxy's dynamic cookie: a hash of the replica's address and port, not the task id.
    const value = cookieOf(first);
    expect(value).toMatch(/^[0-9a-f]{16}$/);
    expect(setCookie).toMatch(/HttpOnly/i);
    for (let i = 0; i < 6; i++) {
      const again = await get(proxy, 'sticky.example.com', '/', { cookie: `${AFFINITY_COOKIE}=${value}` });
      expect(again.json().name).toBe(pinned);
      expect(again.headers['set-cookie']).toBeUndefined();
    }
  });

  it('retries a request a replica refused on another replica', { timeout: 30_000 }, async () => {
    const alive = await replica('web-1');
    const dead = await refusedTarget('web-0');
    const proxy = await start();
    await proxy.sync([route('shop.example.com', [{ target: dead }, alive])]);
    for (let i = 0; i < 6; i++) {
      const answer = await get(proxy, 'shop.example.com');
      expect(answer.status).toBe(200);
      expect(answer.json().name).toBe('web-1');
    }
    // None accepts: the Node proxy's 503.
    await proxy.sync([route('shop.example.com', [{ target: dead }])]);
    const refused = await get(proxy, 'shop.example.com');
    expect(refused.status).toBe(503);
    expect(refused.json()).toEqual({
      error: 'ServiceUnavailable',
      message: 'service shop/shop has no replica accepting connections for host shop.example.com: all 1 refused',
    });
    await proxy.sync([route('shop.example.com', [])]);
    expect((await get(proxy, 'shop.example.com')).json()).toEqual({
      error: 'ServiceUnavailable',
      message: 'service shop/shop has no healthy replica for host shop.example.com',
    });
  });

  it('retries a replica that closed without answering for GET, never for POST', { timeout: 30_000 }, async () => {
    const good = await replica('web-1');
    const rude = http.createServer((req) => req.socket.destroy());
    await new Promise<void>((resolve) => rude.listen(0, '127.0.0.1', resolve));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          rude.closeAllConnections();
          rude.close(() => resolve());
        }),
    );
    const closer = { target: { taskId: 'web-0', ip: '127.0.0.1', port: (rude.address() as AddressInfo).port } };
    const proxy = await start();
    await proxy.sync([route('shop.example.com', [closer, good])]);
    for (let i = 0; i < 4; i++) expect((await get(proxy, 'shop.example.com')).status).toBe(200);
    const posts: number[] = [];
    for (let i = 0; i < 4; i++) posts.push((await send(proxy, 'POST', 'shop.example.com', 'order=1')).status);
    // Round robin puts some POSTs on the replica that closes: those get a 502, not a second try.
    expect(posts).toContain(502);
    expect(posts.every((s) => s === 200 || s === 502)).toBe(true);
    expect(good.hits).toBe(4 + posts.filter((s) => s === 200).length);
  });

  it('applies a route change by a reload without dropping a request in flight to a replica that left', { timeout: 30_000 }, async () => {
    const [old, next] = await Promise.all([replica('web-0'), replica('web-1')]);
    const proxy = await start();
    await proxy.sync([route('shop.example.com', [old])]);
    old.hold = true;
    const inFlight = get(proxy, 'shop.example.com', '/slow');
    await expect.poll(() => old.hits, { timeout: 5000 }).toBe(1);
    // The replica leaves the routes while it holds the request, and a route comes: HAProxy reloads, the old worker finishes it.
    const reloads = proxy.reloads();
    await proxy.sync([route('shop.example.com', [next]), route('other.example.com', [next], { service: 'other' })]);
    expect(proxy.reloads()).toBe(reloads + 1);
    expect((await get(proxy, 'shop.example.com')).json().name).toBe('web-1');
    old.release();
    const answer = await inFlight;
    expect(answer.status).toBe(200);
    expect(answer.json()).toMatchObject({ name: 'web-0', url: '/slow' });
    expect(proxy.routes().map((r) => r.targets.map((t) => t.taskId))).toEqual([['web-1'], ['web-1']]);
  });

  it("answers a keep-alive client's next request on the old worker after a reload, from the replicas, not a 503", { timeout: 30_000 }, async () => {
    const web = await replica('web-0');
    const proxy = await start();
    await proxy.sync([route('shop.example.com', [web])]);
    // One connection, kept alive: its second request goes to the worker that accepted it, which a reload has replaced.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(async () => agent.destroy());
    const ask = () =>
      new Promise<{ status: number; reused: boolean; connection?: string; body: string }>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: proxy.port, path: '/', headers: { host: 'shop.example.com' }, agent }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket, connection: res.headers.connection, body }));
        });
        req.on('error', reject);
        req.end();
      });
    const before = await proxy.workerPid();
    expect((await ask()).status).toBe(200);
    await proxy.sync([route('shop.example.com', [web]), route('other.example.com', [web], { service: 'other' })]);
    expect(await proxy.workerPid()).not.toBe(before);
    // The old worker kept the idle connection (it closes it with this answer, not before it) and
    // answers from the replica: a stopping worker counts its backends' servers as 0 (`nbsrv`).
    const after = await ask();
    expect(after).toMatchObject({ status: 200, reused: true, connection: 'close' });
    expect(JSON.parse(after.body).name).toBe('web-0');
    expect((await ask()).status).toBe(200);
  });

  it('passes a WebSocket upgrade through, and the tunnel outlives a reload (on the old worker)', { timeout: 30_000 }, async () => {
    const ws = await webSocketEcho('ws-0');
    const other = await replica('web-0');
    const proxy = await start();
    await proxy.sync([route('ws.example.com', [ws])]);
    const client = webSocketClient(proxy);
    await expect.poll(client.received, { timeout: 5000 }).toMatch(/^HTTP\/1\.1 101[\s\S]*x-seen-host: ws.example.com\r\n\r\n$/i);
    await client.ping('ping-1');
    // Another service appears: HAProxy reloads; this tunnel stays with the old worker and still works.
    await proxy.sync([route('ws.example.com', [ws]), route('web.example.com', [other])]);
    expect((await get(proxy, 'web.example.com')).json().name).toBe('web-0');
    await client.ping('ping-2');
  });

  it('redirects plain requests for tls routes to its HTTPS listener, and serves them there', { timeout: 30_000 }, async () => {
    const web = await replica('web-0');
    const proxy = await start();
    expect(proxy.httpsPort).toBeGreaterThan(0);
    await proxy.sync([route('secure.example.com', [web], { tls: true })]);
    const redirect = await get(proxy, 'secure.example.com', '/cart?id=1');
    expect(redirect.status).toBe(308);
    expect(redirect.headers.location).toBe(`https://secure.example.com:${proxy.httpsPort}/cart?id=1`);
    // Over HTTPS, with a certificate for the host from the local CA, and h2 offered by ALPN.
    const secure = await new Promise<{ status: number; body: string; subject: string }>((resolve, reject) => {
      const req = https.request(
        {
          host: '127.0.0.1',
          port: proxy.httpsPort,
          path: '/cart',
          servername: 'secure.example.com',
          headers: { host: 'secure.example.com' },
          ca: caCert,
          agent: false,
        },
        (res) => {
          let body = '';
          res.on('data', (c: Buffer) => {
            body += c;
          });
          const socket = res.socket as import('node:tls').TLSSocket;
          const subject = String(socket.getPeerCertificate().subject?.CN);
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body, subject }));
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(secure.status).toBe(200);
    expect(JSON.parse(secure.body)).toMatchObject({ name: 'web-0', url: '/cart', headers: { 'x-forwarded-proto': 'https' } });
    expect(secure.subject).toBe('secure.example.com');
    const h2 = await new Promise<string | false | null>((resolve, reject) => {
      const socket = tls.connect(
        { host: '127.0.0.1', port: proxy.httpsPort!, servername: 'secure.example.com', ca: caCert, ALPNProtocols: ['h2', 'http/1.1'] },
        () => {
          resolve(socket.alpnProtocol);
          socket.destroy();
        },
      );
      socket.on('error', reject);
    });
    expect(h2).toBe('h2');
  });

  it('applies syncs close together with one reload, and reloads nothing for a table that did not change', { timeout: 30_000 }, async () => {
    const replicas = await Promise.all(['web-0', 'web-1', 'web-2'].map(replica));
    const proxy = await start();
    const before = proxy.reloads();
    // Three tables in a row, as discovery may send them: the last one wins, in one reload.
    await Promise.all([1, 2, 3].map((n) => proxy.sync([route('shop.example.com', replicas.slice(0, n))])));
    expect(proxy.reloads()).toBe(before + 1);
    expect(proxy.routes()[0].targets).toHaveLength(3);
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) seen.add((await get(proxy, 'shop.example.com')).json().name);
    expect([...seen].sort()).toEqual(['web-0', 'web-1', 'web-2']);
    await proxy.sync([route('shop.example.com', replicas)]);
    expect(proxy.reloads()).toBe(before + 1);
  });

  it('refuses a table it cannot express, naming the route, and keeps serving the one in force', { timeout: 30_000 }, async () => {
    const web = await replica('web-0');
    const proxy = await start();
    await proxy.sync([route('shop.example.com', [web])]);
    await expect(proxy.sync([route('shop.example.com', [{ target: { taskId: 'bad id', ip: '127.0.0.1', port: 1 } }])])).rejects.toThrow(/task id "bad id"/);
    expect((await get(proxy, 'shop.example.com')).json().name).toBe('web-0');
  });

  it('adds and removes replicas through the runtime API: no reload, the same worker, counts that go on', { timeout: 30_000 }, async () => {
    const [a, b, c] = await Promise.all(['web-0', 'web-1', 'web-2'].map(replica));
    const proxy = await start();
    await proxy.sync([route('shop.example.com', [a, b])]);
    const reloads = proxy.reloads();
    const worker = await proxy.workerPid();
    expect(worker).toBeGreaterThan(0);

    await proxy.sync([route('shop.example.com', [a, b, c])]);
    const seen = new Set<string>();
    for (let i = 0; i < 9; i++) seen.add((await get(proxy, 'shop.example.com')).json().name);
    expect([...seen].sort()).toEqual(['web-0', 'web-1', 'web-2']);
    expect(proxy.slots()['shop.example.com /']).toEqual(['s1=web-0', 's2=web-1', 's3=web-2', 's4=']);

    await proxy.sync([route('shop.example.com', [a, c])]);
    const leftAt = b.hits;
    for (let i = 0; i < 6; i++) expect((await get(proxy, 'shop.example.com')).json().name).not.toBe('web-1');
    expect(b.hits).toBe(leftAt);
    // Its slot is free again once HAProxy counts no session on it (read every second).
    await expect.poll(() => proxy.slots()['shop.example.com /'], { timeout: 10_000 }).toEqual(['s1=web-0', 's2=', 's3=web-2', 's4=']);

    // Neither change was a reload: the same worker serves, and its request counts went on.
    expect(proxy.reloads()).toBe(reloads);
    expect(proxy.runtimeUpdates()).toBe(2);
    expect(await proxy.workerPid()).toBe(worker);
    await expect.poll(() => proxy.requestCounts()['shop/shop'] ?? 0, { timeout: 5000 }).toBe(15);

    // More new replicas than free slots: one reload grows the pool.
    const more = await Promise.all(['web-3', 'web-4', 'web-5'].map(replica));
    await proxy.sync([route('shop.example.com', [a, c, ...more])]);
    expect(proxy.reloads()).toBe(reloads + 1);
    expect(await proxy.workerPid()).not.toBe(worker);
    expect(proxy.slots()['shop.example.com /']).toHaveLength(10);
    const after = new Set<string>();
    for (let i = 0; i < 10; i++) after.add((await get(proxy, 'shop.example.com')).json().name);
    expect([...after].sort()).toEqual(['web-0', 'web-2', 'web-3', 'web-4', 'web-5']);
    // The old worker's counts are carried over.
    await expect.poll(() => proxy.requestCounts()['shop/shop'] ?? 0, { timeout: 5000 }).toBe(25);
  });

  it('sends a replica that left no new request, even from a client pinned to it, and lets its request in flight finish', { timeout: 30_000 }, async () => {
    const [a, b, c] = await Promise.all(['web-0', 'web-1', 'web-2'].map(replica));
    const proxy = await start();
    const sticky = (...rs: Replica[]) => route('sticky.example.com', rs, { service: 'sticky', sessionAffinity: true });
    await proxy.sync([sticky(a, b)]);
    const pinnedToA = cookieOf(await answeredBy(proxy, 'sticky.example.com', 'web-0'))!;
    const pinnedToB = cookieOf(await answeredBy(proxy, 'sticky.example.com', 'web-1'))!;
    expect(pinnedToA).not.toBe(pinnedToB);
    const reloads = proxy.reloads();
    const worker = await proxy.workerPid();
    // Keep-alive clients leave HAProxy idle connections to web-0 (which later leaves).
    const warm = new http.Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(async () => warm.destroy());
    for (let i = 0; i < 4; i++) await get(proxy, 'sticky.example.com', '/', {}, warm);

    a.hold = true;
    const held = a.hits;
    const inFlight = get(proxy, 'sticky.example.com', '/slow', { cookie: `${AFFINITY_COOKIE}=${pinnedToA}` });
    await expect.poll(() => a.hits, { timeout: 5000 }).toBe(held + 1);

    // web-0 leaves: in maintenance, not HAProxy's drain (which would still take its pinned clients).
    await proxy.sync([sticky(b)]);
    expect(proxy.slots()['sticky.example.com /']).toEqual(['s1=web-0 (leaving)', 's2=web-1', 's3=', 's4=']);
    for (let i = 0; i < 4; i++) {
      const answer = await get(proxy, 'sticky.example.com', '/', { cookie: `${AFFINITY_COOKIE}=${pinnedToA}` });
      expect(answer.json().name).toBe('web-1');
      // Pinned again, to the replica that answered.
      expect(cookieOf(answer)).toBe(pinnedToB);
    }
    expect(a.hits).toBe(held + 1);
    a.release();
    const answer = await inFlight;
    expect(answer.status).toBe(200);
    expect(answer.json()).toMatchObject({ name: 'web-0', url: '/slow' });
    await expect.poll(() => proxy.slots()['sticky.example.com /'], { timeout: 10_000 }).toEqual(['s1=', 's2=web-1', 's3=', 's4=']);

    // A new replica takes the freed slot; web-0's cookie does not lead to it (the cookie follows the replica, not the slot).
    await proxy.sync([sticky(c, b)]);
    expect(proxy.slots()['sticky.example.com /']).toEqual(['s1=web-2', 's2=web-1', 's3=', 's4=']);
    const pinnedToC = cookieOf(await answeredBy(proxy, 'sticky.example.com', 'web-2'))!;
    expect(pinnedToC).not.toBe(pinnedToA);
    // web-0 still listens: a connection HAProxy kept to it from the slot's last holder would show
    // here. Requests after the first on a client's keep-alive connection may reuse HAProxy's idle
    // connections to a server, so the client keeps its connection.
    const finished = a.hits;
    const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(async () => keepAlive.destroy());
    for (let i = 0; i < 8; i++) expect((await get(proxy, 'sticky.example.com', '/', {}, keepAlive)).json().name).not.toBe('web-0');
    expect(a.hits).toBe(finished);
    for (let i = 0; i < 4; i++) expect((await get(proxy, 'sticky.example.com', '/', { cookie: `${AFFINITY_COOKIE}=${pinnedToB}` })).json().name).toBe('web-1');
    expect(proxy.reloads()).toBe(reloads);
    expect(await proxy.workerPid()).toBe(worker);
  });

  it('keeps a WebSocket tunnel in the same worker through target changes of its own and other routes', { timeout: 30_000 }, async () => {
    const ws = await webSocketEcho('ws-0');
    const [x, y, z] = await Promise.all(['web-0', 'web-1', 'ws-1'].map(replica));
    const proxy = await start();
    await proxy.sync([route('ws.example.com', [ws]), route('web.example.com', [x])]);
    const worker = await proxy.workerPid();
    const client = webSocketClient(proxy);
    await expect.poll(client.received, { timeout: 5000 }).toMatch(/^HTTP\/1\.1 101[\s\S]*\r\n\r\n$/);
    await client.ping('ping-1');
    // Another route's replicas change, then this route gets a second replica.
    await proxy.sync([route('ws.example.com', [ws]), route('web.example.com', [y])]);
    expect((await get(proxy, 'web.example.com')).json().name).toBe('web-1');
    await client.ping('ping-2');
    await proxy.sync([route('ws.example.com', [ws, z]), route('web.example.com', [y])]);
    await client.ping('ping-3');
    expect(proxy.reloads()).toBe(1);
    expect(await proxy.workerPid()).toBe(worker);
  });

  it('falls back to a reload, saying so, when a runtime command fails', { timeout: 30_000 }, async () => {
    const [a, b] = await Promise.all(['web-0', 'web-1'].map(replica));
    const dir = await mkdtemp(join(tmpdir(), 'skiff-haproxy-test-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const lines: string[] = [];
    const proxy = await startHaproxy({ runDir: dir, log: (line) => lines.push(line), hardStopAfterMs: 20_000 });
    cleanups.push(() => proxy.close());
    await proxy.sync([route('shop.example.com', [a])]);
    const reloads = proxy.reloads();
    // The workers' stats socket moved away: the runtime commands cannot reach HAProxy.
    await rename(join(dir, 'stats.sock'), join(dir, 'stats.sock.away'));
    await proxy.sync([route('shop.example.com', [a, b])]);
    expect(lines.join('\n')).toMatch(
      /the runtime API refused "set server skiff\.shop\.shop\/s2 addr 127\.0\.0\.1 port \d+": .*; applying the routes by a reload instead/,
    );
    expect(proxy.reloads()).toBe(reloads + 1);
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) seen.add((await get(proxy, 'shop.example.com')).json().name);
    expect([...seen].sort()).toEqual(['web-0', 'web-1']);
  });

  it('after a failed runtime change whose fallback reload failed too, reloads the next table rather than take it as applied', { timeout: 30_000 }, async () => {
    const [a, b] = await Promise.all(['web-0', 'web-1'].map(replica));
    const dir = await mkdtemp(join(tmpdir(), 'skiff-haproxy-test-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const proxy = await startHaproxy({ runDir: dir, log: () => {}, hardStopAfterMs: 20_000 });
    cleanups.push(() => proxy.close());
    await proxy.sync([route('shop.example.com', [a])]);
    const reloads = proxy.reloads();
    await rename(join(dir, 'stats.sock'), join(dir, 'stats.sock.away'));
    // The reload cannot write its candidate configuration either.
    await mkdir(join(dir, 'haproxy.cfg.next'));
    await expect(proxy.sync([route('shop.example.com', [a, b])])).rejects.toThrow(/EISDIR/);
    await rm(join(dir, 'haproxy.cfg.next'), { recursive: true });
    // The same table again: HAProxy never got web-1, so this is a reload, not "nothing to do".
    await proxy.sync([route('shop.example.com', [a, b])]);
    expect(proxy.reloads()).toBe(reloads + 1);
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) seen.add((await get(proxy, 'shop.example.com')).json().name);
    expect([...seen].sort()).toEqual(['web-0', 'web-1']);
  });
});
