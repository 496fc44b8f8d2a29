/**
 * What the two host channels (ssm-channel.ts, dynamo-host-channel.ts) share: their retry of
 * throttled and unavailable requests, their host id rule, and the JSON they hash and store.
 */
import { createHash } from 'node:crypto';
import { ValidationError } from '../../core/errors.ts';

/** A segment of a parameter path, and a host id: letters, digits and `_.-`. */
export const SEGMENT = /^[a-zA-Z0-9_.-]+$/;
/** Host ids are at most 128 characters (an EC2 instance id is 19). */
export const MAX_HOST_ID = 128;
const MAX_BACKOFF_MS = 5_000;

export interface ChannelRetryOptions {
  /** Attempts per request of publish and remove when throttled or unavailable. @default 6 */
  readonly maxAttempts?: number;
  /** First backoff delay; doubles per attempt, capped at 5 s, with jitter. @default 200 */
  readonly baseDelayMs?: number;
  /** Waits between attempts (tests pass a fast one). @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Jitter source in [0, 1). @default Math.random */
  readonly random?: () => number;
}

export const RETRY_OPTION_KEYS = ['maxAttempts', 'baseDelayMs', 'sleep', 'random'] as const;

/** Throws a TypeError naming the channel and every option it does not know. */
export function checkOptionKeys(owner: string, options: object | undefined, known: readonly string[]): void {
  const unknown = Object.keys(options ?? {}).filter((k) => !known.includes(k));
  if (unknown.length > 0) throw new TypeError(`${owner}: unknown option(s) ${unknown.join(', ')}`);
}

/** Exponential backoff with jitter, for the requests a channel retries. */
export class ChannelRetry {
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;

  constructor(owner: string, options: ChannelRetryOptions) {
    this.maxAttempts = options.maxAttempts ?? 6;
    if (!Number.isInteger(this.maxAttempts) || this.maxAttempts < 1) throw new TypeError(`${owner}: maxAttempts must be an integer >= 1`);
    this.baseDelayMs = options.baseDelayMs ?? 200;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.random = options.random ?? Math.random;
  }

  /** Runs `fn` until it succeeds, throws what `retryable` refuses, or the attempts are spent. */
  async run<T>(fn: () => Promise<T>, retryable: (err: unknown) => boolean): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (!retryable(err) || attempt >= this.maxAttempts) throw err;
        const ceiling = Math.min(MAX_BACKOFF_MS, this.baseDelayMs * 2 ** (attempt - 1));
        await this.sleep(ceiling / 2 + (ceiling / 2) * this.random());
      }
    }
  }
}

export function checkHostId(hostId: string): void {
  if (typeof hostId !== 'string' || !SEGMENT.test(hostId) || hostId.length > MAX_HOST_ID) {
    throw new ValidationError([{ path: 'hostId', message: `must be 1-${MAX_HOST_ID} characters of a-zA-Z0-9_.-, got ${JSON.stringify(hostId)}` }]);
  }
}

/** What both channels check of a document before they publish it: its host id and its generation. */
export function checkPublishable(doc: { hostId: string; generation: number }): void {
  checkHostId(doc.hostId);
  if (!Number.isSafeInteger(doc.generation) || doc.generation < 0) {
    throw new ValidationError([{ path: 'generation', message: `must be a non-negative integer, got ${doc.generation}` }]);
  }
}

/**
 * Non-ASCII as \u escapes: byte and character counts agree (the document budget of
 * core/document-size.ts counts this JSON), and an SSM chunk never splits a character.
 */
export function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
