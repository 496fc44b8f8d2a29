/**
 * Publication: each committed host's document, when its content changed; then the changed hosts are woken.
 *
 * One host at a time and isolated: a document the channel refuses (too large, throttled,
 * unavailable) or a record the store fails to write is that host's failure alone. It is logged,
 * reported in `publishFailed` and as a `host.publish-failed` event; the other hosts are still
 * published and woken, and the pass goes on to save its events. Its record is not advanced, so the
 * next pass publishes it again.
 */
import type { Host } from '../../../core/types.ts';
import { hostDocument, type Assignment } from '../../../core/allocations.ts';
import { planDocument, UNSETTLED_HASH } from '../../../core/pass.ts';
import { forEachLimit } from '../../../core/async.ts';
import { ConflictError, SkiffError } from '../../../core/errors.ts';
import { liveAssignments, record, WRITE_CONCURRENCY, type PassContext } from '../context.ts';
import type { PassStep } from '../step.ts';
import { leave, pastDeadline } from '../budget.ts';

export const publish: PassStep = {
  name: 'publish',
  async run(ctx) {
    // A document lists only allocations whose task points back at the host: a half-done placement starts nothing.
    const live = liveAssignments(ctx);
    const changed: string[] = [];
    const failed: { host: string; reason: string }[] = [];
    // The hosts this pass placed on first, and always: a claim is published by the pass that took it.
    // The others' changes (removals, drains) wait for the next pass once the budget is spent.
    const hosts = [...ctx.committed.values()].sort((a, b) => Number(ctx.placed.has(b.id)) - Number(ctx.placed.has(a.id)));
    // What was last published to each, in batches rather than one read per host (2,000 reads a pass at 2,000 hosts).
    const records = await ctx.store.getPublishedMany(hosts.map((h) => h.id));
    let left = 0;
    const started = ctx.deps.now().getTime();
    await forEachLimit(hosts, WRITE_CONCURRENCY, async (host) => {
      const write = ctx.placed.has(host.id) || !pastDeadline(ctx);
      try {
        if (!write) {
          if (await publishHost(ctx, host, live, records.get(host.id), false)) left++;
          return;
        }
        if (await publishHost(ctx, host, live, records.get(host.id))) changed.push(host.id);
      } catch (err) {
        const reason = (err as Error).message;
        failed.push({ host: host.id, reason });
        ctx.log('publishing a host document failed; retried next pass', { host: host.id, error: reason });
        record(ctx, 'host.publish-failed', `document of host ${host.id} not published: ${reason}`, { host: host.id });
      }
    });
    leave(ctx, 'documents', left);
    // What a document cost this pass (unchanged ones cost nothing and are not counted): the next place step counts it per host.
    if (changed.length > 0) ctx.state.publishMsPerDocument = (ctx.deps.now().getTime() - started) / changed.length;
    ctx.result.published = changed.sort();
    if (failed.length > 0) ctx.result.publishFailed = failed.sort((a, b) => (a.host < b.host ? -1 : 1));
    if (changed.length === 0) return;
    try {
      await ctx.deps.waker.wake(changed);
    } catch (err) {
      // Best effort: a host not woken applies its document at its next poll.
      ctx.log('waking hosts failed; they apply their documents at their next poll', { hosts: changed, error: (err as Error).message });
    }
  },
};

/**
 * Publishes the host's document with the next generation if its hash differs from the record
 * `published` (read before the step); true when it did (or, with `write` false, would).
 *
 * The channel refuses a generation older than its own and the same generation with other content
 * (an overlapping pass published it first). Whenever the channel and the record may disagree, the
 * record is moved to the next generation with `UNSETTLED_HASH`, which no document has: the next
 * pass then publishes again, above whatever either pass left on the channel.
 */
async function publishHost(
  ctx: PassContext,
  host: Host,
  live: ReadonlyMap<string, Assignment>,
  published: { generation: number; hash: string } | undefined,
  /** False past the budget: only says whether the document changed (left for the next pass). */
  write = true,
): Promise<boolean> {
  const network = ctx.network?.networks.get(host.id);
  const removeVolumes = ctx.volumeRemovals?.get(host.id);
  const doc = planDocument(host, live, network, removeVolumes);
  // An isolating document lists every task with its slot, or the agent refuses its rules: a task whose
  // namespace lost its slot's claim this pass holds the host's publication until the next pass.
  const slotless = network?.blockPrefix !== undefined ? doc.tasks.find((t) => !t.isolation) : undefined;
  if (slotless) throw new SkiffError(`namespace ${slotless.namespace} of task ${slotless.id} has no address block slot this pass`);
  if (published?.hash === doc.hash) return false;
  // A host that never had a document and has nothing to run needs none: an agent without a document
  // removes nothing, and its first task publishes one. A new fleet of 2,000 hosts would otherwise
  // spend 2,000 PutParameter calls (11 minutes at Parameter Store's 3 TPS) on empty documents before
  // the first task reached a host (docs/scale.md). A document that carries the host's routed subnet is
  // still published at once: the agent brings its container network up before any pod arrives.
  if (!published && doc.tasks.length === 0 && !network) return false;
  if (!write) return true;
  const previous = published?.generation ?? 0;
  const generation = previous + 1;
  try {
    await ctx.deps.channel.publish(hostDocument(ctx.deps.cluster, host.id, generation, doc.tasks, network, removeVolumes));
  } catch (err) {
    if (!(err instanceof ConflictError)) throw err;
    // Another pass published this generation (or a newer one) first. If it records it, this write
    // loses and the next pass compares with its record; if it never will (it crashed), this one
    // unsettles the record so that the channel's generation is passed over.
    ctx.result.conflicts++;
    await unsettle(ctx, host.id, previous);
    return false;
  }
  try {
    await ctx.store.setPublished(host.id, previous, { generation, hash: doc.hash });
  } catch (err) {
    if (!(err instanceof ConflictError)) throw err;
    // Lost: another pass recorded its publication meanwhile. If it recorded this generation with
    // other content, the channel may hold this pass's instead: unsettle its record.
    ctx.result.conflicts++;
    const now = await ctx.store.getPublished(host.id);
    if (now?.generation === generation && now.hash !== doc.hash) await unsettle(ctx, host.id, generation);
  }
  return true;
}

/** Moves the record past `from`, to a hash no document has: the next pass republishes. A lost race is fine. */
async function unsettle(ctx: PassContext, hostId: string, from: number): Promise<void> {
  try {
    await ctx.store.setPublished(hostId, from, { generation: from + 1, hash: UNSETTLED_HASH });
  } catch (err) {
    if (!(err instanceof ConflictError)) throw err;
  }
}
