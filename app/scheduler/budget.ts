/**
 * A pass's time budget (docs/scale.md, "A pass within its budget"). A pass given a `deadline`
 * (PassDeps) takes new work only while what it has taken can still be finished before it: the
 * steps whose work grows with the backlog (reconcile's writes, place's claims and notes, publish's
 * documents for hosts that placed nothing) stop taking more when their share is spent, and the
 * pass reports what it left (`result.more`) for the next pass. Whatever a step did take is finished
 * in the same pass: a claim is committed, its host's document published and the host woken.
 *
 * The shares are not fixed fractions: a step may go on while the time it has spent so far, times
 * what that work will cost the steps after it (`after`, relative to its own cost), still fits
 * before the deadline. Every task a reconcile creates is one claim for place, one allocation (at
 * most one host write) for commit and at most one document for publish, so each such write costs
 * about one more write in each later step: that model (`AFTER`) is the floor, and what the last
 * budgeted pass measured (`learnCosts`) is used when higher.
 */
import type { PassContext } from './context.ts';

/**
 * The scheduler function's timeout on AWS (infra/control-functions.ts), and local mode's budget for a
 * pass loop of the same size. Five minutes, not one: at 2,000 hosts on a slow store a whole fleet's
 * placement took one 176.6 s pass, and held to 45 s the passes repeated their fixed costs (the
 * snapshot's reads, the discovery sync after them) often enough not to converge in 20 minutes
 * (docs/scale.md). Lambda allows 15 minutes; five keep a stuck invocation from holding the one
 * scheduler for long.
 */
export const SCHEDULER_TIMEOUT_MS = 300_000;

/**
 * Kept from the invocation's remaining time for what follows the passes in the handler: the
 * discovery sync (its own 10 s budget, DNS_SYNC_BUDGET_MS), the signing-key check, and slack for
 * the pass's last writes to return (a write taken just before the deadline ends after it).
 */
export const PASS_MARGIN_MS = 15_000;

/** A pass is started only with at least this much budget: less would read the cluster and take nothing. */
export const MIN_PASS_MS = 10_000;

/**
 * Writes a step always takes, whatever its budget says: a pass whose reads alone ran past its
 * deadline still makes progress (one batch at the write concurrency), so a backlog always converges.
 */
export const MIN_WRITES = 16;

/** What the work of each budgeted step costs the steps after it, relative to its own (see above). */
export const AFTER = {
  /** A task created: its claim, its host's write, its document, and the events' save. */
  reconcile: 3.5,
  /** A task claimed: its host's write, its document, and the events' save. */
  place: 2.5,
} as const;

/** What a pass left for the next one: the pass ran out of budget before doing it all. */
export interface PassLeftovers {
  /** Services whose reconcile was not done (or not finished): their rollout is decided by a later pass. */
  services: number;
  /** Placements planned and not claimed, and unplaceable notes not written. */
  placements: number;
  /** Changed documents of hosts that placed nothing this pass, not published. */
  documents: number;
}

/**
 * A budgeted step's gate: `take()` says whether it may start one more write (`extraMs`: what the
 * steps after it will spend on that write's account beyond `after`). Always true without a
 * deadline, and for the step's first `MIN_WRITES` writes; once false it stays false, so a step's
 * taken writes are a prefix of its plan as it iterates.
 */
export function stepBudget(
  ctx: PassContext,
  step: BudgetedStep,
  extraMs: () => number = () => 0,
): { take(): boolean; fits(reservedMs: number): boolean; readonly cut: boolean } {
  const deadline = ctx.deps.deadline;
  const since = deadline === undefined ? 0 : ctx.deps.now().getTime();
  // What the steps after this one cost relative to it: the model's floor, or what the last pass measured if more.
  const after = Math.max(AFTER[step], ctx.state.after?.[step] ?? 0);
  const use = { since, taken: 0 };
  ctx.budgets.set(step, use);
  let cut = false;
  return {
    take() {
      if (cut) return false;
      if (deadline !== undefined) {
        const now = ctx.deps.now().getTime();
        const extra = extraMs();
        // The minimum is in writes whose cost after the step is like their own; one costed apart (a
        // document on a slow channel) is guaranteed once only.
        if (use.taken >= (extra > 0 ? 1 : MIN_WRITES) && now + (now - since) * after + extra >= deadline) {
          cut = true;
          return false;
        }
      }
      use.taken++;
      return true;
    },
    /**
     * Whether one more write would still fit with `reservedMs` kept for other work (no minimum, no
     * cut: the step may go on with writes of another kind).
     */
    fits(reservedMs) {
      if (cut || deadline === undefined) return !cut;
      const now = ctx.deps.now().getTime();
      return now + (now - since) * after + extraMs() + reservedMs < deadline;
    },
    get cut() {
      return cut;
    },
  };
}

/**
 * What the place step should be left for the tasks already pending when the pass began (not noted
 * unplaceable): each at what a claim cost the last budgeted pass (`claimMs`), at most half the time
 * left, so that creating tasks never waits on a backlog that cannot be placed.
 */
export function backlogReserveMs(ctx: PassContext, pending: number): number {
  const deadline = ctx.deps.deadline;
  if (deadline === undefined || !ctx.state.claimMs) return 0;
  return Math.min(pending * ctx.state.claimMs, Math.max(0, (deadline - ctx.deps.now().getTime()) / 2));
}

/** The steps whose new work is budgeted, with a measured cost ratio. */
export type BudgetedStep = keyof typeof AFTER;

/** The ratio learnt is capped: a step that took little next to large fixed costs after it measures high. */
const MAX_AFTER = 20;

/**
 * After a budgeted pass (`ends`: when each step ended): what the steps after reconcile and after
 * place cost relative to them, measured on this pass where they took at least `MIN_WRITES` writes.
 * The fixed ratios above are a model; the store, the channel and the event log decide (on a loaded
 * dynalite, saving a pass's events took 7 times its reconcile: docs/scale.md).
 */
export function learnCosts(ctx: PassContext, ends: ReadonlyMap<string, number>, end: number): void {
  for (const [step, use] of ctx.budgets) {
    const stepEnd = ends.get(step);
    if (stepEnd === undefined || use.taken < MIN_WRITES || stepEnd <= use.since) continue;
    ctx.state.after ??= {};
    ctx.state.after[step] = Math.min(MAX_AFTER, (end - stepEnd) / (stepEnd - use.since));
    if (step === 'place') ctx.state.claimMs = (end - use.since) / use.taken;
  }
}

/** Whether the pass's deadline has passed (false without one). */
export function pastDeadline(ctx: PassContext): boolean {
  return ctx.deps.deadline !== undefined && ctx.deps.now().getTime() >= ctx.deps.deadline;
}

/** Notes work left for the next pass. */
export function leave(ctx: PassContext, what: keyof PassLeftovers, count = 1): void {
  if (count <= 0) return;
  ctx.result.more ??= { services: 0, placements: 0, documents: 0 };
  ctx.result.more[what] += count;
}
