/**
 * Rehearsing failures with the real CLI on a local cluster: hosts killed, paused, resumed and
 * started again; the control plane stopped while the hosts keep running, then brought back to
 * adopt them. Real Docker underneath; containers are reached only on their 127.0.1.x endpoints.
 *
 * Nothing here waits for the control plane to notice a dead host: what is checked is what the
 * local commands do to processes and containers, and that a host comes back.
 */
import { SANDBOX } from '../../agent/pod-sandbox.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { ROOT, eventually, json, skiff, startCluster, type RunningCluster } from '../helpers/cli.ts';
import { removeClusterContainers, uniqueClusterName } from '../helpers/docker.ts';
import { LABELS } from '../../agent/executor.ts';

interface HostJson {
  id: string;
  address: string;
  pid: number | null;
  state: 'running' | 'paused' | 'dead';
}
interface StatusJson {
  running: boolean;
  controlPlane: 'running' | 'stopped';
  pid: number;
  api: string;
  hosts: HostJson[];
}
interface TaskJson {
  id: string;
  host: string;
  state: string;
  ports: { containerPort: number; hostIp: string; hostPort: number }[];
}

const docker = new Docker();
const cluster = uniqueClusterName('chaos');
const dir = mkdtempSync(join(tmpdir(), 'skiff-chaos-'));
const elsewhere = mkdtempSync(join(tmpdir(), 'skiff-chaos-none-'));
const data = join(dir, 'data');
const upArgs = ['--cluster', cluster, '--hosts', '3', '--data', data];
let running: RunningCluster | undefined;
/** Every agent pid this test has seen, so that cleanup can kill any that outlives a failure. */
const agentPids = new Set<number>();

const cli = (...args: string[]) => skiff(args, { cwd: dir });

async function status(): Promise<StatusJson> {
  const s = json<StatusJson>(await cli('local', 'status', '-o', 'json'));
  for (const h of s.hosts) if (h.pid) agentPids.add(h.pid);
  return s;
}

function host(s: StatusJson, id: string): HostJson {
  const h = s.hosts.find((x) => x.id === id);
  if (!h) throw new Error(`${id} is not in the status: ${JSON.stringify(s.hosts)}`);
  return h;
}

/** True while `pid` is an agent of this test's cluster (not a zombie, not a reused pid). */
function isOurAgent(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return false;
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`SKIFF_CLUSTER=${cluster}`);
  } catch {
    return false;
  }
}

/** The running app containers (each pod also has a sandbox container, agent/pod-sandbox.ts, not counted here). */
const runningContainers = async (hostId?: string) =>
  (await docker.listContainers({ filters: { label: [`${LABELS.cluster}=${cluster}`, ...(hostId ? [`${LABELS.host}=${hostId}`] : [])] } })).filter(
    (c) => c.Labels[LABELS.container] !== SANDBOX,
  );

async function answer(t: TaskJson): Promise<string> {
  const p = t.ports[0];
  const res = await fetch(`http://${p.hostIp}:${p.hostPort}/`, { signal: AbortSignal.timeout(2_000) });
  return (await res.text()).trim();
}

let tasksBefore: TaskJson[] = [];

beforeAll(async () => {
  running = await startCluster(dir, upArgs);
  await status();
  const applied = await cli('apply', '-f', join(ROOT, 'examples', 'hello.yaml'));
  if (applied.code !== 0) throw new Error(`apply failed: ${applied.stderr}`);
  tasksBefore = json<TaskJson[]>(await cli('get', 'tasks', '-o', 'json'));
}, 120_000);

afterAll(async () => {
  try {
    await running?.stop();
  } finally {
    for (const pid of agentPids) if (isOurAgent(pid)) process.kill(pid, 'SIGKILL');
    await removeClusterContainers(docker, cluster);
    rmSync(dir, { recursive: true, force: true });
    rmSync(elsewhere, { recursive: true, force: true });
  }
});

describe('local mode rehearses failures', { timeout: 120_000 }, () => {
  it('keeps the agents and their containers running when only the control plane stops (local down --keep-hosts)', async () => {
    const before = await status();
    expect(before.hosts.every((h) => h.state === 'running' && h.pid !== null)).toBe(true);
    expect(tasksBefore.map((t) => t.state)).toEqual(['running', 'running', 'running']);

    const down = await cli('local', 'down', '--keep-hosts');
    expect(down.stderr).toBe('');
    expect(down.code).toBe(0);
    expect(down.stdout).toContain('3 host(s) keep running');
    expect(await running!.stop()).toBe(0);
    expect(running!.output()).toContain('SIGUSR2: stopping the control plane');

    const after = await status();
    expect(after).toMatchObject({ running: false, controlPlane: 'stopped' });
    expect(after.hosts.map((h) => [h.id, h.pid, h.state])).toEqual(before.hosts.map((h) => [h.id, h.pid, 'running']));
    expect(before.hosts.every((h) => isOurAgent(h.pid!))).toBe(true);
    expect(await running!.fetch(`${before.api}/v1/healthz`).catch(() => 'refused')).toBe('refused');

    expect((await runningContainers()).length).toBe(3);
    for (const t of tasksBefore) expect(await answer(t)).toBe(t.id);
  });

  it('a new local up adopts the running agents, serves the API on the same port, and shows the same tasks running', async () => {
    const apiBefore = (await status()).api;
    const pidsBefore = (await status()).hosts.map((h) => h.pid);
    running = await startCluster(dir, upArgs);
    const after = await eventually(async () => {
      const s = await status();
      return s.running && s.pid === running!.child.pid ? s : undefined;
    }, 'the new control plane in the status');
    expect(after.api).toBe(apiBefore);
    expect(after.hosts.map((h) => h.pid)).toEqual(pidsBefore);
    expect(after.hosts.every((h) => h.state === 'running')).toBe(true);
    expect(running.output()).toMatch(/host host-1 at 127\.0\.1\.1: adopted its running agent \(pid \d+/);

    const tasks = json<TaskJson[]>(await cli('get', 'tasks', '-o', 'json'));
    expect(tasks.map((t) => [t.id, t.state]).sort()).toEqual(tasksBefore.map((t) => [t.id, 'running']).sort());
    expect((await runningContainers()).length).toBe(3);
  }, 90_000);

  it('pause-host stops the agent (paused) and resume-host continues it (running)', async () => {
    const pid = host(await status(), 'host-1').pid;
    const paused = await cli('local', 'pause-host', 'host-1');
    expect(paused.code).toBe(0);
    expect(paused.stdout.trim()).toBe(`host-1: paused its agent (pid ${pid}); its containers keep running`);
    expect(host(await status(), 'host-1')).toMatchObject({ pid, state: 'paused' });
    expect((await runningContainers('host-1')).length).toBe(1);

    const resumed = await cli('local', 'resume-host', 'host-1');
    expect(resumed.code).toBe(0);
    expect(resumed.stdout.trim()).toBe(`host-1: resumed its agent (pid ${pid})`);
    expect(host(await status(), 'host-1')).toMatchObject({ pid, state: 'running' });
    // A pause longer than the grace period gets the host declared down and fenced on resume: let the
    // cluster settle before the next test.
    await eventually(
      async () => {
        const hosts = json<{ id: string; state: string }[]>(await cli('get', 'hosts', '-o', 'json'));
        const tasks = json<TaskJson[]>(await cli('get', 'tasks', '-o', 'json'));
        return hosts.every((h) => h.state === 'ready') && tasks.length === 3 && tasks.every((t) => t.state === 'running') ? true : undefined;
      },
      'every host ready and hello at full strength',
      60_000,
    );
  }, 90_000);

  it('kill-host kills the agent and every container of the host: status says dead', async () => {
    const pid = host(await status(), 'host-3').pid!;
    const onHost = (await runningContainers('host-3')).length;
    const others = (await runningContainers())
      .filter((c) => c.Labels[LABELS.host] !== 'host-3')
      .map((c) => c.Id)
      .sort();
    const killed = await cli('local', 'kill-host', 'host-3');
    expect(killed.code).toBe(0);
    expect(killed.stdout.trim()).toBe(`host-3: killed its agent (pid ${pid}) and ${onHost} running container(s)`);

    expect(host(await status(), 'host-3')).toMatchObject({ pid: null, state: 'dead' });
    await eventually(async () => (isOurAgent(pid) ? undefined : true), `agent pid ${pid} to be gone`);
    expect(await runningContainers('host-3')).toEqual([]);
    // the other hosts' containers are untouched (replacements may join them)
    const after = new Set((await runningContainers()).map((c) => c.Id));
    for (const id of others) expect(after.has(id)).toBe(true);

    const pauseDead = await cli('local', 'pause-host', 'host-3');
    expect(pauseDead.code).toBe(1);
    expect(pauseDead.stderr).toContain('host-3 is dead');
  });

  it('start-host brings a killed host back: it reports again, rejoins, and drops the tasks that were moved away', async () => {
    type HostRow = { id: string; state: string; heartbeatAt: string | null };
    const hostRow = async () => json<HostRow[]>(await cli('get', 'hosts', '-o', 'json')).find((h) => h.id === 'host-3');
    const lastBeat = (await hostRow())?.heartbeatAt ?? '';

    const started = await cli('local', 'start-host', 'host-3');
    expect(started.code).toBe(0);
    const pid = Number(/started its agent \(pid (\d+)/.exec(started.stdout)?.[1]);
    agentPids.add(pid);
    expect(host(await status(), 'host-3')).toMatchObject({ pid, state: 'running' });

    await eventually(async () => (((await hostRow())?.heartbeatAt ?? '') > lastBeat ? true : undefined), 'a newer heartbeat from host-3');
    // While it was dead the host was declared down and its task replaced on another host: back, it is
    // fenced (the exited container of the moved task is removed) and rejoins as ready.
    await eventually(async () => ((await hostRow())?.state === 'ready' ? true : undefined), 'host-3 ready again', 30_000);
    await eventually(
      async () => {
        const left = await docker.listContainers({ all: true, filters: { label: [`${LABELS.cluster}=${cluster}`, `${LABELS.host}=host-3`] } });
        return left.length === 0 ? true : undefined;
      },
      'the stale container of host-3 removed',
      30_000,
    );
    const tasks = await eventually(
      async () => {
        const t = json<TaskJson[]>(await cli('get', 'tasks', '-o', 'json'));
        return t.length === 3 && t.every((x) => x.state === 'running' && x.host !== 'host-3') ? t : undefined;
      },
      'hello back at full strength on the other hosts',
      30_000,
    );
    for (const t of tasks) expect(await answer(t)).toBe(t.id);

    const again = await cli('local', 'start-host', 'host-3');
    expect(again.code).toBe(0);
    expect(again.stdout.trim()).toBe(`host-3: already running (agent pid ${pid})`);
  }, 60_000);

  it('rejects an unknown host naming the valid ones, and host commands with no local cluster', async () => {
    const unknown = await cli('local', 'kill-host', 'host-9');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain(`no host "host-9" in local cluster "${cluster}"; its hosts are host-1, host-2, host-3`);

    const none = await skiff(['local', 'pause-host', 'host-1'], { cwd: elsewhere });
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no local cluster');

    const usage = await cli('local', 'resume-host');
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('resume-host needs a HOST');
  });

  it('Ctrl-C stops every agent, even one started by start-host, and removes the containers', async () => {
    const pids = (await status()).hosts.map((h) => h.pid!);
    expect(await running!.stop()).toBe(0);
    expect(pids.filter(isOurAgent)).toEqual([]);
    expect(await docker.listContainers({ all: true, filters: { label: [`${LABELS.cluster}=${cluster}`] } })).toEqual([]);
    const s = await cli('local', 'status', '-o', 'json');
    expect(s.code).toBe(1);
  });

  it('refuses to start when a saved port is taken, naming the port', async () => {
    const { apiPort } = JSON.parse(readFileSync(join(data, 'endpoints.json'), 'utf8')) as { format: number; apiPort: number };
    const squatter = createServer();
    await new Promise<void>((r) => squatter.listen(apiPort, '127.0.0.1', r));
    try {
      const up = await cli('local', 'up', ...upArgs);
      expect(up.code).toBe(1);
      expect(up.stderr).toContain(`port ${apiPort} of the API (saved in ${join(data, 'endpoints.json')}) is in use by another process`);
    } finally {
      await new Promise((r) => squatter.close(r));
    }
  }, 60_000);
});
