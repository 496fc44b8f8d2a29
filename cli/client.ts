/** The CLI's HTTP client for the Skiff API, and how it finds the API. */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { readLocalStatus } from '../local/cluster.ts';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** `.skiff/local.json` in this folder or the nearest parent that has one. */
export function statusFilePath(from = process.cwd()): string {
  let dir = resolve(from);
  for (;;) {
    const candidate = join(dir, '.skiff', 'local.json');
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) return join(resolve(from), '.skiff', 'local.json');
    dir = parent;
  }
}

/** The API base URL: the flag, else $SKIFF_API, else the local cluster started from this folder. */
export function findApi(flag: string | undefined): string {
  const url = flag ?? process.env.SKIFF_API;
  if (url) {
    try {
      new URL(url);
    } catch {
      throw new Error(`--api / SKIFF_API "${url}" is not a URL`);
    }
    return url.replace(/\/+$/, '');
  }
  const status = readLocalStatus(statusFilePath());
  if (!status) throw new Error('no API given and no local cluster running here: start one with `npm start` (skiff local up), or pass --api URL');
  return status.api;
}

export class ApiClient {
  constructor(private readonly base: string) {}

  async request<T = unknown>(method: string, path: string, body?: string, contentType = 'application/json'): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, { method, body, headers: body ? { 'content-type': contentType } : {}, signal: AbortSignal.timeout(30_000) });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code;
      throw new Error(`cannot reach the API at ${this.base}${cause ? ` (${cause})` : ''}: is the cluster running?`);
    }
    const text = await res.text();
    let data: unknown;
    try {
      data = text ? JSON.parse(text) : undefined;
    } catch {
      throw new ApiError(res.status, `the API answered ${res.status} with a body that is not JSON`);
    }
    if (!res.ok) {
      const message = (data as { message?: string } | undefined)?.message ?? `HTTP ${res.status}`;
      throw new ApiError(res.status, message);
    }
    return data as T;
  }
}
