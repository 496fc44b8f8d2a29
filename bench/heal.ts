/**
 * How fast Skiff heals, on a local cluster of 3 hosts with real Docker. Median and max over N runs
 * (default 5) of:
 *   crash          `docker kill` of a replica → its task running again (as the API reports it)
 *   probe failure  the probe starts failing (interval 1 s, 3 failures) → the task healthy again on a fresh container
 *   host death     agent SIGKILLed and its containers killed → all its tasks running on other hosts
 * Prints figures; asserts nothing; cleans up after itself. Docker Swarm on this machine: 5.6 s after a
 * kill (5 s restart delay), 9.3 s for a health-check failure (interval 1 s, retries 3).
 *   npx tsx bench/heal.ts [--runs 5]
 */
import './env.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { numberFlag } from './args.ts';
import Docker from 'dockerode';
import { killHost, removeContainers, startAgent, startLocalCluster } from '../local/cluster.ts';
import { LABELS } from '../agent/executor.ts';
import type { TaskView } from '../core/types.ts';
import { authedFetch } from '../test/helpers/local-api.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' } } });
const runs = numberFlag('heal', values, 'runs', { min: 1, max: 100, integer: true });
const cluster = `heal${randomBytes(3).toString('hex')}`;
const dataDir = mkdtempSync(join(tmpdir(), 'skiff-heal-'));
const docker = new Docker();

const local = await startLocalCluster({ cluster, dataDir, hosts: 3, log: () => {} });
const api = local.status.api;
const apiFetch = authedFetch(local.token);

const get = async <T>(path: string): Promise<T> => (await (await apiFetch(`${api}${path}`)).json()) as T;
const tasks = (service: string) => get<TaskView[]>(`/v1/tasks?namespace=default&service=${service}`);
const apply = async (spec: unknown) => {
  const res = await apiFetch(`${api}/v1/services`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(spec) });
  if (!res.ok) throw new Error(`apply failed: ${await res.text()}`);
};
async function until<T>(what: string, check: () => Promise<T | undefined>, limitMs = 60_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() - t0 > limitMs) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
const allGood = (t: TaskView[], n: number) => t.length === n && t.every((x) => x.state === 'running' && (x.health === undefined || x.health === 'healthy'));

const spec = (name: string, replicas: number, health?: unknown) => ({
  kind: 'Service',
  metadata: { name },
  spec: {
    replicas,
    containers: [
      {
        name: 'web',
        image: 'skiff/busybox:latest',
        command: ['sh', '-c', 'mkdir -p /tmp /www && touch /tmp/healthy && hostname > /www/index.html && exec httpd -f -p 8080 -h /www'],
        ports: [{ containerPort: 8080 }],
        resources: { cpu: '50m', memory: '16Mi' },
        ...(health ? { health } : {}),
      },
    ],
  },
});

function summary(name: string, seconds: number[]): string {
  const s = seconds.slice().sort((a, b) => a - b);
  const median = s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  return `${name.padEnd(14)}\t${median.toFixed(2)}\t${s[s.length - 1].toFixed(2)}\t${s.map((x) => x.toFixed(2)).join(' ')}`;
}

try {
  await until('hosts to register', async () => {
    const hosts = await get<{ heartbeatAt: string | null }[]>('/v1/hosts');
    return hosts.length === 3 && hosts.every((h) => h.heartbeatAt) ? true : undefined;
  });
  console.log(`heal: 3 local hosts, cluster ${cluster}, ${runs} runs each (seconds)`);
  console.log('scenario\tmedian\tmax\tall runs');

  // crash → running again
  await apply(spec('crash', 3));
  await until('crash service', async () => (allGood(await tasks('crash'), 3) ? true : undefined));
  const crash: number[] = [];
  for (let r = 0; r < runs; r++) {
    const [victim] = await docker.listContainers({
      filters: { label: [`${LABELS.cluster}=${cluster}`, `${LABELS.service}=crash`, `${LABELS.container}=web`] },
    });
    const taskId = victim.Labels[LABELS.task];
    const before = (await tasks('crash')).find((t) => t.id === taskId)!.restarts ?? 0;
    const t0 = performance.now();
    await docker.getContainer(victim.Id).kill();
    await until('crash recovery', async () => {
      const t = (await tasks('crash')).find((x) => x.id === taskId);
      return t && t.state === 'running' && (t.restarts ?? 0) > before ? true : undefined;
    });
    crash.push((performance.now() - t0) / 1000);
    await new Promise((r) => setTimeout(r, 11_000)); // past the back-off reset, so every run is a first crash
  }
  console.log(summary('crash', crash));

  // probe failure → healthy on a fresh container
  await apply(spec('probed', 2, { exec: { command: ['test', '-f', '/tmp/healthy'] }, intervalSeconds: 1, failureThreshold: 3 }));
  await until('probed service', async () => (allGood(await tasks('probed'), 2) ? true : undefined));
  const probe: number[] = [];
  for (let r = 0; r < runs; r++) {
    const [victim] = await docker.listContainers({
      filters: { label: [`${LABELS.cluster}=${cluster}`, `${LABELS.service}=probed`, `${LABELS.container}=web`] },
    });
    const taskId = victim.Labels[LABELS.task];
    const t0 = performance.now();
    const exec = await docker.getContainer(victim.Id).exec({ Cmd: ['rm', '-f', '/tmp/healthy'] });
    await exec.start({ Detach: true });
    await until('a fresh healthy container', async () => {
      const [now] = await docker.listContainers({
        filters: { label: [`${LABELS.cluster}=${cluster}`, `${LABELS.task}=${taskId}`, `${LABELS.container}=web`] },
      });
      if (!now || now.Id === victim.Id) return undefined;
      const t = (await tasks('probed')).find((x) => x.id === taskId);
      return t?.state === 'running' && t.health === 'healthy' ? true : undefined;
    });
    probe.push((performance.now() - t0) / 1000);
    await new Promise((r) => setTimeout(r, 11_000));
  }
  console.log(summary('probe failure', probe));

  // host death → all its tasks running elsewhere
  await apply(spec('crash', 6));
  const death: number[] = [];
  for (let r = 0; r < runs; r++) {
    const all = await until('6 replicas on live hosts', async () => {
      const t = await tasks('crash');
      const hosts = await get<{ id: string; state: string }[]>('/v1/hosts');
      return allGood(t, 6) && hosts.every((h) => h.state === 'ready') ? t : undefined;
    });
    const counts = new Map<string, number>();
    for (const t of all) counts.set(t.host!, (counts.get(t.host!) ?? 0) + 1);
    const victim = [...counts.entries()].sort((a, b) => b[1] - a[1])[0][0];
    const t0 = performance.now();
    await killHost(dataDir, cluster, victim, docker);
    await until('replacements elsewhere', async () => {
      const t = await tasks('crash');
      return allGood(t, 6) && t.every((x) => x.host !== victim) ? true : undefined;
    });
    death.push((performance.now() - t0) / 1000);
    // bring the host back (empty) for the next run
    startAgent(dataDir, victim);
  }
  console.log(summary('host death', death));
} finally {
  await local.stop();
  await removeContainers(cluster);
  rmSync(dataDir, { recursive: true, force: true });
}
