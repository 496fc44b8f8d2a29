/**
 * The `LogStore` contract (ports/logs.ts), observed through the port alone. Run by
 * log-store.test.ts against MemoryLogStore and against the CloudWatch Logs adapter on the local
 * stand-in over HTTP.
 */
import { describe, expect, it } from 'vitest';
import type { LogStore } from '../../ports/logs.ts';

/** Declares the contract's tests; `make` returns an empty store. */
export function describeLogStoreContract(name: string, make: () => Promise<LogStore>): void {
  describe(`LogStore contract: ${name}`, () => {
    it('reads back what was put, merged over the streams under a prefix in time order', async () => {
      const store = await make();
      await store.put('default/web-1-aaaaa/app', [
        { at: 1000, message: 'a1' },
        { at: 3000, message: 'a2' },
      ]);
      await store.put('default/web-2-bbbbb/app', [
        { at: 2000, message: 'b1' },
        { at: 4000, message: 'b2' },
      ]);
      await store.put('other/web-1-ccccc/app', [{ at: 1500, message: 'x' }]);
      const page = await store.read({ prefix: 'default/web-' });
      expect(page.events).toEqual([
        { stream: 'default/web-1-aaaaa/app', at: 1000, message: 'a1' },
        { stream: 'default/web-2-bbbbb/app', at: 2000, message: 'b1' },
        { stream: 'default/web-1-aaaaa/app', at: 3000, message: 'a2' },
        { stream: 'default/web-2-bbbbb/app', at: 4000, message: 'b2' },
      ]);
      expect(page.next).toBeUndefined();
    });

    it('keeps the order of events put at one ms', async () => {
      const store = await make();
      await store.put('s/t/c', [
        { at: 5, message: 'first' },
        { at: 5, message: 'second' },
      ]);
      await store.put('s/t/c', [{ at: 5, message: 'third' }]);
      expect((await store.read({ prefix: 's/' })).events.map((e) => e.message)).toEqual(['first', 'second', 'third']);
    });

    it('filters by time: since inclusive, until exclusive', async () => {
      const store = await make();
      await store.put(
        'p/t/c',
        [1000, 2000, 3000, 4000].map((at) => ({ at, message: `m${at}` })),
      );
      const page = await store.read({ prefix: 'p/', since: 2000, until: 4000 });
      expect(page.events.map((e) => e.at)).toEqual([2000, 3000]);
    });

    it('pages with a token, every event once', async () => {
      const store = await make();
      await store.put(
        'q/t/c',
        Array.from({ length: 7 }, (_, i) => ({ at: 100 + i, message: `line ${i}` })),
      );
      const seen: string[] = [];
      let token: string | undefined;
      let pages = 0;
      do {
        const page = await store.read({ prefix: 'q/', limit: 3, ...(token ? { token } : {}) });
        seen.push(...page.events.map((e) => e.message));
        token = page.next;
        pages++;
      } while (token && pages < 10);
      expect(seen).toEqual(Array.from({ length: 7 }, (_, i) => `line ${i}`));
      expect(pages).toBeGreaterThanOrEqual(3);
    });

    it('tails one stream, and an absent stream is empty', async () => {
      const store = await make();
      await store.put(
        'r/t/c',
        Array.from({ length: 5 }, (_, i) => ({ at: 10 * i, message: `n${i}` })),
      );
      expect((await store.tail('r/t/c', 2)).map((e) => e.message)).toEqual(['n3', 'n4']);
      expect(await store.tail('r/t/nothing', 2)).toEqual([]);
      expect(await store.read({ prefix: 'nothing/' })).toEqual({ events: [] });
    });

    it('lists the streams under a prefix', async () => {
      const store = await make();
      for (const s of ['host/host-2', 'host/host-1', 'control/scheduler']) await store.put(s, [{ at: 1, message: 'up' }]);
      expect(await store.streams('host/')).toEqual(['host/host-1', 'host/host-2']);
      expect(await store.streams('control/')).toEqual(['control/scheduler']);
    });

    it('refuses events out of time order in one put, storing none of them', async () => {
      const store = await make();
      await expect(
        store.put('o/t/c', [
          { at: 2, message: 'later' },
          { at: 1, message: 'earlier' },
        ]),
      ).rejects.toThrow(/time order/);
      expect((await store.read({ prefix: 'o/' })).events).toEqual([]);
    });

    it('keeps a line with characters outside ASCII, and an empty line as one space', async () => {
      const store = await make();
      await store.put('u/t/c', [
        { at: 1, message: 'héllo ✓ 日本' },
        { at: 2, message: '' },
      ]);
      expect((await store.read({ prefix: 'u/' })).events.map((e) => e.message)).toEqual(['héllo ✓ 日本', ' ']);
    });
  });
}
