/**
 * End to end, as a user runs it: `skiff local up` (3 hosts) in one process, the `skiff` CLI in
 * others, real Docker underneath. Containers are reached only on their 127.0.1.x endpoints.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { ROOT, eventually, json, skiff, startCluster, type RunningCluster } from '../helpers/cli.ts';
import { execIn, tearDownCluster, uniqueClusterName } from '../helpers/docker.ts';
import { LABELS } from '../../agent/executor.ts';

interface TaskJson {
  id: string;
  service: string;
  namespace: string;
  host: string;
  state: string;
  message?: string;
  since?: string;
  ports: { containerPort: number; hostIp: string; hostPort: number }[];
}

const docker = new Docker();
const cluster = uniqueClusterName('e2e');
const dir = mkdtempSync(join(tmpdir(), 'skiff-e2e-'));
const hello = join(ROOT, 'examples', 'hello.yaml');
let running: RunningCluster | undefined;
let idsBeforeStop: string[] = [];

const cli = (...args: string[]) => skiff(args, { cwd: dir });
const clusterContainers = (extra: string[] = []) => docker.listContainers({ all: true, filters: { label: [`${LABELS.cluster}=${cluster}`, ...extra] } });

beforeAll(async () => {
  running = await startCluster(dir, ['--cluster', cluster, '--hosts', '3', '--data', join(dir, 'data')]);
});

afterAll(() => tearDownCluster(running, cluster, dir, docker));

describe('a local cluster driven by the skiff CLI', { timeout: 120_000 }, () => {
  it('reports what it runs with `local status`', async () => {
    const status = json<{ api: string; hosts: { id: string; address: string; pid: number }[] }>(await cli('local', 'status', '-o', 'json'));
    expect(status.api).toBe(running!.api);
    expect(status.hosts.map((h) => h.address)).toEqual(['127.0.1.1', '127.0.1.2', '127.0.1.3']);
    expect(status.hosts.every((h) => h.pid > 0)).toBe(true);
  });

  it('applies examples/hello.yaml and returns once all 3 replicas run, each on its own host', async () => {
    const applied = await cli('apply', '-f', hello);
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    expect(applied.stdout).toContain('default/hello: 3/3 running');

    const tasks = json<TaskJson[]>(await cli('get', 'tasks', '-o', 'json'));
    expect(tasks).toHaveLength(3);
    expect(tasks.every((t) => t.state === 'running' && t.namespace === 'default' && t.service === 'hello')).toBe(true);
    expect(new Set(tasks.map((t) => t.host)).size).toBe(3);
    for (const t of tasks) {
      expect(t.ports).toHaveLength(1);
      expect(t.ports[0]).toMatchObject({ containerPort: 8080 });
      expect(t.ports[0].hostIp).toMatch(/^127\.0\.1\.[1-3]$/);
      // each replica answers with its own hostname, which is its task id
      const body = await eventually(async () => {
        const res = await fetch(`http://${t.ports[0].hostIp}:${t.ports[0].hostPort}/`);
        return res.ok ? res.text() : undefined;
      }, `replica ${t.id} to answer`);
      expect(body.trim()).toBe(t.id);
    }
  });

  it('lets containers of the cluster reach a service, and each replica, by name on the cluster network', async () => {
    const tasks = json<TaskJson[]>(await cli('get', 'tasks', '-o', 'json'));
    const ids = tasks.map((t) => t.id);
    const [from] = await clusterContainers([`${LABELS.task}=${ids[0]}`, `${LABELS.container}=web`]);
    const answers = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const r = await execIn(docker, from.Id, ['wget', '-qO-', 'http://hello.default.skiff.internal:8080/']);
      expect(r.exitCode).toBe(0);
      answers.add(r.stdout.trim());
    }
    for (const a of answers) expect(ids).toContain(a);
    const one = await execIn(docker, from.Id, ['wget', '-qO-', `http://${ids[2]}.hello.default.skiff.internal:8080/`]);
    expect(one.stdout.trim()).toBe(ids[2]);
  });

  it('runs a command in a replica with skiff exec, its output and exit status passed through', async () => {
    const [task] = json<TaskJson[]>(await cli('get', 'tasks', '-o', 'json'));
    const hostname = await cli('exec', task.id, '--', 'hostname');
    expect(hostname.code, hostname.stderr).toBe(0);
    expect(hostname.stdout.trim()).toBe(task.id);
    const failing = await cli('exec', task.id, '-c', 'web', '--', 'sh', '-c', 'echo to-stderr >&2; exit 3');
    expect(failing.code).toBe(3);
    expect(failing.stderr).toContain('to-stderr');
    const wrong = await cli('exec', task.id, '-c', 'nosuch', '--', 'true');
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain(`task ${task.id} has no running container "nosuch"; its containers: web`);
  });

  it('shows tasks and hosts as tables and JSON', async () => {
    const table = await cli('get', 'tasks');
    expect(table.stdout.split('\n')[0]).toMatch(/^TASK\s+SERVICE\s+HOST\s+STATE\s+HEALTH\s+RESTARTS\s+ENDPOINTS/);
    expect(table.stdout).toMatch(/hello-1-[a-z0-9]{5}\s+hello\s+host-\d\s+running\s+-\s+0\s+127\.0\.1\.\d:\d+->8080/);

    const hosts = json<{ id: string; address: string; state: string; capacity: { cpu: number; memory: number }; allocated: { cpu: number; memory: number } }[]>(
      await cli('get', 'hosts', '-o', 'json'),
    );
    expect(hosts.map((h) => h.id).sort()).toEqual(['host-1', 'host-2', 'host-3']);
    for (const h of hosts) {
      expect(h.state).toBe('ready');
      expect(h.capacity).toEqual({ cpu: 4000, memory: 8 * 1024 ** 3 });
      expect(h.allocated).toEqual({ cpu: 100, memory: 32 * 1024 ** 2 });
    }
  });

  it('rejects bad specs with an error naming the field, and leaves the running service alone', async () => {
    const bad = (name: string, text: string) => {
      const file = join(dir, name);
      writeFileSync(file, text);
      return cli('apply', '-f', file);
    };
    const syntax = await bad('syntax.yaml', 'kind: Service\nmetadata: [\n');
    expect(syntax.code).toBe(1);
    expect(syntax.stderr).toMatch(/^skiff: invalid spec: .*line \d+/);

    const unknown = await bad(
      'unknown.yaml',
      'kind: Service\nmetadata: { name: hello }\nspec:\n  replicas: 1\n  containers:\n    - name: web\n      image: skiff/busybox:latest\n      imagee: x\n',
    );
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('spec.containers[0].imagee');
    expect(unknown.stderr).toContain('did you mean "image"');

    const negative = await bad(
      'negative.yaml',
      'kind: Service\nmetadata: { name: hello }\nspec:\n  replicas: -1\n  containers:\n    - { name: web, image: skiff/busybox:latest }\n',
    );
    expect(negative.code).toBe(1);
    expect(negative.stderr).toContain('spec.replicas');

    const missing = await cli('apply', '-f', join(dir, 'nope.yaml'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no such file');

    const usage = await cli('apply', '--bogus');
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('--bogus');

    // the API itself rejects a bad body with a 400 naming the field
    const res = await running!.fetch(`${running!.api}/v1/services`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'Service', metadata: { name: 'Bad_Name' }, spec: { containers: [] } }),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { issues: { path: string }[] };
    expect(body.issues.map((i) => i.path)).toEqual(expect.arrayContaining(['metadata.name', 'spec.containers']));

    const tasks = json<TaskJson[]>(await cli('get', 'tasks', '-o', 'json'));
    expect(tasks.filter((t) => t.service === 'hello' && t.state === 'running')).toHaveLength(3);
  });

  it('keeps a task that fits no host pending, and says why', async () => {
    const file = join(dir, 'huge.yaml');
    writeFileSync(
      file,
      'kind: Service\nmetadata: { name: huge }\nspec:\n  replicas: 1\n  containers:\n    - name: web\n      image: skiff/busybox:latest\n      command: ["sleep", "3600"]\n      resources: { cpu: 100m, memory: 64Gi }\n',
    );
    const applied = await cli('apply', '-f', file, '--no-wait');
    expect(applied.code).toBe(0);
    const task = await eventually(async () => {
      const t = json<TaskJson[]>(await cli('get', 'tasks', '--service', 'huge', '-o', 'json'))[0];
      return t?.message ? t : undefined;
    }, 'the unplaceable reason');
    expect(task.state).toBe('pending');
    expect(task.message).toBe('0 of 3 hosts fit: 3 insufficient memory');
    const table = await cli('get', 'tasks', '--service', 'huge');
    expect(table.stdout).toContain('0 of 3 hosts fit: 3 insufficient memory');

    const timedOut = await cli('apply', '-f', file, '--timeout', '1');
    expect(timedOut.code).toBe(1);
    expect(timedOut.stderr).toContain('insufficient memory');

    expect((await cli('delete', 'service', 'huge')).code).toBe(0);
  });

  it('deletes the service and its containers are gone from Docker', async () => {
    const deleted = await cli('delete', 'service', 'hello');
    expect(deleted.code).toBe(0);
    expect(deleted.stdout).toContain('deleted');
    expect(json<TaskJson[]>(await cli('get', 'tasks', '-o', 'json'))).toEqual([]);
    // The replicas left DNS and the load balancer at once; their containers stop after the drain (docs/load-balancing.md).
    await eventually(
      async () => ((await clusterContainers([`${LABELS.service}=hello`])).length === 0 ? true : undefined),
      'the containers gone after their drain',
    );
    const again = await cli('delete', 'service', 'hello');
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('service default/hello not found');
  });

  it('stops on Ctrl-C and removes every container of the cluster', async () => {
    expect((await cli('apply', '-f', hello)).code).toBe(0);
    // One app container per replica (each pod also has its sandbox).
    expect((await clusterContainers([`${LABELS.container}=web`])).length).toBe(3);
    idsBeforeStop = json<TaskJson[]>(await cli('get', 'tasks', '-o', 'json'))
      .map((t) => t.id)
      .sort();
    const code = await running!.stop();
    expect(code).toBe(0);
    expect(await clusterContainers()).toEqual([]);
    const status = await cli('local', 'status', '-o', 'json');
    expect(status.code).toBe(1);
    expect(JSON.parse(status.stdout)).toEqual({ running: false });
  });

  it('keeps its state across a restart: the service comes back on the same tasks', async () => {
    const down = await cli('get', 'tasks');
    expect(down.code).toBe(1);
    expect(down.stderr).toContain('no local cluster running here');
    const restartedAt = Date.now();
    running = await startCluster(dir, ['--cluster', cluster, '--hosts', '3', '--data', join(dir, 'data')]);
    // The API answers before the agents have reported again: until then it shows their last reports
    // from before the stop. Running counts only as reported since the restart.
    const tasks = await eventually(
      async () => {
        const t = json<TaskJson[]>(await cli('get', 'tasks', '-o', 'json'));
        return t.length === 3 && t.every((x) => x.state === 'running' && Date.parse(x.since ?? '') >= restartedAt) ? t : undefined;
      },
      'hello running again after the restart',
      60_000,
    );
    expect(tasks.map((t) => t.id).sort()).toEqual(idsBeforeStop);
    expect(new Set(tasks.map((t) => t.host)).size).toBe(3);
    // One app container per replica (each pod also has its sandbox).
    expect((await clusterContainers([`${LABELS.container}=web`])).length).toBe(3);
  });
});
