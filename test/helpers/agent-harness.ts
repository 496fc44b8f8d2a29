/**
 * The agent over fakes of its ports, for unit tests (no Docker, no store): one place that builds an
 * `Agent` with a test host's config, a document channel that serves what the test says, a store
 * that records, and the waits those tests need. Each test brings the container runtime it needs
 * (adapters/memory/executor.ts, or a fake with the faults it studies). `stopTestAgents` in afterEach
 * stops every agent started here and removes their state folders.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryExecutor } from '../../adapters/memory/executor.ts';
import { Agent, type AgentConfig, type AgentDeps, type AgentStore } from '../../agent/agent.ts';
import type { CreateOptions } from '../../agent/executor.ts';
import { podOf } from '../../core/reconciler.ts';
import { parseServiceSpec } from '../../core/spec.ts';
import type { ContainerSpec, HostDocument, HostDocumentTask, HostStatus } from '../../core/types.ts';
import type { HostChannel } from '../../ports/index.ts';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Waits for `check` to return a value; fails naming `what` after `timeoutMs`. */
export async function until<T>(check: () => T | undefined, what: string, timeoutMs = 10_000): Promise<T> {
  for (const end = Date.now() + timeoutMs; Date.now() < end; await sleep(20)) {
    const v = check();
    if (v !== undefined) return v;
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * The in-memory runtime (containers run at once) that also records, in order, each create and start
 * (`events`: `create <task>/<container>`, `start <task>/<container>`) and each create's options.
 */
export class RecordingExecutor extends MemoryExecutor {
  readonly creates: { taskId: string; name: string; options: CreateOptions }[] = [];
  constructor(readonly events: string[] = []) {
    super({ hashOf: () => 'h' });
  }
  override async create(task: HostDocumentTask, container: ContainerSpec, options: CreateOptions): Promise<string> {
    this.events.push(`create ${task.id}/${container.name}`);
    this.creates.push({ taskId: task.id, name: container.name, options });
    return super.create(task, container, options);
  }
  override async start(id: string): Promise<void> {
    const c = await this.inspect(id);
    if (c) this.events.push(`start ${c.taskId}/${c.container}`);
    return super.start(id);
  }
}

/** What the agent reports, kept in order. */
export class RecordingStore implements AgentStore {
  readonly statuses: HostStatus[] = [];
  readonly beats: string[] = [];
  async putHostStatus(status: HostStatus): Promise<void> {
    this.statuses.push(status);
  }
  async putHeartbeat(_host: string, at: string): Promise<void> {
    this.beats.push(at);
  }
  /** Every report time, full or heartbeat, in order. */
  times(): number[] {
    return [...this.statuses.map((s) => s.heartbeatAt), ...this.beats].map(Date.parse).sort((a, b) => a - b);
  }
}

/** A channel that serves `docs.current` on every fetch: a test changes the document by assigning it. */
export function documentChannel(docs: { current: HostDocument }): HostChannel {
  return { fetch: async () => docs.current, publish: async () => {}, remove: async () => {} };
}

/** A task of service `service` in `namespace` with one busybox container `app`, its pod as the reconciler makes it; `spec` adds to the service's spec. */
export function testTask(id: string, options: { namespace?: string; service?: string; spec?: Record<string, unknown> } = {}): HostDocumentTask {
  const namespace = options.namespace ?? 'default';
  const name = options.service ?? 'web';
  const spec = parseServiceSpec({
    kind: 'Service',
    metadata: { name, namespace },
    spec: { containers: [{ name: 'app', image: 'skiff/busybox' }], ...options.spec },
  });
  const service = { namespace, name, spec, specVersion: 1, createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z', deleting: false };
  return { id, namespace, service: name, slot: 1, specVersion: 1, pod: podOf(service) };
}

const agents: Agent[] = [];
const dirs: string[] = [];

/**
 * Starts an agent for host `h1` of cluster `c` (not awaited: `start` returns when the agent stops
 * or, with `await`, once running). `deps` must bring the executor; the store, channel and clock
 * default to a recording store, an empty document and the wall clock. `config` overrides the test
 * host's timings (poll 60 s, heartbeat 100 ms, reconcile 30 ms, no stop grace, parallelism 2).
 */
export function startTestAgent(deps: Partial<AgentDeps> & Pick<AgentDeps, 'executor'>, config: Partial<Omit<AgentConfig, 'stateFile'>> = {}): Agent {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-agent-test-'));
  dirs.push(dir);
  const agent = new Agent(
    {
      cluster: 'c',
      hostId: 'h1',
      address: '127.0.1.1',
      capacity: { cpu: 1000, memory: 1 << 30 },
      labels: {},
      pollMs: 60_000,
      heartbeatMs: 100,
      reconcileMs: 30,
      stopGraceSeconds: 0,
      parallelism: 2,
      ...config,
      stateFile: join(dir, 'state.json'),
    },
    {
      store: new RecordingStore(),
      channel: documentChannel({ current: { cluster: 'c', hostId: 'h1', generation: 1, tasks: [] } }),
      hashOf: () => 'h',
      now: () => Date.now(),
      random: () => 0.5,
      log: () => {},
      version: 't',
      ...deps,
    },
  );
  agents.push(agent);
  void agent.start();
  return agent;
}

/** For afterEach: stops the agents started by startTestAgent and removes their state folders. */
export async function stopTestAgents(): Promise<void> {
  await Promise.all(agents.splice(0).map((a) => a.stop()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}
