/**
 * Host-side bookkeeping: which allocations a host keeps, which tasks it still lacks, and the
 * host document built from them. Pure.
 *
 * The host item's allocations are the commit point of a placement (they hold the capacity); the
 * task's `host` field is the claim. A placement is complete only when both agree, and only
 * complete placements reach the host document, so a half-done placement (a crash between the
 * two writes, or a lost race) never starts a container.
 */
import type { Allocation, Host, HostDocument, HostDocumentTask, HostNetwork, Task, VolumeRemoval } from './types.ts';
import { fits } from './scheduler.ts';
import { stableStringify } from './json.ts';
import { hash32 } from './random.ts';

/** Where a task id should run: a task's current incarnation, or the previous one it keeps alive. */
export interface Assignment {
  readonly host: string;
  readonly task: HostDocumentTask;
}

/** Every task id that should run somewhere, with its host: current incarnations and kept previous ones. */
export function assignments(tasks: Iterable<Task>): Map<string, Assignment> {
  const out = new Map<string, Assignment>();
  for (const t of tasks) {
    if (t.desired === 'running' && t.host) out.set(t.id, { host: t.host, task: documentTask(t) });
    if (t.previous) {
      const p = t.previous;
      out.set(p.id, { host: p.host, task: { id: p.id, namespace: t.namespace, service: t.service, slot: t.slot, specVersion: p.specVersion, pod: p.pod } });
    }
  }
  return out;
}

/** A task's entry in its host's document. */
export function documentTask(t: Task): HostDocumentTask {
  return { id: t.id, namespace: t.namespace, service: t.service, slot: t.slot, specVersion: t.specVersion, pod: t.pod };
}

export interface AllocationReview {
  /** Allocations whose task still should run on this host. */
  readonly keep: Record<string, Allocation>;
  /** Allocation task ids to drop: the task is gone, moved, replaced or stopped. */
  readonly stale: string[];
  /** Tasks claimed for this host whose allocation is missing (a placement cut short). */
  readonly missing: Task[];
}

/** Compares a host's allocations with the tasks that should run there. */
export function reviewAllocations(host: Host, live: ReadonlyMap<string, Assignment>, claimedBy: readonly Task[]): AllocationReview {
  const keep: Record<string, Allocation> = {};
  const stale: string[] = [];
  for (const id in host.allocations) {
    if (live.get(id)?.host === host.id) keep[id] = host.allocations[id];
    else stale.push(id);
  }
  const missing = claimedBy.filter((t) => t.desired === 'running' && t.host === host.id && !(t.id in host.allocations));
  return { keep, stale, missing };
}

/** The allocation a task needs: the sum of its containers' resources and its fixed host ports. */
export function allocationFor(task: Task): Allocation {
  let cpu = 0;
  let memory = 0;
  const hostPorts: number[] = [];
  for (const c of task.pod.containers) {
    cpu += c.resources.cpu;
    memory += c.resources.memory;
    for (const p of c.ports) if (p.hostPort !== undefined) hostPorts.push(p.hostPort);
  }
  // Init containers run one at a time, before the app containers: the pod needs the larger of the two
  // (Kubernetes' effective request), not their sum.
  for (const c of task.pod.initContainers ?? []) {
    cpu = Math.max(cpu, c.resources.cpu);
    memory = Math.max(memory, c.resources.memory);
  }
  return { taskId: task.id, namespace: task.namespace, service: task.service, slot: task.slot, resources: { cpu, memory }, hostPorts };
}

/**
 * Adds allocations one by one while they fit, on top of `base`. Returns the combined set and
 * which additions were accepted. Never returns an over-committed set.
 */
export function addWhileFits(
  capacity: Host['capacity'],
  base: Readonly<Record<string, Allocation>>,
  additions: readonly Allocation[],
): { allocations: Record<string, Allocation>; accepted: Allocation[]; rejected: Allocation[] } {
  const allocations: Record<string, Allocation> = { ...base };
  const accepted: Allocation[] = [];
  const rejected: Allocation[] = [];
  for (const a of additions) {
    allocations[a.taskId] = a;
    if (fits(capacity, allocations)) accepted.push(a);
    else {
      delete allocations[a.taskId];
      rejected.push(a);
    }
  }
  return { allocations, accepted, rejected };
}

/** The tasks of a host's document: its allocations whose task should run there. */
export function documentTasks(host: Host, live: ReadonlyMap<string, Assignment>): HostDocumentTask[] {
  const out: HostDocumentTask[] = [];
  for (const id of Object.keys(host.allocations).sort()) {
    const a = live.get(id);
    if (a?.host === host.id) out.push(a.task);
  }
  return out;
}

/** A short content hash of a document's tasks and network (not its generation), to skip re-publishing. */
export function documentHash(tasks: readonly HostDocumentTask[], network?: HostNetwork, removeVolumes?: readonly VolumeRemoval[]): string {
  // Without a network or removals the text is the tasks alone, as before they existed: no needless republication.
  const removals = removeVolumes?.length ? { removeVolumes } : {};
  const text = stableStringify(network || removeVolumes?.length ? { tasks, ...(network ? { network } : {}), ...removals } : tasks);
  // Two independent 32-bit hashes: collisions would only delay a publication until the next change.
  return `${hash32(text).toString(16)}${hash32(`skiff:${text}`).toString(16)}-${text.length}`;
}

export function hostDocument(
  cluster: string,
  hostId: string,
  generation: number,
  tasks: readonly HostDocumentTask[],
  network?: HostNetwork,
  removeVolumes?: readonly VolumeRemoval[],
): HostDocument {
  return { cluster, hostId, generation, tasks, ...(network ? { network } : {}), ...(removeVolumes?.length ? { removeVolumes } : {}) };
}
