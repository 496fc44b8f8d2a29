/**
 * Limits enforced, not only reserved, with real Docker: a CPU-burning container is held to the CPU
 * its spec reserves (a cap, NanoCpus), and one that allocates past its memory limit is OOM-killed
 * and seen as such. Figures are measured over a bounded window and asserted with a wide margin.
 */
import Dockerode from 'dockerode';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { DockerExecutor, nanoCpus } from '../../agent/docker.ts';
import type { ContainerSpec, HostDocumentTask } from '../../core/types.ts';
import { TEST_IMAGE, removeClusterContainers, uniqueClusterName, waitForExit } from '../helpers/docker.ts';

const docker = new Dockerode();
const cluster = uniqueClusterName('lim');
const executor = new DockerExecutor({ docker, cluster, hostId: 'h1' });
const MiB = 1024 * 1024;

function aTask(id: string, container: ContainerSpec): HostDocumentTask {
  return { id, namespace: 'default', service: id, slot: 1, specVersion: 1, pod: { containers: [container], restartPolicy: 'never' } };
}

function aContainer(command: string, resources: ContainerSpec['resources']): ContainerSpec {
  return { name: 'app', image: TEST_IMAGE, command: ['sh', '-c', command], env: {}, ports: [], resources };
}

/** CPU time (ns) the container has used, and when Docker read it. */
async function cpuUsage(id: string): Promise<{ usage: number; at: number }> {
  const s = (await docker.getContainer(id).stats({ stream: false })) as { read: string; cpu_stats: { cpu_usage: { total_usage: number } } };
  return { usage: s.cpu_stats.cpu_usage.total_usage, at: Date.parse(s.read) };
}

afterAll(async () => {
  await removeClusterContainers(docker, cluster);
});

describe('limits', { timeout: 60_000 }, () => {
  it('caps a CPU-burning container at the CPU it reserved', async () => {
    const cpu = 200;
    const task = aTask('burn-1-aaaaa', aContainer('while :; do :; done', { cpu, memory: 16 * MiB }));
    const id = await executor.create(task, task.pod.containers[0], { hostAddress: '127.0.1.1' });
    const inspected = await docker.getContainer(id).inspect();
    expect(inspected.HostConfig.NanoCpus).toBe(nanoCpus(cpu));
    await executor.start(id);
    await sleep(500);
    const a = await cpuUsage(id);
    await sleep(3000);
    const b = await cpuUsage(id);
    const cores = (b.usage - a.usage) / ((b.at - a.at) * 1e6);
    console.log(`cpu-burning container with ${cpu}m reserved used ${cores.toFixed(3)} cores over ${((b.at - a.at) / 1000).toFixed(1)} s`);
    // Uncapped, the loop would take a whole core (1.0); the cap holds it to 0.2. Twice the cap is the
    // margin: CFS accounting is per period and the sample windows of the two reads are not exact.
    expect(cores).toBeLessThan((2 * cpu) / 1000);
    expect(cores).toBeGreaterThan(0);
    await executor.stopAndRemove(id, 0);
  });

  it('OOM-kills a container that allocates past its memory limit, and says so', async () => {
    // Doubles a shell string until the 16 MiB limit (no swap on top) stops it.
    const task = aTask('hog-1-aaaaa', aContainer('x=aaaaaaaaaaaaaaaa; while :; do x="$x$x"; done', { cpu: 100, memory: 16 * MiB }));
    const id = await executor.create(task, task.pod.containers[0], { hostAddress: '127.0.1.1' });
    await executor.start(id);
    expect(await waitForExit(docker, id)).toBe(137);
    const info = await executor.inspect(id);
    expect(info).toMatchObject({ state: 'exited', exitCode: 137, oomKilled: true });
    await executor.stopAndRemove(id, 0);
  });
});
