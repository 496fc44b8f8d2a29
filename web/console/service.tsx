/** One service: its state, rollout, tasks (with their hosts and addresses), and the actions on it, each confirmed. */
import { useState } from 'preact/hooks';
import { type Api, servicePath } from './api.ts';
import { Confirm } from './dialog.tsx';
import { LiveEvents } from './events.tsx';
import { ago } from './format.ts';
import { useLive } from './live.ts';
import { href } from './routes.ts';
import { autoscalingText, health, rolloutText } from './services.tsx';
import type { RolloutStatus, ServiceDetail, TaskView } from './types.ts';
import { Badge, ErrorMessage, TableFrame } from './ui.tsx';

type Action = 'scale' | 'restart' | 'undo';

export function ServicePage({ api, namespace, name }: { api: Api; namespace: string; name: string }) {
  const path = servicePath(namespace, name);
  const detail = useLive<ServiceDetail>(api, path);
  const rollout = useLive<RolloutStatus>(api, `${path}/rollout`);
  const [action, setAction] = useState<Action | undefined>();
  const [done, setDone] = useState<string | undefined>();
  const s = detail.data;
  // Every write names the version on screen (If-Match): a change made meanwhile is refused, not overwritten.
  const ifMatch: Record<string, string> = s ? { 'if-match': `"${s.specVersion}"` } : {};
  const after = (message: string) => {
    setDone(message);
    detail.reload();
    rollout.reload();
  };
  return (
    <>
      <p class="crumbs">
        <a href={href.services()}>Services</a> / {namespace}
      </p>
      <h1>{name}</h1>
      {detail.error && <ErrorMessage error={detail.error} />}
      {done && (
        <p class="notice" role="status">
          {done}
        </p>
      )}
      {s && (
        <>
          <div class="actions">
            <button type="button" onClick={() => setAction('scale')}>
              Scale…
            </button>
            <button type="button" onClick={() => setAction('restart')}>
              Restart…
            </button>
            <button type="button" onClick={() => setAction('undo')}>
              Roll back…
            </button>
            <a class="button" href={href.logs(namespace, name)}>
              Live logs
            </a>
          </div>
          <dl class="facts">
            <dt>Health</dt>
            <dd>
              <Badge value={health(s)} />
            </dd>
            <dt>Replicas</dt>
            <dd>
              {s.running} running of {s.replicas} desired
            </dd>
            <dt>Version</dt>
            <dd>{s.specVersion}</dd>
            <dt>DNS name</dt>
            <dd>
              <code>{s.dns}</code>
            </dd>
            <dt>Ingress</dt>
            <dd>{s.ingress ? `${s.ingress.host} → container port ${s.ingress.port}` : 'none'}</dd>
            <dt>Autoscaling</dt>
            <dd>{autoscalingText(s)}</dd>
            <dt>Rollout</dt>
            <dd>
              {rollout.data ? (
                <>
                  <Badge value={rollout.data.phase} /> {rolloutText(rollout.data)}
                  {rollout.data.message ? ` — ${rollout.data.message}` : ''}
                </>
              ) : (
                (rollout.error?.message ?? '…')
              )}
            </dd>
          </dl>
          {s.metrics && s.metrics.length > 0 && (
            <>
              <h2>Autoscaling targets</h2>
              <ul>
                {s.metrics.map((m) => (
                  <li key={m.metric}>
                    {m.metric}: {m.value ?? 'not measured'} against a target of {m.target}
                    {m.proposal !== undefined ? ` (asks for ${m.proposal} replicas)` : ''}
                    {m.note ? ` — ${m.note}` : ''}
                  </li>
                ))}
              </ul>
            </>
          )}
          <h2>Tasks</h2>
          <TasksTable tasks={s.tasks} />
          <h2>Recent events</h2>
          <LiveEvents
            api={api}
            query={`namespace=${encodeURIComponent(namespace)}&service=${encodeURIComponent(name)}&limit=20`}
            caption={`The newest 20 events of ${namespace}/${name}, newest first`}
          />
        </>
      )}
      {s && action === 'scale' && (
        <ScaleDialog
          current={s.replicas}
          onClose={() => setAction(undefined)}
          send={async (replicas) => {
            await api.post(`${path}/scale`, { replicas }, ifMatch);
            after(`Scaled ${namespace}/${name} to ${replicas} replicas.`);
          }}
        />
      )}
      {s && action === 'restart' && (
        <Confirm
          title="Restart the service"
          confirmLabel="Restart"
          onClose={() => setAction(undefined)}
          onConfirm={async () => {
            await api.post(`${path}/rollout/restart`, {}, ifMatch);
            after(`Restarting ${namespace}/${name}: every replica is replaced, within the update budget.`);
          }}
        >
          <p>
            Every replica of {namespace}/{name} is replaced by a new one (new containers, same spec), a few at a time.
          </p>
        </Confirm>
      )}
      {s && action === 'undo' && (
        <Confirm
          title="Roll back the service"
          confirmLabel="Roll back"
          danger
          onClose={() => setAction(undefined)}
          onConfirm={async () => {
            const out = await api.post<{ toVersion: number }>(`${path}/rollout/undo`, {}, ifMatch);
            after(`Rolling ${namespace}/${name} back to the template of version ${out.body.toVersion}.`);
          }}
        >
          <p>
            The pod template of {namespace}/{name} goes back to the newest earlier revision that rolled out healthy, as a new version rolled out like any
            change.
          </p>
        </Confirm>
      )}
    </>
  );
}

function ScaleDialog({ current, send, onClose }: { current: number; send: (replicas: number) => Promise<void>; onClose: () => void }) {
  const [value, setValue] = useState(String(current));
  return (
    <Confirm
      title="Scale the service"
      confirmLabel={`Scale to ${value}`}
      onClose={onClose}
      onConfirm={async () => {
        // The API checks the number (a whole number in range, autoscaling bounds, quota) and says what is wrong.
        await send(Number(value));
      }}
    >
      <p>Runs this many replicas from now on; an apply that leaves spec.replicas unchanged keeps it.</p>
      <label for="replicas">Replicas</label>
      <input
        id="replicas"
        name="replicas"
        type="number"
        inputMode="numeric"
        min={0}
        step={1}
        required
        value={value}
        onInput={(e) => setValue(e.currentTarget.value)}
      />
    </Confirm>
  );
}

function TasksTable({ tasks }: { tasks: readonly TaskView[] }) {
  if (tasks.length === 0) return <p>No tasks.</p>;
  return (
    <TableFrame label="Tasks">
      <table>
        <caption class="visually-hidden">Tasks of the service, with their hosts and addresses</caption>
        <thead>
          <tr>
            <th scope="col">Task</th>
            <th scope="col">State</th>
            <th scope="col">Host</th>
            <th scope="col">Address</th>
            <th scope="col">Ports</th>
            <th scope="col">Restarts</th>
            <th scope="col">Since</th>
          </tr>
        </thead>
        <tbody>
          {tasks.map((t) => (
            <tr key={t.id}>
              <th scope="row">
                <code>{t.id}</code>
              </th>
              <td class="wrap">
                <Badge value={t.state} />
                {t.health && t.health !== 'healthy' ? <Badge value={t.health} /> : null}
                {t.desired !== 'running' ? <span class="detail"> (desired {t.desired})</span> : null}
                {t.message ? <div class="detail">{t.message}</div> : null}
              </td>
              <td>{t.host ?? 'not placed'}</td>
              <td>{t.address ?? '-'}</td>
              <td>{t.ports.length ? t.ports.map((p) => `${p.hostIp}:${p.hostPort}→${p.containerPort}/${p.protocol}`).join(', ') : '-'}</td>
              <td class="num">{t.restarts ?? 0}</td>
              <td>{ago(t.since ?? t.createdAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </TableFrame>
  );
}
