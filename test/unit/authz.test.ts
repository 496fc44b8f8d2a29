/**
 * The decision code of core/authz.ts with AWS-shaped identities (what API Gateway's IAM and JWT
 * authorizers put in the request context), as the local matrix test exercises it with tokens.
 */
import { describe, expect, it } from 'vitest';
import {
  allows,
  authorize,
  bindingFromGroup,
  ForbiddenError,
  identityFromAws,
  mayGrant,
  namespacesAllowed,
  principalOf,
  UnauthorizedError,
} from '../../core/authz.ts';

const ROLE_ARN = 'arn:aws:iam::111122223333:role/ShopDeployer';
const iamSession = { iam: { userArn: 'arn:aws:sts::111122223333:assumed-role/ShopDeployer/ci-run-42', accountId: '111122223333' } };
const cognito = (groups: string) => ({ jwt: { claims: { sub: 'abc-123', 'cognito:username': 'alice', 'cognito:groups': groups } } });

describe('identities from API Gateway authorizer contexts', () => {
  it('an assumed-role session is its role, bound per the configured map', () => {
    const who = identityFromAws(iamSession, { bindings: { [ROLE_ARN]: [{ role: 'edit', namespace: 'shop' }] } });
    expect(who).toEqual({ subject: ROLE_ARN, source: 'iam', bindings: [{ role: 'edit', namespace: 'shop' }] });
    expect(principalOf('arn:aws:iam::1:user/bob')).toBe('arn:aws:iam::1:user/bob');
  });

  it('without a map every IAM principal is a cluster admin; with one, an unlisted principal has no role unless "*" gives one', () => {
    expect(identityFromAws(iamSession).bindings).toEqual([{ role: 'cluster-admin' }]);
    expect(identityFromAws(iamSession, { bindings: {} }).bindings).toEqual([]);
    expect(identityFromAws(iamSession, { bindings: { '*': [{ role: 'view', namespace: 'public' }] } }).bindings).toEqual([
      { role: 'view', namespace: 'public' },
    ]);
  });

  it('a Cognito user gets the roles its skiff: groups name, as the JWT authorizer passes them ("[a b]")', () => {
    const who = identityFromAws(cognito('[skiff:shop:edit skiff:web:view other-group]'));
    expect(who.subject).toBe('cognito:alice');
    expect(who.bindings).toEqual([
      { role: 'edit', namespace: 'shop' },
      { role: 'view', namespace: 'web' },
    ]);
    expect(identityFromAws(cognito('skiff:cluster-admin')).bindings).toEqual([{ role: 'cluster-admin' }]);
    expect(bindingFromGroup('skiff:Shop:edit')).toBeUndefined();
    expect(bindingFromGroup('skiff:shop:owner')).toBeUndefined();
  });

  it('no authorizer context at all is a 401', () => {
    expect(() => identityFromAws(undefined)).toThrow(UnauthorizedError);
    expect(() => identityFromAws({ jwt: { claims: {} } })).toThrow(/no sub or username/);
  });
});

describe('decisions', () => {
  const deployer = identityFromAws(iamSession, { bindings: { [ROLE_ARN]: [{ role: 'edit', namespace: 'shop' }] } });
  const alice = identityFromAws(cognito('[skiff:shop:admin]'));
  const root = identityFromAws(iamSession);

  it.each([
    ['services:write', 'shop', true],
    ['services:delete', 'shop', true],
    ['services:read', 'shop', true],
    ['tokens:create', 'shop', false],
    ['services:read', 'web', false],
    ['services:write', 'web', false],
    ['hosts:drain', undefined, false],
    ['hosts:read', undefined, false],
    ['namespaces:write', undefined, false],
  ] as const)('an edit role in shop: %s in %s → %s', (action, ns, expected) => {
    expect(allows(deployer, action, ns)).toBe(expected);
  });

  it('the cluster admin may do anything anywhere', () => {
    for (const action of ['hosts:drain', 'namespaces:delete', 'services:write', 'tokens:revoke-any'] as const) expect(allows(root, action, 'any')).toBe(true);
  });

  it('a refusal is a 403 that names the permission, the namespace and what the caller has', () => {
    try {
      authorize(deployer, 'services:write', 'web');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ForbiddenError);
      const e = err as ForbiddenError;
      expect(e.status).toBe(403);
      expect(e.toJSON()).toMatchObject({ error: 'ForbiddenError', permission: 'services:write', namespace: 'web' });
      expect(e.message).toBe(`${ROLE_ARN} lacks permission services:write in namespace web (it needs role edit or above there; it has edit in shop)`);
    }
    expect(() => authorize(alice, 'hosts:drain')).toThrow(/lacks permission hosts:drain on the cluster \(it needs role cluster-admin/);
  });

  it('lists see only the namespaces a role grants, and an admin grants only its own role or less', () => {
    expect(namespacesAllowed(root, 'services:read')).toBe('all');
    expect([...(namespacesAllowed(alice, 'services:read') as Set<string>)]).toEqual(['shop']);
    expect(mayGrant(alice, { role: 'admin', namespace: 'shop' })).toBe(true);
    expect(mayGrant(alice, { role: 'view', namespace: 'web' })).toBe(false);
    expect(mayGrant(alice, { role: 'cluster-admin' })).toBe(false);
    expect(mayGrant(deployer, { role: 'view', namespace: 'shop' })).toBe(false);
  });
});

describe('SKIFF_IAM_BINDINGS', () => {
  it('maps principals to bindings, and refuses a malformed map naming the variable', async () => {
    const { iamBindingsFromEnv } = await import('../../app/handlers/api.ts');
    expect(iamBindingsFromEnv({})).toEqual({});
    const map = { [ROLE_ARN]: [{ role: 'edit', namespace: 'shop' }], '*': [{ role: 'cluster-admin' }] };
    expect(iamBindingsFromEnv({ SKIFF_IAM_BINDINGS: JSON.stringify(map) })).toEqual({ bindings: map });
    expect(() => iamBindingsFromEnv({ SKIFF_IAM_BINDINGS: '{' })).toThrow(/SKIFF_IAM_BINDINGS is not JSON/);
    expect(() => iamBindingsFromEnv({ SKIFF_IAM_BINDINGS: JSON.stringify({ x: [{ role: 'owner', namespace: 'shop' }] }) })).toThrow(/gives x the binding/);
    expect(() => iamBindingsFromEnv({ SKIFF_IAM_BINDINGS: JSON.stringify({ x: [{ role: 'edit' }] }) })).toThrow(/SKIFF_IAM_BINDINGS/);
  });
});
