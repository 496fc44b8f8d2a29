/**
 * CronJobs, pure: when the schedule (five cron fields, in its time zone, read by croner) says a run
 * is due, a Job named `<cronjob>-<scheduled minute since the epoch>` is made from the CronJob's own
 * spec; the name makes the creation idempotent (a second pass, or a second scheduler, finds it). Only
 * the latest missed run is made (a control plane that was down for an hour starts one job, not 60).
 * concurrencyPolicy: allow (always), forbid (skip the run while a job of this CronJob runs), replace
 * (delete the running ones, then make the new one). Finished jobs beyond the history limits are
 * deleted, oldest first.
 */
import { Cron } from 'croner';
import type { Service, ServiceSpec } from './types.ts';
import { reconcileService, type ReconcileInput, type ServicePlan } from './reconciler.ts';

/** The label a Job made by a CronJob carries, naming it. */
export const CRONJOB_LABEL = 'skiff.cronjob';

/** A CronJob has no tasks of its own: anything found under its name is removed; deleting removes the item. */
export function planCronJobTasks(input: ReconcileInput): ServicePlan {
  if (input.service.deleting) return reconcileService(input);
  return { create: [], remove: input.tasks.map((task) => ({ task, reason: 'a CronJob runs its tasks in Jobs' })), keep: [], release: [], removeService: false };
}

export interface CronPlan {
  /** Jobs to create (conditional on absence). */
  readonly create: readonly ServiceSpec[];
  /** Jobs to delete: replaced running ones, and finished ones past the history limits. */
  readonly remove: readonly { readonly namespace: string; readonly name: string; readonly reason: string }[];
}

/** The latest scheduled time in (after, now], or undefined. */
export function latestRun(schedule: string, timeZone: string | undefined, after: Date, now: Date): Date | undefined {
  const cron = new Cron(schedule, { paused: true, ...(timeZone ? { timezone: timeZone } : {}) });
  try {
    // Walk back from now: the run before now+1 ms, if it is after `after`.
    const runs = cron.previousRuns(1, new Date(now.getTime() + 1));
    const last = runs[0];
    return last && last.getTime() > after.getTime() ? last : undefined;
  } finally {
    cron.stop();
  }
}

/** The Job name for the run at `at`. */
export function cronJobName(cronjob: string, at: Date): string {
  return `${cronjob}-${Math.floor(at.getTime() / 60_000)}`;
}

/** The jobs of every CronJob: which to make now, which to delete. */
export function planCronJobs(services: readonly Service[], now: string): CronPlan {
  const create: ServiceSpec[] = [];
  const remove: { namespace: string; name: string; reason: string }[] = [];
  const at = new Date(now);
  for (const cron of services) {
    if (cron.spec.kind !== 'CronJob' || cron.deleting) continue;
    const spec = cron.spec.spec.cron!;
    const children = services
      .filter((s) => s.namespace === cron.namespace && s.spec.kind === 'Job' && s.spec.metadata.labels[CRONJOB_LABEL] === cron.name)
      .sort((a, b) => minuteOf(a.name) - minuteOf(b.name));
    const live = children.filter((c) => !c.deleting);
    const running = live.filter((c) => (c.job?.state ?? 'running') === 'running');
    // Runs after the newest job made (or after the CronJob was created or changed).
    const newest = children.length > 0 ? new Date(minuteOf(children[children.length - 1].name) * 60_000) : undefined;
    const since = new Date(Math.max(Date.parse(cron.updatedAt) - 1, newest?.getTime() ?? 0));
    const due = latestRun(spec.schedule, spec.timeZone, since, at);
    if (due && !children.some((c) => c.name === cronJobName(cron.name, due))) {
      if (spec.concurrencyPolicy === 'forbid' && running.length > 0) {
        // Skipped: the run is simply not made; the next one is considered at its time.
      } else {
        if (spec.concurrencyPolicy === 'replace')
          for (const r of running) remove.push({ namespace: r.namespace, name: r.name, reason: `replaced by the run of ${due.toISOString()}` });
        create.push(jobSpecOf(cron, due));
      }
    }
    // History: finished jobs beyond the limits, oldest first; never the newest job (it marks the last run).
    const keepNewest = children[children.length - 1]?.name;
    for (const [state, limit] of [
      ['succeeded', spec.successfulJobsHistoryLimit],
      ['failed', spec.failedJobsHistoryLimit],
    ] as const) {
      const finished = live.filter((c) => c.job?.state === state);
      for (const old of finished.slice(0, Math.max(0, finished.length - limit))) {
        if (old.name !== keepNewest) remove.push({ namespace: old.namespace, name: old.name, reason: `history limit ${limit} of ${state} jobs` });
      }
    }
  }
  return { create, remove };
}

function minuteOf(jobName: string): number {
  const m = /-(\d+)$/.exec(jobName);
  return m ? Number(m[1]) : 0;
}

/** The Job a CronJob makes for the run at `at`: its own spec, kind Job, labelled with its name. */
export function jobSpecOf(cron: Service, at: Date): ServiceSpec {
  const { cron: _schedule, ...spec } = cron.spec.spec;
  return {
    kind: 'Job',
    metadata: { name: cronJobName(cron.name, at), namespace: cron.namespace, labels: { ...cron.spec.metadata.labels, [CRONJOB_LABEL]: cron.name } },
    spec,
  };
}
