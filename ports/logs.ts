/**
 * Central logs (docs/logs.md): one log group per cluster, one stream per task container
 * (`<namespace>/<task>/<container>`), `host/<id>` for an agent's own log and `control/<function>`
 * for the control functions'. CloudWatch Logs on AWS (adapters/aws/cloudwatch-log-store.ts),
 * its stand-in locally (local/logs-server.ts), `MemoryLogStore` in tests; one contract suite
 * (test/contract/log-store.contract.ts) holds them to the same behaviour.
 */

/** One line of output, as written. */
export interface LogEvent {
  /** When it was written, in ms since the epoch. */
  readonly at: number;
  readonly message: string;
}

/** A line as read back: with its stream. */
export interface StoredLogEvent extends LogEvent {
  readonly stream: string;
}

export interface LogReadQuery {
  /** Streams whose name starts with this (`default/web-` for a service's tasks). */
  readonly prefix: string;
  /** Only events at or after this time (ms). */
  readonly since?: number;
  /** Only events before this time (ms). */
  readonly until?: number;
  /** At most this many events in the page. @default 1000 */
  readonly limit?: number;
  /** The `next` of the previous page of the same query. */
  readonly token?: string;
}

export interface LogPage {
  /** Oldest first; events of one timestamp in the order they were put. */
  readonly events: readonly StoredLogEvent[];
  /** Present when more events may follow: the same query with this token reads them. */
  readonly next?: string;
}

export interface LogStore {
  /**
   * Appends events to a stream, creating it when absent. The events must be in time order, and not
   * older than the stream's last event: each stream has one writer (a container's shipper), so
   * its order is the order lines were written.
   */
  put(stream: string, events: readonly LogEvent[]): Promise<void>;
  /** Events of the streams under a prefix, merged in time order, a page at a time. */
  read(query: LogReadQuery): Promise<LogPage>;
  /** The last `count` events of one stream (oldest first); empty when the stream does not exist. */
  tail(stream: string, count: number): Promise<StoredLogEvent[]>;
  /** Names of the streams under a prefix, sorted. */
  streams(prefix: string): Promise<string[]>;
}

/** What PutLogEvents accepts in one call (CloudWatch Logs quotas); the adapters split batches to fit. */
export const LOG_LIMITS = {
  eventsPerPut: 10_000,
  /** Bytes per PutLogEvents: the messages' UTF-8 bytes plus 26 per event. */
  bytesPerPut: 1_048_576,
  eventOverheadBytes: 26,
  /** One event's message, in bytes (256 KB less the overhead); longer lines are cut. */
  maxMessageBytes: 262_144 - 26,
  /** A batch may span at most 24 hours. */
  batchSpanMs: 24 * 3_600_000,
} as const;
