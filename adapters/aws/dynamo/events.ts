/**
 * The event log on DynamoDB: spread over a few partitions (`EVENTS#LOG#<n>`, an event's by a hash
 * of its id; keys.ts eventLogKey), sorted by `<at>#<id>`, plus a copy of each event in an index
 * partition per filter (service, namespace, host; keys.ts eventIndexKeys), so a filtered read
 * queries only its filter's events. An unfiltered read queries every log partition at once and
 * merges them. DynamoDB's TTL expires every copy on AWS.
 */
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { forEachLimit } from '../../../core/async.ts';
import type { ClusterEvent } from '../../../core/types.ts';
import type { EventFilter, EventStore } from '../../../ports/index.ts';
import { toEvent, valid } from './items.ts';
import { EVENT_LOG_KEYS, eventIndexKey, eventIndexKeys, eventLogKey, type Item } from './keys.ts';
import { BATCH_WRITE_ITEMS, type DynamoTable } from './table.ts';

/** Days an event is kept by DynamoDB's TTL on AWS (`expiresAt`); local mode prunes instead. */
const EVENT_TTL_DAYS = 7;
/** BatchWriteItem calls of one putEvents in flight at once. */
const EVENT_BATCH_CONCURRENCY = 4;
/** Pages a filtered read may query before it returns what it found (a bound on its cost). */
const MAX_EVENT_PAGES = 10;

export class DynamoEvents implements EventStore {
  constructor(private readonly t: DynamoTable) {}

  async putEvents(events: readonly ClusterEvent[]): Promise<void> {
    // The key is the event's time and id, so writing the same event again overwrites it: idempotent.
    const unique = new Map(events.map((e) => [`${e.at}#${e.id}`, e]));
    // Each event once in its log partition and once per index partition of its fields: 1 to 4 writes.
    const items = [...unique.entries()].flatMap(([sk, e]) =>
      [eventLogKey(e.id), ...eventIndexKeys(e)].map((pk) => ({
        ...e,
        pk,
        sk,
        // `type` is every item's kind in this table; the event's own type is kept beside it.
        type: 'event',
        eventType: e.type,
        expiresAt: Math.floor(Date.parse(e.at) / 1000) + EVENT_TTL_DAYS * 86_400,
      })),
    );
    const batches: Record<string, unknown>[][] = [];
    for (let i = 0; i < items.length; i += BATCH_WRITE_ITEMS) batches.push(items.slice(i, i + BATCH_WRITE_ITEMS).map((Item) => ({ PutRequest: { Item } })));
    // A few batches at a time: a pass at 2,000 hosts saves thousands of events (about 4 items each),
    // which one batch after another took a minute on a slow table. Not more: the copies land in the
    // few log partitions, each taking 1,000 writes a second, and batchWrite retries what they refuse.
    await forEachLimit(batches, EVENT_BATCH_CONCURRENCY, (batch) => this.t.batchWrite(batch, 'events'));
  }

  async listEvents(filter: EventFilter): Promise<ClusterEvent[]> {
    const limit = filter.limit ?? 200;
    if (limit <= 0) return [];
    // The most selective filter picks the partition (a service's events are fewer than its
    // namespace's); the other filters, if any, are checked on the items read.
    const by = (['service', 'host', 'namespace'] as const).find((k) => filter[k] !== undefined);
    // Unfiltered: the newest `limit` of each log partition hold the newest `limit` of all.
    const partitions = by ? [eventIndexKey(by, filter[by]!)] : EVENT_LOG_KEYS;
    const pages = await Promise.all(partitions.map((pk) => this.newest(pk, filter, by, limit)));
    // Newest first, deduplicated by key (an event re-recorded after the log was sharded is in two).
    const merged = new Map<string, Item>();
    for (const item of pages.flat().sort((a, b) => (String(a.sk) < String(b.sk) ? 1 : String(a.sk) > String(b.sk) ? -1 : 0))) {
      if (!merged.has(String(item.sk))) merged.set(String(item.sk), item);
    }
    // The limit keeps the most recent; returned oldest first ("newest last").
    return valid(
      [...merged.values()]
        .slice(0, limit)
        .reverse()
        .map((i) => toEvent(this.t.bad, i)),
    );
  }

  /** Up to `limit` items of one partition matching the filter, newest first (`sk < before` when paging back). */
  private async newest(pk: string, filter: EventFilter, by: string | undefined, limit: number): Promise<Item[]> {
    const conditions: string[] = [];
    const values: Record<string, unknown> = { ':p': pk, ...(filter.before !== undefined ? { ':before': filter.before } : {}) };
    const names: Record<string, string> = {};
    for (const key of ['namespace', 'service', 'host'] as const) {
      const v = filter[key];
      if (v === undefined || key === by) continue;
      conditions.push(`#${key} = :${key}`);
      names[`#${key}`] = key;
      values[`:${key}`] = v;
    }
    const out: Item[] = [];
    let start: Record<string, unknown> | undefined;
    let pages = 0;
    do {
      const page = await this.t.call('Query', 'events', () =>
        this.t.doc.send(
          new QueryCommand({
            TableName: this.t.table,
            KeyConditionExpression: filter.before !== undefined ? 'pk = :p AND sk < :before' : 'pk = :p',
            ExpressionAttributeValues: values,
            ...(conditions.length ? { FilterExpression: conditions.join(' AND '), ExpressionAttributeNames: names } : {}),
            ScanIndexForward: false,
            // Without a further filter every item read is kept: read no more than the limit.
            Limit: conditions.length ? Math.max(limit, 100) : limit,
            ExclusiveStartKey: start,
          }),
        ),
      );
      out.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start !== undefined && out.length < limit && ++pages < MAX_EVENT_PAGES);
    return out.slice(0, limit);
  }

  async pruneEvents(before: string, max: number): Promise<number> {
    if (max <= 0) return 0;
    // The oldest `max` of each log partition hold the oldest `max` of all.
    const pages = await Promise.all(
      EVENT_LOG_KEYS.map((pk) =>
        this.t.call('Query', 'events', () =>
          this.t.doc.send(
            new QueryCommand({
              TableName: this.t.table,
              KeyConditionExpression: 'pk = :p AND sk < :before',
              ExpressionAttributeValues: { ':p': pk, ':before': before },
              // The fields that name the event's index copies, which go with it.
              ProjectionExpression: 'pk, sk, #n, #s, #h',
              ExpressionAttributeNames: { '#n': 'namespace', '#s': 'service', '#h': 'host' },
              Limit: max,
            }),
          ),
        ),
      ),
    );
    const found = pages
      .flatMap((p) => p.Items ?? [])
      .sort((a, b) => (String(a.sk) < String(b.sk) ? -1 : String(a.sk) > String(b.sk) ? 1 : 0))
      .slice(0, max);
    // Index copies first: a prune cut short leaves the log's own item, and the next prune finds it again.
    const keys = new Map<string, { pk: unknown; sk: unknown }>();
    for (const k of found) {
      for (const pk of eventIndexKeys(k as { namespace?: string; service?: string; host?: string })) keys.set(`${pk}\u0000${k.sk}`, { pk, sk: k.sk });
    }
    for (const k of found) keys.set(`${k.pk}\u0000${k.sk}`, { pk: k.pk, sk: k.sk });
    const all = [...keys.values()];
    for (let i = 0; i < all.length; i += BATCH_WRITE_ITEMS) {
      await this.t.batchWrite(
        all.slice(i, i + BATCH_WRITE_ITEMS).map((k) => ({ DeleteRequest: { Key: k } })),
        'events',
      );
    }
    return found.length;
  }
}
