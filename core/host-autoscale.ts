/**
 * The host autoscaler's decisions, pure (after Kubernetes' cluster-autoscaler):
 *
 * - scale out: pending tasks that no host could take for lack of CPU, memory or a host port are
 *   placed, by the scheduler itself (`schedule`), on synthetic empty hosts of the group's shape;
 *   the number of hosts that simulation opens is what to ask the group for, capped by its max.
 *   Hosts the group is already bringing up ("upcoming": desired capacity not yet registered) are
 *   simulated first, so a request is never repeated while its hosts are still coming.
 * - scale in: a ready host under the utilization threshold whose allocations the other ready
 *   hosts could all take (simulated the same way) is unneeded; once it has been unneeded for the
 *   configured time it is drained (new placements first, by the scheduler), and once empty it is
 *   terminated with a decrement of the desired capacity. One host at a time, never below min.
 *
 * Nothing here reads a clock or the store: time, the group and the cluster come in as arguments,
 * and the memory between runs (since when each host is unneeded) goes in and comes out.
 */
import { placementRequest, serviceKey } from './pass.ts';
import { REJECT, schedule, type PlacementRequest } from './scheduler.ts';
import type { Allocation, Host, Resources, Service, Task, Unplaceable } from './types.ts';

/** The shape of a host the group would launch: what a synthetic host offers. */
export interface HostTemplate {
  readonly capacity: Resources;
  readonly labels: Readonly<Record<string, string>>;
}

/** The Auto Scaling group as the autoscaler sees it (ports/host-group.ts reads it). */
export interface GroupState {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly desired: number;
  /** The group's instances (launching ones included); a host id is its instance id. */
  readonly instances: readonly GroupInstance[];
}

export interface GroupInstance {
  readonly id: string;
  /** Pending, InService, Terminating...: only `InService` and `Pending*` count as members. */
  readonly lifecycle: string;
  readonly protectedFromScaleIn: boolean;
}

export interface HostScalingPolicy {
  /** A host whose allocations use less than this share of its CPU and of its memory may be removed. @default 0.5 */
  readonly utilizationThreshold: number;
  /** How long a host must stay unneeded before it is drained. */
  readonly unneededMs: number;
  /** Pending tasks simulated per run at most: bounds the work (the rest wait for the next run). @default 500 */
  readonly maxTasks?: number;
  /**
   * How long an instance of the group may go without registering as a host before it is
   * terminated (it failed to boot, or its agent cannot reach the control plane). Until then it
   * counts as coming, and a second host is not asked for the same tasks. @default 600000 (10 minutes)
   */
  readonly registerTimeoutMs?: number;
}

export const DEFAULT_REGISTER_TIMEOUT_MS = 10 * 60_000;

// ------------------------------------------------------------------------------------------------
// The estimator

/** True when a host of some shape might take the task: it lacked CPU, memory or a port somewhere, or there was no host at all. */
export function lacksCapacity(u: Unplaceable): boolean {
  if (u.hosts === 0) return true;
  for (const reason in u.rejected) {
    // A namespace's address block full on a host (namespace isolation) is room too: a new host has a free one.
    if (reason === REJECT.cpu || reason === REJECT.memory || reason === REJECT.block || reason.startsWith('host port ')) return true;
  }
  return false;
}

export interface Estimate {
  /** New hosts to ask for, beyond the upcoming ones (within `limit`). */
  readonly newHosts: number;
  /** Tasks that would run on an upcoming or a new host. */
  readonly helped: readonly string[];
  /** Tasks that would not fit even an empty host of the shape: no host count helps them. */
  readonly tooBig: readonly { readonly taskId: string; readonly reason: string }[];
  /** Tasks a new host would take, but the group's max leaves no room for it. */
  readonly capped: readonly string[];
}

/**
 * How many new hosts of `template`'s shape the requests need, cluster-autoscaler's binpacking
 * estimator: the largest requests first, each onto the synthetic hosts opened so far (the
 * `upcoming` ones first), a new one opened when none takes it, at most `limit` new ones.
 */
export function estimateHosts(input: {
  readonly requests: readonly PlacementRequest[];
  readonly template: HostTemplate;
  readonly upcoming: number;
  readonly limit: number;
  readonly seed: string;
}): Estimate {
  const { template } = input;
  const synthetic = (id: string): Host => ({
    id,
    address: '0.0.0.0',
    capacity: template.capacity,
    labels: template.labels,
    state: 'ready',
    registeredAt: '1970-01-01T00:00:00.000Z',
    version: 0,
    allocations: {},
  });
  // Mutable copies: each placement adds its allocation, the next request sees it.
  const hosts: { id: string; allocations: Record<string, Allocation>; bytes: number }[] = [];
  for (let i = 0; i < input.upcoming; i++) hosts.push({ id: `upcoming-${i + 1}`, allocations: {}, bytes: 0 });
  const view = () => hosts.map((h) => ({ ...synthetic(h.id), allocations: h.allocations }));
  const documentUsed = () => new Map(hosts.map((h) => [h.id, h.bytes]));
  // First-fit decreasing: big requests first pack better, as the estimator sorts pods by size.
  const size = (r: PlacementRequest) =>
    (template.capacity.cpu > 0 ? r.resources.cpu / template.capacity.cpu : 0) +
    (template.capacity.memory > 0 ? r.resources.memory / template.capacity.memory : 0);
  const ordered = input.requests.slice().sort((a, b) => size(b) - size(a) || (a.taskId < b.taskId ? -1 : 1));

  const tooBigByShape = new Map<string, string | undefined>();
  const helped: string[] = [];
  const tooBig: { taskId: string; reason: string }[] = [];
  const capped: string[] = [];
  let opened = 0;
  for (const raw of ordered) {
    // Binpack, so that the simulation fills hosts before it opens more; the real scheduler may spread.
    const req: PlacementRequest = { ...raw, strategy: 'binpack' };
    const shape = `${req.resources.cpu}|${req.resources.memory}|${req.hostPorts.join(',')}|${req.constraints.join('\u0000')}|${req.documentBytes ?? 0}`;
    if (!tooBigByShape.has(shape)) {
      const alone = schedule([synthetic('empty')], [req], { seed: input.seed });
      tooBigByShape.set(shape, alone.failures[0] ? alone.failures[0].reason.message.replace(/^0 of 1 host fit: 1 /, '') : undefined);
    }
    const whyNot = tooBigByShape.get(shape);
    if (whyNot !== undefined) {
      tooBig.push({ taskId: req.taskId, reason: `an empty host of the group's shape would not fit it (${whyNot})` });
      continue;
    }
    let placed = hosts.length > 0 ? schedule(view(), [req], { seed: input.seed, documentUsed: documentUsed() }).placements[0] : undefined;
    if (!placed) {
      if (opened >= input.limit) {
        capped.push(req.taskId);
        continue;
      }
      opened++;
      hosts.push({ id: `new-${opened}`, allocations: {}, bytes: 0 });
      placed = schedule(view(), [req], { seed: input.seed, documentUsed: documentUsed() }).placements[0];
      if (!placed) throw new Error(`estimateHosts: task ${req.taskId} fits an empty host but not a new one`);
    }
    const host = hosts.find((h) => h.id === placed.hostId)!;
    host.allocations[req.taskId] = placed.allocation;
    host.bytes += req.documentBytes ?? 0;
    helped.push(req.taskId);
  }
  return { newHosts: opened, helped, tooBig, capped };
}

// ------------------------------------------------------------------------------------------------
// Scale in

/** The larger of the CPU and memory shares the host's allocations hold, as cluster-autoscaler measures it (requests, not usage). */
export function utilization(host: Pick<Host, 'capacity' | 'allocations'>): number {
  let cpu = 0;
  let memory = 0;
  for (const id in host.allocations) {
    cpu += host.allocations[id].resources.cpu;
    memory += host.allocations[id].resources.memory;
  }
  return Math.max(host.capacity.cpu > 0 ? cpu / host.capacity.cpu : 1, host.capacity.memory > 0 ? memory / host.capacity.memory : 1);
}

/** True when every allocation of `host` would fit on `others` (simulated with the scheduler, constraints included). */
export function fitsElsewhere(host: Host, others: readonly Host[], services: ReadonlyMap<string, Service>, seed: string): boolean {
  const requests: PlacementRequest[] = Object.values(host.allocations).map((a) => {
    const placement = services.get(serviceKey(a))?.spec.spec.placement;
    return {
      taskId: a.taskId,
      namespace: a.namespace,
      service: a.service,
      slot: a.slot,
      resources: a.resources,
      hostPorts: a.hostPorts,
      constraints: placement?.constraints ?? [],
      strategy: placement?.strategy ?? 'spread',
    };
  });
  if (requests.length === 0) return true;
  return schedule(others, requests, { seed }).failures.length === 0;
}

// ------------------------------------------------------------------------------------------------
// The decision of one run

export interface HostScalingInput {
  readonly group: GroupState;
  /** Every registered host (of the group or not: only the group's are scaled). */
  readonly hosts: readonly Host[];
  readonly tasks: readonly Task[];
  readonly services: readonly Service[];
  /** The shape of a new host when no host of the group is registered to copy. */
  readonly fallbackTemplate?: HostTemplate;
  /** Draining hosts that this autoscaler drained (a person's `skiff drain` is left to the person). */
  readonly drainedByAutoscaler: ReadonlySet<string>;
  /** Since when each host has been unneeded (ISO), from the previous run. */
  readonly unneededSince: ReadonlyMap<string, string>;
  /** Since when each instance of the group has been seen without a host record (ISO), from the previous run. */
  readonly unregisteredSince?: ReadonlyMap<string, string>;
  readonly policy: HostScalingPolicy;
  readonly now: string;
  readonly seed: string;
}

export type HostScalingAction =
  | { readonly kind: 'none'; readonly reason: string }
  | {
      readonly kind: 'scale-out';
      /** The new desired capacity. */
      readonly desired: number;
      /** Hosts requested by this decision. */
      readonly added: number;
      readonly reason: string;
    }
  | { readonly kind: 'drain'; readonly host: string; readonly reason: string }
  | { readonly kind: 'terminate'; readonly host: string; readonly reason: string }
  /** A host drained by the autoscaler that must stay after all (the group is at its min): it takes tasks again. */
  | { readonly kind: 'uncordon'; readonly host: string; readonly reason: string };

export interface HostScalingPlan {
  readonly action: HostScalingAction;
  /** Pending tasks a requested or upcoming host will take, with the note for their message. */
  readonly waiting: readonly { readonly taskId: string; readonly note: string }[];
  /** Pending tasks no host of the group's shape could take, with why (for events). */
  readonly tooBig: readonly { readonly taskId: string; readonly reason: string }[];
  readonly capped: readonly string[];
  /** Hosts booting or registering: desired capacity not yet registered. */
  readonly upcoming: number;
  /** Scale-in protection to set (hosts holding allocations) and to clear (empty hosts). */
  readonly protect: readonly string[];
  readonly unprotect: readonly string[];
  /** The memory for the next run. */
  readonly unneededSince: ReadonlyMap<string, string>;
  readonly unregisteredSince: ReadonlyMap<string, string>;
}

const MEMBER = /^(InService|Pending)/;

/** One run's decision: at most one scaling action, plus scale-in protection and the pending tasks' notes. */
export function planHostScaling(input: HostScalingInput): HostScalingPlan {
  const { group, policy } = input;
  const members = new Set(group.instances.filter((i) => MEMBER.test(i.lifecycle)).map((i) => i.id));
  const byId = new Map(input.hosts.map((h) => [h.id, h]));
  const groupHosts = input.hosts.filter((h) => members.has(h.id));
  const registered = [...members].filter((id) => byId.has(id)).length;
  // Desired capacity the group has not yet turned into registered hosts: launching, booting,
  // starting their agent. Counting them is what stops a second request for the same tasks.
  const upcoming = Math.max(0, group.desired - registered);

  const protect: string[] = [];
  const unprotect: string[] = [];
  for (const i of group.instances) {
    const host = byId.get(i.id);
    if (!host || !MEMBER.test(i.lifecycle)) continue;
    const busy = Object.keys(host.allocations).length > 0;
    if (busy && !i.protectedFromScaleIn) protect.push(i.id);
    if (!busy && i.protectedFromScaleIn) unprotect.push(i.id);
  }

  const servicesByKey = new Map(input.services.map((s) => [serviceKey(s), s]));
  const pending = input.tasks
    .filter((t) => t.desired === 'running' && !t.host && t.unplaceable && lacksCapacity(t.unplaceable))
    .sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : 1))
    .slice(0, policy.maxTasks ?? 500);

  // Instances that have not registered yet, and since when this autoscaler has seen them so.
  const unregisteredSince = new Map<string, string>();
  for (const id of members) if (!byId.has(id)) unregisteredSince.set(id, input.unregisteredSince?.get(id) ?? input.now);
  const base = { protect: protect.sort(), unprotect: unprotect.sort(), upcoming, unregisteredSince };
  // Tasks too big for any host are reported whatever the action.
  let tooBig: HostScalingPlan['tooBig'] = [];
  const none = (reason: string, unneededSince: ReadonlyMap<string, string> = new Map(), extra: Partial<HostScalingPlan> = {}): HostScalingPlan => ({
    action: { kind: 'none', reason },
    waiting: [],
    tooBig,
    capped: [],
    ...base,
    unneededSince,
    ...extra,
  });

  // 1. Finish a scale-in under way: an autoscaler-drained host that is empty is terminated.
  const drainingOurs = groupHosts.filter((h) => h.state === 'draining' && input.drainedByAutoscaler.has(h.id));
  for (const h of drainingOurs) {
    if (Object.keys(h.allocations).length > 0) continue;
    if (group.desired - 1 < group.min) {
      return { ...none(''), action: { kind: 'uncordon', host: h.id, reason: `the group is at its min of ${group.min} host(s)` } };
    }
    return { ...none(''), action: { kind: 'terminate', host: h.id, reason: `host ${h.id} is drained` } };
  }

  // 1b. An instance that never registered is not coming: it goes (when the group may shrink), and
  // the next run asks for a host again if tasks still need one.
  const timeout = policy.registerTimeoutMs ?? DEFAULT_REGISTER_TIMEOUT_MS;
  const stuck = [...unregisteredSince].filter(([, at]) => Date.parse(input.now) - Date.parse(at) >= timeout).sort(([a], [b]) => (a < b ? -1 : 1))[0];
  if (stuck && group.desired - 1 >= group.min) {
    return {
      ...none(''),
      action: {
        kind: 'terminate',
        host: stuck[0],
        reason: `instance ${stuck[0]} has not registered as a host for ${Math.round(timeout / 1000)} s (it failed to boot, or its agent cannot reach the control plane)`,
      },
    };
  }

  // 2. Scale out for the pending tasks.
  const template = templateOf(groupHosts) ?? input.fallbackTemplate;
  if (pending.length > 0) {
    if (!template) return none(`${pending.length} task(s) wait for capacity, but no host of group ${group.name} is registered to copy its shape`);
    const estimate = estimateHosts({
      requests: pending.map((t) => placementRequest(t, servicesByKey.get(serviceKey(t)))),
      template,
      upcoming,
      limit: Math.max(0, group.max - group.desired),
      seed: input.seed,
    });
    // Tasks wait for capacity while a host of ours is being emptied: call the drain off before buying a host.
    const stillDraining = drainingOurs.find((h) => Object.keys(h.allocations).length > 0);
    if (stillDraining && (estimate.newHosts > 0 || estimate.helped.length > 0)) {
      return {
        ...none(''),
        action: {
          kind: 'uncordon',
          host: stillDraining.id,
          reason: `${estimate.helped.length + estimate.capped.length} pending task(s) need capacity: the scale-in is called off`,
        },
      };
    }
    const coming = upcoming + estimate.newHosts;
    const note = `waiting for a new host (${coming} requested)`;
    const waiting = estimate.helped.map((taskId) => ({ taskId, note }));
    const extra = { waiting, tooBig: estimate.tooBig, capped: estimate.capped };
    if (estimate.newHosts > 0) {
      const desired = group.desired + estimate.newHosts;
      const reason =
        `${estimate.helped.length} pending task(s) need ${estimate.newHosts} more host(s)` +
        (upcoming > 0 ? ` beyond the ${upcoming} coming` : '') +
        `: desired ${group.desired} → ${desired} (max ${group.max})` +
        (estimate.capped.length > 0 ? `; ${estimate.capped.length} more would need hosts beyond the max` : '');
      return { ...none(''), ...extra, action: { kind: 'scale-out', desired, added: estimate.newHosts, reason } };
    }
    const why =
      estimate.helped.length > 0
        ? `${estimate.helped.length} pending task(s) wait for the ${upcoming} host(s) coming`
        : estimate.capped.length > 0
          ? `${estimate.capped.length} pending task(s) need more hosts, but group ${group.name} is at its max of ${group.max}`
          : `${estimate.tooBig.length} pending task(s) would not fit a host of the group's shape`;
    // Pending tasks that a host could take: removing one now would be the wrong way.
    if (estimate.helped.length > 0 || estimate.capped.length > 0) return none(why, new Map(), extra);
    // Only tasks too big for any host: they do not stand in the way of scale-in.
    tooBig = estimate.tooBig;
  }

  // 3. Scale in: one host at a time, never below min, never while the group is changing.
  // A terminated host stays draining in the store until the health check finds it gone: only members count.
  if (groupHosts.some((h) => h.state === 'draining')) return none('a host is draining: one scale-in at a time');
  if (upcoming > 0) return none(`${upcoming} host(s) are still coming`);
  if (group.desired <= group.min) return none(`group ${group.name} is at its min of ${group.min} host(s)`);
  const ready = groupHosts.filter((h) => h.state === 'ready');
  // Other ready hosts, of the group or not, may take the candidate's tasks.
  const allReady = input.hosts.filter((h) => h.state === 'ready');
  const since = new Map<string, string>();
  for (const h of ready) {
    if (utilization(h) >= policy.utilizationThreshold) continue;
    if (
      !fitsElsewhere(
        h,
        allReady.filter((o) => o.id !== h.id),
        servicesByKey,
        input.seed,
      )
    )
      continue;
    since.set(h.id, input.unneededSince.get(h.id) ?? input.now);
  }
  const due = [...since]
    .filter(([, at]) => Date.parse(input.now) - Date.parse(at) >= policy.unneededMs)
    .map(([id]) => byId.get(id)!)
    // Least used first; among equals the newest (last in, first out: long-lived hosts stay).
    .sort((a, b) => utilization(a) - utilization(b) || (a.registeredAt > b.registeredAt ? -1 : a.registeredAt < b.registeredAt ? 1 : a.id > b.id ? -1 : 1));
  const pick = due[0];
  if (!pick) return none(since.size > 0 ? `${since.size} host(s) unneeded, none for ${policy.unneededMs / 1000} s yet` : 'no host is unneeded', since);
  const share = Math.round(utilization(pick) * 100);
  const next = new Map(since);
  next.delete(pick.id);
  return {
    ...none('', next),
    action: {
      kind: 'drain',
      host: pick.id,
      reason: `host ${pick.id} is unneeded: ${share}% allocated (threshold ${Math.round(policy.utilizationThreshold * 100)}%) and its ${Object.keys(pick.allocations).length} task(s) fit on other hosts, for ${policy.unneededMs / 1000} s`,
    },
  };
}

/** The shape to copy: the first ready host of the group (by id), its capacity and labels. */
function templateOf(hosts: readonly Host[]): HostTemplate | undefined {
  const sorted = hosts.filter((h) => h.state === 'ready' || h.state === 'draining').sort((a, b) => (a.id < b.id ? -1 : 1));
  const h = sorted[0];
  return h ? { capacity: h.capacity, labels: h.labels } : undefined;
}

/**
 * Hosts whose machine the autoscaler terminated and that are now down, empty and out of the group:
 * their record can go (on AWS the scheduler's network step forgets them too, once EC2 says the
 * instance is gone; locally this is the only place).
 */
export function terminatedHostsToForget(group: GroupState, hosts: readonly Host[], terminatedByAutoscaler: ReadonlySet<string>): Host[] {
  const inGroup = new Set(group.instances.map((i) => i.id));
  return hosts.filter((h) => h.state === 'down' && Object.keys(h.allocations).length === 0 && !inGroup.has(h.id) && terminatedByAutoscaler.has(h.id));
}
