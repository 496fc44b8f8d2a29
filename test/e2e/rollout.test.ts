/**
 * Rollouts end to end: `skiff local up` (3 hosts), the `skiff` CLI, real containers, and bounded
 * load through the local load balancer. Ten replicas roll to a new version a surge at a time with
 * zero failed requests; a version whose containers exit and one whose probe fails are rolled back
 * automatically (the old replicas, the very same containers, serve throughout: zero failed
 * requests); `rollout undo` returns to the previous version. Waits on conditions, never on time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import Docker from 'dockerode';
import { eventually, json, skiff, startCluster, type RunningCluster } from '../helpers/cli.ts';
import { tearDownCluster, uniqueClusterName } from '../helpers/docker.ts';

interface TaskJson {
  id: string;
  service: string;
  state: string;
  ports: { containerPort: number; hostIp: string; hostPort: number }[];
}

const docker = new Docker();
const cluster = uniqueClusterName('rollout');
const dir = mkdtempSync(join(tmpdir(), 'skiff-rollout-'));
let running: RunningCluster | undefined;

const cli = (...args: string[]) => skiff(args, { cwd: dir, timeoutMs: 300_000 });

const REPLICAS = 10;
const HOST = 'web.rollout.test';

/** A 10-replica web service behind the load balancer answering its VERSION, probed on `probePath`; `command` replaces the server. */
function specFile(version: string, opts: { probePath?: string; command?: string } = {}): string {
  const command = opts.command ?? 'mkdir -p /www && echo "$VERSION" > /www/index.html && exec httpd -f -p 8080 -h /www';
  const probe = opts.command ? '' : `\n      health: { http: { path: "${opts.probePath ?? '/'}", port: 8080 }, intervalSeconds: 1, failureThreshold: 2 }`;
  const file = join(dir, `web-${version}.yaml`);
  writeFileSync(
    file,
    `kind: Service
metadata: { name: web }
spec:
  replicas: ${REPLICAS}
  update: { maxSurge: 3, maxUnavailable: 0, minReadySeconds: 1, progressDeadlineSeconds: 180 }
  ingress: { host: ${HOST}, port: 8080 }
  containers:
    - name: web
      image: skiff/busybox:latest
      command: ["sh", "-c", ${JSON.stringify(command)}]
      env: { VERSION: "${version}" }
      ports: [{ containerPort: 8080 }]
      resources: { cpu: 50m, memory: 16Mi }${probe}
`,
  );
  return file;
}

async function tasks(): Promise<TaskJson[]> {
  return json<TaskJson[]>(await cli('get', 'tasks', '-o', 'json')).filter((t) => t.service === 'web');
}

/** What every replica answers on its endpoint, by task id. */
async function answers(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const t of await tasks()) {
    const p = t.ports[0];
    const body = await eventually(async () => {
      const res = await fetch(`http://${p.hostIp}:${p.hostPort}/`).catch(() => undefined);
      return res?.ok ? res.text() : undefined;
    }, `replica ${t.id} to answer`);
    out.set(t.id, body.trim());
  }
  return out;
}

/**
 * Bounded load through the load balancer while `during` runs: 4 clients in a loop, at most 5,000
 * requests and 4 minutes. Returns what failed (each failure's reason) and how many were sent.
 */
async function underLoad<T>(during: () => Promise<T>): Promise<{ value: T; total: number; failed: string[] }> {
  const proxy = new URL(json<{ proxy: string }>(await cli('local', 'status', '-o', 'json')).proxy);
  const get = () =>
    new Promise<string | undefined>((resolve) => {
      const req = request({ host: proxy.hostname, port: Number(proxy.port || 80), path: '/', headers: { host: HOST }, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200 ? undefined : `HTTP ${res.statusCode}`));
        res.on('error', (err) => resolve(err.message));
      });
      req.on('error', (err) => resolve(err.message));
      req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
      req.end();
    });
  let stop = false;
  let total = 0;
  const failed: string[] = [];
  const deadline = Date.now() + 240_000;
  const clients = Array.from({ length: 4 }, async () => {
    while (!stop && Date.now() < deadline && total < 5000) {
      total++;
      const why = await get();
      if (why) failed.push(why);
      await new Promise((r) => setTimeout(r, 20));
    }
  });
  try {
    return { value: await during(), total, failed };
  } finally {
    stop = true;
    await Promise.all(clients);
  }
}

async function events(): Promise<{ type: string; message: string }[]> {
  return json<{ type: string; message: string }[]>(await cli('events', '--service', 'web', '-o', 'json'));
}

beforeAll(async () => {
  running = await startCluster(dir, ['--cluster', cluster, '--hosts', '3', '--data', join(dir, 'data')]);
});

afterAll(() => tearDownCluster(running, cluster, dir, docker));

describe('rollouts on a local cluster', { timeout: 300_000 }, () => {
  it('rolls 10 replicas to a new version under load, health-gated, with zero failed requests, and records both revisions', async () => {
    const first = await cli('apply', '-f', specFile('v1'), '--timeout', '240');
    expect(first.code, first.stderr).toBe(0);
    expect([...(await answers()).values()]).toEqual(Array(REPLICAS).fill('v1'));

    const { value: second, total, failed } = await underLoad(() => cli('apply', '-f', specFile('v2'), '--timeout', '240'));
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain(`default/web: ${REPLICAS}/${REPLICAS} running (version 2 complete`);
    console.log(`rollout of ${REPLICAS} replicas under load: ${total} requests, ${failed.length} failed`);
    expect(failed).toEqual([]);
    expect(total).toBeGreaterThan(20);
    expect([...(await answers()).values()]).toEqual(Array(REPLICAS).fill('v2'));
    const history = json<{ revisions: { version: number; current: boolean }[] }>(await cli('rollout', 'history', 'web', '-o', 'json'));
    expect(history.revisions.map((r) => [r.version, r.current])).toEqual([
      [1, false],
      [2, true],
    ]);
  });

  it('rolls back a version whose containers exit, the old replicas serving throughout', async () => {
    const before = await answers();
    const { value: bad, failed: dropped } = await underLoad(() =>
      cli('apply', '-f', specFile('exits', { command: 'echo starting; exit 3' }), '--timeout', '240'),
    );
    expect(dropped).toEqual([]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/version 3 of default\/web failed and (was|is being) rolled back: .*(crash-looping|exited)/);
    await eventually(
      async () => {
        const s = json<{ specVersion: number; phase: string; rollbackOf: number | null }>(await cli('rollout', 'status', 'web', '--no-wait', '-o', 'json'));
        return s.specVersion === 4 && s.phase === 'complete' ? s : undefined;
      },
      'the rollback to complete',
      180_000,
    );
    // The same containers as before: each slot's old incarnation was given its slot back.
    expect(await answers()).toEqual(before);
    const failed = (await events()).find((e) => e.type === 'rollout.failed' && e.message.includes('version 3'));
    expect(failed?.message).toMatch(/web-\d-[a-z0-9]{5} on host-\d (crash-looping: restarted \d+ times, last exit code 3|exited)/);
    expect((await events()).some((e) => e.type === 'rollout.rolledBack')).toBe(true);
  });

  it('rolls back a version whose probe fails, and says so', async () => {
    const before = await answers();
    const { value: bad, failed } = await underLoad(() => cli('apply', '-f', specFile('v3', { probePath: '/missing' }), '--timeout', '240'));
    expect(failed).toEqual([]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/version 5 of default\/web failed and (was|is being) rolled back: .*failing its probe/);
    await eventually(
      async () => {
        const s = json<{ specVersion: number; phase: string }>(await cli('rollout', 'status', 'web', '--no-wait', '-o', 'json'));
        return s.specVersion === 6 && s.phase === 'complete' ? s : undefined;
      },
      'the rollback to complete',
      180_000,
    );
    expect(await answers()).toEqual(before);
  });

  it('undoes to the previous version with rollout undo', async () => {
    const undo = await cli('rollout', 'undo', 'web', '--timeout', '240');
    expect(undo.code, undo.stderr).toBe(0);
    expect(undo.stdout).toContain('back to the template of version 1');
    expect([...(await answers()).values()]).toEqual(Array(REPLICAS).fill('v1'));
    const status = await cli('rollout', 'status', 'web');
    expect(status.code).toBe(0);
    expect(status.stdout).toContain('rolled out');
  });
});
