/**
 * The API's side of deleting persistent volumes (core/volume-removal.ts): `DELETE
 * /v1/namespaces/{ns}/services/{name}?deleteVolumes=true` marks the service's volume records; the
 * scheduler pass has their hosts delete the data, then forgets them. Without it they are kept.
 */
import { ConflictError, ValidationError } from '../core/errors.ts';
import type { ServiceSpec } from '../core/types.ts';
import { volumesBeingDeleted } from '../core/volume-removal.ts';
import { persistentVolumes, type VolumeRecord } from '../core/volumes.ts';
import type { VolumeStore } from '../ports/index.ts';

/** `deleteVolumes` as the query gives it: `true` or `false`, absent is false; anything else names the parameter. */
export function parseDeleteVolumes(value: string | undefined): boolean {
  if (value === undefined || value === 'false') return false;
  if (value === 'true') return true;
  throw new ValidationError([{ path: 'query.deleteVolumes', message: `must be true or false, not ${JSON.stringify(value)}` }]);
}

/** Marks every recorded volume of the service for removal; returns them as marked, in volume order. */
export async function markServiceVolumesDeleting(store: VolumeStore, namespace: string, service: string, now: string): Promise<VolumeRecord[]> {
  const mine = (await store.listVolumes(namespace)).filter((v) => v.service === service);
  const marked: VolumeRecord[] = [];
  // One small conditional write each: a service has a few volumes times its replicas.
  for (const v of mine) {
    const r = await store.markVolumeDeleting(v, now);
    if (r) marked.push(r);
  }
  return marked;
}

/**
 * Refuses a workload whose persistent volumes, left by a deleted service of the same name, are still
 * being deleted: its replicas would be placed on data about to vanish. One read, only for a spec that
 * declares persistent volumes.
 */
export async function checkVolumesNotDeleting(store: VolumeStore, spec: ServiceSpec): Promise<void> {
  const volumes = persistentVolumes(spec.spec);
  if (volumes.length === 0) return;
  const { namespace, name } = spec.metadata;
  const problem = volumesBeingDeleted({ namespace, name, volumes }, await store.listVolumes(namespace));
  if (problem !== undefined) throw new ConflictError(problem);
}
