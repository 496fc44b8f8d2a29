/**
 * The `LogStore` port in memory (ports/logs.ts), for tests: the behaviour the CloudWatch Logs
 * adapter has against the stand-in, held to it by test/contract/log-store.contract.ts.
 */
import { ValidationError } from '../../core/errors.ts';
import { checkChronological } from '../../core/logs.ts';
import type { LogEvent, LogPage, LogReadQuery, LogStore, StoredLogEvent } from '../../ports/logs.ts';

interface Held extends StoredLogEvent {
  /** Order of arrival over the whole store: ties in time keep it. */
  readonly seq: number;
}

export class MemoryLogStore implements LogStore {
  private readonly byStream = new Map<string, Held[]>();
  private seq = 0;
  /** Every put, for tests that count calls. */
  readonly puts: { stream: string; count: number }[] = [];

  /** @param maxPerStream the oldest events of a stream go past this many */
  constructor(private readonly maxPerStream = 100_000) {}

  async put(stream: string, events: readonly LogEvent[]): Promise<void> {
    if (stream === '' || stream.length > 512 || stream.includes(':') || stream.includes('*'))
      throw new ValidationError([{ path: 'stream', message: `must be 1-512 characters without ':' or '*', got ${JSON.stringify(stream)}` }]);
    if (events.length === 0) return;
    checkChronological(stream, events);
    const held = this.byStream.get(stream) ?? [];
    // CloudWatch refuses an empty message; an empty line is kept as one space, as the adapter does.
    for (const e of events) held.push({ stream, at: e.at, message: e.message === '' ? ' ' : e.message, seq: this.seq++ });
    if (held.length > this.maxPerStream) held.splice(0, held.length - this.maxPerStream);
    this.byStream.set(stream, held);
    this.puts.push({ stream, count: events.length });
  }

  async read(q: LogReadQuery): Promise<LogPage> {
    const limit = q.limit ?? 1000;
    let after: [number, number] | undefined;
    if (q.token !== undefined) {
      const m = /^(-?\d+):(\d+)$/.exec(q.token);
      if (!m) throw new ValidationError([{ path: 'token', message: 'is not a token this store returned' }]);
      after = [Number(m[1]), Number(m[2])];
    }
    const all = [...this.byStream.entries()]
      .filter(([name]) => name.startsWith(q.prefix))
      .flatMap(([, held]) => held)
      .filter((e) => (q.since === undefined || e.at >= q.since) && (q.until === undefined || e.at < q.until))
      .filter((e) => !after || e.at > after[0] || (e.at === after[0] && e.seq > after[1]))
      .sort((a, b) => a.at - b.at || a.seq - b.seq);
    const page = all.slice(0, limit);
    const last = page.at(-1);
    return { events: page.map(strip), ...(all.length > limit && last ? { next: `${last.at}:${last.seq}` } : {}) };
  }

  async tail(stream: string, count: number): Promise<StoredLogEvent[]> {
    if (count <= 0) return [];
    return (this.byStream.get(stream) ?? []).slice(-count).map(strip);
  }

  async streams(prefix: string): Promise<string[]> {
    return [...this.byStream.keys()].filter((s) => s.startsWith(prefix)).sort();
  }
}

const strip = (e: Held): StoredLogEvent => ({ stream: e.stream, at: e.at, message: e.message });
