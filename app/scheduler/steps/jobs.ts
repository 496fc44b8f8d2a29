/** Jobs and cron jobs in a pass: a Job's progress recorded (core/jobs.ts), and a CronJob's runs made and pruned (core/cron.ts). */
import type { JobStatus, Service } from '../../../core/types.ts';
import { planCronJobs } from '../../../core/cron.ts';
import { serviceKey } from '../../../core/pass.ts';
import { attempt, record, type PassContext } from '../context.ts';
import type { PassStep } from '../step.ts';

/** Writes a Job's progress (conditional on its specVersion); records its end as an event. False when the write lost a race. */
export async function recordJobStatus(ctx: PassContext, service: Service, status: JobStatus): Promise<boolean> {
  if (!(await attempt(ctx, () => ctx.store.setJobStatus(service.namespace, service.name, status, service.specVersion)))) return false;
  const about = { namespace: service.namespace, service: service.name };
  if (status.state !== 'running' && service.job?.state !== status.state) {
    const counts = `${status.succeeded.length} succeeded, ${status.failed.length} failed`;
    record(
      ctx,
      `job.${status.state}`,
      `job ${serviceKey(service)} ${status.state}${status.reason ? ` (${status.reason}: ${status.message})` : ''}: ${counts}`,
      about,
    );
    ctx.log(`job ${status.state}`, { job: serviceKey(service), reason: status.reason });
  }
  return true;
}

/**
 * CronJobs: the Jobs their schedules make due now (created only if absent, so two passes make one),
 * replaced runs and history beyond the limits deleted. Before reconcile: a Job made here gets its
 * first tasks from the next pass, which the API's kick or the timer brings within a second.
 */
export const cronJobs: PassStep = {
  name: 'cron-jobs',
  async run(ctx) {
    const plan = planCronJobs(ctx.snapshot.services, ctx.now);
    for (const r of plan.remove) {
      const done = await ctx.store.markServiceDeleting(r.namespace, r.name, ctx.now);
      if (done) record(ctx, 'job.deleted', `job ${r.namespace}/${r.name} deleted: ${r.reason}`, { namespace: r.namespace, service: r.name });
    }
    for (const spec of plan.create) {
      const { namespace, name } = spec.metadata;
      if (!(await attempt(ctx, () => ctx.store.putService(spec, ctx.now, 0)))) continue;
      record(ctx, 'job.created', `job ${namespace}/${name} created by cron job ${spec.metadata.labels['skiff.cronjob']}`, { namespace, service: name });
      ctx.log('cron job run', { job: `${namespace}/${name}` });
    }
  },
};
