/**
 * Local mode's host tokens: how a local agent proves to the API that it is host `host-i` (on AWS the
 * agent signs its requests with its instance's session of the host role instead). A JWT signed with
 * HS256 under the local API's own key (`<dataDir>/token-key`, app/tokens.ts), with its own audience,
 * `skiff-host`, so a host token is never taken for a namespace token nor the reverse. `skiff local up`
 * gives each agent its own, in its environment; it names one host, and the API gives a host nothing
 * but its own tasks' identity tokens (app/identity-routes.ts).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { decodeJwt, jwtVerify } from 'jose';
import { hostIdentity, UnauthorizedError, type Identity } from '../core/authz.ts';

const ISSUER = 'skiff';
export const HOST_TOKEN_AUDIENCE = 'skiff-host';
/** A host token lives as long as a local cluster may run without a restart (which issues new ones): 30 days. */
export const HOST_TOKEN_TTL_SECONDS = 30 * 86_400;

export class HostTokenSigner {
  constructor(private readonly key: Uint8Array) {
    if (key.length < 32) throw new Error('the host token signing key must be at least 32 bytes');
  }

  /**
   * A host token, signed synchronously (node:crypto's HMAC, the compact JWS of RFC 7515 that jose
   * verifies): the local cluster configures an agent's environment in synchronous code.
   */
  issue(hostId: string, now: Date): string {
    const iat = Math.floor(now.getTime() / 1000);
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const head = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({
      host: hostId,
      iss: ISSUER,
      aud: HOST_TOKEN_AUDIENCE,
      sub: `host:${hostId}`,
      iat,
      exp: iat + HOST_TOKEN_TTL_SECONDS,
    })}`;
    return `${head}.${createHmac('sha256', this.key).update(head).digest('base64url')}`;
  }

  /**
   * True when `token` is this signer's, for `hostId`, and valid for at least `minRemainingMs` more:
   * synchronous, for the local cluster deciding whether a running agent keeps its token.
   */
  isCurrent(token: string, hostId: string, now: Date, minRemainingMs: number): boolean {
    const parts = token.split('.');
    if (parts.length !== 3) return false;
    const expected = createHmac('sha256', this.key).update(`${parts[0]}.${parts[1]}`).digest();
    const given = Buffer.from(parts[2], 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return false;
    let claims: { host?: unknown; exp?: unknown; aud?: unknown; iss?: unknown };
    try {
      claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    } catch {
      return false;
    }
    return (
      claims.host === hostId &&
      claims.aud === HOST_TOKEN_AUDIENCE &&
      claims.iss === ISSUER &&
      typeof claims.exp === 'number' &&
      claims.exp * 1000 - now.getTime() >= minRemainingMs
    );
  }

  /** The host identity a host token proves; `UnauthorizedError` otherwise. */
  async verify(token: string, now: Date): Promise<Identity> {
    let host: unknown;
    try {
      ({
        payload: { host },
      } = await jwtVerify(token, this.key, { algorithms: ['HS256'], issuer: ISSUER, audience: HOST_TOKEN_AUDIENCE, currentDate: now }));
    } catch (err) {
      throw new UnauthorizedError('the host token is not valid (expired, or not signed by this cluster): restart the agent with a new one', { cause: err });
    }
    if (typeof host !== 'string' || host === '') throw new UnauthorizedError('the host token names no host');
    return hostIdentity(host);
  }
}

/** True when a JWT (unverified) says it is a host token: the authenticator then verifies it as one. */
export function looksLikeHostToken(token: string): boolean {
  try {
    const { aud } = decodeJwt(token);
    return aud === HOST_TOKEN_AUDIENCE || (Array.isArray(aud) && aud.includes(HOST_TOKEN_AUDIENCE));
  } catch {
    return false;
  }
}
