/**
 * Seconds from `apply` of N replicas (3 local hosts, real Docker) to all of them running, and from
 * delete to all containers gone; the host health changes during each run (suspect, down, fenced, held:
 * a busy host must not look dead, so this should be 0; degraded, Docker itself not answering for 30 s,
 * apart); the machine's load average; and, in the same run, the floor set by
 * the daemon itself and Docker Swarm on the same containers:
 *   raw Docker  create+start of N containers of the same spec (init, memory limit, a published port on
 *               127.0.1.x), `--parallel` at a time, timed to the last start;
 *   Swarm       `docker swarm init --advertise-addr 127.0.0.1`, a service of N replicas of the same
 *               image and command, timed until all N tasks run, then `docker swarm leave --force`
 *               (only when this machine was not in a swarm already; `--no-resolve-image`: never pulled).
 * Prints figures; asserts nothing. Cleans up after itself.
 *   npx tsx bench/converge.ts [--replicas 50,100] [--runs 1] [--parallel 8] [--no-swarm] [--no-raw]
 */
import './env.ts';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { numberFlag } from './args.ts';
import Docker from 'dockerode';
import { startLocalCluster, removeContainers } from '../local/cluster.ts';
import { forEachLimit } from '../core/async.ts';
import { authedFetch } from '../test/helpers/local-api.ts';

const run = promisify(execFile);
const { values } = parseArgs({
  options: {
    replicas: { type: 'string', default: '50,100' },
    runs: { type: 'string', default: '1' },
    parallel: { type: 'string', default: '8' },
    'no-swarm': { type: 'boolean', default: false },
    'no-raw': { type: 'boolean', default: false },
  },
});
const sizes = values.replicas!.split(',').map((size) => numberFlag('converge', { replicas: size }, 'replicas', { min: 1, max: 1000, integer: true }));
const runs = numberFlag('converge', values, 'runs', { min: 1, max: 100, integer: true });
const parallel = numberFlag('converge', values, 'parallel', { min: 1, max: 64, integer: true });
const cluster = `bench${randomBytes(3).toString('hex')}`;
const dataDir = mkdtempSync(join(tmpdir(), 'skiff-bench-'));
const docker = new Docker();
const IMAGE = 'skiff/busybox:latest';
const COMMAND = ['sh', '-c', 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www'];
const RAW_LABEL = `skiff.bench-raw=${cluster}`;

const spec = (replicas: number) => ({
  kind: 'Service',
  metadata: { name: 'hello' },
  spec: {
    replicas,
    containers: [{ name: 'web', image: IMAGE, command: COMMAND, ports: [{ containerPort: 8080 }], resources: { cpu: '50m', memory: '32Mi' } }],
  },
});

async function waitFor(
  api: string,
  done: (body: { running: number; ready: boolean } | undefined, status: number) => boolean,
  limitMs: number,
): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    const res = await apiFetch(`${api}/v1/namespaces/default/services/hello`);
    const body = res.ok ? ((await res.json()) as { running: number; ready: boolean }) : undefined;
    if (done(body, res.status)) return (performance.now() - t0) / 1000;
    if (performance.now() - t0 > limitMs) throw new Error(`gave up after ${limitMs / 1000}s (running ${body?.running ?? '?'})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Raw Docker: create+start N containers like Skiff's, `parallel` at a time; seconds to the last start. */
async function rawDocker(n: number, network: string): Promise<number> {
  const t0 = performance.now();
  await forEachLimit(
    Array.from({ length: n }, (_, i) => i),
    parallel,
    async (i) => {
      const c = await docker.createContainer({
        name: `${cluster}-raw-${i}`,
        Image: IMAGE,
        Cmd: COMMAND,
        Labels: { 'skiff.bench-raw': cluster },
        ExposedPorts: { '8080/tcp': {} },
        HostConfig: {
          Init: true,
          Memory: 32 * 1024 * 1024,
          MemorySwap: 32 * 1024 * 1024,
          PortBindings: { '8080/tcp': [{ HostIp: `127.0.1.${(i % 3) + 1}`, HostPort: '' }] },
          NetworkMode: network,
        },
      });
      await c.start();
    },
  );
  const seconds = (performance.now() - t0) / 1000;
  await removeRaw();
  return seconds;
}

async function removeRaw(): Promise<void> {
  const list = await docker.listContainers({ all: true, filters: { label: [RAW_LABEL] } });
  await forEachLimit(list, 8, (c) =>
    docker
      .getContainer(c.Id)
      .remove({ force: true })
      .catch(() => undefined),
  );
}

/** Docker Swarm: a service of N replicas; seconds until all N tasks run. Undefined when this machine is already in a swarm. */
async function swarm(n: number): Promise<number | undefined> {
  const state = (await run('docker', ['info', '--format', '{{.Swarm.LocalNodeState}}'])).stdout.trim();
  if (state !== 'inactive') return undefined;
  await run('docker', ['swarm', 'init', '--advertise-addr', '127.0.0.1']);
  const name = `${cluster}-swarm`;
  try {
    const t0 = performance.now();
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
      '32m',
      '--init',
      IMAGE,
      ...COMMAND,
    ]);
    for (;;) {
      const { stdout } = await run('docker', ['service', 'ps', name, '--filter', 'desired-state=running', '--format', '{{.CurrentState}}']);
      const up = stdout.split('\n').filter((l) => l.startsWith('Running')).length;
      if (up >= n) return (performance.now() - t0) / 1000;
      if (performance.now() - t0 > 300_000) throw new Error(`swarm: ${up} of ${n} running after 300 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await run('docker', ['service', 'rm', name]).catch(() => undefined);
    // A leave on a loaded daemon can fail half-way ("the client connection is closing"): try again, and say so
    // if this machine is left in a swarm (the next run would skip Swarm).
    for (let attempt = 1; attempt <= 3; attempt++) {
      await run('docker', ['swarm', 'leave', '--force']).catch(() => undefined);
      if ((await run('docker', ['info', '--format', '{{.Swarm.LocalNodeState}}'])).stdout.trim() === 'inactive') break;
      if (attempt === 3) console.log('swarm: could not leave the swarm; run `docker swarm leave --force`');
    }
  }
}

const local = await startLocalCluster({ cluster, dataDir, hosts: 3, log: () => {} });
const api = local.status.api;
const apiFetch = authedFetch(local.token);
// Time the cluster, not its start-up: wait until every agent has registered and reported.
for (const t0 = Date.now(); ; ) {
  const hosts = (await (await apiFetch(`${api}/v1/hosts`)).json()) as { heartbeatAt: string | null }[];
  if (hosts.length === 3 && hosts.every((h) => h.heartbeatAt)) break;
  if (Date.now() - t0 > 60_000) throw new Error('the local hosts did not register within 60 s');
  await new Promise((r) => setTimeout(r, 100));
}

// Degraded (Docker not answering for 30 s) is counted apart: it moves nothing and says the daemon itself is
// swamped, which a 2-core machine shared with other work can be.
const HEALTH_EVENTS = new Set(['host.suspect', 'host.down', 'host.fenced', 'health.held']);
const DEGRADED_EVENTS = new Set(['host.degraded']);
async function healthChanges(since: string, types: ReadonlySet<string>): Promise<string[]> {
  const events = await local.store.listEvents({ limit: 1000 });
  return events.filter((e) => e.at >= since && types.has(e.type)).map((e) => `${e.type} ${e.host ?? ''}`.trim());
}

console.log(`converge: 3 local hosts, cluster ${cluster}, ${runs} run(s) per size; raw Docker ${parallel} at a time`);
console.log('replicas\tskiff up (s)\tdelete (s)\tsuspect/down\tdegraded\traw docker (s)\tskiff/raw\tswarm (s)\tload avg');
let failed = false;
try {
  for (const n of sizes) {
    for (let r = 0; r < runs; r++) {
      const since = new Date().toISOString();
      const t0 = performance.now();
      let up = Number.NaN;
      let down = Number.NaN;
      try {
        const res = await apiFetch(`${api}/v1/services`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(spec(n)) });
        if (!res.ok) throw new Error(`apply failed: ${res.status} ${await res.text()}`);
        await waitFor(api, (b) => Boolean(b?.ready), 300_000);
        up = (performance.now() - t0) / 1000;
      } catch (err) {
        failed = true;
        console.log(`${n}: ${(err as Error).message}`);
      }
      const changes = await healthChanges(since, HEALTH_EVENTS);
      const degraded = await healthChanges(since, DEGRADED_EVENTS);
      const t1 = performance.now();
      await apiFetch(`${api}/v1/namespaces/default/services/hello`, { method: 'DELETE' });
      await waitFor(api, (_b, status) => status === 404, 180_000);
      down = (performance.now() - t1) / 1000;
      // The daemon's floor and Swarm, on the same machine, right after (nothing of Skiff's left running).
      const raw = values['no-raw'] ? Number.NaN : await rawDocker(n, `skiff-${cluster}`);
      const sw = values['no-swarm']
        ? undefined
        : await swarm(n).catch((err) => {
            console.log(`swarm: ${(err as Error).message}`);
            return undefined;
          });
      console.log(
        [
          n,
          up.toFixed(2),
          down.toFixed(2),
          String(changes.length),
          String(degraded.length),
          Number.isNaN(raw) ? '-' : raw.toFixed(2),
          Number.isNaN(raw) ? '-' : `${(up / raw).toFixed(2)}x`,
          sw === undefined ? '-' : sw.toFixed(2),
          loadavg()[0].toFixed(1),
        ].join('\t\t'),
      );
      if (changes.length || degraded.length) console.log(`  health changes: ${[...changes, ...degraded].join(', ')}`);
    }
  }
} finally {
  await removeRaw().catch(() => undefined);
  await local.stop();
  await removeContainers(cluster);
  rmSync(dataDir, { recursive: true, force: true });
}
if (failed) process.exitCode = 1;
