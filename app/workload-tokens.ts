/**
 * Workload identity tokens (docs/identity.md): a JWT per task, signed by the control plane with an
 * asymmetric key (ES256, jose), naming the task's cluster, namespace, service and task, with an
 * audience and a lifetime of an hour; the OIDC discovery document and the JWKS that verify it,
 * served without authentication by the API.
 *
 * Why asymmetric (the API's own tokens are HS256, app/tokens.ts): the verifiers here are not the
 * issuer (other applications, outside systems, AWS IAM as an OIDC provider), so they must be able to
 * check a token without being able to make one.
 *
 * Rotation has one writer (`rotateSigningKeys`: the scheduler pass, one at a time on AWS; the local
 * control plane's one process), so the key set needs no conditional write; the API only reads it.
 */
import { randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, createLocalJWKSet, errors, exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT, type JWK } from 'jose';
import { SkiffError, UnavailableError } from '../core/errors.ts';
import { UnauthorizedError } from '../core/authz.ts';
import {
  applyKeyRotation,
  DEFAULT_WORKLOAD_TOKEN_POLICY,
  planKeyRotation,
  workloadSub,
  type WorkloadSubject,
  type WorkloadTokenPolicy,
} from '../core/workload-identity.ts';
import type { SigningKeyStore, StoredSigningKey } from '../ports/workload-identity.ts';

/** The signing algorithm: ECDSA P-256, which AWS IAM's OIDC providers, Vault and every JOSE library accept. */
export const WORKLOAD_TOKEN_ALG = 'ES256';
/** The audience of tokens when the cluster is given none: the string an IAM OIDC provider lists as its client id. */
export const DEFAULT_WORKLOAD_AUDIENCE = 'skiff';
import { JWKS_PATH } from './public-routes.ts';

/** A token issued to a task. */
export interface IssuedWorkloadToken {
  readonly token: string;
  /** The token's `jti`: what the audit event names. */
  readonly id: string;
  readonly kid: string;
  readonly issuedAt: string;
  readonly expiresAt: string;
}

/** The claims of a verified token. */
export interface WorkloadTokenClaims extends WorkloadSubject {
  readonly sub: string;
  readonly jti: string;
  readonly exp: number;
  readonly iat: number;
}

/** Makes a new ES256 key pair, its id the RFC 7638 thumbprint of its public key. */
export async function generateSigningKey(now: number): Promise<StoredSigningKey> {
  const { publicKey, privateKey } = await generateKeyPair(WORKLOAD_TOKEN_ALG, { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  return { kid, alg: WORKLOAD_TOKEN_ALG, createdAt: now, publicJwk: { ...publicJwk, kid }, privateJwk: { ...(await exportJWK(privateKey)), kid } };
}

/**
 * Rotates the signing keys when due (a first key, or the current one older than the policy allows) and
 * drops the retired keys whose tokens have all expired. Writes only when something changed. Returns
 * the kept set. Must run in one place at a time (see the file's comment).
 */
export async function rotateSigningKeys(
  store: SigningKeyStore,
  now: number,
  policy: WorkloadTokenPolicy = DEFAULT_WORKLOAD_TOKEN_POLICY,
  generate: (now: number) => Promise<StoredSigningKey> = generateSigningKey,
): Promise<{ keys: StoredSigningKey[]; rotated: boolean; dropped: readonly string[] }> {
  const keys = await store.loadSigningKeys();
  const plan = planKeyRotation(keys, now, policy);
  if (!plan.rotate && plan.drop.length === 0) return { keys, rotated: false, dropped: [] };
  const next = applyKeyRotation(keys, plan, now, plan.rotate ? await generate(now) : undefined);
  await store.saveSigningKeys(next);
  return { keys: next, rotated: plan.rotate, dropped: plan.drop };
}

/** The public half of the kept keys, as a JWKS (RFC 7517): what the API serves at JWKS_PATH. */
export function publicJwks(keys: readonly StoredSigningKey[]): { keys: JWK[] } {
  return {
    keys: keys.map((k) => {
      // Only the public members: a private JWK's `d` never leaves the control plane.
      const { kty, crv, x, y, n, e } = k.publicJwk as JWK;
      return Object.fromEntries(Object.entries({ kty, crv, x, y, n, e, kid: k.kid, alg: k.alg, use: 'sig' }).filter(([, v]) => v !== undefined)) as JWK;
    }),
  };
}

/** The OIDC discovery document (OpenID Connect Discovery 1.0, the fields a verifier of ID tokens reads). */
export function discoveryDocument(issuer: string): Record<string, unknown> {
  return {
    issuer,
    jwks_uri: `${issuer}${JWKS_PATH}`,
    response_types_supported: ['id_token'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: [WORKLOAD_TOKEN_ALG],
    claims_supported: ['sub', 'aud', 'exp', 'iat', 'nbf', 'iss', 'jti', 'cluster', 'namespace', 'service', 'task'],
  };
}

/** Checks an issuer URL: https, or http on loopback (local mode); no query or fragment, no trailing slash. */
export function checkIssuer(issuer: string): string {
  let url: URL;
  try {
    url = new URL(issuer);
  } catch (err) {
    throw new SkiffError(`the workload token issuer must be a URL, got ${JSON.stringify(issuer)}`, { cause: err });
  }
  const loopback = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/.test(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback))
    throw new SkiffError(`the workload token issuer must be an https URL (http only on loopback), got ${issuer}`);
  if (url.search || url.hash || issuer.endsWith('/'))
    throw new SkiffError(`the workload token issuer must have no query, fragment or trailing slash, got ${issuer}`);
  return issuer;
}

export interface WorkloadTokenIssuerOptions {
  /** The `iss` claim: the API's URL, where the discovery document is served. */
  readonly issuer: string;
  /** The `aud` claim. @default DEFAULT_WORKLOAD_AUDIENCE */
  readonly audience?: string;
  readonly keys: SigningKeyStore;
  /** @default DEFAULT_WORKLOAD_TOKEN_POLICY */
  readonly policy?: WorkloadTokenPolicy;
  /** How long the key set read from the store is reused. @default 60_000 */
  readonly cacheMs?: number;
}

/** Signs tasks' tokens with the current key of the store (it never rotates: see rotateSigningKeys). */
export class WorkloadTokenIssuer {
  readonly issuer: string;
  readonly audience: string;
  private readonly policy: WorkloadTokenPolicy;
  private cached: { at: number; keys: StoredSigningKey[] } | undefined;
  /** Private keys imported once per kid: an import costs about as much as a signature. */
  private readonly imported = new Map<string, Promise<CryptoKey | Uint8Array>>();

  constructor(private readonly options: WorkloadTokenIssuerOptions) {
    this.issuer = checkIssuer(options.issuer);
    this.audience = options.audience ?? DEFAULT_WORKLOAD_AUDIENCE;
    this.policy = options.policy ?? DEFAULT_WORKLOAD_TOKEN_POLICY;
  }

  /** The kept keys, from a cache of at most `cacheMs` (a minute: a new key is used within a minute of its rotation). */
  async keys(now: number): Promise<StoredSigningKey[]> {
    if (this.cached && now - this.cached.at < (this.options.cacheMs ?? 60_000) && now >= this.cached.at) return this.cached.keys;
    const keys = await this.options.keys.loadSigningKeys();
    this.cached = { at: now, keys };
    return keys;
  }

  async jwks(now: number): Promise<{ keys: JWK[] }> {
    return publicJwks(await this.keys(now));
  }

  discovery(): Record<string, unknown> {
    return discoveryDocument(this.issuer);
  }

  /** A token for the task, signed with the newest key in use. */
  async issue(subject: WorkloadSubject, now: number): Promise<IssuedWorkloadToken> {
    const keys = await this.keys(now);
    const current = keys.filter((k) => k.retiredAt === undefined).sort((a, b) => b.createdAt - a.createdAt)[0];
    if (!current) throw new UnavailableError('no workload token signing key exists yet: the control plane makes one at its next scheduler pass');
    const id = randomUUID();
    const iat = Math.floor(now / 1000);
    const exp = iat + this.policy.tokenTtlSeconds;
    if (!this.imported.has(current.kid)) {
      if (this.imported.size > 8) this.imported.clear();
      this.imported.set(current.kid, importJWK(current.privateJwk as JWK, current.alg));
    }
    const key = await this.imported.get(current.kid)!;
    const { cluster, namespace, service, task } = subject;
    const token = await new SignJWT({ cluster, namespace, service, task })
      .setProtectedHeader({ alg: current.alg, kid: current.kid, typ: 'JWT' })
      .setIssuer(this.issuer)
      .setAudience(this.audience)
      .setSubject(workloadSub(subject))
      .setJti(id)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(exp)
      .sign(key);
    return { token, id, kid: current.kid, issuedAt: new Date(iat * 1000).toISOString(), expiresAt: new Date(exp * 1000).toISOString() };
  }
}

/**
 * Verifies a workload token against a JWKS, as an application would (with the JWKS it fetched from the
 * issuer): signature by a published key, issuer, audience, expiry within `skewSeconds`. Throws
 * `UnauthorizedError` saying what is wrong.
 */
export async function verifyWorkloadToken(
  token: string,
  jwks: { keys: JWK[] },
  opts: { issuer: string; audience: string; now: number; skewSeconds?: number },
): Promise<WorkloadTokenClaims> {
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, createLocalJWKSet(jwks), {
      algorithms: [WORKLOAD_TOKEN_ALG],
      issuer: opts.issuer,
      audience: opts.audience,
      currentDate: new Date(opts.now),
      clockTolerance: opts.skewSeconds ?? 0,
    }));
  } catch (err) {
    throw new UnauthorizedError(workloadTokenProblem(err), { cause: err });
  }
  const { sub, jti, exp, iat, cluster, namespace, service, task } = payload;
  for (const [name, v] of Object.entries({ sub, jti, cluster, namespace, service, task }))
    if (typeof v !== 'string' || v === '') throw new UnauthorizedError(`the workload token lacks its ${name} claim`);
  if (typeof exp !== 'number' || typeof iat !== 'number') throw new UnauthorizedError('the workload token lacks its exp or iat claim');
  return { sub, jti, exp, iat, cluster, namespace, service, task } as WorkloadTokenClaims;
}

function workloadTokenProblem(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'the workload token has expired';
  if (err instanceof errors.JWKSNoMatchingKey) return 'the workload token is signed by a key the JWKS does not hold (rotated out, or another issuer)';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'the workload token signature does not verify';
  if (err instanceof errors.JWTClaimValidationFailed) return `the workload token's ${err.claim} claim is wrong (${err.reason})`;
  if (err instanceof errors.JOSEAlgNotAllowed) return `the workload token is not signed with ${WORKLOAD_TOKEN_ALG}`;
  return 'the workload token is malformed';
}
