/**
 * Deleting a service keeps its persistent volumes unless asked, end to end on a one-host local cluster
 * with real Docker: a retained volume keeps its data for the next service of the same name, and
 * `skiff delete service --delete-volumes` removes the Docker volume and its record.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { eventually, json, skiff, startCluster, type RunningCluster } from '../helpers/cli.ts';
import { execIn, tearDownCluster, uniqueClusterName } from '../helpers/docker.ts';
import { LABELS } from '../../agent/executor.ts';
import type { TaskView } from '../../core/types.ts';
import type { VolumeView } from '../../core/volumes.ts';

const docker = new Docker();
const cluster = uniqueClusterName('delvol');
const dir = mkdtempSync(join(tmpdir(), 'skiff-delvol-'));
let running: RunningCluster | undefined;

const cli = (...args: string[]) => skiff(args, { cwd: dir, timeoutMs: 60_000 });

// A 1 s grace: busybox's sleep, as PID 1, ignores SIGTERM, and the test need not wait 30 s for the kill.
const file = join(dir, 'keep.yaml');
writeFileSync(
  file,
  `kind: Service
metadata: { name: keep }
spec:
  terminationGracePeriodSeconds: 1
  volumes:
    - { name: data, persistent: {} }
  containers:
    - name: app
      image: skiff/busybox:latest
      command: ["sleep", "3600"]
      resources: { cpu: 50m, memory: 16Mi }
      volumeMounts: [{ name: data, mountPath: /data }]
`,
);

/** The persistent Docker volumes of this cluster, by name. */
async function dockerVolumes(): Promise<string[]> {
  const listed = await docker.listVolumes({ filters: { label: [`${LABELS.cluster}=${cluster}`, 'skiff.volume-kind=persistent'] } });
  return (listed.Volumes ?? []).map((v) => v.Name);
}

/** The app container of the running replica of `keep`. */
async function runningContainer(what: string): Promise<string> {
  return eventually(
    async () => {
      const [t] = json<TaskView[]>(await cli('get', 'tasks', '--service', 'keep', '-o', 'json'));
      if (t?.state !== 'running') return undefined;
      const [c] = await docker.listContainers({ filters: { label: [`${LABELS.cluster}=${cluster}`, `${LABELS.task}=${t.id}`, `${LABELS.container}=app`] } });
      return c?.Id;
    },
    what,
    30_000,
  );
}

beforeAll(async () => {
  running = await startCluster(dir, ['--cluster', cluster, '--hosts', '1', '--data', join(dir, 'data')]);
});

afterAll(() => tearDownCluster(running, cluster, dir, docker));

describe('deleting a service and its volumes', { timeout: 120_000 }, () => {
  it('keeps a volume with its data for the next service of that name, and deletes it with --delete-volumes', async () => {
    expect((await cli('apply', '-f', file)).code).toBe(0);
    const first = await runningContainer('the first replica running');
    expect((await execIn(docker, first, ['sh', '-c', 'echo kept > /data/marker'])).exitCode).toBe(0);
    const [volume] = await dockerVolumes();
    expect(volume).toBeDefined();

    // Deleted without the flag: the volume stays, retained, with its data.
    expect((await cli('delete', 'service', 'keep')).code).toBe(0);
    const retained = json<VolumeView[]>(await cli('get', 'volumes', '-o', 'json'));
    expect(retained.map((v) => [v.name, v.state])).toEqual([['default-keep-data-1', 'retained']]);
    expect(await dockerVolumes()).toEqual([volume]);

    // The same service again attaches it: the new replica reads what the old one wrote.
    expect((await cli('apply', '-f', file)).code).toBe(0);
    const second = await runningContainer('the second replica running');
    expect(second).not.toBe(first);
    expect((await execIn(docker, second, ['cat', '/data/marker'])).stdout).toBe('kept\n');

    // Deleted with --delete-volumes: the command returns once the volume is gone, from Docker and from the list.
    const deleted = await cli('delete', 'service', 'keep', '--delete-volumes', '--timeout', '50');
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(deleted.stdout).toContain('volumes default-keep-data-1 deleting');
    expect(deleted.stdout).toContain('volumes of default/keep deleted');
    expect(json<VolumeView[]>(await cli('get', 'volumes', '-o', 'json'))).toEqual([]);
    expect(await dockerVolumes()).toEqual([]);
  });
});
