/**
 * Deleting persistent volumes (`skiff delete service NAME --delete-volumes`). Pure.
 *
 * The API marks the service's volume records `deleting`. Once the service itself is gone (no host
 * reports a task of it, so no container uses its volumes), each scheduler pass lists every marked
 * volume in the document of the host that is to delete its data (its holder), and forgets the record
 * once that host's report says the data is gone. Level-triggered like the rest: a lost document or
 * report only delays the removal; an agent asked twice finds nothing left and says so again.
 *
 * Who holds a volume:
 * - local Docker volumes (`host`): the host the record names, where the data lives. While it is down
 *   the removal waits (its data is still there, it may come back); a host the cluster forgot (its
 *   machine is gone for good) took the data with it, so the record is forgotten at once.
 * - EFS (`shared`): any host reaches the access point, so the recorded host if it is up, else the
 *   first ready host; any host's report that it deleted the volume is enough.
 */
import type { Host, HostStatus, Service, VolumeRemoval } from './types.ts';
import { volumeKeyString, type VolumeRecord } from './volumes.ts';

export interface VolumeRemovalPlan {
  /** What each host's document lists for removal, in volume order. */
  readonly byHost: ReadonlyMap<string, readonly VolumeRemoval[]>;
  /** Records to forget, with why: their data is gone. */
  readonly forget: readonly { readonly record: VolumeRecord; readonly reason: string }[];
  /** Marked records no host can delete yet, with why. */
  readonly waiting: readonly { readonly record: VolumeRecord; readonly reason: string }[];
}

/** The removal entry of a record (what a host document carries). */
export function volumeRemoval(r: VolumeRecord): VolumeRemoval {
  return { id: r.id, namespace: r.namespace, service: r.service, volume: r.volume, slot: r.slot };
}

/**
 * Removals one document carries at most; the rest wait for a later one (a pass after the first are
 * reported). An entry is at most about 450 bytes of JSON (three key parts of 63 characters, the id
 * that joins them, a slot), so 32 stay under 15 KiB: inside the 16 KiB the document budget keeps
 * beside the tasks (core/document-size.ts DOCUMENT_ENVELOPE_BYTES), with room for the network.
 */
export const MAX_REMOVALS_PER_DOCUMENT = 32;

/** Hosts that can act on a removal: their agent runs and reads its document. */
const ACTIVE: ReadonlySet<Host['state']> = new Set(['ready', 'draining', 'degraded', 'suspect']);

/**
 * The removal plan for the volume records marked `deleting` (others are ignored), from the hosts and
 * their agents' reports. `where` is PassDeps.volumes: `host` (local Docker volumes) or `shared` (EFS).
 */
export function planVolumeRemovals(
  records: readonly VolumeRecord[],
  hosts: readonly Pick<Host, 'id' | 'state'>[],
  statuses: readonly Pick<HostStatus, 'hostId' | 'removedVolumes'>[],
  services: readonly Pick<Service, 'namespace' | 'name'>[],
  where: 'host' | 'shared',
): VolumeRemovalPlan {
  // A service is removed only once its tasks are gone and no host reports one (core/pass.ts): until
  // then its replicas run. A container still draining after its task left the document is not reported:
  // the holder's agent waits for its own (agent/volumes.ts removalsDue); with EFS, one draining on
  // another host may still write while the data is deleted (docs/spec.md says so).
  const present = new Set(services.map((s) => `${s.namespace}/${s.name}`));
  const byId = new Map(hosts.map((h) => [h.id, h]));
  const reported = new Map(statuses.map((s) => [s.hostId, new Set(s.removedVolumes ?? [])]));
  const byHost = new Map<string, VolumeRemoval[]>();
  const forget: { record: VolumeRecord; reason: string }[] = [];
  const waiting: { record: VolumeRecord; reason: string }[] = [];
  // Sorted by id so that the first ready host (EFS) is the same on every pass.
  const ready = hosts
    .filter((h) => h.state === 'ready')
    .map((h) => h.id)
    .sort();
  for (const record of records) {
    if (record.deleting === undefined) continue;
    if (present.has(`${record.namespace}/${record.service}`)) {
      waiting.push({ record, reason: `service ${record.namespace}/${record.service} is still stopping its containers` });
      continue;
    }
    const key = volumeKeyString(record);
    if (where === 'host') {
      const holder = byId.get(record.host);
      if (!holder) {
        forget.push({ record, reason: `host ${record.host} is gone, and its data with it` });
        continue;
      }
      if (reported.get(holder.id)?.has(key)) {
        forget.push({ record, reason: `host ${holder.id} deleted it` });
        continue;
      }
      if (!add(byHost, holder.id, volumeRemoval(record))) {
        waiting.push({ record, reason: `host ${holder.id} deletes ${MAX_REMOVALS_PER_DOCUMENT} volumes at a time; this one waits its turn` });
        continue;
      }
      if (!ACTIVE.has(holder.state)) waiting.push({ record, reason: `its data lives on host ${holder.id}, which is ${holder.state}; deleted when it is back` });
      continue;
    }
    const by = [...reported].find(([, keys]) => keys.has(key))?.[0];
    if (by !== undefined) {
      forget.push({ record, reason: `host ${by} deleted it` });
      continue;
    }
    const recorded = byId.get(record.host);
    const holder = recorded && ACTIVE.has(recorded.state) ? recorded.id : ready[0];
    if (holder === undefined) {
      waiting.push({ record, reason: 'no host is ready to delete its access point' });
      continue;
    }
    if (!add(byHost, holder, volumeRemoval(record)))
      waiting.push({ record, reason: `host ${holder} deletes ${MAX_REMOVALS_PER_DOCUMENT} volumes at a time; this one waits its turn` });
  }
  return { byHost, forget, waiting };
}

/** Adds the removal to the host's list unless that is full; false when it is. */
function add(byHost: Map<string, VolumeRemoval[]>, host: string, removal: VolumeRemoval): boolean {
  const list = byHost.get(host) ?? [];
  if (list.length >= MAX_REMOVALS_PER_DOCUMENT) return false;
  list.push(removal);
  byHost.set(host, list);
  return true;
}

/**
 * Why a service may not be applied now: a volume it declares, left by a deleted service of the same
 * name, is still being deleted (the new replica would mount data about to vanish). Undefined: none.
 */
export function volumesBeingDeleted(
  spec: { readonly namespace: string; readonly name: string; readonly volumes: readonly string[] },
  records: readonly VolumeRecord[],
): string | undefined {
  const busy = records.filter((r) => r.deleting !== undefined && r.namespace === spec.namespace && r.service === spec.name && spec.volumes.includes(r.volume));
  if (busy.length === 0) return undefined;
  const ids = busy.map((r) => r.id).join(', ');
  return `service ${spec.namespace}/${spec.name}: its volume${busy.length > 1 ? 's' : ''} ${ids} from a deleted service of that name ${busy.length > 1 ? 'are' : 'is'} still being deleted; apply again once \`skiff get volumes\` no longer lists ${busy.length > 1 ? 'them' : 'it'}`;
}
