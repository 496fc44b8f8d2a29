/**
 * The local load balancer's TLS, HTTP/2, WebSocket and path routing, with real clients: node
 * https and http2 clients and curl trusting the local CA, the `ws` package as WebSocket client and
 * server, plain node:http servers on 127.0.0.1 as replicas. No Docker.
 */
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { ensureLocalCa, type CaFiles } from '../../local/ca.ts';
import { AFFINITY_COOKIE, startProxy, type ProxyServer } from '../../local/proxy.ts';
import { startProxyWorker } from '../../local/proxy-worker.ts';
import type { IngressRoute } from '../../ports/index.ts';

const run = promisify(execFile);
let dataDir: string;
let ca: CaFiles;
let caPem: string;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'skiff-tls-'));
  ca = await ensureLocalCa(dataDir);
  caPem = await readFile(ca.cert, 'utf8');
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

interface Replica {
  readonly name: string;
  readonly target: IngressRoute['targets'][number];
  readonly server: http.Server;
  readonly sockets: WebSocket[];
}

/** A replica answering `<name> <x-forwarded-proto> <url>`, and echoing WebSocket messages as `<name>: <message>`. */
async function replica(name: string): Promise<Replica> {
  const server = http.createServer((req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.end(`${name} ${req.headers['x-forwarded-proto']} ${req.url}`);
  });
  const sockets: WebSocket[] = [];
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => {
    sockets.push(ws);
    ws.on('message', (data) => ws.send(`${name}: ${String(data)}`));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  cleanups.push(async () => {
    for (const ws of wss.clients) ws.terminate();
    wss.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return { name, target: { taskId: name, ip: '127.0.0.1', port }, server, sockets };
}

function route(host: string, replicas: readonly Replica[], extra: Partial<IngressRoute> = {}): IngressRoute {
  return {
    host,
    namespace: 'shop',
    service: extra.service ?? replicas[0]?.name ?? 'none',
    sessionAffinity: false,
    targets: replicas.map((r) => r.target),
    ...extra,
  };
}

async function tlsProxy(drainMs = 5000): Promise<ProxyServer & { httpsPort: number }> {
  const p = await startProxy({ ca, drainMs, log: () => {} });
  cleanups.push(() => p.close());
  expect(p.httpsPort).toBeGreaterThan(0);
  return p as ProxyServer & { httpsPort: number };
}

/** GET over HTTPS/1.1 as `host`, trusting the local CA only. */
function get1(
  port: number,
  host: string,
  path = '/',
  headers: http.OutgoingHttpHeaders = {},
): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders; alpn: string | false }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        servername: host,
        path,
        headers: { host, ...headers },
        ca: caPem,
        agent: false,
        ALPNProtocols: ['http/1.1'],
      } as https.RequestOptions,
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body, headers: res.headers, alpn: (res.socket as import('node:tls').TLSSocket).alpnProtocol ?? false }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** GETs over one HTTP/2 session as `host`, trusting the local CA only. */
async function get2(port: number, host: string, paths: string[], cookie?: string): Promise<{ status: number; body: string; setCookie?: string[] }[]> {
  const session = http2.connect(`https://127.0.0.1:${port}`, { ca: caPem, servername: host });
  try {
    const out: { status: number; body: string; setCookie?: string[] }[] = [];
    let pinned = cookie;
    for (const path of paths) {
      out.push(
        await new Promise((resolve, reject) => {
          const stream = session.request({ ':path': path, ':authority': host, ...(pinned ? { cookie: pinned } : {}) });
          let status = 0;
          let setCookie: string[] | undefined;
          let body = '';
          stream.on('response', (h) => {
            status = Number(h[':status']);
            setCookie = h['set-cookie'] as string[] | undefined;
          });
          stream.setEncoding('utf8');
          stream.on('data', (c: string) => (body += c));
          stream.on('end', () => resolve({ status, body, ...(setCookie ? { setCookie } : {}) }));
          stream.on('error', reject);
          stream.end();
        }),
      );
      const set = out.at(-1)?.setCookie?.find((c) => c.startsWith(`${AFFINITY_COOKIE}=`));
      if (set) pinned = set.split(';')[0];
    }
    return out;
  } finally {
    session.close();
  }
}

function plainGet(port: number, host: string, path: string): Promise<{ status: number; location?: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, headers: { host }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ...(res.headers.location ? { location: res.headers.location } : {}) }));
    });
    req.on('error', reject);
    req.end();
  });
}

function openSocket(url: string, host: string, options: { ca?: string; cookie?: string } = {}): Promise<{ ws: WebSocket; setCookie?: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      headers: { host, ...(options.cookie ? { cookie: options.cookie } : {}) },
      ...(options.ca ? { ca: options.ca, servername: host } : {}),
    });
    let setCookie: string | undefined;
    ws.on('upgrade', (res) => {
      setCookie = (res.headers['set-cookie'] ?? []).find((c) => c.startsWith(`${AFFINITY_COOKIE}=`));
    });
    ws.once('open', () => resolve({ ws, ...(setCookie ? { setCookie } : {}) }));
    ws.once('error', reject);
    cleanups.push(async () => ws.terminate());
  });
}

function echo(ws: WebSocket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    ws.once('message', (data) => resolve(String(data)));
    ws.once('error', reject);
    ws.send(text);
  });
}

describe('the local CA', () => {
  it('is created once, with its key readable by its owner only, and issues certificates it signed for one host', async () => {
    expect((await stat(ca.key)).mode & 0o777).toBe(0o600);
    const again = await ensureLocalCa(dataDir);
    expect(again.created).toBe(false);
    expect(await readFile(ca.cert, 'utf8')).toBe(caPem);
    const { loadLocalCa } = await import('../../local/ca.ts');
    const issued = await (await loadLocalCa(ca)).issue('shop.example.test');
    const leaf = new X509Certificate(issued.cert);
    const root = new X509Certificate(caPem);
    expect(leaf.checkIssued(root)).toBe(true);
    expect(leaf.verify(root.publicKey)).toBe(true);
    expect(leaf.subjectAltName).toBe('DNS:shop.example.test');
    expect(leaf.ca).toBe(false);
    expect(root.ca).toBe(true);
  });
});

describe('the HTTPS listener', () => {
  it('serves HTTP/1.1 and h2 with a certificate for the host, and tells replicas the request came over https', async () => {
    const web = await replica('web');
    const p = await tlsProxy();
    await p.sync([route('shop.example.test', [web], { tls: true })]);
    const one = await get1(p.httpsPort, 'shop.example.test', '/cart');
    expect(one).toMatchObject({ status: 200, body: 'web https /cart', alpn: 'http/1.1' });
    const [two] = await get2(p.httpsPort, 'shop.example.test', ['/h2']);
    expect(two).toMatchObject({ status: 200, body: 'web https /h2' });
  });

  it('passes an h2 request body sent without Content-Length on to the replica', async () => {
    const echo = http.createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => res.end(`${req.method} ${req.url} got ${JSON.stringify(body)}`));
    });
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    cleanups.push(async () => {
      echo.closeAllConnections();
      await new Promise((resolve) => echo.close(resolve));
    });
    const p = await tlsProxy();
    await p.sync([
      {
        host: 'up.example.test',
        namespace: 'shop',
        service: 'up',
        sessionAffinity: false,
        targets: [{ taskId: 'up-0', ip: '127.0.0.1', port: (echo.address() as AddressInfo).port }],
      },
    ]);
    const session = http2.connect(`https://127.0.0.1:${p.httpsPort}`, { ca: caPem, servername: 'up.example.test' });
    cleanups.push(async () => session.destroy());
    const answer = await new Promise<string>((resolve, reject) => {
      const stream = session.request({ ':method': 'POST', ':path': '/upload', ':authority': 'up.example.test' });
      let body = '';
      stream.setEncoding('utf8');
      stream.on('data', (c: string) => (body += c));
      stream.on('end', () => resolve(body));
      stream.on('error', reject);
      stream.write('part one, ');
      stream.end('part two');
    });
    expect(answer).toBe('POST /upload got "part one, part two"');
  });

  it('keeps a client on its replica over h2 with the affinity cookie', async () => {
    const [a, b, c] = await Promise.all([replica('a'), replica('b'), replica('c')]);
    const p = await tlsProxy();
    await p.sync([route('shop.example.test', [a, b, c], { sessionAffinity: true, tls: true, service: 'web' })]);
    const answers = await get2(p.httpsPort, 'shop.example.test', ['/1', '/2', '/3', '/4', '/5', '/6']);
    const names = answers.map((x) => x.body.split(' ')[0]);
    expect(new Set(names).size).toBe(1);
    expect(answers[0].setCookie?.[0]).toMatch(new RegExp(`^${AFFINITY_COOKIE}=${names[0]}; Path=/; HttpOnly; SameSite=Lax`));
  });

  it('redirects plain HTTP to HTTPS for a tls route (308, same host and target), and serves plain routes as before', async () => {
    const [web, blog] = await Promise.all([replica('web'), replica('blog')]);
    const p = await tlsProxy();
    await p.sync([route('shop.example.test', [web], { tls: true }), route('blog.example.test', [blog])]);
    expect(await plainGet(p.port, 'shop.example.test', '/cart?id=1')).toEqual({ status: 308, location: `https://shop.example.test:${p.httpsPort}/cart?id=1` });
    expect((await plainGet(p.port, 'blog.example.test', '/')).status).toBe(200);
    // HTTPS serves a route without tls too: the certificate is issued for any routed host.
    expect((await get1(p.httpsPort, 'blog.example.test')).body).toBe('blog https /');
  });

  it('issues no certificate for a host no route serves: the client gets the localhost one and refuses it', async () => {
    const p = await tlsProxy();
    await p.sync([]);
    await expect(get1(p.httpsPort, 'nobody.example.test')).rejects.toThrow(/altnames|does not match/i);
  });

  it('answers a client that sends no server name (or an IP address) with a certificate for localhost and 127.0.0.1', async () => {
    const web = await replica('web');
    const p = await tlsProxy();
    await p.sync([route('shop.example.test', [web], { tls: true })]);
    const answer = await new Promise<string>((resolve, reject) => {
      const req = https.request(
        { host: '127.0.0.1', port: p.httpsPort, path: '/ip', headers: { host: 'shop.example.test' }, ca: caPem, agent: false },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => resolve(body));
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(answer).toBe('web https /ip');
  });

  it('runs in its own thread as local up starts it, with the CA files and both ports', async () => {
    const web = await replica('web');
    const p = await startProxyWorker({ ca, drainMs: 1000, log: () => {} });
    cleanups.push(() => p.close());
    expect(p.httpsUrl).toBe(`https://127.0.0.1:${p.httpsPort}`);
    await p.sync([route('shop.example.test', [web], { tls: true })]);
    expect(await plainGet(p.port, 'shop.example.test', '/x')).toEqual({ status: 308, location: `https://shop.example.test:${p.httpsPort}/x` });
    const [answer] = await get2(p.httpsPort!, 'shop.example.test', ['/x']);
    expect(answer.body).toBe('web https /x');
  });

  it('frees the HTTPS port when the HTTP port cannot be bound, so a start on other ports can take it', async () => {
    const taken = await tlsProxy();
    const httpsPort = await new Promise<number>((resolve) => {
      const s = http.createServer();
      s.listen(0, '127.0.0.1', () => {
        const port = (s.address() as AddressInfo).port;
        s.close(() => resolve(port));
      });
    });
    await expect(startProxy({ ca, port: taken.port, httpsPort, log: () => {} })).rejects.toMatchObject({ code: 'EADDRINUSE' });
    const again = await startProxy({ ca, httpsPort, log: () => {} });
    cleanups.push(() => again.close());
    expect(again.httpsPort).toBe(httpsPort);
  });

  it('negotiates h2 with curl trusting the local CA', async () => {
    const web = await replica('web');
    const p = await tlsProxy();
    await p.sync([route('shop.example.test', [web], { tls: true })]);
    const { stdout } = await run('curl', [
      '-sS',
      '--http2',
      '--cacert',
      ca.cert,
      '--resolve',
      `shop.example.test:${p.httpsPort}:127.0.0.1`,
      '-w',
      '\n%{http_version}',
      `https://shop.example.test:${p.httpsPort}/curl`,
    ]);
    expect(stdout).toBe('web https /curl\n2');
  });
});

describe('paths and wildcard hosts', () => {
  it('sends /api and / of one host to two services, the most specific host first', async () => {
    const [web, api, any] = await Promise.all([replica('web'), replica('api'), replica('any')]);
    const p = await tlsProxy();
    await p.sync([route('shop.example.test', [web]), route('shop.example.test', [api], { path: '/api' }), route('*.example.test', [any])]);
    const body = async (host: string, path: string) => (await get1(p.httpsPort, host, path)).body.split(' ')[0];
    expect(await body('shop.example.test', '/')).toBe('web');
    expect(await body('shop.example.test', '/api/v1/items')).toBe('api');
    expect(await body('shop.example.test', '/apis')).toBe('web');
    expect(await body('eu.example.test', '/api')).toBe('any');
    expect(await body('a.b.example.test', '/')).toBe('any');
    expect((await plainGet(p.port, 'example.test', '/')).status).toBe(404);
  });
});

describe('WebSocket', () => {
  it('passes upgrades through on both listeners, pinning the client with the affinity cookie', async () => {
    const [a, b] = await Promise.all([replica('a'), replica('b')]);
    const p = await tlsProxy();
    await p.sync([route('chat.example.test', [a, b], { sessionAffinity: true, service: 'chat' })]);
    const plain = await openSocket(`ws://127.0.0.1:${p.port}/socket`, 'chat.example.test');
    expect(await echo(plain.ws, 'hello')).toMatch(/^[ab]: hello$/);
    const pinnedTo = plain.setCookie?.split(';')[0];
    expect(pinnedTo).toMatch(new RegExp(`^${AFFINITY_COOKIE}=[ab]$`));
    for (let i = 0; i < 3; i++) {
      const again = await openSocket(`wss://127.0.0.1:${p.httpsPort}/socket`, 'chat.example.test', { ca: caPem, cookie: pinnedTo });
      expect(await echo(again.ws, `try ${i}`)).toBe(`${pinnedTo?.split('=')[1]}: try ${i}`);
      again.ws.close();
    }
  });

  it('redirects a plain upgrade for a tls route to https', async () => {
    const a = await replica('a');
    const p = await tlsProxy();
    await p.sync([route('chat.example.test', [a], { tls: true })]);
    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${p.port}/`, { headers: { host: 'chat.example.test' }, followRedirects: false });
      ws.on('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
        ws.terminate();
      });
      ws.on('open', () => reject(new Error('opened')));
      ws.on('error', () => {});
    });
    expect(status).toBe(308);
  });

  it("keeps a leaving replica's connection through the drain, then closes it with a close frame", async () => {
    const [a, b] = await Promise.all([replica('a'), replica('b')]);
    const p = await tlsProxy(1500);
    await p.sync([route('chat.example.test', [a], { service: 'chat' })]);
    const { ws } = await openSocket(`wss://127.0.0.1:${p.httpsPort}/`, 'chat.example.test', { ca: caPem });
    expect(await echo(ws, 'before')).toBe('a: before');
    const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
    await p.sync([route('chat.example.test', [b], { service: 'chat' })]);
    // Not cut at the sync: the tunnel to a still carries messages during the drain.
    expect(await echo(ws, 'during the drain')).toBe('a: during the drain');
    // A new connection goes to the replica that serves now.
    const fresh = await openSocket(`ws://127.0.0.1:${p.port}/`, 'chat.example.test');
    expect(await echo(fresh.ws, 'new')).toBe('b: new');
    expect(await closed).toEqual({ code: 1001, reason: 'the replica is going away' });
    expect(await echo(fresh.ws, 'still')).toBe('b: still');
  });

  it("outlives the proxy's request timeouts: an open WebSocket is not a slow request", async () => {
    const a = await replica('a');
    const p = await startProxy({ ca, headersTimeoutMs: 300, requestTimeoutMs: 600, log: () => {} });
    cleanups.push(() => p.close());
    await p.sync([route('chat.example.test', [a])]);
    const plain = await openSocket(`ws://127.0.0.1:${p.port}/`, 'chat.example.test');
    const secure = await openSocket(`wss://127.0.0.1:${p.httpsPort}/`, 'chat.example.test', { ca: caPem });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await echo(plain.ws, 'still here')).toBe('a: still here');
    expect(await echo(secure.ws, 'still here')).toBe('a: still here');
  });

  it("passes the replica's own close through when it closes first", async () => {
    const a = await replica('a');
    const p = await tlsProxy();
    await p.sync([route('chat.example.test', [a])]);
    const { ws } = await openSocket(`ws://127.0.0.1:${p.port}/`, 'chat.example.test');
    await echo(ws, 'hi');
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    a.sockets[0].close(4000, 'bye');
    expect(await closed).toBe(4000);
  });
});

describe('the HTTPS listener against slow clients', () => {
  /** A replica that reads request bodies to the end and answers after `delayMs`; it records each request's fate. */
  async function slowReplica(delayMs: number): Promise<{ target: IngressRoute['targets'][number]; started: string[]; completed: string[]; aborted: string[] }> {
    const started: string[] = [];
    const completed: string[] = [];
    const aborted: string[] = [];
    const server = http.createServer((req, res) => {
      started.push(req.url ?? '');
      req.on('close', () => {
        if (!req.complete) aborted.push(req.url ?? '');
      });
      req.resume();
      req.on('end', () => {
        completed.push(req.url ?? '');
        setTimeout(() => res.end(`answered ${req.url}`), delayMs);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });
    return { target: { taskId: 'slow', ip: '127.0.0.1', port: (server.address() as AddressInfo).port }, started, completed, aborted };
  }

  async function strictProxy(): Promise<ProxyServer & { httpsPort: number }> {
    const p = await startProxy({ ca, headersTimeoutMs: 300, requestTimeoutMs: 600, log: () => {} });
    cleanups.push(() => p.close());
    return p as ProxyServer & { httpsPort: number };
  }

  function h2Session(port: number, host: string): http2.ClientHttp2Session {
    const session = http2.connect(`https://127.0.0.1:${port}`, { ca: caPem, servername: host });
    session.on('error', () => {});
    cleanups.push(async () => session.destroy());
    return session;
  }

  /** One h2 request: its status, body and the stream's RST code, whatever the end. */
  function h2Request(
    session: http2.ClientHttp2Session,
    headers: http2.OutgoingHttpHeaders,
    body?: string,
  ): { stream: http2.ClientHttp2Stream; done: Promise<{ status: number; body: string; rstCode: number | undefined }> } {
    const stream = session.request(headers, { endStream: body === undefined });
    let status = 0;
    let text = '';
    stream.on('response', (h) => (status = Number(h[':status'])));
    stream.setEncoding('utf8');
    stream.on('data', (c: string) => (text += c));
    stream.on('error', () => {});
    if (body !== undefined) stream.write(body);
    const done = new Promise<{ status: number; body: string; rstCode: number | undefined }>((resolve) =>
      stream.on('close', () => resolve({ status, body: text, rstCode: stream.rstCode })),
    );
    return { stream, done };
  }

  it('answers 408 to an HTTP/2 stream whose body stops arriving, frees it and aborts its replica request, while the session serves others', async () => {
    const slow = await slowReplica(0);
    const p = await strictProxy();
    await p.sync([{ host: 'up.example.test', namespace: 'shop', service: 'up', sessionAffinity: false, targets: [slow.target] }]);
    const session = h2Session(p.httpsPort, 'up.example.test');
    // Headers, then part of the body, then nothing: the stream never ends.
    const stalled = h2Request(session, { ':method': 'POST', ':path': '/stalled', ':authority': 'up.example.test' }, 'the first bytes');
    const result = await stalled.done;
    expect(result.status).toBe(408);
    expect(JSON.parse(result.body)).toEqual({ error: 'RequestTimeout', message: 'the request did not arrive in time' });
    expect(result.rstCode).toBe(http2.constants.NGHTTP2_NO_ERROR);
    await until(() => slow.aborted.includes('/stalled'));
    // The session is still open for requests that arrive whole.
    expect(session.closed).toBe(false);
    const fine = h2Request(session, { ':method': 'POST', ':path': '/whole', ':authority': 'up.example.test' }, 'all of it');
    fine.stream.end();
    expect(await fine.done).toMatchObject({ status: 200, body: 'answered /whole' });
  });

  it('aborts the replica request, rather than ending it, when an HTTP/2 client resets its stream in the middle of its body', async () => {
    const slow = await slowReplica(0);
    const p = await tlsProxy();
    await p.sync([{ host: 'up.example.test', namespace: 'shop', service: 'up', sessionAffinity: false, targets: [slow.target] }]);
    const session = h2Session(p.httpsPort, 'up.example.test');
    const cut = h2Request(session, { ':method': 'POST', ':path': '/cut', ':authority': 'up.example.test' }, 'the first half');
    await until(() => slow.started.includes('/cut'));
    // RST_STREAM without END_STREAM (Node's close() would end the body first, making it whole).
    cut.stream.destroy();
    await until(() => slow.aborted.includes('/cut') || slow.completed.includes('/cut'));
    expect(slow.completed).toEqual([]);
    expect(slow.aborted).toEqual(['/cut']);
  });

  it('lets one HTTP/2 session have at most 100 streams open, the next waiting for a free one', async () => {
    const slow = await slowReplica(0);
    const p = await tlsProxy();
    await p.sync([{ host: 'up.example.test', namespace: 'shop', service: 'up', sessionAffinity: false, targets: [slow.target] }]);
    const session = h2Session(p.httpsPort, 'up.example.test');
    await new Promise<void>((resolve) => session.once('remoteSettings', () => resolve()));
    expect(session.remoteSettings.maxConcurrentStreams).toBe(100);
    // 101 uploads that stall after their first bytes: 100 reach the replica, the last waits in the client.
    const uploads = Array.from({ length: 101 }, (_, i) => h2Request(session, { ':method': 'POST', ':path': `/u${i}`, ':authority': 'up.example.test' }, 'x'));
    await until(() => slow.started.length === 100);
    // The 101st cannot have started: no stream of the session has ended yet.
    expect(slow.started).not.toContain('/u100');
    uploads[0].stream.end();
    expect(await uploads[0].done).toMatchObject({ status: 200, body: 'answered /u0' });
    await until(() => slow.started.length === 101);
    expect(slow.started).toContain('/u100');
  });

  it('lets a whole HTTP/2 request wait longer than both limits for its answer', async () => {
    const slow = await slowReplica(1200);
    const p = await strictProxy();
    await p.sync([{ host: 'up.example.test', namespace: 'shop', service: 'up', sessionAffinity: false, targets: [slow.target] }]);
    const session = h2Session(p.httpsPort, 'up.example.test');
    const get = h2Request(session, { ':path': '/get', ':authority': 'up.example.test' });
    const post = h2Request(session, { ':method': 'POST', ':path': '/post', ':authority': 'up.example.test' }, 'body');
    post.stream.end();
    expect(await get.done).toMatchObject({ status: 200, body: 'answered /get' });
    expect(await post.done).toMatchObject({ status: 200, body: 'answered /post' });
    expect(slow.aborted).toEqual([]);
  });

  it('closes an HTTP/2 session that opens no stream, and one left idle after its requests', async () => {
    const slow = await slowReplica(0);
    const p = await strictProxy();
    await p.sync([{ host: 'up.example.test', namespace: 'shop', service: 'up', sessionAffinity: false, targets: [slow.target] }]);
    const silent = h2Session(p.httpsPort, 'up.example.test');
    // PINGs are not requests: they do not keep the session open.
    const pinger = setInterval(() => silent.ping(() => {}), 100);
    try {
      await new Promise<void>((resolve) => silent.once('close', () => resolve()));
    } finally {
      clearInterval(pinger);
    }
    const used = h2Session(p.httpsPort, 'up.example.test');
    expect(await h2Request(used, { ':path': '/', ':authority': 'up.example.test' }).done).toMatchObject({ status: 200 });
    await new Promise<void>((resolve) => used.once('close', () => resolve()));
  });

  it('answers 408 to an HTTP/1.1-over-TLS client that sends its headers too slowly', async () => {
    const slow = await slowReplica(0);
    const p = await strictProxy();
    await p.sync([{ host: 'up.example.test', namespace: 'shop', service: 'up', sessionAffinity: false, targets: [slow.target] }]);
    const socket = tls.connect({ host: '127.0.0.1', port: p.httpsPort, servername: 'up.example.test', ca: caPem, ALPNProtocols: ['http/1.1'] });
    cleanups.push(async () => socket.destroy());
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => (received += c));
    socket.on('error', () => {});
    await new Promise<void>((resolve) => socket.once('secureConnect', () => resolve()));
    socket.write('GET / HTTP/1.1\r\nHost: up.example.test\r\n');
    let n = 0;
    const drip = setInterval(() => socket.writable && socket.write(`X-Drip-${n++}: a\r\n`), 100);
    try {
      await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    } finally {
      clearInterval(drip);
    }
    expect(received).toMatch(/^HTTP\/1\.1 408 /);
    expect(received).toContain('the request did not arrive in time');
  });
});

/** Waits for `check` to hold, polling; the test's own timeout bounds it. */
async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 20));
}
