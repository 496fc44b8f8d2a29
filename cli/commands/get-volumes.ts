/** `skiff get volumes`: the persistent volumes, each with the host that holds it and its state (bound, retained, deleting). */
import type { ApiClient } from '../client.ts';
import { age, table } from '../format.ts';
import type { VolumeView } from '../../core/volumes.ts';

export async function volumes(
  client: ApiClient,
  q: { readonly name?: string; readonly namespace?: string; readonly service?: string },
  mode: 'table' | 'json',
  out: { log(s: string): void },
): Promise<void> {
  const params = new URLSearchParams();
  if (q.namespace) params.set('namespace', q.namespace);
  if (q.service) params.set('service', q.service);
  const all = await client.list<VolumeView>(`/v1/volumes${params.size ? `?${params}` : ''}`);
  // `skiff get volumes NAME`: the one volume of that id.
  const list = q.name ? all.filter((v) => v.name === q.name) : all;
  if (mode === 'json') return out.log(JSON.stringify(list, null, 2));
  out.log(
    table([
      ['NAMESPACE', 'NAME', 'SERVICE', 'VOLUME', 'SLOT', 'HOST', 'STATE', 'AGE'],
      // A server from before volume states shows none.
      ...list.map((v) => [v.namespace, v.name, v.service, v.volume, String(v.slot), v.host, v.state ?? '', age(v.createdAt)]),
    ]),
  );
}
