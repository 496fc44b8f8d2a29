/**
 * Who may do what (issue 14): identities, roles bound to them per namespace, and the one decision
 * every API route asks for. Pure: the shells turn a bearer token, an IAM principal or a Cognito
 * JWT into an `Identity` (the mapping of AWS-shaped contexts is here too, so it is unit-tested with
 * the same decision code), and the API core calls `authorize` before it reads or writes anything.
 *
 * Roles, from least to most (docs/security.md has the table):
 * - view: read the namespace's services, tasks, events and the namespace itself;
 * - edit: view, plus apply, scale and delete services;
 * - admin: edit, plus issue and revoke tokens for the namespace (never above admin);
 * - cluster-admin: everything in every namespace, plus what belongs to no namespace: hosts and
 *   drains, creating, changing (quotas, ingress suffixes) and deleting namespaces, cluster events.
 */
import { SkiffError } from './errors.ts';

export type NamespaceRole = 'admin' | 'edit' | 'view';
export type Role = 'cluster-admin' | NamespaceRole;
export const NAMESPACE_ROLES: readonly NamespaceRole[] = ['admin', 'edit', 'view'];

/** A role given to an identity: cluster-wide, or in one namespace. */
export type Binding = { readonly role: 'cluster-admin' } | { readonly role: NamespaceRole; readonly namespace: string };

/** Where an identity was established. */
export type IdentitySource = 'local-admin' | 'token' | 'iam' | 'cognito' | 'host' | 'anonymous';

export interface Identity {
  /** Who, as audit events and refusals name it: `local-admin`, `token:ci@shop`, an IAM role ARN, `cognito:alice`, `host:i-0abc`. */
  readonly subject: string;
  readonly source: IdentitySource;
  readonly bindings: readonly Binding[];
  /** A host's agent (source `host`): the host's id. Hosts have no role: only routes made for them accept them. */
  readonly host?: string;
}

/** The caller of a public route (the OIDC discovery document, the JWKS): no role, nothing else is open to it. */
export const ANONYMOUS: Identity = { subject: 'anonymous', source: 'anonymous', bindings: [] };

/** A host's agent, proved by its host token (local mode) or its instance's session of the host role (AWS). */
export function hostIdentity(hostId: string): Identity {
  return { subject: `host:${hostId}`, source: 'host', bindings: [], host: hostId };
}

/** Permissions within a namespace. */
export type NamespaceAction =
  | 'services:read'
  | 'services:write'
  | 'services:delete'
  | 'tasks:read'
  | 'events:read'
  | 'namespaces:read'
  | 'tokens:create'
  | 'tokens:revoke';

/** Permissions over what belongs to no namespace: cluster-admin's alone. */
export type ClusterAction = 'hosts:read' | 'hosts:drain' | 'namespaces:write' | 'namespaces:delete' | 'events:read-cluster' | 'tokens:revoke-any';

export type Action = NamespaceAction | ClusterAction;

const VIEW: readonly NamespaceAction[] = ['services:read', 'tasks:read', 'events:read', 'namespaces:read'];
const EDIT: readonly NamespaceAction[] = [...VIEW, 'services:write', 'services:delete'];
const ADMIN: readonly NamespaceAction[] = [...EDIT, 'tokens:create', 'tokens:revoke'];

/** What each namespace role may do in its namespace. */
export const ROLE_ACTIONS: Readonly<Record<NamespaceRole, readonly NamespaceAction[]>> = { view: VIEW, edit: EDIT, admin: ADMIN };

const CLUSTER_ACTIONS: ReadonlySet<string> = new Set<ClusterAction>([
  'hosts:read',
  'hosts:drain',
  'namespaces:write',
  'namespaces:delete',
  'events:read-cluster',
  'tokens:revoke-any',
]);

/** A request refused for lack of a permission: 403, naming it. */
export class ForbiddenError extends SkiffError {
  override readonly status = 403;
  readonly permission: Action;
  readonly namespace: string | undefined;
  constructor(message: string, permission: Action, namespace?: string) {
    super(message);
    this.name = 'ForbiddenError';
    this.permission = permission;
    this.namespace = namespace;
  }
  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), permission: this.permission, ...(this.namespace === undefined ? {} : { namespace: this.namespace }) };
  }
}

/** No identity could be established (no token, a malformed, expired, wrongly signed or revoked one): 401. */
export class UnauthorizedError extends SkiffError {
  override readonly status = 401;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UnauthorizedError';
  }
}

export function isClusterAdmin(identity: Identity): boolean {
  return identity.bindings.some((b) => b.role === 'cluster-admin');
}

/** True when the identity may do `action` (in `namespace`, for a namespace action). */
export function allows(identity: Identity, action: Action, namespace?: string): boolean {
  if (isClusterAdmin(identity)) return true;
  if (CLUSTER_ACTIONS.has(action) || namespace === undefined) return false;
  return identity.bindings.some((b) => b.role !== 'cluster-admin' && b.namespace === namespace && ROLE_ACTIONS[b.role].includes(action as NamespaceAction));
}

/** Throws a `ForbiddenError` naming the missing permission unless `allows`. */
export function authorize(identity: Identity, action: Action, namespace?: string): void {
  if (allows(identity, action, namespace)) return;
  const where = CLUSTER_ACTIONS.has(action) ? 'on the cluster' : namespace === undefined ? 'in every namespace' : `in namespace ${namespace}`;
  const needs =
    CLUSTER_ACTIONS.has(action) || namespace === undefined ? 'role cluster-admin' : `role ${leastRoleFor(action as NamespaceAction)} or above there`;
  throw new ForbiddenError(
    `${identity.subject} lacks permission ${action} ${where} (it needs ${needs}; it has ${describeBindings(identity.bindings)})`,
    action,
    namespace,
  );
}

/**
 * The namespaces in which the identity may do `action`: 'all' for a cluster-admin, else the
 * namespaces of its bindings that grant it. Lists filter by it, so a tenant sees only its own.
 */
export function namespacesAllowed(identity: Identity, action: NamespaceAction): 'all' | ReadonlySet<string> {
  if (isClusterAdmin(identity)) return 'all';
  const out = new Set<string>();
  for (const b of identity.bindings) if (b.role !== 'cluster-admin' && ROLE_ACTIONS[b.role].includes(action)) out.add(b.namespace);
  return out;
}

/** A namespace admin may hand out its own role or a lesser one, in its namespace only. */
export function mayGrant(identity: Identity, binding: Binding): boolean {
  if (isClusterAdmin(identity)) return true;
  if (binding.role === 'cluster-admin') return false;
  return allows(identity, 'tokens:create', binding.namespace);
}

function leastRoleFor(action: NamespaceAction): NamespaceRole {
  return (['view', 'edit', 'admin'] as const).find((r) => ROLE_ACTIONS[r].includes(action)) ?? 'admin';
}

function describeBindings(bindings: readonly Binding[]): string {
  if (bindings.length === 0) return 'no role';
  return bindings.map((b) => (b.role === 'cluster-admin' ? 'cluster-admin' : `${b.role} in ${b.namespace}`)).join(', ');
}

// --- Identities from what the shells receive -------------------------------------------------

/** The claims of a token Skiff signs (local mode's `skiff token create`); checked by the verifier first. */
export interface SkiffTokenClaims {
  readonly sub: string;
  readonly jti: string;
  readonly ns: string;
  readonly role: NamespaceRole;
}

export function identityFromTokenClaims(claims: SkiffTokenClaims): Identity {
  return { subject: `token:${claims.sub}@${claims.ns}`, source: 'token', bindings: [{ role: claims.role, namespace: claims.ns }] };
}

/** The local cluster's own admin token (`<dataDir>/token`, written by `skiff local up`). */
export const LOCAL_ADMIN: Identity = { subject: 'local-admin', source: 'local-admin', bindings: [{ role: 'cluster-admin' }] };

/**
 * API Gateway's `requestContext.authorizer` (HTTP API, payload 2.0) for the two authorizers the
 * stack puts on the API: `iam` (SigV4) and `jwt` (the Cognito user pool). Claims arrive as strings;
 * a list claim such as `cognito:groups` arrives as `[a b]` from the JWT authorizer.
 */
export interface AwsAuthorizerContext {
  readonly iam?: { readonly userArn?: string; readonly accountId?: string; readonly userId?: string };
  readonly jwt?: { readonly claims?: Readonly<Record<string, unknown>> };
}

/**
 * Who IAM principals are. `bindings` maps a principal (an IAM role or user ARN; an assumed-role
 * session counts as its role) to its roles. Without a map, every principal that IAM let through
 * is a cluster-admin: only the account's administrators grant `execute-api:Invoke`, and their IAM
 * policies can scope it by path (`/v1/namespaces/shop/*`). With a map, a principal not in it has
 * no role; the key `*` gives every other principal its bindings.
 */
export interface IamBindingConfig {
  readonly bindings?: Readonly<Record<string, readonly Binding[]>>;
  /**
   * The hosts' IAM role (`arn:aws:iam::1:role/SkiffHostRole`): a session of it named by an instance id
   * (EC2 names instance profile sessions so) is that host's agent, with no role in any namespace.
   */
  readonly hostRoleArn?: string;
}

/** Cognito group names that give roles: `skiff:cluster-admin`, `skiff:<namespace>:<admin|edit|view>`. */
export function bindingFromGroup(group: string): Binding | undefined {
  if (group === 'skiff:cluster-admin') return { role: 'cluster-admin' };
  const m = /^skiff:([a-z0-9]([-a-z0-9]*[a-z0-9])?):(admin|edit|view)$/.exec(group);
  return m ? { role: m[3] as NamespaceRole, namespace: m[1] } : undefined;
}

/** The identity API Gateway vouched for, or an `UnauthorizedError` when it vouched for none. */
export function identityFromAws(ctx: AwsAuthorizerContext | undefined, config: IamBindingConfig = {}): Identity {
  const claims = ctx?.jwt?.claims;
  if (claims) {
    const name = [claims['cognito:username'], claims.username, claims.sub].find((v): v is string => typeof v === 'string' && v !== '');
    if (!name) throw new UnauthorizedError('the JWT carries no sub or username claim');
    const groups = parseListClaim(claims['cognito:groups']);
    const bindings = groups.map(bindingFromGroup).filter((b): b is Binding => b !== undefined);
    return { subject: `cognito:${name}`, source: 'cognito', bindings };
  }
  const arn = ctx?.iam?.userArn;
  if (typeof arn === 'string' && arn !== '') {
    const principal = principalOf(arn);
    if (config.hostRoleArn !== undefined && principal === config.hostRoleArn) {
      const session = /\/(i-[0-9a-f]{8,17})$/.exec(arn);
      if (!session) throw new UnauthorizedError(`a session of the host role that is not named by an instance id (${arn}) is no host`);
      return hostIdentity(session[1]);
    }
    const map = config.bindings;
    const bindings = map === undefined ? [{ role: 'cluster-admin' } as const] : (map[principal] ?? map[arn] ?? map['*'] ?? []);
    return { subject: principal, source: 'iam', bindings };
  }
  throw new UnauthorizedError('the request carries no identity: sign it (SigV4) or send a Cognito token (skiff login)');
}

/** `arn:aws:sts::1:assumed-role/Deployer/session` → `arn:aws:iam::1:role/Deployer`: bindings name roles, not sessions. */
export function principalOf(arn: string): string {
  const m = /^arn:([^:]+):sts::(\d+):assumed-role\/([^/]+)\/.+$/.exec(arn);
  return m ? `arn:${m[1]}:iam::${m[2]}:role/${m[3]}` : arn;
}

function parseListClaim(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  if (typeof value !== 'string') return [];
  return value
    .replace(/^\[|\]$/g, '')
    .split(/[\s,]+/)
    .filter((v) => v !== '');
}

/** Parses `--role` values and the like; undefined when it is not a namespace role. */
export function parseNamespaceRole(value: unknown): NamespaceRole | undefined {
  return NAMESPACE_ROLES.includes(value as NamespaceRole) ? (value as NamespaceRole) : undefined;
}
