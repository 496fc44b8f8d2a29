/**
 * Workload identity, the pure part (docs/identity.md): what a task's token says, when a token is
 * due for renewal, and when the control plane's signing keys rotate and which public keys the JWKS
 * must keep. No clock, no randomness, no crypto here: time comes in as milliseconds, new keys from
 * the caller.
 */
import { SkiffError } from './errors.ts';

/** Who a task is: what its workload token names. */
export interface WorkloadSubject {
  readonly cluster: string;
  readonly namespace: string;
  readonly service: string;
  readonly task: string;
}

/**
 * The token's `sub`: `skiff:<cluster>:<namespace>:<service>`, the service not the task, so that an
 * outside system (an IAM trust policy's `<issuer>:sub` condition, a peer service) trusts a service
 * once, not each of its replicas; the task is its own claim.
 */
export function workloadSub(s: Pick<WorkloadSubject, 'cluster' | 'namespace' | 'service'>): string {
  return `skiff:${s.cluster}:${s.namespace}:${s.service}`;
}

/** How long tokens live and keys rotate. */
export interface WorkloadTokenPolicy {
  /** A token's lifetime. */
  readonly tokenTtlSeconds: number;
  /** The signing key in use is replaced once it is this old. */
  readonly rotateAfterSeconds: number;
  /** Clock skew allowed between the issuer and verifiers. */
  readonly skewSeconds: number;
}

/**
 * One hour, Kubernetes' default for projected service account tokens: short enough that a leaked
 * token soon ends, long enough that an API outage of minutes never leaves a task without one (the
 * agent renews at 80%, leaving 12 minutes). Keys rotate weekly; 5 minutes of clock skew, as AWS STS
 * and most JWT verifiers allow.
 */
export const DEFAULT_WORKLOAD_TOKEN_POLICY: WorkloadTokenPolicy = {
  tokenTtlSeconds: 3600,
  rotateAfterSeconds: 7 * 86_400,
  skewSeconds: 300,
};

/** Checks a policy; a clear error naming the field otherwise. */
export function checkWorkloadTokenPolicy(p: WorkloadTokenPolicy): WorkloadTokenPolicy {
  const bad = (field: string, rule: string, value: unknown) => new SkiffError(`workload token policy: ${field} must be ${rule}, got ${String(value)}`);
  if (!Number.isInteger(p.tokenTtlSeconds) || p.tokenTtlSeconds < 600 || p.tokenTtlSeconds > 86_400)
    throw bad('tokenTtlSeconds', 'an integer from 600 (10 minutes) to 86400 (a day)', p.tokenTtlSeconds);
  if (!Number.isInteger(p.rotateAfterSeconds) || p.rotateAfterSeconds < p.tokenTtlSeconds)
    throw bad('rotateAfterSeconds', `an integer of at least tokenTtlSeconds (${p.tokenTtlSeconds})`, p.rotateAfterSeconds);
  if (!Number.isInteger(p.skewSeconds) || p.skewSeconds < 0 || p.skewSeconds > 3600) throw bad('skewSeconds', 'an integer from 0 to 3600', p.skewSeconds);
  return p;
}

/** What the control plane keeps of one signing key (the private part is stored encrypted, never served). */
export interface SigningKeyRecord {
  /** The key id, `kid` in the token header and the JWKS. */
  readonly kid: string;
  /** When it was made (ms since the epoch). */
  readonly createdAt: number;
  /** When a newer key took over signing (ms); absent on the key in use. */
  readonly retiredAt?: number;
}

/** What rotation does now: make a new signing key, and drop the keys no valid token can name any more. */
export interface KeyRotationPlan {
  /** True: a new key must be made and used from now on (none exists, or the current one is old). */
  readonly rotate: boolean;
  /** Keys whose every token has expired (retired longer ago than a token lives, plus skew): dropped from the JWKS. */
  readonly drop: readonly string[];
  /** The key to sign with, when `rotate` is false. */
  readonly current?: string;
}

/**
 * Which key signs, and which public keys the JWKS keeps. A retired key stays published until every
 * token it signed has expired: it signed its last token at `retiredAt`, which expires
 * `tokenTtlSeconds` later, and a verifier whose clock is `skewSeconds` behind still accepts it then.
 * Dropping it any sooner would break tokens in flight; keeping it longer only widens what a stolen
 * old key could sign for (nothing: the issuer never signs with it again).
 */
export function planKeyRotation(keys: readonly SigningKeyRecord[], now: number, policy: WorkloadTokenPolicy): KeyRotationPlan {
  const live = keys.filter((k) => k.retiredAt === undefined).sort((a, b) => b.createdAt - a.createdAt);
  const current = live[0];
  const rotate = current === undefined || now - current.createdAt >= policy.rotateAfterSeconds * 1000;
  const keepMs = (policy.tokenTtlSeconds + policy.skewSeconds) * 1000;
  // Two "current" keys (a race between two rotations) leave the newer one signing; the other is retired now.
  const retiredAt = (k: SigningKeyRecord) => k.retiredAt ?? (k === current && !rotate ? undefined : now);
  const drop = keys.filter((k) => {
    const at = retiredAt(k);
    return at !== undefined && now - at > keepMs;
  });
  return { rotate, drop: drop.map((k) => k.kid), ...(rotate ? {} : { current: current.kid }) };
}

/** The key set after `plan`: `made` (when rotating) signs, the current one retires now, the dropped ones go. */
export function applyKeyRotation<K extends SigningKeyRecord>(keys: readonly K[], plan: KeyRotationPlan, now: number, made?: K): K[] {
  if (plan.rotate && made === undefined) throw new SkiffError('applyKeyRotation: the plan rotates, and no new key was given');
  const dropped = new Set(plan.drop);
  const kept = keys.filter((k) => !dropped.has(k.kid)).map((k) => (k.retiredAt === undefined && k.kid !== plan.current ? { ...k, retiredAt: now } : k));
  return plan.rotate ? [...kept, made!] : kept;
}

/**
 * When a token issued at `issuedAt` and expiring at `expiresAt` (ms) should be replaced: at 80% of
 * its life, as the kubelet renews projected tokens. A task always holds a token with a fifth of its
 * lifetime left, which rides out a control plane outage of that long.
 */
export function tokenRenewalAt(issuedAt: number, expiresAt: number): number {
  return issuedAt + Math.floor((expiresAt - issuedAt) * 0.8);
}
