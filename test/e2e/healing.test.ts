/**
 * Chaos tests against a local cluster and real Docker: crashes, failing probes, dead hosts,
 * partitions, a stopped control plane and crash loops. Each is bounded and cleans up.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { eventually, json, skiff, startCluster, type RunningCluster } from '../helpers/cli.ts';
import { writeWebService } from '../helpers/web-service.ts';
import { execIn, tearDownCluster, uniqueClusterName } from '../helpers/docker.ts';
import { LABELS } from '../../agent/executor.ts';
import type { ClusterEvent, TaskView } from '../../core/types.ts';

const docker = new Docker();
const cluster = uniqueClusterName('heal');
const dir = mkdtempSync(join(tmpdir(), 'skiff-heal-'));
const data = join(dir, 'data');
let running: RunningCluster | undefined;

const cli = (...args: string[]) => skiff(args, { cwd: dir });
const tasksOf = async (service: string) => json<TaskView[]>(await cli('get', 'tasks', '--service', service, '-o', 'json'));
const eventsOf = async (service: string) => json<ClusterEvent[]>(await cli('events', '--service', service, '-o', 'json'));
const containersOf = (labels: string[]) =>
  docker.listContainers({ all: false, filters: { label: [`${LABELS.cluster}=${cluster}`, `${LABELS.container}=web`, ...labels] } });

/**
 * A web server, `replicas` of it. 200m, not less: an exec probe runs inside the container's CPU cap
 * (as in Kubernetes), and `docker exec`'s own start-up needs more than a 50m cap gives it in 0.5 s.
 */
const service = (name: string, replicas: number, extra = '') => writeWebService(dir, name, { replicas, cpu: '200m', extra });

/** Every replica of `name` running (and healthy when probed), `replicas` of them. */
const fullStrength = (name: string, replicas: number, timeoutMs = 30_000) =>
  eventually(
    async () => {
      const t = await tasksOf(name);
      return t.length === replicas && t.every((x) => x.state === 'running' && (x.health === undefined || x.health === 'healthy')) ? t : undefined;
    },
    `${name} at full strength`,
    timeoutMs,
    200,
  );

async function hostPids(): Promise<{ id: string; pid: number; state: string }[]> {
  const status = json<{ hosts: { id: string; pid: number; state: string }[] }>(await cli('local', 'status', '-o', 'json'));
  return status.hosts;
}

beforeAll(async () => {
  running = await startCluster(dir, ['--cluster', cluster, '--hosts', '3', '--data', data]);
  await hostPids();
});

// A test that fails between `local down --keep-hosts` and the next `local up` leaves the agents running
// with no control plane: the teardown stops them (and waits) before it removes their rules.
afterAll(() => tearDownCluster(running, cluster, dir, docker), 90_000);

describe('healing', { timeout: 120_000 }, () => {
  it('runs a killed container again and is back at full strength', async () => {
    expect((await cli('apply', '-f', service('crash', 3))).code).toBe(0);
    const [victim] = await containersOf([`${LABELS.service}=crash`]);
    await docker.getContainer(victim.Id).kill();
    await eventually(async () => {
      const t = await tasksOf('crash');
      return t.length === 3 && t.every((x) => x.state === 'running') && t.some((x) => (x.restarts ?? 0) >= 1) ? t : undefined;
    }, 'the killed replica restarted and all 3 running');
    // The event is written by the pass that reads the report: it may come a moment after the task view shows the restart.
    await eventually(
      async () => ((await eventsOf('crash')).some((e) => e.type === 'task.restarted' && e.message.includes('exited with code')) ? true : undefined),
      'the task.restarted event of the killed replica',
    );
  });

  it('replaces a container whose probe fails, and the event log says why', async () => {
    const health = `      health: { exec: { command: ["test", "-f", "/tmp/healthy"] }, intervalSeconds: 0.5, failureThreshold: 2 }\n`;
    expect((await cli('apply', '-f', service('probed', 2, health))).code).toBe(0);
    await fullStrength('probed', 2);
    const [victim] = await containersOf([`${LABELS.service}=probed`]);
    const taskId = victim.Labels[LABELS.task];
    await execIn(docker, victim.Id, ['rm', '-f', '/tmp/healthy']);
    await eventually(
      async () => ((await eventsOf('probed')).some((e) => e.type === 'task.unhealthy' && e.task === taskId) ? true : undefined),
      'the unhealthy event',
    );
    await fullStrength('probed', 2);
    const events = (await eventsOf('probed')).filter((e) => e.task === taskId);
    expect(events.find((e) => e.type === 'task.unhealthy')!.message).toContain('probe');
    expect(events.some((e) => e.type === 'task.restarted')).toBe(true);
  });

  it('moves a task whose probe keeps failing to another host', async () => {
    // The probe never succeeds: after 3 restarts on its host the control plane replaces the task elsewhere.
    const health = `      health: { exec: { command: ["test", "-f", "/nonexistent"] }, intervalSeconds: 0.3, failureThreshold: 1 }\n`;
    expect((await cli('apply', '-f', service('sick', 1, health), '--no-wait')).code).toBe(0);
    const first = await eventually(async () => (await tasksOf('sick'))[0]?.host ?? undefined, 'the first placement');
    const replaced = await eventually(
      async () => {
        const e = (await eventsOf('sick')).find((x) => x.type === 'task.replaced');
        return e;
      },
      'the task replaced',
      60_000,
    );
    expect(replaced.message).toMatch(/unhealthy after \d+ restarts on host-\d/);
    const [now] = await tasksOf('sick');
    expect(now.host).not.toBe(first);
    expect((await cli('delete', 'service', 'sick')).code).toBe(0);
  });

  it('replaces the tasks of a dead host on the others, and shows the host down', async () => {
    expect((await cli('apply', '-f', service('crash', 3))).code).toBe(0);
    const before = await fullStrength('crash', 3);
    const victimHost = before[0].host!;
    expect((await cli('local', 'kill-host', victimHost)).code).toBe(0);
    const after = await eventually(
      async () => {
        const t = await tasksOf('crash');
        return t.length === 3 && t.every((x) => x.state === 'running' && x.host !== victimHost) ? t : undefined;
      },
      'replacements running elsewhere',
      30_000,
    );
    expect(after.map((t) => t.host)).not.toContain(victimHost);
    const hosts = json<{ id: string; state: string }[]>(await cli('get', 'hosts', '-o', 'json'));
    expect(hosts.find((h) => h.id === victimHost)!.state).toBe('down');
    expect((await eventsOf('crash')).some((e) => e.type === 'task.replaced' && e.message.includes(`host ${victimHost} is down`))).toBe(true);
    expect((await cli('local', 'start-host', victimHost)).code).toBe(0);
    await eventually(
      async () => {
        const h = json<{ id: string; state: string }[]>(await cli('get', 'hosts', '-o', 'json')).find((x) => x.id === victimHost);
        return h?.state === 'ready' ? h : undefined;
      },
      'the restarted host ready again',
      30_000,
    );
    await hostPids();
  });

  it('fences a partitioned host: once resumed it stops what was moved away, and the count settles', async () => {
    expect((await cli('apply', '-f', service('crash', 3))).code).toBe(0);
    const before = await fullStrength('crash', 3);
    const victimHost = before[0].host!;
    const movedTask = before[0].id;
    const moved = before.filter((t) => t.host === victimHost).map((t) => t.id);
    expect((await cli('local', 'pause-host', victimHost)).code).toBe(0);
    await eventually(
      async () => {
        const t = await tasksOf('crash');
        return t.length === 3 && t.every((x) => x.state === 'running' && x.host !== victimHost) ? t : undefined;
      },
      'replacements running while the host is partitioned',
      30_000,
    );
    // Its old container still runs: the agent is frozen, not the container.
    expect((await containersOf([`${LABELS.task}=${movedTask}`])).length).toBe(1);
    expect((await cli('local', 'resume-host', victimHost)).code).toBe(0);
    await eventually(
      async () => {
        for (const id of moved) if ((await containersOf([`${LABELS.task}=${id}`])).length > 0) return undefined;
        return true;
      },
      'the stale containers stopped',
      20_000,
    );
    // Settled: exactly the desired replicas run (the old ones stop; a replacement may still be starting).
    await eventually(async () => ((await containersOf([`${LABELS.service}=crash`])).length === 3 ? true : undefined), 'three containers of crash', 20_000);
    await eventually(
      async () => {
        const h = json<{ id: string; state: string }[]>(await cli('get', 'hosts', '-o', 'json')).find((x) => x.id === victimHost);
        return h?.state === 'ready' ? h : undefined;
      },
      'the fenced host rejoins',
      20_000,
    );
    expect((await cli('events', '--host', victimHost, '-o', 'json')).stdout).toContain('host.fenced');
  });

  it('keeps containers running and restarted with the control plane down, and reschedules nothing when it returns', async () => {
    expect((await cli('apply', '-f', service('crash', 3))).code).toBe(0);
    const before = await fullStrength('crash', 3);
    const downCode = await cli('local', 'down', '--keep-hosts');
    expect(downCode.code).toBe(0);
    expect(await running!.stop()).toBe(0);
    const [victim] = await containersOf([`${LABELS.service}=crash`]);
    await docker.getContainer(victim.Id).kill();
    await eventually(
      async () => {
        const c = await docker.getContainer(victim.Id).inspect();
        return c.State.Running ? true : undefined;
      },
      'the agent restarting the container with no control plane',
      15_000,
    );
    running = await startCluster(dir, ['--cluster', cluster, '--hosts', '3', '--data', data]);
    await hostPids();
    const after = await fullStrength('crash', 3);
    expect(after.map((t) => t.id).sort()).toEqual(before.map((t) => t.id).sort());
    // a few health rounds after the return: still nothing moved
    await new Promise((r) => setTimeout(r, 5000));
    expect((await tasksOf('crash')).map((t) => t.id).sort()).toEqual(before.map((t) => t.id).sort());
    expect((await eventsOf('crash')).filter((e) => e.type === 'task.replaced' && e.at > new Date(Date.now() - 20_000).toISOString())).toEqual([]);
  });

  it('drains a host: its tasks move elsewhere, new ones first, and nothing new lands there until uncordoned', async () => {
    expect((await cli('apply', '-f', service('crash', 3))).code).toBe(0);
    const before = await fullStrength('crash', 3);
    const drained = before[0].host!;
    const moving = before.filter((t) => t.host === drained).map((t) => t.id);
    expect((await cli('drain', drained)).code).toBe(0);
    // While the move runs, the service never drops below its replica count: the old task stops only once its replacement runs.
    let lowest = 3;
    const after = await eventually(
      async () => {
        const t = await tasksOf('crash');
        lowest = Math.min(lowest, (await containersOf([`${LABELS.service}=crash`])).length);
        return t.length === 3 &&
          t.every((x) => x.state === 'running' && x.host !== drained) &&
          (await containersOf([`${LABELS.host}=${drained}`, `${LABELS.service}=crash`])).length === 0
          ? t
          : undefined;
      },
      'the tasks moved off the drained host',
      60_000,
      100,
    );
    expect(lowest).toBeGreaterThanOrEqual(3);
    expect(after.map((t) => t.host)).not.toContain(drained);
    const events = await eventsOf('crash');
    for (const id of moving) expect(events.some((e) => e.type === 'task.released' && e.message.includes(id))).toBe(true);
    // The pass that finds the host empty records it; that may be the pass after the last move.
    await eventually(
      async () => ((await cli('events', '--host', drained, '-o', 'json')).stdout.includes('host.drained') ? true : undefined),
      'the host.drained event',
    );
    // scaling up while drained keeps new tasks off it
    expect((await cli('apply', '-f', service('crash', 4))).code).toBe(0);
    expect((await tasksOf('crash')).map((t) => t.host)).not.toContain(drained);
    expect((await cli('uncordon', drained)).code).toBe(0);
    const hosts = json<{ id: string; state: string }[]>(await cli('get', 'hosts', '-o', 'json'));
    expect(hosts.find((h) => h.id === drained)!.state).toBe('ready');
    expect((await cli('apply', '-f', service('crash', 3))).code).toBe(0);
  });

  it('backs off a crash loop without flooding the event log or starving other work', async () => {
    const file = join(dir, 'loop.yaml');
    writeFileSync(
      file,
      'kind: Service\nmetadata: { name: loop }\nspec:\n  replicas: 1\n  containers:\n    - { name: main, image: skiff/busybox:latest, command: ["sh", "-c", "exit 1"], resources: { cpu: 10m, memory: 8Mi } }\n',
    );
    expect((await cli('apply', '-f', file, '--no-wait')).code).toBe(0);
    const looping = await eventually(
      async () => {
        const [t] = await tasksOf('loop');
        return t && (t.restarts ?? 0) >= 4 ? t : undefined;
      },
      'four restarts',
      // Back-off alone is 1 + 2 + 4 s; the rest is Docker starting the container four times, which a loaded machine makes slow.
      90_000,
    );
    expect(looping.lastExitCode).toBe(1);
    // other work proceeds meanwhile
    expect((await cli('apply', '-f', service('other', 2))).code).toBe(0);
    const events = await eventsOf('loop');
    const restarts = events.filter((e) => e.type === 'task.restarted').map((e) => Date.parse(e.at));
    expect(restarts.length).toBeLessThanOrEqual(3);
    // back-off: the 2nd restart waits at least 1 s after the 1st, the 3rd at least 2 s after the 2nd
    expect(restarts[1] - restarts[0]).toBeGreaterThanOrEqual(1000);
    expect(restarts[2] - restarts[1]).toBeGreaterThanOrEqual(2000);
    expect(events.some((e) => e.type === 'task.crash-loop')).toBe(true);
    expect((await cli('delete', 'service', 'loop')).code).toBe(0);
  });
});
