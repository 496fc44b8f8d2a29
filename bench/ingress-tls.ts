/**
 * The local load balancer's throughput over plain HTTP and over TLS (HTTP/1.1 keep-alive, wrk),
 * beside HAProxy doing the same in the same run, against three node:http replicas on 127.0.0.1.
 * No Docker: the figures are the proxies' own cost, not busybox's.
 *
 *   npx tsx bench/ingress-tls.ts [--seconds 5] [--rounds 3]
 *
 * Prints requests per second, the median of the rounds, for: one replica direct; Skiff plain;
 * Skiff TLS; and, when `haproxy` is installed, Skiff with its HAProxy data plane
 * (`local up --ingress haproxy`: local/haproxy.ts, plain and TLS) and a hand-written HAProxy
 * configuration (plain and TLS). Then what a change costs the HAProxy data plane: a replica added
 * or removed (runtime API) against a route added or removed (reload), timed, and wrk's rate and
 * failures while one or the other happens every 500 ms. Every process it starts is stopped by pid
 * at the end.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import { ensureLocalCa, loadLocalCa } from '../local/ca.ts';
import { startProxyWorker } from '../local/proxy-worker.ts';
import { type HaproxyServer, startHaproxy } from '../local/haproxy.ts';
import type { IngressRoute } from '../ports/index.ts';

const run = promisify(execFile);
const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' }, rounds: { type: 'string', default: '3' } } });
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const HOST = 'bench.example.test';

async function replica(name: string): Promise<{ port: number; close: () => Promise<void> }> {
  const body = `${name}\n`;
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** wrk, 2 threads, 8 connections; requests per second. */
async function wrk(url: string): Promise<number> {
  const { rate, failed } = await wrkRun(url);
  if (failed > 0) throw new Error(`wrk saw ${failed} error answers or socket errors from ${url}`);
  return rate;
}

/** wrk, 2 threads, 8 connections: requests per second, and the answers that were not 2xx/3xx plus socket errors. */
async function wrkRun(url: string): Promise<{ rate: number; failed: number }> {
  const { stdout } = await run('wrk', ['-t2', '-c8', `-d${seconds}s`, '-H', `Host: ${HOST}`, url], { maxBuffer: 1 << 20 });
  const m = /Requests\/sec:\s+([\d.]+)/.exec(stdout);
  if (!m) throw new Error(`wrk printed no rate:\n${stdout}`);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  return { rate: Number(m[1]), failed: non2xx + (socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0) };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function freePort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

const dir = await mkdtemp(join(tmpdir(), 'skiff-bench-tls-'));
const replicas = await Promise.all(['a', 'b', 'c'].map(replica));
/** A fourth replica that comes and goes in the churn cases. */
const extra = await replica('d');
const ca = await ensureLocalCa(dir);
const proxy = await startProxyWorker({ ca, log: () => {} });
await proxy.sync([
  {
    host: HOST,
    namespace: 'bench',
    service: 'web',
    sessionAffinity: false,
    targets: replicas.map((r, i) => ({ taskId: `web-${i}`, ip: '127.0.0.1', port: r.port })),
  },
]);

// Skiff's HAProxy data plane, fed the same route table as the Node proxy; no debounce, so a sync's time is its change's.
let skiffHaproxy: HaproxyServer | undefined;
try {
  skiffHaproxy = await startHaproxy({ ca, runDir: join(dir, 'skiff-haproxy'), log: () => {}, debounceMs: 0 });
  await skiffHaproxy.sync(proxy.routes());
} catch (err) {
  console.error(`skiff's haproxy data plane left out: ${(err as Error).message}`);
}

// HAProxy with the same certificate (its PEM holds key and chain), the same replicas, keep-alive both sides.
let haproxy: { pid: number; http: number; https: number } | undefined;
try {
  await run('haproxy', ['-v']);
  const pair = await (await loadLocalCa(ca)).issue(HOST);
  const pem = join(dir, 'haproxy.pem');
  await writeFile(pem, `${pair.cert}${pair.key}`, { mode: 0o600 });
  const [hp, hps] = [await freePort(), await freePort()];
  const cfg = join(dir, 'haproxy.cfg');
  await writeFile(
    cfg,
    `global
  maxconn 1024
defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  option http-keep-alive
frontend plain
  bind 127.0.0.1:${hp}
  default_backend web
frontend tls
  bind 127.0.0.1:${hps} ssl crt ${pem} alpn h2,http/1.1
  default_backend web
backend web
  balance roundrobin
${replicas.map((r, i) => `  server r${i} 127.0.0.1:${r.port}`).join('\n')}
`,
  );
  const child = spawn('haproxy', ['-f', cfg], { stdio: 'ignore' });
  await new Promise((resolve) => setTimeout(resolve, 1000));
  if (child.pid !== undefined && child.exitCode === null) haproxy = { pid: child.pid, http: hp, https: hps };
} catch (err) {
  console.error(`haproxy left out: ${(err as Error).message}`);
}

/**
 * What a change costs the HAProxy data plane: a replica added or removed (the runtime API) against
 * a route added or removed (a reload), each timed from sync to applied; then wrk's rate and failed
 * requests while one or the other happens every 500 ms.
 */
async function churn(plane: HaproxyServer): Promise<void> {
  const base = plane.routes();
  const withTarget = (on: boolean): IngressRoute[] =>
    on ? base.map((r) => ({ ...r, targets: [...r.targets, { taskId: 'web-3', ip: '127.0.0.1', port: extra.port }] })) : base;
  const withRoute = (on: boolean): IngressRoute[] =>
    on
      ? [
          ...base,
          {
            host: 'other.example.test',
            namespace: 'bench',
            service: 'other',
            sessionAffinity: false,
            targets: [{ taskId: 'other-0', ip: '127.0.0.1', port: extra.port }],
          },
        ]
      : base;
  const kinds: [string, (on: boolean) => IngressRoute[]][] = [
    ['a replica added or removed (runtime API)', withTarget],
    ['a route added or removed (reload)', withRoute],
  ];
  console.log('changes to the haproxy data plane, sync → applied (ms, 20 changes each):');
  for (const [name, table] of kinds) {
    const [reloads, runtime] = [plane.reloads(), plane.runtimeUpdates()];
    const ms: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      await plane.sync(table(i % 2 === 0));
      ms.push(performance.now() - t0);
    }
    await plane.sync(base);
    console.log(
      `  ${name.padEnd(42)} median ${median(ms).toFixed(1).padStart(6)}, max ${Math.max(...ms)
        .toFixed(1)
        .padStart(6)}   (${plane.reloads() - reloads} reloads, ${plane.runtimeUpdates() - runtime} runtime updates)`,
    );
  }
  console.log(`wrk -t2 -c8 -d${seconds}s on the haproxy data plane (plain) while a change happens every 500 ms:`);
  for (const [name, table] of [['no change', undefined] as const, ...kinds]) {
    let on = false;
    let stop = false;
    const changer = (async () => {
      while (table && !stop) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        on = !on;
        await plane.sync(table(on));
      }
    })();
    const { rate, failed } = await wrkRun(`${plane.url}/`).finally(() => {
      stop = true;
    });
    await changer;
    await plane.sync(base);
    console.log(`  ${name.padEnd(42)} ${rate.toFixed(0).padStart(7)} requests/s, ${failed} failed`);
  }
}

const cases: [string, string][] = [
  ['one replica direct', `http://127.0.0.1:${replicas[0].port}/`],
  ['skiff plain (HTTP/1.1)', `${proxy.url}/`],
  ['skiff TLS (HTTP/1.1 over TLS)', `https://127.0.0.1:${proxy.httpsPort}/`],
  ...(skiffHaproxy
    ? ([
        ['skiff (haproxy data plane) plain', `${skiffHaproxy.url}/`],
        ['skiff (haproxy data plane) TLS', `https://127.0.0.1:${skiffHaproxy.httpsPort}/`],
      ] as [string, string][])
    : []),
  ...(haproxy
    ? ([
        ['haproxy plain', `http://127.0.0.1:${haproxy.http}/`],
        ['haproxy TLS', `https://127.0.0.1:${haproxy.https}/`],
      ] as [string, string][])
    : []),
];
const rates = new Map<string, number[]>(cases.map(([name]) => [name, []]));
try {
  // Interleaved rounds, so a busy moment of the machine falls on every case alike.
  for (let r = 0; r < rounds; r++) for (const [name, url] of cases) rates.get(name)!.push(await wrk(url));
  console.log(`wrk -t2 -c8 -d${seconds}s, median of ${rounds} rounds (requests/s), 3 node:http replicas on 127.0.0.1:`);
  for (const [name, xs] of rates) console.log(`  ${name.padEnd(36)} ${median(xs).toFixed(0).padStart(7)}   (${xs.map((x) => x.toFixed(0)).join(', ')})`);
  const ratio = (a: string, b: string): string => (rates.has(a) && rates.has(b) ? `${(median(rates.get(a)!) / median(rates.get(b)!)).toFixed(2)}×` : 'n/a');
  console.log(
    `  against haproxy plain: skiff ${ratio('skiff plain (HTTP/1.1)', 'haproxy plain')}, skiff (haproxy data plane) ${ratio('skiff (haproxy data plane) plain', 'haproxy plain')}`,
  );
  console.log(
    `  against haproxy TLS:   skiff ${ratio('skiff TLS (HTTP/1.1 over TLS)', 'haproxy TLS')}, skiff (haproxy data plane) ${ratio('skiff (haproxy data plane) TLS', 'haproxy TLS')}`,
  );
  if (skiffHaproxy) await churn(skiffHaproxy);
} finally {
  if (haproxy) process.kill(haproxy.pid, 'SIGTERM');
  await skiffHaproxy?.close();
  await proxy.close();
  await Promise.all([...replicas, extra].map((r) => r.close()));
  await rm(dir, { recursive: true, force: true });
}
