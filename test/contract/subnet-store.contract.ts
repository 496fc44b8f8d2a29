/**
 * The `SubnetAllocator` contract (ports/network.ts), observed through the port alone. Run by
 * memory-subnet-store.test.ts and dynamo-subnet-store.test.ts (on dynalite); crash states and the
 * shared table are DynamoDB's own, in test/integration/subnet-store.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { contains, overlaps } from '../../core/cidr.ts';
import { LimitError, ValidationError } from '../../core/errors.ts';
import type { SubnetAllocator } from '../../ports/network.ts';

const hosts = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

/** Declares the contract's tests for one adapter; `makeStore` returns an empty allocator of that plan each time. */
export function describeSubnetAllocatorContract(name: string, makeStore: (clusterCidr: string, hostPrefixLength: number) => Promise<SubnetAllocator>): void {
  describe(`SubnetAllocator contract: ${name}`, () => {
    it('gives a host a subnet of the host prefix inside the cluster CIDR, and the same one again', async () => {
      const store = await makeStore('10.200.0.0/16', 24);
      const cidr = await store.acquire('i-0a1');
      expect(cidr).toMatch(/\/24$/);
      expect(contains('10.200.0.0/16', cidr)).toBe(true);
      expect(await store.acquire('i-0a1')).toBe(cidr);
      expect(await store.list()).toEqual([{ hostId: 'i-0a1', cidr, routed: false }]);
    });

    it('records routes made for the holder, and a reclaimed subnet starts unrouted again', async () => {
      const store = await makeStore('10.200.0.0/24', 24);
      const cidr = await store.acquire('i-r1');
      expect(await store.markRouted('i-r1', cidr)).toBe(true);
      expect(await store.list()).toEqual([{ hostId: 'i-r1', cidr, routed: true }]);
      // Another host cannot mark what it does not hold.
      expect(await store.markRouted('i-r2', cidr)).toBe(false);
      await store.release('i-r1');
      expect(await store.markRouted('i-r1', cidr)).toBe(false);
      expect(await store.acquire('i-r2')).toBe(cidr);
      expect(await store.list()).toEqual([{ hostId: 'i-r2', cidr, routed: false }]);
      await expect(store.markRouted('i-r2', '10.200.0.1/24')).rejects.toThrow(/host bits set/);
    });

    it('gives 10 hosts acquiring at once 10 different subnets, never one already held', async () => {
      // 16 subnets; 6 held first, so the 10 racing hosts take exactly the rest.
      const store = await makeStore('10.200.0.0/20', 24);
      const first = await Promise.all(hosts('early', 6).map((h) => store.acquire(h)));
      const racers = hosts('racer', 10);
      const got = await Promise.all(racers.map((h) => store.acquire(h)));
      expect(new Set(got).size).toBe(10);
      for (const cidr of got) expect(first).not.toContain(cidr);
      const all = [...first, ...got];
      for (let i = 0; i < all.length; i++) for (let j = i + 1; j < all.length; j++) expect(overlaps(all[i], all[j])).toBe(false);
      const listed = await store.list();
      expect(listed).toHaveLength(16);
      expect(new Map(listed.map((l) => [l.hostId, l.cidr]))).toEqual(new Map([...hosts('early', 6), ...racers].map((h, i) => [h, all[i]])));
      // Each host still gets its own subnet back.
      expect(await Promise.all(racers.map((h) => store.acquire(h)))).toEqual(got);
    });

    it('reports exhaustion with the cluster CIDR, the prefix and what to do', async () => {
      const store = await makeStore('10.200.0.0/23', 24);
      await store.acquire('h-1');
      await store.acquire('h-2');
      const err = await store.acquire('h-3').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LimitError);
      expect((err as Error).message).toBe(
        'no free /24 host subnet in cluster CIDR 10.200.0.0/23: all 2 are held; release the subnets of terminated hosts, or use a larger cluster CIDR or a longer host prefix',
      );
    });

    it('returns a released subnet to the pool, and acquire works again after a release', async () => {
      const store = await makeStore('10.200.0.0/23', 24);
      const a = await store.acquire('h-a');
      const b = await store.acquire('h-b');
      await store.release('h-a');
      expect(await store.list()).toEqual([{ hostId: 'h-b', cidr: b, routed: false }]);
      expect(await store.acquire('h-c')).toBe(a);
      // h-a comes back while the cluster is full: no subnet for it, and nobody else's is touched.
      await expect(store.acquire('h-a')).rejects.toBeInstanceOf(LimitError);
      await store.release('h-c');
      expect(await store.acquire('h-a')).toBe(a);
      expect((await store.list()).map((l) => l.hostId).sort()).toEqual(['h-a', 'h-b']);
    });

    it('treats releasing a host that holds nothing, or releasing twice, as done', async () => {
      const store = await makeStore('10.200.0.0/16', 24);
      await store.release('never-seen');
      const cidr = await store.acquire('h-1');
      await store.release('h-1');
      await store.release('h-1');
      expect(await store.list()).toEqual([]);
      expect(await store.acquire('h-2')).toBeDefined();
      expect(cidr).toBeDefined();
    });

    it('gives one host the same single subnet when it acquires concurrently', async () => {
      const store = await makeStore('10.200.0.0/22', 24);
      const got = await Promise.all(Array.from({ length: 6 }, () => store.acquire('same-host')));
      expect(new Set(got).size).toBe(1);
      expect(await store.list()).toEqual([{ hostId: 'same-host', cidr: got[0], routed: false }]);
    });

    it('refuses host ids that are empty or hold "#" on every method', async () => {
      const store = await makeStore('10.200.0.0/16', 24);
      await expect(store.acquire('a#b')).rejects.toBeInstanceOf(ValidationError);
      await expect(store.release('')).rejects.toBeInstanceOf(ValidationError);
      await expect(store.markRouted('a#b', '10.200.0.0/24')).rejects.toBeInstanceOf(ValidationError);
      expect(await store.list()).toEqual([]);
    });

    it('lists subnets in address order', async () => {
      const store = await makeStore('10.200.0.0/20', 24);
      for (const h of hosts('h', 8)) await store.acquire(h);
      const cidrs = (await store.list()).map((l) => l.cidr);
      expect(cidrs).toHaveLength(8);
      expect(cidrs).toEqual([...cidrs].sort((a, b) => Number(a.split('.')[2]) - Number(b.split('.')[2])));
    });
  });
}
