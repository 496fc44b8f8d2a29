/**
 * Where the HAProxy data plane's throughput goes, in paired runs: the same HAProxy 2.6 with the
 * bench's bare configuration and with the plane's generated one (local/haproxy-config.ts), each
 * started as a plain child and in a new session (spawn's `detached`, scheduled apart by Linux's
 * autogroups), beside the plane itself (local/haproxy.ts), all at once against the same three
 * node:http replicas on 127.0.0.1. wrk rounds are interleaved, their order rotated each round, so a
 * busy moment of the shared machine falls on every variant alike. No Docker.
 *
 *   npx tsx bench/haproxy-placement.ts [--seconds 3] [--rounds 5] [--tls]
 *
 * Prints each variant's median requests/s and its ratio to the bare configuration's (plain HTTP,
 * or TLS with --tls), with the load average. Every process it starts is stopped by pid at the end.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { ensureLocalCa, loadLocalCa } from '../local/ca.ts';
import { type HaproxyServer, startHaproxy } from '../local/haproxy.ts';
import { haproxyConfig } from '../local/haproxy-config.ts';
import type { IngressRoute } from '../ports/index.ts';

const run = promisify(execFile);
const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '3' }, rounds: { type: 'string', default: '5' }, tls: { type: 'boolean', default: false } },
});
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const HOST = 'bench.example.test';

async function freePort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

const servers: http.Server[] = [];
async function replica(name: string): Promise<number> {
  const body = `${name}\n`;
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return (server.address() as AddressInfo).port;
}

async function wrk(url: string): Promise<number> {
  const { stdout } = await run('wrk', ['-t2', '-c8', `-d${seconds}s`, '-H', `Host: ${HOST}`, url], { maxBuffer: 1 << 20 });
  if (/Non-2xx|Socket errors/.test(stdout)) throw new Error(`wrk saw failed requests from ${url}:\n${stdout}`);
  const m = /Requests\/sec:\s+([\d.]+)/.exec(stdout);
  if (!m) throw new Error(`wrk printed no rate:\n${stdout}`);
  return Number(m[1]);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const dir = await mkdtemp(join(tmpdir(), 'skiff-bench-placement-'));
const children: ChildProcess[] = [];
let plane: HaproxyServer | undefined;
try {
  const ports = await Promise.all(['a', 'b', 'c'].map(replica));
  const ca = await ensureLocalCa(dir);
  const pair = await (await loadLocalCa(ca)).issue('localhost', ['127.0.0.1']);
  const pem = join(dir, 'default.pem');
  await writeFile(pem, `${pair.cert}${pair.key}`, { mode: 0o600 });
  const crtList = join(dir, 'crt-list.txt');
  await writeFile(crtList, '');
  const route: IngressRoute = {
    host: HOST,
    namespace: 'bench',
    service: 'web',
    sessionAffinity: false,
    targets: ports.map((port, i) => ({ taskId: `web-${i}`, ip: '127.0.0.1', port })),
  };
  const bare = (plain: number, tls: number): string => `global
  maxconn 1024
defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  option http-keep-alive
frontend plain
  bind 127.0.0.1:${plain}
  default_backend web
frontend tls
  bind 127.0.0.1:${tls} ssl crt ${pem} alpn h2,http/1.1
  default_backend web
backend web
  balance roundrobin
${ports.map((p, i) => `  server r${i} 127.0.0.1:${p}`).join('\n')}
`;
  const generated = (plain: number, tls: number, name: string): string =>
    haproxyConfig([route], { port: plain, statsSocket: join(dir, `${name}.sock`), https: { port: tls, defaultCertificate: pem, crtList } });
  const variants: [string, (plain: number, tls: number, name: string) => string, boolean][] = [
    ['bare configuration', bare, false],
    ['bare configuration, new session', bare, true],
    ['generated configuration', generated, false],
    ['generated configuration, new session', generated, true],
  ];
  const cases: { name: string; url: string }[] = [];
  for (const [i, [name, cfg, detached]] of variants.entries()) {
    const [plain, tls] = [await freePort(), await freePort()];
    const file = join(dir, `v${i}.cfg`);
    await writeFile(file, cfg(plain, tls, `v${i}`));
    const child = spawn('haproxy', ['-f', file], { stdio: 'ignore', detached });
    children.push(child);
    cases.push({ name, url: values.tls ? `https://127.0.0.1:${tls}/` : `http://127.0.0.1:${plain}/` });
  }
  plane = await startHaproxy({ ca, runDir: join(dir, 'plane'), log: () => {}, debounceMs: 0 });
  await plane.sync([route]);
  cases.push({ name: 'the HAProxy data plane (local/haproxy.ts)', url: values.tls ? `https://127.0.0.1:${plane.httpsPort}/` : `${plane.url}/` });
  await new Promise((resolve) => setTimeout(resolve, 1000));
  for (const [i, c] of children.entries()) if (c.exitCode !== null) throw new Error(`haproxy for "${variants[i][0]}" exited (code ${c.exitCode})`);

  const load = loadavg()[0];
  const rates = cases.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++)
    for (let k = 0; k < cases.length; k++) {
      const i = (k + r) % cases.length;
      rates[i].push(await wrk(cases[i].url));
    }
  console.log(
    `wrk -t2 -c8 -d${seconds}s, ${values.tls ? 'TLS' : 'plain HTTP'}, median of ${rounds} rotated rounds (requests/s), load average ${load.toFixed(2)} → ${loadavg()[0].toFixed(2)}:`,
  );
  const base = median(rates[0]);
  for (const [i, c] of cases.entries())
    console.log(
      `  ${c.name.padEnd(44)} ${median(rates[i]).toFixed(0).padStart(7)}  ${(median(rates[i]) / base).toFixed(2)}×   (${rates[i].map((x) => x.toFixed(0)).join(', ')})`,
    );
} finally {
  for (const c of children) if (c.pid !== undefined && c.exitCode === null) process.kill(c.pid, 'SIGTERM');
  await plane?.close();
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
  await rm(dir, { recursive: true, force: true });
}
