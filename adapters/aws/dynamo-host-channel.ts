/**
 * The host channel on DynamoDB: each host's document is ONE item in a table of its own, in its own
 * partition (`pk` = `HOST#<hostArnPrefix><hostId>`), for clusters past Parameter Store's write rate
 * (docs/host-channel.md, "The DynamoDB channel"; docs/scale.md).
 *
 * - One item, so a reader never sees a torn document and a publish is one conditional PutItem:
 *   `attribute_not_exists(pk) OR generation < :g OR (generation = :g AND hash = :h)`. A stale
 *   publisher cannot go back a generation, a generation once written keeps its content, and a
 *   retry of a publish that landed is a no-op success, with no read before the write.
 * - The body is the document's JSON (non-ASCII as `\u` escapes, as the SSM channel writes it) or
 *   its gzip as a binary attribute when that is smaller: the item stays far inside 400 KB for any
 *   document within core/document-size.ts's budget (a test checks the worst case).
 * - Reads are one GetItem. The timer's polls read eventually consistent (half the price); a read
 *   asked `fresh` (after a wake-up, which follows a publication) reads strongly consistent, so it
 *   cannot miss the document it was woken for.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import {
  type AttributeValue,
  type CreateTableCommandInput,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { ConflictError, LimitError, SkiffError } from '../../core/errors.ts';
import type { HostDocument } from '../../core/types.ts';
import type { HostChannel, HostChannelFetchOptions } from '../../ports/index.ts';
import { DYNAMODB_ERRORS } from './dynamo-calls.ts';
import { MAX_ITEM_BYTES } from './dynamo/items.ts';
import {
  asciiJson,
  ChannelRetry,
  type ChannelRetryOptions,
  checkHostId,
  checkOptionKeys,
  checkPublishable,
  RETRY_OPTION_KEYS,
  sha256,
} from './host-channel-common.ts';
import { classifySdkError, isAccessDenied, sdkErrorCode, sdkErrorMessage } from './sdk-errors.ts';
import { HostChannelError } from './ssm-channel.ts';

/** The partition key of the host document table; one item per host, no sort key. */
export const HOST_DOCUMENT_KEY = 'pk';
/** The key's prefix, as in the state table: the host role's `dynamodb:LeadingKeys = HOST#${ec2:SourceInstanceARN}`. */
export const HOST_DOCUMENT_KEY_PREFIX = 'HOST#';

/** An item larger than this is refused before it is sent (DynamoDB's 400 KB), with a LimitError naming the host. */
const ITEM_BUDGET = MAX_ITEM_BYTES;

export interface DynamoHostChannelOptions extends ChannelRetryOptions {
  /** The host document table (`SKIFF_HOST_DOCUMENT_TABLE`): partition key `pk` (S), no sort key. */
  readonly tableName: string;
  /**
   * `arn:<partition>:ec2:<region>:<account>:instance/` on AWS (`SKIFF_HOST_ARN_PREFIX`): the key is
   * `HOST#<instance ARN>`, the one the host role's `dynamodb:LeadingKeys` condition lets it read.
   * @default '' (local mode: `HOST#<id>`)
   */
  readonly hostArnPrefix?: string;
}

const OPTION_KEYS = ['tableName', 'hostArnPrefix', ...RETRY_OPTION_KEYS];

interface Encoded {
  readonly encoding: 'json' | 'gzip';
  readonly json?: string;
  readonly gzip?: Uint8Array;
  /** sha256 of the JSON: the content, whatever its encoding. */
  readonly hash: string;
}

/** The CreateTable input of the host document table (local mode; the CDK stack mirrors it). */
export function hostDocumentTableDefinition(tableName: string): CreateTableCommandInput & { TableName: string } {
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [{ AttributeName: HOST_DOCUMENT_KEY, AttributeType: 'S' }],
    KeySchema: [{ AttributeName: HOST_DOCUMENT_KEY, KeyType: 'HASH' }],
  };
}

/** Host documents as DynamoDB items, one per host in its own partition. */
export class DynamoHostChannel implements HostChannel {
  private readonly table: string;
  private readonly hostArnPrefix: string;
  private readonly retry: ChannelRetry;

  constructor(
    private readonly client: DynamoDBClient,
    options: DynamoHostChannelOptions,
  ) {
    checkOptionKeys('DynamoHostChannel', options, OPTION_KEYS);
    if (typeof options.tableName !== 'string' || !/^[a-zA-Z0-9_.-]{3,255}$/.test(options.tableName)) {
      throw new TypeError(`DynamoHostChannel: tableName must be 3-255 characters of a-zA-Z0-9_.-, got ${JSON.stringify(options.tableName)}`);
    }
    this.table = options.tableName;
    const prefix = options.hostArnPrefix ?? '';
    if (typeof prefix !== 'string' || prefix.includes('#') || prefix.length > 256) {
      throw new TypeError(`DynamoHostChannel: hostArnPrefix must be a string of at most 256 characters without '#', got ${JSON.stringify(prefix)}`);
    }
    this.hostArnPrefix = prefix;
    this.retry = new ChannelRetry('DynamoHostChannel', options);
  }

  /**
   * One conditional PutItem. Refused (ConflictError) when the item holds a higher generation, or
   * this generation with other content; a repeat of the same generation and content succeeds.
   */
  async publish(doc: HostDocument): Promise<void> {
    checkPublishable(doc);
    const encoded = encode(doc);
    const item: Record<string, AttributeValue> = {
      [HOST_DOCUMENT_KEY]: { S: this.key(doc.hostId) },
      hostId: { S: doc.hostId },
      generation: { N: String(doc.generation) },
      hash: { S: encoded.hash },
      encoding: { S: encoded.encoding },
      body: encoded.gzip ? { B: encoded.gzip } : { S: encoded.json! },
    };
    const size = itemBytes(item);
    if (size > ITEM_BUDGET) {
      throw new LimitError(`host document for ${doc.hostId} would be a ${size}-byte item; a DynamoDB item holds at most ${ITEM_BUDGET} bytes (400 KB)`);
    }
    const written = await this.withRetry(`publish the document of ${doc.hostId}`, async () => {
      try {
        await this.client.send(
          new PutItemCommand({
            TableName: this.table,
            Item: item,
            ConditionExpression: 'attribute_not_exists(#pk) OR #g < :g OR (#g = :g AND #h = :h)',
            ExpressionAttributeNames: { '#pk': HOST_DOCUMENT_KEY, '#g': 'generation', '#h': 'hash' },
            ExpressionAttributeValues: { ':g': { N: String(doc.generation) }, ':h': { S: encoded.hash } },
          }),
        );
        return true;
      } catch (err) {
        if (classifySdkError(err, DYNAMODB_ERRORS) === 'conflict') return false;
        throw err;
      }
    });
    if (written) return;
    // The condition failed: say why, from what the item holds now.
    const current = await this.call(`read the document of ${doc.hostId}`, () => this.getItem(doc.hostId, true));
    const generation = current?.generation?.N === undefined ? undefined : Number(current.generation.N);
    if (generation !== undefined && generation > doc.generation) {
      throw new ConflictError(`host ${doc.hostId} already has generation ${generation} published; refusing to go back to ${doc.generation}`);
    }
    if (generation === doc.generation) {
      throw new ConflictError(`host ${doc.hostId} already has generation ${doc.generation} published with other content`);
    }
    throw new ConflictError(`the document of host ${doc.hostId} changed while generation ${doc.generation} was published; re-read and retry`);
  }

  /**
   * One GetItem: eventually consistent unless `options.fresh`. `unchanged` when the item holds
   * `knownGeneration` (the body is not decoded). An older generation than known comes back as is:
   * an eventually consistent read may lag, and the agent ignores documents older than its own.
   */
  async fetch(hostId: string, knownGeneration?: number, options?: HostChannelFetchOptions): Promise<HostDocument | 'unchanged' | undefined> {
    checkHostId(hostId);
    const item = await this.call(`read the document of ${hostId}`, () => this.getItem(hostId, options?.fresh === true));
    if (!item) return undefined;
    const generation = Number(item.generation?.N);
    if (!Number.isSafeInteger(generation) || generation < 0) {
      throw new HostChannelError('corrupt', `host document item of ${hostId} has no valid generation`);
    }
    if (knownGeneration !== undefined && generation === knownGeneration) return 'unchanged';
    return decode(item, hostId, generation);
  }

  /** Deletes the host's item; absent is not an error. */
  async remove(hostId: string): Promise<void> {
    checkHostId(hostId);
    await this.withRetry(`remove the document of ${hostId}`, () =>
      this.client.send(new DeleteItemCommand({ TableName: this.table, Key: { [HOST_DOCUMENT_KEY]: { S: this.key(hostId) } } })),
    );
  }

  private key(hostId: string): string {
    return `${HOST_DOCUMENT_KEY_PREFIX}${this.hostArnPrefix}${hostId}`;
  }

  private async getItem(hostId: string, consistent: boolean): Promise<Record<string, AttributeValue> | undefined> {
    const out = await this.client.send(
      new GetItemCommand({ TableName: this.table, Key: { [HOST_DOCUMENT_KEY]: { S: this.key(hostId) } }, ConsistentRead: consistent }),
    );
    return out.Item;
  }

  /** One request, with SDK errors turned into domain errors. */
  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw toDomainError(what, this.table, err);
    }
  }

  /** A request retried with exponential backoff and jitter while it is throttled or DynamoDB is unavailable. */
  private withRetry<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return this.retry.run(
      () => this.call(what, fn),
      (err) => err instanceof HostChannelError && err.retryable,
    );
  }
}

/** The JSON, or its gzip (a binary attribute, counted in raw bytes) when that is smaller. */
function encode(doc: HostDocument): Encoded {
  const json = asciiJson(doc);
  const hash = sha256(json);
  const gzip = gzipSync(Buffer.from(json), { level: 9 });
  return gzip.length < json.length ? { encoding: 'gzip', gzip: new Uint8Array(gzip), hash } : { encoding: 'json', json, hash };
}

function decode(item: Record<string, AttributeValue>, hostId: string, generation: number): HostDocument {
  const encoding = item.encoding?.S;
  let json: string;
  try {
    if (encoding === 'gzip' && item.body?.B) json = gunzipSync(item.body.B).toString('utf8');
    else if (encoding === 'json' && item.body?.S !== undefined) json = item.body.S;
    else throw new Error(`encoding ${String(encoding)} with a body of the wrong type`);
  } catch (err) {
    throw new HostChannelError('corrupt', `host document of ${hostId} (generation ${generation}) does not decode`, { cause: err });
  }
  if (sha256(json) !== item.hash?.S) {
    throw new HostChannelError('corrupt', `host document of ${hostId} (generation ${generation}) fails its sha256 check`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch (err) {
    throw new HostChannelError('corrupt', `host document of ${hostId} (generation ${generation}) is not JSON`, { cause: err });
  }
  const d = doc as Partial<HostDocument> | null;
  if (!d || typeof d !== 'object' || d.hostId !== hostId || d.generation !== generation || !Array.isArray(d.tasks)) {
    throw new HostChannelError(
      'corrupt',
      `host document under ${hostId} (generation ${generation}) is for host ${String(d?.hostId)} generation ${String(d?.generation)}`,
    );
  }
  return d as HostDocument;
}

/**
 * The item's size as DynamoDB counts it: attribute names plus values (strings in UTF-8 bytes,
 * binaries in bytes, numbers about 1 byte per 2 digits plus 1). Only the shapes this adapter writes.
 */
export function itemBytes(item: Record<string, AttributeValue>): number {
  let size = 0;
  for (const [name, value] of Object.entries(item)) {
    size += Buffer.byteLength(name);
    if (value.S !== undefined) size += Buffer.byteLength(value.S);
    else if (value.B !== undefined) size += value.B.length;
    else if (value.N !== undefined) size += Math.ceil(value.N.replace(/^-/, '').length / 2) + 1;
  }
  return size;
}

/** SDK exceptions become domain errors here, so nothing above branches on SDK types. */
function toDomainError(what: string, table: string, err: unknown): Error {
  if (err instanceof SkiffError) return err;
  const message = sdkErrorMessage(err);
  const code = sdkErrorCode(err);
  if (isAccessDenied(err)) {
    return new HostChannelError(
      'denied',
      `DynamoDB denied access: ${what}: ${message}. A host may read only the item keyed HOST#<its own instance ARN> ` +
        `(dynamodb:LeadingKeys = HOST#\${ec2:SourceInstanceARN}) with GetItem, and nothing else in table ${table}`,
      { cause: err },
    );
  }
  switch (classifySdkError(err, DYNAMODB_ERRORS)) {
    case 'throttled':
      return new HostChannelError('throttled', `DynamoDB throttled: ${what}`, { cause: err });
    case 'temporary':
      return new HostChannelError('unavailable', `DynamoDB unavailable: ${what}: ${code}: ${message}`, { cause: err });
    case 'not-found':
      return new HostChannelError('rejected', `DynamoDB table ${table} not found: ${what} (is SKIFF_HOST_DOCUMENT_TABLE right?)`, { cause: err });
    default:
      return new HostChannelError('rejected', `DynamoDB refused to ${what}: ${code}: ${message}`, { cause: err });
  }
}
