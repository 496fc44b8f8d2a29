/**
 * The agent over fakes of its ports (no Docker, no store): what it does when Docker is slow, fails
 * in the middle of a batch, or hangs. The container runtime fake answers after a delay the test sets.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ContainerInfo, Executor } from '../../agent/executor.ts';
import { DockerError } from '../../agent/docker-calls.ts';
import { documentChannel, RecordingStore, sleep, startTestAgent, stopTestAgents, until } from '../helpers/agent-harness.ts';
import type { HostDocument, HostDocumentTask } from '../../core/types.ts';

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

afterEach(stopTestAgents);

function startAgent(
  runtime: FakeRuntime,
  store: RecordingStore,
  doc: HostDocument,
  over: { heartbeatMs?: number; dockerStallMs?: number; parallelism?: number } = {},
): void {
  startTestAgent({ store, channel: documentChannel({ current: doc }), executor: runtime }, { reconcileMs: 50, ...over });
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
    const store = new RecordingStore();
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
    const store = new RecordingStore();
    startAgent(runtime, store, doc(4), { parallelism: 1 });
    const seen = await until(() => store.statuses.find((s) => s.tasks.some((t) => t.state === 'creating')), 'a report with creating tasks');
    expect(seen.tasks.map((t) => t.state)).toContain('creating');
  });

  it('creates each container once even when a progress report fails in the middle of a batch', async () => {
    const runtime = new FakeRuntime();
    runtime.delayMs = 250;
    // The list made for the first progress report (call 2, after the round's own list) fails.
    runtime.failLists.add(2);
    const store = new RecordingStore();
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
    const store = new RecordingStore();
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
    const store = new RecordingStore();
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
