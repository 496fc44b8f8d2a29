/**
 * SigV4 signing of the CLI's requests to a deployed Skiff API (API Gateway HTTP API with IAM
 * authorization). The algorithm is the AWS SDK's own signer; this file only maps a fetch-style
 * request onto it.
 */
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@smithy/core/checksum';
import type { AwsCredentialIdentity } from '@smithy/types';

/** The service name API Gateway checks in the credential scope of an `execute-api:Invoke` call. */
export const EXECUTE_API = 'execute-api';

export interface SignableRequest {
  method: string;
  /** Absolute URL, query string included. */
  url: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface SignOptions {
  region: string;
  credentials: AwsCredentialIdentity;
  /** The signing time; the clock when absent. */
  now?: Date;
}

/**
 * Signs `req` for `execute-api` in `region` and returns the headers to send: the request's own
 * headers (names lower-cased) plus `host`, `x-amz-date`, `x-amz-content-sha256` (the body hash),
 * `authorization` and, for temporary credentials, `x-amz-security-token`. `host` is the URL's
 * host, which is what fetch sends by itself (it drops a `host` header given to it).
 */
export async function signRequest(req: SignableRequest, opts: SignOptions): Promise<Record<string, string>> {
  const url = new URL(req.url);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers ?? {})) headers[k.toLowerCase()] = v;
  headers.host = url.host;
  const query: Record<string, string | string[]> = {};
  for (const [k, v] of url.searchParams) {
    const prev = query[k];
    query[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  const signer = new SignatureV4({ service: EXECUTE_API, region: opts.region, credentials: opts.credentials, sha256: Sha256 });
  const signed = await signer.sign(
    {
      method: req.method.toUpperCase(),
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port ? Number(url.port) : undefined,
      // The path as it goes on the wire (already percent-encoded); the signer encodes it once more, as API Gateway expects.
      path: url.pathname,
      query,
      headers,
      body: req.body,
    },
    { signingDate: opts.now ?? new Date() },
  );
  return { ...(signed.headers as Record<string, string>) };
}
