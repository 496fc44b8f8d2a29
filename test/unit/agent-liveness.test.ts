/**
 * The agent over fakes of its ports (no Docker, no store): what it does when Docker is slow, fails
 * in the middle of a batch, or hangs. The container runtime fake answers after a delay the test sets.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, type AgentStore } from '../../agent/agent.ts';
import type { ContainerInfo, Executor } from '../../agent/executor.ts';
import { DockerError } from '../../agent/docker-calls.ts';
import type { HostChannel } from '../../ports/index.ts';
import type { HostDocument, HostDocumentTask, HostStatus } from '../../core/types.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A container runtime in memory; every call answers after `delayMs` (or never, while `hung`). */
class FakeRuntime implements Executor {
  delayMs = 0;
  hung = false;
  containers = new Map<string, ContainerInfo>();
  creates: string[] = [];
  /** List calls that throw, by call number (1-based). */
  failLists = new Set<number>();
  lists = 0;
  private seq = 0;

  private async answer(): Promise<void> {
    await sleep(this.delayMs);
    while (this.hung) await sleep(10);
  }

  async list(): Promise<ContainerInfo[]> {
    const n = ++this.lists;
    await this.answer();
    if (this.failLists.has(n)) throw Object.assign(new Error('docker list: timed out'), {});
    return [...this.containers.values()];
  }
  async inspect(id: string) {
    await this.answer();
    return this.containers.get(id);
  }
  async create(task: HostDocumentTask, container: { name: string }): Promise<string> {
    const name = `${task.id}.${container.name}`;
    this.creates.push(name);
    await this.answer();
    if ([...this.containers.values()].some((c) => c.name === name)) throw Object.assign(new Error(`Conflict: name ${name} in use`), { statusCode: 409 });
    const id = `c${++this.seq}`;
    this.containers.set(id, { id, name, taskId: task.id, container: container.name, specHash: 'h', state: 'created', ports: [] });
    return id;
  }
  async start(id: string) {
    await this.answer();
    const c = this.containers.get(id)!;
    this.containers.set(id, { ...c, state: 'running', startedAt: new Date().toISOString() });
  }
  async stopAndRemove(id: string) {
    await this.answer();
    this.containers.delete(id);
    return {};
  }
  async hasImage() {
    return true;
  }
  async pull() {}
  watchExits() {
    return () => {};
  }
  async exec() {
    return { exitCode: 0, output: '' };
  }
}

class FakeStore implements AgentStore {
  statuses: HostStatus[] = [];
  beats: string[] = [];
  async putHostStatus(status: HostStatus) {
    this.statuses.push(status);
  }
  async putHeartbeat(_host: string, at: string) {
    this.beats.push(at);
  }
  /** Every report time, full or heartbeat, in order. */
  times(): number[] {
    return [...this.statuses.map((s) => s.heartbeatAt), ...this.beats].map(Date.parse).sort((a, b) => a - b);
  }
}

const task = (id: string): HostDocumentTask => ({
  id,
  namespace: 'default',
  service: 'web',
  slot: Number(id.split('-')[1]),
  specVersion: 1,
  pod: {
    restartPolicy: 'always',
    containers: [{ name: 'web', image: 'skiff/busybox:latest', command: [], env: {}, ports: [], resources: { cpu: 10, memory: 1024 } }],
  },
});

const dirs: string[] = [];
const agents: Agent[] = [];
afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.stop()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function startAgent(
  runtime: FakeRuntime,
  store: FakeStore,
  doc: HostDocument,
  over: { heartbeatMs?: number; dockerStallMs?: number; parallelism?: number } = {},
): Agent {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-agent-unit-'));
  dirs.push(dir);
  const channel: HostChannel = { fetch: async () => doc, publish: async () => {}, remove: async () => {} };
  const agent = new Agent(
    {
      cluster: 'c',
      hostId: 'h1',
      address: '127.0.1.1',
      capacity: { cpu: 1000, memory: 1 << 30 },
      labels: {},
      pollMs: 60_000,
      heartbeatMs: over.heartbeatMs ?? 100,
      reconcileMs: 50,
      stateFile: join(dir, 'state.json'),
      stopGraceSeconds: 0,
      parallelism: over.parallelism ?? 2,
      ...(over.dockerStallMs ? { dockerStallMs: over.dockerStallMs } : {}),
    },
    { store, channel, executor: runtime, hashOf: () => 'h', now: () => Date.now(), random: () => 0.5, log: () => {}, version: 't' },
  );
  agents.push(agent);
  void agent.start();
  return agent;
}

async function until<T>(check: () => T | undefined, what: string, timeoutMs = 10_000): Promise<T> {
  for (const end = Date.now() + timeoutMs; Date.now() < end; await sleep(20)) {
    const v = check();
    if (v !== undefined) return v;
  }
  throw new Error(`timed out waiting for ${what}`);
}

const doc = (n: number): HostDocument => ({
  cluster: 'c',
  hostId: 'h1',
  generation: 1,
  tasks: Array.from({ length: n }, (_, i) => task(`web-${i + 1}-aaaaa`)),
});

describe('agent liveness', () => {
  it('keeps heartbeating while every Docker call takes longer than the heartbeat interval', async () => {
    const runtime = new FakeRuntime();
    runtime.delayMs = 2000;
    const store = new FakeStore();
    startAgent(runtime, store, doc(2), { heartbeatMs: 100 });
    await until(() => (runtime.creates.length > 0 ? true : undefined), 'the first create under way');
    // No Docker call answers within the next second: an agent whose heartbeat waited behind its
    // Docker calls would write nothing in it. This one writes every 100 ms.
    const before = store.times().length;
    await sleep(1000);
    expect(runtime.containers.size).toBe(0);
    expect(store.times().length - before).toBeGreaterThanOrEqual(2);
  });

  it('reports tasks it is still creating as creating', async () => {
    const runtime = new FakeRuntime();
    runtime.delayMs = 300;
    const store = new FakeStore();
    startAgent(runtime, store, doc(4), { parallelism: 1 });
    const seen = await until(() => store.statuses.find((s) => s.tasks.some((t) => t.state === 'creating')), 'a report with creating tasks');
    expect(seen.tasks.map((t) => t.state)).toContain('creating');
  });

  it('creates each container once even when a progress report fails in the middle of a batch', async () => {
    const runtime = new FakeRuntime();
    runtime.delayMs = 250;
    // The list made for the first progress report (call 2, after the round's own list) fails.
    runtime.failLists.add(2);
    const store = new FakeStore();
    startAgent(runtime, store, doc(8), { parallelism: 2 });
    await until(
      // Eight pods: a sandbox and an app container each.
      () => (runtime.containers.size === 16 && [...runtime.containers.values()].every((c) => c.state === 'running') ? true : undefined),
      'all eight running',
    );
    expect(runtime.lists).toBeGreaterThan(2);
    const counts = new Map<string, number>();
    for (const id of runtime.creates) counts.set(id, (counts.get(id) ?? 0) + 1);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
  });

  it('reports Docker unresponsive while it hangs, keeps heartbeating, and clears it once Docker answers', async () => {
    const runtime = new FakeRuntime();
    const store = new FakeStore();
    startAgent(runtime, store, doc(1), { dockerStallMs: 300 });
    await until(() => store.statuses.find((s) => s.tasks[0]?.state === 'running'), 'the task running');
    runtime.hung = true;
    const trouble = await until(() => store.statuses.at(-1)?.runtime, 'the runtime reported unresponsive');
    expect(trouble).toMatchObject({ state: 'unresponsive', message: 'no Docker call answered for more than 0.3s' });
    const beatsBefore = store.beats.length + store.statuses.length;
    await sleep(500);
    expect(store.beats.length + store.statuses.length).toBeGreaterThan(beatsBefore);
    runtime.hung = false;
    await until(() => (store.statuses.at(-1)?.runtime === undefined ? true : undefined), 'the trouble cleared');
  });
});

describe('a pod Docker refuses', () => {
  /** The refusal agent/docker.ts makes for runAsNonRoot with an image whose user is root. */
  const refusal = new DockerError(
    'create web',
    'refused: runAsNonRoot is true but the image skiff/busybox:latest runs as root (its user is unset, so root); set securityContext.runAsUser to a non-zero uid',
    { retryable: false },
  );

  it('reports the task failed with the reason as its message, says it once as an event, and does not retry every round', async () => {
    const runtime = new FakeRuntime();
    runtime.create = async (task) => {
      runtime.creates.push(task.id);
      throw refusal;
    };
    const store = new FakeStore();
    startAgent(runtime, store, doc(1));
    const failed = await until(() => store.statuses.map((s) => s.tasks[0]).find((t) => t?.state === 'failed'), 'the task reported failed');
    expect(failed.message).toBe(
      'create web: refused: runAsNonRoot is true but the image skiff/busybox:latest runs as root (its user is unset, so root); set securityContext.runAsUser to a non-zero uid',
    );
    // Reconcile rounds run every 50 ms: a refusal is not asked again in each of them.
    await sleep(500);
    expect(runtime.creates).toEqual(['web-1-aaaaa']);
    const events = store.statuses.at(-1)?.events ?? [];
    expect(events.filter((e) => e.type === 'task.refused').map((e) => e.message)).toEqual([`task web-1-aaaaa cannot start: ${failed.message}`]);
  });
});
