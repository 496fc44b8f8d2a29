/**
 * Persistent volumes: their identity and where they live. Pure.
 *
 * A persistent volume belongs to one replica slot of a service: replica 2 of `default/db` with a volume
 * `data` owns `default-db-data-2`, whatever task incarnation runs the slot. Locally it is a Docker named
 * volume on the host that first held it, so the slot is always placed back there (sticky placement);
 * on AWS it is an EFS access point, reachable from every host, so it follows the replica anywhere.
 */
import { z } from 'zod';
import type { PodSpec } from './types.ts';

/** What names a volume in the store: a tuple, since the dashed id can be read two ways (`a-b` + `c` or `a` + `b-c`). */
export type VolumeKey = Pick<VolumeRecord, 'namespace' | 'service' | 'volume' | 'slot'>;

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
  /**
   * When its removal was asked (`skiff delete service --delete-volumes`): the data is being deleted by
   * its host (core/volume-removal.ts), and the record goes once that host has said so. Absent: kept.
   */
  readonly deleting?: string;
}

/** The id of the persistent volume `volume` of replica `slot` of a service. */
export function volumeId(namespace: string, service: string, volume: string, slot: number): string {
  return `${namespace}-${service}-${volume}-${slot}`;
}

/** The persistent volumes of a pod, by spec name. */
export function persistentVolumes(pod: Pick<PodSpec, 'volumes'>): string[] {
  return (pod.volumes ?? []).filter((v) => v.persistent !== undefined).map((v) => v.name);
}

/** The keys of the persistent volumes a slot's pod uses. */
export function slotVolumes(namespace: string, service: string, slot: number, pod: Pick<PodSpec, 'volumes'>): VolumeKey[] {
  return persistentVolumes(pod).map((volume) => ({ namespace, service, volume, slot }));
}

/**
 * The host a slot must run on because its volumes' data lives there, or a conflict: two volumes of the
 * slot held by different hosts (only after a host was replaced by hand) cannot both be reached.
 */
export function stickyHost(
  keys: readonly VolumeKey[],
  records: ReadonlyMap<string, Pick<VolumeRecord, 'host' | 'id'>>,
): { readonly host?: string; readonly volume?: string; readonly conflict?: string } {
  let host: string | undefined;
  let volume: string | undefined;
  for (const key of keys) {
    const r = records.get(volumeKeyString(key));
    if (!r) continue;
    const id = r.id;
    // Only after a record was changed by hand: the first volume's host wins, and the conflict is said.
    if (host !== undefined && r.host !== host) return { host, volume, conflict: `volumes ${volume} and ${id} live on different hosts (${host}, ${r.host})` };
    host = r.host;
    volume = id;
  }
  return host === undefined ? {} : { host, volume };
}

const label = z
  .string()
  .regex(/^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?$/)
  .max(63);

/** A volume item as read from the store: checked before it is trusted (hosts are not). */
export const VolumeRecordSchema = z.strictObject({
  id: z.string().max(256),
  namespace: label,
  service: label,
  volume: label,
  slot: z.number().int().min(0).max(999_999),
  host: z.string().min(1).max(256),
  createdAt: z.string().max(64),
  deleting: z.string().max(64).optional(),
});

/** The record, or why it is not one (a wrong shape, or an id that does not match its parts). */
export function parseVolumeRecord(item: unknown): { ok: true; value: VolumeRecord } | { ok: false; reason: string } {
  const parsed = VolumeRecordSchema.safeParse(item);
  if (!parsed.success) return { ok: false, reason: parsed.error.issues.map((i) => `${i.path.join('.') || '(item)'}: ${i.message}`).join('; ') };
  const v = parsed.data;
  const id = volumeId(v.namespace, v.service, v.volume, v.slot);
  const value: VolumeRecord =
    v.deleting === undefined
      ? { id: v.id, namespace: v.namespace, service: v.service, volume: v.volume, slot: v.slot, host: v.host, createdAt: v.createdAt }
      : v;
  return v.id === id ? { ok: true, value } : { ok: false, reason: `id ${JSON.stringify(v.id)} is not ${JSON.stringify(id)}, as its parts say` };
}

/** Records by `volumeKeyString`, for the scheduler. */
export function volumeKeyString(v: VolumeKey): string {
  return `${v.namespace}/${v.service}/${v.volume}/${v.slot}`;
}

/** `<namespace>#<service>#<volume>#<slot, 6 digits>`: the order volumes are listed in (and their DynamoDB sort key). */
export function volumeSortKey(v: VolumeKey): string {
  return `${v.namespace}#${v.service}#${v.volume}#${String(v.slot).padStart(6, '0')}`;
}

/** A volume as the API and `skiff get volumes -o json` show it; `name`, `namespace`, `service` and `host` are a contract. */
export interface VolumeView {
  readonly name: string;
  readonly namespace: string;
  readonly service: string;
  /** The volume's name in the spec. */
  readonly volume: string;
  readonly slot: number;
  /** Where the data lives (local Docker volumes); on EFS, the host the slot was first placed on. */
  readonly host: string;
  readonly createdAt: string;
  /**
   * `bound`: a service of its name declares it (it is, or will be, mounted); `retained`: its service was
   * deleted (or no longer declares it) and the data is kept, for a later service of the same name to
   * attach; `deleting`: its removal was asked, its host is deleting the data.
   */
  readonly state: VolumeState;
  /** When its removal was asked. */
  readonly deleting?: string;
}

export type VolumeState = 'bound' | 'retained' | 'deleting';

/** The services that declare a persistent volume, as `volumeState` reads them. */
export interface VolumeUser {
  readonly namespace: string;
  readonly name: string;
  readonly deleting: boolean;
  readonly spec: { readonly spec: Pick<PodSpec, 'volumes'> };
}

/**
 * Whether a volume is in use by a service, kept without one, or being deleted. A service being deleted
 * no longer counts as its user: once its tasks are gone its volumes are retained (unless deleting).
 */
export function volumeState(v: Pick<VolumeRecord, 'namespace' | 'service' | 'volume' | 'deleting'>, services: readonly VolumeUser[]): VolumeState {
  if (v.deleting !== undefined) return 'deleting';
  const owner = services.find((s) => s.namespace === v.namespace && s.name === v.service);
  return owner && !owner.deleting && persistentVolumes(owner.spec.spec).includes(v.volume) ? 'bound' : 'retained';
}

export function volumeView(v: VolumeRecord, services: readonly VolumeUser[] = []): VolumeView {
  return {
    name: v.id,
    namespace: v.namespace,
    service: v.service,
    volume: v.volume,
    slot: v.slot,
    host: v.host,
    createdAt: v.createdAt,
    state: volumeState(v, services),
    ...(v.deleting !== undefined ? { deleting: v.deleting } : {}),
  };
}
