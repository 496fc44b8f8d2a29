/** The pass's event log: agents' own events copied in at the start, the pass's own saved at the end. */
import { freshAgentEvents } from '../../../core/pass.ts';
import { badItemEvent } from '../../../core/items.ts';
import type { BadItemSource } from '../../../ports/index.ts';
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
    await ctx.store.putEvents(events);
    for (const [host, mark] of marks) ctx.state.copiedAgentEvents.set(host, mark);
  },
};

/** The events of this pass, in one batch: what it created, replaced, placed, removed and forgot. */
export const saveEvents: PassStep = {
  name: 'save-events',
  async run(ctx) {
    if (ctx.events.length > 0) await ctx.store.putEvents(ctx.events);
  },
};
