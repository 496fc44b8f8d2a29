/**
 * A scheduler pass on the in-memory store, for unit tests of the use case (Nomad's scheduler
 * `Harness`): the store wrapped for fault injection, an in-memory host channel that refuses to go
 * back a generation as the SSM one does, a recording waker, and a clock a second per pass.
 */
import { MemoryStore } from '../adapters/memory/store.ts';
import { withFaults, type Faults } from '../adapters/memory/faulty-store.ts';
import { fits } from '../core/scheduler.ts';
import { assignments } from '../core/allocations.ts';
import type { HostWaker, Store } from '../ports/index.ts';
import { MemoryHostChannel } from '../adapters/memory/host-channel.ts';
import { newPassState, PASS_STEPS, runPass, type PassDeps, type PassResult, type PassStep } from '../app/scheduler/pass.ts';
import { MiB } from './builders.ts';

/** Host documents in memory, with every channel's rules (adapters/memory/host-channel.ts). */
export { MemoryHostChannel } from '../adapters/memory/host-channel.ts';

export class RecordingWaker implements HostWaker {
  readonly woken: string[][] = [];
  async wake(ids: readonly string[]): Promise<void> {
    this.woken.push([...ids]);
  }
}

export interface PassHarness {
  /** The unfaulted store: for setting up and for rival writes that no fault may touch. */
  readonly inner: MemoryStore;
  /** The store the pass uses. */
  readonly store: Store;
  readonly faults: Faults;
  readonly channel: MemoryHostChannel;
  readonly waker: RecordingWaker;
  readonly now: () => string;
  /** One pass, with the harness's state (as the scheduler handler keeps it). */
  pass(seed?: string, over?: Partial<PassDeps>, steps?: readonly PassStep[]): Promise<PassResult>;
}

export const T0 = '2026-01-01T00:00:00.000Z';

/** A harness with these hosts registered (`cpu` in millicores; 1 GiB memory each unless given). */
export async function passHarness(hosts: readonly { id: string; cpu: number; memory?: number }[]): Promise<PassHarness> {
  const inner = new MemoryStore();
  const { store, faults } = withFaults(inner);
  const channel = new MemoryHostChannel();
  const waker = new RecordingWaker();
  for (const [i, h] of hosts.entries()) {
    await inner.registerHost({ id: h.id, address: `127.0.1.${i + 1}`, capacity: { cpu: h.cpu, memory: h.memory ?? 1024 * MiB }, labels: {} }, T0);
  }
  let clock = Date.parse(T0);
  const state = newPassState();
  return {
    inner,
    store,
    faults,
    channel,
    waker,
    now: () => new Date(clock).toISOString(),
    pass: (seed, over = {}, steps = PASS_STEPS) =>
      runPass(
        {
          store,
          channel,
          waker,
          cluster: 'c',
          now: () => {
            clock += 1000;
            return new Date(clock);
          },
          state,
          ...(seed ? { seed } : {}),
          ...over,
        },
        steps,
      ),
  };
}

/**
 * The invariants that hold after every pass, whatever failed in it: no host over its capacity, no
 * task allocated on two hosts, and every document lists exactly the allocations whose task points
 * back at the host (a half-done placement starts nothing). Returns what is violated; empty if none.
 */
export async function violations(h: PassHarness): Promise<string[]> {
  const out: string[] = [];
  const hosts = await h.inner.listHosts();
  const tasks = await h.inner.listAllTasks();
  const live = assignments(tasks);
  const seen = new Map<string, string>();
  for (const host of hosts) {
    if (!fits(host.capacity, host.allocations)) out.push(`host ${host.id} over-committed`);
    for (const id in host.allocations) {
      if (seen.has(id)) out.push(`task ${id} allocated on ${seen.get(id)} and ${host.id}`);
      seen.set(id, host.id);
    }
    const doc = h.channel.docs.get(host.id);
    if (!doc) continue;
    for (const t of doc.tasks) {
      if (live.get(t.id)?.host !== host.id) out.push(`document of ${host.id} lists ${t.id}, which is not assigned there`);
      if (!(t.id in host.allocations)) out.push(`document of ${host.id} lists ${t.id} without its allocation`);
    }
  }
  return out;
}

/** Converged: every running task is placed, allocated where it is claimed, and in that host's document. */
export async function converged(h: PassHarness): Promise<string[]> {
  const out = await violations(h);
  const hosts = new Map((await h.inner.listHosts()).map((x) => [x.id, x]));
  for (const t of await h.inner.listAllTasks()) {
    if (t.desired !== 'running') continue;
    if (!t.host) {
      out.push(`task ${t.id} not placed`);
      continue;
    }
    if (!hosts.get(t.host)?.allocations[t.id]) out.push(`task ${t.id} claimed by ${t.host} without an allocation`);
    if (!h.channel.docs.get(t.host)?.tasks.some((d) => d.id === t.id)) out.push(`task ${t.id} missing from the document of ${t.host}`);
  }
  return out;
}
