/**
 * Central logs end to end (docs/logs.md), on a local cluster and real Docker: a service writes
 * numbered lines; `skiff logs -f` shows each exactly once and in order per replica, including the
 * lines of a replica killed mid-way and those of the container that replaced it, as Docker itself
 * recorded them; and they are still there once the host they ran on is killed. Bounded (under a
 * minute) and cleaned up whatever happens.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LABELS } from '../../agent/executor.ts';
import type { TaskView } from '../../core/types.ts';
import { parseDockerLine } from '../../agent/docker-logs.ts';
import { eventually, SKIFF, skiff, startCluster, type RunningCluster } from '../helpers/cli.ts';
import { removeClusterContainers, uniqueClusterName } from '../helpers/docker.ts';

const docker = new Docker();
const cluster = uniqueClusterName('logs');
const dir = mkdtempSync(join(tmpdir(), 'skiff-logs-'));
let running: RunningCluster | undefined;
let follower: ChildProcess | undefined;
const agentPids = new Set<number>();
const LINES = 150;

const cli = (...args: string[]) => skiff(args, { cwd: dir });

/**
 * Each start of a container is a run with its own id (from the kernel's uuid), writing `run N` for
 * N = 1..LINES, 40 ms apart, then idling: a restarted container starts a new run, so a line names
 * its run and its number, and a line shown twice or left out shows.
 */
function counterSpec(): string {
  const file = join(dir, 'counter.yaml');
  writeFileSync(
    file,
    `kind: Service
metadata: { name: counter }
spec:
  replicas: 2
  containers:
    - name: app
      image: skiff/busybox:latest
      command: ["sh", "-c", "run=$(cut -c1-8 /proc/sys/kernel/random/uuid); i=0; while [ $i -lt ${LINES} ]; do i=$((i+1)); echo \\"$run $i\\"; sleep 0.04; done; exec sleep 3600"]
      resources: { cpu: 50m, memory: 16Mi }
`,
  );
  return file;
}

/** `run` → its numbers, in the order they appear in `lines` (`<prefix> | <run> <n>` or `<run> <n>`). */
function byRun(lines: readonly string[]): Map<string, number[]> {
  const runs = new Map<string, number[]>();
  for (const line of lines) {
    const m = /(?:^| \| )([0-9a-f]{8}) (\d+)$/.exec(line);
    if (!m) continue;
    runs.set(m[1], [...(runs.get(m[1]) ?? []), Number(m[2])]);
  }
  return runs;
}

/** What Docker recorded of every counter container (both runs of a restarted one), by run. */
async function dockerRuns(): Promise<Map<string, number[]>> {
  const containers = await docker.listContainers({ all: true, filters: { label: [`${LABELS.cluster}=${cluster}`, `${LABELS.service}=counter`] } });
  const lines: string[] = [];
  for (const c of containers) {
    const raw = (await docker.getContainer(c.Id).logs({ stdout: true, stderr: true, timestamps: true, follow: false })) as Buffer;
    // Non-TTY output is framed: 8 bytes of header per frame.
    let at = 0;
    while (at + 8 <= raw.length) {
      const size = raw.readUInt32BE(at + 4);
      const text = raw.subarray(at + 8, at + 8 + size).toString('utf8');
      for (const l of text.split('\n')) {
        const parsed = parseDockerLine(l);
        if (parsed) lines.push(parsed.text);
      }
      at += 8 + size;
    }
  }
  return byRun(lines);
}

beforeAll(async () => {
  running = await startCluster(dir, ['--cluster', cluster, '--hosts', '2', '--data', join(dir, 'data')], 120_000);
  const status = JSON.parse((await cli('local', 'status', '-o', 'json')).stdout) as { hosts: { pid: number }[] };
  for (const h of status.hosts) agentPids.add(h.pid);
}, 150_000);

afterAll(async () => {
  try {
    if (follower && follower.exitCode === null) follower.kill('SIGKILL');
    await running?.stop();
  } finally {
    for (const pid of agentPids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await removeClusterContainers(docker, cluster);
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('skiff logs -f', { timeout: 60_000 }, () => {
  it('shows every line once, in order per replica, a killed one and its restart included', async () => {
    expect((await cli('apply', '-f', counterSpec())).code).toBe(0);
    const shown: string[] = [];
    let buffered = '';
    follower = spawn(process.execPath, [SKIFF, 'logs', 'counter', '-f'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    follower.stdout!.on('data', (d: Buffer) => {
      buffered += d.toString('utf8');
      const parts = buffered.split('\n');
      buffered = parts.pop() ?? '';
      shown.push(...parts);
    });
    let errors = '';
    follower.stderr!.on('data', (d: Buffer) => (errors += d.toString('utf8')));

    // Two runs under way, then one replica's container is killed mid-way; the agent starts it again.
    await eventually(async () => ([...byRun(shown).values()].filter((n) => n.length >= 20).length >= 2 ? true : undefined), 'two replicas shown', 30_000).catch(
      (e) => {
        throw new Error(`${e.message}; shown ${shown.length} lines (last: ${JSON.stringify(shown.slice(-5))}); stderr: ${errors}`);
      },
    );
    const [victim] = await docker.listContainers({ filters: { label: [`${LABELS.cluster}=${cluster}`, `${LABELS.service}=counter`] } });
    await docker.getContainer(victim.Id).kill();

    // Three runs: the survivor's and the restarted one's to the end, and the killed one's as far as it got.
    const final = await eventually(
      async () => {
        const seen = byRun(shown);
        const recorded = await dockerRuns();
        const complete = [...recorded.values()].filter((n) => n.length === LINES).length;
        if (recorded.size < 3 || complete < 2) return undefined;
        // Every run Docker recorded is shown to its last line.
        return [...recorded].every(([run, numbers]) => (seen.get(run)?.length ?? 0) >= numbers.length) ? { seen, recorded } : undefined;
      },
      'every recorded line shown',
      45_000,
      500,
    );
    follower.kill('SIGINT');
    expect(errors).not.toMatch(/skiff: /);
    // Exactly Docker's lines, once each, in order, per run.
    expect(new Map([...final.seen].filter(([run]) => final.recorded.has(run)))).toEqual(final.recorded);
    expect([...final.seen.keys()].every((run) => final.recorded.has(run))).toBe(true);
    for (const numbers of final.recorded.values()) expect(numbers).toEqual(Array.from({ length: numbers.length }, (_, i) => i + 1));

    // Lines outlive their host: a host of the service dies, and its replicas' lines are all still shown.
    const tasks = JSON.parse((await cli('get', 'tasks', '--service', 'counter', '-o', 'json')).stdout) as TaskView[];
    const host = tasks.find((t) => t.host)!.host!;
    expect((await cli('local', 'kill-host', host)).code).toBe(0);
    const after = await cli('logs', 'counter');
    expect(after.code).toBe(0);
    const afterRuns = byRun(after.stdout.split('\n'));
    for (const [run, numbers] of final.recorded) expect(afterRuns.get(run)?.slice(0, numbers.length)).toEqual(numbers);
  });
});
