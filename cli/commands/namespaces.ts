/** Namespaces in the CLI: `skiff get namespaces`, `skiff apply -f` of a `kind: Namespace`, `skiff delete namespace`. */
import { formatCpu, formatMemory } from '../../core/quantity.ts';
import type { ApiClient } from '../client.ts';
import { table } from '../format.ts';

interface NamespaceRow {
  name: string;
  object: boolean;
  quota: { cpu?: number; memory?: number; tasks?: number; services?: number; ingressHosts?: number } | null;
  ingressHosts: string[] | null;
  used: { cpu: number; memory: number; tasks: number; services: number; ingressHosts: number };
  deleting: string | null;
}

function usedOf(used: number, limit: number | undefined, fmt: (n: number) => string = String): string {
  return limit === undefined ? fmt(used) : `${fmt(used)}/${fmt(limit)}`;
}

export async function getNamespaces(client: ApiClient, q: { name?: string }, mode: 'table' | 'json', out: { log(s: string): void }): Promise<void> {
  const list = q.name
    ? [await client.request<NamespaceRow>('GET', `/v1/namespaces/${encodeURIComponent(q.name)}`)]
    : await client.list<NamespaceRow>('/v1/namespaces');
  if (mode === 'json') return out.log(JSON.stringify(q.name ? list[0] : list, null, 2));
  out.log(
    table([
      ['NAMESPACE', 'CPU', 'MEMORY', 'TASKS', 'SERVICES', 'INGRESS', 'HOSTS', ''],
      ...list.map((n) => [
        n.name,
        usedOf(n.used.cpu, n.quota?.cpu, formatCpu),
        usedOf(n.used.memory, n.quota?.memory, formatMemory),
        usedOf(n.used.tasks, n.quota?.tasks),
        usedOf(n.used.services, n.quota?.services),
        usedOf(n.used.ingressHosts, n.quota?.ingressHosts),
        n.ingressHosts?.join(',') || '-',
        n.deleting ? 'deleting' : '',
      ]),
    ]),
  );
}

/** True when the YAML text is a `kind: Namespace` document (a top-level key). */
export function isNamespaceDocument(text: string): boolean {
  return /^kind:\s*["']?Namespace["']?\s*(#.*)?$/m.test(text);
}

export async function applyNamespace(client: ApiClient, text: string, out: { log(s: string): void }, mode: 'table' | 'json'): Promise<number> {
  const res = await client.request<{ result: string; namespace: { name: string; version: number } }>('POST', '/v1/namespaces', text, 'application/yaml');
  if (mode === 'json') out.log(JSON.stringify(res.namespace, null, 2));
  else out.log(`namespace ${res.namespace.name} ${res.result} (version ${res.namespace.version})`);
  return 0;
}
