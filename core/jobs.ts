/**
 * Jobs, pure: a Job's tasks against its progress, into the same buckets as a service's plan (tasks to
 * create and remove) plus the progress to record. Each completion is a slot (1..completions); a task
 * that exits 0 completes its slot, one that fails counts against backoffLimit and is replaced after
 * a back-off; at most `parallelism` slots hold a task at once. The job ends succeeded once every slot
 * completed, or failed (BackoffLimitExceeded, DeadlineExceeded); then its tasks are removed and the
 * Job stays, with its counts, until it is deleted.
 *
 * The progress is written before the tasks it accounts for are removed (the pass applies `status`
 * first and skips the task writes when that write loses a race), and it is made of sets (slots
 * done, task ids failed), so a pass cut short or run twice counts nothing twice.
 */
import type { JobStatus, Service, Task, TaskStatus } from './types.ts';
import { podOf, reconcileService, taskId, type ReconcileInput, type ServicePlan } from './reconciler.ts';
import { jsonEqual } from './json.ts';

/** A failed task's replacement waits this long after the first failure, doubling with each (Kubernetes waits 10 s). */
export const JOB_BACKOFF_BASE_SECONDS = 2;
/** And never longer than this (Kubernetes' cap is 6 minutes). */
export const JOB_BACKOFF_MAX_SECONDS = 360;
/** Failed task ids kept in the status: the job fails at backoffLimit + 1 failures, and backoffLimit is at most 100. */
const MAX_FAILED_KEPT = 101;

export interface JobPlan extends ServicePlan {
  /** The progress to record first, when it changed. */
  readonly status?: JobStatus;
}

/** The back-off before the replacement of the `failures`-th failed task. */
export function jobBackoffSeconds(failures: number): number {
  return Math.min(JOB_BACKOFF_MAX_SECONDS, JOB_BACKOFF_BASE_SECONDS * 2 ** Math.max(0, failures - 1));
}

/** The state a job's task is in, from its report. */
function outcome(task: Task, status: TaskStatus | undefined, restartPolicy: string): 'succeeded' | 'failed' | 'active' {
  if (!status || task.desired !== 'running') return 'active';
  if (status.state === 'exited' && status.exitCode === 0) return 'succeeded';
  // on-failure: the agent restarts it in place; a failed report means it is between two runs.
  if (restartPolicy === 'never' && (status.state === 'failed' || status.state === 'exited')) return 'failed';
  return 'active';
}

export function planJob(input: ReconcileInput): JobPlan {
  const { service, now, random } = input;
  // Deleting: the same as a service (every task removed, then the item).
  if (service.deleting) return reconcileService(input);
  const job = service.spec.spec.job!;
  const restartPolicy = service.spec.spec.restartPolicy;
  const statusOf = input.statusOf ?? (() => undefined);
  const before: JobStatus = service.job ?? { state: 'running', succeeded: [], failed: [], startedAt: now };
  const create: ServicePlan['create'][number][] = [];
  const remove: ServicePlan['remove'][number][] = [];
  const keep: Task[] = [];

  if (before.state !== 'running') {
    for (const task of input.tasks) remove.push({ task, reason: `job ${before.state}` });
    return { create, remove, keep, release: [], removeService: false, ...(service.job ? {} : { status: before }) };
  }

  const succeeded = new Set(before.succeeded);
  const failed = [...before.failed];
  const failedIds = new Set(failed);
  const countFailure = (id: string) => {
    if (failedIds.has(id)) return;
    failedIds.add(id);
    failed.push(id);
  };
  // Each task's outcome; failures and successes are recorded before anything else is decided.
  const outcomes = new Map<Task, ReturnType<typeof outcome>>();
  for (const task of input.tasks) {
    const status = statusOf(task);
    const o = outcome(task, status, restartPolicy);
    outcomes.set(task, o);
    if (o === 'succeeded') succeeded.add(task.slot);
    if (o === 'failed') countFailure(task.id);
    // on-failure: each restart in place is a failure of that task.
    if (restartPolicy === 'on-failure') for (let n = 1; n <= (status?.restarts ?? 0); n++) countFailure(`${task.id}#${n}`);
  }

  const elapsed = (Date.parse(now) - Date.parse(before.startedAt)) / 1000;
  let end: Pick<JobStatus, 'state' | 'reason' | 'message'> | undefined;
  if (succeeded.size >= job.completions) end = { state: 'succeeded' };
  else if (failed.length > job.backoffLimit) {
    end = { state: 'failed', reason: 'BackoffLimitExceeded', message: `${failed.length} failed task(s), more than backoffLimit ${job.backoffLimit}` };
  } else if (job.activeDeadlineSeconds !== undefined && elapsed >= job.activeDeadlineSeconds) {
    end = { state: 'failed', reason: 'DeadlineExceeded', message: `ran for ${Math.floor(elapsed)}s, activeDeadlineSeconds is ${job.activeDeadlineSeconds}` };
  }
  const status: JobStatus = {
    ...before,
    succeeded: [...succeeded].sort((a, b) => a - b),
    failed: failed.slice(-MAX_FAILED_KEPT),
    ...(end ? { ...end, completedAt: now } : {}),
  };
  const changed = service.job === undefined || !jsonEqual(status, service.job);
  if (end) {
    for (const task of input.tasks) remove.push({ task, reason: end.reason ? `job failed: ${end.reason}` : 'job succeeded' });
    return { create, remove, keep, release: [], removeService: false, ...(changed ? { status } : {}) };
  }

  const pod = podOf(service);
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
  const bySlot = new Map(input.tasks.map((t) => [t.slot, t]));
  let active = 0;
  for (const task of input.tasks) {
    const o = outcomes.get(task)!;
    if (o === 'succeeded' || task.slot > job.completions) {
      remove.push({ task, reason: o === 'succeeded' ? 'completed' : `above completions ${job.completions}` });
      continue;
    }
    active++;
    const host = task.host === undefined ? undefined : input.hosts.get(task.host);
    if (o === 'failed') {
      // Replaced in its slot once the back-off since its failure has passed.
      const since = Date.parse(statusOf(task)?.since ?? now);
      if (Date.parse(now) - since >= jobBackoffSeconds(failed.length) * 1000) {
        create.push({
          task: newTask(task.slot, task.incarnation + 1, 'retry after a failure', task.host ? { avoidHost: task.host } : {}),
          previousIncarnation: task.incarnation,
          reason: 'retry after a failure',
        });
      } else keep.push(task);
    } else if (task.host !== undefined && (!host || host.state === 'down')) {
      const reason = `host ${task.host} is ${host ? 'down' : 'gone'}`;
      create.push({ task: newTask(task.slot, task.incarnation + 1, reason), previousIncarnation: task.incarnation, reason });
    } else keep.push(task);
  }
  for (let slot = 1; slot <= job.completions && active < job.parallelism; slot++) {
    if (succeeded.has(slot) || bySlot.has(slot)) continue;
    create.push({ task: newTask(slot, 1, 'job task'), previousIncarnation: undefined, reason: 'job task' });
    active++;
  }
  return { create, remove, keep, release: [], removeService: false, ...(changed ? { status } : {}) };
}

/** A job's counts as `skiff get jobs` shows them (a contract: name, namespace, succeeded, failed, state). */
export function jobSummary(service: Service, activeTasks: number) {
  const job = service.spec.spec.job;
  const status = service.job;
  return {
    namespace: service.namespace,
    name: service.name,
    kind: service.spec.kind,
    completions: job?.completions ?? 0,
    parallelism: job?.parallelism ?? 0,
    backoffLimit: job?.backoffLimit ?? 0,
    succeeded: status?.succeeded.length ?? 0,
    failed: status?.failed.length ?? 0,
    active: activeTasks,
    state: status?.state ?? 'running',
    ...(status?.reason ? { reason: status.reason } : {}),
    ...(status?.message ? { message: status.message } : {}),
    startedAt: status?.startedAt ?? null,
    completedAt: status?.completedAt ?? null,
    deleting: service.deleting,
    createdAt: service.createdAt,
  };
}
