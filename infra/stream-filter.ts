/**
 * Which writes to the state table start a scheduler pass: the Lambda event filter of the
 * scheduler's stream trigger (docs/aws.md, "The stream trigger"; keys in docs/state.md).
 *
 * Lambda event filters on a DynamoDB stream can only match `dynamodb.Keys` here (the stream's
 * content is not read), and have no "anything but this prefix" (EventBridge has it, Lambda's
 * filters do not). The event log's partitions are open-ended (`EVENTS#LOG#<n>`, and an index
 * partition per service, namespace and host, `EVENTS#SVC#<service>`...) and its sort keys start with
 * a time, so no list of exact keys to leave out can catch them: a filter that left out
 * `pk = EVENTS` let every event write, and every TTL deletion of one, start a pass. So the filter
 * lists what starts a pass instead, and anything new (an event partition, a document, a record the
 * pass keeps for itself) starts none until it is added here.
 *
 * What starts a pass: a change to desired state or to a host record.
 * - `SVC#…`: services (the API) and their tasks (the pass's own follow-ups, the rollout step steers
 *   the next pass by them);
 * - `HOST#…` with `sk = #HOST`: host records (registered from a claim, or moved between ready,
 *   down, draining by the health check and the API). The rest of a host's partition is left out:
 *   its status and heartbeat (`STATUS`, `BEAT`: every agent every 15 s), and what the scheduler
 *   writes for itself there (`PUBLISHED`);
 * - `VOLUMES`: a persistent volume whose deletion was asked; `SECRET#…`, `NAMESPACES`: the API's
 *   other objects, rare writes.
 *
 * Left out, besides: the event log (`EVENTS…`), the health checkpoint (`HEALTH`), container
 * subnets (`SUBNET#…`, `SUBNETHOLDER#…`), revoked tokens (`REVOKED#…`).
 */

/** A Lambda filter's value list: exact strings, or a prefix. */
export type KeyMatch = string | { readonly prefix: string };

export interface StreamKeyFilter {
  readonly dynamodb: { readonly Keys: { readonly pk: { readonly S: readonly KeyMatch[] }; readonly sk?: { readonly S: readonly KeyMatch[] } } };
}

/** The filters, ORed by Lambda (at most 5 per event source mapping by default). */
export const SCHEDULER_STREAM_FILTERS: readonly StreamKeyFilter[] = [
  { dynamodb: { Keys: { pk: { S: [{ prefix: 'SVC#' }, { prefix: 'SECRET#' }, 'VOLUMES', 'NAMESPACES'] } } } },
  { dynamodb: { Keys: { pk: { S: [{ prefix: 'HOST#' }] }, sk: { S: ['#HOST'] } } } },
];

/**
 * Whether a stream record with these keys passes the filters, as Lambda decides it for the two
 * operators used above (exact string, prefix): for the tests and for reading the rule, not for
 * Lambda.
 */
export function startsPass(keys: { readonly pk: string; readonly sk: string }, filters: readonly StreamKeyFilter[] = SCHEDULER_STREAM_FILTERS): boolean {
  const matches = (value: string, list: readonly KeyMatch[]) => list.some((m) => (typeof m === 'string' ? m === value : value.startsWith(m.prefix)));
  return filters.some((f) => matches(keys.pk, f.dynamodb.Keys.pk.S) && (f.dynamodb.Keys.sk === undefined || matches(keys.sk, f.dynamodb.Keys.sk.S)));
}
