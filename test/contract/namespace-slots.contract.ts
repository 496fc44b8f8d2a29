/**
 * The `NamespaceSlots` contract (ports/namespace-slots.ts), observed through the port alone. Run by
 * memory-namespace-slots.test.ts and dynamo-namespace-slots.test.ts (on dynalite).
 */
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../core/errors.ts';
import type { NamespaceSlots } from '../../ports/namespace-slots.ts';

const T0 = '2026-01-01T00:00:00.000Z';
const T1 = '2026-01-01T00:01:00.000Z';

/** Declares the contract's tests for one adapter; `makeSlots` returns an empty store each time. */
export function describeNamespaceSlotsContract(name: string, makeSlots: () => Promise<NamespaceSlots>): void {
  describe(`NamespaceSlots contract: ${name}`, () => {
    it('records claims by slot, and a repeated claim by the holder keeps its first time', async () => {
      const slots = await makeSlots();
      expect(await slots.listSlots()).toEqual([]);
      expect(await slots.claimSlot('shop', 3, T0)).toBe(true);
      expect(await slots.claimSlot('default', 0, T0)).toBe(true);
      expect(await slots.claimSlot('shop', 3, T1)).toBe(true);
      expect(await slots.listSlots()).toEqual([
        { namespace: 'default', slot: 0, since: T0 },
        { namespace: 'shop', slot: 3, since: T0 },
      ]);
    });

    it('never gives one slot to two namespaces, even when they claim it at once', async () => {
      const slots = await makeSlots();
      const names = Array.from({ length: 8 }, (_, i) => `ns-${i}`);
      const won = await Promise.all(names.map((ns) => slots.claimSlot(ns, 7, T0)));
      expect(won.filter(Boolean)).toHaveLength(1);
      const winner = names[won.indexOf(true)];
      expect(await slots.listSlots()).toEqual([{ namespace: winner, slot: 7, since: T0 }]);
      // The loser cannot take it over later either.
      const loser = names.find((n) => n !== winner)!;
      expect(await slots.claimSlot(loser, 7, T1)).toBe(false);
    });

    it('frees a slot only for its holder, after which another namespace may claim it', async () => {
      const slots = await makeSlots();
      await slots.claimSlot('shop', 1, T0);
      expect(await slots.releaseSlot('billing', 1)).toBe(false);
      expect(await slots.releaseSlot('shop', 2)).toBe(false);
      expect(await slots.listSlots()).toEqual([{ namespace: 'shop', slot: 1, since: T0 }]);
      expect(await slots.releaseSlot('shop', 1)).toBe(true);
      expect(await slots.releaseSlot('shop', 1)).toBe(false);
      expect(await slots.claimSlot('billing', 1, T1)).toBe(true);
      expect(await slots.listSlots()).toEqual([{ namespace: 'billing', slot: 1, since: T1 }]);
    });

    it('refuses a namespace that is not a DNS label and a slot outside 0-65535, naming the field', async () => {
      const slots = await makeSlots();
      for (const [ns, slot, path] of [
        ['Shop', 1, 'namespace'],
        ['', 1, 'namespace'],
        ['shop', -1, 'slot'],
        ['shop', 1.5, 'slot'],
        ['shop', 65_536, 'slot'],
      ] as const) {
        const err = await slots.claimSlot(ns, slot, T0).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ValidationError);
        expect((err as ValidationError).issues[0].path).toBe(path);
        await expect(slots.releaseSlot(ns, slot)).rejects.toBeInstanceOf(ValidationError);
      }
      expect(await slots.claimSlot('shop', 65_535, T0)).toBe(true);
      expect(await slots.listSlots()).toEqual([{ namespace: 'shop', slot: 65_535, since: T0 }]);
    });
  });
}
