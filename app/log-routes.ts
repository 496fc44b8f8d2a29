/**
 * The log routes (docs/logs.md, docs/api.md): a service's, a task's, a host's and the control
 * plane's lines from the cluster's `LogStore`, merged in time order. A first call takes `since`
 * and `tail`; its answer's `cursor`, sent back, returns only lines not yet returned, new replicas'
 * included: `skiff logs -f` polls with it (core/logs.ts explains the cursor).
 */
import { NotFoundError, SkiffError, ValidationError } from '../core/errors.ts';
import {
  advance,
  controlStream,
  decodeLogCursor,
  encodeLogCursor,
  hostStream,
  intParam,
  isServiceStream,
  type LogCursor,
  parseSince,
  parseTaskStream,
  servicePrefix,
  startCursor,
  unseen,
} from '../core/logs.ts';
import type { LogStore, StoredLogEvent } from '../ports/logs.ts';

interface Req {
  readonly query: Readonly<Record<string, string | undefined>>;
}
type Handler = (req: Req, params: Record<string, string>) => Promise<{ status: number; body: unknown }>;

/** Lines in one answer at most (and the default). */
export const MAX_LOG_LINES = 5000;
export const DEFAULT_LOG_LINES = 1000;
/** Streams read for a `tail` (one GetLogEvents each); a service with more keeps its newest-named. */
export const MAX_TAIL_STREAMS = 100;
/** Pages of the store read for one answer: lines of other services under the same prefix are skipped past. */
const MAX_PAGES = 20;

/** One line as the API returns it. */
export interface LogLineView {
  /** ISO time the line was written. */
  readonly at: string;
  readonly stream: string;
  readonly message: string;
  readonly task?: string;
  readonly container?: string;
}

/** 503 with its reason shown: a cluster without a log group says so (other 5xx answers hide their message). */
export class LogsNotConfiguredError extends SkiffError {
  override readonly status = 503;
  constructor() {
    super('central logs are not configured on this cluster (no log group, SKIFF_LOG_GROUP): see docs/logs.md');
    this.name = 'LogsNotConfigured';
  }
  override toJSON(): Record<string, unknown> {
    return { error: this.name, message: this.message };
  }
}

/** Which streams a route reads: a prefix for the store, and the exact test. */
interface Selection {
  readonly prefix: string;
  readonly keep: (stream: string) => boolean;
  /** Another store than the cluster's log group (a control function's own group, on AWS). */
  readonly store?: LogStore;
  /** The name a stream is shown (and followed) by: a function's streams are `control/<function>/<stream>`. */
  readonly rename?: (stream: string) => string;
}

const NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

function containerFilter(req: Req): ((stream: string) => boolean) | undefined {
  const c = req.query.container;
  if (c === undefined) return undefined;
  if (!NAME.test(c)) throw new ValidationError([{ path: 'container', message: `must be a container name (a DNS label); got ${JSON.stringify(c)}` }]);
  return (stream) => parseTaskStream(stream)?.container === c;
}

/**
 * @param controlLogs on AWS, each control function's own log group (function name → store): Lambda
 *   writes there, not in the cluster's group; absent (local mode), the cluster group's `control/` streams.
 */
export function logHandlers(
  logs: LogStore | undefined,
  now: () => Date,
  controlLogs?: Readonly<Record<string, LogStore>>,
): { service: Handler; task: Handler; host: Handler; controlPlane: Handler } {
  const answer = async (req: Req, selection: Selection | readonly Selection[]): Promise<{ status: number; body: unknown }> => {
    const sels: readonly Selection[] = Array.isArray(selection) ? selection : [selection as Selection];
    if (sels.some((sel) => !(sel.store ?? logs))) throw new LogsNotConfiguredError();
    const limit = intParam(req.query.limit, 'limit', 1, MAX_LOG_LINES, DEFAULT_LOG_LINES);
    const since = req.query.since === undefined ? undefined : parseSince(req.query.since, now().getTime());
    const tail = req.query.tail === undefined ? undefined : intParam(req.query.tail, 'tail', 0, MAX_LOG_LINES, 0);
    if (req.query.cursor !== undefined && (since !== undefined || tail !== undefined))
      throw new ValidationError([{ path: 'cursor', message: 'a cursor continues an earlier answer: send it without since or tail' }]);
    let shown: StoredLogEvent[];
    let cursor: LogCursor;
    if (tail !== undefined) {
      shown = byTime((await Promise.all(sels.map((sel) => tailOf(sel.store ?? logs!, sel, tail, since)))).flat()).slice(-tail);
      // Lines at or after the oldest shown were all shown (the tail is the newest); the cursor starts there.
      cursor = advance(startCursor(shown[0]?.at ?? since ?? 0), shown);
    } else {
      const from = req.query.cursor !== undefined ? decodeLogCursor(req.query.cursor) : startCursor(since ?? 0);
      // The pages are judged as one sequence: `unseen` counts a stream's lines of one ms in order.
      const read: StoredLogEvent[] = [];
      // A store left with pages unread: lines after the last one read from it may not be returned yet.
      let horizon = Number.POSITIVE_INFINITY;
      for (const sel of sels) {
        const store = sel.store ?? logs!;
        const mine: StoredLogEvent[] = [];
        let token: string | undefined;
        let lastAt: number | undefined;
        for (let page = 0; page < MAX_PAGES; page++) {
          const out = await store.read({ prefix: sel.prefix, since: from.floor, limit: MAX_LOG_LINES, ...(token ? { token } : {}) });
          mine.push(...out.events.filter((e) => sel.keep(e.stream)).map((e) => (sel.rename ? { ...e, stream: sel.rename(e.stream) } : e)));
          lastAt = out.events.at(-1)?.at ?? lastAt;
          token = out.next;
          if (!token || unseen(from, mine).length >= limit) break;
        }
        if (token !== undefined && lastAt !== undefined) horizon = Math.min(horizon, lastAt);
        read.push(...mine);
      }
      shown = unseen(
        from,
        byTime(read).filter((e) => e.at <= horizon),
      ).slice(0, limit);
      cursor = advance(from, shown);
    }
    return { status: 200, body: { lines: shown.map(view), cursor: encodeLogCursor(cursor) } };
  };

  return {
    service: async (req, p) => {
      const keepContainer = containerFilter(req);
      return answer(req, {
        prefix: servicePrefix(p.namespace, p.name),
        keep: (s) => isServiceStream(s, p.namespace, p.name) && (!keepContainer || keepContainer(s)),
      });
    },
    task: async (req, p) => {
      const keepContainer = containerFilter(req);
      const prefix = `${p.namespace}/${p.id}/`;
      return answer(req, { prefix, keep: (s) => s.startsWith(prefix) && parseTaskStream(s) !== undefined && (!keepContainer || keepContainer(s)) });
    },
    host: async (req, p) => {
      const stream = hostStream(p.id);
      if (req.query.container !== undefined) throw new ValidationError([{ path: 'container', message: "applies to tasks' logs, not a host's" }]);
      const out = await answer(req, { prefix: stream, keep: (s) => s === stream });
      if ((out.body as { lines: unknown[] }).lines.length === 0 && logs && req.query.cursor === undefined && !(await logs.streams(stream)).includes(stream))
        throw new NotFoundError(`logs of host ${p.id} (no agent of that id has shipped a line)`);
      return out;
    },
    controlPlane: async (req) => {
      const fn = req.query.function;
      if (fn !== undefined && !NAME.test(fn))
        throw new ValidationError([{ path: 'function', message: `must be a function name such as scheduler or api; got ${JSON.stringify(fn)}` }]);
      if (controlLogs) {
        const names = Object.keys(controlLogs).filter((name) => fn === undefined || name === fn);
        if (names.length === 0) throw new NotFoundError(`logs of control function ${fn}; the functions are ${Object.keys(controlLogs).join(', ')}`);
        return answer(
          req,
          names.map((name) => ({ store: controlLogs[name], prefix: '', keep: () => true, rename: (s: string) => `${controlStream(name)}/${s}` })),
        );
      }
      const prefix = fn ? controlStream(fn) : 'control/';
      return answer(req, { prefix, keep: (s) => (fn ? s === prefix : s.startsWith(prefix)) });
    },
  };
}

/** Events of several reads in time order; one stream's keep their order (the sort is stable). */
function byTime(events: readonly StoredLogEvent[]): StoredLogEvent[] {
  return events
    .map((e, i) => ({ e, i }))
    .sort((a, b) => a.e.at - b.e.at || a.i - b.i)
    .map(({ e }) => e);
}

/** The last `count` lines over the selected streams (each stream's tail, merged), at or after `since`. */
async function tailOf(logs: LogStore, sel: Selection, count: number, since: number | undefined): Promise<StoredLogEvent[]> {
  if (count === 0) return [];
  const streams = (await logs.streams(sel.prefix)).filter(sel.keep).slice(-MAX_TAIL_STREAMS);
  const tails = await Promise.all(streams.map((s) => logs.tail(s, count)));
  const merged = byTime(tails.flat().filter((e) => since === undefined || e.at >= since));
  return merged.slice(-count).map((e) => (sel.rename ? { ...e, stream: sel.rename(e.stream) } : e));
}

function view(e: StoredLogEvent): LogLineView {
  const t = parseTaskStream(e.stream);
  return { at: new Date(e.at).toISOString(), stream: e.stream, message: e.message, ...(t ? { task: t.task, container: t.container } : {}) };
}
