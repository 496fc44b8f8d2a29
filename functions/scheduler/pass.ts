/**
 * One scheduler pass: read the cluster, let the core decide, commit with conditional writes,
 * publish changed host documents, wake the hosts that have news.
 *
 * Safe to run twice or concurrently: every write is conditional, a lost race is skipped and the
 * next pass (a timer, or the next API write) picks up from whatever state it finds.
 * Host-document publication order relies on passes not overlapping (one local loop; on AWS the
 * scheduler function's reserved concurrency of 1); placements never do.
 */
import type { BadItemSource, HostChannel, HostWaker, Store } from '../../ports/index.ts';
import { badItemEvent } from '../../core/items.ts';
import type { Allocation, ClusterEvent, Host, Service, Task } from '../../core/types.ts';
import { reconcileService } from '../../core/reconciler.ts';
import { statusIndex, statusOf as statusOfTask } from '../../core/views.ts';
import { REJECT, schedule, type PlacementRequest } from '../../core/scheduler.ts';
import { addWhileFits, allocationFor, assignments, documentHash, documentTasks, hostDocument, reviewAllocations } from '../../core/allocations.ts';
import { rng } from '../../core/random.ts';
import { ConflictError } from '../../core/errors.ts';
import { forEachLimit } from '../../core/async.ts';
import { syncNetwork, type NetworkDeps, type NetworkResult } from '../network/sync.ts';

export interface PassDeps {
  readonly store: Store;
  readonly channel: HostChannel;
  readonly waker: HostWaker;
  readonly cluster: string;
  readonly now: () => Date;
  /** Seeds task ids and host order; defaults to the pass start time. */
  readonly seed?: string;
  readonly log?: (message: string, data?: Record<string, unknown>) => void;
  /**
   * The routed container network (AWS): hosts get subnets before pods, documents carry them.
   * Absent (local mode): every host shares the agents' configured network.
   */
  readonly network?: NetworkDeps;
}

export interface PassResult {
  created: number;
  released: number;
  removed: number;
  placed: number;
  unplaceable: number;
  published: string[];
  conflicts: number;
  /** The network step's counts, when the cluster routes container subnets. */
  network?: { acquired: number; routed: number; released: number; repaired: number; failed: number; /** Ready hosts still without a routed subnet. */ waiting: number };
  /** Down hosts whose machines are gone for good, forgotten by this pass (AWS). */
  forgotten?: string[];
  /** Items the reads skipped as invalid (core/items.ts): each also an `item.invalid` event. The BadItems metric. */
  badItems?: number;
}

/** How often a host-allocation write is retried after losing a race within one pass. */
const HOST_WRITE_ATTEMPTS = 5;
/**
 * Independent item writes in flight at once. Each is one small conditional write; sequential they
 * cost ~5 ms each against dynalite (and ~10 ms round trip on AWS), which a 100-replica apply feels.
 */
const WRITE_CONCURRENCY = 16;

export async function runPass(deps: PassDeps): Promise<PassResult> {
  const { store } = deps;
  const nowIso = deps.now().toISOString();
  const random = rng(deps.seed ?? nowIso);
  const log = deps.log ?? (() => {});
  const result: PassResult = { created: 0, released: 0, removed: 0, placed: 0, unplaceable: 0, published: [], conflicts: 0 };
  const events: ClusterEvent[] = [];
  const event = (type: string, message: string, about: Omit<ClusterEvent, 'id' | 'at' | 'type' | 'message'>) =>
    events.push({ id: `${nowIso}-${type}-${about.task ?? about.host ?? about.service ?? ''}`, at: nowIso, type, message, ...about });

  // Tasks come from a strongly consistent read, never through the service index: the index lags,
  // and a task missing from this pass would make its allocation look stale and stop its container.
  const [services, hostList, statuses, taskList] = await Promise.all([store.listServices(), store.listHosts(), store.listHostStatuses(), store.listAllTasks()]);
  const hosts = new Map(hostList.map((h) => [h.id, h]));
  const tasksByService = new Map<string, Task[]>();
  for (const t of taskList) (tasksByService.get(`${t.namespace}/${t.service}`) ?? tasksByService.set(`${t.namespace}/${t.service}`, []).get(`${t.namespace}/${t.service}`)!).push(t);

  // Items that failed their schema or key check were skipped by those reads: recorded, never fatal.
  const bad = (store as Partial<BadItemSource>).takeBadItems?.();
  if (bad) {
    result.badItems = bad.items.length + bad.dropped;
    events.push(...bad.items.map((b) => badItemEvent(b, nowIso)));
  }

  // Agents' own events (started, exited, unhealthy, restarted) reach the log through their reports.
  await ingestAgentEvents(store, statuses);

  // 0. The container network: a host takes pods only once its subnet is routed to it.
  let network: NetworkResult | undefined;
  if (deps.network) {
    network = await syncNetwork({ ...deps.network, log: deps.network.log ?? log }, hostList);
    const waiting = hostList.filter((h) => h.state === 'ready' && !network!.networks.has(h.id));
    for (const h of waiting) log('host waits for its container subnet', { host: h.id });
    result.network = { acquired: network.acquired, routed: network.routed, released: network.released, repaired: network.repaired, failed: network.failed.length, waiting: waiting.length };
  }

  // 1. Services: create, replace and remove tasks.
  const reportedServices = new Set<string>();
  for (const hs of statuses) for (const t of hs.tasks) reportedServices.add(`${t.namespace}/${t.service}`);
  const reports = statusIndex(statuses);
  const statusOf = (t: Task) => statusOfTask(reports, t);
  const allocatedServices = new Set<string>();
  for (const h of hostList) for (const id in h.allocations) allocatedServices.add(`${h.allocations[id].namespace}/${h.allocations[id].service}`);

  for (const service of services) {
    const tasks = tasksByService.get(key(service)) ?? [];
    const plan = reconcileService({
      service,
      tasks,
      hosts,
      stillOnHosts: allocatedServices.has(key(service)) || reportedServices.has(key(service)),
      statusOf,
      now: nowIso,
      random,
    });
    const current = new Map(tasks.map((t) => [t.slot, t]));
    await forEachLimit(plan.create, WRITE_CONCURRENCY, async ({ task, previousIncarnation, reason }) => {
      try {
        await store.putTask(task, previousIncarnation);
        const replaced = current.get(task.slot);
        current.set(task.slot, task);
        result.created++;
        log('task created', { task: task.id, reason });
        const about = { namespace: task.namespace, service: task.service, task: task.id };
        if (replaced) event('task.replaced', `task ${replaced.id} replaced by ${task.id}: ${reason}`, { ...about, ...(replaced.host ? { host: replaced.host } : {}) });
        else event('task.created', `task ${task.id} created: ${reason}`, about);
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
        result.conflicts++;
      }
    });
    await forEachLimit(plan.remove, WRITE_CONCURRENCY, async ({ task, reason }) => {
      try {
        await store.deleteTask(task.namespace, task.service, task.slot, task.id);
        current.delete(task.slot);
        result.removed++;
        log('task removed', { task: task.id, reason });
        event('task.removed', `task ${task.id} removed: ${reason}`, { namespace: task.namespace, service: task.service, task: task.id, ...(task.host ? { host: task.host } : {}) });
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
        result.conflicts++;
      }
    });
    await forEachLimit(plan.release, WRITE_CONCURRENCY, async (task) => {
      try {
        await store.releasePrevious(task.namespace, task.service, task.slot, task.id);
        current.set(task.slot, { ...task, previous: undefined });
        result.released++;
        event('task.released', `previous incarnation ${task.previous!.id} on ${task.previous!.host} stopped: ${task.id} runs on ${task.host}`, {
          namespace: task.namespace,
          service: task.service,
          task: task.id,
          host: task.previous!.host,
        });
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
        result.conflicts++;
      }
    });
    if (plan.removeService) {
      await store.removeService(service.namespace, service.name);
      log('service removed', { service: key(service) });
    }
    tasksByService.set(key(service), [...current.values()]);
  }

  const allTasks = [...tasksByService.values()].flat();
  const tasksById = new Map(allTasks.map((t) => [t.id, t]));
  const claims = new Map<string, Task[]>();
  for (const t of allTasks) if (t.host) (claims.get(t.host) ?? claims.set(t.host, []).get(t.host)!).push(t);

  // 2. Place pending tasks. Claims first (only one scheduler can claim a task), allocations after.
  const pending = allTasks.filter((t) => t.desired === 'running' && !t.host);
  const servicesByKey = new Map(services.map((s) => [key(s), s]));
  const requests: PlacementRequest[] = pending.map((t) => {
    const a = allocationFor(t);
    const placement = servicesByKey.get(`${t.namespace}/${t.service}`)?.spec.spec.placement;
    return {
      taskId: t.id,
      namespace: t.namespace,
      service: t.service,
      slot: t.slot,
      resources: a.resources,
      hostPorts: a.hostPorts,
      constraints: placement?.constraints ?? [],
      strategy: placement?.strategy ?? 'spread',
      ...(t.avoidHost ? { avoidHost: t.avoidHost } : {}),
    };
  });
  // Hosts as the scheduler must see them: without stale allocations, with claimed-but-missing ones.
  const liveBefore = assignments(tasksById.values());
  const effective = hostList.map((h) => {
    const review = reviewAllocations(h, liveBefore, claims.get(h.id) ?? []);
    const withMissing = addWhileFits(h.capacity, review.keep, review.missing.map(allocationFor));
    return { ...h, allocations: withMissing.allocations };
  });
  const unavailable = network ? new Map(hostList.filter((h) => !network.networks.has(h.id)).map((h) => [h.id, REJECT.noSubnet])) : undefined;
  const decided = schedule(effective, requests, { seed: `${deps.seed ?? nowIso}`, ...(unavailable ? { unavailable } : {}) });

  const newByHost = new Map<string, Allocation[]>();
  await forEachLimit(decided.placements, WRITE_CONCURRENCY, async (p) => {
    const task = tasksById.get(p.taskId)!;
    try {
      await store.assignTask(task.namespace, task.service, task.slot, task.id, p.hostId);
      const claimed = { ...task, host: p.hostId, unplaceable: undefined };
      tasksById.set(task.id, claimed);
      (claims.get(p.hostId) ?? claims.set(p.hostId, []).get(p.hostId)!).push(claimed);
      (newByHost.get(p.hostId) ?? newByHost.set(p.hostId, []).get(p.hostId)!).push(p.allocation);
      event('task.placed', `task ${task.id} placed on ${p.hostId}`, { namespace: task.namespace, service: task.service, task: task.id, host: p.hostId });
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      result.conflicts++;
    }
  });
  result.unplaceable = decided.failures.length;
  // No write churn for an unchanged reason.
  const newReasons = decided.failures.filter((f) => tasksById.get(f.taskId)!.unplaceable?.message !== f.reason.message);
  await forEachLimit(newReasons, WRITE_CONCURRENCY, async (f) => {
    const task = tasksById.get(f.taskId)!;
    try {
      await store.setTaskUnplaceable(task.namespace, task.service, task.slot, task.id, { ...f.reason, at: nowIso });
      log('task unplaceable', { task: task.id, reason: f.reason.message });
      event('task.unplaceable', `task ${task.id} cannot be placed: ${f.reason.message}`, { namespace: task.namespace, service: task.service, task: task.id });
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      result.conflicts++;
    }
  });

  // 3. Commit each host's allocations in one conditional write: drop stale ones, add missing and new.
  const committed = new Map<string, Host>();
  const live = assignments(tasksById.values());
  await forEachLimit(hostList, WRITE_CONCURRENCY, async (host) => {
    let current: Host | undefined = host;
    for (let attempt = 0; current && attempt < HOST_WRITE_ATTEMPTS; attempt++) {
      const review = reviewAllocations(current, live, claims.get(current.id) ?? []);
      const wanted = [...review.missing.map(allocationFor), ...(newByHost.get(current.id) ?? []).filter((a) => !(a.taskId in review.keep))];
      const next = addWhileFits(current.capacity, review.keep, dedupe(wanted));
      if (review.stale.length === 0 && next.accepted.length === wanted.length && sameKeys(current.allocations, next.allocations)) {
        committed.set(current.id, current);
        break;
      }
      try {
        const updated = await store.updateAllocations(current, next.allocations);
        committed.set(updated.id, updated);
        if (updated.state === 'draining' && Object.keys(updated.allocations).length === 0 && Object.keys(current.allocations).length > 0) {
          event('host.drained', `host ${updated.id} is drained: no task left on it`, { host: updated.id });
        }
        result.placed += next.accepted.filter((a) => !(a.taskId in current!.allocations)).length;
        for (const r of next.rejected) await unclaim(store, tasksById, r, current.id, result);
        break;
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
        result.conflicts++;
        current = await store.getHost(current.id);
      }
    }
  });

  // 3b. Forget down hosts whose machine is gone for good, once they hold nothing.
  if (network && network.gone.size > 0) {
    const forgotten = await forgetGoneHosts(deps, committed, network.gone, result, (host) => {
      log('host forgotten', { host });
      event('host.forgotten', `host ${host} forgotten: its machine is gone for good`, { host });
    });
    if (forgotten.length > 0) result.forgotten = forgotten;
  }

  // 4. Publish each host's document when its content changed.
  const changed: string[] = [];
  await forEachLimit([...committed.values()], WRITE_CONCURRENCY, async (host) => {
    const tasks = documentTasks(host, assignments(tasksById.values()));
    const hostNetwork = network?.networks.get(host.id);
    const hash = documentHash(tasks, hostNetwork);
    const published = await store.getPublished(host.id);
    if (published?.hash === hash) return;
    const generation = (published?.generation ?? 0) + 1;
    await deps.channel.publish(hostDocument(deps.cluster, host.id, generation, tasks, hostNetwork));
    try {
      await store.setPublished(host.id, published?.generation ?? 0, { generation, hash });
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      result.conflicts++;
    }
    changed.push(host.id);
  });
  result.published = changed.sort();
  if (changed.length > 0) await deps.waker.wake(changed);
  if (events.length > 0) await store.putEvents(events);
  return result;
}

/**
 * Forgets the committed hosts that are down, hold no allocation and whose machine is gone: their
 * document, then their record and report (their subnets were released by the network step). They
 * leave `committed`, so no document is published for them. Returns their ids, sorted.
 */
async function forgetGoneHosts(
  deps: PassDeps,
  committed: Map<string, Host>,
  gone: ReadonlySet<string>,
  result: PassResult,
  forgotten: (hostId: string) => void,
): Promise<string[]> {
  const ids: string[] = [];
  for (const host of [...committed.values()]) {
    if (!gone.has(host.id) || host.state !== 'down' || Object.keys(host.allocations).length > 0) continue;
    try {
      // The document first: a host record without a document is harmless for a machine that is gone,
      // a document without a record would be left behind for good.
      await deps.channel.remove(host.id);
      await deps.store.forgetHost(host);
      committed.delete(host.id);
      ids.push(host.id);
      forgotten(host.id);
    } catch (err) {
      // Retried by the next pass (the host is still down and gone); the pass goes on publishing.
      if (err instanceof ConflictError) result.conflicts++;
      else deps.log?.('forgetting a gone host failed; retried next pass', { host: host.id, error: (err as Error).message });
    }
  }
  return ids.sort();
}

/** Newest agent event already copied, per host, in this process: the rest of each ring is skipped. */
const ingested = new Map<string, string>();

async function ingestAgentEvents(store: Store, statuses: readonly { hostId: string; events?: readonly ClusterEvent[] }[]): Promise<void> {
  const fresh: ClusterEvent[] = [];
  const marks = new Map<string, string>();
  for (const s of statuses) {
    const seen = ingested.get(s.hostId) ?? '';
    const newer = (s.events ?? []).filter((e) => `${e.at}|${e.id}` > seen);
    if (newer.length === 0) continue;
    fresh.push(...newer);
    marks.set(s.hostId, newer.reduce((a, e) => (`${e.at}|${e.id}` > a ? `${e.at}|${e.id}` : a), seen));
  }
  if (fresh.length === 0) return;
  // Recording an event id twice keeps one, so a restarted scheduler re-copying a ring is harmless.
  await store.putEvents(fresh);
  for (const [host, mark] of marks) ingested.set(host, mark);
}

async function unclaim(store: Store, tasksById: Map<string, Task>, a: Allocation, hostId: string, result: PassResult): Promise<void> {
  const task = tasksById.get(a.taskId);
  if (!task || task.host !== hostId) return;
  try {
    await store.unassignTask(task.namespace, task.service, task.slot, task.id, hostId);
    tasksById.set(task.id, { ...task, host: undefined });
  } catch (err) {
    if (!(err instanceof ConflictError)) throw err;
    result.conflicts++;
  }
}

function key(s: Pick<Service, 'namespace' | 'name'>): string {
  return `${s.namespace}/${s.name}`;
}

function dedupe(allocs: readonly Allocation[]): Allocation[] {
  const seen = new Set<string>();
  return allocs.filter((a) => (seen.has(a.taskId) ? false : (seen.add(a.taskId), true)));
}

function sameKeys(a: Readonly<Record<string, unknown>>, b: Readonly<Record<string, unknown>>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => k in b);
}
