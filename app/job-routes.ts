/** The job routes: Jobs and CronJobs with their counts (core/jobs.ts jobSummary), one with its tasks; delete. */
import { NotFoundError } from '../core/errors.ts';
import { jobSummary } from '../core/jobs.ts';
import { taskViews } from '../core/views.ts';
import type { Store } from '../ports/index.ts';
import { checkIfMatch, etag } from './conditional.ts';

interface Req {
  readonly query: Readonly<Record<string, string | undefined>>;
  readonly headers: Readonly<Record<string, string | undefined>>;
}
type Handler = (req: Req, params: Record<string, string>) => Promise<{ status: number; body: unknown; headers?: Record<string, string> }>;

export function jobHandlers(store: Store, now: () => Date, kick: () => Promise<void>): { list: Handler; get: Handler; remove: Handler } {
  const findJob = async (namespace: string, name: string) => {
    const s = await store.getService(namespace, name);
    if (!s || s.spec.kind === 'Service') throw new NotFoundError(`job ${namespace}/${name}`);
    return s;
  };
  return {
    list: async (req) => {
      const [services, tasks] = await Promise.all([store.listServices(req.query.namespace), store.listAllTasks()]);
      const jobs = services.filter((s) => s.spec.kind !== 'Service');
      const active = (ns: string, name: string) => tasks.filter((t) => t.namespace === ns && t.service === name && t.desired === 'running').length;
      return {
        status: 200,
        body: jobs.map((j) => ({ ...jobSummary(j, active(j.namespace, j.name)), ...(j.spec.spec.cron ? { schedule: j.spec.spec.cron } : {}) })),
      };
    },
    get: async (_req, p) => {
      const job = await findJob(p.namespace, p.name);
      const [tasks, statuses, hosts] = await Promise.all([store.listTasks(p.namespace, p.name), store.listHostStatuses(), store.listHosts()]);
      return {
        status: 200,
        body: {
          ...jobSummary(job, tasks.filter((t) => t.desired === 'running').length),
          spec: job.spec,
          status: job.job ?? null,
          tasks: taskViews(tasks, statuses, hosts),
        },
        headers: { etag: etag(job.specVersion) },
      };
    },
    remove: async (req, p) => {
      if (req.headers['if-match'] !== undefined)
        checkIfMatch(req.headers, (await store.getService(p.namespace, p.name))?.specVersion, `job ${p.namespace}/${p.name}`);
      await findJob(p.namespace, p.name);
      const marked = await store.markServiceDeleting(p.namespace, p.name, now().toISOString());
      if (!marked) throw new NotFoundError(`job ${p.namespace}/${p.name}`);
      await kick();
      return { status: 202, body: { result: 'deleting', job: { namespace: p.namespace, name: p.name } } };
    },
  };
}
