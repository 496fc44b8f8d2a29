/**
 * Watching a list (docs/api.md, "Watch"): every list answer carries `x-resource-version`, a digest
 * of the page; `?watch=true&resourceVersion=V` holds the request until the page differs from V, or
 * `timeoutSeconds` pass (then the same page comes back, and the client asks again). A long-poll
 * rather than server-sent events: it goes through API Gateway and Lambda unchanged (neither streams
 * a response to an HTTP API), and a client needs nothing but its ordinary request.
 *
 * The control plane has no change feed to wait on: the list is read again every `intervalMs`
 * (1 s) while the request waits, bounded by the timeout (at most 25 s: API Gateway's HTTP API ends
 * an integration at 30 s).
 */
import { createHash } from 'node:crypto';
import { ValidationError } from '../core/errors.ts';

export const MAX_WATCH_SECONDS = 25;
export const DEFAULT_WATCH_INTERVAL_MS = 1000;

interface ListAnswer {
  readonly status: number;
  readonly body: unknown;
  readonly headers?: Record<string, string>;
}

export interface WatchOptions {
  readonly intervalMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly clock?: () => number;
}

/** The digest of a list page: equal pages, equal versions. */
export function resourceVersion(body: unknown): string {
  return createHash('sha256').update(JSON.stringify(body)).digest('base64url').slice(0, 22);
}

/** `?watch=`, `?resourceVersion=`, `?timeoutSeconds=`, checked (a bad one is a 400 naming it). */
export function watchParams(query: Readonly<Record<string, string | undefined>>): { watch: boolean; version?: string; timeoutMs: number } {
  const { watch, resourceVersion: version, timeoutSeconds } = query;
  if (watch !== undefined && !['true', 'false', '1', '0'].includes(watch))
    throw new ValidationError([{ path: 'watch', message: `must be true or false; got "${watch}"` }]);
  const on = watch === 'true' || watch === '1';
  if (version !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(version))
    throw new ValidationError([{ path: 'resourceVersion', message: 'is not a version this API gave (the x-resource-version header of a list)' }]);
  const seconds = timeoutSeconds === undefined ? MAX_WATCH_SECONDS : Number(timeoutSeconds);
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_WATCH_SECONDS)
    throw new ValidationError([{ path: 'timeoutSeconds', message: `must be an integer from 1 to ${MAX_WATCH_SECONDS}; got "${timeoutSeconds}"` }]);
  if (on && version === undefined)
    throw new ValidationError([{ path: 'resourceVersion', message: 'is required with watch=true: the x-resource-version header of the list you have' }]);
  return { watch: on, ...(version !== undefined ? { version } : {}), timeoutMs: seconds * 1000 };
}

/**
 * Runs a list route: once, or (watching) again and again until its page's version differs from
 * the one the client has, or the timeout passes. The answer carries the page's version.
 */
export async function watchedList(
  query: Readonly<Record<string, string | undefined>>,
  list: () => Promise<ListAnswer>,
  opts: WatchOptions = {},
): Promise<ListAnswer> {
  const { watch, version, timeoutMs } = watchParams(query);
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const clock = opts.clock ?? Date.now;
  const interval = opts.intervalMs ?? DEFAULT_WATCH_INTERVAL_MS;
  const deadline = clock() + timeoutMs;
  let answer = await list();
  while (watch && answer.status === 200 && resourceVersion(answer.body) === version && clock() + interval <= deadline) {
    await sleep(interval);
    answer = await list();
  }
  if (answer.status !== 200) return answer;
  const v = resourceVersion(answer.body);
  return { ...answer, headers: { ...answer.headers, 'x-resource-version': v, etag: `W/"${v}"` } };
}
