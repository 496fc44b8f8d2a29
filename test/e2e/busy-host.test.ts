/**
 * A busy host is not a dead host (a local cluster, real Docker, the real CLI). The agents reach Docker
 * through a proxy that can hold their create, start and list calls (test/helpers/slow-docker.ts):
 * - Docker slow for a while: no host is declared down, every replica runs once Docker catches up, and
 *   no task is moved;
 * - Docker hung: the hosts keep heartbeating and report themselves degraded, nothing is moved, and they
 *   are ready again once Docker answers;
 * - two of three hosts paused at once: too many silent hosts, so nothing is moved and the event log says
 *   so; one host paused alone is still replaced.
 * Nothing here asserts a speed (bench/converge.ts and bench/heal.ts print those).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { eventually, json, skiff, startCluster, type RunningCluster } from '../helpers/cli.ts';
import { writeWebService } from '../helpers/web-service.ts';
import { removeClusterContainers, uniqueClusterName } from '../helpers/docker.ts';
import { SlowDocker } from '../helpers/slow-docker.ts';
import type { ClusterEvent, TaskView } from '../../core/types.ts';

const docker = new Docker();
const cluster = uniqueClusterName('busy');
const dir = mkdtempSync(join(tmpdir(), 'skiff-busy-'));
const data = join(dir, 'data');
let running: RunningCluster | undefined;
let slow: SlowDocker | undefined;
const agentPids = new Set<number>();

const cli = (...args: string[]) => skiff(args, { cwd: dir });
const tasksOf = async (service: string) => json<TaskView[]>(await cli('get', 'tasks', '--service', service, '-o', 'json'));
const hosts = async () => json<{ id: string; state: string }[]>(await cli('get', 'hosts', '-o', 'json'));
const events = async () => json<ClusterEvent[]>(await cli('events', '-o', 'json'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const service = (name: string, replicas: number) => writeWebService(dir, name, { replicas });

const fullStrength = (name: string, replicas: number, timeoutMs = 60_000) =>
  eventually(
    async () => {
      const t = await tasksOf(name);
      return t.length === replicas && t.every((x) => x.state === 'running') ? t : undefined;
    },
    `${name} at full strength`,
    timeoutMs,
    250,
  );

/** The host health events since `since` (ISO time), as `type host`. */
async function healthEventsSince(since: string, types: readonly string[]): Promise<string[]> {
  return (await events()).filter((e) => e.at >= since && types.includes(e.type)).map((e) => `${e.type} ${e.host ?? ''}`.trim());
}

beforeAll(async () => {
  slow = await SlowDocker.start(dir);
  // A stall limit shorter than the default 30 s, so that a hung Docker shows within the test, yet well above
  // the 3 s a slow call is held; the rest are the local defaults.
  running = await startCluster(dir, ['--cluster', cluster, '--hosts', '3', '--data', data], 90_000, {
    DOCKER_HOST: slow.dockerHost,
    SKIFF_DOCKER_STALL_SECONDS: '10',
  });
  const status = json<{ hosts: { pid: number }[] }>(await cli('local', 'status', '-o', 'json'));
  for (const h of status.hosts) agentPids.add(h.pid);
}, 120_000);

afterAll(async () => {
  try {
    slow?.setDelay(0);
    await running?.stop();
  } finally {
    for (const pid of agentPids) {
      try {
        process.kill(pid, 'SIGCONT');
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await slow?.close();
    await removeClusterContainers(docker, cluster);
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);

describe('a busy host is not a dead host', { timeout: 300_000 }, () => {
  it('declares no host down and moves no task while Docker is slow, and runs every replica once it catches up', async () => {
    const since = new Date().toISOString();
    // Every create, start and list held 3 s: a pod takes 6 s or more, a reconcile round far longer than the
    // 5 s grace. An agent whose heartbeat waited behind its Docker calls would be declared down here.
    slow!.setDelay(3000);
    expect((await cli('apply', '-f', service('slow', 12), '--no-wait')).code).toBe(0);
    const placed = await eventually(async () => {
      const t = await tasksOf('slow');
      return t.length === 12 && t.every((x) => x.host) ? t : undefined;
    }, 'every replica placed');
    await sleep(20_000);
    expect(slow!.held).toBeGreaterThan(0);
    slow!.setDelay(0);
    const after = await fullStrength('slow', 12);
    // Not one move: the same task ids on the same hosts as first placed.
    expect(after.map((t) => `${t.id}@${t.host}`).sort()).toEqual(placed.map((t) => `${t.id}@${t.host}`).sort());
    expect(await healthEventsSince(since, ['host.down', 'task.replaced', 'health.held'])).toEqual([]);
    expect((await hosts()).map((h) => h.state)).toEqual(['ready', 'ready', 'ready']);
  });

  it('reports a host whose Docker hangs as degraded, still heartbeating, and moves nothing', async () => {
    const since = new Date().toISOString();
    const before = await tasksOf('slow');
    slow!.setDelay(Infinity);
    await eventually(async () => ((await hosts()).every((h) => h.state === 'degraded') ? true : undefined), 'every host degraded', 60_000, 250);
    // Degraded for a good while: longer than the down grace of a silent host, and nothing moves.
    await sleep(10_000);
    expect((await hosts()).map((h) => h.state)).toEqual(['degraded', 'degraded', 'degraded']);
    slow!.setDelay(0);
    await eventually(async () => ((await hosts()).every((h) => h.state === 'ready') ? true : undefined), 'every host ready again', 60_000, 250);
    const after = await fullStrength('slow', 12);
    expect(after.map((t) => t.id).sort()).toEqual(before.map((t) => t.id).sort());
    const seen = await healthEventsSince(since, ['host.degraded', 'host.down', 'task.replaced']);
    expect(seen.filter((e) => e.startsWith('host.degraded')).sort()).toEqual(['host.degraded host-1', 'host.degraded host-2', 'host.degraded host-3']);
    expect(seen.filter((e) => !e.startsWith('host.degraded'))).toEqual([]);
  });

  it('moves nothing while two of three hosts are paused at once, and says so', async () => {
    const since = new Date().toISOString();
    const before = await fullStrength('slow', 12);
    // At once: both fall silent within the same moment, as in a partition.
    const paused = await Promise.all([cli('local', 'pause-host', 'host-1'), cli('local', 'pause-host', 'host-2')]);
    expect(paused.map((r) => r.code)).toEqual([0, 0]);
    try {
      await eventually(async () => ((await healthEventsSince(since, ['health.held'])).length > 0 ? true : undefined), 'the evictions-held event', 30_000, 250);
      // Three times the 5 s grace of a silent host: nothing is declared down, nothing moves.
      await sleep(15_000);
      const states = new Map((await hosts()).map((h) => [h.id, h.state]));
      expect([states.get('host-1'), states.get('host-2'), states.get('host-3')]).toEqual(['suspect', 'suspect', 'ready']);
      expect((await tasksOf('slow')).map((t) => `${t.id}@${t.host}`).sort()).toEqual(before.map((t) => `${t.id}@${t.host}`).sort());
      expect(await healthEventsSince(since, ['host.down', 'task.replaced'])).toEqual([]);
      const held = (await events()).find((e) => e.at >= since && e.type === 'health.held')!;
      expect(held.message).toContain('2 of 3 hosts silent at once');
    } finally {
      await Promise.all([cli('local', 'resume-host', 'host-1'), cli('local', 'resume-host', 'host-2')]);
    }
    await eventually(async () => ((await hosts()).every((h) => h.state === 'ready') ? true : undefined), 'every host ready again', 30_000, 250);
    expect(await healthEventsSince(since, ['health.released'])).toHaveLength(1);
    expect((await tasksOf('slow')).map((t) => t.id).sort()).toEqual(before.map((t) => t.id).sort());
  });

  it('still replaces the tasks of one host paused alone', async () => {
    const since = new Date().toISOString();
    const before = await fullStrength('slow', 12);
    const victim = 'host-3';
    const moved = before.filter((t) => t.host === victim).map((t) => t.id);
    expect(moved.length).toBeGreaterThan(0);
    expect((await cli('local', 'pause-host', victim)).code).toBe(0);
    try {
      const after = await eventually(
        async () => {
          const t = await tasksOf('slow');
          return t.length === 12 && t.every((x) => x.state === 'running' && x.host !== victim) ? t : undefined;
        },
        'replacements running on the other hosts',
        60_000,
        250,
      );
      for (const id of moved) expect(after.map((t) => t.id)).not.toContain(id);
      const seen = await healthEventsSince(since, ['host.down', 'health.held']);
      expect(seen).toEqual([`host.down ${victim}`]);
    } finally {
      await cli('local', 'resume-host', victim);
    }
    await eventually(async () => ((await hosts()).every((h) => h.state === 'ready') ? true : undefined), 'the fenced host ready again', 30_000, 250);
  });
});
