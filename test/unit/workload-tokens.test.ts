import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeProtectedHeader } from 'jose';
import { MemorySigningKeyStore } from '../../adapters/memory/signing-keys.ts';
import { FileSigningKeyStore } from '../../adapters/fs/signing-key-file.ts';
import { checkIssuer, discoveryDocument, publicJwks, rotateSigningKeys, verifyWorkloadToken, WorkloadTokenIssuer } from '../../app/workload-tokens.ts';
import {
  applyKeyRotation,
  checkWorkloadTokenPolicy,
  DEFAULT_WORKLOAD_TOKEN_POLICY,
  planKeyRotation,
  tokenRenewalAt,
  type SigningKeyRecord,
} from '../../core/workload-identity.ts';

const ISSUER = 'http://127.0.0.1:7070';
const T0 = Date.parse('2026-12-01T00:00:00Z');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const web = { cluster: 'local', namespace: 'shop', service: 'web', task: 'web-1-abcde' };
const policy = DEFAULT_WORKLOAD_TOKEN_POLICY; // 1 h tokens, weekly rotation, 5 min skew

async function setup() {
  const store = new MemorySigningKeyStore();
  await rotateSigningKeys(store, T0);
  const issuer = new WorkloadTokenIssuer({ issuer: ISSUER, keys: store, cacheMs: 0 });
  return { store, issuer };
}

describe('workload tokens', () => {
  it('names the task and its service, and verifies against the JWKS the issuer serves', async () => {
    const { issuer } = await setup();
    const issued = await issuer.issue(web, T0);
    expect(issued.expiresAt).toBe(new Date(T0 + HOUR).toISOString());
    const claims = await verifyWorkloadToken(issued.token, await issuer.jwks(T0), { issuer: ISSUER, audience: 'skiff', now: T0 + 10_000 });
    expect(claims).toMatchObject({ ...web, sub: 'skiff:local:shop:web', jti: issued.id });
    expect(decodeProtectedHeader(issued.token)).toMatchObject({ alg: 'ES256', kid: issued.kid, typ: 'JWT' });
  });

  it('fails after expiry, with the wrong audience, the wrong issuer, and against another cluster’s keys', async () => {
    const { issuer } = await setup();
    const { token } = await issuer.issue(web, T0);
    const jwks = await issuer.jwks(T0);
    await expect(verifyWorkloadToken(token, jwks, { issuer: ISSUER, audience: 'skiff', now: T0 + HOUR + 1000 })).rejects.toThrow(/has expired/);
    await expect(verifyWorkloadToken(token, jwks, { issuer: ISSUER, audience: 'sts.amazonaws.com', now: T0 })).rejects.toThrow(/aud claim is wrong/);
    await expect(verifyWorkloadToken(token, jwks, { issuer: 'https://other.example', audience: 'skiff', now: T0 })).rejects.toThrow(/iss claim is wrong/);
    const other = await setup();
    await expect(verifyWorkloadToken(token, await other.issuer.jwks(T0), { issuer: ISSUER, audience: 'skiff', now: T0 })).rejects.toThrow(
      /key the JWKS does not hold/,
    );
    await expect(verifyWorkloadToken(`${token.slice(0, -4)}AAAA`, jwks, { issuer: ISSUER, audience: 'skiff', now: T0 })).rejects.toThrow(/does not verify/);
    await expect(verifyWorkloadToken('nonsense', jwks, { issuer: ISSUER, audience: 'skiff', now: T0 })).rejects.toThrow(/malformed/);
  });

  it('keeps verifying tokens of the previous key after a rotation, until they have all expired, then drops that key', async () => {
    const { store, issuer } = await setup();
    const beforeRotation = T0 + 7 * DAY - 1000;
    const old = await issuer.issue(web, beforeRotation);
    const rotatedAt = T0 + 7 * DAY;
    const r = await rotateSigningKeys(store, rotatedAt);
    expect(r.rotated).toBe(true);
    const fresh = await issuer.issue(web, rotatedAt);
    expect(fresh.kid).not.toBe(old.kid);
    // Both verify against the JWKS of now: the old key stays published while its tokens live.
    const jwks = await issuer.jwks(rotatedAt + 1000);
    expect(jwks.keys.map((k) => k.kid).sort()).toEqual([old.kid, fresh.kid].sort());
    await verifyWorkloadToken(old.token, jwks, { issuer: ISSUER, audience: 'skiff', now: rotatedAt + 1000 });
    // Still kept at the old token's expiry plus skew...
    expect((await rotateSigningKeys(store, rotatedAt + HOUR + 5 * 60_000)).dropped).toEqual([]);
    // ...and dropped once past the lifetime of its last token: its tokens no longer verify, the new one does.
    const past = rotatedAt + HOUR + 5 * 60_000 + 1000;
    expect((await rotateSigningKeys(store, past)).dropped).toEqual([old.kid]);
    const after = await issuer.jwks(past);
    expect(after.keys.map((k) => k.kid)).toEqual([fresh.kid]);
    await expect(verifyWorkloadToken(old.token, after, { issuer: ISSUER, audience: 'skiff', now: past, skewSeconds: 10 * 3600 })).rejects.toThrow(
      /key the JWKS does not hold/,
    );
    await verifyWorkloadToken(fresh.token, after, { issuer: ISSUER, audience: 'skiff', now: past - HOUR + 60_000 });
  });

  it('serves only public key members in the JWKS, and a discovery document naming it', async () => {
    const { store, issuer } = await setup();
    const [key] = await store.loadSigningKeys();
    expect((key.privateJwk as { d?: string }).d).toBeTruthy();
    const jwks = publicJwks([key]);
    expect(jwks.keys[0]).toEqual({ kty: 'EC', crv: 'P-256', x: expect.any(String), y: expect.any(String), kid: key.kid, alg: 'ES256', use: 'sig' });
    expect(JSON.stringify(await issuer.jwks(T0))).not.toContain('"d"');
    expect(discoveryDocument(ISSUER)).toMatchObject({
      issuer: ISSUER,
      jwks_uri: `${ISSUER}/.well-known/jwks.json`,
      id_token_signing_alg_values_supported: ['ES256'],
    });
  });

  it('refuses to issue before any key exists, saying when one will', async () => {
    const issuer = new WorkloadTokenIssuer({ issuer: ISSUER, keys: new MemorySigningKeyStore() });
    await expect(issuer.issue(web, T0)).rejects.toThrow(/no workload token signing key exists yet/);
  });

  it('writes the key set only when rotation changes it', async () => {
    const { store } = await setup();
    expect(store.saves).toBe(1);
    await rotateSigningKeys(store, T0 + DAY);
    expect(store.saves).toBe(1);
  });

  it('checks the issuer URL and the policy', () => {
    expect(() => checkIssuer('http://api.example.com')).toThrow(/https URL/);
    expect(() => checkIssuer('https://api.example.com/')).toThrow(/trailing slash/);
    expect(checkIssuer('https://abc.execute-api.eu-west-1.amazonaws.com')).toBe('https://abc.execute-api.eu-west-1.amazonaws.com');
    expect(() => checkWorkloadTokenPolicy({ ...policy, tokenTtlSeconds: 60 })).toThrow(/tokenTtlSeconds must be/);
    expect(() => checkWorkloadTokenPolicy({ ...policy, rotateAfterSeconds: 100 })).toThrow(/rotateAfterSeconds/);
  });
});

describe('key rotation plan', () => {
  const key = (kid: string, createdAt: number, retiredAt?: number): SigningKeyRecord => ({ kid, createdAt, ...(retiredAt ? { retiredAt } : {}) });

  it.each([
    ['no key yet', [], T0, { rotate: true, drop: [] }],
    ['a young key', [key('a', T0)], T0 + DAY, { rotate: false, drop: [], current: 'a' }],
    ['a key of a week', [key('a', T0)], T0 + 7 * DAY, { rotate: true, drop: [] }],
    ['a retired key whose tokens live', [key('a', T0, T0 + 7 * DAY), key('b', T0 + 7 * DAY)], T0 + 7 * DAY + HOUR, { rotate: false, drop: [], current: 'b' }],
    [
      'a retired key past the token lifetime and skew',
      [key('a', T0, T0 + 7 * DAY), key('b', T0 + 7 * DAY)],
      T0 + 7 * DAY + HOUR + 300_001,
      { rotate: false, drop: ['a'], current: 'b' },
    ],
  ])('%s', (_name, keys, now, expected) => {
    expect(planKeyRotation(keys as SigningKeyRecord[], now, policy)).toEqual(expected);
  });

  it('retires the current key when rotating, and leaves the newer of two current keys signing', () => {
    const rotated = applyKeyRotation([key('a', T0)], planKeyRotation([key('a', T0)], T0 + 7 * DAY, policy), T0 + 7 * DAY, key('b', T0 + 7 * DAY));
    expect(rotated).toEqual([key('a', T0, T0 + 7 * DAY), key('b', T0 + 7 * DAY)]);
    const two = [key('a', T0), key('b', T0 + 1000)];
    const plan = planKeyRotation(two, T0 + 2000, policy);
    expect(plan.current).toBe('b');
    expect(applyKeyRotation(two, plan, T0 + 2000)).toEqual([key('a', T0, T0 + 2000), key('b', T0 + 1000)]);
  });

  it('renews a token at 80% of its life', () => {
    expect(tokenRenewalAt(T0, T0 + HOUR)).toBe(T0 + 48 * 60_000);
  });
});

describe('FileSigningKeyStore', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('keeps the keys in a 0600 file across instances, and refuses a file of another format', async () => {
    dir = await mkdtemp(join(tmpdir(), 'skiff-keys-'));
    const file = join(dir, 'identity', 'signing-keys.json');
    const first = new FileSigningKeyStore(file);
    expect(await first.loadSigningKeys()).toEqual([]);
    const { keys } = await rotateSigningKeys(first, T0);
    expect(await new FileSigningKeyStore(file).loadSigningKeys()).toEqual(keys);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const { writeFile } = await import('node:fs/promises');
    await writeFile(file, '{"format":"other","keys":[]}');
    await expect(first.loadSigningKeys()).rejects.toThrow(/is not in format skiff-signing-keys\/1/);
  });
});
