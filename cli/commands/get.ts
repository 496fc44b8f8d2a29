/** `skiff get services|tasks|hosts [NAME]`: tables, or `-o json` for scripts. */
import { formatCpu, formatMemory } from '../../core/quantity.ts';
import { ApiClient, findApi } from '../client.ts';
import { command, oneOf, outputMode, UsageError } from '../command.ts';
import { age, table } from '../format.ts';
import { didYouMean } from '../suggest.ts';
import { servicePath, taskTable, type ServiceDetail, type TaskRow } from '../views.ts';
import { getJobs, getSecrets } from '../jobs.ts';
import { getNamespaces } from './namespaces.ts';
import { volumes } from './get-volumes.ts';

type Mode = 'table' | 'json';
type Out = { log(s: string): void };

interface ServiceRow {
  namespace: string;
  name: string;
  dns: string;
  ingress: { host: string } | null;
  replicas: number;
  running: number;
  autoscaling?: { minReplicas: number; maxReplicas: number } | null;
  deleting: boolean;
  createdAt: string;
}

interface HostRow {
  id: string;
  address: string;
  state: string;
  capacity: { cpu: number; memory: number };
  allocated: { cpu: number; memory: number };
  tasks: number;
  heartbeatAt: string | null;
}

interface Query {
  readonly name?: string;
  readonly namespace?: string;
  readonly service?: string;
  readonly host?: string;
}

async function services(client: ApiClient, q: Query, mode: Mode, out: Out): Promise<void> {
  if (q.name) {
    const s = await client.request<ServiceDetail>('GET', servicePath(q.namespace ?? 'default', q.name));
    if (mode === 'json') return out.log(JSON.stringify(s, null, 2));
    out.log(
      table([
        ['NAMESPACE', 'NAME', 'REPLICAS', 'RUNNING', 'READY'],
        [s.namespace, s.name, String(s.replicas), String(s.running), s.ready ? 'yes' : 'no'],
      ]),
    );
    out.log('');
    return out.log(taskTable(s.tasks));
  }
  const list = await client.list<ServiceRow>(`/v1/services${q.namespace ? `?namespace=${encodeURIComponent(q.namespace)}` : ''}`);
  if (mode === 'json') return out.log(JSON.stringify(list, null, 2));
  out.log(
    table([
      ['NAMESPACE', 'NAME', 'HEALTHY', 'AUTOSCALE', 'DNS', 'INGRESS', 'AGE', ''],
      ...list.map((s) => [
        s.namespace,
        s.name,
        `${s.running}/${s.replicas}`,
        // Desired (in HEALTHY) against the autoscaler's bounds.
        s.autoscaling ? `${s.autoscaling.minReplicas}-${s.autoscaling.maxReplicas}` : '-',
        s.dns,
        s.ingress?.host ?? '-',
        age(s.createdAt),
        s.deleting ? 'deleting' : '',
      ]),
    ]),
  );
}

async function tasks(client: ApiClient, q: Query, mode: Mode, out: Out): Promise<void> {
  if (q.name) {
    const t = await client.request<TaskRow>('GET', `/v1/tasks/${encodeURIComponent(q.name)}`);
    return out.log(mode === 'json' ? JSON.stringify(t, null, 2) : taskTable([t]));
  }
  const params = new URLSearchParams();
  if (q.namespace) params.set('namespace', q.namespace);
  if (q.service) params.set('service', q.service);
  if (q.host) params.set('host', q.host);
  const list = await client.list<TaskRow>(`/v1/tasks${params.size ? `?${params}` : ''}`);
  out.log(mode === 'json' ? JSON.stringify(list, null, 2) : taskTable(list));
}

async function hosts(client: ApiClient, q: Query, mode: Mode, out: Out): Promise<void> {
  const list = q.name ? [await client.request<HostRow>('GET', `/v1/hosts/${encodeURIComponent(q.name)}`)] : await client.list<HostRow>('/v1/hosts');
  if (mode === 'json') return out.log(JSON.stringify(q.name ? list[0] : list, null, 2));
  out.log(
    table([
      ['HOST', 'ADDRESS', 'STATE', 'CPU', 'MEMORY', 'TASKS', 'HEARTBEAT'],
      ...list.map((h) => [
        h.id,
        h.address,
        h.state,
        `${formatCpu(h.allocated.cpu)}/${formatCpu(h.capacity.cpu)}`,
        `${formatMemory(h.allocated.memory)}/${formatMemory(h.capacity.memory)}`,
        String(h.tasks),
        h.heartbeatAt ? `${age(h.heartbeatAt)} ago` : 'never',
      ]),
    ]),
  );
}

/** Each kind under its names (plural first: the one suggested). */
const KINDS: Record<string, typeof services> = {
  services,
  service: services,
  svc: services,
  tasks,
  task: tasks,
  hosts,
  host: hosts,
  jobs: getJobs,
  job: getJobs,
  cronjobs: getJobs,
  secrets: getSecrets,
  secret: getSecrets,
  namespaces: getNamespaces,
  namespace: getNamespaces,
  ns: getNamespaces,
  volumes,
  volume: volumes,
};
const NAMES = ['services', 'tasks', 'hosts', 'jobs', 'secrets', 'namespaces', 'volumes'];

export default command({
  name: 'get',
  summary: 'list services, tasks, hosts, jobs, secrets (names and keys only), namespaces or volumes, or show one',
  usage: ['get services|tasks|hosts|jobs|secrets|namespaces|volumes [NAME] [-n NAMESPACE] [--service S] [--host H] [-o json]'],
  example: 'skiff get tasks --service hello -o json',
  flags: {
    service: { type: 'string', value: 'S', help: 'tasks of this service only (volumes too)' },
    host: { type: 'string', value: 'H', help: 'tasks on this host only' },
  },
  maxArgs: 2,
  async run({ values, positionals }, out) {
    const [kind, name] = positionals;
    const mode = outputMode(values.output);
    if (kind === undefined) throw new UsageError(`get what? ${oneOf(NAMES)}`);
    const show = Object.hasOwn(KINDS, kind) ? KINDS[kind] : undefined;
    if (!show) throw new UsageError(`cannot get "${kind}": use ${oneOf(NAMES)}${didYouMean(kind, NAMES)}`);
    const client = new ApiClient(findApi(values.api, { token: values.token }));
    await show(client, { name, namespace: values.namespace, service: values.service, host: values.host }, mode, out);
    return 0;
  },
});
