/**
 * Helpers for tests that use the real Docker daemon: unique cluster names, cleanup by label,
 * running a command inside a container, waiting for a published port to answer.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type Dockerode from 'dockerode';
import { LABELS } from '../../agent/executor.ts';
import { removeNetwork, stopAgents } from '../../local/cluster.ts';
import { readLocalStatus } from '../../cli/local-status.ts';
import type { RunningCluster } from './cli.ts';

/** The only image tests may use; built by scripts/build-images.sh. */
export const TEST_IMAGE = 'skiff/busybox:latest';

/** A cluster name no other test run uses, so cleanup by label touches only this run's containers. */
export function uniqueClusterName(prefix = 't'): string {
  return `${prefix}${randomBytes(4).toString('hex')}`;
}

/** Force-removes every container (any state) labelled with this cluster, then its networks and volumes. Returns how many containers it removed. */
export async function removeClusterContainers(docker: Dockerode, cluster: string): Promise<number> {
  const containers = await docker.listContainers({ all: true, filters: { label: [`${LABELS.cluster}=${cluster}`] } });
  await Promise.all(
    containers.map(async (c) => {
      try {
        await docker.getContainer(c.Id).remove({ force: true, v: true });
      } catch (err) {
        // Already gone (404) or being removed by the code under test (409).
        const status = (err as { statusCode?: number }).statusCode;
        if (status !== 404 && status !== 409) throw err;
      }
    }),
  );
  const networks = await docker.listNetworks({ filters: { label: [`${LABELS.cluster}=${cluster}`] } });
  await Promise.all(
    networks.map((n) =>
      docker
        .getNetwork(n.Id)
        .remove()
        .catch(() => undefined),
    ),
  );
  // Volumes last: a volume in use by a container cannot be removed.
  const volumes = await docker.listVolumes({ filters: { label: [`${LABELS.cluster}=${cluster}`] } });
  await Promise.all(
    (volumes.Volumes ?? []).map((v) =>
      docker
        .getVolume(v.Name)
        .remove()
        .catch(() => undefined),
    ),
  );
  return containers.length;
}

export interface ExecResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command in a running container (like `docker exec`) and returns its exit code and output. */
export async function execIn(docker: Dockerode, id: string, cmd: string[]): Promise<ExecResult> {
  const exec = await docker.getContainer(id).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (b: Buffer) => out.push(b));
  stderr.on('data', (b: Buffer) => err.push(b));
  docker.modem.demuxStream(stream, stdout, stderr);
  await new Promise<void>((resolve, reject) => {
    stream.on('end', resolve);
    stream.on('close', resolve);
    stream.on('error', reject);
  });
  // The stream may end a moment before Docker records the exit code: wait for it (bounded).
  let info = await exec.inspect();
  for (const deadline = Date.now() + 15_000; info.Running && Date.now() < deadline; info = await exec.inspect()) await new Promise((r) => setTimeout(r, 100));
  if (info.Running) throw new Error(`exec ${cmd.join(' ')} in ${id.slice(0, 12)} still running 15 s after its output ended`);
  return { exitCode: info.ExitCode ?? -1, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
}

/** Blocks until the container exits (Docker's wait API, no polling); returns its exit code. */
export async function waitForExit(docker: Dockerode, id: string): Promise<number> {
  const result = (await docker.getContainer(id).wait()) as { StatusCode: number };
  return result.StatusCode;
}

/**
 * Fetches a URL until it answers (a server in a just-started container needs a moment to listen).
 * Bounded: gives up after `attempts` tries, 100 ms apart, with the last error.
 */
export async function fetchWhenReady(url: string, attempts = 50): Promise<Response> {
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      return await fetch(url, { signal: AbortSignal.timeout(2_000) });
    } catch (err) {
      last = err;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(`${url} did not answer after ${attempts} attempts`, { cause: last });
}

/**
 * Stops the agents that outlived the control plane of the cluster `skiff local up` ran from `dir`
 * (`local down --keep-hosts`, or a stop that failed half-way), and waits for them to exit: found as
 * `local up` adopts them, through the status file's data folder and its pid files (local/cluster.ts
 * findAgent), so only this cluster's agents are signalled. Returns their pids.
 */
export async function stopKeptAgents(cluster: string, dir: string): Promise<number[]> {
  const status = readLocalStatus(join(dir, '.skiff', 'local.json'));
  if (status?.cluster !== cluster) return [];
  return stopAgents(status.dataDir, cluster);
}

/**
 * An e2e test's clean-up, whatever happened: stops the cluster `skiff local up` runs and any agent of
 * it still running, then removes its containers, Docker networks and packet filter rules (some left
 * behind by a failed stop) and the test's folder. The agents go first: a running agent writes its
 * rules again after their removal, and a stopped one keeps what it wrote.
 */
export async function tearDownCluster(running: RunningCluster | undefined, cluster: string, dir: string, docker: Dockerode): Promise<void> {
  try {
    await running?.stop();
  } finally {
    try {
      await stopKeptAgents(cluster, dir);
    } finally {
      await removeClusterContainers(docker, cluster);
      await removeNetwork(cluster, docker);
      rmSync(dir, { recursive: true, force: true });
    }
  }
}
