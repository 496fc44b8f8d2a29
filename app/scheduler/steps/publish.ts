/** Publication: each committed host's document, when its content changed; then the changed hosts are woken. */
import type { Host } from '../../../core/types.ts';
import { assignments, hostDocument, type Assignment } from '../../../core/allocations.ts';
import { planDocument } from '../../../core/pass.ts';
import { forEachLimit } from '../../../core/async.ts';
import { attempt, WRITE_CONCURRENCY, type PassContext } from '../context.ts';
import type { PassStep } from '../step.ts';

export const publish: PassStep = {
  name: 'publish',
  async run(ctx) {
    // A document lists only allocations whose task points back at the host: a half-done placement starts nothing.
    const live = assignments(ctx.tasks.values());
    const changed: string[] = [];
    await forEachLimit([...ctx.committed.values()], WRITE_CONCURRENCY, async (host) => {
      if (await publishHost(ctx, host, live)) changed.push(host.id);
    });
    ctx.result.published = changed.sort();
    if (changed.length > 0) await ctx.deps.waker.wake(changed);
  },
};

/** Publishes the host's document with the next generation if its hash changed; true when it did. */
async function publishHost(ctx: PassContext, host: Host, live: ReadonlyMap<string, Assignment>): Promise<boolean> {
  const network = ctx.network?.networks.get(host.id);
  const doc = planDocument(host, live, network);
  const published = await ctx.store.getPublished(host.id);
  if (published?.hash === doc.hash) return false;
  const previous = published?.generation ?? 0;
  // The channel refuses to go back a generation: an overlapping pass published a newer one and records it.
  if (!(await attempt(ctx, () => ctx.deps.channel.publish(hostDocument(ctx.deps.cluster, host.id, previous + 1, doc.tasks, network))))) return false;
  // Lost: another pass recorded its publication meanwhile; the next pass compares with that record.
  await attempt(ctx, () => ctx.store.setPublished(host.id, previous, { generation: previous + 1, hash: doc.hash }));
  return true;
}
