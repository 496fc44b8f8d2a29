/**
 * The one table every part of the DynamoDB store shares: the document client, the table name, the
 * host key prefix, and the calls they all make (every failure a domain error, unprocessed batch
 * items retried, every page of a query or scan read).
 */
import {
  BatchGetCommand,
  BatchWriteCommand,
  ScanCommand,
  type DynamoDBDocumentClient,
  type QueryCommandInput,
  type ScanCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { setTimeout as sleep } from 'node:timers/promises';
import { dynamoCall, dynamoGet, dynamoQueryAll, StoreUnavailableError } from '../dynamo-calls.ts';
import { BadItemLog } from '../../../core/items.ts';
import type { BadItemReporter } from './items.ts';
import { BEAT_SK, HOST_SK, STATUS_SK, hostPartitionKey, type Item, type Key } from './keys.ts';

/** BatchWriteItem takes at most 25 requests. */
export const BATCH_WRITE_ITEMS = 25;
// BatchGetItem takes at most 100 keys per request.
const BATCH_GET_KEYS = 100;
// UnprocessedKeys come back under throttling; back off 50 ms, 100 ms, ... about 6 s in all.
const UNPROCESSED_ATTEMPTS = 8;
/** Read-then-conditional-write loops retry a lost race a few times, then report the conflict. */
export const RACE_ATTEMPTS = 5;

export class DynamoTable {
  constructor(
    readonly doc: DynamoDBDocumentClient,
    readonly table: string,
    /** Put before the host id in the partition of a host's own items (see DynamoStoreOptions.hostArnPrefix). */
    readonly hostArnPrefix: string,
    /** Where the readers report the items they skip (core/items.ts). */
    readonly bad: BadItemReporter = new BadItemLog(),
  ) {}

  /** Run one SDK call; its failure becomes a domain error (see dynamo-calls.ts). */
  call<T>(op: string, label: string, send: () => Promise<T>, conflict?: string): Promise<T> {
    return dynamoCall(this.table, op, label, send, conflict);
  }

  get(key: Item, label: string): Promise<Item | undefined> {
    return dynamoGet(this.doc, this.table, key, label);
  }

  queryAll(input: QueryCommandInput, label: string): Promise<Item[]> {
    return dynamoQueryAll(this.doc, this.table, input, label);
  }

  /** Every page of a Scan (segment). */
  async scanAll(input: ScanCommandInput, label: string): Promise<Item[]> {
    const items: Item[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.call('Scan', label, () => this.doc.send(new ScanCommand({ ...input, ExclusiveStartKey: start })));
      items.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start !== undefined);
    return items;
  }

  /** Reads of many keys (strongly consistent unless told), 100 per request, retrying what DynamoDB leaves unprocessed. */
  async batchGet(keys: Item[], label: string, { consistent = true } = {}): Promise<Item[]> {
    const items: Item[] = [];
    for (let i = 0; i < keys.length; i += BATCH_GET_KEYS) {
      let pending: Item[] = keys.slice(i, i + BATCH_GET_KEYS);
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt >= UNPROCESSED_ATTEMPTS) {
          throw new StoreUnavailableError(`DynamoDB left ${pending.length} ${label} unread after ${attempt} attempts; retry later`);
        }
        if (attempt > 0) await sleep(50 * 2 ** (attempt - 1));
        const out = await this.call('BatchGetItem', label, () =>
          this.doc.send(new BatchGetCommand({ RequestItems: { [this.table]: { Keys: pending, ConsistentRead: consistent } } })),
        );
        items.push(...(out.Responses?.[this.table] ?? []));
        pending = out.UnprocessedKeys?.[this.table]?.Keys ?? [];
      }
    }
    return items;
  }

  /** One BatchWriteItem (≤ 25 requests), retrying what DynamoDB leaves unprocessed. */
  async batchWrite(requests: Record<string, unknown>[], label: string): Promise<void> {
    let pending = requests;
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt >= UNPROCESSED_ATTEMPTS)
        throw new StoreUnavailableError(`DynamoDB left ${pending.length} ${label} unwritten after ${attempt} attempts; retry later`);
      if (attempt > 0) await sleep(50 * 2 ** (attempt - 1));
      const out = await this.call('BatchWriteItem', label, () => this.doc.send(new BatchWriteCommand({ RequestItems: { [this.table]: pending as never } })));
      pending = (out.UnprocessedItems?.[this.table] ?? []) as Record<string, unknown>[];
    }
  }

  // The items a host's own agent reads and writes live in its partition (`HOST#<prefix><id>`).

  hostKey(id: string): Key {
    return { pk: hostPartitionKey(this.hostArnPrefix, id), sk: HOST_SK };
  }

  statusKey(id: string): Key {
    return { pk: hostPartitionKey(this.hostArnPrefix, id), sk: STATUS_SK };
  }

  beatKey(id: string): Key {
    return { pk: hostPartitionKey(this.hostArnPrefix, id), sk: BEAT_SK };
  }
}
