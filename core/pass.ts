/**
 * The decisions of a scheduler pass, pure: from a snapshot of the cluster (and a time and a seed)
 * to the writes each step of the pass makes. The pass (`app/scheduler/`) applies them with
 * conditional writes, one step after the other, and feeds what actually happened (a claim won or
 * lost) into the next step's plan: the plan of a step is computed on the state the previous steps
 * left, as Nomad's scheduler computes a plan that the leader then checks and commits.
 *
 * Nothing here reads a clock, a random source or the store, so each decision can be tested with a
 * table of inputs and replayed from its seed.
 */
import type { Allocation, ClusterEvent, Host, HostDocumentTask, HostNetwork, HostStatus, JobStatus, Service, Task, VolumeRemoval } from './types.ts';
import { reconcileService, type ServicePlan } from './reconciler.ts';
import { planJob } from './jobs.ts';
import { planCronJobTasks } from './cron.ts';
import { PIN_LABEL, pinConstraint, planGlobal, workloadPlanner } from './global.ts';
import { statusIndex, statusOf } from './views.ts';
import { REJECT, schedule, type Placement, type PlacementRequest, type ScheduleFailure } from './scheduler.ts';
import { addWhileFits, allocationFor, documentHash, documentTask, documentTasks, reviewAllocations, type Assignment } from './allocations.ts';
import { documentTaskBytes, HOST_DOCUMENT_BYTES } from './document-size.ts';
import { slotVolumes, stickyHost, type VolumeRecord } from './volumes.ts';

/** What a pass reads at its start. Tasks come from a strongly consistent read (docs/state.md). */
export interface ClusterSnapshot {
  readonly services: readonly Service[];
  readonly hosts: readonly Host[];
  readonly statuses: readonly HostStatus[];
  readonly tasks: readonly Task[];
}

/** `<namespace>/<service>`: how tasks, allocations and reports name their service. */
export function serviceKey(s: { readonly namespace: string; readonly name?: string; readonly service?: string }): string {
  return `${s.namespace}/${s.name ?? s.service}`;
}

/** The tasks by service, in the order they were read (the placement order follows it). */
export function tasksByService(tasks: readonly Task[]): Map<string, Task[]> {
  const out = new Map<string, Task[]>();
  for (const t of tasks) push(out, serviceKey(t), t);
  return out;
}

/** Tasks that point at a host, by host: the claims. */
export function claimsByHost(tasks: Iterable<Task>): Map<string, Task[]> {
  const out = new Map<string, Task[]>();
  for (const t of tasks) if (t.host) push(out, t.host, t);
  return out;
}

/** One service's plan, with the tasks it was computed on. */
export interface ServiceWrites {
  readonly service: Service;
  readonly tasks: readonly Task[];
  readonly plan: ServicePlan;
  /** A Job's progress to record before its task writes (core/jobs.ts). */
  readonly jobStatus?: JobStatus;
}

/**
 * The reconciler over every service of the snapshot, in the snapshot's order (task ids draw from
 * `random` in that order, so a seed replays them). A service is still on hosts while a host holds
 * an allocation of it or reports one of its tasks: a deleting service is removed only after both.
 */
export function planServices(snapshot: ClusterSnapshot, now: string, random: () => number): ServiceWrites[] {
  const onHosts = new Set<string>();
  for (const hs of snapshot.statuses) for (const t of hs.tasks) onHosts.add(serviceKey(t));
  for (const h of snapshot.hosts) for (const id in h.allocations) onHosts.add(serviceKey(h.allocations[id]));
  const reports = statusIndex(snapshot.statuses);
  const hosts = new Map(snapshot.hosts.map((h) => [h.id, h]));
  const byService = tasksByService(snapshot.tasks);
  return snapshot.services.map((service) => {
    const tasks = byService.get(serviceKey(service)) ?? [];
    const input = { service, tasks, hosts, stillOnHosts: onHosts.has(serviceKey(service)), statusOf: (t: Task) => statusOf(reports, t), now, random };
    // Jobs, cron jobs and global services have planners of their own; the rest is the reconciler's.
    const kind = workloadPlanner(service);
    if (kind === 'job') {
      const { status, ...plan } = planJob(input);
      return { service, tasks, plan, ...(status ? { jobStatus: status } : {}) };
    }
    if (kind === 'cron') return { service, tasks, plan: planCronJobTasks(input) };
    if (kind === 'global') return { service, tasks, plan: planGlobal({ ...input, allHosts: snapshot.hosts }) };
    const plan = reconcileService(input);
    return { service, tasks, plan };
  });
}

/** The placement plan: claims to make, and the unplaceable notes whose reason changed. */
export interface PlacementPlan {
  readonly placements: readonly Placement[];
  /** Every task no host could take this pass. */
  readonly failures: readonly ScheduleFailure[];
  /** The failures whose reason differs from the note the task carries: only these are written. */
  readonly newReasons: readonly ScheduleFailure[];
}

/**
 * Places the pending tasks (running, no host) on the hosts as the scheduler must see them: without
 * stale allocations and with claimed-but-uncommitted ones (a placement cut short still holds its
 * capacity). Hosts in `unavailable` take nothing, for the reason given.
 */
export function planPlacement(input: {
  readonly services: readonly Service[];
  readonly hosts: readonly Host[];
  readonly tasks: ReadonlyMap<string, Task>;
  readonly live: ReadonlyMap<string, Assignment>;
  readonly claims: ReadonlyMap<string, readonly Task[]>;
  readonly seed: string;
  readonly unavailable?: ReadonlyMap<string, string>;
  /**
   * Recorded persistent volumes by volumeKeyString, when each lives on one host (local Docker volumes):
   * a slot whose volume is recorded is placed back on its host (sticky). Absent: volumes follow a
   * replica anywhere (EFS).
   */
  readonly stickyVolumes?: ReadonlyMap<string, VolumeRecord>;
  /**
   * A task's entry in its host's document, whose bytes placement counts. @default `documentTask`; with
   * namespace isolation, the entry with its `isolation` (core/namespace-slots.ts).
   */
  readonly documentTask?: (t: Task) => HostDocumentTask;
  /** With namespace isolation: the pods of one namespace a host's block holds (ScheduleOptions.podsPerNamespace). */
  readonly podsPerNamespace?: number;
}): PlacementPlan {
  const servicesByKey = new Map(input.services.map((s) => [serviceKey(s), s]));
  const requests = [...input.tasks.values()]
    .filter((t) => t.desired === 'running' && !t.host)
    .map((t) => withPin(placementRequest(t, servicesByKey.get(serviceKey(t)), input.documentTask), t, input.stickyVolumes));
  const effective = input.hosts.map((h) => {
    const review = reviewAllocations(h, input.live, input.claims.get(h.id) ?? []);
    // The pin label lets a global service's task ask for its host as a constraint (core/global.ts).
    return {
      ...h,
      labels: { ...h.labels, [PIN_LABEL]: h.id },
      allocations: addWhileFits(h.capacity, review.keep, review.missing.map(allocationFor)).allocations,
    };
  });
  // Each host's document as it would be published: the tasks of its effective allocations.
  const documentUsed = new Map(effective.map((h) => [h.id, documentTasks(h, input.live).reduce((n, t) => n + documentTaskBytes(t), 0)]));
  const decided = schedule(effective, requests, {
    seed: input.seed,
    documentUsed,
    ...(input.unavailable ? { unavailable: input.unavailable } : {}),
    ...(input.podsPerNamespace !== undefined ? { podsPerNamespace: input.podsPerNamespace } : {}),
  });
  // No write churn for an unchanged reason.
  const newReasons = decided.failures.filter((f) => input.tasks.get(f.taskId)!.unplaceable?.message !== f.reason.message);
  return { placements: decided.placements, failures: decided.failures, newReasons };
}

/** The scheduler's request for a pending task (also what the host autoscaler simulates). */
export function placementRequest(t: Task, service: Service | undefined, toDocument: (t: Task) => HostDocumentTask = documentTask): PlacementRequest {
  const a = allocationFor(t);
  const placement = service?.spec.spec.placement;
  return {
    taskId: t.id,
    namespace: t.namespace,
    service: t.service,
    slot: t.slot,
    resources: a.resources,
    hostPorts: a.hostPorts,
    constraints: t.pinnedHost ? [...(placement?.constraints ?? []), pinConstraint(t.pinnedHost)] : (placement?.constraints ?? []),
    strategy: placement?.strategy ?? 'spread',
    documentBytes: documentTaskBytes(toDocument(t)),
    ...(t.avoidHost ? { avoidHost: t.avoidHost } : {}),
  };
}

/** The request pinned to the host of the slot's recorded volume, if it has one. */
function withPin(req: PlacementRequest, t: Task, volumes: ReadonlyMap<string, VolumeRecord> | undefined): PlacementRequest {
  if (!volumes || volumes.size === 0) return req;
  const sticky = stickyHost(slotVolumes(t.namespace, t.service, t.slot, t.pod), volumes);
  return sticky.host ? { ...req, pin: { host: sticky.host, volume: sticky.volume! } } : req;
}

/** Hosts that may take no pod yet, because the network step has not routed a subnet to them. */
export function hostsWithoutSubnet(hosts: readonly Host[], networks: ReadonlyMap<string, HostNetwork>): Map<string, string> {
  return new Map(hosts.filter((h) => !networks.has(h.id)).map((h) => [h.id, REJECT.noSubnet]));
}

/** What a host's allocations should become, computed on one version of the host. */
export type HostWrite =
  | { readonly kind: 'unchanged' }
  | {
      readonly kind: 'write';
      readonly allocations: Record<string, Allocation>;
      /** Allocations this write adds (claimed-but-missing ones, and this pass's placements). */
      readonly added: number;
      /** Claims that no longer fit: the caller undoes them. */
      readonly rejected: readonly Allocation[];
    };

/**
 * One host's allocation write: drop stale allocations, add the missing claimed ones and this
 * pass's new placements while they fit, if the host is ready. Computed on `host` as read; the write must be conditional
 * on that version, and a lost race plans again on the host read anew.
 */
export function planHostWrite(host: Host, live: ReadonlyMap<string, Assignment>, claimed: readonly Task[], placed: readonly Allocation[]): HostWrite {
  const review = reviewAllocations(host, live, claimed);
  const wanted = [...review.missing.map(allocationFor), ...placed.filter((a) => !(a.taskId in review.keep))];
  // Only a ready host takes allocations: one that went down or draining since the placement was
  // computed keeps what it has, and the claims are undone (Nomad's plan applier re-checks node status too).
  const next =
    host.state === 'ready'
      ? withinDocument(addWhileFits(host.capacity, review.keep, dedupe(wanted)), review.keep, live)
      : { allocations: { ...review.keep }, accepted: [], rejected: dedupe(wanted) };
  if (review.stale.length === 0 && next.accepted.length === wanted.length && sameKeys(host.allocations, next.allocations)) return { kind: 'unchanged' };
  return { kind: 'write', allocations: next.allocations, added: next.accepted.filter((a) => !(a.taskId in host.allocations)).length, rejected: next.rejected };
}

/**
 * Drops the accepted additions that would overflow the host's document, in order: placement
 * checked the document on its snapshot, an overlapping pass may have filled it since.
 */
function withinDocument(
  fit: { allocations: Record<string, Allocation>; accepted: Allocation[]; rejected: Allocation[] },
  keep: Readonly<Record<string, Allocation>>,
  live: ReadonlyMap<string, Assignment>,
): { allocations: Record<string, Allocation>; accepted: Allocation[]; rejected: Allocation[] } {
  const bytes = (id: string) => {
    const a = live.get(id);
    return a ? documentTaskBytes(a.task) : 0;
  };
  let used = Object.keys(keep).reduce((n, id) => n + bytes(id), 0);
  const allocations = { ...keep };
  const accepted: Allocation[] = [];
  const rejected = [...fit.rejected];
  for (const a of fit.accepted) {
    const b = bytes(a.taskId);
    if (used + b > HOST_DOCUMENT_BYTES) {
      rejected.push(a);
      continue;
    }
    used += b;
    allocations[a.taskId] = a;
    accepted.push(a);
  }
  return { allocations, accepted, rejected };
}

/** True when this allocation write left a draining host empty: the host is drained. */
export function drainedBy(before: Host, after: Host): boolean {
  return after.state === 'draining' && Object.keys(after.allocations).length === 0 && Object.keys(before.allocations).length > 0;
}

/** Committed hosts to forget: down, holding nothing, and their machine gone for good. */
export function hostsToForget(committed: Iterable<Host>, gone: ReadonlySet<string>): Host[] {
  return [...committed].filter((h) => gone.has(h.id) && h.state === 'down' && Object.keys(h.allocations).length === 0);
}

/**
 * The recorded hash of a publication the channel may not hold (two passes raced on one generation,
 * or one published and crashed): no document hashes to it, so the next pass publishes again.
 */
export const UNSETTLED_HASH = 'unsettled';

/** A host's document content and its hash; the document is published only when the hash changed. */
export function planDocument(
  host: Host,
  live: ReadonlyMap<string, Assignment>,
  network?: HostNetwork,
  removeVolumes?: readonly VolumeRemoval[],
): { tasks: HostDocumentTask[]; hash: string } {
  const tasks = documentTasks(host, live);
  return { tasks, hash: documentHash(tasks, network, removeVolumes) };
}

/**
 * The agents' events newer than the last one copied per host (`copied`: host → `<at>|<id>` mark),
 * and the new marks once they are recorded.
 */
export function freshAgentEvents(
  statuses: readonly Pick<HostStatus, 'hostId' | 'events'>[],
  copied: ReadonlyMap<string, string>,
): { events: ClusterEvent[]; marks: Map<string, string> } {
  const events: ClusterEvent[] = [];
  const marks = new Map<string, string>();
  for (const s of statuses) {
    const seen = copied.get(s.hostId) ?? '';
    const newer = (s.events ?? []).filter((e) => `${e.at}|${e.id}` > seen);
    if (newer.length === 0) continue;
    events.push(...newer);
    marks.set(
      s.hostId,
      newer.reduce((a, e) => (`${e.at}|${e.id}` > a ? `${e.at}|${e.id}` : a), seen),
    );
  }
  return { events, marks };
}

/** An event of the pass at `now`; its id is stable for the same pass, type and subject, so recording it twice keeps one. */
export function passEvent(now: string, type: string, message: string, about: Omit<ClusterEvent, 'id' | 'at' | 'type' | 'message'>): ClusterEvent {
  return { id: `${now}-${type}-${about.task ?? about.host ?? about.service ?? ''}`, at: now, type, message, ...about };
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function dedupe(allocs: readonly Allocation[]): Allocation[] {
  const seen = new Set<string>();
  return allocs.filter((a) => {
    if (seen.has(a.taskId)) return false;
    seen.add(a.taskId);
    return true;
  });
}

function sameKeys(a: Readonly<Record<string, unknown>>, b: Readonly<Record<string, unknown>>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => k in b);
}
