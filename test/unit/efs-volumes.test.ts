import { describe, expect, it } from 'vitest';
import { EfsAccessPoints, type AccessPoints } from '../../adapters/aws/efs-access-points.ts';
import { EfsVolumeManager, type Mounter } from '../../agent/efs-volumes.ts';
import type { VolumeManager } from '../../agent/volumes.ts';
import type { HostDocumentTask } from '../../core/types.ts';

const task: HostDocumentTask = {
  id: 'db-2-abcde',
  namespace: 'default',
  service: 'db',
  slot: 2,
  specVersion: 1,
  pod: {
    restartPolicy: 'always',
    volumes: [
      { name: 'data', persistent: {} },
      { name: 'scratch', emptyDir: {} },
    ],
    containers: [{ name: 'app', image: 'skiff/busybox', env: {}, ports: [], resources: { cpu: 100, memory: 1 } }],
  },
};

class FakeMounter implements Mounter {
  readonly mounted = new Map<string, string>();
  /** What was done, in order: `mount <dir>`, `clear <dir>`, `unmount <dir>`. */
  readonly log: string[] = [];
  async isMounted(dir: string): Promise<boolean> {
    return this.mounted.has(dir);
  }
  async mountEfs(fs: string, ap: string, dir: string): Promise<void> {
    this.mounted.set(dir, `${fs}:${ap}`);
    this.log.push(`mount ${dir}`);
  }
  async clear(dir: string): Promise<void> {
    if (!this.mounted.has(dir)) throw new Error(`clearing ${dir}, which is not mounted, would delete the host's own files`);
    this.log.push(`clear ${dir}`);
  }
  async unmount(dir: string): Promise<void> {
    if (this.mounted.delete(dir)) this.log.push(`unmount ${dir}`);
  }
}

/** Access points in memory: one per volume id once ensured. */
class FakeAccessPoints implements AccessPoints {
  readonly points = new Map<string, string>();
  readonly asked: string[] = [];
  async ensure(id: string): Promise<string> {
    this.asked.push(id);
    const ap = this.points.get(id) ?? `fsap-${id}`;
    this.points.set(id, ap);
    return ap;
  }
  async find(id: string): Promise<string | undefined> {
    return this.points.get(id);
  }
  async remove(id: string): Promise<void> {
    this.points.delete(id);
  }
}

const local: VolumeManager & { pruned: ReadonlySet<string>[] } = {
  pruned: [],
  async ensure(t) {
    return new Map((t.pod.volumes ?? []).map((v) => [v.name, { type: 'volume' as const, source: `local-${v.name}` }]));
  },
  async prune(live) {
    this.pruned.push(live);
  },
  async removePersistent() {
    throw new Error('persistent volumes on EFS are never local Docker volumes');
  },
};

const removal = { id: 'default-db-data-2', namespace: 'default', service: 'db', volume: 'data', slot: 2 };

describe('persistent volumes on EFS', () => {
  it('mounts each persistent volume once, through its own access point, and keeps emptyDir volumes local', async () => {
    const accessPoints = new FakeAccessPoints();
    const asked = accessPoints.asked;
    const mounter = new FakeMounter();
    const manager = new EfsVolumeManager({ fileSystemId: 'fs-1', accessPoints, mounter, local, root: '/v' });
    const sources = await manager.ensure(task);
    expect(Object.fromEntries(sources)).toEqual({
      data: { type: 'bind', source: '/v/default.db.data.2' },
      scratch: { type: 'volume', source: 'local-scratch' },
    });
    expect([...mounter.mounted]).toEqual([['/v/default.db.data.2', 'fs-1:fsap-default-db-data-2']]);
    await manager.ensure(task);
    expect(asked).toEqual(['default-db-data-2']);
  });

  it("deletes a volume's data through its access point, then unmounts it and deletes the access point", async () => {
    const accessPoints = new FakeAccessPoints();
    const mounter = new FakeMounter();
    const manager = new EfsVolumeManager({ fileSystemId: 'fs-1', accessPoints, mounter, local, root: '/v' });
    await manager.ensure(task);
    expect(await manager.removePersistent(removal)).toBe('removed');
    expect(mounter.log).toEqual(['mount /v/default.db.data.2', 'clear /v/default.db.data.2', 'unmount /v/default.db.data.2']);
    expect(accessPoints.points.size).toBe(0);
    // Asked again (its report was lost): nothing left to do, and it says so again.
    expect(await manager.removePersistent(removal)).toBe('removed');
    expect(mounter.log).toHaveLength(3);
  });

  it('mounts a volume this host never mounted to delete its data: only the access point reaches inside its root', async () => {
    const accessPoints = new FakeAccessPoints();
    await accessPoints.ensure('default-db-data-2');
    const mounter = new FakeMounter();
    const manager = new EfsVolumeManager({ fileSystemId: 'fs-1', accessPoints, mounter, local, root: '/v' });
    expect(await manager.removePersistent(removal)).toBe('removed');
    expect(mounter.log).toEqual(['mount /v/default.db.data.2', 'clear /v/default.db.data.2', 'unmount /v/default.db.data.2']);
    expect(accessPoints.points.size).toBe(0);
  });

  it("finds a volume's access point by its tags, page by page, and deletes it (a lost delete answered AccessPointNotFound is done)", async () => {
    const requests: { method: string; url: string; body: unknown }[] = [];
    const fakeFetch = (async (url: URL, init: RequestInit) => {
      requests.push({ method: String(init.method), url: String(url), body: init.body });
      const u = new URL(String(url));
      if (init.method === 'GET' && !u.searchParams.get('NextToken'))
        return Response.json({
          AccessPoints: [
            {
              AccessPointId: 'fsap-other',
              Tags: [
                { Key: 'skiff:cluster', Value: 'prod' },
                { Key: 'skiff:volume', Value: 'x' },
              ],
            },
          ],
          NextToken: 't2',
        });
      if (init.method === 'GET')
        return Response.json({
          AccessPoints: [
            // Another cluster's volume of the same id is not ours.
            {
              AccessPointId: 'fsap-staging',
              Tags: [
                { Key: 'skiff:cluster', Value: 'staging' },
                { Key: 'skiff:volume', Value: 'default-db-data-2' },
              ],
            },
            {
              AccessPointId: 'fsap-0abc',
              Tags: [
                { Key: 'skiff:cluster', Value: 'prod' },
                { Key: 'skiff:volume', Value: 'default-db-data-2' },
              ],
            },
          ],
        });
      return new Response(JSON.stringify({ ErrorCode: 'AccessPointNotFound', Message: 'gone' }), { status: 404 });
    }) as unknown as typeof fetch;
    const aps = new EfsAccessPoints({
      region: 'eu-west-1',
      fileSystemId: 'fs-1',
      clusterName: 'prod',
      credentials: async () => ({ accessKeyId: 'AKID', secretAccessKey: 'secret' }),
      fetch: fakeFetch,
    });
    await aps.remove('default-db-data-2');
    expect(requests.map((r) => `${r.method} ${new URL(r.url).pathname}${new URL(r.url).searchParams.get('NextToken') ?? ''}`)).toEqual([
      'GET /2015-02-01/access-points',
      'GET /2015-02-01/access-points' + 't2',
      'DELETE /2015-02-01/access-points/fsap-0abc',
    ]);
    expect(new URL(requests[0].url).searchParams.get('FileSystemId')).toBe('fs-1');
    expect(requests.every((r) => r.body === undefined)).toBe(true);
    expect(await aps.find('nothing')).toBeUndefined();
  });

  it('creates an access point with an idempotency token that every host computes alike, rooted at the volume, tagged with the cluster', async () => {
    const requests: { url: string; headers: Record<string, string>; body: Record<string, unknown> }[] = [];
    const fakeFetch = (async (url: URL, init: RequestInit) => {
      requests.push({ url: String(url), headers: init.headers as Record<string, string>, body: JSON.parse(String(init.body)) });
      return new Response(JSON.stringify({ AccessPointId: 'fsap-0abc' }), { status: 200 });
    }) as unknown as typeof fetch;
    const make = () =>
      new EfsAccessPoints({
        region: 'eu-west-1',
        fileSystemId: 'fs-1',
        clusterName: 'prod',
        credentials: async () => ({ accessKeyId: 'AKID', secretAccessKey: 'secret' }),
        fetch: fakeFetch,
      });
    const first = make();
    expect(await first.ensure('default-db-data-2')).toBe('fsap-0abc');
    expect(await first.ensure('default-db-data-2')).toBe('fsap-0abc');
    expect(await make().ensure('default-db-data-2')).toBe('fsap-0abc');
    expect(requests).toHaveLength(2);
    expect(requests[0].url).toBe('https://elasticfilesystem.eu-west-1.amazonaws.com/2015-02-01/access-points');
    expect(requests[0].headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKID\/\d{8}\/eu-west-1\/elasticfilesystem\/aws4_request/);
    expect(requests[0].body).toMatchObject({
      FileSystemId: 'fs-1',
      RootDirectory: { Path: '/skiff/default-db-data-2' },
      Tags: [
        { Key: 'skiff:cluster', Value: 'prod' },
        { Key: 'skiff:volume', Value: 'default-db-data-2' },
      ],
    });
    expect(requests[1].body.ClientToken).toBe(requests[0].body.ClientToken);
    expect(String(requests[0].body.ClientToken)).toHaveLength(64);
  });

  it("takes the id from EFS's AccessPointAlreadyExists answer: a second host asking for the same volume gets the same access point", async () => {
    const second = new EfsAccessPoints({
      region: 'eu-west-1',
      fileSystemId: 'fs-1',
      clusterName: 'prod',
      credentials: async () => ({ accessKeyId: 'AKID', secretAccessKey: 'secret' }),
      fetch: (async () =>
        new Response(JSON.stringify({ ErrorCode: 'AccessPointAlreadyExists', Message: 'exists', AccessPointId: 'fsap-0abc' }), {
          status: 409,
        })) as unknown as typeof fetch,
    });
    expect(await second.ensure('default-db-data-2')).toBe('fsap-0abc');
  });

  it('says what EFS answered when it refuses', async () => {
    const refusing = new EfsAccessPoints({
      region: 'eu-west-1',
      fileSystemId: 'fs-1',
      clusterName: 'prod',
      credentials: async () => ({ accessKeyId: 'AKID', secretAccessKey: 'secret' }),
      fetch: (async () => new Response('{"ErrorCode":"AccessPointLimitExceeded"}', { status: 403 })) as unknown as typeof fetch,
    });
    await expect(refusing.ensure('default-db-data-1')).rejects.toThrow(/EFS POST \/2015-02-01\/access-points: 403 .*AccessPointLimitExceeded/);
  });
});
