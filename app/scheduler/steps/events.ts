/** The pass's event log: agents' own events copied in at the start, the pass's own saved at the end. */
import { freshAgentEvents } from '../../../core/pass.ts';
import { badItemEvent } from '../../../core/items.ts';
import type { BadItemSource } from '../../../ports/index.ts';
import type { ClusterEvent } from '../../../core/types.ts';
import type { PassContext } from '../context.ts';
import type { PassStep } from '../step.ts';

/**
 * Items that failed their schema or key check were skipped by the snapshot's reads: each becomes an
 * `item.invalid` event and counts toward the BadItems metric, never an error. Runs first, right
 * after the reads that found them.
 */
export const reportBadItems: PassStep = {
  name: 'report-bad-items',
  async run(ctx) {
    // Awaited: a wrapped store (the fault-injecting one in tests) answers every call with a promise.
    const bad = await (ctx.store as Partial<BadItemSource>).takeBadItems?.();
    if (!bad) return;
    ctx.result.badItems = bad.items.length + bad.dropped;
    ctx.events.push(...bad.items.map((b) => badItemEvent(b, ctx.now)));
  },
};

/** Agents' own events (started, exited, unhealthy, restarted) reach the log through their reports. */
export const ingestAgentEvents: PassStep = {
  name: 'ingest-agent-events',
  async run(ctx) {
    const { events, marks } = freshAgentEvents(ctx.snapshot.statuses, ctx.state.copiedAgentEvents);
    if (events.length === 0) return;
    // Recording an event id twice keeps one, so a restarted scheduler re-copying a ring is harmless.
    // Not copied (the log throttled): the marks stay where they were, so the next pass copies them.
    if (!(await saveBestEffort(ctx, events, 'agent'))) return;
    for (const [host, mark] of marks) ctx.state.copiedAgentEvents.set(host, mark);
  },
};

/** The events of this pass, in one batch: what it created, replaced, placed, removed and forgot. */
export const saveEvents: PassStep = {
  name: 'save-events',
  async run(ctx) {
    if (ctx.events.length > 0) await saveBestEffort(ctx, ctx.events, 'pass');
  },
};

/**
 * Events are a record of what happened, not state: a throttled or unavailable event log must never
 * stop a pass from scheduling (at the start) nor fail one whose writes all landed (at the end).
 * A failed write is logged and counted (`eventsDropped`), and the pass goes on; true when saved.
 */
async function saveBestEffort(ctx: PassContext, events: readonly ClusterEvent[], source: 'agent' | 'pass'): Promise<boolean> {
  try {
    await ctx.store.putEvents(events);
    return true;
  } catch (err) {
    ctx.result.eventsDropped = (ctx.result.eventsDropped ?? 0) + events.length;
    ctx.log('events not saved', { source, count: events.length, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
    return false;
  }
}
