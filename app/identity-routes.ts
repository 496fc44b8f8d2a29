/**
 * The API's workload identity routes (docs/identity.md):
 * - `GET /.well-known/openid-configuration` and `GET /.well-known/jwks.json`, public: a verifier of
 *   workload tokens (an application, AWS IAM as an OIDC provider) holds no Skiff credential;
 * - `POST /v1/namespaces/{namespace}/tasks/{id}/identity-token`, for hosts only: the agent of the host
 *   a task is placed on asks for that task's token (Kubernetes' kubelet TokenRequest, with
 *   NodeRestriction's rule: a host gets tokens only for its own tasks). Each token issued is an
 *   audit event naming the task.
 */
import { type Identity, UnauthorizedError } from '../core/authz.ts';
import { NotFoundError, SkiffError, ValidationError } from '../core/errors.ts';
import type { ClusterEvent, Task } from '../core/types.ts';
import type { Store } from '../ports/index.ts';
import type { WorkloadTokenIssuer } from './workload-tokens.ts';

/** A host asked for a task that is not its own (or not there any more): 403. */
export class ForbiddenHostError extends SkiffError {
  override readonly status = 403;
  constructor(message: string) {
    super(message);
    this.name = 'ForbiddenError';
  }
}

export { isPublicRoute, PUBLIC_ROUTES } from './public-routes.ts';

export interface IdentityRouteDeps {
  readonly store: Pick<Store, 'listTasks' | 'putEvents'>;
  readonly cluster: string;
  /** Absent: this control plane issues no workload tokens; the routes say so (404 for discovery, 400 for a token). */
  readonly issuer?: WorkloadTokenIssuer;
  readonly now: () => Date;
}

type Req = { readonly query: Readonly<Record<string, string | undefined>> };
type Res = { status: number; body: unknown; headers?: Record<string, string> };
type Handler = (req: Req, params: Record<string, string>, who: Identity) => Promise<Res>;

export function identityHandlers(deps: IdentityRouteDeps): { discovery: Handler; jwks: Handler; issueToken: Handler } {
  const issuer = (): WorkloadTokenIssuer => {
    if (!deps.issuer) throw new NotFoundError('workload identity (this control plane has no token issuer: set SKIFF_WORKLOAD_ISSUER)');
    return deps.issuer;
  };
  // Verifiers cache these: a new key is picked up within the cache time (docs/identity.md: keys are published before they expire).
  const cache = { 'cache-control': 'public, max-age=300' };
  return {
    discovery: async () => ({ status: 200, body: issuer().discovery(), headers: cache }),
    jwks: async () => ({ status: 200, body: await issuer().jwks(deps.now().getTime()), headers: cache }),
    issueToken: async (_req, p, who) => {
      if (who.source !== 'host' || !who.host)
        throw new UnauthorizedError(`${who.subject} is not a host: only a task's own host may ask for its identity token`);
      const task = await findTask(deps.store, p.namespace, p.id);
      // One answer for absent, gone and another host's: a host learns nothing about tasks not its own.
      if (!task || task.host !== who.host || task.desired !== 'running')
        throw new ForbiddenHostError(`task ${p.namespace}/${p.id} is not placed on ${who.host}: a host gets identity tokens for its own tasks only`);
      const now = deps.now();
      const issued = await issuer().issue({ cluster: deps.cluster, namespace: task.namespace, service: task.service, task: task.id }, now.getTime());
      const event: ClusterEvent = {
        id: `${issued.issuedAt}-identity.token-issued-${task.id}-${issued.id.slice(0, 8)}`,
        at: now.toISOString(),
        type: 'identity.token-issued',
        message: `workload token ${issued.id} issued to task ${task.id} (expires ${issued.expiresAt}, key ${issued.kid}) for ${who.subject}`,
        actor: who.subject,
        namespace: task.namespace,
        service: task.service,
        task: task.id,
        host: who.host,
      };
      try {
        await deps.store.putEvents([event]);
      } catch {
        // Best effort, as every event: a throttled log must not leave a task without its token.
      }
      return { status: 200, body: { token: issued.token, id: issued.id, issuedAt: issued.issuedAt, expiresAt: issued.expiresAt } };
    },
  };
}

/** The task `id` of the namespace: its service and slot are in its id (`<service>-<slot>-<5 chars>`). */
async function findTask(store: Pick<Store, 'listTasks'>, namespace: string, id: string): Promise<Task | undefined> {
  const parsed = /^(.+)-(\d{1,6})-[a-z0-9]{5}$/.exec(id);
  if (!parsed) throw new ValidationError([{ path: 'id', message: `is not a task id (<service>-<slot>-<5 characters>): ${JSON.stringify(id).slice(0, 80)}` }]);
  return (await store.listTasks(namespace, parsed[1])).find((t) => t.id === id);
}
