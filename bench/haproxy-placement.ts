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
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { numberFlag } from './args.ts';
import { ensureLocalCa, loadLocalCa } from '../local/ca.ts';
import { type HaproxyServer, startHaproxy } from '../local/haproxy.ts';
import { haproxyConfig } from '../local/haproxy-config.ts';
import type { IngressRoute } from '../ports/index.ts';
import { bareHaproxyConfig, type HaproxyChild, median, type Replica, spawnHaproxy, startReplica, wrkRate } from './ingress-peers.ts';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '3' }, rounds: { type: 'string', default: '5' }, tls: { type: 'boolean', default: false } },
});
const seconds = numberFlag('haproxy-placement', values, 'seconds', { min: 1, max: 300, integer: true });
const rounds = numberFlag('haproxy-placement', values, 'rounds', { min: 1, max: 50, integer: true });
const HOST = 'bench.example.test';

const dir = await mkdtemp(join(tmpdir(), 'skiff-bench-placement-'));
const children: HaproxyChild[] = [];
const replicas: Replica[] = [];
let plane: HaproxyServer | undefined;
try {
  replicas.push(...(await Promise.all(['a', 'b', 'c'].map(startReplica))));
  const ports = replicas.map((r) => r.port);
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
  const bare = (plain: number, tls: number): string => bareHaproxyConfig({ plainPort: plain, tlsPort: tls, pem, servers: ports.map((p) => `127.0.0.1:${p}`) });
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
    const child = await spawnHaproxy({
      file: join(dir, `v${i}.cfg`),
      config: ({ plainPort, tlsPort }) => cfg(plainPort, tlsPort!, `v${i}`),
      tls: true,
      detached,
    });
    children.push(child);
    cases.push({ name, url: values.tls ? `https://127.0.0.1:${child.tlsPort}/` : `http://127.0.0.1:${child.plainPort}/` });
  }
  plane = await startHaproxy({ ca, runDir: join(dir, 'plane'), log: () => {}, debounceMs: 0 });
  await plane.sync([route]);
  cases.push({ name: 'the HAProxy data plane (local/haproxy.ts)', url: values.tls ? `https://127.0.0.1:${plane.httpsPort}/` : `${plane.url}/` });
  await new Promise((resolve) => setTimeout(resolve, 1000));
  for (const [i, { child }] of children.entries())
    if (child.exitCode !== null) throw new Error(`haproxy for "${variants[i][0]}" exited (code ${child.exitCode})`);

  const load = loadavg()[0];
  const rates = cases.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++)
    for (let k = 0; k < cases.length; k++) {
      const i = (k + r) % cases.length;
      rates[i].push(await wrkRate(cases[i].url, { seconds, host: HOST }));
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
  for (const c of children) c.stop();
  await plane?.close();
  await Promise.all(replicas.map((r) => r.close()));
  await rm(dir, { recursive: true, force: true });
}
