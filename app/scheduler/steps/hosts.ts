/** Steps about hosts as machines: their container network (AWS), and forgetting the gone ones. */
import { ConflictError } from '../../../core/errors.ts';
import { hostsToForget } from '../../../core/pass.ts';
import { syncNetwork } from '../../network.ts';
import { record } from '../context.ts';
import type { PassStep } from '../step.ts';

/** The container network: a host takes pods only once its subnet is routed to it. */
export const network: PassStep = {
  name: 'network',
  async run(ctx) {
    const deps = ctx.deps.network;
    if (!deps) return;
    const hosts = ctx.snapshot.hosts;
    const network = await syncNetwork({ ...deps, log: deps.log ?? ctx.log }, hosts, ctx.state.network);
    ctx.network = network;
    const waiting = hosts.filter((h) => h.state === 'ready' && !network.networks.has(h.id));
    for (const h of waiting) ctx.log('host waits for its container subnet', { host: h.id });
    ctx.result.network = {
      acquired: network.acquired,
      routed: network.routed,
      released: network.released,
      repaired: network.repaired,
      failed: network.failed.length,
      waiting: waiting.length,
    };
  },
};

/**
 * Forgets the committed hosts that are down, hold no allocation and whose machine is gone: their
 * document, then their record and report (their subnets were released by the network step). They
 * leave `committed`, so no document is published for them.
 */
export const forgetGoneHosts: PassStep = {
  name: 'forget-gone-hosts',
  async run(ctx) {
    const gone = ctx.network?.gone;
    if (!gone || gone.size === 0) return;
    const ids: string[] = [];
    for (const host of hostsToForget(ctx.committed.values(), gone)) {
      try {
        // The document first: a host record without a document is harmless for a machine that is gone,
        // a document without a record would be left behind for good.
        await ctx.deps.channel.remove(host.id);
        await ctx.store.forgetHost(host);
        ctx.committed.delete(host.id);
        ids.push(host.id);
        ctx.log('host forgotten', { host: host.id });
        record(ctx, 'host.forgotten', `host ${host.id} forgotten: its machine is gone for good`, { host: host.id });
      } catch (err) {
        // Retried by the next pass (the host is still down and gone); the pass goes on publishing.
        if (err instanceof ConflictError) ctx.result.conflicts++;
        else ctx.log('forgetting a gone host failed; retried next pass', { host: host.id, error: (err as Error).message });
      }
    }
    if (ids.length > 0) ctx.result.forgotten = ids.sort();
  },
};
