/**
 * The hosts page: state, and CPU and memory used (the agents' usage reports summed over each host's
 * running tasks, as `skiff top hosts` does) and reserved, against capacity; drain and uncordon.
 */
import { useState } from 'preact/hooks';
import type { Api } from './api.ts';
import { Confirm } from './dialog.tsx';
import { ago, bytes, cpu, percent } from './format.ts';
import { useLive } from './live.ts';
import type { HostView, TaskView } from './types.ts';
import { Badge, ErrorMessage, TableFrame, UsageBar } from './ui.tsx';

/** What a host's running tasks use, from their agents' last reports; `unmeasured` tasks reported none yet. */
export function hostUse(host: HostView, tasks: readonly TaskView[]): { cpu: number; memory: number; unmeasured: number } {
  const mine = tasks.filter((t) => t.host === host.id && t.desired === 'running' && (t.state === 'running' || t.state === 'starting'));
  return {
    cpu: mine.reduce((n, t) => n + (t.usage?.cpu ?? 0), 0),
    memory: mine.reduce((n, t) => n + (t.usage?.memory ?? 0), 0),
    unmeasured: mine.filter((t) => !t.usage).length,
  };
}

export function HostsPage({ api }: { api: Api }) {
  const hosts = useLive<HostView[]>(api, '/v1/hosts', { watch: true });
  const tasks = useLive<TaskView[]>(api, '/v1/tasks', { watch: true });
  const [action, setAction] = useState<{ kind: 'drain' | 'uncordon'; host: string } | undefined>();
  const [done, setDone] = useState<string | undefined>();
  return (
    <>
      <h1>Hosts</h1>
      {hosts.error && <ErrorMessage error={hosts.error} />}
      {tasks.error && <ErrorMessage error={tasks.error} />}
      {done && (
        <p class="notice" role="status">
          {done}
        </p>
      )}
      {!hosts.data && !hosts.error && <p>Loading…</p>}
      {hosts.data && hosts.data.length === 0 && <p>No hosts have joined yet.</p>}
      {hosts.data && hosts.data.length > 0 && (
        <TableFrame label="Hosts">
          <table>
            <caption class="visually-hidden">Hosts, with CPU and memory used and reserved against capacity</caption>
            <thead>
              <tr>
                <th scope="col">Host</th>
                <th scope="col">State</th>
                <th scope="col">CPU (used, reserved / capacity)</th>
                <th scope="col">Memory (used, reserved / capacity)</th>
                <th scope="col">Tasks</th>
                <th scope="col">Heartbeat</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {hosts.data.map((h) => {
                const use = hostUse(h, tasks.data ?? []);
                const plus = use.unmeasured ? '+' : '';
                return (
                  <tr key={h.id}>
                    <th scope="row">
                      {h.id}
                      <div class="detail">{h.address}</div>
                    </th>
                    <td>
                      <Badge value={h.state} />
                    </td>
                    <td>
                      <UsageBar
                        label={`CPU of ${h.id}`}
                        used={use.cpu}
                        reserved={h.allocated.cpu}
                        capacity={h.capacity.cpu}
                        text={`${cpu(use.cpu)}${plus} used (${percent(use.cpu, h.capacity.cpu)}%), ${cpu(h.allocated.cpu)} reserved of ${cpu(h.capacity.cpu)} CPU`}
                      />
                    </td>
                    <td>
                      <UsageBar
                        label={`Memory of ${h.id}`}
                        used={use.memory}
                        reserved={h.allocated.memory}
                        capacity={h.capacity.memory}
                        text={`${bytes(use.memory)}${plus} used (${percent(use.memory, h.capacity.memory)}%), ${bytes(h.allocated.memory)} reserved of ${bytes(h.capacity.memory)}`}
                      />
                    </td>
                    <td class="num">{h.tasks}</td>
                    <td>{ago(h.heartbeatAt)}</td>
                    <td>
                      {h.state === 'draining' ? (
                        <button type="button" aria-label={`Uncordon ${h.id}`} onClick={() => setAction({ kind: 'uncordon', host: h.id })}>
                          Uncordon…
                        </button>
                      ) : (
                        <button type="button" aria-label={`Drain ${h.id}`} onClick={() => setAction({ kind: 'drain', host: h.id })}>
                          Drain…
                        </button>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </TableFrame>
      )}
      <p class="detail">
        Used: what the running tasks' containers use, from their agents' last reports ("+": some tasks have not reported yet). Reserved: what the scheduler
        allocated (the lighter bar).
      </p>
      {action?.kind === 'drain' && (
        <Confirm
          title={`Drain ${action.host}`}
          confirmLabel="Drain"
          danger
          onClose={() => setAction(undefined)}
          onConfirm={async () => {
            await api.post(`/v1/hosts/${encodeURIComponent(action.host)}/drain`);
            setDone(`${action.host} is draining: its tasks move to other hosts, new ones first.`);
            hosts.reload();
          }}
        >
          <p>{action.host} takes no new tasks, and its tasks are moved to other hosts (the new replica starts before the old one stops).</p>
        </Confirm>
      )}
      {action?.kind === 'uncordon' && (
        <Confirm
          title={`Uncordon ${action.host}`}
          confirmLabel="Uncordon"
          onClose={() => setAction(undefined)}
          onConfirm={async () => {
            await api.post(`/v1/hosts/${encodeURIComponent(action.host)}/uncordon`);
            setDone(`${action.host} takes new tasks again.`);
            hosts.reload();
          }}
        >
          <p>{action.host} takes new tasks again. Tasks already moved away stay where they are.</p>
        </Confirm>
      )}
    </>
  );
}
