/**
 * The slots of namespace isolation on AWS (docs/network.md, "Isolation rules"): each namespace holds
 * one cluster-wide slot, the offset of its address block in every host's subnet. The scheduler pass
 * decides the slots (`assignSlots`, core/packet-filter.ts) and records them here; nothing else writes.
 */
import { type FieldIssue, ValidationError } from '../core/errors.ts';
import { isDnsLabel } from '../core/spec.ts';

/** One namespace's slot. */
export interface NamespaceSlot {
  readonly namespace: string;
  readonly slot: number;
  /** When it was claimed (ISO): of two slots one namespace holds (only overlapping passes can do that), the first claimed counts. */
  readonly since: string;
}

/** Slots by namespace. Two namespaces never hold one slot: a claim is conditional on the slot being free or already the namespace's. */
export interface NamespaceSlots {
  /** Every held slot, read strongly consistently, by slot. */
  listSlots(): Promise<NamespaceSlot[]>;
  /**
   * Gives `slot` to `namespace` at `since`: true when the namespace holds it now (a new claim, or it held
   * it already, keeping its first `since`), false when another namespace holds it.
   */
  claimSlot(namespace: string, slot: number, since: string): Promise<boolean>;
  /** Frees the slot if `namespace` holds it (true); false, and nothing changes, when it does not. */
  releaseSlot(namespace: string, slot: number): Promise<boolean>;
}

/** The largest slot number: a /16 host subnet in /32 blocks has 65,536 slots. */
export const MAX_SLOT = 65_535;

/** The arguments both adapters refuse alike: a namespace is a DNS label, a slot an integer 0-`MAX_SLOT`. */
export function checkSlotClaim(namespace: string, slot: number): void {
  const issues: FieldIssue[] = [];
  if (typeof namespace !== 'string' || !isDnsLabel(namespace))
    issues.push({ path: 'namespace', message: `must be a DNS label (got ${JSON.stringify(namespace)})` });
  if (!Number.isInteger(slot) || slot < 0 || slot > MAX_SLOT)
    issues.push({ path: 'slot', message: `must be an integer 0-${MAX_SLOT} (got ${JSON.stringify(slot)})` });
  if (issues.length > 0) throw new ValidationError(issues);
}
