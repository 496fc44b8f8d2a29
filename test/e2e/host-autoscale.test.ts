/**
 * Host autoscaling in local mode (real Docker, the real CLI): a cluster started with one host and
 * `--max-hosts 2`. A service whose two replicas hold the same fixed host port cannot run on one
 * host: the host autoscaler asks the Auto Scaling stand-in for a second host, which starts its agent
 * on 127.0.1.2, and the pending replica runs there. Once the service is deleted, the idle extra host
 * is drained, terminated (the group back at its min of one) and forgotten. Nothing here asserts a speed
 * (bench/autoscale-hosts.ts prints it).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { eventually, json, skiff, startCluster, type RunningCluster } from '../helpers/cli.ts';
import { removeClusterContainers, uniqueClusterName } from '../helpers/docker.ts';
import type { ClusterEvent, TaskView } from '../../core/types.ts';

const docker = new Docker();
const cluster = uniqueClusterName('hscale');
const dir = mkdtempSync(join(tmpdir(), 'skiff-hostscale-'));
const data = join(dir, 'data');
// A port of its own, so that no other test's container holds it on 127.0.1.x.
const HOST_PORT = 20_000 + Math.floor(Math.random() * 10_000);
let running: RunningCluster | undefined;
const agentPids = new Set<number>();

const cli = (...args: string[]) => skiff(args, { cwd: dir });
const tasksOf = async (service: string) => json<TaskView[]>(await cli('get', 'tasks', '--service', service, '-o', 'json'));
const events = async () => json<ClusterEvent[]>(await cli('events', '-o', 'json'));
const localHosts = async () => json<{ hosts: { id: string; pid: number }[] }>(await cli('local', 'status', '-o', 'json')).hosts;

beforeAll(async () => {
  running = await startCluster(dir, ['--cluster', cluster, '--hosts', '1', '--max-hosts', '2', '--data', data], 90_000);
  for (const h of await localHosts()) agentPids.add(h.pid);
}, 120_000);

afterAll(async () => {
  try {
    await running?.stop();
  } finally {
    // Agents the host autoscaler started are stopped by the cluster's stop; these are a last resort.
    for (const pid of agentPids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await removeClusterContainers(docker, cluster);
    rmSync(dir, { recursive: true, force: true });
  }
}, 90_000);

describe('host autoscaling on the local cluster', { timeout: 300_000 }, () => {
  it('gets a second host for a replica that no host can take, runs it there, then drains and removes the idle host', async () => {
    const file = join(dir, 'ports.yaml');
    writeFileSync(
      file,
      `kind: Service
metadata: { name: ports }
spec:
  replicas: 2
  containers:
    - name: web
      image: skiff/busybox:latest
      command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"]
      ports: [{ containerPort: 8080, hostPort: ${HOST_PORT} }]
      resources: { cpu: 50m, memory: 16Mi }
`,
    );
    expect((await cli('apply', '-f', file, '--no-wait')).code).toBe(0);

    const placed = await eventually(
      async () => {
        const t = await tasksOf('ports');
        return t.length === 2 && t.every((x) => x.state === 'running') ? t : undefined;
      },
      'both replicas running',
      180_000,
      500,
    );
    expect(placed.map((t) => t.host).sort()).toEqual(['host-1', 'host-2']);
    const hosts = await localHosts();
    expect(hosts.map((h) => h.id)).toEqual(['host-1', 'host-2']);
    for (const h of hosts) agentPids.add(h.pid);
    const scaleOut = (await events()).filter((e) => e.type === 'hosts.scale-out');
    expect(scaleOut.map((e) => e.message)).toEqual([expect.stringContaining('desired 1 → 2 (max 2)')]);
    // The replica on host-2 answers on host-2's address.
    const res = await fetch(`http://127.0.1.2:${HOST_PORT}/`);
    expect(res.status).toBe(200);

    expect((await cli('delete', 'service', 'ports')).code).toBe(0);
    await eventually(
      async () => {
        const ids = (await localHosts()).map((h) => h.id);
        return ids.length === 1 ? ids : undefined;
      },
      'the extra host removed',
      180_000,
      1000,
    );
    expect((await localHosts()).map((h) => h.id)).toEqual(['host-1']);
    const scaleIn = (await events()).filter((e) => e.type === 'host.scale-in' || e.type === 'host.terminated').map((e) => `${e.type} ${e.host}`);
    expect(scaleIn).toEqual(['host.scale-in host-2', 'host.terminated host-2']);
    // Declared down once its agent is gone, then forgotten: the host list shows the fleet that exists.
    await eventually(
      async () => {
        const ids = json<{ id: string }[]>(await cli('get', 'hosts', '-o', 'json')).map((h) => h.id);
        return ids.length === 1 && ids[0] === 'host-1' ? ids : undefined;
      },
      'host-2 forgotten',
      60_000,
      1000,
    );
  });
});
