/**
 * The in-memory container runtime of the scale simulation (adapters/memory/executor.ts): what the
 * agent relies on from any executor (names, labels' spec hash, published ports, start, stop, exits),
 * and the real agent loop running a document on it, restarting a crashed container.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryExecutor } from '../../adapters/memory/executor.ts';
import { Agent, type AgentStore } from '../../agent/agent.ts';
import { containerSpecHash } from '../../agent/docker.ts';
import { SANDBOX, sandboxSpec } from '../../agent/pod-sandbox.ts';
import type { HostChannel } from '../../ports/index.ts';
import type { ContainerSpec, HostDocument, HostDocumentTask, HostStatus } from '../../core/types.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const web: ContainerSpec = {
  name: 'web',
  image: 'skiff/busybox:latest',
  command: ['httpd', '-f'],
  env: {},
  ports: [{ containerPort: 8080, protocol: 'tcp' }],
  resources: { cpu: 50, memory: 64 * 2 ** 20 },
};
const task = (id: string): HostDocumentTask => ({
  id,
  namespace: 'default',
  service: 'web',
  slot: Number(id.split('-')[1]),
  specVersion: 1,
  pod: { restartPolicy: 'always', containers: [web] },
});

describe('MemoryExecutor', () => {
  it('creates a container with its spec hash, publishes its pod ports on the host address once started, and removes it', async () => {
    const ex = new MemoryExecutor({ hashOf: containerSpecHash });
    const t = task('web-1-abcde');
    const sandbox = sandboxSpec(t);
    const id = await ex.create(t, sandbox, { hostAddress: '127.1.0.7', podPorts: sandbox.ports });
    const app = await ex.create(t, web, { hostAddress: '127.1.0.7', joinNetworkOf: id });
    expect(await ex.inspect(id)).toMatchObject({ name: 'web-1-abcde._sandbox', taskId: 'web-1-abcde', container: SANDBOX, state: 'created', ports: [] });
    expect((await ex.inspect(app))?.specHash).toBe(containerSpecHash(web));
    await ex.start(id);
    await ex.start(app);
    const info = await ex.inspect(id);
    expect(info?.state).toBe('running');
    expect(info?.ports).toEqual([{ container: SANDBOX, containerPort: 8080, protocol: 'tcp', hostIp: '127.1.0.7', hostPort: 32768 }]);
    // The app container shares the sandbox's network: it publishes nothing itself.
    expect((await ex.inspect(app))?.ports).toEqual([]);
    expect(await ex.stopAndRemove(app)).toEqual({ exitCode: 143 });
    expect(await ex.stopAndRemove(app)).toEqual({});
    expect((await ex.list()).map((c) => c.id)).toEqual([id]);
  });

  it('refuses a second container of the same name, and a start of an unknown one', async () => {
    const ex = new MemoryExecutor({ hashOf: containerSpecHash });
    const t = task('web-1-abcde');
    await ex.create(t, web, { hostAddress: '127.1.0.1' });
    await expect(ex.create(t, web, { hostAddress: '127.1.0.1' })).rejects.toThrow(/already in use/);
    await expect(ex.start('nope')).rejects.toThrow(/no such container/);
    expect(() => new MemoryExecutor({ hashOf: containerSpecHash, startDelayMs: -1 })).toThrow(/startDelayMs/);
  });

  it('runs a container only once its start delay has passed', async () => {
    const ex = new MemoryExecutor({ hashOf: containerSpecHash, startDelayMs: 50 });
    const id = await ex.create(task('web-1-abcde'), web, { hostAddress: '127.1.0.1' });
    const starting = ex.start(id);
    expect((await ex.inspect(id))?.state).toBe('created');
    await starting;
    expect((await ex.inspect(id))?.state).toBe('running');
  });

  it('crashes a running container: exited with its code, the watchers told', async () => {
    const ex = new MemoryExecutor({ hashOf: containerSpecHash });
    const exits: string[] = [];
    const stop = ex.watchExits((id) => exits.push(id));
    const id = await ex.create(task('web-1-abcde'), web, { hostAddress: '127.1.0.1' });
    expect(ex.crash(id, 3)).toBe(false);
    await ex.start(id);
    expect(ex.crash(id, 3)).toBe(true);
    expect(await ex.inspect(id)).toMatchObject({ state: 'exited', exitCode: 3 });
    expect(exits).toEqual([id]);
    stop();
    await ex.start(id);
    ex.crash(id);
    expect(exits).toEqual([id]);
  });
});

describe('the agent on the in-memory runtime', () => {
  const dirs: string[] = [];
  const agents: Agent[] = [];
  afterEach(async () => {
    await Promise.all(agents.splice(0).map((a) => a.stop()));
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('runs its document, reports the tasks running, and restarts a crashed container', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skiff-memory-executor-'));
    dirs.push(dir);
    const ex = new MemoryExecutor({ hashOf: containerSpecHash, startDelayMs: 5 });
    const doc: HostDocument = { cluster: 'c', hostId: 'h1', generation: 1, tasks: [task('web-1-aaaaa'), task('web-2-bbbbb')] };
    const channel: HostChannel = { fetch: async () => doc, publish: async () => {}, remove: async () => {} };
    const statuses: HostStatus[] = [];
    const store: AgentStore = { putHostStatus: async (s) => void statuses.push(s), putHeartbeat: async () => {} };
    const agent = new Agent(
      {
        cluster: 'c',
        hostId: 'h1',
        address: '127.1.0.1',
        capacity: { cpu: 4000, memory: 2 ** 33 },
        labels: {},
        pollMs: 60_000,
        heartbeatMs: 200,
        reconcileMs: 50,
        stateFile: join(dir, 'state.json'),
        stopGraceSeconds: 0,
        parallelism: 4,
      },
      { store, channel, executor: ex, hashOf: containerSpecHash, now: Date.now, random: () => 0.5, log: () => {}, version: 't' },
    );
    agents.push(agent);
    await agent.start();
    const until = async (what: string, cond: () => boolean) => {
      for (const end = Date.now() + 10_000; Date.now() < end; await sleep(20)) if (cond()) return;
      throw new Error(`timed out waiting for ${what}`);
    };
    const appOf = (taskId: string) => ex.running().find((c) => c.taskId === taskId && c.container === 'web');
    await until('both tasks reported running', () => statuses.at(-1)?.tasks.filter((t) => t.state === 'running').length === 2);
    expect(statuses.at(-1)?.tasks.find((t) => t.taskId === 'web-1-aaaaa')?.ports).toEqual([
      { container: 'web', containerPort: 8080, protocol: 'tcp', hostIp: '127.1.0.1', hostPort: expect.any(Number) },
    ]);
    const crashed = appOf('web-1-aaaaa')!;
    const startsBefore = ex.starts;
    expect(ex.crash(crashed.id, 1)).toBe(true);
    // The restart policy is `always`: the same container runs again, started by the agent.
    await until('the crashed container running again', () => appOf('web-1-aaaaa')?.id === crashed.id);
    expect(ex.starts).toBe(startsBefore + 1);
    await until('a report counting the restart', () => statuses.some((s) => s.events?.some((e) => e.type === 'task.restarted')));
  });
});
