/**
 * A pod's volumes on a host. `emptyDir` volumes are Docker volumes that live with the pod (removed once
 * no container of their task remains on the host); `persistent` ones outlive every task: locally a Docker
 * named volume per replica slot, kept until the service is deleted with its volumes.
 */
import type Dockerode from 'dockerode';
import type { ContainerSpec, HostDocumentTask, VolumeRemoval } from '../core/types.ts';
import { volumeKeyString } from '../core/volumes.ts';
import { dockerCall, statusOf } from './docker-calls.ts';
import type { ContainerInfo, Mount } from './executor.ts';

/** Labels of every volume the agent makes, beside the container labels (LABELS). */
export const VOLUME_LABELS = {
  cluster: 'skiff.cluster',
  host: 'skiff.host',
  namespace: 'skiff.namespace',
  service: 'skiff.service',
  /** emptyDir volumes: their task; they go with it. */
  task: 'skiff.task',
  slot: 'skiff.slot',
  /** The volume's name in the spec. */
  volume: 'skiff.volume',
  kind: 'skiff.volume-kind',
} as const;

/** The source of each of a pod's volumes, by its name in the spec. */
export type VolumeSources = ReadonlyMap<string, Pick<Mount, 'type' | 'source'>>;

export interface VolumeManager {
  /** Makes the task's volumes exist on this host (idempotent) and says how to mount each. */
  ensure(task: HostDocumentTask): Promise<VolumeSources>;
  /** Removes the emptyDir volumes of tasks not in `live` (their containers are gone). */
  prune(live: ReadonlySet<string>): Promise<void>;
  /**
   * Deletes a persistent volume and its data from this host (its removal was asked: the host document's
   * `removeVolumes`). `removed` also when it was not there (asked again after a restart); `in-use` while
   * a container still mounts it (asked again next round).
   */
  removePersistent(removal: VolumeRemoval): Promise<'removed' | 'in-use'>;
}

/**
 * The removals to attempt this round: those not yet done, and whose service has no container on this
 * host and no task in its document (their containers would mount the volume). Pure.
 */
export function removalsDue(
  removals: readonly VolumeRemoval[],
  done: ReadonlySet<string>,
  containers: readonly Pick<ContainerInfo, 'namespace' | 'service'>[],
  tasks: readonly Pick<HostDocumentTask, 'namespace' | 'service'>[],
): VolumeRemoval[] {
  const busy = new Set([...containers, ...tasks].filter((c) => c.namespace !== undefined && c.service !== undefined).map((c) => `${c.namespace}/${c.service}`));
  return removals.filter((r) => !done.has(volumeKeyString(r)) && !busy.has(`${r.namespace}/${r.service}`));
}

/** The mounts of one container from its volumeMounts. */
export function mountsOf(container: ContainerSpec, sources: VolumeSources): Mount[] {
  return (container.volumeMounts ?? []).map((m) => {
    const source = sources.get(m.name);
    // The spec refuses a mount of an undeclared volume; a stored pod that has one is corrupt.
    if (!source) throw new Error(`container ${container.name} mounts the volume ${m.name}, which the pod does not declare`);
    return { ...source, target: m.mountPath, readOnly: m.readOnly === true };
  });
}

/**
 * Docker volume names: `skiff.<cluster>.<namespace>.<taskId>.<volume>` for an emptyDir (its task's),
 * `skiff.<cluster>.<namespace>.<service>.<volume>.<slot>` for a persistent one (its slot's). Dots, which no
 * DNS label holds, keep two services' names apart (the dashed volume id can be read two ways).
 */
export function dockerVolumeName(
  cluster: string,
  task: Pick<HostDocumentTask, 'id' | 'namespace' | 'service' | 'slot'>,
  volume: string,
  persistent: boolean,
): string {
  return persistent ? `skiff.${cluster}.${task.namespace}.${task.service}.${volume}.${task.slot}` : `skiff.${cluster}.${task.namespace}.${task.id}.${volume}`;
}

/** Volume create, list and remove are metadata operations of the daemon: as quick as a container inspect. */
const VOLUME_CALL_MS = 10_000;

export class DockerVolumeManager implements VolumeManager {
  constructor(
    private readonly docker: Dockerode,
    private readonly cluster: string,
    private readonly hostId: string,
  ) {}

  async ensure(task: HostDocumentTask): Promise<VolumeSources> {
    const sources = new Map<string, Pick<Mount, 'type' | 'source'>>();
    for (const v of task.pod.volumes ?? []) {
      const persistent = v.persistent !== undefined;
      const name = dockerVolumeName(this.cluster, task, v.name, persistent);
      const labels: Record<string, string> = {
        [VOLUME_LABELS.cluster]: this.cluster,
        [VOLUME_LABELS.host]: this.hostId,
        [VOLUME_LABELS.namespace]: task.namespace,
        [VOLUME_LABELS.service]: task.service,
        [VOLUME_LABELS.slot]: String(task.slot),
        [VOLUME_LABELS.volume]: v.name,
        [VOLUME_LABELS.kind]: persistent ? 'persistent' : 'emptyDir',
        ...(persistent ? {} : { [VOLUME_LABELS.task]: task.id }),
      };
      // Creating a volume that exists returns it unchanged (with its data): idempotent.
      await dockerCall(`create volume ${name}`, VOLUME_CALL_MS, (abortSignal) => this.docker.createVolume({ Name: name, Labels: labels, abortSignal }));
      sources.set(v.name, { type: 'volume', source: name });
    }
    return sources;
  }

  async prune(live: ReadonlySet<string>): Promise<void> {
    const listed = await dockerCall('list volumes', VOLUME_CALL_MS, (abortSignal) =>
      this.docker.listVolumes({
        filters: { label: [`${VOLUME_LABELS.cluster}=${this.cluster}`, `${VOLUME_LABELS.host}=${this.hostId}`, `${VOLUME_LABELS.kind}=emptyDir`] },
        abortSignal,
      }),
    );
    for (const v of listed.Volumes ?? []) {
      const task = v.Labels?.[VOLUME_LABELS.task];
      if (!task || live.has(task)) continue;
      await this.remove(v.Name);
    }
  }

  async removePersistent(r: VolumeRemoval): Promise<'removed' | 'in-use'> {
    const name = dockerVolumeName(this.cluster, { id: r.id, namespace: r.namespace, service: r.service, slot: r.slot }, r.volume, true);
    return dockerCall(`remove volume ${name}`, VOLUME_CALL_MS, async (abortSignal) => {
      try {
        await this.docker.getVolume(name).remove({ abortSignal });
        return 'removed' as const;
      } catch (err) {
        const status = statusOf(err);
        // Absent: deleted already (by an earlier round whose report was lost, or by hand).
        if (status === 404) return 'removed' as const;
        // A container, even a stopped one, still references it: Docker refuses, and so do we.
        if (status === 409) return 'in-use' as const;
        throw err;
      }
    });
  }

  /** Removes a volume; absent is done, in use (409) waits for the next prune. */
  async remove(name: string): Promise<void> {
    await dockerCall(`remove volume ${name}`, VOLUME_CALL_MS, async (abortSignal) => {
      try {
        await this.docker.getVolume(name).remove({ abortSignal });
      } catch (err) {
        const status = statusOf(err);
        if (status !== 404 && status !== 409) throw err;
      }
    });
  }
}
