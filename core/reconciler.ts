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
import type { Host, PodSpec, Service, Task } from './types.ts';
import { jsonEqual } from './json.ts';
import { randomSuffix } from './random.ts';

export interface ServicePlan {
  /** New tasks, each for an empty slot (`previousIncarnation` undefined) or replacing the slot's task. */
  readonly create: { readonly task: Task; readonly previousIncarnation: number | undefined; readonly reason: string }[];
  /** Tasks to delete: slots above the replica count, or every task of a deleting service. */
  readonly remove: { readonly task: Task; readonly reason: string }[];
  readonly keep: Task[];
  /** The service is deleting and nothing of it is left anywhere: remove its item. */
  readonly removeService: boolean;
}

export interface ReconcileInput {
  readonly service: Service;
  readonly tasks: readonly Task[];
  /** The hosts by id, to replace tasks whose host is down or gone. */
  readonly hosts: ReadonlyMap<string, Pick<Host, 'id' | 'state'>>;
  /** True while some host still holds or reports a task of this service (containers not yet gone). */
  readonly stillOnHosts: boolean;
  readonly now: string;
  readonly random: () => number;
}

/** The pod every task of the service runs. */
export function podOf(service: Service): PodSpec {
  return { containers: service.spec.spec.containers, restartPolicy: service.spec.spec.restartPolicy };
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

  if (service.deleting) {
    for (const task of input.tasks) remove.push({ task, reason: 'service deleted' });
    return { create, remove, keep, removeService: input.tasks.length === 0 && !input.stillOnHosts };
  }

  const replicas = service.spec.spec.replicas;
  const pod = podOf(service);
  const bySlot = new Map<number, Task>();
  for (const task of input.tasks) bySlot.set(task.slot, task);

  const newTask = (slot: number, incarnation: number): Task => ({
    id: taskId(service.name, slot, random),
    namespace: service.namespace,
    service: service.name,
    slot,
    incarnation,
    specVersion: service.specVersion,
    pod,
    desired: 'running',
    createdAt: now,
  });

  for (let slot = 1; slot <= replicas; slot++) {
    const task = bySlot.get(slot);
    if (!task) {
      create.push({ task: newTask(slot, 1), previousIncarnation: undefined, reason: 'new replica' });
      continue;
    }
    const replaceBecause = replacementReason(task, pod, input.hosts);
    if (replaceBecause) {
      create.push({ task: newTask(slot, task.incarnation + 1), previousIncarnation: task.incarnation, reason: replaceBecause });
    } else {
      keep.push(task);
    }
  }
  for (const task of input.tasks) {
    if (task.slot > replicas) remove.push({ task, reason: `scaled to ${replicas}` });
  }
  return { create, remove, keep, removeService: false };
}

function replacementReason(task: Task, pod: PodSpec, hosts: ReconcileInput['hosts']): string | undefined {
  if (task.desired !== 'running') return 'task was stopped';
  if (!jsonEqual(task.pod, pod)) return 'spec changed';
  if (task.host !== undefined) {
    const host = hosts.get(task.host);
    if (!host) return `host ${task.host} is gone`;
    if (host.state === 'down') return `host ${task.host} is down`;
  }
  return undefined;
}
