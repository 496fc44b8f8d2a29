/**
 * A local stand-in for the CloudWatch Logs subset Skiff calls (adapters/aws/cloudwatch-log-store.ts),
 * speaking the AWS JSON 1.1 protocol of `@aws-sdk/client-cloudwatch-logs` (X-Amz-Target
 * `Logs_20140328.<Op>`): CreateLogGroup, CreateLogStream, DescribeLogStreams, PutLogEvents,
 * GetLogEvents, FilterLogEvents. In the style of cloudwatch-server.ts.
 *
 * Data is kept in memory only, each stream bounded to its newest `maxEventsPerStream` events (the
 * local counterpart of a retention period): logs outlive containers and hosts, not the local
 * control plane.
 */
import { ApiError, awsJsonHandler, checkStandInOptions, serveHttp, type StandInOptions } from './stand-in.ts';

/** CloudWatch Logs' quotas that Skiff's calls could reach. */
export const LOGS_QUOTAS = {
  maxBodyBytes: 1_048_576 + 64 * 1024,
  eventsPerPut: 10_000,
  putBytes: 1_048_576,
  eventOverhead: 26,
  maxEventBytes: 262_144,
  /** GetLogEvents and FilterLogEvents return at most this many events (or 1 MB). */
  readLimit: 10_000,
  describeLimit: 50,
  nameLength: 512,
} as const;

export interface LogsServerOptions extends StandInOptions {
  /** Each stream keeps its newest this many events. @default 10000 */
  readonly maxEventsPerStream?: number;
  /** The clock (ingestion times), in ms. @default Date.now */
  readonly now?: () => number;
}

export interface LogsServer {
  readonly endpoint: string;
  readonly port: number;
  /** Requests received per operation. */
  counts(): Record<string, number>;
  close(): Promise<void>;
}

const OPTION_KEYS = new Set(['host', 'port', 'maxEventsPerStream', 'now']);
const TARGET_PREFIX = 'Logs_20140328.';

interface Held {
  readonly timestamp: number;
  readonly message: string;
  readonly ingestionTime: number;
  /** Order of arrival in the group: ties in time keep it, and tokens point at it. */
  readonly seq: number;
}

interface Stream {
  readonly name: string;
  readonly creationTime: number;
  readonly events: Held[];
}

function str(input: Record<string, unknown>, field: string): string {
  const v = input[field];
  if (v === undefined || v === null)
    throw new ApiError(
      'InvalidParameterException',
      `1 validation error detected: Value null at '${field}' failed to satisfy constraint: Member must not be null`,
    );
  if (typeof v !== 'string' || v === '' || v.length > LOGS_QUOTAS.nameLength)
    throw new ApiError('InvalidParameterException', `${field} must be a string of 1-${LOGS_QUOTAS.nameLength} characters`);
  return v;
}

function optNumber(input: Record<string, unknown>, field: string): number | undefined {
  const v = input[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ApiError('InvalidParameterException', `${field} must be a number`);
  return v;
}

/** `limit` within 1..max, or max. */
function limitOf(input: Record<string, unknown>, max: number): number {
  const v = optNumber(input, 'limit');
  if (v === undefined) return max;
  if (!Number.isInteger(v) || v < 1 || v > max) throw new ApiError('InvalidParameterException', `limit must be an integer from 1 to ${max}`);
  return v;
}

/** Tokens are the seq of the last event returned, with a tag naming the operation. */
function tokenOf(input: Record<string, unknown>, tag: string): number | undefined {
  const v = input.nextToken;
  if (v === undefined || v === null) return undefined;
  const m = typeof v === 'string' ? new RegExp(`^${tag}/(-?\\d+)$`).exec(v) : null;
  if (!m) throw new ApiError('InvalidParameterException', 'The specified nextToken is invalid.');
  return Number(m[1]);
}

export async function startLogsServer(opts: LogsServerOptions = {}): Promise<LogsServer> {
  const { host, port } = checkStandInOptions('startLogsServer', opts, OPTION_KEYS);
  const maxPerStream = opts.maxEventsPerStream ?? 10_000;
  if (!Number.isInteger(maxPerStream) || maxPerStream < 1) throw new TypeError('startLogsServer: maxEventsPerStream must be a positive integer');
  const now = opts.now ?? Date.now;
  const groups = new Map<string, Map<string, Stream>>();
  const counts: Record<string, number> = {};
  let seq = 0;

  const groupOf = (input: Record<string, unknown>): Map<string, Stream> => {
    const name = str(input, 'logGroupName');
    const g = groups.get(name);
    if (!g) throw new ApiError('ResourceNotFoundException', 'The specified log group does not exist.');
    return g;
  };
  const streamOf = (input: Record<string, unknown>): Stream => {
    const s = groupOf(input).get(str(input, 'logStreamName'));
    if (!s) throw new ApiError('ResourceNotFoundException', 'The specified log stream does not exist.');
    return s;
  };

  const dispatch = (op: string, input: Record<string, unknown>): Record<string, unknown> => {
    switch (op) {
      case 'CreateLogGroup': {
        const name = str(input, 'logGroupName');
        if (groups.has(name)) throw new ApiError('ResourceAlreadyExistsException', 'The specified log group already exists');
        groups.set(name, new Map());
        return {};
      }
      case 'CreateLogStream': {
        const g = groupOf(input);
        const name = str(input, 'logStreamName');
        if (name.includes(':') || name.includes('*')) throw new ApiError('InvalidParameterException', "logStreamName must not contain ':' or '*'");
        if (g.has(name)) throw new ApiError('ResourceAlreadyExistsException', 'The specified log stream already exists');
        g.set(name, { name, creationTime: now(), events: [] });
        return {};
      }
      case 'DescribeLogStreams': {
        const g = groupOf(input);
        const prefix = typeof input.logStreamNamePrefix === 'string' ? input.logStreamNamePrefix : '';
        const limit = limitOf(input, LOGS_QUOTAS.describeLimit);
        const from = input.nextToken === undefined ? 0 : Number(tokenOf(input, 'describe'));
        const all = [...g.values()].filter((s) => s.name.startsWith(prefix)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
        const page = all.slice(from, from + limit);
        return {
          logStreams: page.map((s) => ({
            logStreamName: s.name,
            creationTime: s.creationTime,
            ...(s.events.length > 0
              ? {
                  firstEventTimestamp: s.events[0].timestamp,
                  lastEventTimestamp: s.events.at(-1)!.timestamp,
                  lastIngestionTime: s.events.at(-1)!.ingestionTime,
                }
              : {}),
          })),
          ...(from + limit < all.length ? { nextToken: `describe/${from + limit}` } : {}),
        };
      }
      case 'PutLogEvents': {
        const s = streamOf(input);
        const events = input.logEvents;
        if (!Array.isArray(events) || events.length === 0 || events.length > LOGS_QUOTAS.eventsPerPut)
          throw new ApiError('InvalidParameterException', `logEvents must hold from 1 to ${LOGS_QUOTAS.eventsPerPut} events`);
        let bytes = 0;
        let last = Number.NEGATIVE_INFINITY;
        for (const e of events as { timestamp?: unknown; message?: unknown }[]) {
          if (typeof e?.timestamp !== 'number' || typeof e.message !== 'string' || e.message === '')
            throw new ApiError('InvalidParameterException', 'each log event needs a timestamp (ms) and a non-empty message');
          if (e.timestamp < last)
            throw new ApiError('InvalidParameterException', 'Log events in a single PutLogEvents request must be in chronological order.');
          last = e.timestamp;
          const size = Buffer.byteLength(e.message, 'utf8') + LOGS_QUOTAS.eventOverhead;
          if (size > LOGS_QUOTAS.maxEventBytes)
            throw new ApiError('InvalidParameterException', `Log event too large: ${size} bytes exceeds ${LOGS_QUOTAS.maxEventBytes}`);
          bytes += size;
        }
        if (bytes > LOGS_QUOTAS.putBytes)
          throw new ApiError('InvalidParameterException', `Upload too large: ${bytes} bytes exceeds ${LOGS_QUOTAS.putBytes} bytes`);
        const at = now();
        for (const e of events as { timestamp: number; message: string }[])
          s.events.push({ timestamp: e.timestamp, message: e.message, ingestionTime: at, seq: seq++ });
        if (s.events.length > maxPerStream) s.events.splice(0, s.events.length - maxPerStream);
        return {};
      }
      case 'GetLogEvents': {
        const s = streamOf(input);
        const start = optNumber(input, 'startTime');
        const end = optNumber(input, 'endTime');
        const limit = limitOf(input, LOGS_QUOTAS.readLimit);
        const inRange = s.events.filter((e) => (start === undefined || e.timestamp >= start) && (end === undefined || e.timestamp < end));
        // From the head: the first `limit` (after the token's event); from the tail (the default): the last `limit`.
        const fromHead = input.startFromHead === true;
        let page: Held[];
        const after = tokenOf(input, 'f');
        if (fromHead || after !== undefined) {
          const rest = after === undefined ? inRange : inRange.filter((e) => e.seq > after);
          page = rest.slice(0, limit);
        } else {
          page = inRange.slice(-limit);
        }
        const last = page.at(-1)?.seq ?? after ?? -1;
        return {
          events: page.map((e) => ({ timestamp: e.timestamp, message: e.message, ingestionTime: e.ingestionTime })),
          nextForwardToken: `f/${last}`,
          nextBackwardToken: `b/${page[0]?.seq ?? last}`,
        };
      }
      case 'FilterLogEvents': {
        const g = groupOf(input);
        const prefix = typeof input.logStreamNamePrefix === 'string' ? input.logStreamNamePrefix : undefined;
        const names = Array.isArray(input.logStreamNames) ? new Set(input.logStreamNames as string[]) : undefined;
        if (prefix !== undefined && names) throw new ApiError('InvalidParameterException', 'logStreamNames and logStreamNamePrefix are mutually exclusive');
        const start = optNumber(input, 'startTime');
        const end = optNumber(input, 'endTime');
        const limit = limitOf(input, LOGS_QUOTAS.readLimit);
        const after = tokenOf(input, 'filter');
        const streams = [...g.values()].filter((s) => (prefix === undefined || s.name.startsWith(prefix)) && (!names || names.has(s.name)));
        // endTime is inclusive in FilterLogEvents (events later than it are left out).
        const all = streams
          .flatMap((s) => s.events.map((e) => ({ s: s.name, e })))
          .filter(({ e }) => (start === undefined || e.timestamp >= start) && (end === undefined || e.timestamp <= end))
          .sort((a, b) => a.e.timestamp - b.e.timestamp || a.e.seq - b.e.seq);
        const rest = after === undefined ? all : all.slice(all.findIndex(({ e }) => e.seq === after) + 1);
        const page = rest.slice(0, limit);
        return {
          events: page.map(({ s, e }) => ({
            logStreamName: s,
            timestamp: e.timestamp,
            message: e.message,
            ingestionTime: e.ingestionTime,
            eventId: String(e.seq),
          })),
          searchedLogStreams: streams.map((s) => ({ logStreamName: s.name, searchedCompletely: true })),
          ...(rest.length > limit ? { nextToken: `filter/${page.at(-1)!.e.seq}` } : {}),
        };
      }
      default:
        throw new ApiError('UnknownOperationException', `operation ${JSON.stringify(op)} is not supported by the local CloudWatch Logs stand-in`);
    }
  };

  const handle = awsJsonHandler(
    {
      version: '1.1',
      targetPrefix: TARGET_PREFIX,
      service: 'CloudWatch Logs',
      maxBodyBytes: LOGS_QUOTAS.maxBodyBytes,
      internalError: 'ServiceUnavailableException',
    },
    counts,
    dispatch,
  );

  const http = await serveHttp(
    (req, res) => void handle(req, res),
    host,
    port,
    async () => undefined,
  );
  return { endpoint: http.endpoint, port: http.port, counts: () => ({ ...counts }), close: http.close };
}
