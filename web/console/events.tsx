/** The events page: the cluster's event log, newest first (the API pages it oldest first). */
import type { Api } from './api.ts';
import { ago } from './format.ts';
import { useLive } from './live.ts';
import type { ClusterEvent } from './types.ts';
import { ErrorMessage, TableFrame } from './ui.tsx';

export function EventsPage({ api }: { api: Api }) {
  return (
    <>
      <h1>Events</h1>
      <LiveEvents api={api} query="limit=200" caption="The newest 200 events, newest first" />
    </>
  );
}

/** A watched page of events (`query`: the filters of GET /v1/events), newest first. */
export function LiveEvents({ api, query, caption }: { api: Api; query: string; caption: string }) {
  const events = useLive<ClusterEvent[]>(api, `/v1/events?${query}`, { watch: true });
  const list = events.data ? [...events.data].reverse() : undefined;
  return (
    <>
      {events.error && <ErrorMessage error={events.error} />}
      {!list && !events.error && <p>Loading…</p>}
      {list && list.length === 0 && <p>No events yet.</p>}
      {list && list.length > 0 && (
        <TableFrame label={caption}>
          <table>
            <caption class="visually-hidden">{caption}</caption>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Type</th>
                <th scope="col">About</th>
                <th scope="col">Message</th>
              </tr>
            </thead>
            <tbody>
              {list.map((e) => (
                <tr key={e.id}>
                  <td>
                    <time dateTime={e.at} title={e.at}>
                      {ago(e.at)}
                    </time>
                  </td>
                  <td>
                    <code>{e.type}</code>
                  </td>
                  <td>{[e.namespace && e.service ? `${e.namespace}/${e.service}` : e.namespace, e.task, e.host].filter(Boolean).join(' · ') || '-'}</td>
                  <td class="wrap">
                    {e.message}
                    {e.actor && !e.message.includes(e.actor) ? <span class="detail"> (by {e.actor})</span> : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableFrame>
      )}
    </>
  );
}
