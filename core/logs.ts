/**
 * The pure part of central logs (docs/logs.md): stream names, splitting a batch to CloudWatch's
 * limits, and the follow cursor that lets `skiff logs -f` poll without showing a line twice or
 * missing one that a slower replica shipped late.
 */
import { createHash } from 'node:crypto';
import { ValidationError } from './errors.ts';
import { LOG_LIMITS, type LogEvent, type StoredLogEvent } from '../ports/logs.ts';

/** The stream of a task's container. */
export function taskStream(namespace: string, task: string, container: string): string {
  return `${namespace}/${task}/${container}`;
}

/** The stream of a host's agent. */
export const hostStream = (hostId: string): string => `host/${hostId}`;
/** The stream of a control function (`scheduler`, `api`, `health`...). */
export const controlStream = (fn: string): string => `control/${fn}`;

/** The prefix of a service's task streams: `<namespace>/<service>-`; `serviceOfStream` drops the other services it also matches. */
export const servicePrefix = (namespace: string, service: string): string => `${namespace}/${service}-`;

/** The parts of a task stream's name, or undefined for another stream. */
export function parseTaskStream(stream: string): { namespace: string; task: string; container: string } | undefined {
  const parts = stream.split('/');
  if (parts.length !== 3 || parts[0] === 'host' || parts[0] === 'control') return undefined;
  return { namespace: parts[0], task: parts[1], container: parts[2] };
}

/** True when the stream is a task container of this service (a task id is `<service>-<slot>-<5 chars>`). */
export function isServiceStream(stream: string, namespace: string, service: string): boolean {
  const p = parseTaskStream(stream);
  if (!p || p.namespace !== namespace || !p.task.startsWith(`${service}-`)) return false;
  return /^\d+-[a-z0-9]{5}$/.test(p.task.slice(service.length + 1));
}

const utf8Bytes = (s: string): number => Buffer.byteLength(s, 'utf8');

/** A message cut to the size CloudWatch takes, marked as cut. */
export function fitMessage(message: string): string {
  if (utf8Bytes(message) <= LOG_LIMITS.maxMessageBytes) return message;
  const marker = ' [cut: line longer than 256 KB]';
  let cut = Buffer.from(message, 'utf8')
    .subarray(0, LOG_LIMITS.maxMessageBytes - marker.length)
    .toString('utf8');
  // A cut in the middle of a character leaves a replacement character; drop it.
  cut = cut.replace(/\uFFFD$/, '');
  return cut + marker;
}

/** Splits events (in time order) into PutLogEvents calls: count, bytes and time span within the limits. */
export function splitBatch(events: readonly LogEvent[]): LogEvent[][] {
  const out: LogEvent[][] = [];
  let current: LogEvent[] = [];
  let bytes = 0;
  for (const raw of events) {
    const e = { at: raw.at, message: fitMessage(raw.message) };
    const size = utf8Bytes(e.message) + LOG_LIMITS.eventOverheadBytes;
    if (
      current.length > 0 &&
      (current.length >= LOG_LIMITS.eventsPerPut || bytes + size > LOG_LIMITS.bytesPerPut || e.at - current[0].at >= LOG_LIMITS.batchSpanMs)
    ) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(e);
    bytes += size;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/** Refuses events out of time order (PutLogEvents would). */
export function checkChronological(stream: string, events: readonly LogEvent[], after?: number): void {
  let last = after ?? Number.NEGATIVE_INFINITY;
  for (const e of events) {
    if (!Number.isFinite(e.at)) throw new ValidationError([{ path: stream, message: `event time must be a number of ms, got ${String(e.at)}` }]);
    if (e.at < last) throw new ValidationError([{ path: stream, message: `events must be in time order: ${e.at} after ${last}` }]);
    last = e.at;
  }
}

// ---- the follow cursor ----------------------------------------------------------------------------

/**
 * How far behind the newest line shown a replica's line may still arrive and be shown. Each
 * replica's lines reach the store in order, but replicas ship independently (a batch a second),
 * so a line of one may land after a newer line of another; a poll re-reads this window and drops
 * what it showed, by each stream's position.
 */
export const FOLLOW_WINDOW_MS = 10_000;

/**
 * Where a reader stands: `floor`, the time from which the next read starts, and per stream (by a
 * short hash of its name) the time of the last event shown and how many events of that ms were
 * shown. A stream not listed has shown nothing at or after the floor.
 */
export interface LogCursor {
  readonly floor: number;
  readonly streams: Readonly<Record<string, readonly [at: number, shown: number]>>;
}

const streamKey = (stream: string): string => createHash('sha1').update(stream).digest('base64url').slice(0, 8);

/** A cursor where nothing before `since` is wanted and nothing after it was shown. */
export const startCursor = (since: number): LogCursor => ({ floor: since, streams: {} });

/** The events of a read, oldest first, that the cursor has not shown. */
export function unseen(cursor: LogCursor, events: readonly StoredLogEvent[]): StoredLogEvent[] {
  const atPosition = new Map<string, number>();
  return events.filter((e) => {
    if (e.at < cursor.floor) return false;
    const key = streamKey(e.stream);
    const pos = cursor.streams[key];
    if (!pos) return true;
    if (e.at < pos[0]) return false;
    if (e.at > pos[0]) return true;
    const n = (atPosition.get(key) ?? 0) + 1;
    atPosition.set(key, n);
    return n > pos[1];
  });
}

/**
 * The cursor after showing `shown` (oldest first, as `unseen` returned them). Streams whose last
 * line is older than the window behind the newest are dropped, so the cursor stays small however
 * many replicas came and went.
 */
export function advance(cursor: LogCursor, shown: readonly StoredLogEvent[]): LogCursor {
  const streams: Record<string, [number, number]> = Object.fromEntries(Object.entries(cursor.streams).map(([k, [at, n]]) => [k, [at, n]]));
  for (const e of shown) {
    const key = streamKey(e.stream);
    const pos = streams[key];
    if (pos && pos[0] === e.at) pos[1] += 1;
    else streams[key] = [e.at, 1];
  }
  const newest = Math.max(cursor.floor, ...Object.values(streams).map(([at]) => at));
  const floor = Math.max(cursor.floor, newest - FOLLOW_WINDOW_MS);
  for (const [k, [at]] of Object.entries(streams)) if (at < floor) delete streams[k];
  return { floor, streams };
}

/** The cursor as an opaque query parameter. */
export function encodeLogCursor(cursor: LogCursor): string {
  return Buffer.from(JSON.stringify([cursor.floor, cursor.streams])).toString('base64url');
}

/** A cursor from its text; a ValidationError names the parameter when it is not one. */
export function decodeLogCursor(text: string, param = 'cursor'): LogCursor {
  const bad = () => new ValidationError([{ path: param, message: 'is not a cursor this API returned; start again without it' }]);
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw bad();
  }
  if (!Array.isArray(value) || value.length !== 2 || typeof value[0] !== 'number' || value[1] === null || typeof value[1] !== 'object') throw bad();
  const streams: Record<string, [number, number]> = {};
  for (const [k, v] of Object.entries(value[1] as Record<string, unknown>)) {
    if (!Array.isArray(v) || v.length !== 2 || !Number.isFinite(v[0]) || !Number.isInteger(v[1]) || v[1] < 0) throw bad();
    streams[k] = [v[0], v[1]];
  }
  return { floor: value[0], streams };
}

// ---- query parameters -----------------------------------------------------------------------------

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * `since` as a time in ms: a duration back from `now` (`10m`, `1h30m`, `45s`, `2d`) or a date
 * (`2026-12-07T08:00:00Z`). A ValidationError names the parameter otherwise.
 */
export function parseSince(text: string, now: number, param = 'since'): number {
  const t = text.trim();
  if (/^(\d+(ms|s|m|h|d))+$/.test(t)) {
    let ms = 0;
    for (const [, n, unit] of t.matchAll(/(\d+)(ms|s|m|h|d)/g)) ms += Number(n) * UNIT_MS[unit];
    return now - ms;
  }
  if (/^\d{4}-\d{2}-\d{2}/.test(t)) {
    const at = Date.parse(t);
    if (!Number.isNaN(at)) return at;
  }
  throw new ValidationError([
    { path: param, message: `must be a duration such as 10m, 1h30m or 2d, or a date such as 2026-12-07T08:00:00Z; got ${JSON.stringify(text)}` },
  ]);
}

/** An integer query parameter within bounds, or the default when absent. */
export function intParam(text: string | undefined, param: string, min: number, max: number, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isInteger(n) || n < min || n > max)
    throw new ValidationError([{ path: param, message: `must be an integer from ${min} to ${max}; got ${JSON.stringify(text)}` }]);
  return n;
}
