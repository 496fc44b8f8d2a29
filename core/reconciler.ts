/**
 * The reconciler: a pure diff of a service's desired state against its tasks, into named buckets
 * (create, remove, keep). The caller commits each action with a conditional write and simply
 * runs again on conflict: every decision here depends only on its inputs, so a repeated or
 * concurrent run converges to the same state.
 *
 * A task is one incarnation of one slot (1..replicas) of a service. Slots make concurrent
 * schedulers safe without transactions: creating or replacing a slot's task is a conditional
 * write on the slot's incarnation, so exactly one of two racing writers wins.
 */
import type { Host, PodSpec, Service, Task, TaskStatus } from './types.ts';
import { jsonEqual } from './json.ts';
import { randomSuffix } from './random.ts';
import { desiredReplicas } from './replicas.ts';
import { isCurrent, isReady, planRollout, replicaFailure, templateOf, updatePolicy, type RolloutSlot } from './rollout.ts';

export interface ServicePlan {
  /** New tasks, each for an empty slot (`previousIncarnation` undefined) or replacing the slot's task. */
  readonly create: { readonly task: Task; readonly previousIncarnation: number | undefined; readonly reason: string }[];
  /** Tasks to delete: slots above the replica count, or every task of a deleting service. */
  readonly remove: { readonly task: Task; readonly reason: string }[];
  readonly keep: Task[];
  /** Tasks whose previous incarnation can now be stopped: they run (and are healthy, if probed). */
  readonly release: Task[];
  /** The service is deleting and nothing of it is left anywhere: remove its item. */
  readonly removeService: boolean;
}

/** A task whose probe keeps failing after this many restarts by its agent is moved to another host. */
export const REPLACE_UNHEALTHY_AFTER_RESTARTS = 3;

export interface ReconcileInput {
  readonly service: Service;
  readonly tasks: readonly Task[];
  /** The hosts by id, to replace tasks whose host is down or gone. */
  readonly hosts: ReadonlyMap<string, Pick<Host, 'id' | 'state'>>;
  /** True while some host still holds or reports a task of this service (containers not yet gone). */
  readonly stillOnHosts: boolean;
  /** The report of the task's own host about it, if any. */
  readonly statusOf?: (task: Task) => TaskStatus | undefined;
  readonly now: string;
  readonly random: () => number;
}

/** The pod every task of the service runs: the spec's pod template. */
export function podOf(service: Service): PodSpec {
  return templateOf(service.spec);
}

/** `hello-2-k3x9q`: service, slot and a random suffix; a DNS label and the container's hostname. */
export function taskId(service: string, slot: number, random: () => number): string {
  return `${service}-${slot}-${randomSuffix(random)}`;
}

export function reconcileService(input: ReconcileInput): ServicePlan {
  const { service, now, random } = input;
  const create: ServicePlan['create'][number][] = [];
  const remove: ServicePlan['remove'][number][] = [];
  const keep: Task[] = [];
  const release: Task[] = [];
  const statusOf = input.statusOf ?? (() => undefined);

  if (service.deleting) {
    for (const task of input.tasks) remove.push({ task, reason: 'service deleted' });
    return { create, remove, keep, release, removeService: input.tasks.length === 0 && !input.stillOnHosts };
  }

  const replicas = desiredReplicas(service);
  const pod = podOf(service);
  const update = updatePolicy(service.spec);
  const template = templateOf(pod);
  // A rollout that failed stops replacing; the replicas it left keep serving (docs/spec.md, spec.update).
  const rollout = service.rollout?.specVersion === service.specVersion ? service.rollout : undefined;
  const halted = rollout?.phase === 'failed' || rollout?.phase === 'rolledBack';
  const restartedAt = service.rollout?.restartedAt;
  // Serving, for the budgets and for taking over from an old incarnation: available and not crash-looping.
  const available = (t: Pick<Task, 'id' | 'host'>) => isReady(t.host === undefined ? undefined : statusOf(t as Task), update.minReadySeconds, now);
  const bySlot = new Map<number, Task>();
  for (const task of input.tasks) bySlot.set(task.slot, task);
  // An incarnation kept on a draining host serves until its replacement does: the drain's cost, not
  // the rollout's. Counted against the surge, two drained slots would stop a rollout for good.
  const countsAgainstSurge = (previous: Task['previous']) => previous !== undefined && input.hosts.get(previous.host)?.state !== 'draining';

  const newTask = (slot: number, incarnation: number, reason: string, extra: Partial<Task> = {}): Task => ({
    id: taskId(service.name, slot, random),
    namespace: service.namespace,
    service: service.name,
    slot,
    incarnation,
    specVersion: service.specVersion,
    pod,
    desired: 'running',
    createdAt: now,
    reason,
    ...extra,
  });

  // Outdated slots wait for the rollout planner; `existing` counts the replicas every other decision leaves.
  const candidates: RolloutSlot[] = [];
  let serving = 0;
  let existing = 0;
  for (let slot = 1; slot <= replicas; slot++) {
    const task = bySlot.get(slot);
    if (!task) {
      create.push({ task: newTask(slot, 1, 'new replica'), previousIncarnation: undefined, reason: 'new replica' });
      existing++;
      continue;
    }
    let replace = replacement(task, input.hosts, statusOf(task));
    const previousHost = task.previous && input.hosts.get(task.previous.host);
    if (replace && !replace.extra?.previous && previousHost && previousHost.state !== 'down') {
      // The incarnation this one was replacing still serves: it keeps serving until the new one is available.
      replace = { ...replace, extra: { ...replace.extra, previous: task.previous } };
    }
    if (replace) {
      create.push({ task: newTask(slot, task.incarnation + 1, replace.reason, replace.extra), previousIncarnation: task.incarnation, reason: replace.reason });
      existing += countsAgainstSurge(replace.extra?.previous) ? 2 : 1;
      continue;
    }
    const previous = task.previous;
    if (
      previous &&
      !isCurrent(task, template, undefined) &&
      jsonEqual(templateOf(previous.pod), template) &&
      hostServes(input.hosts, previous.host) &&
      // Not at the cost of a serving replica: a kept incarnation that failed (it crash-loops) is
      // released below, and the slot rolls within the budgets like any other outdated one.
      !(replicaFailure(statusOf({ id: previous.id, host: previous.host } as Task), now) !== undefined && available(task))
    ) {
      // Back to the template the kept incarnation runs (a rollback, an undo, a reverting apply):
      // that incarnation becomes the slot's task again, its container untouched.
      const restored = {
        ...task,
        id: previous.id,
        host: previous.host,
        specVersion: previous.specVersion,
        pod: previous.pod,
        incarnation: task.incarnation + 1,
        createdAt: now,
        reason: RESTORED,
      };
      delete (restored as { previous?: unknown }).previous;
      delete (restored as { avoidHost?: unknown }).avoidHost;
      delete (restored as { unplaceable?: unknown }).unplaceable;
      create.push({ task: restored, previousIncarnation: task.incarnation, reason: `version ${task.specVersion} replaced by its previous incarnation` });
      existing++;
      continue;
    }
    const releasing = previous !== undefined && canRelease(task, input.hosts, available);
    const slotServes = available(task) || (previous !== undefined && available({ id: previous.id, host: previous.host }));
    if (slotServes) serving++;
    existing += !releasing && countsAgainstSurge(previous) ? 2 : 1;
    if (!isCurrent(task, template, restartedAt) && !halted) {
      candidates.push({ slot, available: slotServes, hasPrevious: previous !== undefined && !releasing });
    }
    keep.push(task);
    if (releasing) release.push(task);
  }
  const step = planRollout({ replicas, update, outdated: candidates, serving, existing });
  for (const [slots, surge] of [
    [step.surge, true],
    [step.unavailable, false],
  ] as const) {
    for (const slot of slots) {
      const task = bySlot.get(slot)!;
      const reason = restartedAt !== undefined && isCurrent(task, template, undefined) ? 'restarted' : `rolled to version ${service.specVersion}`;
      // New first: the old incarnation (the task, or the one it keeps) serves until the new one is available.
      const kept = surge
        ? available(task) && task.host
          ? { id: task.id, host: task.host, specVersion: task.specVersion, pod: task.pod }
          : task.previous
        : undefined;
      create.push({ task: newTask(slot, task.incarnation + 1, reason, kept ? { previous: kept } : {}), previousIncarnation: task.incarnation, reason });
      keep.splice(keep.indexOf(task), 1);
      const released = release.indexOf(task);
      if (released >= 0) release.splice(released, 1);
    }
  }
  for (const task of input.tasks) {
    if (task.slot > replicas) remove.push({ task, reason: `scaled to ${replicas}` });
  }
  return { create, remove, keep, release, removeService: false };
}

/** The reason of a task that is its slot's previous incarnation again: its restarts are its past, not the rollout's. */
export const RESTORED = 'back to its previous incarnation';

/** A host that still runs what it holds: not gone, down or draining. */
function hostServes(hosts: ReconcileInput['hosts'], id: string): boolean {
  const state = hosts.get(id)?.state;
  return state !== undefined && state !== 'down' && state !== 'draining';
}

function replacement(task: Task, hosts: ReconcileInput['hosts'], status: TaskStatus | undefined): { reason: string; extra?: Partial<Task> } | undefined {
  if (task.desired !== 'running') return { reason: 'task was stopped' };
  if (task.host === undefined) return undefined;
  const host = hosts.get(task.host);
  if (!host) return { reason: `host ${task.host} is gone` };
  if (host.state === 'down') return { reason: `host ${task.host} is down` };
  if (host.state === 'draining' && !task.previous) {
    // New first, then the old stopped: the old incarnation keeps running until this one runs.
    return { reason: `host ${task.host} is draining`, extra: { previous: { id: task.id, host: task.host, specVersion: task.specVersion, pod: task.pod } } };
  }
  if (status?.health === 'unhealthy' && (status.restarts ?? 0) >= REPLACE_UNHEALTHY_AFTER_RESTARTS) {
    return { reason: `unhealthy after ${status.restarts} restarts on ${task.host}`, extra: { avoidHost: task.host } };
  }
  return undefined;
}

/** The previous incarnation may stop once this one is available (runs, passes its probe, minReadySeconds), or when its host is gone. */
function canRelease(task: Task, hosts: ReconcileInput['hosts'], available: (t: Task) => boolean): boolean {
  const previousHost = hosts.get(task.previous!.host);
  if (!previousHost || previousHost.state === 'down') return true;
  return available(task);
}
