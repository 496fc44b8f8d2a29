/**
 * Registers hosts from their agents' claims. The agent writes only its report; the claim in it
 * (address, capacity, labels, instance type) becomes the host record here, capped by what the
 * control plane knows of the machine (core/host-registration.ts). Runs before the network step and
 * `reconcile`, so a host that just claimed gets its subnet and its first tasks in the same pass.
 *
 * A claim is checked once: the pass state remembers the last claim taken or refused per host, so an
 * unchanged claim costs no catalog call (EC2 on AWS) and no write, and a refusal is one event, not
 * one per pass. One host's failure (EC2 throttled, a lost race) never stops the others or the pass.
 */
import { ConflictError } from '../../../core/errors.ts';
import { forEachLimit } from '../../../core/async.ts';
import { planRegistration, type MachineVerdict } from '../../../core/host-registration.ts';
import { stableStringify } from '../../../core/json.ts';
import { capacityIssue } from '../../../core/items.ts';
import type { Host, HostClaim, HostStatus } from '../../../core/types.ts';
import { WRITE_CONCURRENCY, record, type PassContext } from '../context.ts';
import type { PassStep } from '../step.ts';

export const registerHosts: PassStep = {
  name: 'register-hosts',
  async run(ctx) {
    const records = new Map(ctx.snapshot.hosts.map((h) => [h.id, h]));
    const due = ctx.snapshot.statuses.filter((s): s is HostStatus & { claim: HostClaim } => {
      if (!s.claim) return false;
      const seen = ctx.state.claims.get(s.hostId);
      // Unchanged since last taken, and the record is there: nothing to check. A refused claim is
      // checked again (the machine may have become known), but reported only when the reason changes.
      return !(seen && seen.claim === stableStringify(s.claim) && seen.refused === undefined && records.has(s.hostId));
    });
    if (due.length === 0) return;
    const written: Host[] = [];
    await forEachLimit(due, WRITE_CONCURRENCY, async (status) => {
      const host = await registerOne(ctx, status, records.get(status.hostId));
      if (host) written.push(host);
    });
    if (written.length === 0) return;
    for (const h of written) records.set(h.id, h);
    ctx.snapshot = { ...ctx.snapshot, hosts: [...records.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)) };
    ctx.result.registered = written.map((h) => h.id).sort();
  },
};

async function registerOne(ctx: PassContext, status: HostStatus & { claim: HostClaim }, current: Host | undefined): Promise<Host | undefined> {
  const hostId = status.hostId;
  const claimText = stableStringify(status.claim);
  let verdict: MachineVerdict;
  try {
    verdict = ctx.deps.machines
      ? await ctx.deps.machines.describe(hostId, status.claim)
      : // No catalog (tests, a store-only harness): the schema's bounds are all there is to go by.
        { known: true, facts: {} };
  } catch (err) {
    ctx.log('cannot check a host claim now; retried next pass', { host: hostId, error: (err as Error).message });
    return undefined;
  }
  const plan = planRegistration(hostId, status.claim, current, verdict);
  if (plan.kind === 'refuse') {
    const before = ctx.state.claims.get(hostId);
    if (!(before?.claim === claimText && before.refused === plan.reason)) {
      ctx.log('host claim refused', { host: hostId, reason: plan.reason });
      record(ctx, 'host.claim-refused', `host ${hostId} not ${current ? 'refreshed' : 'registered'}: ${plan.reason}`, { host: hostId });
    }
    ctx.state.claims.set(hostId, { claim: claimText, refused: plan.reason });
    return undefined;
  }
  if (plan.kind === 'unchanged') {
    ctx.state.claims.set(hostId, { claim: claimText });
    return undefined;
  }
  // Defence in depth: the plan already checked it, and the store checks it again.
  if (capacityIssue(plan.identity.capacity)) return undefined;
  try {
    const host = await ctx.store.registerHost(plan.identity, ctx.now);
    ctx.state.claims.set(hostId, { claim: claimText });
    if (!current) record(ctx, 'host.registered', `host ${hostId} registered at ${host.address}`, { host: hostId });
    if (plan.capped) record(ctx, 'host.claim-capped', `host ${hostId}: ${plan.capped}`, { host: hostId });
    return host;
  } catch (err) {
    // A lost race (another pass, a state change): the next pass reads again and decides again.
    if (err instanceof ConflictError) ctx.result.conflicts++;
    else ctx.log('registering a host failed; retried next pass', { host: hostId, error: (err as Error).message });
    return undefined;
  }
}
