/**
 * Persistent volumes end to end, on a local cluster with real Docker: data written by one incarnation
 * of a replica is read by the next after a crash (`docker kill`), a rollout and a host drain, because
 * the replica is always placed back on the host that holds its volume. `skiff get volumes` shows where
 * each lives, and deleting the service keeps them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { eventually, json, skiff, startCluster, type RunningCluster } from '../helpers/cli.ts';
import { execIn, tearDownCluster, uniqueClusterName } from '../helpers/docker.ts';
import { LABELS } from '../../agent/executor.ts';
import type { ClusterEvent, TaskView } from '../../core/types.ts';
import type { VolumeView } from '../../core/volumes.ts';

const docker = new Docker();
const cluster = uniqueClusterName('vol');
const dir = mkdtempSync(join(tmpdir(), 'skiff-vol-'));
let running: RunningCluster | undefined;

const cli = (...args: string[]) => skiff(args, { cwd: dir });
const tasksOf = async (service: string) => json<TaskView[]>(await cli('get', 'tasks', '--service', service, '-o', 'json'));

/** Each start of the container counts itself in /data/starts: the count says how many incarnations saw the same data. */
function spec(version: string): string {
  const file = join(dir, `store-${version}.yaml`);
  writeFileSync(
    file,
    `kind: Service
metadata: { name: store }
spec:
  volumes:
    - { name: data, persistent: {} }
  containers:
    - name: app
      image: skiff/busybox:latest
      command: ["sh", "-c", "echo start >> /data/starts; exec sleep 3600"]
      env: { VERSION: "${version}" }
      resources: { cpu: 50m, memory: 16Mi }
      volumeMounts: [{ name: data, mountPath: /data }]
`,
  );
  return file;
}

/** The running replica (its task and app container), once it runs the given spec version. */
async function replica(what: string, accept: (t: TaskView) => boolean = () => true) {
  return eventually(
    async () => {
      const [t] = await tasksOf('store');
      if (t?.state !== 'running' || !accept(t)) return undefined;
      const [c] = await docker.listContainers({ filters: { label: [`${LABELS.cluster}=${cluster}`, `${LABELS.task}=${t.id}`, `${LABELS.container}=app`] } });
      return c ? { task: t, container: c } : undefined;
    },
    what,
    90_000,
  );
}

const read = async (containerId: string, file: string) => (await execIn(docker, containerId, ['cat', file])).stdout;

beforeAll(async () => {
  running = await startCluster(dir, ['--cluster', cluster, '--hosts', '2', '--data', join(dir, 'data')]);
});

afterAll(() => tearDownCluster(running, cluster, dir, docker));

describe('a persistent volume', { timeout: 300_000 }, () => {
  it('keeps its data across a crash, a rollout and a host drain, on the host that holds it', async () => {
    expect((await cli('apply', '-f', spec('1'))).code).toBe(0);
    const first = await replica('the first incarnation running');
    const host = first.task.host!;
    const write = await execIn(docker, first.container.Id, ['sh', '-c', 'echo kept > /data/marker']);
    expect(write.exitCode).toBe(0);

    const volumes = json<VolumeView[]>(await cli('get', 'volumes', '-o', 'json'));
    expect(volumes.map((v) => ({ name: v.name, namespace: v.namespace, service: v.service, host: v.host }))).toEqual([
      { name: 'default-store-data-1', namespace: 'default', service: 'store', host },
    ]);

    // A crash: the agent restarts the killed container, which finds its data.
    await docker.getContainer(first.container.Id).kill();
    const restarted = await replica('the killed container running again', (t) => (t.restarts ?? 0) >= 1);
    expect(await read(restarted.container.Id, '/data/marker')).toBe('kept\n');

    // A rollout: a new task, placed back on the volume's host.
    expect((await cli('apply', '-f', spec('2'))).code).toBe(0);
    const rolled = await replica('the rolled-out incarnation running', (t) => t.id !== first.task.id && t.specVersion === 2);
    expect(rolled.task.host).toBe(host);
    expect(await read(rolled.container.Id, '/data/marker')).toBe('kept\n');

    // A drain: the replacement cannot go elsewhere, so it waits (saying why) while the old one keeps running;
    // once the host takes tasks again it comes back there, to its data.
    expect((await cli('drain', host)).code).toBe(0);
    await eventually(
      async () => {
        const events = json<ClusterEvent[]>(await cli('events', '--service', 'store', '-o', 'json'));
        return events.some(
          (e) => e.type === 'task.unplaceable' && e.message.includes(`its volume default-store-data-1 lives on host ${host}, which is draining`),
        )
          ? true
          : undefined;
      },
      'the replacement waiting for its volume host',
      60_000,
    );
    expect((await cli('uncordon', host)).code).toBe(0);
    const drained = await replica('the replacement running after the drain', (t) => t.id !== rolled.task.id);
    expect(drained.task.host).toBe(host);
    expect(await read(drained.container.Id, '/data/marker')).toBe('kept\n');
    // Four starts so far (first, restart, rollout, drain), every one on the same data.
    expect((await read(drained.container.Id, '/data/starts')).trim().split('\n')).toHaveLength(4);

    // Deleting the service keeps the volume (and its record) for the next service of that name.
    expect((await cli('delete', 'service', 'store')).code).toBe(0);
    expect(json<VolumeView[]>(await cli('get', 'volumes', '-o', 'json')).map((v) => v.name)).toEqual(['default-store-data-1']);
    const kept = await docker.listVolumes({ filters: { label: [`${LABELS.cluster}=${cluster}`, 'skiff.volume-kind=persistent'] } });
    expect(kept.Volumes.map((v) => v.Labels[LABELS.host])).toEqual([host]);
  });
});
