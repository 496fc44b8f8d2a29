/**
 * DynamoDB calls shared by every adapter on the table: failures become domain errors (nothing
 * above the adapters branches on SDK exception names), plus consistent reads and paged queries.
 */
import { GetCommand, QueryCommand, type DynamoDBDocumentClient, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { ConflictError, SkiffError, UnavailableError } from '../../core/errors.ts';

type Item = Record<string, unknown>;

/** DynamoDB refused a request for now (throttling, a 5xx): the same request may succeed later. */
export class StoreUnavailableError extends UnavailableError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}

const THROTTLED = new Set(['ProvisionedThroughputExceededException', 'ThrottlingException', 'RequestLimitExceeded']);
const TRANSIENT = new Set(['InternalServerError', 'ServiceUnavailable', 'ServiceUnavailableException']);

/**
 * Runs one SDK call on `table`; turns its failure into a domain error naming the operation and the
 * item: a failed condition is a ConflictError (with `conflict` as its message), throttling and 5xx
 * a retryable StoreUnavailableError.
 */
export async function dynamoCall<T>(table: string, op: string, label: string, send: () => Promise<T>, conflict?: string): Promise<T> {
  try {
    return await send();
  } catch (err) {
    const name = (err as { name?: unknown } | null)?.name;
    if (name === 'ConditionalCheckFailedException') {
      throw new ConflictError(conflict ?? `${label} changed concurrently; re-read and retry`, { cause: err });
    }
    const retryable = (err as { $retryable?: { throttling?: boolean } } | null)?.$retryable;
    if ((typeof name === 'string' && THROTTLED.has(name)) || retryable?.throttling) {
      throw new StoreUnavailableError(`DynamoDB throttled ${op} on ${label}; retry later`, { cause: err });
    }
    if (typeof name === 'string' && TRANSIENT.has(name)) {
      throw new StoreUnavailableError(`DynamoDB failed ${op} on ${label} (${name}); retry later`, { cause: err });
    }
    if (name === 'ResourceNotFoundException') {
      throw new SkiffError(`DynamoDB table ${table} not found (${op} on ${label})`, { cause: err });
    }
    throw new SkiffError(`DynamoDB ${op} on ${label} failed${typeof name === 'string' ? ` (${name})` : ''}`, { cause: err });
  }
}

/** A strongly consistent GetItem; undefined when the item is absent. */
export async function dynamoGet(doc: DynamoDBDocumentClient, table: string, key: Item, label: string): Promise<Item | undefined> {
  const out = await dynamoCall(table, 'GetItem', label, () => doc.send(new GetCommand({ TableName: table, Key: key, ConsistentRead: true })));
  return out.Item;
}

/** Every page of a Query (each page stops at 1 MB). */
export async function dynamoQueryAll(doc: DynamoDBDocumentClient, table: string, input: QueryCommandInput, label: string): Promise<Item[]> {
  const items: Item[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const out = await dynamoCall(table, 'Query', label, () => doc.send(new QueryCommand({ ...input, ExclusiveStartKey: start })));
    items.push(...(out.Items ?? []));
    start = out.LastEvaluatedKey;
  } while (start !== undefined);
  return items;
}
