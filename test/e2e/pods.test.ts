/**
 * Pods end to end, on a local cluster with real Docker: a two-container pod whose init container
 * prepares a shared emptyDir, whose sidecar reaches the app on localhost, and whose app container
 * crashes and restarts alone while the sidecar (and the pod's sandbox) keep running.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { eventually, json, skiff, startCluster, type RunningCluster } from '../helpers/cli.ts';
import { execIn, tearDownCluster, uniqueClusterName } from '../helpers/docker.ts';
import { LABELS } from '../../agent/executor.ts';
import { SANDBOX } from '../../agent/pod-sandbox.ts';
import type { ClusterEvent, TaskView } from '../../core/types.ts';

const docker = new Docker();
const cluster = uniqueClusterName('pods');
const dir = mkdtempSync(join(tmpdir(), 'skiff-pods-'));
let running: RunningCluster | undefined;

const cli = (...args: string[]) => skiff(args, { cwd: dir });
const tasksOf = async (service: string) => json<TaskView[]>(await cli('get', 'tasks', '--service', service, '-o', 'json'));
const eventsOf = async (service: string) => json<ClusterEvent[]>(await cli('events', '--service', service, '-o', 'json'));
const containerOf = async (taskId: string, name: string) => {
  const [c] = await docker.listContainers({
    all: true,
    filters: { label: [`${LABELS.cluster}=${cluster}`, `${LABELS.task}=${taskId}`, `${LABELS.container}=${name}`] },
  });
  return c;
};

const DUO = `kind: Service
metadata: { name: duo }
spec:
  replicas: 1
  volumes:
    - { name: shared, emptyDir: {} }
  initContainers:
    - name: prepare
      image: skiff/busybox:latest
      command: ["sh", "-c", "mkdir -p /shared/www && echo prepared-by-init > /shared/www/index.html"]
      volumeMounts: [{ name: shared, mountPath: /shared }]
  containers:
    - name: app
      image: skiff/busybox:latest
      command: ["httpd", "-f", "-p", "8080", "-h", "/shared/www"]
      ports: [{ containerPort: 8080 }]
      resources: { cpu: 50m, memory: 16Mi }
      volumeMounts: [{ name: shared, mountPath: /shared, readOnly: true }]
    - name: sidecar
      image: skiff/busybox:latest
      command: ["sh", "-c", "while true; do wget -qO /out/seen.new http://127.0.0.1:8080/ && mv /out/seen.new /out/seen; sleep 0.2; done"]
      resources: { cpu: 50m, memory: 16Mi }
      volumeMounts: [{ name: shared, mountPath: /out }]
`;

beforeAll(async () => {
  running = await startCluster(dir, ['--cluster', cluster, '--hosts', '2', '--data', join(dir, 'data')]);
});

afterAll(() => tearDownCluster(running, cluster, dir, docker));

describe('a two-container pod', { timeout: 180_000 }, () => {
  it('runs its init container first, lets the sidecar reach the app on localhost, and keeps the sidecar through an app crash', async () => {
    writeFileSync(join(dir, 'duo.yaml'), DUO);
    const applied = await cli('apply', '-f', join(dir, 'duo.yaml'));
    expect(applied.code, applied.stderr).toBe(0);
    const [task] = await eventually(
      async () => {
        const t = await tasksOf('duo');
        return t.length === 1 && t[0].state === 'running' ? t : undefined;
      },
      'the pod running',
      90_000,
    );
    // The published port belongs to the sandbox but is reported under the container that declares it.
    const port = task.ports.find((p) => p.containerPort === 8080)!;
    expect(port.container).toBe('app');
    expect((await (await fetch(`http://${port.hostIp}:${port.hostPort}/`)).text()).trim()).toBe('prepared-by-init');

    const sidecar = await containerOf(task.id, 'sidecar');
    const sandbox = await containerOf(task.id, SANDBOX);
    const init = await containerOf(task.id, 'prepare');
    expect(init.State).toBe('exited');
    // The sidecar fetched the app's page over the pod's loopback and wrote it to the shared emptyDir.
    await eventually(async () => {
      const r = await execIn(docker, sidecar.Id, ['cat', '/out/seen']);
      return r.stdout.trim() === 'prepared-by-init' ? true : undefined;
    }, 'the sidecar reaching the app on localhost');

    const app = await containerOf(task.id, 'app');
    await docker.getContainer(app.Id).kill();
    await eventually(
      async () => {
        const [t] = await tasksOf('duo');
        return t?.id === task.id && t.state === 'running' && (t.restarts ?? 0) >= 1 ? t : undefined;
      },
      'the app restarted in the same pod',
      60_000,
    );
    // The app container restarted in place; the sidecar and the sandbox were never recreated.
    expect((await containerOf(task.id, 'app')).Id).toBe(app.Id);
    const sidecarAfter = await containerOf(task.id, 'sidecar');
    expect(sidecarAfter.Id).toBe(sidecar.Id);
    expect(sidecarAfter.State).toBe('running');
    expect((await containerOf(task.id, SANDBOX)).Id).toBe(sandbox.Id);
    // The init container did not run again.
    expect((await containerOf(task.id, 'prepare')).Id).toBe(init.Id);
    await eventually(async () => {
      const r = await execIn(docker, sidecar.Id, ['wget', '-qO-', 'http://127.0.0.1:8080/']);
      return r.exitCode === 0 && r.stdout.trim() === 'prepared-by-init' ? true : undefined;
    }, 'the sidecar reaching the restarted app on localhost');
    const events = await eventsOf('duo');
    expect(events.some((e) => e.type === 'task.restarted' && e.message.includes('container app'))).toBe(true);
  });

  it('retries a failing init container with back-off and reports why the pod waits', async () => {
    writeFileSync(
      join(dir, 'stuck.yaml'),
      `kind: Service
metadata: { name: stuck }
spec:
  initContainers:
    - { name: wait-for-db, image: skiff/busybox:latest, command: ["sh", "-c", "exit 3"] }
  containers:
    - { name: app, image: skiff/busybox:latest, command: ["sleep", "3600"], resources: { cpu: 50m, memory: 16Mi } }
`,
    );
    expect((await cli('apply', '-f', join(dir, 'stuck.yaml'), '--no-wait')).code).toBe(0);
    const t = await eventually(
      async () => {
        const [x] = await tasksOf('stuck');
        return x?.message?.includes('init container wait-for-db (1 of 1) failed: exited with code 3') && (x.restarts ?? 0) >= 1 ? x : undefined;
      },
      'the init failure reported, and retried',
      60_000,
    );
    expect(t.state).toBe('failed');
    expect(await containerOf(t.id, 'app')).toBeUndefined();
  });
});
