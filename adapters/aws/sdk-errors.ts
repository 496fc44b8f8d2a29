/**
 * One classification of AWS SDK v3 failures, used by every AWS adapter: what the caller can do
 * about an error, read from its name, `$fault`, `$metadata.httpStatusCode`, `$retryable` and Node
 * network code — never its message. A request that never got an answer (a reset or refused
 * connection, a timeout) is `temporary` for every service alike.
 *
 * Each adapter keeps only its service's own names (DynamoDB's ConditionalCheckFailedException,
 * SSM's ParameterNotFound...) in a small table built with `serviceErrors`, which the classifier
 * reads before the shared lists below.
 */
import { ConflictError, NotFoundError, SkiffError, UnavailableError } from '../../core/errors.ts';

/**
 * - `throttled`: the service refused the request rate; retry later, slower.
 * - `temporary`: the service failed on its side (5xx) or the request got no answer; retry later.
 * - `not-found`: the thing named does not exist.
 * - `conflict`: a condition failed or the thing changed meanwhile; re-read and retry.
 * - `fatal`: anything else (bad request, access denied, quota): retrying the same request will not help.
 */
export type SdkErrorClass = 'throttled' | 'temporary' | 'not-found' | 'conflict' | 'fatal';

/** What the classifier reads of an AWS SDK v3 error (or a Node network error). */
export interface SdkError {
  readonly name?: string;
  readonly code?: string;
  readonly $fault?: string;
  readonly $metadata?: { readonly httpStatusCode?: number };
  readonly $retryable?: { readonly throttling?: boolean };
  readonly cause?: unknown;
}

/** A service's own error names and their class; read before the shared lists. */
export type ServiceErrors = ReadonlyMap<string, SdkErrorClass>;

/** Builds a service's table: `serviceErrors({ conflict: ['ConditionalCheckFailedException'] })`. */
export function serviceErrors(table: Readonly<Partial<Record<SdkErrorClass, readonly string[]>>>): ServiceErrors {
  const map = new Map<string, SdkErrorClass>();
  for (const [cls, names] of Object.entries(table) as [SdkErrorClass, readonly string[]][]) for (const name of names) map.set(name, cls);
  return map;
}

// The shared lists follow the SDK's own retry classification (@smithy/core retry,
// service-error-classification/constants.ts), so Skiff retries what the SDK would have retried,
// with two names left to the services that use them: `LimitExceededException` (a quota, not a
// rate, for most services) and Route 53's `PriorRequestNotComplete` (the zone is busy).

/** Error names that mean "too many requests" across AWS services. */
export const THROTTLING_NAMES: ReadonlySet<string> = new Set([
  'BandwidthLimitExceeded',
  'EC2ThrottledException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
  'ThrottledException',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'TransactionInProgressException',
]);

/** Error names of a failure on the service's side or of a request that timed out. */
export const TEMPORARY_NAMES: ReadonlySet<string> = new Set([
  'TimeoutError', // the SDK's own: no response within the handler's timeouts
  'RequestTimeout',
  'RequestTimeoutException',
  'InternalError',
  'InternalFailure',
  'InternalServerError',
  'InternalServerErrorException',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'Unavailable',
]);

/**
 * Node codes of a request that never got an answer: the same call may succeed later. A "socket
 * hang up" is ECONNRESET; Node 20's multi-address connect raises an AggregateError carrying the
 * code of its first attempt.
 */
export const NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** Names shared by several services for a missing resource or a lost race. */
const NOT_FOUND_NAMES: ReadonlySet<string> = new Set(['ResourceNotFoundException', 'NotFoundException']);
const CONFLICT_NAMES: ReadonlySet<string> = new Set(['ConflictException']);

/** Names that mean the caller's credentials or IAM policy refused the request (all `fatal`). */
const DENIED_NAMES: ReadonlySet<string> = new Set([
  'AccessDenied',
  'AccessDeniedException',
  'UnauthorizedOperation',
  'AuthFailure',
  'InvalidClientTokenId',
  'UnrecognizedClientException',
  'ExpiredToken',
  'ExpiredTokenException',
  'SignatureDoesNotMatch',
]);

/** How deep to follow `cause` looking for a network code (fetch and other wrappers keep the socket error there). */
const MAX_CAUSE_DEPTH = 5;

/** Sorts an SDK (or Node network) error into what the caller can do about it. */
export function classifySdkError(err: unknown, service?: ServiceErrors): SdkErrorClass {
  const e = asSdkError(err);
  if (e === undefined) return 'fatal';
  const name = typeof e.name === 'string' ? e.name : undefined;
  if (name !== undefined) {
    const own = service?.get(name);
    if (own !== undefined) return own;
  }
  // Aborted on purpose by the caller: nothing to retry.
  if (name === 'AbortError') return 'fatal';
  const status = e.$metadata?.httpStatusCode;
  if ((name !== undefined && THROTTLING_NAMES.has(name)) || e.$retryable?.throttling === true || status === 429) return 'throttled';
  if (name !== undefined && TEMPORARY_NAMES.has(name)) return 'temporary';
  if (hasNetworkCode(e)) return 'temporary';
  if (name !== undefined && NOT_FOUND_NAMES.has(name)) return 'not-found';
  if (name !== undefined && CONFLICT_NAMES.has(name)) return 'conflict';
  // A modeled exception the service marks retryable, or any failure on the service's side.
  if (e.$retryable !== undefined || e.$fault === 'server' || (status !== undefined && status >= 500)) return 'temporary';
  // No guess from a 404 or 409 alone: an endpoint that is not the service (a wrong URL, a proxy)
  // answers 404 too, and would pass for a missing resource.
  return 'fatal';
}

/** True for `throttled` and `temporary`: the same request may succeed later. */
export function isRetryableSdkError(err: unknown, service?: ServiceErrors): boolean {
  const cls = classifySdkError(err, service);
  return cls === 'throttled' || cls === 'temporary';
}

/** True when credentials or IAM refused the request (a `fatal` error that needs a policy change, not a retry). */
export function isAccessDenied(err: unknown): boolean {
  const name = asSdkError(err)?.name;
  return typeof name === 'string' && DENIED_NAMES.has(name);
}

/** Names of Node's own error classes, which say less than the error's code. */
const GENERIC_NAMES: ReadonlySet<string> = new Set(['Error', 'AggregateError', 'SystemError', 'TypeError']);

/** The error's name (an SDK exception's error code) or Node code, for messages; `Error` when it has neither. */
export function sdkErrorCode(err: unknown): string {
  const e = asSdkError(err);
  const name = e?.name;
  const code = e?.code;
  if (typeof code === 'string' && (name === undefined || GENERIC_NAMES.has(name))) return code;
  return typeof name === 'string' ? name : 'Error';
}

/** What the error says, for messages. */
export function sdkErrorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The core domain error for a failed `op` (the API action, `Invoke`) on `resource` (`function f`)
 * of `service`: throttled and temporary → UnavailableError (503, retryable), not found →
 * NotFoundError, conflict → ConflictError, fatal → SkiffError; the SDK error is the `cause`. A
 * SkiffError passes through unchanged.
 */
export function sdkDomainError(service: string, op: string, resource: string, err: unknown, names?: ServiceErrors): SkiffError {
  if (err instanceof SkiffError) return err;
  const code = sdkErrorCode(err);
  switch (classifySdkError(err, names)) {
    case 'throttled':
      return new UnavailableError(`${service} throttled ${op} on ${resource}; retry later`, { cause: err });
    case 'temporary':
      return new UnavailableError(`${service} failed ${op} on ${resource} (${code}); retry later`, { cause: err });
    case 'not-found':
      return new NotFoundError(resource, { cause: err });
    case 'conflict':
      return new ConflictError(`${resource} changed concurrently (${service} ${op}: ${code}); re-read and retry`, { cause: err });
    case 'fatal':
      return new SkiffError(`${service} ${op} on ${resource} failed (${code}): ${sdkErrorMessage(err)}`, { cause: err });
  }
}

function asSdkError(err: unknown): SdkError | undefined {
  return typeof err === 'object' && err !== null ? (err as SdkError) : undefined;
}

function hasNetworkCode(e: SdkError): boolean {
  let at: unknown = e;
  for (let depth = 0; depth <= MAX_CAUSE_DEPTH && typeof at === 'object' && at !== null; depth++) {
    const code = (at as SdkError).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
    at = (at as SdkError).cause;
  }
  return false;
}
