/**
 * Which spec fields go with which kind (Service, Job, CronJob) and mode (replicated, global), and
 * the cron schedule. Read from the raw input like podIssues, so they come with every other issue.
 */
import { Cron } from 'croner';
import type { FieldIssue } from '../errors.ts';
import { got, isRecord } from './messages.ts';

const JOB_FIELDS = ['completions', 'parallelism', 'backoffLimit', 'activeDeadlineSeconds'] as const;
const CRON_FIELDS = ['schedule', 'timeZone', 'concurrencyPolicy', 'successfulJobsHistoryLimit', 'failedJobsHistoryLimit'] as const;
/** Fields of a long-running service that a job has no use for. */
const SERVICE_ONLY = ['replicas', 'mode', 'ingress', 'autoscaling'] as const;

/** Jobs run to completion with this policy unless they say on-failure (Kubernetes refuses `Always` for a Job). */
export const DEFAULT_JOB_RESTART_POLICY = 'never';
/** Kubernetes' default backoffLimit. */
export const DEFAULT_BACKOFF_LIMIT = 6;
/** Kubernetes' defaults for a CronJob's history. */
export const DEFAULT_SUCCESSFUL_JOBS_HISTORY = 3;
export const DEFAULT_FAILED_JOBS_HISTORY = 1;
/**
 * A CronJob's name with the scheduled minute appended (`-` and 8 digits until the year 2160) is its
 * Job's name, which must stay within the 40 characters of a service name.
 */
export const MAX_CRONJOB_NAME_LENGTH = 31;

export function kindIssues(input: unknown): FieldIssue[] {
  if (!isRecord(input) || !isRecord(input.spec)) return [];
  const { kind, spec } = input;
  const issues: FieldIssue[] = [];
  const refuse = (fields: readonly string[], why: string) => {
    for (const f of fields) if (spec[f] !== undefined) issues.push({ path: `spec.${f}`, message: why });
  };
  if (kind === 'Service') {
    refuse(JOB_FIELDS, 'is a field of kind Job (or CronJob): a service runs until it is deleted');
    refuse(CRON_FIELDS, 'is a field of kind CronJob');
    if (spec.mode === 'global') {
      refuse(['replicas'], 'does not apply to mode: global, which runs one replica on every host that matches the constraints');
      refuse(['autoscaling'], 'does not apply to mode: global: the hosts decide how many replicas run');
    }
  }
  if (kind === 'Job' || kind === 'CronJob') {
    refuse(
      SERVICE_ONLY,
      `is a field of kind Service: a ${kind === 'Job' ? 'job' : 'cron job'}'s tasks run to completion, set completions and parallelism instead`,
    );
    if (kind === 'Job') refuse(CRON_FIELDS, 'is a field of kind CronJob: a Job runs once; a CronJob makes one on a schedule');
    if (spec.restartPolicy === 'always') {
      issues.push({
        path: 'spec.restartPolicy',
        message: `must be never (the default: a failed task is replaced, up to backoffLimit) or on-failure (restarted in place) for a ${kind}: its tasks run to completion; got "always"`,
      });
    }
  }
  if (kind === 'CronJob') {
    if (spec.schedule === undefined) issues.push({ path: 'spec.schedule', message: 'is required for a CronJob: five cron fields, such as "*/5 * * * *"' });
    else if (typeof spec.schedule === 'string') {
      const problem = scheduleProblem(spec.schedule, typeof spec.timeZone === 'string' ? spec.timeZone : undefined);
      if (problem) issues.push({ path: `spec.${problem.field}`, message: problem.message });
    }
    if (isRecord(input.metadata) && typeof input.metadata.name === 'string' && input.metadata.name.length > MAX_CRONJOB_NAME_LENGTH) {
      issues.push({
        path: 'metadata.name',
        message: `must be at most ${MAX_CRONJOB_NAME_LENGTH} characters for a CronJob: its jobs are named <name>-<scheduled minute> within the 40 characters of a name; got ${input.metadata.name.length} characters`,
      });
    }
  }
  return issues;
}

/** Why the schedule (in `timeZone`) cannot be used, naming the field at fault. */
export function scheduleProblem(schedule: string, timeZone: string | undefined): { field: 'schedule' | 'timeZone'; message: string } | undefined {
  if (timeZone !== undefined && !validTimeZone(timeZone)) {
    return { field: 'timeZone', message: `must be an IANA time zone such as UTC or Europe/Paris; got ${got(timeZone)}` };
  }
  const fields = schedule
    .trim()
    .split(/\s+/)
    .filter((f) => f !== '');
  if (fields.length !== 5) {
    return {
      field: 'schedule',
      message: `must have 5 fields (minute hour day-of-month month day-of-week), such as "*/5 * * * *"; got ${fields.length} field(s) in ${got(schedule)}`,
    };
  }
  try {
    const cron = new Cron(fields.join(' '), { paused: true, ...(timeZone ? { timezone: timeZone } : {}) });
    cron.stop();
  } catch (err) {
    return { field: 'schedule', message: `is not a valid cron schedule (${(err as Error).message}); got ${got(schedule)}` };
  }
  return undefined;
}

function validTimeZone(zone: string): boolean {
  if (zone.length > 64) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}
