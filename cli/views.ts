/** The API's answers as the CLI reads them, and the tables more than one command prints. */
import type { AutoscalingSpec } from '../core/types.ts';
import type { MetricReading } from '../core/autoscale.ts';
import { table } from './format.ts';

export interface TaskRow {
  id: string;
  namespace: string;
  service: string;
  host: string | null;
  state: string;
  health?: string;
  restarts?: number;
  exitCode?: number;
  message?: string;
  ports: { containerPort: number; hostIp: string; hostPort: number }[];
  /** The replica's address on the container network. */
  address?: string;
}

export interface ServiceDetail {
  name: string;
  namespace: string;
  replicas: number;
  running: number;
  ready: boolean;
  dns: string;
  ingress: { host: string; port: number; sessionAffinity: boolean; path?: string; tls?: true | { certificateArn: string } } | null;
  tasks: TaskRow[];
  /** Who chose `replicas` after the apply, and why. */
  scale?: { replicas: number; source: string; at: string; reason?: string } | null;
  autoscaling?: AutoscalingSpec | null;
  /** The autoscaler's targets as measured now. */
  metrics?: MetricReading[];
}

export function servicePath(ns: string, name: string): string {
  return `/v1/namespaces/${encodeURIComponent(ns)}/services/${encodeURIComponent(name)}`;
}

/** `127.0.1.1:32768->8080,...`, or `-`. */
export function endpoints(t: TaskRow): string {
  return t.ports.map((p) => `${p.hostIp}:${p.hostPort}->${p.containerPort}`).join(',') || '-';
}

/** Tasks as a table; `wide` adds each replica's address on the container network. */
export function taskTable(tasks: readonly TaskRow[], wide = false): string {
  return table([
    ['TASK', 'SERVICE', 'HOST', 'STATE', 'HEALTH', 'RESTARTS', ...(wide ? ['ADDRESS'] : []), 'ENDPOINTS', 'MESSAGE'],
    ...tasks.map((t) => [
      t.id,
      t.namespace === 'default' ? t.service : `${t.namespace}/${t.service}`,
      t.host ?? '-',
      t.exitCode !== undefined ? `${t.state} (${t.exitCode})` : t.state,
      t.health ?? '-',
      String(t.restarts ?? 0),
      ...(wide ? [t.address ?? '-'] : []),
      endpoints(t),
      t.message ?? '',
    ]),
  ]);
}
