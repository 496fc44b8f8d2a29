/**
 * Persistent volumes: their identity and where they live. Pure.
 *
 * A persistent volume belongs to one replica slot of a service: replica 2 of `default/db` with a volume
 * `data` owns `default-db-data-2`, whatever task incarnation runs the slot. Locally it is a Docker named
 * volume on the host that first held it, so the slot is always placed back there (sticky placement);
 * on AWS it is an EFS access point, reachable from every host, so it follows the replica anywhere.
 */
import type { PodSpec } from './types.ts';

/** A persistent volume as the store records it: which slot owns it, and the host that holds its data. */
export interface VolumeRecord {
  /** `<namespace>-<service>-<volume>-<slot>` (volumeId). */
  readonly id: string;
  readonly namespace: string;
  readonly service: string;
  /** The volume's name in the spec. */
  readonly volume: string;
  readonly slot: number;
  /** The host whose Docker holds the data (local volumes); the first host the slot was placed on. */
  readonly host: string;
  readonly createdAt: string;
}

/** The id of the persistent volume `volume` of replica `slot` of a service. */
export function volumeId(namespace: string, service: string, volume: string, slot: number): string {
  return `${namespace}-${service}-${volume}-${slot}`;
}

/** The persistent volumes of a pod, by spec name. */
export function persistentVolumes(pod: Pick<PodSpec, 'volumes'>): string[] {
  return (pod.volumes ?? []).filter((v) => v.persistent !== undefined).map((v) => v.name);
}

/** The ids of the persistent volumes a slot's pod uses. */
export function slotVolumeIds(namespace: string, service: string, slot: number, pod: Pick<PodSpec, 'volumes'>): string[] {
  return persistentVolumes(pod).map((v) => volumeId(namespace, service, v, slot));
}

/**
 * The host a slot must run on because its volumes' data lives there, or a conflict: two volumes of the
 * slot held by different hosts (only after a host was replaced by hand) cannot both be reached.
 */
export function stickyHost(
  ids: readonly string[],
  records: ReadonlyMap<string, Pick<VolumeRecord, 'host'>>,
): { readonly host?: string; readonly volume?: string; readonly conflict?: string } {
  let host: string | undefined;
  let volume: string | undefined;
  for (const id of ids) {
    const r = records.get(id);
    if (!r) continue;
    if (host !== undefined && r.host !== host) return { conflict: `volumes ${volume} and ${id} live on different hosts (${host}, ${r.host})` };
    host = r.host;
    volume = id;
  }
  return host === undefined ? {} : { host, volume };
}
