/**
 * Bearer tokens Skiff signs itself (local mode, `skiff token create`): JWTs signed with HS256
 * (jose) under a 32-byte key that only the control plane holds (`<dataDir>/token-key`, 0600), each
 * naming one namespace and one role, with an id (`jti`) that the revocation list can name and an
 * expiry. And the authenticator that turns an `Authorization` header into an `Identity`: the
 * cluster's admin token (`<dataDir>/token`, unchanged from before tokens were signed), else a
 * signed token that is well-formed, signed by this key, not expired and not revoked.
 *
 * Why HS256: the issuer and the verifier are the same process (the local API), so a shared secret
 * suffices and nothing public has to be distributed; asymmetric keys would add nothing here.
 */
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { errors, jwtVerify, SignJWT } from 'jose';
import {
  identityFromTokenClaims,
  LOCAL_ADMIN,
  parseNamespaceRole,
  UnauthorizedError,
  type Identity,
  type NamespaceRole,
  type SkiffTokenClaims,
} from '../core/authz.ts';
import { ValidationError } from '../core/errors.ts';
import type { TokenRevocationStore } from '../ports/tenancy.ts';
import { looksLikeHostToken, type HostTokenSigner } from './host-tokens.ts';

const ISSUER = 'skiff';
const AUDIENCE = 'skiff-api';
const ALG = 'HS256';

/** The longest a token may live (`--ttl`): a year. Revocation covers what must end sooner. */
export const MAX_TOKEN_TTL_SECONDS = 365 * 24 * 3600;
/** `--ttl` when not given. */
export const DEFAULT_TOKEN_TTL_SECONDS = 7 * 24 * 3600;

export interface IssuedToken {
  readonly token: string;
  /** The token's id (`jti`): what `skiff token revoke` and audit events name. */
  readonly id: string;
  readonly namespace: string;
  readonly role: NamespaceRole;
  readonly expiresAt: string;
}

/** Issues and verifies the cluster's signed tokens. */
export class TokenSigner {
  constructor(private readonly key: Uint8Array) {
    if (key.length < 32) throw new Error('the token signing key must be at least 32 bytes');
  }

  async issue(req: { namespace: string; role: NamespaceRole; name?: string; ttlSeconds: number }, now: Date): Promise<IssuedToken> {
    const id = randomUUID();
    const iat = Math.floor(now.getTime() / 1000);
    const exp = iat + req.ttlSeconds;
    const token = await new SignJWT({ ns: req.namespace, role: req.role })
      .setProtectedHeader({ alg: ALG, typ: 'JWT' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject(req.name ?? id.slice(0, 8))
      .setJti(id)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .sign(this.key);
    return { token, id, namespace: req.namespace, role: req.role, expiresAt: new Date(exp * 1000).toISOString() };
  }

  /**
   * The claims of a token this key signed; `UnauthorizedError` saying what is wrong otherwise.
   * `allowExpired` is for revoking: an expired token may still be named.
   */
  async verify(token: string, now: Date, { allowExpired = false } = {}): Promise<SkiffTokenClaims & { exp: number }> {
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, this.key, {
        algorithms: [ALG],
        issuer: ISSUER,
        audience: AUDIENCE,
        currentDate: now,
        ...(allowExpired ? { clockTolerance: MAX_TOKEN_TTL_SECONDS * 10 } : {}),
      }));
    } catch (err) {
      throw new UnauthorizedError(tokenProblem(err), { cause: err });
    }
    const { sub, jti, ns, role, exp } = payload;
    const parsedRole = parseNamespaceRole(role);
    if (typeof sub !== 'string' || typeof jti !== 'string' || jti === '' || typeof ns !== 'string' || ns === '' || !parsedRole || typeof exp !== 'number')
      throw new UnauthorizedError('the token is malformed: it lacks the sub, jti, ns, role or exp claim that Skiff tokens carry');
    return { sub, jti, ns, role: parsedRole, exp };
  }
}

function tokenProblem(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'the token has expired: ask for a new one (skiff token create)';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'the token is not signed by this cluster (wrong signature)';
  if (err instanceof errors.JWTClaimValidationFailed) return `the token is not one of this cluster's: its ${err.claim} claim is wrong`;
  if (err instanceof errors.JOSEAlgNotAllowed) return "the token is not one of this cluster's: it is not signed with HS256";
  return "the token is malformed: it is neither this cluster's admin token nor a signed token (header.payload.signature)";
}

export interface LocalAuthOptions {
  /** The cluster's admin token (`<dataDir>/token`): cluster-admin. */
  readonly adminToken: string;
  readonly signer: TokenSigner;
  readonly revocations: Pick<TokenRevocationStore, 'isTokenRevoked'>;
  readonly now: () => Date;
  /** Verifies agents' host tokens (app/host-tokens.ts); absent: no host may call. */
  readonly hosts?: HostTokenSigner;
}

/** Local mode's authenticator: the `Authorization` header in, an identity out, or `UnauthorizedError`. */
export function localAuthenticator(opts: LocalAuthOptions): (authorization: string | undefined) => Promise<Identity> {
  return async (authorization) => {
    if (!authorization) throw new UnauthorizedError(`missing Authorization: Bearer <token>: ${WHERE_TOKENS_ARE}`);
    const m = /^Bearer +(\S+) *$/i.exec(authorization);
    if (!m) throw new UnauthorizedError(`the Authorization header is not "Bearer <token>": ${WHERE_TOKENS_ARE}`);
    const token = m[1];
    if (sameSecret(token, opts.adminToken)) return LOCAL_ADMIN;
    if (token.split('.').length !== 3) throw new UnauthorizedError(`the bearer token is wrong: ${WHERE_TOKENS_ARE}`);
    if (opts.hosts && looksLikeHostToken(token)) return opts.hosts.verify(token, opts.now());
    const claims = await opts.signer.verify(token, opts.now());
    if (await opts.revocations.isTokenRevoked(claims.jti)) throw new UnauthorizedError(`the token ${claims.jti} has been revoked`);
    return identityFromTokenClaims(claims);
  };
}

const WHERE_TOKENS_ARE =
  "the local cluster's admin token is in <data dir>/token (the CLI sends it; --token or $SKIFF_TOKEN override it), and skiff token create issues others";

/** Compares in time independent of the content: both sides hashed first. */
function sameSecret(a: string, b: string): boolean {
  const digest = (v: string) => createHash('sha256').update(v).digest();
  return timingSafeEqual(digest(a), digest(b));
}

/** `90s`, `15m`, `24h`, `30d` (or a bare number of seconds) → seconds, within 1 minute .. MAX_TOKEN_TTL_SECONDS. */
export function parseTtl(text: unknown): number {
  const m = typeof text === 'string' ? /^(\d{1,9})([smhd]?)$/.exec(text.trim()) : typeof text === 'number' ? [String(text), String(text), ''] : null;
  if (!m) throw new ValidationError([{ path: 'ttl', message: `must be a duration such as 90m, 24h or 30d; got ${JSON.stringify(text)?.slice(0, 40)}` }]);
  const seconds = Number(m[1]) * ({ '': 1, s: 1, m: 60, h: 3600, d: 86400 } as Record<string, number>)[m[2]];
  if (!Number.isSafeInteger(seconds) || seconds < 60 || seconds > MAX_TOKEN_TTL_SECONDS)
    throw new ValidationError([{ path: 'ttl', message: `must be from 1m to ${MAX_TOKEN_TTL_SECONDS / 86400}d; got ${JSON.stringify(text)}` }]);
  return seconds;
}
