/**
 * Seconds from `apply` of N replicas (3 local hosts, real Docker) to all of them running, and
 * from delete to all containers gone. Prints figures; asserts nothing. Cleans up after itself.
 *   npx tsx bench/converge.ts [--replicas 50,100] [--runs 1]
 * Reference (Docker Swarm on the same 2-core machine): ~10.9 s for 50, ~22 s for 100.
 */
import './env.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { startLocalCluster, removeContainers } from '../local/cluster.ts';
import { authedFetch } from '../test/helpers/local-api.ts';

const { values } = parseArgs({ options: { replicas: { type: 'string', default: '50,100' }, runs: { type: 'string', default: '1' } } });
const sizes = values.replicas!.split(',').map(Number);
const runs = Number(values.runs);
const cluster = `bench${randomBytes(3).toString('hex')}`;
const dataDir = mkdtempSync(join(tmpdir(), 'skiff-bench-'));

const spec = (replicas: number) => ({
  kind: 'Service',
  metadata: { name: 'hello' },
  spec: {
    replicas,
    containers: [
      {
        name: 'web',
        image: 'skiff/busybox:latest',
        command: ['sh', '-c', 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www'],
        ports: [{ containerPort: 8080 }],
        resources: { cpu: '50m', memory: '32Mi' },
      },
    ],
  },
});

async function waitFor(api: string, done: (body: { running: number; ready: boolean } | undefined, status: number) => boolean, limitMs: number): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    const res = await apiFetch(`${api}/v1/namespaces/default/services/hello`);
    const body = res.ok ? ((await res.json()) as { running: number; ready: boolean }) : undefined;
    if (done(body, res.status)) return (performance.now() - t0) / 1000;
    if (performance.now() - t0 > limitMs) throw new Error(`gave up after ${limitMs / 1000}s (running ${body?.running ?? '?'})`);
    await new Promise((r) => setTimeout(r, 100));
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
console.log(`converge: 3 local hosts, cluster ${cluster}, ${runs} run(s) per size`);
console.log('replicas\tapply→all running (s)\tdelete→all gone (s)');
try {
  for (const n of sizes) {
    for (let r = 0; r < runs; r++) {
      const t0 = performance.now();
      const res = await apiFetch(`${api}/v1/services`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(spec(n)) });
      if (!res.ok) throw new Error(`apply failed: ${res.status} ${await res.text()}`);
      await waitFor(api, (b) => Boolean(b?.ready), 180_000);
      const up = (performance.now() - t0) / 1000;
      const t1 = performance.now();
      await apiFetch(`${api}/v1/namespaces/default/services/hello`, { method: 'DELETE' });
      await waitFor(api, (_b, status) => status === 404, 180_000);
      const down = (performance.now() - t1) / 1000;
      console.log(`${n}\t\t${up.toFixed(2)}\t\t\t${down.toFixed(2)}`);
    }
  }
} finally {
  await local.stop();
  await removeContainers(cluster);
  rmSync(dataDir, { recursive: true, force: true });
}
