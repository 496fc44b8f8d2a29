/** What the adapters read of an AWS SDK v3 error, to turn it into a domain error (never its text). */
export interface SdkError {
  readonly name?: string;
  readonly code?: string;
  readonly $fault?: string;
  readonly $metadata?: { readonly httpStatusCode?: number };
  readonly $retryable?: { readonly throttling?: boolean };
}

/** Node and SDK codes of a request that never got an answer: the same call may succeed later. */
export const NETWORK_CODES: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND', 'ENETUNREACH', 'TimeoutError']);

/** True when the error says the request did not reach AWS or AWS failed on its side (5xx). */
export function isUnavailable(e: SdkError | undefined): boolean {
  const status = e?.$metadata?.httpStatusCode;
  return e?.$fault === 'server' || (status !== undefined && status >= 500) || NETWORK_CODES.has(e?.code ?? '') || NETWORK_CODES.has(e?.name ?? '');
}
