/**
 * The agent deleting persistent volumes its document asks removed (`--delete-volumes`), over fakes of
 * its ports: a container runtime and a volume manager in memory (no Docker).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ContainerInfo, Executor } from '../../agent/executor.ts';
import type { Agent } from '../../agent/agent.ts';
import { removalsDue, type VolumeManager } from '../../agent/volumes.ts';
import { documentChannel, RecordingStore, sleep, startTestAgent, stopTestAgents, until } from '../helpers/agent-harness.ts';
import type { HostDocument, HostDocumentTask, VolumeRemoval } from '../../core/types.ts';

/** Containers in memory; `stopAndRemove` is held until `release()` while `holdStops` is set. */
class FakeRuntime implements Executor {
  containers = new Map<string, ContainerInfo>();
  holdStops = true;
  private seq = 0;
  async list(): Promise<ContainerInfo[]> {
    return [...this.containers.values()];
  }
  async inspect(id: string) {
    return this.containers.get(id);
  }
  async create(task: HostDocumentTask, container: { name: string }): Promise<string> {
    const id = `c${++this.seq}`;
    this.containers.set(id, {
      id,
      name: `${task.id}.${container.name}`,
      taskId: task.id,
      container: container.name,
      specHash: 'h',
      state: 'created',
      ports: [],
      namespace: task.namespace,
      service: task.service,
    });
    return id;
  }
  async start(id: string) {
    const c = this.containers.get(id)!;
    this.containers.set(id, { ...c, state: 'running', startedAt: new Date().toISOString() });
  }
  async stopAndRemove(id: string) {
    while (this.holdStops) await sleep(10);
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
  /** A container of a task that left the document: the stopper's to stop. */
  leftover(namespace: string, service: string): void {
    const id = `c${++this.seq}`;
    this.containers.set(id, {
      id,
      name: `${service}-1-zzzzz.app`,
      taskId: `${service}-1-zzzzz`,
      container: 'app',
      specHash: 'h',
      state: 'running',
      ports: [],
      namespace,
      service,
    });
  }
}

/** Volumes in memory: what was removed, and a volume refused as in use the first `busy` times. */
class FakeVolumes implements VolumeManager {
  readonly removed: string[] = [];
  readonly calls: string[] = [];
  busy = 0;
  constructor(private readonly runtime: FakeRuntime) {}
  async ensure() {
    return new Map();
  }
  async prune() {}
  async removePersistent(r: VolumeRemoval): Promise<'removed' | 'in-use'> {
    this.calls.push(r.id);
    // What Docker would refuse: a container of the service still there.
    if ([...this.runtime.containers.values()].some((c) => c.service === r.service))
      throw new Error(`volume ${r.id} removed while a container of ${r.service} remains`);
    if (this.busy > 0) {
      this.busy--;
      return 'in-use';
    }
    this.removed.push(r.id);
    return 'removed';
  }
}

const removal: VolumeRemoval = { id: 'default-db-data-1', namespace: 'default', service: 'db', volume: 'data', slot: 1 };

afterEach(stopTestAgents);

function startAgent(runtime: FakeRuntime, store: RecordingStore, volumes: VolumeManager, docs: { current: HostDocument }): Agent {
  return startTestAgent({ store, channel: documentChannel(docs), executor: runtime, volumes });
}

describe('agent: deleting persistent volumes', () => {
  it('deletes a volume only once no container of its service is left, then reports it until it leaves the document', async () => {
    const runtime = new FakeRuntime();
    runtime.leftover('default', 'db');
    const store = new RecordingStore();
    const volumes = new FakeVolumes(runtime);
    const docs = { current: { cluster: 'c', hostId: 'h1', generation: 1, tasks: [], removeVolumes: [removal] } as HostDocument };
    const agent = startAgent(runtime, store, volumes, docs);
    // The leftover container is being stopped (held): rounds go by, and the volume is not touched.
    await until(() => (store.statuses.length >= 1 ? true : undefined), 'a first report');
    // About ten rounds (30 ms each).
    await sleep(300);
    expect(volumes.calls).toEqual([]);
    expect(store.statuses.at(-1)?.removedVolumes).toBeUndefined();
    runtime.holdStops = false;
    const reported = await until(() => store.statuses.find((s) => s.removedVolumes?.length), 'a report of the removal');
    expect(reported.removedVolumes).toEqual(['default/db/data/1']);
    expect(volumes.removed).toEqual(['default-db-data-1']);
    expect(reported.events?.some((e) => e.type === 'volume.removed' && e.service === 'db')).toBe(true);
    // Done once: later rounds do not ask again while it is reported.
    await sleep(200);
    expect(volumes.calls).toEqual(['default-db-data-1']);
    // The control plane forgot it: the next document has no removal, and the report drops it.
    docs.current = { cluster: 'c', hostId: 'h1', generation: 2, tasks: [] };
    agent.wake();
    await until(
      () => (store.statuses.at(-1)?.generation === 2 && store.statuses.at(-1)?.removedVolumes === undefined ? true : undefined),
      'a report without the removal',
    );
  });

  it('asks again next round when the runtime says the volume is still in use', async () => {
    const runtime = new FakeRuntime();
    const store = new RecordingStore();
    const volumes = new FakeVolumes(runtime);
    volumes.busy = 2;
    const docs = { current: { cluster: 'c', hostId: 'h1', generation: 1, tasks: [], removeVolumes: [removal] } as HostDocument };
    startAgent(runtime, store, volumes, docs);
    await until(() => store.statuses.find((s) => s.removedVolumes?.length), 'a report of the removal');
    expect(volumes.calls).toEqual(['default-db-data-1', 'default-db-data-1', 'default-db-data-1']);
  });
});

describe('removalsDue', () => {
  const other: VolumeRemoval = { id: 'default-web-cache-1', namespace: 'default', service: 'web', volume: 'cache', slot: 1 };
  it('skips volumes already removed, and those whose service has a container here or a task in the document', () => {
    expect(removalsDue([removal, other], new Set(), [], []).map((r) => r.id)).toEqual(['default-db-data-1', 'default-web-cache-1']);
    expect(removalsDue([removal, other], new Set(['default/db/data/1']), [], []).map((r) => r.id)).toEqual(['default-web-cache-1']);
    expect(removalsDue([removal, other], new Set(), [{ namespace: 'default', service: 'db' }], []).map((r) => r.id)).toEqual(['default-web-cache-1']);
    expect(removalsDue([removal, other], new Set(), [], [{ namespace: 'default', service: 'web' }]).map((r) => r.id)).toEqual(['default-db-data-1']);
    // Another namespace's service of the same name does not hold it.
    expect(removalsDue([removal], new Set(), [{ namespace: 'shop', service: 'db' }], []).map((r) => r.id)).toEqual(['default-db-data-1']);
  });
});
