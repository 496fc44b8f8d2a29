/**
 * The `NamespaceSlots` port in memory: the fake beside `DynamoNamespaceSlots`, with the same
 * observable behaviour (test/contract/namespace-slots.contract.ts runs against both). Each method is
 * atomic here, as each conditional write is in DynamoDB.
 */
import { checkSlotClaim, type NamespaceSlot, type NamespaceSlots } from '../../ports/namespace-slots.ts';

export class MemoryNamespaceSlots implements NamespaceSlots {
  private readonly slots = new Map<number, { namespace: string; since: string }>();

  async listSlots(): Promise<NamespaceSlot[]> {
    return [...this.slots.entries()].sort(([a], [b]) => a - b).map(([slot, s]) => ({ namespace: s.namespace, slot, since: s.since }));
  }

  async claimSlot(namespace: string, slot: number, since: string): Promise<boolean> {
    checkSlotClaim(namespace, slot);
    const held = this.slots.get(slot);
    if (held) return held.namespace === namespace;
    this.slots.set(slot, { namespace, since });
    return true;
  }

  async releaseSlot(namespace: string, slot: number): Promise<boolean> {
    checkSlotClaim(namespace, slot);
    if (this.slots.get(slot)?.namespace !== namespace) return false;
    this.slots.delete(slot);
    return true;
  }
}
