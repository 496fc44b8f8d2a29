/** The event log on DynamoDB: one partition (`EVENTS`), sorted by `<at>#<id>`; DynamoDB's TTL expires it on AWS. */
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { ClusterEvent } from '../../../core/types.ts';
import type { EventStore } from '../../../ports/index.ts';
import { toEvent, valid } from './items.ts';
import { EVENTS_PK, type Item } from './keys.ts';
import { BATCH_WRITE_ITEMS, type DynamoTable } from './table.ts';

/** Days an event is kept by DynamoDB's TTL on AWS (`expiresAt`); local mode prunes instead. */
const EVENT_TTL_DAYS = 7;

export class DynamoEvents implements EventStore {
  constructor(private readonly t: DynamoTable) {}

  async putEvents(events: readonly ClusterEvent[]): Promise<void> {
    // The key is the event's time and id, so writing the same event again overwrites it: idempotent.
    const unique = new Map(events.map((e) => [`${e.at}#${e.id}`, e]));
    const items = [...unique.entries()].map(([sk, e]) => ({
      ...e,
      pk: EVENTS_PK,
      sk,
      // `type` is every item's kind in this table; the event's own type is kept beside it.
      type: 'event',
      eventType: e.type,
      expiresAt: Math.floor(Date.parse(e.at) / 1000) + EVENT_TTL_DAYS * 86_400,
    }));
    for (let i = 0; i < items.length; i += BATCH_WRITE_ITEMS) await this.t.batchWrite(items.slice(i, i + BATCH_WRITE_ITEMS).map((Item) => ({ PutRequest: { Item } })), 'events');
  }

  async listEvents(filter: { namespace?: string; service?: string; host?: string; limit?: number }): Promise<ClusterEvent[]> {
    const limit = filter.limit ?? 200;
    const conditions: string[] = [];
    const values: Record<string, unknown> = { ':p': EVENTS_PK };
    const names: Record<string, string> = {};
    for (const key of ['namespace', 'service', 'host'] as const) {
      const v = filter[key];
      if (v === undefined) continue;
      conditions.push(`#${key} = :${key}`);
      names[`#${key}`] = key;
      values[`:${key}`] = v;
    }
    // Newest first, so the limit keeps the most recent; returned oldest first ("newest last").
    const out: Item[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.t.call('Query', 'events', () =>
        this.t.doc.send(
          new QueryCommand({
            TableName: this.t.table,
            KeyConditionExpression: 'pk = :p',
            ExpressionAttributeValues: values,
            ...(conditions.length ? { FilterExpression: conditions.join(' AND '), ExpressionAttributeNames: names } : {}),
            ScanIndexForward: false,
            Limit: Math.max(limit, 100),
            ExclusiveStartKey: start,
          }),
        ),
      );
      out.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start !== undefined && out.length < limit);
    return valid(out.slice(0, limit).reverse().map((i) => toEvent(this.t.bad, i)));
  }

  async pruneEvents(before: string, max: number): Promise<number> {
    const page = await this.t.call('Query', 'events', () =>
      this.t.doc.send(
        new QueryCommand({
          TableName: this.t.table,
          KeyConditionExpression: 'pk = :p AND sk < :before',
          ExpressionAttributeValues: { ':p': EVENTS_PK, ':before': before },
          ProjectionExpression: 'pk, sk',
          Limit: max,
        }),
      ),
    );
    const keys = page.Items ?? [];
    for (let i = 0; i < keys.length; i += BATCH_WRITE_ITEMS) {
      await this.t.batchWrite(keys.slice(i, i + BATCH_WRITE_ITEMS).map((k) => ({ DeleteRequest: { Key: { pk: k.pk, sk: k.sk } } })), 'events');
    }
    return keys.length;
  }
}
