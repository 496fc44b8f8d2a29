/**
 * Graceful stops with a real Docker daemon: the stop signal of the spec reaches the process through
 * the container's init, a process that handles it exits cleanly within its grace period, one that
 * ignores it is killed once the period has passed; and the agent holds a task that left its
 * document for the drain delay before it signals it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.ts';
import { DockerExecutor, containerSpecHash } from '../../agent/docker.ts';
import { LABELS } from '../../agent/executor.ts';
import { MemoryStore } from '../../adapters/memory/store.ts';
import type { ContainerSpec, HostDocumentTask } from '../../core/types.ts';
import { MemoryHostChannel } from '../pass-harness.ts';
import { eventually } from '../helpers/cli.ts';
import { TEST_IMAGE, removeClusterContainers, uniqueClusterName } from '../helpers/docker.ts';

const docker = new Dockerode();
const cluster = uniqueClusterName('gs');
const executor = new DockerExecutor({ docker, cluster, hostId: 'h1' });
const dir = mkdtempSync(join(tmpdir(), 'skiff-graceful-'));
const agents: Agent[] = [];

afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.stop()));
  await removeClusterContainers(docker, cluster);
});

afterAll(async () => {
  await removeClusterContainers(docker, cluster);
  rmSync(dir, { recursive: true, force: true });
});

/**
 * A shell that runs `on` for the signals in `traps` and ignores those in `ignores`. `sleep & wait`:
 * busybox sh runs a trap only between commands, and `wait` is one it interrupts.
 */
function shell(traps: Record<string, string>, ignores: string[] = []): string[] {
  const lines = [...Object.entries(traps).map(([sig, action]) => `trap '${action}' ${sig}`), ...ignores.map((s) => `trap '' ${s}`), 'sleep 600 & wait'];
  return ['sh', '-c', lines.join('; ')];
}

let n = 0;
function aTask(container: Partial<ContainerSpec>, grace: number): HostDocumentTask {
  const slot = ++n;
  return {
    id: `grace-${slot}-${cluster}`,
    namespace: 'default',
    service: 'grace',
    slot,
    specVersion: 1,
    pod: {
      restartPolicy: 'always',
      terminationGracePeriodSeconds: grace,
      containers: [{ name: 'app', image: TEST_IMAGE, env: {}, ports: [], resources: { cpu: 100, memory: 16 * 1024 * 1024 }, ...container }],
    },
  };
}

async function running(task: HostDocumentTask): Promise<string> {
  const id = await executor.create(task, task.pod.containers[0], { hostAddress: '127.0.1.1', hostname: task.id });
  await executor.start(id);
  // The shell must have installed its traps before the signal comes: wait until its sleep runs.
  // The process whose command is `sleep 600` itself (the shell's own command line holds those words too).
  await eventually(async () => {
    const top = await docker.getContainer(id).top();
    return top.Processes?.some((p: string[]) => p.at(-1) === 'sleep 600') ? true : undefined;
  }, 'the shell to be waiting on its sleep');
  return id;
}

async function timedStop(id: string, grace: number): Promise<{ exitCode?: number; ms: number }> {
  const started = Date.now();
  const result = await executor.stopAndRemove(id, grace);
  return { ...result, ms: Date.now() - started };
}

describe('graceful stop with real containers', () => {
  it("creates containers with the spec's stop signal, the pod's grace period as StopTimeout and its label", async () => {
    const task = aTask({ command: ['sleep', '600'], stopSignal: 'SIGQUIT' }, 7);
    const id = await executor.create(task, task.pod.containers[0], { hostAddress: '127.0.1.1' });
    const info = await docker.getContainer(id).inspect();
    expect((info.Config as { StopSignal?: string }).StopSignal).toBe('SIGQUIT');
    expect((info.Config as { StopTimeout?: number }).StopTimeout).toBe(7);
    expect(info.Config.Labels[LABELS.stopGrace]).toBe('7');
    expect(info.HostConfig.Init).toBe(true);
    expect((await executor.inspect(id))?.stopGraceSeconds).toBe(7);
  });

  it('gives a container that traps SIGTERM its grace period: it exits by itself, cleanly', async () => {
    const id = await running(aTask({ command: shell({ TERM: 'exit 0' }) }, 20));
    const stopped = await timedStop(id, 20);
    // 0, not 137: the process ended on its own, the kill never came.
    expect(stopped.exitCode).toBe(0);
    expect((await executor.inspect(id))?.state).toBeUndefined();
    console.log(`graceful-stop: trapped SIGTERM, exited cleanly after ${stopped.ms} ms (grace 20 s)`);
  });

  it('kills a container that ignores SIGTERM once its grace period has passed', async () => {
    const id = await running(aTask({ command: shell({}, ['TERM']) }, 2));
    const stopped = await timedStop(id, 2);
    expect(stopped.exitCode).toBe(137);
    // Docker cannot kill before the period: a lower bound, not a speed.
    expect(stopped.ms).toBeGreaterThanOrEqual(1900);
    console.log(`graceful-stop: ignored SIGTERM, killed after ${stopped.ms} ms (grace 2 s)`);
  });

  it('delivers a stopSignal other than SIGTERM', async () => {
    // SIGTERM is ignored: only SIGUSR1 lets it exit cleanly, so exit 0 proves which signal came.
    const id = await running(aTask({ command: shell({ USR1: 'exit 0' }, ['TERM']), stopSignal: 'SIGUSR1' }, 20));
    const stopped = await timedStop(id, 20);
    expect(stopped.exitCode).toBe(0);
  });
});

describe('the agent stopping a task that left its document', () => {
  it('keeps it running for the drain delay, then signals it, and reports how it stopped', async () => {
    const store = new MemoryStore();
    const channel = new MemoryHostChannel();
    const task = aTask({ command: shell({ TERM: 'exit 0' }) }, 20);
    await channel.publish({ cluster, hostId: 'h1', generation: 1, tasks: [task] });
    const agent = new Agent(
      {
        cluster,
        hostId: 'h1',
        address: '127.0.1.1',
        capacity: { cpu: 2000, memory: 1024 ** 3 },
        labels: {},
        pollMs: 200,
        heartbeatMs: 500,
        reconcileMs: 200,
        stateFile: join(dir, 'h1.json'),
        stopGraceSeconds: 2,
        parallelism: 4,
        drainSeconds: 2,
      },
      {
        store,
        channel,
        executor,
        hashOf: containerSpecHash,
        now: () => Date.now(),
        random: () => 0.5,
        log: () => {},
        version: 'test',
      },
    );
    agents.push(agent);
    await agent.start();
    await eventually(async () => ((await store.getHostStatus('h1'))?.tasks[0]?.state === 'running' ? true : undefined), 'the task running');
    await eventually(async () => {
      const c = (await executor.list()).find((x) => x.taskId === task.id && x.container === 'app');
      return c && (await docker.getContainer(c.id).top()).Processes?.some((p: string[]) => p.join(' ').includes('sleep 600')) ? true : undefined;
    }, 'its shell waiting on its sleep');

    await channel.publish({ cluster, hostId: 'h1', generation: 2, tasks: [] });
    await agent.pollNow();
    await agent.reconcileNow();
    // The document is taken in and a round has run: the task is leaving, still running, not signalled.
    expect(agent.generation).toBe(2);
    expect((await executor.list()).filter((c) => c.taskId === task.id && c.container === 'app').map((c) => c.state)).toEqual(['running']);
    // Not applied while a leaving container remains (fencing: a host back from down is ready once they are gone).
    expect(agent.appliedGeneration).toBeLessThan(2);

    await eventually(async () => ((await executor.list()).some((c) => c.taskId === task.id) ? undefined : true), 'its container gone', 60_000);
    const status = await eventually(async () => {
      const s = await store.getHostStatus('h1');
      return s?.generation === 2 && s.events?.some((e) => e.type === 'task.stopped') ? s : undefined;
    }, 'the stop reported');
    const event = status.events!.find((e) => e.type === 'task.stopped')!;
    expect(event).toMatchObject({ task: task.id, host: 'h1', namespace: 'default', service: 'grace' });
    expect(event.message).toMatch(/stopped after a \d+\.\ds drain: exited within its grace period of 20s \(\d+\.\ds; exit app 0\)$/);
    const drained = Number(/after a (\d+\.\d)s drain/.exec(event.message)![1]);
    expect(drained).toBeGreaterThanOrEqual(2);
    console.log(`graceful-stop: agent ${event.message}`);
  });
});
