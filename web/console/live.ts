/**
 * Live data. A list route is watched (docs/api.md, Watch): the request waits until the list changes
 * (or 25 s) and the console asks again, so a change shows within about a second without polling
 * blindly. Other routes, an API that gives no `x-resource-version`, and lists where the server asks
 * not to watch (on AWS: docs/console.md) are read every `intervalMs`.
 */
import { useEffect, useState } from 'preact/hooks';
import type { Api, ApiError } from './api.ts';

export interface Live<T> {
  readonly data?: T;
  readonly error?: ApiError | Error;
  /** Reads again now (after an action, so its effect shows without waiting for the next read). */
  readonly reload: () => void;
}

const WATCH_SECONDS = 25;
/** Between reads of a route that cannot be watched, and after an error (not to hammer a failing API). */
const DEFAULT_INTERVAL_MS = 2000;
/** Between reads of a list where the server asks not to watch (ConsoleConfig.watch). */
const LIST_INTERVAL_MS = 3000;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

export interface LiveOptions {
  /** Watch the route (a list) instead of reading it every `intervalMs`. */
  readonly watch?: boolean;
  /** @default 2000 */
  readonly intervalMs?: number;
  /** Read again at once when this changes (something else on screen says the data moved). */
  readonly refreshKey?: string | number;
}

export function useLive<T>(api: Api, path: string | null, opts: LiveOptions = {}): Live<T> {
  const [state, setState] = useState<{ data?: T; error?: ApiError | Error; path?: string | null }>({});
  const [round, setRound] = useState(0);
  // Where the server says watching costs more than reading (AWS), a list is read every 3 s instead.
  const watch = (opts.watch ?? false) && api.watches;
  const interval = opts.intervalMs ?? (opts.watch && !api.watches ? LIST_INTERVAL_MS : DEFAULT_INTERVAL_MS);
  useEffect(() => {
    if (path === null) return;
    const abort = new AbortController();
    const { signal } = abort;
    void (async () => {
      let version: string | undefined;
      while (!signal.aborted) {
        try {
          const sep = path.includes('?') ? '&' : '?';
          const q = watch && version ? `${sep}watch=true&resourceVersion=${encodeURIComponent(version)}&timeoutSeconds=${WATCH_SECONDS}` : '';
          const answer = await api.get<T>(`${path}${q}`, signal);
          if (signal.aborted) return;
          version = answer.headers.get('x-resource-version') ?? undefined;
          setState({ data: answer.body, path });
          if (!(watch && version)) await sleep(interval, signal);
        } catch (err) {
          if (signal.aborted) return;
          // The last good data stays on screen beside the error.
          setState((s) => ({ ...(s.path === path ? { data: s.data } : {}), error: err as Error, path }));
          version = undefined;
          await sleep(interval, signal);
        }
      }
    })();
    return () => abort.abort();
  }, [api, path, watch, interval, round, opts.refreshKey]);
  const current = state.path === path;
  return {
    ...(current && state.data !== undefined ? { data: state.data } : {}),
    ...(current && state.error ? { error: state.error } : {}),
    reload: () => setRound((r) => r + 1),
  };
}
