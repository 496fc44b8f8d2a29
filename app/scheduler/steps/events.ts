/** The pass's event log: agents' own events copied in at the start, the pass's own saved at the end. */
import { freshAgentEvents } from '../../../core/pass.ts';
import type { PassStep } from '../step.ts';

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
