/** The `VolumeStore` contract (ports/index.ts): run by memory-store.test.ts and dynamo-store.test.ts. */
import { describe, expect, it } from 'vitest';
import { ConflictError, ValidationError } from '../../core/errors.ts';
import { volumeId, type VolumeRecord } from '../../core/volumes.ts';
import type { VolumeStore } from '../../ports/index.ts';

const NOW = '2026-01-01T00:00:00.000Z';

function aVolume(namespace: string, service: string, volume: string, slot: number, host: string): VolumeRecord {
  return { id: volumeId(namespace, service, volume, slot), namespace, service, volume, slot, host, createdAt: NOW };
}

export function describeVolumeStoreContract(name: string, makeStore: () => Promise<VolumeStore>): void {
  describe(`VolumeStore contract: ${name}`, () => {
    it('records a volume once: the first host stays, a later record returns it unchanged', async () => {
      const store = await makeStore();
      const first = aVolume('team', 'db', 'data', 1, 'host-1');
      expect(await store.recordVolume(first)).toEqual(first);
      expect(await store.recordVolume({ ...first, host: 'host-2' })).toEqual(first);
      expect(await store.listVolumes()).toEqual([first]);
    });

    it("lists every volume, or one namespace's, in namespace, service, volume and slot order", async () => {
      const store = await makeStore();
      const volumes = [
        aVolume('b', 'db', 'data', 2, 'h1'),
        aVolume('a', 'web', 'cache', 1, 'h2'),
        aVolume('b', 'db', 'data', 10, 'h1'),
        aVolume('b', 'db', 'data', 1, 'h3'),
      ];
      for (const v of volumes) await store.recordVolume(v);
      expect((await store.listVolumes()).map((v) => v.id)).toEqual(['a-web-cache-1', 'b-db-data-1', 'b-db-data-2', 'b-db-data-10']);
      expect((await store.listVolumes('b')).map((v) => v.id)).toEqual(['b-db-data-1', 'b-db-data-2', 'b-db-data-10']);
      expect(await store.listVolumes('c')).toEqual([]);
    });

    it('keeps apart two volumes whose dashed ids read alike', async () => {
      const store = await makeStore();
      // "a-b" + "c" and "a" + "b-c" both give the id a-b-c-data-1.
      await store.recordVolume(aVolume('a-b', 'c', 'data', 1, 'h1'));
      await store.recordVolume(aVolume('a', 'b-c', 'data', 1, 'h2'));
      expect((await store.listVolumes()).map((v) => `${v.namespace}/${v.service}@${v.host}`)).toEqual(['a/b-c@h2', 'a-b/c@h1']);
    });

    it('forgets a deleted volume, and deleting an absent one is no error', async () => {
      const store = await makeStore();
      const v = aVolume('team', 'db', 'data', 1, 'host-1');
      await store.recordVolume(v);
      await store.deleteVolume(v);
      await store.deleteVolume(v);
      expect(await store.listVolumes()).toEqual([]);
      // Recorded anew, it may live elsewhere.
      expect((await store.recordVolume({ ...v, host: 'host-2' })).host).toBe('host-2');
    });

    it('marks a volume for removal once: the first time stays, and an unrecorded volume is not marked', async () => {
      const store = await makeStore();
      const v = aVolume('team', 'db', 'data', 1, 'host-1');
      await store.recordVolume(v);
      expect(await store.markVolumeDeleting(v, '2026-01-02T00:00:00.000Z')).toEqual({ ...v, deleting: '2026-01-02T00:00:00.000Z' });
      expect((await store.markVolumeDeleting(v, '2026-01-03T00:00:00.000Z'))?.deleting).toBe('2026-01-02T00:00:00.000Z');
      expect(await store.listVolumes()).toEqual([{ ...v, deleting: '2026-01-02T00:00:00.000Z' }]);
      expect(await store.markVolumeDeleting(aVolume('team', 'db', 'data', 2, 'host-1'), NOW)).toBeUndefined();
      expect((await store.listVolumes()).map((r) => r.id)).toEqual(['team-db-data-1']);
      // A marked record is still the one recorded: its host stays.
      expect((await store.recordVolume({ ...v, host: 'host-2' })).host).toBe('host-1');
    });

    it('forgets a volume only while it is marked for removal; forgetting an absent one is no error', async () => {
      const store = await makeStore();
      const v = aVolume('team', 'db', 'data', 1, 'host-1');
      await store.recordVolume(v);
      await expect(store.forgetDeletedVolume(v)).rejects.toBeInstanceOf(ConflictError);
      expect(await store.listVolumes()).toEqual([v]);
      await store.markVolumeDeleting(v, NOW);
      await store.forgetDeletedVolume(v);
      await store.forgetDeletedVolume(v);
      expect(await store.listVolumes()).toEqual([]);
    });

    it('refuses a record whose id does not match its parts', async () => {
      const store = await makeStore();
      await expect(store.recordVolume({ ...aVolume('team', 'db', 'data', 1, 'h1'), id: 'other' })).rejects.toBeInstanceOf(ValidationError);
    });
  });
}
