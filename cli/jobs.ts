/** `skiff get jobs|secrets` and `skiff describe job`: the views of the job and secret routes. */
import type { ApiClient } from './client.ts';
import { age, table } from './format.ts';
import { taskTable, type TaskRow } from './views.ts';

type Mode = 'table' | 'json';
type Out = { log(s: string): void };
interface Query {
  readonly name?: string;
  readonly namespace?: string;
}

/** What `GET /v1/jobs` answers per job; `name`, `namespace`, `succeeded`, `failed` and `state` are a contract for scripts. */
export interface JobRow {
  namespace: string;
  name: string;
  kind: 'Job' | 'CronJob';
  completions: number;
  parallelism: number;
  succeeded: number;
  failed: number;
  active: number;
  state: 'running' | 'succeeded' | 'failed';
  reason?: string;
  message?: string;
  schedule?: { schedule: string; timeZone?: string; concurrencyPolicy: string };
  startedAt: string | null;
  completedAt: string | null;
  deleting: boolean;
  createdAt: string;
}

export function jobPath(ns: string, name: string): string {
  return `/v1/namespaces/${encodeURIComponent(ns)}/jobs/${encodeURIComponent(name)}`;
}

export async function getJobs(client: ApiClient, q: Query, mode: Mode, out: Out): Promise<void> {
  if (q.name) return describeJob(client, q.namespace ?? 'default', q.name, mode, out);
  const list = await client.list<JobRow>(`/v1/jobs${q.namespace ? `?namespace=${encodeURIComponent(q.namespace)}` : ''}`);
  if (mode === 'json') return out.log(JSON.stringify(list, null, 2));
  out.log(
    table([
      ['NAMESPACE', 'NAME', 'KIND', 'STATE', 'COMPLETIONS', 'FAILED', 'ACTIVE', 'SCHEDULE', 'AGE'],
      ...list.map((j) => [
        j.namespace,
        j.name,
        j.kind,
        j.kind === 'CronJob' ? '-' : `${j.state}${j.reason ? ` (${j.reason})` : ''}${j.deleting ? ', deleting' : ''}`,
        j.kind === 'CronJob' ? '-' : `${j.succeeded}/${j.completions}`,
        j.kind === 'CronJob' ? '-' : String(j.failed),
        String(j.active),
        j.schedule ? `${j.schedule.schedule}${j.schedule.timeZone ? ` ${j.schedule.timeZone}` : ''}` : '-',
        age(j.createdAt),
      ]),
    ]),
  );
}

export async function describeJob(client: ApiClient, ns: string, name: string, mode: Mode, out: Out): Promise<void> {
  const j = await client.request<JobRow & { tasks: TaskRow[]; spec: { spec: { job?: { backoffLimit: number; activeDeadlineSeconds?: number } } } }>(
    'GET',
    jobPath(ns, name),
  );
  if (mode === 'json') return out.log(JSON.stringify(j, null, 2));
  const job = j.spec.spec.job;
  out.log(`${j.kind}:${' '.repeat(Math.max(1, 11 - j.kind.length))}${j.namespace}/${j.name}`);
  if (j.schedule)
    out.log(`Schedule:   ${j.schedule.schedule}${j.schedule.timeZone ? ` (${j.schedule.timeZone})` : ' (UTC)'}, concurrency ${j.schedule.concurrencyPolicy}`);
  else {
    out.log(`State:      ${j.state}${j.reason ? ` — ${j.reason}: ${j.message}` : ''}`);
    out.log(`Succeeded:  ${j.succeeded} of ${j.completions} (parallelism ${j.parallelism})`);
    out.log(
      `Failed:     ${j.failed} (backoffLimit ${job?.backoffLimit ?? '-'})${job?.activeDeadlineSeconds ? `, deadline ${job.activeDeadlineSeconds}s` : ''}`,
    );
    out.log(`Started:    ${j.startedAt ?? '-'}${j.completedAt ? `, ended ${j.completedAt}` : ''}`);
  }
  out.log('');
  out.log(j.tasks.length > 0 ? taskTable(j.tasks) : 'no task now');
}

interface SecretRow {
  namespace: string;
  name: string;
  keys: string[];
  version: string;
  updatedAt: string;
}

/** Names and keys only: no route returns a value. */
export async function getSecrets(client: ApiClient, q: Query, mode: Mode, out: Out): Promise<void> {
  const list = q.name
    ? [await client.request<SecretRow>('GET', `/v1/namespaces/${encodeURIComponent(q.namespace ?? 'default')}/secrets/${encodeURIComponent(q.name)}`)]
    : await client.list<SecretRow>(`/v1/secrets${q.namespace ? `?namespace=${encodeURIComponent(q.namespace)}` : ''}`);
  if (mode === 'json') return out.log(JSON.stringify(q.name ? list[0] : list, null, 2));
  out.log(
    table([
      ['NAMESPACE', 'NAME', 'KEYS', 'VERSION', 'UPDATED'],
      ...list.map((s) => [s.namespace, s.name, s.keys.join(','), s.version, `${age(s.updatedAt)} ago`]),
    ]),
  );
}
