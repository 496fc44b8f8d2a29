/**
 * `skiff top tasks|hosts`: CPU and memory used versus reserved, per task and per host, from the
 * usage the agents report (agent/usage.ts, sampled every few seconds and rewritten only when it
 * moves by a step: a reading, not a live graph). Hosts: the sum of their tasks' use, against what
 * the scheduler allocated and the host's capacity.
 */
import type { HostView, TaskView } from '../../core/types.ts';
import { formatCpu } from '../../core/quantity.ts';
import { ApiClient, findApi } from '../client.ts';
import { command, outputMode, UsageError } from '../command.ts';
import { table } from '../format.ts';

/** Bytes as a person reads them: `64Mi`, `1.5Gi`, with one decimal at most. */
export function humanBytes(bytes: number): string {
  const units: [string, number][] = [
    ['Gi', 2 ** 30],
    ['Mi', 2 ** 20],
    ['Ki', 2 ** 10],
  ];
  for (const [suffix, unit] of units) if (bytes >= unit) return `${(Math.round((bytes / unit) * 10) / 10).toString()}${suffix}`;
  return `${Math.round(bytes)}`;
}

const cpu = (m: number) => formatCpu(Math.max(0, Math.round(m)));
const percent = (used: number, of: number) => (of > 0 ? `${Math.round((used / of) * 100)}%` : '-');

/** A task's row: used / reserved and the share. */
export function taskRows(tasks: readonly TaskView[]): string[][] {
  const header = ['TASK', 'HOST', 'CPU USED', 'CPU RESERVED', 'CPU%', 'MEMORY USED', 'MEMORY RESERVED', 'MEMORY%'];
  const rows = tasks
    .filter((t) => t.desired === 'running' && t.host !== null)
    .map((t) => {
      const r = t.reserved;
      const u = t.usage;
      return [
        `${t.namespace}/${t.id}`,
        t.host ?? '-',
        u ? cpu(u.cpu) : '-',
        r ? cpu(r.cpu) : '-',
        u && r ? percent(u.cpu, r.cpu) : '-',
        u ? humanBytes(u.memory) : '-',
        r ? humanBytes(r.memory) : '-',
        u && r ? percent(u.memory, r.memory) : '-',
      ];
    });
  return [header, ...rows];
}

export interface HostUsage {
  readonly id: string;
  readonly state: string;
  readonly used: { cpu: number; memory: number };
  /** Tasks on the host that reported no usage yet: their share is missing from `used`. */
  readonly unmeasured: number;
  readonly reserved: { cpu: number; memory: number };
  readonly capacity: { cpu: number; memory: number };
}

/** Each host's use: the sum of its running tasks' reported usage. */
export function hostUsage(hosts: readonly HostView[], tasks: readonly TaskView[]): HostUsage[] {
  return hosts.map((h) => {
    const mine = tasks.filter((t) => t.host === h.id && t.desired === 'running' && (t.state === 'running' || t.state === 'starting'));
    const used = { cpu: 0, memory: 0 };
    for (const t of mine) {
      used.cpu += t.usage?.cpu ?? 0;
      used.memory += t.usage?.memory ?? 0;
    }
    return { id: h.id, state: h.state, used, unmeasured: mine.filter((t) => !t.usage).length, reserved: h.allocated, capacity: h.capacity };
  });
}

export function hostRows(usage: readonly HostUsage[]): string[][] {
  const header = ['HOST', 'STATE', 'CPU USED', 'CPU RESERVED', 'CPU CAPACITY', 'CPU%', 'MEMORY USED', 'MEMORY RESERVED', 'MEMORY CAPACITY', 'MEMORY%'];
  return [
    header,
    ...usage.map((h) => [
      h.id,
      h.state,
      `${cpu(h.used.cpu)}${h.unmeasured ? '+' : ''}`,
      cpu(h.reserved.cpu),
      cpu(h.capacity.cpu),
      percent(h.used.cpu, h.capacity.cpu),
      `${humanBytes(h.used.memory)}${h.unmeasured ? '+' : ''}`,
      humanBytes(h.reserved.memory),
      humanBytes(h.capacity.memory),
      percent(h.used.memory, h.capacity.memory),
    ]),
  ];
}

export default command({
  name: 'top',
  summary: 'CPU and memory used versus reserved, per task or per host (from the usage the agents report)',
  usage: ['top tasks [--service S] [-n NAMESPACE] [-o json]', 'top hosts [-o json]'],
  example: 'skiff top tasks -n default',
  flags: {
    service: { type: 'string', value: 'S', help: "this service's tasks only" },
  },
  maxArgs: 1,
  async run({ values, positionals }, out) {
    const what = positionals[0];
    if (what !== 'tasks' && what !== 'hosts') throw new UsageError(`top what? "tasks" or "hosts"${what ? `, got "${what}"` : ''}`);
    if (what === 'hosts' && values.service !== undefined) throw new UsageError('--service applies to top tasks');
    const mode = outputMode(values.output);
    const client = new ApiClient(findApi(values.api, { token: values.token }));
    const q = new URLSearchParams();
    if (values.namespace !== undefined) q.set('namespace', values.namespace);
    if (values.service !== undefined) q.set('service', values.service);
    const tasks = await client.list<TaskView>(`/v1/tasks${q.size ? `?${q}` : ''}`);
    if (what === 'tasks') {
      if (mode === 'json')
        out.log(
          JSON.stringify(
            tasks
              .filter((t) => t.desired === 'running' && t.host !== null)
              .map((t) => ({ namespace: t.namespace, id: t.id, host: t.host, reserved: t.reserved ?? null, usage: t.usage ?? null })),
            null,
            2,
          ),
        );
      else out.log(table(taskRows(tasks)));
      return 0;
    }
    const usage = hostUsage(await client.list<HostView>('/v1/hosts'), tasks);
    if (mode === 'json') out.log(JSON.stringify(usage, null, 2));
    else {
      out.log(table(hostRows(usage)));
      if (usage.some((h) => h.unmeasured > 0)) out.log('+: some tasks on the host have not reported their usage yet');
    }
    return 0;
  },
});
