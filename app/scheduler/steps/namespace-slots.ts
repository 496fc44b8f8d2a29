/**
 * Namespace slots (AWS, with namespace isolation; docs/network.md, "Isolation rules"): each namespace
 * that has or is about to have pods holds one cluster-wide slot, its address block in every host's
 * subnet. Run after the network step (documents then carry `blockPrefix`) and before placement (a
 * namespace without a slot is not placed).
 *
 * Releases before claims: a slot freed by a namespace that runs nothing any more is the lowest free
 * one the plan hands to a new namespace. A lost claim (an overlapping pass took the slot for another
 * namespace) leaves that namespace without a slot for this pass; the next pass plans on what it reads.
 */
import { planSlots, slotDemand } from '../../../core/namespace-slots.ts';
import type { NamespaceAddressing } from '../../../core/packet-filter.ts';
import type { PassStep } from '../step.ts';

export const namespaceSlots: PassStep = {
  name: 'namespace-slots',
  async run(ctx) {
    const iso = ctx.deps.isolation;
    const network = ctx.network;
    if (!iso || !network || !ctx.deps.network) return;
    const addressing: NamespaceAddressing = { clusterCidr: ctx.deps.network.clusterCidr, hostPrefix: iso.hostPrefix, blockPrefix: iso.blockPrefix };
    const plan = planSlots(await iso.slots.listSlots(), slotDemand(ctx.snapshot), addressing);
    let released = 0;
    for (const r of plan.releases) if (await iso.slots.releaseSlot(r.namespace, r.slot)) released++;
    const slots = { ...plan.slots };
    let claimed = 0;
    for (const c of plan.claims) {
      if (await iso.slots.claimSlot(c.namespace, c.slot, ctx.now)) {
        claimed++;
        continue;
      }
      delete slots[c.namespace];
      ctx.result.conflicts++;
    }
    for (const ns of plan.full) ctx.log('namespace has no address block slot: its tasks are not placed', { namespace: ns });
    ctx.isolation = { addressing, slots, full: plan.full };
    // Every document of the cluster describes the blocks, so every agent makes the same cut.
    ctx.network = { ...network, networks: new Map([...network.networks].map(([host, n]) => [host, { ...n, blockPrefix: iso.blockPrefix }])) };
    if (claimed > 0 || released > 0 || plan.full.length > 0) ctx.result.slots = { claimed, released, full: [...plan.full] };
  },
};
