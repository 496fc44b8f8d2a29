/**
 * Ships container output to the cluster's log store (docs/logs.md): follows each container of
 * this host through a `LogSource` (Docker's logs API, agent/docker-logs.ts), batches each
 * stream's lines (up to `maxBatch` lines, or what arrived within `flushMs`), and puts each batch
 * with one call, one batch in flight per stream so a stream's lines land in order.
 *
 * Never twice, and from where it stopped: the store is the cursor. Before it follows a container
 * the first time, the shipper reads the last events of its stream (`LogStore.tail`) and asks
 * Docker for lines from that ms on, dropping the lines of that ms it already shipped. A restarted
 * agent therefore resumes exactly where the store ends, whatever it had buffered when it died, and
 * a file of cursors that could lag the store is not needed. Within a process, the position of the
 * last line accepted (buffered or shipped) is kept per stream, so following a restarted container
 * again resumes there too.
 *
 * A container that dies: Docker ends the follow once its output is read to the end; the shipper
 * flushes what it holds. The agent's own log goes through `line` (the `host/<id>` stream).
 */
import { taskStream } from '../core/logs.ts';
import type { LogEvent, LogStore } from '../ports/logs.ts';
import type { ContainerInfo } from './executor.ts';

/** One line of a container's output. */
export interface LogLine {
  /** When Docker received it, in ms. */
  readonly at: number;
  /** Without the trailing newline. */
  readonly text: string;
}

/** Where containers' lines come from (Docker; a fake in tests). */
export interface LogSource {
  /**
   * The container's lines from `sinceMs` on (all of them when absent), then the new ones as they
   * are written while it runs; the iteration ends when the container has stopped and its output is
   * read to the end, or when `signal` aborts.
   */
  follow(containerId: string, sinceMs: number | undefined, signal: AbortSignal): AsyncIterable<LogLine>;
}

export interface LogShipperOptions {
  readonly store: LogStore;
  readonly source: LogSource;
  /** A batch is put once it holds this many lines. @default 500 */
  readonly maxBatch?: number;
  /** ...or once its first line waited this long. @default 1000 */
  readonly flushMs?: number;
  /** A stream holding this many unshipped lines stops reading its container until a put succeeds. @default 10000 */
  readonly maxBuffered?: number;
  /** First wait after a failed put, doubled up to 30 s. @default 1000 */
  readonly retryMs?: number;
  readonly now?: () => number;
  readonly log?: (level: 'info' | 'warn' | 'error', message: string, data?: Record<string, unknown>) => void;
}

/** Where a stream stands: the time of its last line, and how many lines of that ms it holds. */
interface Position {
  at: number;
  count: number;
}

/** One stream's buffer and its put in flight. */
class Pipe {
  buffer: LogEvent[] = [];
  /** Last line accepted (buffered or shipped); undefined until read from the store. */
  accepted: Position | undefined;
  /** The put in flight; resolves (never rejects) with whether it succeeded. */
  inFlight: Promise<boolean> | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
  failures = 0;
  /** Waiters for the buffer to fall below the bound. */
  drained: (() => void)[] = [];
  constructor(readonly stream: string) {}
}

export class LogShipper {
  private readonly pipes = new Map<string, Pipe>();
  /** Container incarnations (`id@running`, or `id@startedAt` for one first seen stopped) followed, or being followed, by this process. */
  private readonly followed = new Set<string>();
  /** Incarnations whose follow ended: done if the container has stopped, broken off (Docker restarted) if it still runs. */
  private readonly ended = new Set<string>();
  /** The stream of each container followed, to forget idle streams of containers gone from the host. */
  private readonly streamOf = new Map<string, string>();
  /** Per container id, the follow running now: a restarted container's next follow waits for it. */
  private readonly following = new Map<string, Promise<void>>();
  private readonly abort = new AbortController();
  private readonly maxBatch: number;
  private readonly flushMs: number;
  private readonly maxBuffered: number;
  private readonly retryMs: number;
  private readonly now: () => number;
  private stopped = false;

  constructor(private readonly options: LogShipperOptions) {
    this.maxBatch = options.maxBatch ?? 500;
    this.flushMs = options.flushMs ?? 1000;
    this.maxBuffered = options.maxBuffered ?? 10_000;
    this.retryMs = options.retryMs ?? 1000;
    this.now = options.now ?? Date.now;
    if (!(this.maxBatch >= 1) || !(this.maxBuffered >= this.maxBatch)) throw new RangeError('LogShipper: maxBatch must be >= 1 and maxBuffered >= maxBatch');
  }

  /**
   * Follows every container of the list that runs, or that stopped since it was last followed (its
   * output is shipped to the end). Call it with each listing of the host's containers.
   */
  sync(containers: readonly ContainerInfo[]): void {
    if (this.stopped) return;
    const present = new Set<string>();
    for (const c of containers) {
      // A running container is listed from Docker's summary, which has no start time (agent/docker.ts
      // inspects only the others): its incarnation is "running". A restart of the same container is
      // still seen: the follow ends when it stops, and a follow that ended while it runs starts again.
      // Listed stopped after it was followed running, its follow read (or reads) it to the end.
      const whileRunning = `${c.id}@running`;
      if (c.state !== 'running' && this.followed.has(whileRunning)) {
        present.add(whileRunning);
        continue;
      }
      const key = c.state === 'running' ? whileRunning : `${c.id}@${c.startedAt ?? ''}`;
      present.add(key);
      // Created and never started: nothing to read yet.
      if (c.state === 'created' || (c.state !== 'running' && !c.startedAt)) continue;
      if (this.followed.has(key)) {
        // A follow that ended while the container still runs broke off (the daemon restarted): follow again from where it was.
        if (!(this.ended.has(key) && c.state === 'running')) continue;
        this.ended.delete(key);
      }
      this.followed.add(key);
      const stream = taskStream(c.namespace ?? 'default', c.taskId, c.container);
      this.streamOf.set(c.id, stream);
      const previous = this.following.get(c.id) ?? Promise.resolve();
      const run = previous
        .then(() => this.follow(c.id, stream))
        .then(() => {
          this.ended.add(key);
        })
        .catch((err: unknown) => {
          // Docker refused (the container went meanwhile): forget it, the next listing tries again if it is still there.
          this.followed.delete(key);
          this.options.log?.('warn', 'cannot follow the output of a container', { container: c.id, stream, error: (err as Error).message });
        });
      this.following.set(c.id, run);
      void run.finally(() => {
        if (this.following.get(c.id) === run) this.following.delete(c.id);
      });
    }
    // Containers gone from the host: their incarnations and idle streams need no memory (the store keeps their position).
    const ids = new Set(containers.map((c) => c.id));
    for (const key of this.followed) {
      if (present.has(key) || this.following.has(key.slice(0, key.indexOf('@')))) continue;
      this.followed.delete(key);
      this.ended.delete(key);
    }
    // A stream another container of the host still writes (a task's container created again) keeps its pipe.
    const live = new Set([...this.streamOf].filter(([id]) => ids.has(id) || this.following.has(id)).map(([, stream]) => stream));
    for (const [id, stream] of this.streamOf) {
      if (ids.has(id) || this.following.has(id)) continue;
      this.streamOf.delete(id);
      const pipe = this.pipes.get(stream);
      if (!live.has(stream) && pipe && pipe.buffer.length === 0 && !pipe.inFlight) this.pipes.delete(stream);
    }
  }

  /** A line of a stream the agent writes itself (`host/<id>`). */
  line(stream: string, text: string, at = this.now()): void {
    if (this.stopped) return;
    const pipe = this.pipe(stream);
    // Its own lines start a stream fresh: nothing of this process was shipped before.
    pipe.accepted ??= { at: 0, count: 0 };
    this.accept(pipe, at, text);
  }

  /** Puts everything buffered now, waiting for puts in flight (tests, and stop). */
  async flush(): Promise<void> {
    for (;;) {
      const busy = [...this.pipes.values()].filter((p) => p.buffer.length > 0 || p.inFlight);
      if (busy.length === 0) return;
      const results = await Promise.all(busy.map((p) => this.put(p)));
      const failed = busy.filter((_, i) => !results[i]);
      if (failed.length > 0) throw new Error(`shipping logs failed for ${failed.map((p) => p.stream).join(', ')}; lines are kept and retried`);
    }
  }

  /** Stops following (containers keep running) and puts what is buffered, trying for at most `timeoutMs`. */
  async stop(timeoutMs = 5000): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    for (const p of this.pipes.values()) for (const wake of p.drained.splice(0)) wake();
    await Promise.race([Promise.allSettled([...this.following.values()]), sleep(timeoutMs)]);
    for (const p of this.pipes.values()) if (p.timer) clearTimeout(p.timer);
    await Promise.race([this.flush().catch(() => undefined), sleep(timeoutMs)]);
  }

  /** Lines held and not yet shipped, per stream (tests, metrics). */
  pending(): Record<string, number> {
    return Object.fromEntries([...this.pipes.values()].filter((p) => p.buffer.length > 0).map((p) => [p.stream, p.buffer.length]));
  }

  private pipe(stream: string): Pipe {
    let p = this.pipes.get(stream);
    if (!p) {
      p = new Pipe(stream);
      this.pipes.set(stream, p);
    }
    return p;
  }

  private async follow(containerId: string, stream: string): Promise<void> {
    const pipe = this.pipe(stream);
    pipe.accepted ??= await this.resumePoint(stream);
    const from = { ...pipe.accepted };
    let sameMs = 0;
    for await (const line of this.options.source.follow(containerId, from.count > 0 ? from.at : undefined, this.abort.signal)) {
      // Lines up to the position were accepted before (shipped, or by an earlier follow of this process).
      if (line.at < from.at) continue;
      if (line.at === from.at && from.count > 0 && sameMs < from.count) {
        sameMs++;
        continue;
      }
      this.accept(pipe, line.at, line.text);
      if (pipe.buffer.length >= this.maxBuffered) await new Promise<void>((resolve) => pipe.drained.push(resolve));
    }
    // The container stopped (or the shipper did): what it wrote last goes now, not a second later.
    if (!this.stopped) await this.put(pipe);
  }

  /** Where the store's copy of a stream ends. */
  private async resumePoint(stream: string): Promise<Position> {
    const last = await this.options.store.tail(stream, 100);
    const end = last.at(-1);
    if (!end) return { at: 0, count: 0 };
    return { at: end.at, count: last.filter((e) => e.at === end.at).length };
  }

  private accept(pipe: Pipe, at: number, text: string): void {
    const accepted = pipe.accepted!;
    // Docker stamps stdout and stderr apart; a line stamped a little before the last is kept in order at the last's time.
    const t = Math.max(at, accepted.at);
    if (t === accepted.at) accepted.count++;
    else pipe.accepted = { at: t, count: 1 };
    pipe.buffer.push({ at: t, message: text });
    if (pipe.buffer.length >= this.maxBatch) void this.put(pipe);
    else if (!pipe.timer && !pipe.inFlight) pipe.timer = setTimeout(() => void this.put(pipe), this.flushMs);
  }

  /**
   * Puts the pipe's buffer, a batch at a time; one put in flight per pipe. Resolves once the put in
   * flight (if any) ends, with whether it succeeded; never rejects (a failed put is retried on a timer).
   */
  private put(pipe: Pipe): Promise<boolean> {
    if (pipe.timer) {
      clearTimeout(pipe.timer);
      pipe.timer = undefined;
    }
    if (pipe.inFlight) return pipe.inFlight;
    if (pipe.buffer.length === 0) return Promise.resolve(true);
    const batch = pipe.buffer.slice(0, this.maxBatch);
    pipe.inFlight = this.options.store.put(pipe.stream, batch).then(
      () => {
        pipe.buffer.splice(0, batch.length);
        pipe.failures = 0;
        pipe.inFlight = undefined;
        if (pipe.buffer.length < this.maxBuffered) for (const wake of pipe.drained.splice(0)) wake();
        // More arrived meanwhile: a full batch goes at once, a partial one after flushMs.
        if (pipe.buffer.length >= this.maxBatch) void this.put(pipe);
        else if (pipe.buffer.length > 0 && !this.stopped) pipe.timer = setTimeout(() => void this.put(pipe), this.flushMs);
        return true;
      },
      (err: unknown) => {
        pipe.failures++;
        pipe.inFlight = undefined;
        const wait = Math.min(30_000, this.retryMs * 2 ** Math.min(pipe.failures - 1, 5));
        this.options.log?.('warn', 'shipping logs failed; retrying', {
          stream: pipe.stream,
          lines: pipe.buffer.length,
          retryInMs: wait,
          error: (err as Error).message,
        });
        if (!this.stopped) pipe.timer = setTimeout(() => void this.put(pipe), wait);
        return false;
      },
    );
    return pipe.inFlight;
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref?.());
