/**
 * One run of the host autoscaler: read the group and the cluster, let core/host-autoscale.ts
 * decide, then apply the decision: at most one scaling action (raise the desired capacity, drain
 * a host, terminate a drained one, or take a drained one back), the scale-in protection of the
 * group's instances, and the note on each pending task ("waiting for a new host (2 requested)").
 *
 * Runs on a schedule (a one-minute EventBridge rule on AWS, a timer locally); every run starts from
 * what the group and the store say, so a lost or repeated run changes nothing. The one memory
 * between runs, since when each host has been unneeded, is `HostAutoscalerState`: losing it (a
 * cold start) only delays a scale-in.
 */
import type { GroupState, HostScalingPolicy, HostTemplate } from '../core/host-autoscale.ts';
import { planHostScaling, terminatedHostsToForget } from '../core/host-autoscale.ts';
import { SkiffError } from '../core/errors.ts';
import type { ClusterEvent, Host, Task } from '../core/types.ts';
import type { HostGroup } from '../ports/host-group.ts';
import type { HostChannel, Store } from '../ports/index.ts';

export interface HostAutoscalerDeps {
  readonly store: Store;
  readonly group: HostGroup;
  readonly policy: HostScalingPolicy;
  /** The shape of a new host when no host of the group is registered (a group at zero). */
  readonly fallbackTemplate?: HostTemplate;
  readonly now: () => Date;
  /** A scheduler pass after a drain, so the host's tasks start moving at once. */
  readonly kickScheduler?: () => Promise<void>;
  /** With it, hosts the autoscaler terminated are forgotten (document, then record) once they are down. */
  readonly channel?: HostChannel;
  readonly log?: (message: string, data?: Record<string, unknown>) => void;
}

/** Kept between runs by the caller (the handler's module scope, the local timer). */
export interface HostAutoscalerState {
  unneededSince: ReadonlyMap<string, string>;
  /** Since when each instance of the group has been seen unregistered: losing it only delays a timeout. */
  unregisteredSince?: ReadonlyMap<string, string>;
}

export function newHostAutoscalerState(): HostAutoscalerState {
  return { unneededSince: new Map(), unregisteredSince: new Map() };
}

export interface HostAutoscalerResult {
  readonly action: string;
  readonly host?: string;
  readonly desired?: number;
  readonly reason: string;
  readonly upcoming: number;
  readonly waiting: number;
  readonly tooBig: number;
  readonly protected: number;
  readonly unprotected: number;
  /** Terminated hosts forgotten by this run. */
  readonly forgotten: readonly string[];
}

/** The event type the autoscaler records when it drains a host: it is how a later run knows the drain is its own. */
export const SCALE_IN_EVENT = 'host.scale-in';
/** The event type of a termination by the autoscaler: a later run forgets the host once it is down. */
export const TERMINATED_EVENT = 'host.terminated';
/** Events of a host read to find who drained it: the drain is among the newest few. */
const HOST_EVENTS_READ = 20;

export async function runHostAutoscaler(deps: HostAutoscalerDeps, state: HostAutoscalerState): Promise<HostAutoscalerResult> {
  const { store, group: port } = deps;
  const log = deps.log ?? (() => undefined);
  const now = deps.now();
  const nowIso = now.toISOString();
  const [group, hosts, tasks, services] = await Promise.all([port.describe(), store.listHosts(), store.listAllTasks(), store.listServices()]);
  const drainedByAutoscaler = await drainedByUs(store, group, hosts);

  const plan = planHostScaling({
    group,
    hosts,
    tasks,
    services,
    ...(deps.fallbackTemplate ? { fallbackTemplate: deps.fallbackTemplate } : {}),
    drainedByAutoscaler,
    unneededSince: state.unneededSince,
    ...(state.unregisteredSince ? { unregisteredSince: state.unregisteredSince } : {}),
    policy: deps.policy,
    now: nowIso,
    seed: nowIso,
  });
  state.unneededSince = plan.unneededSince;
  state.unregisteredSince = plan.unregisteredSince;

  // Protection first: a host that just got tasks must be safe from the group before anything else happens.
  await protect(port, plan.protect, true, log);
  await protect(port, plan.unprotect, false, log);

  const events: ClusterEvent[] = [];
  const event = (type: string, message: string, host?: string) =>
    events.push({ id: `${nowIso}-${type}-${host ?? group.name}`, at: nowIso, type, message, ...(host ? { host } : {}) });
  const a = plan.action;
  switch (a.kind) {
    case 'scale-out':
      await port.setDesiredCapacity(a.desired);
      event('hosts.scale-out', `group ${group.name}: ${a.reason}`);
      log('scale out', { group: group.name, desired: a.desired, added: a.added });
      break;
    case 'drain':
      await store.setHostState(a.host, 'draining', nowIso);
      event(SCALE_IN_EVENT, `host ${a.host} is draining to be removed: ${a.reason}`, a.host);
      log('drain', { host: a.host });
      break;
    case 'terminate':
      await port.terminateAndDecrement(a.host);
      event(TERMINATED_EVENT, `host ${a.host} terminated and group ${group.name} lowered to ${group.desired - 1}: ${a.reason}`, a.host);
      log('terminate', { host: a.host });
      break;
    case 'uncordon':
      await store.setHostState(a.host, 'ready', nowIso);
      event('host.uncordoned', `host ${a.host} takes new tasks again: ${a.reason}`, a.host);
      break;
    case 'none':
      break;
  }
  if (events.length > 0) await store.putEvents(events);
  if ((a.kind === 'drain' || a.kind === 'uncordon') && deps.kickScheduler) await deps.kickScheduler();

  // The notes on pending tasks: what each waits for, or why no host of the group helps it.
  const notes = new Map<string, string>();
  for (const w of plan.waiting) notes.set(w.taskId, w.note);
  for (const t of plan.tooBig) notes.set(t.taskId, `no new host helps: ${t.reason}`);
  for (const id of plan.capped) notes.set(id, `needs a new host, but group ${group.name} is at its max of ${group.max}`);
  await writeNotes(store, tasks, notes, log);
  const forgotten = deps.channel ? await forgetTerminated(store, deps.channel, group, hosts, nowIso, log) : [];

  return {
    action: a.kind,
    ...(a.kind !== 'none' && a.kind !== 'scale-out' ? { host: a.host } : {}),
    ...(a.kind === 'scale-out' ? { desired: a.desired } : {}),
    reason: a.reason,
    upcoming: plan.upcoming,
    waiting: plan.waiting.length,
    tooBig: plan.tooBig.length,
    protected: plan.protect.length,
    unprotected: plan.unprotect.length,
    forgotten,
  };
}

/** Forgets the down hosts the autoscaler terminated (their document first, as the scheduler's forget step does). */
async function forgetTerminated(
  store: Store,
  channel: HostChannel,
  group: GroupState,
  hosts: readonly Host[],
  nowIso: string,
  log: (m: string, d?: Record<string, unknown>) => void,
): Promise<string[]> {
  const inGroup = new Set(group.instances.map((i) => i.id));
  const candidates = hosts.filter((h) => h.state === 'down' && !inGroup.has(h.id));
  const terminated = new Set<string>();
  await Promise.all(
    candidates.map(async (h) => {
      const events = await store.listEvents({ host: h.id, limit: HOST_EVENTS_READ });
      if (events.some((e) => e.type === TERMINATED_EVENT)) terminated.add(h.id);
    }),
  );
  const out: string[] = [];
  for (const host of terminatedHostsToForget(group, hosts, terminated)) {
    try {
      await channel.remove(host.id);
      await store.forgetHost(host);
      out.push(host.id);
    } catch (err) {
      // Changed meanwhile (it came back, or the scheduler forgot it first): the next run looks again.
      if (!(err instanceof SkiffError)) throw err;
      log('forgetting a terminated host failed; retried next run', { host: host.id, error: err.message });
    }
  }
  if (out.length > 0) {
    await store.putEvents(
      out.map((id) => ({
        id: `${nowIso}-host.forgotten-${id}`,
        at: nowIso,
        type: 'host.forgotten',
        host: id,
        message: `host ${id} forgotten: the host autoscaler terminated it`,
      })),
    );
  }
  return out;
}

/** The group's draining hosts whose newest drain event is the autoscaler's own. */
async function drainedByUs(store: Store, group: GroupState, hosts: readonly Host[]): Promise<Set<string>> {
  const members = new Set(group.instances.map((i) => i.id));
  const draining = hosts.filter((h) => h.state === 'draining' && members.has(h.id));
  const ours = new Set<string>();
  await Promise.all(
    draining.map(async (h) => {
      const events = await store.listEvents({ host: h.id, limit: HOST_EVENTS_READ });
      // Newest last: the latest drain or uncordon decides (a person may have drained it again since).
      const last = events.filter((e) => e.type === SCALE_IN_EVENT || e.type === 'host.draining' || e.type === 'host.uncordoned').at(-1);
      if (last?.type === SCALE_IN_EVENT) ours.add(h.id);
    }),
  );
  return ours;
}

async function protect(port: HostGroup, ids: readonly string[], on: boolean, log: (m: string, d?: Record<string, unknown>) => void): Promise<void> {
  if (ids.length === 0) return;
  try {
    await port.setScaleInProtection(ids, on);
  } catch (err) {
    // An instance that left the group meanwhile: the next run sees the group anew.
    if (!(err instanceof SkiffError)) throw err;
    log('scale-in protection failed; retried next run', { instances: ids, protect: on, error: err.message });
  }
}

/** Writes each pending task's note where it changed, and clears the notes no longer true. */
async function writeNotes(
  store: Store,
  tasks: readonly Task[],
  notes: ReadonlyMap<string, string>,
  log: (m: string, d?: Record<string, unknown>) => void,
): Promise<void> {
  for (const t of tasks) {
    if (t.host || !t.unplaceable) continue;
    const note = notes.get(t.id);
    if (t.unplaceable.waiting === note) continue;
    const { waiting: _, ...rest } = t.unplaceable;
    try {
      await store.setTaskUnplaceable(t.namespace, t.service, t.slot, t.id, note ? { ...rest, waiting: note } : rest);
    } catch (err) {
      // Placed or replaced meanwhile: its note no longer matters.
      if (!(err instanceof SkiffError)) throw err;
      log('task note not written', { task: t.id, error: err.message });
    }
  }
}
