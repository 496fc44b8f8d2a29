/**
 * The secret routes: list and show a secret's keys and version (never a value: the API has no route
 * that returns one), and delete a secret no workload reads.
 */
import { ConflictError, NotFoundError, ValidationError } from '../core/errors.ts';
import { secretsUsed, type SecretMeta } from '../core/secrets.ts';
import type { ApplyDeps, SecretDeps } from './apply.ts';
import { checkIfMatch, etag } from './conditional.ts';

interface Req {
  readonly query: Readonly<Record<string, string | undefined>>;
  readonly headers: Readonly<Record<string, string | undefined>>;
}
type Handler = (req: Req, params: Record<string, string>) => Promise<{ status: number; body: unknown; headers?: Record<string, string> }>;

/** What the API shows of a secret. */
export function secretView(m: SecretMeta) {
  return { namespace: m.namespace, name: m.name, keys: m.keys, version: m.version, createdAt: m.createdAt, updatedAt: m.updatedAt };
}

export function secretHandlers(secrets: SecretDeps | undefined, deps: ApplyDeps, kick: () => Promise<void>): { list: Handler; get: Handler; remove: Handler } {
  const need = (): SecretDeps => {
    if (!secrets) throw new ValidationError([{ path: '', message: 'this control plane has no secret vault configured' }]);
    return secrets;
  };
  return {
    list: async (req) => ({ status: 200, body: (await need().metas.listSecretMetas(req.query.namespace)).map(secretView) }),
    get: async (_req, p) => {
      const meta = await need().metas.getSecretMeta(p.namespace, p.name);
      if (!meta) throw new NotFoundError(`secret ${p.namespace}/${p.name}`);
      return { status: 200, body: secretView(meta), headers: { etag: etag(meta.version) } };
    },
    remove: async (req, p) => {
      const s = need();
      const meta = await s.metas.getSecretMeta(p.namespace, p.name);
      checkIfMatch(req.headers, meta?.version, `secret ${p.namespace}/${p.name}`);
      if (!meta) throw new NotFoundError(`secret ${p.namespace}/${p.name}`);
      // A workload that reads it could not start a new task: refuse, naming the readers.
      const users = (await deps.store.listServices(p.namespace)).filter((w) => secretsUsed(w.spec).has(p.name)).map((w) => `${w.spec.kind} ${w.name}`);
      if (users.length > 0) throw new ConflictError(`secret ${p.namespace}/${p.name} is read by ${users.join(', ')}; delete or change them first`);
      await s.vault.deleteSecret(p.namespace, p.name);
      await s.metas.deleteSecretMeta(p.namespace, p.name);
      await kick();
      return { status: 200, body: { result: 'deleted', secret: secretView(meta) } };
    },
  };
}
