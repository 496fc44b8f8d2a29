/**
 * The horizontal autoscaler's use case: for each autoscaled service, read what its replicas use
 * (the agents' reports) and what the load balancer counts, let core/autoscale.ts decide, and write
 * the new count with `setServiceScale` (never the spec: a scale never rolls tasks, and a rollout
 * never resets it). Runs on a timer locally and on a schedule and alarm state changes on AWS
 * (docs/autoscaling.md); one run evaluates every autoscaled service.
 *
 * The recommendation history (HPA's stabilization windows) lives in an injected `AutoscalerMemory`,
 * as HPA keeps it in the controller's memory. A fresh memory (a restarted process, a cold Lambda)
 * scales up at once but waits a whole scale-down window before it scales down: it never removes
 * replicas on a window it did not watch.
 */
import { decideReplicas, measure, type MetricReading, type Recommendation, type ReplicaSample } from '../core/autoscale.ts';
import { ConflictError } from '../core/errors.ts';
import { replicasWithinQuota, type Namespace } from '../core/namespace.ts';
import { desiredReplicas } from '../core/replicas.ts';
import type { ClusterEvent, HostStatus, Service, Task, TaskStatus } from '../core/types.ts';
import type { Store } from '../ports/index.ts';

/** Requests per second per serving replica of each service, from the load balancer (the ALB's RequestCountPerTarget, the local proxy's count). */
export interface RequestRates {
  /** Over the last minute or so, by `namespace/name`; a service absent from the map is not known. */
  requestsPerReplica(services: readonly { namespace: string; name: string }[]): Promise<ReadonlyMap<string, number>>;
}

export const serviceKey = (namespace: string, name: string): string => `${namespace}/${name}`;

/** The recommendation history per service, kept between runs. */
export class AutoscalerMemory {
  private readonly history = new Map<string, readonly Recommendation[]>();
  private readonly since = new Map<string, number>();
  private readonly blocked = new Map<string, string>();

  /** The history of a service, and since when it has been watched (its first run here). */
  get(key: string, now: number): { history: readonly Recommendation[]; watchedSince: number } {
    if (!this.since.has(key)) this.since.set(key, now);
    return { history: this.history.get(key) ?? [], watchedSince: this.since.get(key)! };
  }

  set(key: string, history: readonly Recommendation[]): void {
    this.history.set(key, history);
  }

  /** Records why a service cannot grow; true when that is news (so the event is written once, not every run). */
  noteBlocked(key: string, why: string | undefined): boolean {
    const before = this.blocked.get(key);
    if (why === undefined) this.blocked.delete(key);
    else this.blocked.set(key, why);
    return why !== undefined && why !== before;
  }

  /** Forget services no longer autoscaled, so the memory stays bounded by the services that are. */
  retain(keys: ReadonlySet<string>): void {
    for (const k of this.since.keys()) if (!keys.has(k)) this.since.delete(k);
    for (const k of this.history.keys()) if (!keys.has(k)) this.history.delete(k);
    for (const k of this.blocked.keys()) if (!keys.has(k)) this.blocked.delete(k);
  }
}

export interface AutoscalerDeps {
  readonly store: Pick<Store, 'listServices' | 'listTasks' | 'listHostStatuses' | 'setServiceScale' | 'putEvents'>;
  readonly memory: AutoscalerMemory;
  readonly now: () => Date;
  readonly requests?: RequestRates;
  /** The namespaces, for their quotas: a scale-up stops at the quota and says so. Absent: no quota is read. */
  readonly namespaces?: { getNamespace(name: string): Promise<Namespace | undefined> };
  /** Keeps one alarm per request-rate service (CloudWatch): its state change wakes the autoscaler between runs. */
  readonly alarms?: { syncAlarms(services: readonly Service[]): Promise<unknown> };
  /** A scheduler pass soon after a scale (locally; on AWS the service item's stream record triggers it). */
  readonly kickScheduler?: () => Promise<void>;
  readonly log?: (level: 'info' | 'warn', message: string, data?: Record<string, unknown>) => void;
}

/** One service's readings, in the run's result (logs, tests). */
export interface ServiceReadings {
  readonly namespace: string;
  readonly name: string;
  readonly replicas: number;
  readonly readings: readonly MetricReading[];
}

export interface AutoscalerResult {
  readonly evaluated: number;
  /** The services whose count changed: `web 3 → 6: cpu 91% of 60% target`. */
  readonly scaled: readonly string[];
  /** Services whose write lost a race (a new spec applied meanwhile): evaluated again next run. */
  readonly conflicts: readonly string[];
  readonly services: readonly ServiceReadings[];
}

function podReservation(task: Task): { cpu: number; memory: number } {
  return task.pod.containers.reduce((sum, c) => ({ cpu: sum.cpu + c.resources.cpu, memory: sum.memory + c.resources.memory }), { cpu: 0, memory: 0 });
}

/**
 * A service's replicas as the decision sees them: every task that should run, ready when it runs
 * and (if probed) is healthy, with its usage in percent of its own pod's reservation (a rollout's
 * old and new pods may reserve differently).
 */
export function replicaSamples(tasks: readonly Task[], statuses: ReadonlyMap<string, TaskStatus>): ReplicaSample[] {
  return tasks
    .filter((t) => t.desired === 'running')
    .map((task): ReplicaSample => {
      const s = statuses.get(task.id);
      const running = s?.state === 'running';
      const reserved = podReservation(task);
      return {
        taskId: task.id,
        ready: running && s.health !== 'starting' && s.health !== 'unhealthy',
        ...(running ? { startedAt: Date.parse(s.since) } : {}),
        ...(running && s.usage && reserved.cpu > 0 ? { cpu: (s.usage.cpu / reserved.cpu) * 100 } : {}),
        ...(running && s.usage && reserved.memory > 0 ? { memory: (s.usage.memory / reserved.memory) * 100 } : {}),
      };
    });
}

/** Every task status the agents report, by task id (a task reported by two hosts: the running one). */
export function statusesByTask(statuses: readonly HostStatus[]): Map<string, TaskStatus> {
  const byTask = new Map<string, TaskStatus>();
  for (const hs of statuses) for (const t of hs.tasks) if (!byTask.has(t.taskId) || t.state === 'running') byTask.set(t.taskId, t);
  return byTask;
}

/** The current readings of one service, without deciding: what `skiff describe service` shows. */
export function currentReadings(service: Service, tasks: readonly Task[], statuses: ReadonlyMap<string, TaskStatus>, now: number, requestsPerReplica?: number) {
  const a = service.spec.spec.autoscaling;
  if (!a) return [];
  return measure({ autoscaling: a, current: desiredReplicas(service), replicas: replicaSamples(tasks, statuses), now, requestsPerReplica });
}

/** One evaluation of every autoscaled service. */
export async function runAutoscaler(deps: AutoscalerDeps): Promise<AutoscalerResult> {
  const at = deps.now();
  const now = at.getTime();
  const all = await deps.store.listServices();
  const services = all.filter((s) => s.spec.spec.autoscaling && !s.deleting);
  deps.memory.retain(new Set(services.map((s) => serviceKey(s.namespace, s.name))));
  // Before the early return: a service that lost its request target loses its alarm.
  await deps.alarms?.syncAlarms(services).catch((err: Error) => deps.log?.('warn', 'autoscaler alarms not synced', { error: err.message }));
  if (services.length === 0) return { evaluated: 0, scaled: [], conflicts: [], services: [] };
  const [statuses, rates] = await Promise.all([
    deps.store.listHostStatuses().then(statusesByTask),
    deps.requests && services.some((s) => s.spec.spec.autoscaling?.targetRequestsPerReplica !== undefined)
      ? deps.requests
          .requestsPerReplica(
            services.filter((s) => s.spec.spec.autoscaling?.targetRequestsPerReplica !== undefined).map((s) => ({ namespace: s.namespace, name: s.name })),
          )
          .catch((err: Error) => {
            // Without a count the request target is "not measured": no scale-down, and the other targets still act.
            deps.log?.('warn', 'request rates unavailable', { error: err.message });
            return new Map<string, number>();
          })
      : new Map<string, number>(),
  ]);
  const scaled: string[] = [];
  const conflicts: string[] = [];
  const events: ClusterEvent[] = [];
  const readings: ServiceReadings[] = [];
  for (const service of services) {
    const key = serviceKey(service.namespace, service.name);
    const tasks = await deps.store.listTasks(service.namespace, service.name);
    const { history, watchedSince } = deps.memory.get(key, now);
    const current = desiredReplicas(service);
    const decision = decideReplicas({
      name: service.name,
      autoscaling: service.spec.spec.autoscaling!,
      current,
      replicas: replicaSamples(tasks, statuses),
      requestsPerReplica: rates.get(key),
      history,
      watchedSince,
      now,
    });
    deps.memory.set(key, decision.history);
    readings.push({ namespace: service.namespace, name: service.name, replicas: decision.replicas, readings: decision.readings });
    if (!decision.changed) {
      deps.memory.noteBlocked(key, undefined);
      continue;
    }
    let { replicas, reason, message } = decision;
    if (replicas > current && deps.namespaces) {
      const cap = replicasWithinQuota(await deps.namespaces.getNamespace(service.namespace), all, service, current, replicas);
      const why = cap.replicas < replicas ? `stopped at the quota: ${cap.problems.join('; ')}` : undefined;
      const news = deps.memory.noteBlocked(key, why);
      if (why !== undefined && cap.replicas === current) {
        if (news)
          events.push({
            id: `autoscale-${service.namespace}-${service.name}-${now}`,
            at: at.toISOString(),
            type: 'service.scale-blocked',
            message: `${service.name} stays at ${current} (wants ${replicas}: ${decision.reason}): ${why}`,
            namespace: service.namespace,
            service: service.name,
          });
        continue;
      }
      if (why !== undefined) {
        reason = `${decision.reason}; ${why}`;
        message = `${service.name} ${current} → ${cap.replicas} (wants ${replicas}): ${reason}`;
        replicas = cap.replicas;
      }
    }
    try {
      await deps.store.setServiceScale(service.namespace, service.name, { replicas, source: 'autoscaler', at: at.toISOString(), reason }, service.specVersion);
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      conflicts.push(key);
      continue;
    }
    scaled.push(message);
    events.push({
      id: `autoscale-${service.namespace}-${service.name}-${now}`,
      at: at.toISOString(),
      type: replicas > current ? 'service.scaled-up' : 'service.scaled-down',
      message,
      namespace: service.namespace,
      service: service.name,
    });
  }
  if (events.length > 0) {
    await deps.store.putEvents(events);
    for (const e of events) deps.log?.('info', e.message, { namespace: e.namespace, serviceName: e.service });
    await deps.kickScheduler?.().catch(() => undefined);
  }
  return { evaluated: services.length, scaled, conflicts, services: readings };
}
