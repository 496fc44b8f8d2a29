/**
 * The base every local stand-in of an AWS service is built on (ssm-server.ts, route53-server.ts):
 * option checks, request-rate limits, the error a service returns, the HTTP server's life cycle,
 * and a JSON data file that survives restarts. Each stand-in keeps only its own protocol
 * (JSON 1.1, REST/XML), operations and limits.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../adapters/fs/atomic-write.ts';

// ---- options ------------------------------------------------------------------------------------

/** Options every stand-in takes. */
export interface StandInOptions {
  /** A loopback address. @default '127.0.0.1' */
  readonly host?: string;
  /** 0 picks a free port. @default 0 */
  readonly port?: number;
  /** Where the service's state persists across restarts; absent keeps it in memory only. */
  readonly dataFile?: string;
}

/**
 * Checks the options every stand-in takes, and that `opts` has no key outside `known`; messages
 * start with `fn` (the start function's name), so the caller sees which stand-in refused.
 */
export function checkStandInOptions(fn: string, opts: unknown, known: ReadonlySet<string>): { host: string; port: number; dataFile: string | undefined } {
  if (opts === null || typeof opts !== 'object') throw new TypeError(`${fn}: options must be an object`);
  const unknown = Object.keys(opts).filter((k) => !known.has(k));
  if (unknown.length > 0) throw new TypeError(`${fn}: unknown option(s) ${unknown.join(', ')}; known: ${[...known].join(', ')}`);
  const o = opts as StandInOptions;
  const host = o.host ?? '127.0.0.1';
  // The network rule: a stand-in never listens beyond this machine.
  if (typeof host !== 'string' || !/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)) {
    throw new TypeError(`${fn}: host must be a 127.x.x.x loopback address, got ${JSON.stringify(host)}`);
  }
  const port = o.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new TypeError(`${fn}: port must be an integer 0-65535, got ${String(port)}`);
  if (o.dataFile !== undefined && (typeof o.dataFile !== 'string' || o.dataFile === '')) throw new TypeError(`${fn}: dataFile must be a non-empty path`);
  return { host, port, dataFile: o.dataFile };
}

// ---- rate limits --------------------------------------------------------------------------------

/** A token bucket: `rate` requests per second on average, up to `burst` at once. */
export interface RateLimit {
  readonly rate: number;
  /** Bucket size. @default rate (one second's worth) */
  readonly burst?: number;
}

/** Checks a `RateLimit` option at `path` (`limits.get`); `orFalse` when `false` (no limit) is allowed there too. */
export function checkRateLimit(fn: string, path: string, limit: unknown, orFalse = false): asserts limit is RateLimit {
  if (limit === null || typeof limit !== 'object') throw new TypeError(`${fn}: ${path} must be { rate, burst? }${orFalse ? ' or false' : ''}`);
  const unknown = Object.keys(limit).filter((k) => k !== 'rate' && k !== 'burst');
  if (unknown.length > 0) throw new TypeError(`${fn}: unknown key(s) in ${path}: ${unknown.join(', ')}`);
  const { rate, burst } = limit as RateLimit;
  if (typeof rate !== 'number' || !(rate > 0) || !Number.isFinite(rate)) {
    throw new TypeError(`${fn}: ${path}.rate must be a positive number of requests per second`);
  }
  if (burst !== undefined && (typeof burst !== 'number' || !(burst >= 1) || !Number.isFinite(burst))) {
    throw new TypeError(`${fn}: ${path}.burst must be a number >= 1`);
  }
}

/** A token bucket: `rate` requests per second on average, up to `burst` at once; how AWS throttles. */
export class TokenBucket {
  private tokens: number;
  private last = performance.now();
  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }

  /** The bucket of a checked `RateLimit`, full. */
  static of(limit: RateLimit): TokenBucket {
    return new TokenBucket(limit.rate, limit.burst ?? limit.rate);
  }

  take(): boolean {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

// ---- errors -------------------------------------------------------------------------------------

/**
 * An error the service returns to the caller, in the shape of AWS errors: `code` is the error code
 * the SDK turns into its exception's name, `status` the HTTP status (4xx: the caller's fault,
 * 5xx: the service's). Each stand-in writes it in its protocol's error body.
 */
export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The message of anything thrown. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// ---- the AWS JSON protocol -----------------------------------------------------------------------

/** How a stand-in speaks the AWS JSON protocol (1.0 or 1.1): `POST /` with `X-Amz-Target: <prefix><Operation>`. */
export interface AwsJsonProtocol {
  readonly version: '1.0' | '1.1';
  /** `Logs_20140328.`, `GraniteServiceVersion20100801.`: the target's part before the operation. */
  readonly targetPrefix: string;
  /** The service, as the stand-in's messages name it. */
  readonly service: string;
  readonly maxBodyBytes: number;
  /** The error code of a failure that is not an ApiError (the stand-in's own fault). */
  readonly internalError: string;
  /** The error answer's extra headers and body; by default the protocol's `{ __type, message }`. */
  readonly errorAnswer?: (e: ApiError) => { headers?: Record<string, string>; body: unknown };
}

/**
 * The request handler of a stand-in of the AWS JSON protocol: reads and checks the request, counts
 * the operation, runs `dispatch`, and answers with its output, or with the error it threw.
 */
export function awsJsonHandler(
  protocol: AwsJsonProtocol,
  counts: Record<string, number>,
  dispatch: (op: string, input: Record<string, unknown>) => unknown,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const contentType = `application/x-amz-json-${protocol.version}`;
  return async (req, res) => {
    const requestId = randomUUID();
    try {
      const body = await readBody(
        req,
        protocol.maxBodyBytes,
        () => new ApiError('RequestEntityTooLarge', `request body exceeds ${protocol.maxBodyBytes} bytes`, 413),
      );
      const target = String(req.headers['x-amz-target'] ?? '');
      if (req.method !== 'POST' || !target.startsWith(protocol.targetPrefix))
        throw new ApiError('UnknownOperationException', `${req.method} ${req.url} is not an AWS JSON ${protocol.version} ${protocol.service} request`);
      const op = target.slice(protocol.targetPrefix.length);
      counts[op] = (counts[op] ?? 0) + 1;
      let input: Record<string, unknown>;
      try {
        input = body === '' ? {} : (JSON.parse(body) as Record<string, unknown>);
      } catch {
        throw new ApiError('SerializationException', 'request body is not JSON');
      }
      const output = dispatch(op, input);
      res.writeHead(200, { 'content-type': contentType, 'x-amzn-requestid': requestId });
      res.end(JSON.stringify(output));
    } catch (err) {
      const e = err instanceof ApiError ? err : new ApiError(protocol.internalError, errorMessage(err), 500);
      const answer = protocol.errorAnswer?.(e) ?? { body: { __type: e.code, message: e.message } };
      res.writeHead(e.status, { 'content-type': contentType, 'x-amzn-requestid': requestId, ...answer.headers });
      res.end(JSON.stringify(answer.body));
    }
  };
}

// ---- HTTP ---------------------------------------------------------------------------------------

/** Listen on `host:port`, rejecting on the first error (a port in use) instead of crashing. */
export function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** A listening stand-in's address and its stop. */
export interface HttpStandIn {
  /** `http://host:port`, for the SDK client's `endpoint`. */
  readonly endpoint: string;
  readonly port: number;
  /** Stops listening, drops open connections, then runs `afterClose` (the last write to the data file); idempotent. */
  close(): Promise<void>;
}

/** Serves `handler` on `host:port`. */
export async function serveHttp(handler: RequestListener, host: string, port: number, afterClose: () => Promise<void>): Promise<HttpStandIn> {
  const server = createServer(handler);
  // Keep-alive sockets of SDK clients would hold close() open; they are cut in close().
  server.keepAliveTimeout = 5_000;
  await listen(server, port, host);
  const bound = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    endpoint: `http://${host}:${bound}`,
    port: bound,
    close: () => {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
        server.closeAllConnections();
        await closed;
        await afterClose();
      })();
      return closing;
    },
  };
}

/** A request body as text; past `maxBytes` it is drained and `tooLarge()` rejects it (the error AWS would give). */
export function readBody(req: IncomingMessage, maxBytes: number, tooLarge: () => Error): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) chunks.push(chunk);
    });
    req.on('end', () => {
      if (size > maxBytes) reject(tooLarge());
      else resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', reject);
  });
}

// ---- the data file ------------------------------------------------------------------------------

/**
 * A stand-in's state mirrored to a JSON file `{ "format": ..., <field>: [...] }`, replaced
 * atomically on every change. Without a file, loading finds nothing and persisting is free.
 */
export class JsonFileStore {
  private requested = 0;
  private written = 0;
  private writing: Promise<void> | undefined;

  /**
   * @param label names the stand-in in errors (`SSM stand-in`)
   * @param snapshot the state to write, taken when a write starts, without `format`
   */
  constructor(
    private readonly file: string | undefined,
    private readonly format: string,
    private readonly label: string,
    private readonly snapshot: () => Record<string, unknown>,
  ) {}

  /** The array at `field` of the saved file; undefined when there is no file. Refuses a file of another format. */
  async load(field: string): Promise<unknown[] | undefined> {
    if (!this.file) return undefined;
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    let data: Record<string, unknown>;
    try {
      data = JSON.parse(text) as Record<string, unknown>;
    } catch (err) {
      throw new Error(`${this.label} data file ${this.file} is not valid JSON`, { cause: err });
    }
    const items = data?.[field];
    if (data?.format !== this.format || !Array.isArray(items)) throw new Error(`${this.label} data file ${this.file} is not in format ${this.format}`);
    return items;
  }

  /** Refuses a malformed item of the saved file, naming it. */
  malformed(what: string, item: unknown): Error {
    return new Error(`${this.label} data file ${this.file} holds a malformed ${what}: ${JSON.stringify(item).slice(0, 200)}`);
  }

  /**
   * Resolves once a write that includes every change made so far is on disk, so a mutation is
   * acknowledged only after it is durable. Concurrent callers share one write (at most one runs
   * at a time, and one more follows it to pick up what arrived meanwhile).
   */
  async persist(): Promise<void> {
    if (!this.file) return;
    const target = ++this.requested;
    while (this.written < target) {
      if (!this.writing) {
        const seq = this.requested;
        this.writing = this.write().then(
          () => {
            this.written = seq;
            this.writing = undefined;
          },
          (err: unknown) => {
            this.writing = undefined;
            throw err;
          },
        );
      }
      await this.writing;
    }
  }

  /** Waits for a write in progress, if any. */
  async flushed(): Promise<void> {
    while (this.writing) await this.writing.catch(() => undefined);
  }

  private async write(): Promise<void> {
    const file = this.file!;
    const text = JSON.stringify({ format: this.format, ...this.snapshot() });
    await mkdir(dirname(file), { recursive: true });
    await writeFileAtomic(file, text);
  }
}
