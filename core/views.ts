/** What the API shows: the control plane's records joined with the agents' reports. Pure. */
import type { Host, HostStatus, HostView, Task, TaskStatus, TaskView } from './types.ts';
import { allocated } from './scheduler.ts';
import { allocationFor } from './allocations.ts';

/** Why a pending task waits: the scheduler's reason, then the host autoscaler's note. */
function unplaceableMessage(u: NonNullable<Task['unplaceable']>): string {
  return u.waiting ? `${u.message}; ${u.waiting}` : u.message;
}

/** A task as users see it. `status` is the report of the task's host, when there is one. */
export function taskView(task: Task, status: TaskStatus | undefined, host: Pick<Host, 'state'> | undefined): TaskView {
  const base = {
    id: task.id,
    namespace: task.namespace,
    service: task.service,
    slot: task.slot,
    host: task.host ?? null,
    desired: task.desired,
    specVersion: task.specVersion,
    createdAt: task.createdAt,
    reserved: allocationFor(task).resources,
  };
  if (!task.host) {
    return { ...base, state: 'pending', ports: [], ...(task.unplaceable ? { message: unplaceableMessage(task.unplaceable) } : {}) };
  }
  if (host?.state === 'down') return { ...base, state: 'lost', ports: [], message: `host ${task.host} is down` };
  if (!status) return { ...base, state: 'assigned', ports: [] };
  return {
    ...base,
    state: status.state,
    ...(status.health ? { health: status.health } : {}),
    ...(status.restarts ? { restarts: status.restarts } : {}),
    ...(status.lastExitCode !== undefined ? { lastExitCode: status.lastExitCode } : {}),
    ...(status.exitCode !== undefined ? { exitCode: status.exitCode } : {}),
    ...(status.message ? { message: status.message } : {}),
    ports: status.ports.map((p) => ({ containerPort: p.containerPort, hostIp: p.hostIp, hostPort: p.hostPort, protocol: p.protocol, container: p.container })),
    ...(status.address ? { address: status.address } : {}),
    since: status.since,
    ...(status.usage ? { usage: status.usage } : {}),
  };
}

export function hostView(host: Host, status: HostStatus | undefined): HostView {
  return {
    id: host.id,
    address: host.address,
    state: host.state,
    labels: host.labels,
    capacity: host.capacity,
    allocated: allocated(host),
    tasks: Object.keys(host.allocations).length,
    heartbeatAt: status?.heartbeatAt ?? null,
    registeredAt: host.registeredAt,
  };
}

/** Index the task reports of every host by task id, keeping only the report of the task's own host. */
export function statusIndex(statuses: readonly HostStatus[]): Map<string, { hostId: string; status: TaskStatus }> {
  const out = new Map<string, { hostId: string; status: TaskStatus }>();
  for (const hs of statuses) for (const ts of hs.tasks) out.set(`${hs.hostId}\u0000${ts.taskId}`, { hostId: hs.hostId, status: ts });
  return out;
}

export function statusOf(index: ReturnType<typeof statusIndex>, task: Task): TaskStatus | undefined {
  return task.host ? index.get(`${task.host}\u0000${task.id}`)?.status : undefined;
}

export interface ViewOptions {
  /**
   * When the control plane (re)started, in ms: a host's report last written before it is not shown
   * as the task's state. Right after `skiff local up` over an old cluster the store still holds the
   * reports of agents that stopped with it; showing them would say `running` for containers that may
   * be long gone, until each agent reports again. Its tasks show `assigned`, with a message, instead.
   */
  readonly reportsSince?: number;
}

/** Every task as users see it, joined with its own host's report; ordered by service, then slot. */
export function taskViews(
  tasks: readonly Task[],
  statuses: readonly HostStatus[],
  hosts: readonly Pick<Host, 'id' | 'state'>[],
  options: ViewOptions = {},
): TaskView[] {
  const since = options.reportsSince;
  // The heartbeat time is the later of the report's and its heartbeat's: an agent that beats is current.
  const isStale = (s: HostStatus) => since !== undefined && Date.parse(s.heartbeatAt) < since;
  const index = statusIndex(statuses.filter((s) => !isStale(s)));
  const stale = new Set(statuses.filter(isStale).map((s) => s.hostId));
  const hostById = new Map(hosts.map((h) => [h.id, h]));
  return tasks
    .map((t) => {
      const view = taskView(t, statusOf(index, t), t.host ? hostById.get(t.host) : undefined);
      if (!t.host || !stale.has(t.host) || view.state !== 'assigned') return view;
      const at = new Date(since!).toISOString();
      return { ...view, message: `no report from host ${t.host} since the control plane started at ${at}; its state is unknown until it reports` };
    })
    .sort((a, b) => (a.namespace + a.service).localeCompare(b.namespace + b.service) || a.slot - b.slot);
}
