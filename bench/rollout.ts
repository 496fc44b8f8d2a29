/**
 * Rollouts on 3 local hosts, real Docker, and Docker Swarm's `docker service update` of the same
 * change on the same machine, in the same run:
 *   roll       seconds from applying a changed env value to the rollout complete (every replica new,
 *              available, the old ones gone), N replicas, maxSurge P (start-first), maxUnavailable 0;
 *   load       requests and failed requests meanwhile, `--clients` at a time, through the local load
 *              balancer (Host header of the service's ingress) and through Swarm's published port;
 *   rollback   a version whose containers exit: seconds to detect it (the rollout rolled back) and to
 *              finish the rollback (every slot back on the old template);
 *   swarm      `docker service update --env-add` with `--update-parallelism P --update-order
 *              start-first`, timed until UpdateStatus is completed (`docker swarm init
 *              --advertise-addr 127.0.0.1`, `docker swarm leave --force` after; only when this
 *              machine was not in a swarm already; `--no-resolve-image`: never pulled).
 * Failed requests also depend on how a replica stops (graceful stop and draining, another branch);
 * the figures say what this build does. Prints figures; asserts nothing. Cleans up after itself.
 * `--probe-interval S` (default 1) sets both sides' health-check interval, with a timeout of the same
 * length: 50 replicas probed every second overload a 2-core machine (docs/benchmarks.md).
 *   npx tsx bench/rollout.ts [--replicas 10,50] [--clients 4] [--probe-interval 1] [--no-swarm] [--no-rollback]
 */
import './env.ts';
import { execFile } from 'node:child_process';
import { request } from 'node:http';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { numberFlag } from './args.ts';
import { startLocalCluster, removeContainers } from '../local/cluster.ts';
import { authedFetch } from '../test/helpers/local-api.ts';

const run = promisify(execFile);
const { values } = parseArgs({
  options: {
    replicas: { type: 'string', default: '10,50' },
    clients: { type: 'string', default: '4' },
    'probe-interval': { type: 'string', default: '1' },
    'no-swarm': { type: 'boolean', default: false },
    'no-rollback': { type: 'boolean', default: false },
  },
});
const sizes = values.replicas!.split(',').map((size) => numberFlag('rollout', { replicas: size }, 'replicas', { min: 1, max: 1000, integer: true }));
const clients = numberFlag('rollout', values, 'clients', { min: 1, max: 64, integer: true });
const probeInterval = numberFlag('rollout', values, 'probe-interval', { min: 1, max: 300, integer: true });
const cluster = `bench${randomBytes(3).toString('hex')}`;
const dataDir = mkdtempSync(join(tmpdir(), 'skiff-bench-'));
const IMAGE = 'skiff/busybox:latest';
const SERVER = 'mkdir -p /www && echo "$VERSION" > /www/index.html && exec httpd -f -p 8080 -h /www';
const HOST = 'rollout.bench.local';
const SWARM_PORT = 18_080;

/** Surge as Swarm's update parallelism: a quarter of the replicas, as Skiff's default. */
const surgeOf = (n: number) => Math.max(1, Math.ceil(n / 4));

const spec = (replicas: number, version: string, command = SERVER) => ({
  kind: 'Service',
  metadata: { name: 'roll' },
  spec: {
    replicas,
    update: { maxSurge: surgeOf(replicas), maxUnavailable: 0, progressDeadlineSeconds: 600 },
    ingress: { host: HOST, port: 8080 },
    containers: [
      {
        name: 'web',
        image: IMAGE,
        command: ['sh', '-c', command],
        env: { VERSION: version },
        ports: [{ containerPort: 8080 }],
        resources: { cpu: '20m', memory: '16Mi' },
        ...(command === SERVER
          ? { health: { http: { path: '/', port: 8080 }, intervalSeconds: probeInterval, timeoutSeconds: probeInterval, failureThreshold: 2 } }
          : {}),
      },
    ],
  },
});

/** One GET; node:http, not fetch: fetch may not set the Host header the proxy routes by. */
function get(url: URL, host: string | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: Number(url.port || 80), path: '/', headers: host ? { host } : {}, agent: false, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out after 5 s')));
    req.on('error', reject);
    req.end();
  });
}

/** Requests in a loop, `clients` at a time, until stopped: how many, how many failed (error or not 2xx), and the first failure. */
function load(target: string, host?: string): { stop: () => Promise<{ total: number; failed: number; first?: string }> } {
  const url = new URL(target);
  let running = true;
  let total = 0;
  let failed = 0;
  let first: string | undefined;
  const fail = (why: string) => {
    failed++;
    first ??= why;
  };
  const worker = async () => {
    while (running) {
      total++;
      try {
        const status = await get(url, host);
        if (status < 200 || status > 299) fail(`status ${status}`);
      } catch (err) {
        fail((err as Error).message);
      }
    }
  };
  const workers = Array.from({ length: clients }, worker);
  return {
    stop: async () => {
      running = false;
      await Promise.all(workers);
      return { total, failed, ...(first ? { first } : {}) };
    },
  };
}

const local = await startLocalCluster({ cluster, dataDir, hosts: 3, log: () => {} });
const api = local.status.api;
const apiFetch = authedFetch(local.token);
const path = `${api}/v1/namespaces/default/services/roll`;

async function apply(body: unknown): Promise<number> {
  const res = await apiFetch(`${api}/v1/services`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`apply failed: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { service: { specVersion: number } }).service.specVersion;
}

interface Rollout {
  specVersion: number;
  phase: string;
  rollbackOf: number | null;
  updated: number;
  available: number;
  old: number;
  replicas: number;
}

async function until(done: (r: Rollout) => boolean, limitMs: number): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    const res = await apiFetch(`${path}/rollout`);
    const r = res.ok ? ((await res.json()) as Rollout) : undefined;
    if (r && done(r)) return (performance.now() - t0) / 1000;
    if (performance.now() - t0 > limitMs) throw new Error(`gave up after ${limitMs / 1000}s: ${JSON.stringify(r)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function swarmInactive(): Promise<boolean> {
  return (await run('docker', ['info', '--format', '{{.Swarm.LocalNodeState}}'])).stdout.trim() === 'inactive';
}

/** Swarm: a service of N, then the same env change; seconds of the update and the requests failed meanwhile. */
async function swarm(n: number): Promise<{ seconds: number; total: number; failed: number; first?: string } | undefined> {
  if (!(await swarmInactive())) return undefined;
  await run('docker', ['swarm', 'init', '--advertise-addr', '127.0.0.1']);
  const name = `${cluster}-swarm`;
  try {
    await run('docker', [
      'service',
      'create',
      '--detach',
      '--no-resolve-image',
      '--name',
      name,
      '--replicas',
      String(n),
      '--limit-memory',
      '16m',
      '--init',
      '--env',
      'VERSION=v1',
      '--publish',
      `published=${SWARM_PORT},target=8080`,
      '--health-cmd',
      'wget -q -O /dev/null http://127.0.0.1:8080/ || exit 1',
      '--health-interval',
      `${probeInterval}s`,
      '--health-timeout',
      `${probeInterval}s`,
      '--health-retries',
      '2',
      IMAGE,
      'sh',
      '-c',
      SERVER,
    ]);
    for (const t0 = performance.now(); ; ) {
      const { stdout } = await run('docker', ['service', 'ps', name, '--filter', 'desired-state=running', '--format', '{{.CurrentState}}']);
      if (stdout.split('\n').filter((l) => l.startsWith('Running')).length >= n) break;
      if (performance.now() - t0 > 300_000) throw new Error('swarm: the service did not start within 300 s');
      await new Promise((r) => setTimeout(r, 200));
    }
    const traffic = load(`http://127.0.0.1:${SWARM_PORT}/`);
    const t0 = performance.now();
    await run('docker', [
      'service',
      'update',
      '--detach',
      '--no-resolve-image',
      '--env-add',
      'VERSION=v2',
      '--update-parallelism',
      String(surgeOf(n)),
      '--update-order',
      'start-first',
      '--update-delay',
      '0s',
      name,
    ]);
    for (;;) {
      const { stdout } = await run('docker', ['service', 'inspect', name, '--format', '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}']);
      if (stdout.trim() === 'completed') break;
      if (performance.now() - t0 > 600_000) throw new Error(`swarm: update not completed after 600 s (${stdout.trim()})`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const seconds = (performance.now() - t0) / 1000;
    return { seconds, ...(await traffic.stop()) };
  } finally {
    await run('docker', ['service', 'rm', name]).catch(() => undefined);
    for (let attempt = 1; attempt <= 3; attempt++) {
      await run('docker', ['swarm', 'leave', '--force']).catch(() => undefined);
      if (await swarmInactive()) break;
      if (attempt === 3) console.log('swarm: could not leave the swarm; run `docker swarm leave --force`');
    }
  }
}

console.log(`rollout: 3 local hosts, cluster ${cluster}; maxSurge = update parallelism = ceil(N/4), maxUnavailable 0; ${clients} clients`);
console.log('replicas\troll (s)\trequests\tfailed\tdetect bad (s)\trollback done (s)\tswarm update (s)\tswarm requests\tswarm failed\tskiff/swarm\tload avg');
let failed = false;
try {
  for (const n of sizes) {
    let roll = Number.NaN;
    let traffic: { total: number; failed: number; first?: string } = { total: 0, failed: 0 };
    let detect = Number.NaN;
    let back = Number.NaN;
    try {
      const v1 = await apply(spec(n, 'v1'));
      await until((r) => r.specVersion === v1 && r.phase === 'complete', 600_000);
      const lb = load(`${local.status.proxy}/`, HOST);
      const t0 = performance.now();
      const v2 = await apply(spec(n, 'v2'));
      await until((r) => r.specVersion === v2 && r.phase === 'complete', 900_000);
      roll = (performance.now() - t0) / 1000;
      traffic = await lb.stop();
      if (!values['no-rollback']) {
        const t1 = performance.now();
        const bad = await apply(spec(n, 'v3', 'echo starting; exit 3'));
        await until((r) => r.specVersion > bad || r.phase === 'rolledBack', 600_000);
        detect = (performance.now() - t1) / 1000;
        await until((r) => r.specVersion > bad && r.phase === 'complete', 600_000);
        back = (performance.now() - t1) / 1000;
      }
    } catch (err) {
      failed = true;
      console.log(`${n}: ${(err as Error).message}`);
    }
    await apiFetch(path, { method: 'DELETE' });
    for (const t0 = Date.now(); (await apiFetch(path)).status !== 404 && Date.now() - t0 < 300_000; ) await new Promise((r) => setTimeout(r, 200));
    const sw = values['no-swarm']
      ? undefined
      : await swarm(n).catch((err) => {
          console.log(`swarm: ${(err as Error).message}`);
          return undefined;
        });
    const f = (x: number) => (Number.isNaN(x) ? '-' : x.toFixed(2));
    console.log(
      [
        n,
        f(roll),
        traffic.total,
        traffic.failed,
        f(detect),
        f(back),
        sw ? f(sw.seconds) : '-',
        sw ? sw.total : '-',
        sw ? sw.failed : '-',
        sw && !Number.isNaN(roll) ? `${(roll / sw.seconds).toFixed(2)}x` : '-',
        loadavg()[0].toFixed(1),
      ].join('\t\t'),
    );
    if (traffic.first) console.log(`  skiff: first failed request: ${traffic.first}`);
    if (sw?.first) console.log(`  swarm: first failed request: ${sw.first}`);
  }
} finally {
  await local.stop();
  await removeContainers(cluster);
  rmSync(dataDir, { recursive: true, force: true });
}
if (failed) process.exitCode = 1;
