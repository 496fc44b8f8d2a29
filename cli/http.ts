/**
 * One HTTP request from the CLI, over node:http (node:https for a deployed API). Not fetch: Node
 * 20 loads fetch's implementation (undici) on first use, which cost about 200 ms of CPU per run on
 * the project's machine, more than all the rest of `skiff get tasks` (docs/benchmarks.md).
 */
import type { IncomingMessage } from 'node:http';

export interface HttpResponse {
  readonly status: number;
  readonly text: string;
  /** The `x-next-cursor` header of a list answer: there is another page, asked for with `cursor=`. */
  readonly nextCursor?: string;
  /** The `x-resource-version` header of a list answer: the page's version, for a watch (docs/api.md, "Watch"). */
  readonly resourceVersion?: string;
}

/** The error of a request that got no answer; `code` is the socket's (`ECONNREFUSED`) or `ETIMEDOUT`. */
export class HttpRequestError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'HttpRequestError';
  }
}

export async function send(url: string, opts: { method: string; headers: Record<string, string>; body?: string; timeoutMs: number }): Promise<HttpResponse> {
  const { request } = url.startsWith('https:') ? await import('node:https') : await import('node:http');
  const headers = { ...opts.headers, ...(opts.body !== undefined ? { 'content-length': String(Buffer.byteLength(opts.body)) } : {}) };
  return new Promise((resolve, reject) => {
    const req = request(url, { method: opts.method, headers }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const next = res.headers['x-next-cursor'];
        const nextCursor = Array.isArray(next) ? next[0] : next;
        const version = res.headers['x-resource-version'];
        const resourceVersion = Array.isArray(version) ? version[0] : version;
        resolve({
          status: res.statusCode ?? 0,
          text: Buffer.concat(chunks).toString('utf8'),
          ...(nextCursor ? { nextCursor } : {}),
          ...(resourceVersion ? { resourceVersion } : {}),
        });
      });
      res.on('error', (err) => reject(new HttpRequestError(err.message, (err as NodeJS.ErrnoException).code, { cause: err })));
    });
    // No byte either way for this long: the API is stuck, or the network drops packets.
    req.setTimeout(opts.timeoutMs, () => req.destroy(new HttpRequestError(`no answer within ${opts.timeoutMs / 1000} s`, 'ETIMEDOUT')));
    req.on('error', (err) =>
      reject(err instanceof HttpRequestError ? err : new HttpRequestError(err.message, (err as NodeJS.ErrnoException).code, { cause: err })),
    );
    req.end(opts.body);
  });
}
