/**
 * Horizontal autoscaling end to end, on a local cluster with real containers: a service with a CPU
 * target scales out to its max under a bounded CPU load (one replica burns its whole 50m reservation
 * while a flag file exists) and back to its min once the load stops; bad specs are refused.
 * Bounded: every wait has a generous deadline, nothing asserts on timing; cleans up on failure.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import Docker from 'dockerode';
import { eventually, json, skiff, startCluster, type RunningCluster } from '../helpers/cli.ts';
import { execIn, tearDownCluster, uniqueClusterName } from '../helpers/docker.ts';
import { LABELS } from '../../agent/executor.ts';
import type { ClusterEvent, TaskView } from '../../core/types.ts';

const docker = new Docker();
const cluster = uniqueClusterName('hpa');
const dir = mkdtempSync(join(tmpdir(), 'skiff-hpa-'));
const data = join(dir, 'data');
let running: RunningCluster | undefined;

const cli = (...args: string[]) => skiff(args, { cwd: dir });
const runningTasks = async (service: string) =>
  json<TaskView[]>(await cli('get', 'tasks', '--service', service, '-o', 'json')).filter((t) => t.desired === 'running' && t.state === 'running');
const eventsOf = async (service: string) => json<ClusterEvent[]>(await cli('events', '--service', service, '-o', 'json'));

/**
 * A replica that burns CPU while /burn exists (`yes`, held by its CPU cap to its 50m reservation:
 * 100% of it, and 5% of a core) and otherwise sleeps. Idle, it looks every 5 s, not every second:
 * each `sleep` is a fork and exec, measured at 3.4 ms of CPU per second with a 1 s loop on a quiet
 * machine (7% of 50m) and up to 17% on a loaded one, which at a 30% target holds two replicas
 * (ceil(2 × 17 / 30) = 2); the 5 s loop measured 0.8 ms per second (1.6%).
 */
const BURNER = 'while true; do if [ -f /burn ]; then yes > /dev/null & p=$!; sleep 1; kill $p; else sleep 5; fi; done';

function file(name: string, body: string): string {
  const path = join(dir, `${name}.yaml`);
  writeFileSync(path, body);
  return path;
}

beforeAll(async () => {
  running = await startCluster(dir, ['--cluster', cluster, '--hosts', '2', '--data', data]);
});

afterAll(() => tearDownCluster(running, cluster, dir, docker));

describe('horizontal autoscaling', { timeout: 300_000 }, () => {
  it('scales a service out to its max under CPU load and back to its min when the load stops', async () => {
    const spec = file(
      'burner',
      `kind: Service
metadata: { name: burner }
spec:
  replicas: 1
  containers:
    - name: app
      image: skiff/busybox:latest
      command: ["sh", "-c", ${JSON.stringify(BURNER)}]
      resources: { cpu: 50m, memory: 16Mi }
  autoscaling:
    minReplicas: 1
    maxReplicas: 3
    targetCPUUtilization: 30
    scaleDownStabilizationSeconds: 10
`,
    );
    expect((await cli('apply', '-f', spec)).code).toBe(0);
    const [first] = await eventually(
      async () => ((await runningTasks('burner')).length === 1 ? runningTasks('burner') : undefined),
      'one replica running',
      60_000,
    );
    const [container] = await docker.listContainers({ filters: { label: [`${LABELS.cluster}=${cluster}`, `${LABELS.task}=${first.id}`] } });

    await execIn(docker, container.Id, ['touch', '/burn']);
    await eventually(async () => ((await runningTasks('burner')).length === 3 ? true : undefined), 'three replicas running under load', 120_000, 500);
    const up = (await eventsOf('burner')).find((e) => e.type === 'service.scaled-up');
    expect(up?.message).toMatch(/^burner 1 → [23]: cpu \d+% of 30% target/);
    const listed = await cli('get', 'services');
    expect(listed.stdout).toMatch(/burner\s+3\/3\s+1-3/);

    expect((await execIn(docker, container.Id, ['rm', '-f', '/burn'])).exitCode).toBe(0);
    await eventually(
      async () => {
        if ((await runningTasks('burner')).length === 1) return true;
        // What the autoscaler sees, for the message if this times out.
        throw new Error((await cli('describe', 'service', 'burner')).stdout);
      },
      'back to one replica',
      150_000,
      500,
    );
    const down = (await eventsOf('burner')).filter((e) => e.type === 'service.scaled-down');
    expect(down.length).toBeGreaterThan(0);
    expect(down.at(-1)!.message).toMatch(/→ 1: cpu \d+% of 30% target/);
    const described = await cli('describe', 'service', 'burner');
    expect(described.stdout).toContain('Autoscaling:');
    expect(described.stdout).toMatch(/cpu\s+\d+% \/ 30%/);
  });

  it('scales a service out on requests per replica counted by the local load balancer', async () => {
    const spec = file(
      'shop',
      `kind: Service
metadata: { name: shop }
spec:
  replicas: 1
  containers:
    - name: web
      image: skiff/busybox:latest
      command: ["sh", "-c", "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www"]
      ports: [{ containerPort: 8080 }]
      resources: { cpu: 50m, memory: 16Mi }
  ingress: { host: shop.hpa.test, port: 8080 }
  autoscaling:
    minReplicas: 1
    maxReplicas: 2
    targetRequestsPerReplica: 1
    scaleDownStabilizationSeconds: 10
`,
    );
    expect((await cli('apply', '-f', spec)).code).toBe(0);
    const proxy = new URL(json<{ proxy: string }>(await cli('local', 'status', '-o', 'json')).proxy);
    const get = () =>
      new Promise<number>((resolve) => {
        const req = request({ host: proxy.hostname, port: Number(proxy.port || 80), path: '/', headers: { host: 'shop.hpa.test' }, agent: false }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', () => resolve(0));
        req.setTimeout(5000, () => req.destroy());
        req.end();
      });
    // Bounded load: about 5 requests a second, for at most two minutes or until the second replica runs.
    let loading = true;
    const load = (async () => {
      for (let i = 0; loading && i < 600; i++) {
        await get();
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    try {
      await eventually(async () => ((await runningTasks('shop')).length === 2 ? true : undefined), 'a second replica under request load', 150_000, 1000);
    } finally {
      loading = false;
      await load;
    }
    const up = (await eventsOf('shop')).find((e) => e.type === 'service.scaled-up');
    expect(up?.message).toMatch(/^shop 1 → 2: requests [\d.]+\/s per replica of 1\/s target/);
    expect((await cli('delete', 'service', 'shop')).code).toBe(0);
  });

  it('refuses a spec whose bounds are reversed or whose request target has no ingress, naming the field', async () => {
    const reversed = file(
      'reversed',
      `kind: Service
metadata: { name: reversed }
spec:
  containers: [{ name: app, image: skiff/busybox:latest, command: ["sleep", "3600"] }]
  autoscaling: { minReplicas: 4, maxReplicas: 2, targetCPUUtilization: 50 }
`,
    );
    const r = await cli('apply', '-f', reversed);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('spec.autoscaling.minReplicas: must not be above maxReplicas: got minReplicas 4 and maxReplicas 2');
    const noIngress = file(
      'noingress',
      `kind: Service
metadata: { name: noingress }
spec:
  containers: [{ name: app, image: skiff/busybox:latest, command: ["sleep", "3600"] }]
  autoscaling: { maxReplicas: 2, targetRequestsPerReplica: 10 }
`,
    );
    const n = await cli('apply', '-f', noIngress);
    expect(n.code).not.toBe(0);
    expect(n.stderr).toContain('spec.autoscaling.targetRequestsPerReplica: needs spec.ingress');
  });
});
