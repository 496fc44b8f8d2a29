/** `skiff get services|tasks|hosts [NAME]`: tables, or `-o json|yaml|name` for scripts; `-w` watches. */
import { formatCpu, formatMemory } from '../../core/quantity.ts';
import { ApiClient, findApi } from '../client.ts';
import { command, oneOf, UsageError } from '../command.ts';
import { getMode, printIn, watchLoop } from '../get-output.ts';
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
  ingress: { host: string; path?: string } | null;
  replicas: number;
  running: number;
  autoscaling?: { minReplicas: number; maxReplicas: number } | null;
  deleting: boolean;
  ready?: boolean;
  specVersion?: number;
  scale?: { source: string } | null;
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
  /** `-o wide`: more columns. */
  readonly wide?: boolean;
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
    return out.log(taskTable(s.tasks, q.wide));
  }
  const list = await client.list<ServiceRow>(`/v1/services${q.namespace ? `?namespace=${encodeURIComponent(q.namespace)}` : ''}`);
  if (mode === 'json') return out.log(JSON.stringify(list, null, 2));
  // -o wide: the spec version, whether every replica runs it, and who chose the replica count.
  const wide = (s: ServiceRow) => (q.wide ? [String(s.specVersion ?? '-'), s.ready ? 'yes' : 'no', s.scale?.source ?? 'spec'] : []);
  out.log(
    table([
      ['NAMESPACE', 'NAME', 'HEALTHY', 'AUTOSCALE', 'DNS', 'INGRESS', ...(q.wide ? ['VERSION', 'READY', 'SCALED BY'] : []), 'AGE', ''],
      ...list.map((s) => [
        s.namespace,
        s.name,
        `${s.running}/${s.replicas}`,
        // Desired (in HEALTHY) against the autoscaler's bounds.
        s.autoscaling ? `${s.autoscaling.minReplicas}-${s.autoscaling.maxReplicas}` : '-',
        s.dns,
        s.ingress ? `${s.ingress.host}${s.ingress.path ?? ''}` : '-',
        ...wide(s),
        age(s.createdAt),
        s.deleting ? 'deleting' : '',
      ]),
    ]),
  );
}

async function tasks(client: ApiClient, q: Query, mode: Mode, out: Out): Promise<void> {
  if (q.name) {
    const t = await client.request<TaskRow>('GET', `/v1/tasks/${encodeURIComponent(q.name)}`);
    return out.log(mode === 'json' ? JSON.stringify(t, null, 2) : taskTable([t], q.wide));
  }
  const params = new URLSearchParams();
  if (q.namespace) params.set('namespace', q.namespace);
  if (q.service) params.set('service', q.service);
  if (q.host) params.set('host', q.host);
  const list = await client.list<TaskRow>(`/v1/tasks${params.size ? `?${params}` : ''}`);
  out.log(mode === 'json' ? JSON.stringify(list, null, 2) : taskTable(list, q.wide));
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
export const NAMES = ['services', 'tasks', 'hosts', 'jobs', 'secrets', 'namespaces', 'volumes'];

/** The list route each kind's view reads, whose version a watch waits on (a service by name: its tasks). */
function watchedPath(kind: string, q: Query): string {
  const params = new URLSearchParams();
  if (q.namespace) params.set('namespace', q.namespace);
  const base = KIND_OF[kind];
  if (base === 'services' && q.name) params.set('service', q.name);
  if (base === 'tasks' || base === 'volumes') {
    if (q.service) params.set('service', q.service);
    if (q.host && base === 'tasks') params.set('host', q.host);
  }
  const path = base === 'services' && q.name ? '/v1/tasks' : `/v1/${base}`;
  return `${path}${params.size ? `?${params}` : ''}`;
}

/** Each name of a kind → its plural (the list route's name). */
const KIND_OF: Record<string, string> = Object.fromEntries(
  Object.entries(KINDS).map(([name, show]) => [name, Object.entries(KINDS).find(([, s]) => s === show)?.[0] ?? name]),
);

/** `-o name`'s prefix: the singular. */
const SINGULAR: Record<string, string> = {
  services: 'service',
  tasks: 'task',
  hosts: 'host',
  jobs: 'job',
  secrets: 'secret',
  namespaces: 'namespace',
  volumes: 'volume',
};

export default command({
  name: 'get',
  summary: 'list services, tasks, hosts, jobs, secrets (names and keys only), namespaces or volumes, or show one',
  usage: ['get services|tasks|hosts|jobs|secrets|namespaces|volumes [NAME] [-n NAMESPACE] [--service S] [--host H] [-o json|yaml|wide|name] [-w]'],
  example: 'skiff get tasks --service hello -w',
  flags: {
    service: { type: 'string', value: 'S', help: 'tasks of this service only (volumes too)' },
    host: { type: 'string', value: 'H', help: 'tasks on this host only' },
    watch: { type: 'boolean', short: 'w', help: 'print again each time it changes, until Ctrl-C (the API holds each request until a change)' },
  },
  maxArgs: 2,
  async run({ values, positionals }, out) {
    const [kind, name] = positionals;
    const mode = getMode(values.output);
    if (kind === undefined) throw new UsageError(`get what? ${oneOf(NAMES)}`);
    const show = Object.hasOwn(KINDS, kind) ? KINDS[kind] : undefined;
    if (!show) throw new UsageError(`cannot get "${kind}": use ${oneOf(NAMES)}${didYouMean(kind, NAMES)}`);
    const client = new ApiClient(findApi(values.api, { token: values.token }));
    const q: Query = { name, namespace: values.namespace, service: values.service, host: values.host, wide: mode === 'wide' };
    const print = () => printIn(mode, SINGULAR[KIND_OF[kind]] ?? kind, (inner, sink) => show(client, q, inner, sink), out);
    if (!values.watch) {
      await print();
      return 0;
    }
    const path = watchedPath(kind, q);
    await watchLoop({
      version: (since) => client.listVersion(path, since),
      show: print,
      // A terminal shows the current state only; a pipe gets each state after the last.
      between: () => (out.isTTY && out.write ? out.write('\x1b[H\x1b[2J') : out.log('')),
    });
    return 0;
  },
});
