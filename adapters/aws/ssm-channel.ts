/**
 * The host channel on SSM Parameter Store: each host's document lives under
 * `${prefix}/hosts/${hostId}/`, as one head parameter plus, when the document does not fit in
 * the head, chunk parameters named after the generation they belong to.
 *
 * Everything is sized for the Standard tier (free, 4 KB a value, 10,000 per account and Region)
 * and for AWS's default request rates; docs/host-channel.md has the numbers and their sources.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import {
  DeleteParametersCommand,
  GetParameterCommand,
  GetParametersByPathCommand,
  GetParametersCommand,
  PutParameterCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { ConflictError, LimitError, SkiffError } from '../../core/errors.ts';
import type { HostDocument } from '../../core/types.ts';
import type { HostChannel } from '../../ports/index.ts';
import {
  asciiJson,
  ChannelRetry,
  type ChannelRetryOptions,
  checkHostId,
  checkPublishable,
  checkOptionKeys,
  MAX_HOST_ID,
  RETRY_OPTION_KEYS,
  SEGMENT,
  sha256,
} from './host-channel-common.ts';
import { classifySdkError, isAccessDenied, sdkErrorCode, sdkErrorMessage, serviceErrors } from './sdk-errors.ts';

/** Parameter Store's own names; everything else is read by the shared classifier. */
export const SSM_ERRORS = serviceErrors({
  'not-found': ['ParameterNotFound', 'ParameterVersionNotFound'],
  conflict: ['ParameterAlreadyExists'],
});

/** Largest value of a Standard-tier parameter, in bytes (Advanced ones cost money per parameter-month). */
export const STANDARD_PARAMETER_BYTES = 4096;
/** GetParameters and DeleteParameters take at most 10 names per call. */
const BATCH = 10;
/**
 * A document may span at most this many chunks (about 400 KB encoded, several MB of JSON before
 * gzip). Each chunk is one of the account's 10,000 Standard parameters and one PutParameter at
 * ~3 TPS, so a document this large already is a design problem, not a case to support.
 */
export const MAX_CHUNKS = 100;
/** Re-reads of the head when a publish replaced the chunks while they were being read. */
const FETCH_ATTEMPTS = 3;

const HEAD_FORMAT = 'skiff-doc/1';
const HEAD_LINE = /^skiff-doc\/1 g=(\d+) n=(\d+) e=(json|gzip) h=([0-9a-f]{64})$/;
/** Parameter Store allows 15 levels; a host's parameters sit 3 levels below the prefix. */
const MAX_PREFIX_LEVELS = 12;

export type HostChannelFailure = 'throttled' | 'unavailable' | 'torn-read' | 'corrupt' | 'denied' | 'rejected';

/**
 * The channel could not complete an operation. `throttled`, `unavailable` and `torn-read` are
 * retryable (try again later); `corrupt` (a stored document fails its checks), `denied` (IAM
 * refused the request) and `rejected` (Parameter Store refused a request it should not have) are not.
 */
export class HostChannelError extends SkiffError {
  override readonly status: number;
  override readonly retryable: boolean;
  readonly reason: HostChannelFailure;
  constructor(reason: HostChannelFailure, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HostChannelError';
    this.reason = reason;
    this.retryable = reason === 'throttled' || reason === 'unavailable' || reason === 'torn-read';
    this.status = this.retryable ? 503 : 500;
  }
}

export interface SsmHostChannelOptions extends ChannelRetryOptions {
  /** Root of the cluster's parameters, e.g. `/skiff/prod`. */
  readonly prefix: string;
  /**
   * When set, every parameter of a host's document is created with the tag
   * `skiff:host-arn = <hostArnPrefix><hostId>`, the instance ARN that the host role's
   * `aws:ResourceTag/skiff:host-arn = ${ec2:SourceInstanceARN}` condition checks (docs/aws.md).
   * On AWS it is `arn:<partition>:ec2:<region>:<account>:instance/` (`SKIFF_HOST_ARN_PREFIX`).
   * @default '' (no tags: local mode)
   */
  readonly hostArnPrefix?: string;
}

const OPTION_KEYS = ['prefix', 'hostArnPrefix', ...RETRY_OPTION_KEYS];
/** The tag holding the ARN of the one instance allowed to read a host parameter (infra/skiff-cluster.ts). */
export const HOST_ARN_TAG_KEY = 'skiff:host-arn';
/** SSM tag values: 1-256 characters of letters, digits, spaces and `_.:/=+-@` (`TagValue` in the SSM API model). */
const TAG_VALUE = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;
const MAX_TAG_VALUE = 256;

interface Head {
  readonly generation: number;
  readonly chunks: number;
  readonly encoding: 'json' | 'gzip';
  readonly hash: string;
  /** The encoded document when it fits in the head (chunks = 0). */
  readonly body?: string;
}

interface Encoded {
  readonly encoding: 'json' | 'gzip';
  readonly payload: string;
  readonly hash: string;
}

/** Host documents as Standard-tier SSM parameters: one head, plus chunks when large. */
export class SsmHostChannel implements HostChannel {
  private readonly prefix: string;
  private readonly hostArnPrefix: string;
  private readonly retry: ChannelRetry;

  constructor(
    private readonly client: SSMClient,
    options: SsmHostChannelOptions,
  ) {
    checkOptionKeys('SsmHostChannel', options, OPTION_KEYS);
    this.prefix = checkPrefix(options.prefix);
    this.hostArnPrefix = checkHostArnPrefix(options.hostArnPrefix);
    this.retry = new ChannelRetry('SsmHostChannel', options);
  }

  /**
   * Publish a host's document. Chunks of the new generation go first, then the head that points
   * at them, then the previous generation's chunks are deleted: a reader that follows any head
   * finds all of its chunks, or (if it was slow and they were deleted) re-reads the head.
   */
  async publish(doc: HostDocument): Promise<void> {
    checkPublishable(doc);
    const encoded = encode(doc);
    const inline = `${headLine(doc.generation, 0, encoded)}\n${encoded.payload}`;
    const chunks = Buffer.byteLength(inline) <= STANDARD_PARAMETER_BYTES ? [] : split(encoded.payload, STANDARD_PARAMETER_BYTES);
    if (chunks.length > MAX_CHUNKS) {
      throw new LimitError(
        `host document for ${doc.hostId} encodes to ${encoded.payload.length} bytes (${chunks.length} parameters of ` +
          `${STANDARD_PARAMETER_BYTES} bytes); the limit is ${MAX_CHUNKS} parameters`,
      );
    }

    let previous: Head | undefined;
    let corruptHead = false;
    try {
      previous = await this.withRetry(`read head of ${doc.hostId}`, () => this.readHead(doc.hostId));
    } catch (err) {
      // A head nobody can read is replaced by this publish; its chunks are unknown, so sweep after.
      if (!(err instanceof HostChannelError && err.reason === 'corrupt')) throw err;
      corruptHead = true;
    }
    if (previous && previous.generation > doc.generation) {
      throw new ConflictError(`host ${doc.hostId} already has generation ${previous.generation} published; refusing to go back to ${doc.generation}`);
    }
    if (previous && previous.generation === doc.generation && previous.hash === encoded.hash) {
      // Already live: this is a retry of a publish that may have failed while cleaning up.
      await this.sweep(doc.hostId, doc.generation);
      return;
    }
    if (previous && previous.generation === doc.generation) {
      // A generation names one content: another publisher got here first with other tasks. The
      // check and the writes below are not atomic, so the scheduler also settles the record when
      // two publishers both pass it (docs/host-channel.md, "Two passes publishing the same generation").
      throw new ConflictError(`host ${doc.hostId} already has generation ${doc.generation} published with other content`);
    }

    // The head read above says which names exist, so each write is one call: a create (with the
    // tag) for a new name, an overwrite for an existing one. Only a name left by an interrupted
    // publish costs a second call (see put).
    for (const [i, value] of chunks.entries()) {
      const exists = previous?.generation === doc.generation && i < previous.chunks;
      await this.put(doc.hostId, this.chunkName(doc.hostId, doc.generation, i), value, exists);
    }
    const head = chunks.length === 0 ? inline : headLine(doc.generation, chunks.length, encoded);
    await this.put(doc.hostId, this.headName(doc.hostId), head, previous !== undefined || corruptHead);
    if (corruptHead) {
      await this.sweep(doc.hostId, doc.generation);
      return;
    }

    if (previous && previous.chunks > 0) {
      const stale: string[] = [];
      for (let i = 0; i < previous.chunks; i++) {
        // The same generation republished overwrote chunks 0..n-1 in place; only its surplus is stale.
        if (previous.generation !== doc.generation || i >= chunks.length) stale.push(this.chunkName(doc.hostId, previous.generation, i));
      }
      await this.deleteNames(stale);
    }
  }

  /**
   * Read a host's document with one GetParameter of the head when `knownGeneration` is current
   * (then `unchanged`), else the head plus GetParameters for the chunks, 10 at a time.
   */
  async fetch(hostId: string, knownGeneration?: number): Promise<HostDocument | 'unchanged' | undefined> {
    checkHostId(hostId);
    for (let attempt = 1; attempt <= FETCH_ATTEMPTS; attempt++) {
      const head = await this.call(`read head of ${hostId}`, () => this.readHead(hostId));
      if (!head) return undefined;
      if (knownGeneration !== undefined && head.generation === knownGeneration) return 'unchanged';
      const payload = head.chunks === 0 ? head.body : await this.readChunks(hostId, head);
      if (payload !== undefined && sha256(payload) === head.hash) return decode(payload, head, hostId);
      // A publish replaced this generation's chunks while they were being read: the head has moved on.
    }
    throw new HostChannelError('torn-read', `host document of ${hostId} kept changing while it was read (${FETCH_ATTEMPTS} attempts); try again`);
  }

  /** Delete every parameter under the host's path, the head first so readers stop at once. */
  async remove(hostId: string): Promise<void> {
    checkHostId(hostId);
    const names = await this.listNames(hostId);
    const head = this.headName(hostId);
    names.sort((a, b) => (a === head ? -1 : b === head ? 1 : a < b ? -1 : a > b ? 1 : 0));
    await this.deleteNames(names);
  }

  private base(hostId: string): string {
    return `${this.prefix}/hosts/${hostId}`;
  }

  private headName(hostId: string): string {
    return `${this.base(hostId)}/head`;
  }

  private chunkName(hostId: string, generation: number, index: number): string {
    return `${this.base(hostId)}/g${generation}-c${index}`;
  }

  private async readHead(hostId: string): Promise<Head | undefined> {
    const name = this.headName(hostId);
    let value: string | undefined;
    try {
      const out = await this.client.send(new GetParameterCommand({ Name: name }));
      value = out.Parameter?.Value;
    } catch (err) {
      if (classifySdkError(err, SSM_ERRORS) === 'not-found') return undefined;
      throw err;
    }
    const head = value === undefined ? undefined : parseHead(value);
    if (!head) throw new HostChannelError('corrupt', `head parameter ${name} is not a ${HEAD_FORMAT} head`);
    return head;
  }

  /** The chunks' concatenation, or undefined when one is gone (a newer publish deleted it). */
  private async readChunks(hostId: string, head: Head): Promise<string | undefined> {
    const names = Array.from({ length: head.chunks }, (_, i) => this.chunkName(hostId, head.generation, i));
    const values = new Map<string, string>();
    for (let i = 0; i < names.length; i += BATCH) {
      const group = names.slice(i, i + BATCH);
      const out = await this.call(`read chunks of ${hostId}`, () => this.client.send(new GetParametersCommand({ Names: group })));
      if ((out.InvalidParameters ?? []).length > 0) return undefined;
      for (const p of out.Parameters ?? []) values.set(p.Name!, p.Value ?? '');
    }
    if (names.some((n) => !values.has(n))) return undefined;
    return names.map((n) => values.get(n)!).join('');
  }

  private async listNames(hostId: string): Promise<string[]> {
    const names: string[] = [];
    let token: string | undefined;
    do {
      const out = await this.withRetry(`list parameters of ${hostId}`, () =>
        this.client.send(new GetParametersByPathCommand({ Path: this.base(hostId), Recursive: true, MaxResults: BATCH, NextToken: token })),
      );
      names.push(...(out.Parameters ?? []).map((p) => p.Name!));
      token = out.NextToken;
    } while (token);
    return names;
  }

  /** Delete chunks that belong to any generation but `generation` (left by an interrupted publish). */
  private async sweep(hostId: string, generation: number): Promise<void> {
    const keep = `${this.base(hostId)}/g${generation}-c`;
    const head = this.headName(hostId);
    const stale = (await this.listNames(hostId)).filter((n) => n !== head && !n.startsWith(keep));
    await this.deleteNames(stale);
  }

  /**
   * Write one parameter. Without a host ARN prefix: one overwrite. With one, the parameter must
   * carry its tag, and PutParameter takes Tags only when it creates (not with Overwrite; tags
   * survive later overwrites): a name known to exist is overwritten (1 call); any other is
   * created with the tag (1 call), and if it turns out to exist after all (left by an interrupted
   * publish, or created by a retried request that had succeeded) it is overwritten (2 calls).
   */
  private async put(hostId: string, name: string, value: string, exists: boolean): Promise<void> {
    const input = { Name: name, Value: value, Type: 'String', Tier: 'Standard' } as const;
    if (this.hostArnPrefix !== '' && !exists) {
      const tags = [{ Key: HOST_ARN_TAG_KEY, Value: `${this.hostArnPrefix}${hostId}` }];
      const created = await this.withRetry(`create ${name}`, async () => {
        try {
          await this.client.send(new PutParameterCommand({ ...input, Tags: tags }));
          return true;
        } catch (err) {
          if (classifySdkError(err, SSM_ERRORS) === 'conflict') return false;
          throw err;
        }
      });
      if (created) return;
    }
    await this.withRetry(`write ${name}`, () => this.client.send(new PutParameterCommand({ ...input, Overwrite: true })));
  }

  private async deleteNames(names: readonly string[]): Promise<void> {
    for (let i = 0; i < names.length; i += BATCH) {
      const group = names.slice(i, i + BATCH);
      // Names already gone come back in InvalidParameters; that is the state we want.
      await this.withRetry(`delete ${group[0]}…`, () => this.client.send(new DeleteParametersCommand({ Names: group })));
    }
  }

  /** One request, with SDK errors turned into domain errors. */
  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw toDomainError(what, err);
    }
  }

  /** A request retried with exponential backoff and jitter while it is throttled or Parameter Store is unavailable. */
  private withRetry<T>(what: string, fn: () => Promise<T>): Promise<T> {
    // A torn read is retried by the reader (it re-reads the head), never here.
    return this.retry.run(
      () => this.call(what, fn),
      (err) => err instanceof HostChannelError && err.retryable && err.reason !== 'torn-read',
    );
  }
}

function checkPrefix(prefix: unknown): string {
  const levels = typeof prefix === 'string' ? prefix.split('/').slice(1) : [];
  const ok =
    typeof prefix === 'string' &&
    prefix.startsWith('/') &&
    levels.every((s) => SEGMENT.test(s)) &&
    !/^(aws|ssm)/i.test(levels[0] ?? '') &&
    levels.length <= MAX_PREFIX_LEVELS;
  if (!ok) {
    throw new TypeError(
      `SsmHostChannel: prefix must look like /skiff/<cluster> (segments of a-zA-Z0-9_.-, at most ${MAX_PREFIX_LEVELS}, ` +
        `not starting with aws or ssm), got ${JSON.stringify(prefix)}`,
    );
  }
  return prefix as string;
}

function checkHostArnPrefix(value: unknown): string {
  const prefix = value ?? '';
  if (typeof prefix !== 'string' || !TAG_VALUE.test(prefix) || prefix.length + MAX_HOST_ID > MAX_TAG_VALUE) {
    throw new TypeError(
      `SsmHostChannel: hostArnPrefix must be at most ${MAX_TAG_VALUE - MAX_HOST_ID} characters of letters, digits, ` +
        `spaces and _.:/=+-@ (it begins the ${HOST_ARN_TAG_KEY} tag value), got ${JSON.stringify(value)}`,
    );
  }
  return prefix;
}

/** JSON, or gzip+base64 of it when that is smaller (task lists repeat themselves a lot). */
function encode(doc: HostDocument): Encoded {
  const json = asciiJson(doc);
  const gzip = gzipSync(Buffer.from(json), { level: 9 }).toString('base64');
  return gzip.length < json.length ? { encoding: 'gzip', payload: gzip, hash: sha256(gzip) } : { encoding: 'json', payload: json, hash: sha256(json) };
}

function decode(payload: string, head: Head, hostId: string): HostDocument {
  let doc: unknown;
  try {
    doc = JSON.parse(head.encoding === 'gzip' ? gunzipSync(Buffer.from(payload, 'base64')).toString('utf8') : payload);
  } catch (err) {
    throw new HostChannelError('corrupt', `host document of ${hostId} (generation ${head.generation}) does not decode`, { cause: err });
  }
  const d = doc as Partial<HostDocument> | null;
  if (!d || typeof d !== 'object' || d.hostId !== hostId || d.generation !== head.generation || !Array.isArray(d.tasks)) {
    throw new HostChannelError(
      'corrupt',
      `host document under ${hostId} (generation ${head.generation}) is for host ${String(d?.hostId)} generation ${String(d?.generation)}`,
    );
  }
  return d as HostDocument;
}

function headLine(generation: number, chunks: number, encoded: Encoded): string {
  return `${HEAD_FORMAT} g=${generation} n=${chunks} e=${encoded.encoding} h=${encoded.hash}`;
}

function split(payload: string, size: number): string[] {
  const parts: string[] = [];
  for (let i = 0; i < payload.length; i += size) parts.push(payload.slice(i, i + size));
  return parts;
}

function parseHead(value: string): Head | undefined {
  const newline = value.indexOf('\n');
  const line = newline < 0 ? value : value.slice(0, newline);
  const m = HEAD_LINE.exec(line);
  if (!m) return undefined;
  const chunks = Number(m[2]);
  const body = newline < 0 ? undefined : value.slice(newline + 1);
  if ((chunks === 0) !== (body !== undefined)) return undefined;
  return { generation: Number(m[1]), chunks, encoding: m[3] as Head['encoding'], hash: m[4]!, ...(body !== undefined ? { body } : {}) };
}

/** SDK exceptions become domain errors here, so nothing above branches on SDK types. */
function toDomainError(what: string, err: unknown): Error {
  if (err instanceof SkiffError) return err;
  const message = sdkErrorMessage(err);
  const code = sdkErrorCode(err);
  if (isAccessDenied(err)) {
    return new HostChannelError(
      'denied',
      `Parameter Store denied access: ${what}: ${message}. A host may read only parameters tagged ` +
        `${HOST_ARN_TAG_KEY} with its own instance ARN, and IAM answers the same for a parameter not published yet`,
      { cause: err },
    );
  }
  if (code === 'ParameterLimitExceeded') {
    return new LimitError(`Parameter Store holds its maximum number of parameters: ${what}: ${message}`, { cause: err });
  }
  switch (classifySdkError(err, SSM_ERRORS)) {
    case 'throttled':
      return new HostChannelError('throttled', `Parameter Store throttled: ${what}`, { cause: err });
    case 'temporary':
      return new HostChannelError('unavailable', `Parameter Store unavailable: ${what}: ${code}: ${message}`, { cause: err });
    default:
      return new HostChannelError('rejected', `Parameter Store refused to ${what}: ${code}: ${message}`, { cause: err });
  }
}
