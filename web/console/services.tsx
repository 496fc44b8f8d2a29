/** The services page: each service's health, replicas, ingress, autoscaling state and rollout progress. */
import { type Api, servicePath } from './api.ts';
import { useLive } from './live.ts';
import type { RolloutStatus, ServiceSummary } from './types.ts';
import { Badge, ErrorMessage, TableFrame } from './ui.tsx';
import { href } from './routes.ts';

export function ServicesPage({ api }: { api: Api }) {
  const services = useLive<ServiceSummary[]>(api, '/v1/services', { watch: true });
  return (
    <>
      <h1>Services</h1>
      {services.error && <ErrorMessage error={services.error} />}
      {!services.data && !services.error && <p>Loading…</p>}
      {services.data && services.data.length === 0 && <p>No services yet: apply one with skiff apply -f FILE.</p>}
      {services.data && services.data.length > 0 && (
        <TableFrame label="Services">
          <table>
            <caption class="visually-hidden">Services, with their replicas and rollouts</caption>
            <thead>
              <tr>
                <th scope="col">Service</th>
                <th scope="col">Health</th>
                <th scope="col">Replicas (running / desired)</th>
                <th scope="col">Ingress</th>
                <th scope="col">Autoscaling</th>
                <th scope="col">Rollout</th>
              </tr>
            </thead>
            <tbody>
              {services.data.map((s) => (
                <ServiceRow key={`${s.namespace}/${s.name}`} api={api} s={s} />
              ))}
            </tbody>
          </table>
        </TableFrame>
      )}
    </>
  );
}

/** A service's health in one word: what the summary says about its replicas. */
export function health(s: Omit<ServiceSummary, 'tasks'>): string {
  if (s.deleting) return 'deleting';
  if (s.ready) return 'healthy';
  if (s.running === 0 && s.replicas > 0) return 'down';
  return 'degraded';
}

export function autoscalingText(s: Omit<ServiceSummary, 'tasks'>): string {
  const a = s.autoscaling;
  if (!a) return s.scale ? `off (scaled to ${s.scale.replicas} by ${s.scale.source})` : 'off';
  const targets = [
    a.targetCPUUtilization !== undefined ? `cpu ${a.targetCPUUtilization}%` : '',
    a.targetMemoryUtilization !== undefined ? `memory ${a.targetMemoryUtilization}%` : '',
    a.targetRequestsPerReplica !== undefined ? `${a.targetRequestsPerReplica} req/s per replica` : '',
  ].filter(Boolean);
  const last = s.scale ? `; last: ${s.scale.replicas} by ${s.scale.source}${s.scale.reason ? ` (${s.scale.reason})` : ''}` : '';
  return `${a.minReplicas}–${a.maxReplicas}, ${targets.join(', ') || 'no target'}${last}`;
}

export function rolloutText(r: RolloutStatus): string {
  return `${r.updated}/${r.replicas} updated, ${r.available} available${r.old ? `, ${r.old} old` : ''}`;
}

function ServiceRow({ api, s }: { api: Api; s: ServiceSummary }) {
  // One small read per service on screen, again whenever the watched list shows the service move
  // (a rollout changes its replicas' counts or its version), and every 15 s besides.
  const rollout = useLive<RolloutStatus>(api, `${servicePath(s.namespace, s.name)}/rollout`, {
    intervalMs: 15_000,
    refreshKey: `${s.specVersion}/${s.replicas}/${s.running}/${s.tasks}/${s.ready}`,
  });
  const h = health(s);
  return (
    <tr>
      <th scope="row">
        <a href={href.service(s.namespace, s.name)}>
          <span class="ns">{s.namespace}/</span>
          {s.name}
        </a>
      </th>
      <td>
        <Badge value={h} />
      </td>
      <td>
        <span class="num">
          {s.running} / {s.replicas}
        </span>
      </td>
      <td>{s.ingress ? `${s.ingress.host} → :${s.ingress.port}` : '-'}</td>
      <td class="wrap">{autoscalingText(s)}</td>
      <td>
        {rollout.data ? (
          <>
            <Badge value={rollout.data.phase} /> <span class="detail">{rolloutText(rollout.data)}</span>
          </>
        ) : rollout.error ? (
          <span class="detail">{rollout.error.message}</span>
        ) : (
          '…'
        )}
      </td>
    </tr>
  );
}
