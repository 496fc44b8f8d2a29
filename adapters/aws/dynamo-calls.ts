/**
 * DynamoDB calls shared by every adapter on the table: failures become domain errors (nothing
 * above the adapters branches on SDK exception names), plus consistent reads and paged queries.
 */
import { GetCommand, QueryCommand, type DynamoDBDocumentClient, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { ConflictError, SkiffError, UnavailableError } from '../../core/errors.ts';
import { classifySdkError, sdkErrorCode, serviceErrors } from './sdk-errors.ts';

type Item = Record<string, unknown>;

/** DynamoDB refused a request for now (throttling, a 5xx, no answer): the same request may succeed later. */
export class StoreUnavailableError extends UnavailableError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}

/** DynamoDB's own names; everything else is read by the shared classifier. */
export const DYNAMODB_ERRORS = serviceErrors({
  conflict: ['ConditionalCheckFailedException', 'TransactionConflictException'],
  // A table's partition over its size limit: no retry will make room.
  fatal: ['ItemCollectionSizeLimitExceededException'],
});

/**
 * Runs one SDK call on `table`; turns its failure into a domain error naming the operation and the
 * item: a failed condition is a ConflictError (with `conflict` as its message), throttling, 5xx and
 * a request without an answer a retryable StoreUnavailableError.
 */
export async function dynamoCall<T>(table: string, op: string, label: string, send: () => Promise<T>, conflict?: string): Promise<T> {
  try {
    return await send();
  } catch (err) {
    const code = sdkErrorCode(err);
    switch (classifySdkError(err, DYNAMODB_ERRORS)) {
      case 'conflict':
        throw new ConflictError(conflict ?? `${label} changed concurrently; re-read and retry`, { cause: err });
      case 'throttled':
        throw new StoreUnavailableError(`DynamoDB throttled ${op} on ${label}; retry later`, { cause: err });
      case 'temporary':
        throw new StoreUnavailableError(`DynamoDB failed ${op} on ${label} (${code}); retry later`, { cause: err });
      case 'not-found':
        // The only resource a call names that can be missing is the table itself: a deployment error.
        throw new SkiffError(`DynamoDB table ${table} not found (${op} on ${label})`, { cause: err });
      case 'fatal':
        throw new SkiffError(`DynamoDB ${op} on ${label} failed (${code})`, { cause: err });
    }
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
