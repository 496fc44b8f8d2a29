/** Commit: each host's allocations in one write conditional on its version (docs/state.md, "No lost updates"). */
import type { Allocation, Host } from '../../../core/types.ts';
import type { Assignment } from '../../../core/allocations.ts';
import { drainedBy, planHostWrite } from '../../../core/pass.ts';
import { forEachLimit } from '../../../core/async.ts';
import { attempt, liveAssignments, record, WRITE_CONCURRENCY, type PassContext } from '../context.ts';
import type { PassStep } from '../step.ts';

/** How often a host-allocation write is retried after losing a race within one pass. */
export const HOST_WRITE_ATTEMPTS = 5;

export const commit: PassStep = {
  name: 'commit',
  async run(ctx) {
    const live = liveAssignments(ctx);
    await forEachLimit(ctx.snapshot.hosts, WRITE_CONCURRENCY, async (host) => {
      try {
        await commitHost(ctx, host, live);
      } catch (err) {
        // One host's failed write (throttling, unavailable) is that host's alone: it is not
        // committed, so not published, and the next pass plans it again; its claims stay and hold.
        ctx.log('committing a host failed; retried next pass', { host: host.id, error: (err as Error).message });
      }
    });
  },
};

/**
 * Drops stale allocations and adds the missing and new ones while they fit, on the version read.
 * A lost race re-reads the host and plans again; a claim that no longer fits is undone. A host not
 * committed within the attempts (or gone) is left to the next pass, and not published by this one.
 */
async function commitHost(ctx: PassContext, host: Host, live: ReadonlyMap<string, Assignment>): Promise<void> {
  let current: Host | undefined = host;
  for (let tries = 0; current && tries < HOST_WRITE_ATTEMPTS; tries++) {
    const before: Host = current;
    const write = planHostWrite(before, live, ctx.claims.get(before.id) ?? [], ctx.placed.get(before.id) ?? []);
    if (write.kind === 'unchanged') {
      ctx.committed.set(before.id, before);
      return;
    }
    let updated: Host | undefined;
    if (
      await attempt(ctx, async () => {
        updated = await ctx.store.updateAllocations(before, write.allocations);
      })
    ) {
      ctx.committed.set(updated!.id, updated!);
      if (drainedBy(before, updated!)) record(ctx, 'host.drained', `host ${updated!.id} is drained: no task left on it`, { host: updated!.id });
      ctx.result.placed += write.added;
      for (const r of write.rejected) await unclaim(ctx, r, before.id);
      return;
    }
    current = await ctx.store.getHost(before.id);
  }
}

/** Undoes a claim whose allocation did not fit: the task is pending again for the next pass. */
async function unclaim(ctx: PassContext, a: Allocation, hostId: string): Promise<void> {
  const task = ctx.tasks.get(a.taskId);
  if (!task || task.host !== hostId) return;
  if (await attempt(ctx, () => ctx.store.unassignTask(task.namespace, task.service, task.slot, task.id, hostId)))
    ctx.tasks.set(task.id, { ...task, host: undefined });
}
