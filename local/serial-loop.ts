/**
 * A body run on a timer and on demand, one run at a time: how local mode runs the control functions
 * (scheduler, health, autoscalers, discovery) that Lambda runs on AWS, where the function's reserved
 * concurrency of 1 and its triggers do the same. A kick during a run asks for one more run after it,
 * never a second run beside it; the timer waits `intervalMs` after a run ends.
 */
export class SerialLoop {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  /** `body` must not reject: it handles and reports its own errors. */
  constructor(
    private readonly body: () => Promise<void>,
    private readonly intervalMs: number,
  ) {}

  start(): void {
    this.tick();
  }

  private tick(): void {
    if (this.stopped) return;
    void this.runNow().finally(() => {
      if (!this.stopped) this.timer = setTimeout(() => this.tick(), this.intervalMs);
    });
  }

  /** A run soon; runs never overlap. */
  kick(): void {
    void this.runNow();
  }

  /** Runs now, or once more after the run in progress; resolves when the runs asked for so far are done. */
  runNow(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.body();
      } while (this.again && !this.stopped);
    })().finally(() => (this.running = undefined));
    return this.running;
  }

  /** Stops the timer and waits for the run in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }
}
