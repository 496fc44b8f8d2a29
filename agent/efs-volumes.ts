/**
 * Persistent volumes on EFS (AWS): each is an access point of the cluster's file system, mounted by
 * this agent with TLS and IAM (`mount -t efs -o tls,iam,accesspoint=…`, amazon-efs-utils) under
 * /var/lib/skiff/volumes, and bind-mounted into the containers. Every host reaches every access point,
 * so a replica's data follows it to any host. emptyDir volumes stay local Docker volumes.
 */
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { AccessPoints } from '../adapters/aws/efs-access-points.ts';
import type { HostDocumentTask, VolumeRemoval } from '../core/types.ts';
import { volumeId } from '../core/volumes.ts';
import type { Mount } from './executor.ts';
import type { VolumeManager, VolumeSources } from './volumes.ts';

/** Mounts as the host sees them. */
export interface Mounter {
  /** True when something is mounted on `dir`. */
  isMounted(dir: string): Promise<boolean>;
  /** Mounts the access point on `dir` (made if absent) with TLS and IAM. */
  mountEfs(fileSystemId: string, accessPointId: string, dir: string): Promise<void>;
  /** Deletes everything inside `dir` (the mounted volume's data), keeping `dir` itself. */
  clear(dir: string): Promise<void>;
  /** Unmounts `dir`; not mounted is not an error. */
  unmount(dir: string): Promise<void>;
}

/**
 * A mount through the EFS helper starts a TLS tunnel and fetches IAM credentials: seconds, not
 * minutes. 60 s bounds a mount that hangs on an unreachable mount target.
 */
const MOUNT_TIMEOUT_MS = 60_000;

export class HostMounter implements Mounter {
  async isMounted(dir: string): Promise<boolean> {
    const info = await readFile('/proc/self/mountinfo', 'utf8');
    // Field 5 is the mount point (spaces escaped as \040, which our paths never hold).
    return info.split('\n').some((line) => line.split(' ')[4] === dir);
  }

  async mountEfs(fileSystemId: string, accessPointId: string, dir: string): Promise<void> {
    await mkdir(dir, { recursive: true });
    await promisify(execFile)('mount', ['-t', 'efs', '-o', `tls,iam,accesspoint=${accessPointId}`, `${fileSystemId}:/`, dir], { timeout: MOUNT_TIMEOUT_MS });
  }

  async clear(dir: string): Promise<void> {
    for (const entry of await readdir(dir)) await rm(join(dir, entry), { recursive: true, force: true });
  }

  async unmount(dir: string): Promise<void> {
    if (!(await this.isMounted(dir))) return;
    await promisify(execFile)('umount', [dir], { timeout: MOUNT_TIMEOUT_MS });
  }
}

export interface EfsVolumeManagerOptions {
  readonly fileSystemId: string;
  readonly accessPoints: AccessPoints;
  readonly mounter: Mounter;
  /** For emptyDir volumes (and their pruning). */
  readonly local: VolumeManager;
  /** @default '/var/lib/skiff/volumes' */
  readonly root?: string;
}

export class EfsVolumeManager implements VolumeManager {
  private readonly root: string;
  constructor(private readonly o: EfsVolumeManagerOptions) {
    this.root = o.root ?? '/var/lib/skiff/volumes';
  }

  async ensure(task: HostDocumentTask): Promise<VolumeSources> {
    const volumes = task.pod.volumes ?? [];
    const local = volumes.some((v) => v.persistent === undefined)
      ? await this.o.local.ensure({ ...task, pod: { ...task.pod, volumes: volumes.filter((v) => v.persistent === undefined) } })
      : new Map();
    const sources = new Map<string, Pick<Mount, 'type' | 'source'>>(local);
    for (const v of volumes) {
      if (v.persistent === undefined) continue;
      const id = volumeId(task.namespace, task.service, v.name, task.slot);
      // Dots keep two services' directories apart (the dashed id can be read two ways).
      const dir = join(this.root, `${task.namespace}.${task.service}.${v.name}.${task.slot}`);
      if (!(await this.o.mounter.isMounted(dir))) {
        const accessPoint = await this.o.accessPoints.ensure(id);
        await this.o.mounter.mountEfs(this.o.fileSystemId, accessPoint, dir);
      }
      sources.set(v.name, { type: 'bind', source: dir });
    }
    return sources;
  }

  /**
   * Deletes a persistent volume on EFS: its data, then its access point. The data is deleted through the
   * access point (mounted here if it is not), since nothing else reaches inside its root; the root
   * directory itself (`/skiff/<volume id>`, now empty) stays on the file system, where it costs nothing,
   * and a later volume of the same id starts from it, empty. The caller has checked that no container of
   * this host uses the volume; the control plane lists it only once every host's tasks of its service
   * are gone. Another host that mounted it earlier keeps a mount of the deleted access point (EFS lets
   * connected clients go on) onto the same, now empty, directory, and reuses it for a later volume of the
   * same id.
   */
  async removePersistent(r: VolumeRemoval): Promise<'removed' | 'in-use'> {
    const dir = join(this.root, `${r.namespace}.${r.service}.${r.volume}.${r.slot}`);
    const accessPoint = await this.o.accessPoints.find(r.id);
    if (accessPoint === undefined) {
      // Deleted already (an earlier round whose report was lost): only a mount may be left.
      await this.o.mounter.unmount(dir);
      return 'removed';
    }
    if (!(await this.o.mounter.isMounted(dir))) await this.o.mounter.mountEfs(this.o.fileSystemId, accessPoint, dir);
    await this.o.mounter.clear(dir);
    await this.o.mounter.unmount(dir);
    await this.o.accessPoints.remove(r.id);
    return 'removed';
  }

  prune(live: ReadonlySet<string>): Promise<void> {
    // EFS mounts stay: remounting on every reschedule costs a TLS tunnel each, and they hold no host data.
    return this.o.local.prune(live);
  }
}
