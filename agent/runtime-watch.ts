/**
 * Watches whether Docker answers, so that the agent can tell "busy" from "hung".
 *
 * A busy daemon answers slowly but answers: some call completes every so often. A hung one answers
 * none. So Docker counts as unresponsive when a call has waited for longer than the stall limit
 * and no call at all has been answered since it began. A call answered with an error status (404,
 * 409, 500...) is an answer; a timeout or a refused connection is not.
 *
 * When one slow call is all that is in flight (a single create on a loaded daemon), its wait alone
 * proves nothing: `probe` asks Docker a cheap question (a list) on the side, and its answer clears
 * the suspicion.
 */
import type { Executor } from './executor.ts';

export class WatchedExecutor implements Executor {
  private readonly inFlight = new Map<number, number>();
  private seq = 0;
  private lastAnswerAt: number;
  /** The earliest start of a call that ended unanswered (timeout, daemon unreachable) since the last answer. */
  private unansweredSince: number | undefined;
  private probing: Promise<unknown> | undefined;

  constructor(
    private readonly inner: Executor,
    private readonly now: () => number,
  ) {
    this.lastAnswerAt = now();
  }

  /** Since when Docker has left calls unanswered, or undefined while it answers. */
  stalledSince(): number | undefined {
    let pending = this.unansweredSince;
    for (const start of this.inFlight.values()) pending = pending === undefined ? start : Math.min(pending, start);
    if (pending === undefined) return undefined;
    // A call answered after the pending one began shows the daemon alive: only the time since counts.
    return Math.max(pending, this.lastAnswerAt);
  }

  /** Asks Docker a cheap question on the side when calls have waited for `afterMs`; one at a time. */
  probe(afterMs: number): void {
    const since = this.stalledSince();
    if (since === undefined || this.now() - since < afterMs || this.probing) return;
    this.probing = this.list()
      .catch(() => undefined)
      .finally(() => (this.probing = undefined));
  }

  private async track<T>(run: () => Promise<T>): Promise<T> {
    const id = ++this.seq;
    const start = this.now();
    this.inFlight.set(id, start);
    try {
      const out = await run();
      this.answered();
      return out;
    } catch (err) {
      if (typeof (err as { statusCode?: unknown } | null)?.statusCode === 'number') this.answered();
      else this.unansweredSince = Math.min(this.unansweredSince ?? start, start);
      throw err;
    } finally {
      this.inFlight.delete(id);
    }
  }

  private answered(): void {
    this.lastAnswerAt = this.now();
    this.unansweredSince = undefined;
  }

  list: Executor['list'] = () => this.track(() => this.inner.list());
  inspect: Executor['inspect'] = (id) => this.track(() => this.inner.inspect(id));
  create: Executor['create'] = (task, container, options) => this.track(() => this.inner.create(task, container, options));
  start: Executor['start'] = (id) => this.track(() => this.inner.start(id));
  stopAndRemove: Executor['stopAndRemove'] = (id, grace) => this.track(() => this.inner.stopAndRemove(id, grace));
  hasImage: Executor['hasImage'] = (image) => this.track(() => this.inner.hasImage(image));
  // A pull waits on a registry, not on the daemon: its length says nothing about Docker's health.
  pull: Executor['pull'] = (image) => this.inner.pull(image);
  // The event stream stays open by design.
  watchExits: Executor['watchExits'] = (onExit, onReady) => this.inner.watchExits(onExit, onReady);
  // A probe's command may run long inside a container; the probe's own timeout handles that.
  exec: Executor['exec'] = (id, command, timeoutMs) => this.inner.exec(id, command, timeoutMs);
}
