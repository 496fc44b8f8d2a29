/**
 * Per-host services (`mode: global`, Swarm's name; a DaemonSet in Kubernetes), pure: one task on
 * every ready host that matches the service's constraints. Each task is pinned to its host
 * (`Task.pinnedHost`; placement turns the pin into the constraint `skiff.host == <id>`, so a host
 * without room leaves its task pending with the scheduler's reason). A host that leaves, goes down,
 * drains or stops matching loses its task; one that joins or comes back gets one. Slots are only
 * names here: a new host takes the lowest free one.
 */
import type { Host, Service, Task } from './types.ts';
import { jsonEqual } from './json.ts';
import { podOf, reconcileService, taskId, type ReconcileInput, type ServicePlan } from './reconciler.ts';
import { parseConstraint } from './spec/fields.ts';

/** The host label placement matches a pinned task with; set on every host for scheduling only. */
export const PIN_LABEL = 'skiff.host';

/** Which planner a workload gets in a pass. */
export function workloadPlanner(service: Service): 'job' | 'cron' | 'global' | 'replicated' {
  if (service.spec.kind === 'Job') return 'job';
  if (service.spec.kind === 'CronJob') return 'cron';
  return service.spec.spec.mode === 'global' ? 'global' : 'replicated';
}

/** The constraint that keeps a pinned task on its host. */
export function pinConstraint(hostId: string): string {
  return `${PIN_LABEL} == ${hostId}`;
}

/** True when the host's labels satisfy every constraint (as the scheduler checks them). */
export function matchesConstraints(host: Pick<Host, 'labels'>, constraints: readonly string[]): boolean {
  return constraints.every((text) => {
    const c = parseConstraint(text);
    if (!c) return false;
    const has = Object.hasOwn(host.labels, c.key) ? host.labels[c.key] : undefined;
    return c.op === '==' ? has === c.value : has !== c.value;
  });
}

/** Why a host holds no task of the service, or undefined when it should hold one. */
function notEligible(host: Host | undefined, constraints: readonly string[]): string | undefined {
  if (!host) return 'host is gone';
  if (host.state === 'down') return `host ${host.id} is down`;
  if (host.state === 'draining') return `host ${host.id} is draining`;
  if (!matchesConstraints(host, constraints)) return `host ${host.id} no longer matches the constraints`;
  return undefined;
}

export function planGlobal(input: ReconcileInput & { readonly allHosts: readonly Host[] }): ServicePlan {
  const { service, now, random } = input;
  if (service.deleting) return reconcileService(input);
  const constraints = service.spec.spec.placement.constraints;
  const pod = podOf(service);
  const create: ServicePlan['create'][number][] = [];
  const remove: ServicePlan['remove'][number][] = [];
  const keep: Task[] = [];
  const byId = new Map(input.allHosts.map((h) => [h.id, h]));
  const covered = new Set<string>();
  const usedSlots = new Set(input.tasks.map((t) => t.slot));

  const newTask = (slot: number, incarnation: number, host: string, reason: string): Task => ({
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
    pinnedHost: host,
  });

  for (const task of input.tasks) {
    const pin = task.pinnedHost;
    if (pin === undefined) {
      remove.push({ task, reason: 'the service runs one replica per host now (mode: global)' });
      continue;
    }
    const why = covered.has(pin) ? `host ${pin} already has a replica` : notEligible(byId.get(pin), constraints);
    if (why) {
      remove.push({ task, reason: why });
      continue;
    }
    covered.add(pin);
    if (task.desired !== 'running' || !jsonEqual(task.pod, pod)) {
      // Stop first, then start: the host has room for one replica of the service, not two.
      const reason = task.desired !== 'running' ? 'task was stopped' : 'spec changed';
      create.push({ task: newTask(task.slot, task.incarnation + 1, pin, reason), previousIncarnation: task.incarnation, reason });
      continue;
    }
    keep.push(task);
  }
  let slot = 1;
  for (const host of [...input.allHosts].sort((a, b) => (a.id < b.id ? -1 : 1))) {
    if (covered.has(host.id) || host.state !== 'ready' || notEligible(host, constraints)) continue;
    while (usedSlots.has(slot)) slot++;
    usedSlots.add(slot);
    create.push({ task: newTask(slot, 1, host.id, `new host ${host.id}`), previousIncarnation: undefined, reason: `one replica per host: ${host.id}` });
  }
  return { create, remove, keep, release: [], removeService: false };
}
