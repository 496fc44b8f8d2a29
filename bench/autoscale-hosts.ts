/**
 * How fast a pending task gets a new host, on a local cluster started with 1 host and room for 2
 * (real Docker, the Auto Scaling stand-in starting a real agent). Median and max over N runs
 * (default 3) of:
 *   requested      apply → the pending replica's message says "waiting for a new host"
 *   new host       the replica is first seen unplaceable (pending with a reason) → it runs on the new host
 *   removed        the service deleted → the extra host drained, terminated and its agent stopped
 *                  (includes the 5 s unneeded time this benchmark sets; the local default is 30 s)
 * Goal: new host ≤ 20 s. Prints figures; asserts nothing; cleans up after itself.
 *   npx tsx bench/autoscale-hosts.ts [--runs 3]
 */
import './env.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { numberFlag } from './args.ts';
import { removeContainers, removeNetwork, startLocalCluster } from '../local/cluster.ts';
import type { TaskView } from '../core/types.ts';
import { authedFetch } from '../test/helpers/local-api.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
const runs = numberFlag('autoscale-hosts', values, 'runs', { min: 1, max: 100, integer: true });
const cluster = `hsb${randomBytes(3).toString('hex')}`;
const dataDir = mkdtempSync(join(tmpdir(), 'skiff-hostscale-bench-'));
const HOST_PORT = 20_000 + Math.floor(Math.random() * 10_000);

const local = await startLocalCluster({ cluster, dataDir, hosts: 1, maxHosts: 2, hostScaleInSeconds: 5, log: () => {} });
const api = local.status.api;
const apiFetch = authedFetch(local.token);
const tasks = async () => (await (await apiFetch(`${api}/v1/tasks?namespace=default&service=ports`)).json()) as TaskView[];
async function until<T>(what: string, check: () => Promise<T | undefined>, limitMs = 180_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() - t0 > limitMs) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
const spec = {
  kind: 'Service',
  metadata: { name: 'ports' },
  spec: {
    replicas: 2,
    containers: [
      {
        name: 'web',
        image: 'skiff/busybox:latest',
        command: ['sh', '-c', 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www'],
        // One fixed host port: two replicas need two hosts.
        ports: [{ containerPort: 8080, hostPort: HOST_PORT }],
        resources: { cpu: '50m', memory: '16Mi' },
      },
    ],
  },
};

function summary(name: string, seconds: number[]): string {
  const s = seconds.slice().sort((a, b) => a - b);
  const median = s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  return `${name.padEnd(10)}\t${median.toFixed(2)}\t${s[s.length - 1].toFixed(2)}\t${s.map((x) => x.toFixed(2)).join(' ')}`;
}

try {
  const requested: number[] = [];
  const serving: number[] = [];
  const removed: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    const res = await apiFetch(`${api}/v1/services`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(spec) });
    if (!res.ok) throw new Error(`apply failed: ${await res.text()}`);
    let unplaceableAt: number | undefined;
    let requestedAt: number | undefined;
    await until('both replicas running', async () => {
      const t = await tasks();
      const pending = t.find((x) => x.state === 'pending' && x.message);
      if (pending && unplaceableAt === undefined) unplaceableAt = performance.now();
      if (pending?.message?.includes('waiting for a new host') && requestedAt === undefined) requestedAt = performance.now();
      return t.length === 2 && t.every((x) => x.state === 'running') && new Set(t.map((x) => x.host)).size === 2 ? true : undefined;
    });
    const runningAt = performance.now();
    if (requestedAt !== undefined) requested.push((requestedAt - t0) / 1000);
    serving.push((runningAt - (unplaceableAt ?? t0)) / 1000);

    const t1 = performance.now();
    const del = await apiFetch(`${api}/v1/namespaces/default/services/ports`, { method: 'DELETE' });
    if (!del.ok) throw new Error(`delete failed: ${await del.text()}`);
    await until('the extra host removed', async () => (local.status.hosts.length === 1 ? true : undefined));
    removed.push((performance.now() - t1) / 1000);
    // The terminated host forgotten and the service gone, so the next run starts from the same state.
    await until('a clean slate', async () => {
      const hosts = (await (await apiFetch(`${api}/v1/hosts`)).json()) as unknown[];
      return hosts.length === 1 && (await tasks()).length === 0 ? true : undefined;
    });
  }
  console.log(`autoscale-hosts: local cluster of 1 host, --max-hosts 2, ${runs} runs (seconds)`);
  console.log('phase\t\tmedian\tmax\tall runs');
  console.log(summary('requested', requested));
  console.log(summary('new host', serving));
  console.log(summary('removed', removed));
} finally {
  await local.stop();
  await removeContainers(cluster);
  await removeNetwork(cluster);
  rmSync(dataDir, { recursive: true, force: true });
}
