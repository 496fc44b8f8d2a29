/**
 * The scheduler pass's side of namespace isolation on AWS (docs/network.md, "Isolation rules"), pure:
 * which namespace holds which slot this pass (from what the store holds and what the cluster runs),
 * which claims and releases that takes, and the `isolation` each task carries in its host's document.
 */
import type { Assignment } from './allocations.ts';
import { assignSlots, type NamespaceAddressing, slotCount, taskIsolation } from './packet-filter.ts';
import type { ClusterSnapshot } from './pass.ts';
import type { HostDocumentTask, Task } from './types.ts';

/** A held slot as the store lists it. */
export interface HeldSlot {
  readonly namespace: string;
  readonly slot: number;
  /** ISO time of the claim. */
  readonly since: string;
}

/** The slots of this pass and the writes that make the store agree. */
export interface SlotPlan {
  /** Each namespace's slot; a namespace absent here has none (it is in `full`, or needs none). */
  readonly slots: Record<string, number>;
  /** Namespaces that need a slot and found none: their pending tasks are not placed. */
  readonly full: readonly string[];
  /** Slots to claim for their namespace (new ones). */
  readonly claims: readonly { readonly namespace: string; readonly slot: number }[];
  /** Held slots to free: their namespace runs nothing and has no service, or holds another slot too. */
  readonly releases: readonly { readonly namespace: string; readonly slot: number }[];
}

/**
 * The namespaces a pass must give slots to: `inUse` has pods on hosts (placed tasks, allocations,
 * reports: their addresses are in blocks now), `wanted` adds those with services or tasks (about to
 * have pods). A slot is kept while its namespace is in `wanted`.
 */
export function slotDemand(snapshot: ClusterSnapshot): { inUse: Set<string>; wanted: Set<string> } {
  const inUse = new Set<string>();
  for (const t of snapshot.tasks) if (t.host) inUse.add(t.namespace);
  for (const h of snapshot.hosts) for (const id in h.allocations) inUse.add(h.allocations[id].namespace);
  for (const s of snapshot.statuses) for (const t of s.tasks) inUse.add(t.namespace);
  const wanted = new Set(inUse);
  for (const s of snapshot.services) wanted.add(s.namespace);
  for (const t of snapshot.tasks) wanted.add(t.namespace);
  return { inUse, wanted };
}

/**
 * The pass's slots: each namespace keeps the slot it holds (the first claimed, when an overlap of
 * passes left it two), the namespaces with pods on hosts are served before those only about to have
 * some (so turning isolation on in a crowded cluster leaves out only new work), then the lowest free
 * slots in name order (`assignSlots`).
 */
export function planSlots(held: readonly HeldSlot[], demand: { inUse: ReadonlySet<string>; wanted: ReadonlySet<string> }, a: NamespaceAddressing): SlotPlan {
  const count = slotCount(a);
  const given: Record<string, number> = {};
  const first = new Map<string, HeldSlot>();
  for (const h of [...held].sort((x, y) => x.since.localeCompare(y.since) || x.slot - y.slot)) {
    if (!first.has(h.namespace)) first.set(h.namespace, h);
  }
  for (const [ns, h] of first) if (demand.wanted.has(ns)) given[ns] = h.slot;
  // Namespaces with pods first; those only wanted keep their slots through this round, as `given`.
  const keptOthers = Object.keys(given).filter((ns) => !demand.inUse.has(ns));
  const served = assignSlots([...demand.inUse, ...keptOthers], given, count);
  const { slots, full } = assignSlots([...demand.wanted], served.slots, count);
  const heldBy = new Set(held.map((h) => `${h.namespace}#${h.slot}`));
  const claims = Object.entries(slots)
    .filter(([ns, slot]) => !heldBy.has(`${ns}#${slot}`))
    .map(([namespace, slot]) => ({ namespace, slot }))
    .sort((x, y) => x.slot - y.slot);
  const releases = held.filter((h) => slots[h.namespace] !== h.slot).map(({ namespace, slot }) => ({ namespace, slot }));
  return { slots, full: full.sort(), claims, releases };
}

/** Why a namespace's pending task is not placed on an isolating cluster. */
export function noSlotMessage(namespace: string, a: NamespaceAddressing): string {
  const count = slotCount(a);
  return (
    `namespace ${namespace} has no address block slot: all ${count} slots of the cluster are taken ` +
    `(blocks /${a.blockPrefix} in /${a.hostPrefix} host subnets); delete a namespace's services, or use a longer namespaceBlockPrefix`
  );
}

/** A task's entry in its document with its `isolation`, when its namespace has a slot. */
export function isolatedTask(task: HostDocumentTask, slots: Readonly<Record<string, number>>): HostDocumentTask {
  if (slots[task.namespace] === undefined) return task;
  return { ...task, isolation: taskIsolation(task, slots) };
}

/** The assignments of the pass with each task's `isolation`: what documents list and what placement counts. */
export function isolatedAssignments(live: ReadonlyMap<string, Assignment>, slots: Readonly<Record<string, number>>): Map<string, Assignment> {
  const out = new Map<string, Assignment>();
  for (const [id, a] of live) out.set(id, { host: a.host, task: isolatedTask(a.task, slots) });
  return out;
}

/** The pending tasks of namespaces without a slot: placement skips them and notes why. */
export function slotlessPending(tasks: Iterable<Task>, slots: Readonly<Record<string, number>>): Task[] {
  return [...tasks].filter((t) => t.desired === 'running' && !t.host && slots[t.namespace] === undefined);
}
