/** The API's answers as the CLI reads them, and the tables more than one command prints. */
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
  ingress: { host: string; port: number; sessionAffinity: boolean } | null;
  tasks: TaskRow[];
}

export function servicePath(ns: string, name: string): string {
  return `/v1/namespaces/${encodeURIComponent(ns)}/services/${encodeURIComponent(name)}`;
}

/** `127.0.1.1:32768->8080,...`, or `-`. */
export function endpoints(t: TaskRow): string {
  return t.ports.map((p) => `${p.hostIp}:${p.hostPort}->${p.containerPort}`).join(',') || '-';
}

export function taskTable(tasks: readonly TaskRow[]): string {
  return table([
    ['TASK', 'SERVICE', 'HOST', 'STATE', 'HEALTH', 'RESTARTS', 'ENDPOINTS', 'MESSAGE'],
    ...tasks.map((t) => [
      t.id,
      t.namespace === 'default' ? t.service : `${t.namespace}/${t.service}`,
      t.host ?? '-',
      t.exitCode !== undefined ? `${t.state} (${t.exitCode})` : t.state,
      t.health ?? '-',
      String(t.restarts ?? 0),
      endpoints(t),
      t.message ?? '',
    ]),
  ]);
}
