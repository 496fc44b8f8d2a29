/**
 * The agent and one-way allowFrom (agent/guest-isolation.ts), over fakes: a guest pod's rules are in
 * force after its sandbox starts (its addresses exist only then) and before any of its containers is
 * created; every round passes the running guest sandboxes, and only those.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent, type AgentStore } from '../../agent/agent.ts';
import type { ContainerInfo, CreateOptions, Executor } from '../../agent/executor.ts';
import type { GuestSandbox } from '../../agent/guest-isolation.ts';
import { namespaceNetworkName } from '../../agent/namespace-network.ts';
import { SANDBOX } from '../../agent/pod-sandbox.ts';
import { podOf } from '../../core/reconciler.ts';
import { parseServiceSpec } from '../../core/spec.ts';
import type { HostDocument, HostDocumentTask } from '../../core/types.ts';
import type { HostChannel } from '../../ports/index.ts';

/** Containers run at once; every create and start lands in `events`. */
class RecordingRuntime implements Executor {
  readonly events: string[];
  private containers = new Map<string, ContainerInfo>();
  private seq = 0;
  constructor(events: string[]) {
    this.events = events;
  }
  async list() {
    return [...this.containers.values()];
  }
  async inspect(id: string) {
    return this.containers.get(id);
  }
  async create(task: HostDocumentTask, container: { name: string }, _options: CreateOptions) {
    const id = `c${++this.seq}`;
    this.events.push(`create ${task.id}/${container.name}`);
    this.containers.set(id, {
      id,
      name: `${task.id}.${container.name}`,
      taskId: task.id,
      container: container.name,
      specHash: 'h',
      state: 'created',
      ports: [],
    });
    return id;
  }
  async start(id: string) {
    const c = this.containers.get(id)!;
    this.events.push(`start ${c.taskId}/${c.container}`);
    this.containers.set(id, { ...c, state: 'running', startedAt: new Date().toISOString() });
  }
  async stopAndRemove(id: string) {
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

function taskOf(id: string, namespace: string, allowFrom?: string[]): HostDocumentTask {
  const spec = parseServiceSpec({
    kind: 'Service',
    metadata: { name: 'db', namespace },
    spec: { ...(allowFrom ? { network: { allowFrom } } : {}), containers: [{ name: 'app', image: 'skiff/busybox' }] },
  });
  const service = {
    namespace,
    name: 'db',
    spec,
    specVersion: 1,
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    deleting: false,
  };
  return { id, namespace, service: 'db', slot: 1, specVersion: 1, pod: podOf(service) };
}

const dirs: string[] = [];
const agents: Agent[] = [];
afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.stop()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('the agent and guest isolation', () => {
  it("writes a guest pod's rules between its sandbox's start and its first container, and syncs the running guest sandboxes", async () => {
    const events: string[] = [];
    const syncs: GuestSandbox[][] = [];
    const runtime = new RecordingRuntime(events);
    const doc: HostDocument = { cluster: 'c', hostId: 'h1', generation: 1, tasks: [taskOf('db-1-aaaaa', 'team', ['shop']), taskOf('db-1-bbbbb', 'shop')] };
    const dir = mkdtempSync(join(tmpdir(), 'skiff-guest-'));
    dirs.push(dir);
    const channel: HostChannel = { fetch: async () => doc, publish: async () => {}, remove: async () => {} };
    const store: AgentStore = { putHostStatus: async () => {}, putHeartbeat: async () => {} };
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
        stateFile: join(dir, 'state.json'),
        stopGraceSeconds: 0,
        parallelism: 1,
      },
      {
        store,
        channel,
        executor: runtime,
        namespaceNetworks: { ensure: async (ns: string) => namespaceNetworkName('skiff-c', ns) },
        isolation: {
          admit: async (s) => void events.push(`admit ${s.taskId}`),
          sync: async (s) => void syncs.push([...s]),
        },
        hashOf: () => 'h',
        now: () => Date.now(),
        random: () => 0.5,
        log: () => {},
        version: 't',
      },
    );
    agents.push(agent);
    void agent.start();
    for (const end = Date.now() + 10_000; (syncs.at(-1)?.length ?? 0) < 1 && Date.now() < end; ) await new Promise((r) => setTimeout(r, 20));
    const guest = events.filter((e) => e.includes('db-1-aaaaa'));
    expect(guest.slice(0, 4)).toEqual(['create db-1-aaaaa/' + SANDBOX, 'start db-1-aaaaa/' + SANDBOX, 'admit db-1-aaaaa', 'admit db-1-aaaaa']);
    expect(guest.slice(4, 6)).toEqual(['create db-1-aaaaa/app', 'start db-1-aaaaa/app']);
    // The pod that lets nothing in is never admitted, nor synced.
    expect(events.filter((e) => e.startsWith('admit')).every((e) => e === 'admit db-1-aaaaa')).toBe(true);
    expect(syncs.at(-1)).toEqual([{ id: expect.any(String), taskId: 'db-1-aaaaa' }]);
  });
});
