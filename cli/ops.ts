/** Operating the cluster: `skiff drain`, `skiff uncordon`, `skiff events`. */
import { ApiClient } from './client.ts';
import { table } from './format.ts';
import type { ClusterEvent } from '../core/types.ts';

type Out = { log: (s: string) => void; err: (s: string) => void };

export async function drain(client: ApiClient, host: string, out: Out): Promise<number> {
  await client.request('POST', `/v1/hosts/${encodeURIComponent(host)}/drain`);
  out.log(`host ${host} draining: its tasks move to other hosts (new ones first, then the old stopped); no new task lands on it`);
  return 0;
}

export async function uncordon(client: ApiClient, host: string, out: Out): Promise<number> {
  await client.request('POST', `/v1/hosts/${encodeURIComponent(host)}/uncordon`);
  out.log(`host ${host} ready: it takes new tasks again`);
  return 0;
}

export async function events(client: ApiClient, filter: { namespace?: string; service?: string; host?: string; limit?: string }, mode: 'table' | 'json', out: Out): Promise<number> {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(filter)) if (v !== undefined) q.set(k, v);
  const list = await client.request<ClusterEvent[]>('GET', `/v1/events${q.size ? `?${q}` : ''}`);
  if (mode === 'json') out.log(JSON.stringify(list, null, 2));
  else out.log(table([['TIME', 'TYPE', 'HOST', 'MESSAGE'], ...list.map((e) => [e.at.replace('T', ' ').replace('Z', ''), e.type, e.host ?? '-', e.message])]));
  return 0;
}
