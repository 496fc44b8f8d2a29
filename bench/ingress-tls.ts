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
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import { numberFlag } from './args.ts';
import { ensureLocalCa, loadLocalCa } from '../local/ca.ts';
import { startProxyWorker } from '../local/proxy-worker.ts';
import { type HaproxyServer, startHaproxy } from '../local/haproxy.ts';
import type { IngressRoute } from '../ports/index.ts';
import { type HaproxyChild, median, startBareHaproxy, startReplica, wrk, wrkRate } from './ingress-peers.ts';

const run = promisify(execFile);
const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' }, rounds: { type: 'string', default: '3' } } });
const seconds = numberFlag('ingress-tls', values, 'seconds', { min: 1, max: 300, integer: true });
const rounds = numberFlag('ingress-tls', values, 'rounds', { min: 1, max: 50, integer: true });
const HOST = 'bench.example.test';

const dir = await mkdtemp(join(tmpdir(), 'skiff-bench-tls-'));
const replicas = await Promise.all(['a', 'b', 'c'].map(startReplica));
/** A fourth replica that comes and goes in the churn cases. */
const extra = await startReplica('d');
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
let haproxy: HaproxyChild | undefined;
try {
  await run('haproxy', ['-v']);
  const pair = await (await loadLocalCa(ca)).issue(HOST);
  const pem = join(dir, 'haproxy.pem');
  await writeFile(pem, `${pair.cert}${pair.key}`, { mode: 0o600 });
  const child = await startBareHaproxy({ file: join(dir, 'haproxy.cfg'), servers: replicas.map((r) => `127.0.0.1:${r.port}`), pem });
  await new Promise((resolve) => setTimeout(resolve, 1000));
  if (child.pid !== undefined && child.child.exitCode === null) haproxy = child;
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
    const { rate, failed, failures, stdout } = await wrk(`${plane.url}/`, { seconds, host: HOST }).finally(() => {
      stop = true;
    });
    if (Number.isNaN(rate)) throw new Error(`wrk printed no rate:\n${stdout}`);
    await changer;
    await plane.sync(base);
    console.log(`  ${name.padEnd(42)} ${rate.toFixed(0).padStart(7)} requests/s, ${failed} failed${failed ? ` (${failures})` : ''}`);
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
        ['haproxy plain', `http://127.0.0.1:${haproxy.plainPort}/`],
        ['haproxy TLS', `https://127.0.0.1:${haproxy.tlsPort}/`],
      ] as [string, string][])
    : []),
];
const rates = new Map<string, number[]>(cases.map(([name]) => [name, []]));
try {
  // Interleaved rounds, so a busy moment of the machine falls on every case alike.
  for (let r = 0; r < rounds; r++) for (const [name, url] of cases) rates.get(name)!.push(await wrkRate(url, { seconds, host: HOST }));
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
  haproxy?.stop();
  await skiffHaproxy?.close();
  await proxy.close();
  await Promise.all([...replicas, extra].map((r) => r.close()));
  await rm(dir, { recursive: true, force: true });
}
