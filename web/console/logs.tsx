/**
 * A service's live logs: the last lines of every replica (dead ones' included), then each new line
 * as `skiff logs -f` shows it, by sending back the previous answer's cursor (docs/logs.md).
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { type Api, servicePath } from './api.ts';
import { href } from './routes.ts';
import type { LogPage } from './types.ts';
import { ErrorMessage } from './ui.tsx';

/** Lines kept on screen: older ones are dropped (the CLI reads further back). */
const MAX_LINES = 2000;
const FOLLOW_MS = 1000;

type Line = LogPage['lines'][number] & { readonly key: number };

export function LogsPage({ api, namespace, name }: { api: Api; namespace: string; name: string }) {
  const [lines, setLines] = useState<Line[]>([]);
  const [error, setError] = useState<Error | undefined>();
  const [paused, setPaused] = useState(false);
  const pausedRef = useRef(paused);
  pausedRef.current = paused;
  const end = useRef<HTMLOListElement>(null);
  useEffect(() => {
    const abort = new AbortController();
    let cursor: string | undefined;
    let n = 0;
    setLines([]);
    void (async () => {
      while (!abort.signal.aborted) {
        if (!pausedRef.current) {
          try {
            const q = cursor ? `cursor=${encodeURIComponent(cursor)}` : 'tail=200';
            const page = (await api.get<LogPage>(`${servicePath(namespace, name)}/logs?${q}`, abort.signal)).body;
            cursor = page.cursor;
            setError(undefined);
            if (page.lines.length) setLines((old) => [...old, ...page.lines.map((l) => ({ ...l, key: n++ }))].slice(-MAX_LINES));
          } catch (err) {
            if (abort.signal.aborted) return;
            setError(err as Error);
          }
        }
        await new Promise((r) => setTimeout(r, FOLLOW_MS));
      }
    })();
    return () => abort.abort();
  }, [api, namespace, name]);
  useEffect(() => {
    if (!paused) end.current?.lastElementChild?.scrollIntoView({ block: 'nearest' });
  }, [lines, paused]);
  return (
    <>
      <p class="crumbs">
        <a href={href.services()}>Services</a> / <a href={href.service(namespace, name)}>{`${namespace}/${name}`}</a>
      </p>
      <h1>Logs of {name}</h1>
      <div class="actions">
        <button type="button" onClick={() => setPaused(!paused)}>
          {paused ? 'Resume following' : 'Pause'}
        </button>
        <span class="detail">{lines.length} lines</span>
      </div>
      {error && <ErrorMessage error={error} />}
      {/* role=log: new lines are announced politely, without stealing focus. */}
      <div class="log" role="log" aria-label={`Log lines of ${namespace}/${name}`}>
        <ol ref={end}>
          {lines.map((l) => (
            <li key={l.key}>
              <time dateTime={String(l.at)}>{new Date(l.at).toISOString().slice(11, 23)}</time>{' '}
              <span class="stream">{l.task ? `${l.task}${l.container ? `/${l.container}` : ''}` : l.stream}</span> <span class="msg">{l.message}</span>
            </li>
          ))}
        </ol>
      </div>
      {lines.length === 0 && !error && <p>No lines yet.</p>}
    </>
  );
}
