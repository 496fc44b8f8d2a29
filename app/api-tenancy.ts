/**
 * The API's tenancy routes (issue 14): namespaces as objects (`kind: Namespace`, quotas, ingress
 * host patterns), and tokens (issue, revoke). Part of the API core (app/api.ts mounts them); apart
 * so that the routes every other issue grows stay in one file and these in another.
 */
import { authorize, mayGrant, namespacesAllowed, ForbiddenError, parseNamespaceRole, type Identity } from '../core/authz.ts';
import { ConflictError, NotFoundError, ValidationError } from '../core/errors.ts';
import { jsonEqual } from '../core/json.ts';
import { namespaceUsage, parseNamespaceSpec, type Namespace } from '../core/namespace.ts';
import type { Store } from '../ports/index.ts';
import type { TenancyStore } from '../ports/tenancy.ts';
import type { ApiRequest, ApiResponse, Route } from './api.ts';
import { checkIfMatch, etag } from './conditional.ts';
import { DEFAULT_TOKEN_TTL_SECONDS, MAX_TOKEN_TTL_SECONDS, parseTtl, type TokenSigner } from './tokens.ts';

export interface TenancyRouteDeps {
  readonly store: Store;
  readonly tenancy: TenancyStore;
  readonly now: () => Date;
  readonly tokens: TokenSigner | undefined;
  readonly kick: () => Promise<void>;
  readonly audit: (who: Identity, type: string, message: string, about?: { namespace?: string; service?: string }) => Promise<void>;
  readonly parseBody: (req: ApiRequest) => unknown;
}

const NAMESPACE = /^\/v1\/namespaces\/(?<namespace>[^/]+)$/;

export function tenancyRoutes(d: TenancyRouteDeps): Route[] {
  const { store, tenancy } = d;

  /** A namespace as shown: its object (when it has one), what it uses, and whether it is going. */
  async function view(name: string, object: Namespace | undefined) {
    const services = await store.listServices(name);
    const used = namespaceUsage(services, name);
    return {
      name,
      /** False for a namespace that exists only through its services (no `kind: Namespace` applied). */
      object: object !== undefined,
      quota: object?.spec.spec.quota ?? null,
      ingressHosts: object?.spec.spec.ingressHosts ?? null,
      used,
      deleting: object?.deleting ?? null,
      version: object?.version ?? null,
    };
  }

  /**
   * The last step of a namespace's deletion, taken whenever the namespace is read: once the
   * scheduler has removed its last service, the object goes too. Idempotent.
   */
  async function finalize(ns: Namespace): Promise<Namespace | undefined> {
    if (!ns.deleting) return ns;
    if ((await store.listServices(ns.name)).length > 0) return ns;
    await tenancy.removeNamespace(ns.name);
    return undefined;
  }

  const listNamespaces = async (_req: ApiRequest, _p: Record<string, string>, who: Identity): Promise<ApiResponse> => {
    const allowed = namespacesAllowed(who, 'namespaces:read');
    const [objects, services] = await Promise.all([tenancy.listNamespaces(), store.listServices()]);
    const live = (await Promise.all(objects.map(finalize))).filter((n): n is Namespace => n !== undefined);
    const names = new Set([...live.map((n) => n.name), ...services.map((s) => s.namespace)]);
    const visible = [...names].filter((n) => allowed === 'all' || allowed.has(n)).sort();
    return {
      status: 200,
      body: await Promise.all(
        visible.map((n) =>
          view(
            n,
            live.find((o) => o.name === n),
          ),
        ),
      ),
    };
  };

  const getNamespace = async (_req: ApiRequest, p: Record<string, string>): Promise<ApiResponse> => {
    const stored = await tenancy.getNamespace(p.namespace);
    const object = stored && (await finalize(stored));
    const body = await view(p.namespace, object);
    if (!object && body.used.services === 0) throw new NotFoundError(`namespace ${p.namespace}`);
    return { status: 200, body, ...(object ? { headers: { etag: etag(object.version) } } : {}) };
  };

  const applyNamespace = async (req: ApiRequest, p: Record<string, string>, who: Identity): Promise<ApiResponse> => {
    const spec = parseNamespaceSpec(d.parseBody(req));
    if (p.namespace !== undefined && spec.metadata.name !== p.namespace)
      throw new ValidationError([{ path: 'metadata.name', message: `the spec names namespace ${spec.metadata.name} but the path names ${p.namespace}` }]);
    const name = spec.metadata.name;
    const existing = await tenancy.getNamespace(name);
    checkIfMatch(req.headers, existing?.version, `namespace ${name}`);
    if (existing?.deleting) throw new ConflictError(`namespace ${name} is being deleted; apply it again when the deletion has finished`);
    if (existing && jsonEqual(existing.spec, spec))
      return { status: 200, body: { result: 'unchanged', namespace: existing }, headers: { etag: etag(existing.version) } };
    const namespace = await tenancy.putNamespace(spec, d.now().toISOString(), existing?.version ?? 0);
    await d.audit(who, existing ? 'namespace.updated' : 'namespace.created', `namespace ${name} ${existing ? 'updated' : 'created'}`, { namespace: name });
    return { status: existing ? 200 : 201, body: { result: existing ? 'updated' : 'created', namespace }, headers: { etag: etag(namespace.version) } };
  };

  /**
   * Deleting a namespace, in order: the object is marked (nothing new may be applied), then every
   * service in it is marked deleting (the scheduler stops their tasks and removes them), then, once
   * no service is left, the object goes (`finalize`).
   */
  const deleteNamespace = async (req: ApiRequest, p: Record<string, string>, who: Identity): Promise<ApiResponse> => {
    // Only a namespace object has a version: one that exists through its services alone fails an If-Match.
    if (req.headers['if-match'] !== undefined) checkIfMatch(req.headers, (await tenancy.getNamespace(p.namespace))?.version, `namespace ${p.namespace}`);
    const now = d.now().toISOString();
    const object = await tenancy.markNamespaceDeleting(p.namespace, now);
    const services = await store.listServices(p.namespace);
    if (!object && services.length === 0) throw new NotFoundError(`namespace ${p.namespace}`);
    for (const s of services) if (!s.deleting) await store.markServiceDeleting(s.namespace, s.name, now);
    await d.audit(who, 'namespace.deleting', `namespace ${p.namespace} deleted (${services.length} service(s) going first)`, { namespace: p.namespace });
    if (object) await finalize(object);
    await d.kick();
    return { status: 202, body: { result: 'deleting', namespace: p.namespace, services: services.map((s) => s.name) } };
  };

  const createToken = async (req: ApiRequest, p: Record<string, string>, who: Identity): Promise<ApiResponse> => {
    if (!d.tokens)
      throw new ValidationError([
        {
          path: '',
          message: 'this cluster does not issue tokens: on AWS, people sign in through the Cognito user pool (skiff login) and programs sign with IAM',
        },
      ]);
    const body = d.parseBody(req);
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw new ValidationError([{ path: '', message: 'send {"role": "admin|edit|view", "ttl": "24h", "name": "ci"}' }]);
    const { role: roleText, ttl, name, ...rest } = body as Record<string, unknown>;
    const unknown = Object.keys(rest);
    if (unknown.length > 0) throw new ValidationError(unknown.map((k) => ({ path: k, message: 'is not a field of a token request (role, ttl, name)' })));
    const role = parseNamespaceRole(roleText);
    if (!role) throw new ValidationError([{ path: 'role', message: `must be admin, edit or view; got ${JSON.stringify(roleText)?.slice(0, 40)}` }]);
    if (name !== undefined && (typeof name !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(name)))
      throw new ValidationError([{ path: 'name', message: 'must be 1 to 64 letters, digits, ".", "_" or "-"' }]);
    const ttlSeconds = ttl === undefined ? DEFAULT_TOKEN_TTL_SECONDS : parseTtl(ttl);
    const binding = { role, namespace: p.namespace } as const;
    if (!mayGrant(who, binding))
      throw new ForbiddenError(`${who.subject} may not issue a ${role} token for namespace ${p.namespace}`, 'tokens:create', p.namespace);
    const issued = await d.tokens.issue({ namespace: p.namespace, role, ttlSeconds, ...(typeof name === 'string' ? { name } : {}) }, d.now());
    await d.audit(who, 'token.created', `token ${issued.id} (${role} in ${p.namespace}, until ${issued.expiresAt}) issued`, { namespace: p.namespace });
    return { status: 201, body: issued };
  };

  /** `{"token": "<jwt>"}` (its namespace's admin may), or `{"id": "<jti>"}` (the cluster admin alone: the id names no namespace). */
  const revokeToken = async (req: ApiRequest, _p: Record<string, string>, who: Identity): Promise<ApiResponse> => {
    const body = d.parseBody(req) as Record<string, unknown> | null;
    const now = d.now();
    if (body && typeof body === 'object' && typeof body.token === 'string' && d.tokens) {
      const claims = await d.tokens.verify(body.token, now, { allowExpired: true }).catch((err: Error) => {
        throw new ValidationError([{ path: 'token', message: err.message }]);
      });
      authorize(who, 'tokens:revoke', claims.ns);
      await tenancy.revokeToken(claims.jti, new Date(claims.exp * 1000).toISOString(), now.toISOString());
      await d.audit(who, 'token.revoked', `token ${claims.jti} revoked`, { namespace: claims.ns });
      return { status: 200, body: { result: 'revoked', id: claims.jti } };
    }
    if (body && typeof body === 'object' && typeof body.id === 'string' && /^[A-Za-z0-9-]{1,64}$/.test(body.id)) {
      authorize(who, 'tokens:revoke-any');
      // The id alone says nothing of the expiry: keep the entry as long as any token can live.
      await tenancy.revokeToken(body.id, new Date(now.getTime() + MAX_TOKEN_TTL_SECONDS * 1000).toISOString(), now.toISOString());
      await d.audit(who, 'token.revoked', `token ${body.id} revoked`);
      return { status: 200, body: { result: 'revoked', id: body.id } };
    }
    throw new ValidationError([{ path: '', message: 'send {"token": "<the token>"} or, as the cluster admin, {"id": "<token id>"}' }]);
  };

  return [
    ['GET', /^\/v1\/namespaces$/, listNamespaces, { handler: 'lists only the namespaces the caller may read' }],
    ['POST', /^\/v1\/namespaces$/, applyNamespace, { action: 'namespaces:write', namespace: 'cluster' }],
    ['GET', NAMESPACE, getNamespace, { action: 'namespaces:read', namespace: 'path' }],
    ['PUT', NAMESPACE, applyNamespace, { action: 'namespaces:write', namespace: 'cluster' }],
    ['DELETE', NAMESPACE, deleteNamespace, { action: 'namespaces:delete', namespace: 'cluster' }],
    ['POST', /^\/v1\/namespaces\/(?<namespace>[^/]+)\/tokens$/, createToken, { action: 'tokens:create', namespace: 'path' }],
    ['POST', /^\/v1\/tokens\/revoke$/, revokeToken, { handler: "the namespace is the revoked token's own" }],
  ];
}
