/**
 * Applying documents: `POST /v1/apply` (several documents, `skiff apply -f`), and the rules every
 * workload apply follows, `POST /v1/services` included: secret references resolved to the version of
 * the secret they read (a missing secret or key is a 400 naming the field), a Job's spec fixed once
 * applied, a name kept by its kind. Everything is checked before anything is stored; then secrets are
 * stored first (value in the vault, keys and version in the store), workloads next, and each service
 * that reads a secret whose value changed is applied again with the new version, which rolls it.
 */
import { ConflictError, ValidationError, type FieldIssue } from '../core/errors.ts';
import { checkVolumesNotDeleting } from './volume-deletion.ts';
import { jsonEqual } from '../core/json.ts';
import { secretsUsed, withSecretVersions, type SecretMeta } from '../core/secrets.ts';
import { applyOrder, documentIssue, type AppliedDocument } from '../core/spec/documents.ts';
import type { SecretSpec } from '../core/spec/secret.ts';
import type { Service, ServiceSpec } from '../core/types.ts';
import type { Store } from '../ports/index.ts';
import type { SecretMetaStore, SecretVault } from '../ports/secrets.ts';

export interface SecretDeps {
  readonly metas: SecretMetaStore;
  readonly vault: SecretVault;
}

export interface ApplyDeps {
  readonly store: Store;
  readonly secrets?: SecretDeps;
  readonly now: () => Date;
  /** Refuses an ingress host another service holds, or another namespace's patterns claim (app/api.ts). */
  readonly checkIngressHost: (spec: ServiceSpec) => Promise<void>;
  /** Refuses a workload its namespace does not take: being deleted, or over its quota (app/api.ts). */
  readonly checkNamespace?: (spec: ServiceSpec, existing: Service | undefined) => Promise<void>;
}

export type ApplyResult = 'created' | 'updated' | 'unchanged' | 'rolled';

export interface AppliedItem {
  readonly kind: AppliedDocument['kind'];
  readonly namespace: string;
  readonly name: string;
  readonly result: ApplyResult;
  /** Workloads: the stored service (specs only: a Secret's value is never in an answer). */
  readonly specVersion?: number;
  /** Secrets: the keys, never the values. */
  readonly keys?: readonly string[];
}

/** A workload checked against what is stored, ready to be written. */
interface PlannedWorkload {
  readonly doc: Extract<AppliedDocument, { spec: ServiceSpec }>;
  readonly spec: ServiceSpec;
  readonly existing: Service | undefined;
}

function secretsOrThrow(deps: ApplyDeps): SecretDeps {
  if (!deps.secrets) throw new ValidationError([{ path: 'kind', message: 'this control plane has no secret vault configured: Secrets cannot be stored' }]);
  return deps.secrets;
}

/**
 * A workload spec checked against the stored state: its secret references resolved (`pending`: the
 * secrets of the same apply, by name, which win over the stored ones), its kind and a Job's spec
 * unchanged. Returns the spec to store, or throws.
 */
export async function checkWorkload(
  deps: ApplyDeps,
  spec: ServiceSpec,
  pending: ReadonlyMap<string, Pick<SecretMeta, 'keys' | 'version'>>,
  label?: { index: number; text: string },
): Promise<{ spec: ServiceSpec; existing: Service | undefined }> {
  const { namespace, name } = spec.metadata;
  const existing = await deps.store.getService(namespace, name);
  const fail = (path: string, message: string): never => {
    throw new ValidationError([label ? documentIssue(label.index, label.text, path, message) : { path, message }]);
  };
  if (existing?.deleting) throw new ConflictError(`${existing.spec.kind} ${namespace}/${name} is being deleted; retry when the deletion has finished`);
  if (existing && existing.spec.kind !== spec.kind) {
    fail('kind', `${namespace}/${name} is a ${existing.spec.kind}; delete it before applying a ${spec.kind} of that name`);
  }
  let resolved = spec;
  if (secretsUsed(spec).size > 0) {
    const stored = deps.secrets ? new Map((await deps.secrets.metas.listSecretMetas(namespace)).map((m) => [m.name, m])) : new Map<string, SecretMeta>();
    const out = withSecretVersions(spec, (secret) => pending.get(`${namespace}/${secret}`) ?? stored.get(secret));
    if (out.issues.length > 0) throw new ValidationError(out.issues.map((i) => (label ? documentIssue(label.index, label.text, i.path, i.message) : i)));
    resolved = out.spec;
  }
  if (existing && spec.kind === 'Job' && !jsonEqual(existing.spec, resolved)) {
    fail('spec', `Job ${namespace}/${name} exists and a Job's spec cannot change once applied (its tasks ran the old one); delete it and apply again`);
  }
  await deps.checkIngressHost(resolved);
  await deps.checkNamespace?.(resolved, existing);
  if (!existing) await checkVolumesNotDeleting(deps.store, resolved);
  return { spec: resolved, existing };
}

/** Stores a workload checked by checkWorkload. */
export async function storeWorkload(deps: ApplyDeps, spec: ServiceSpec, existing: Service | undefined): Promise<{ service: Service; result: ApplyResult }> {
  if (existing && jsonEqual(existing.spec, spec)) return { service: existing, result: 'unchanged' };
  const service = await deps.store.putService(spec, deps.now().toISOString(), existing?.specVersion ?? 0);
  return { service, result: existing ? 'updated' : 'created' };
}

/** Stores a secret: the value in the vault only when it changed (a new version), then its metadata. */
export async function storeSecret(deps: ApplyDeps, secret: SecretSpec): Promise<{ meta: SecretMeta; result: ApplyResult }> {
  const { metas, vault } = secretsOrThrow(deps);
  const { namespace, name } = secret.metadata;
  const [current, meta] = await Promise.all([vault.getSecret(namespace, name), metas.getSecretMeta(namespace, name)]);
  const now = deps.now().toISOString();
  const keys = Object.keys(secret.data).sort();
  if (current && jsonEqual(current.data, secret.data) && meta && meta.version === current.version) return { meta, result: 'unchanged' };
  const version = current && jsonEqual(current.data, secret.data) ? current.version : await vault.putSecret(namespace, name, secret.data);
  const next: SecretMeta = { namespace, name, keys, version, createdAt: meta?.createdAt ?? now, updatedAt: now };
  await metas.putSecretMeta(next);
  return { meta: next, result: meta ? 'updated' : 'created' };
}

/**
 * Applies the services (and cron jobs) of `namespace` that read one of `changed` again, with the
 * secrets' new versions: their pods change, so their tasks are replaced. Jobs keep the spec they
 * started with (their agents read the current value for any task they still start).
 */
export async function rollSecretUsers(deps: ApplyDeps, namespace: string, changed: ReadonlySet<string>, skip: ReadonlySet<string>): Promise<AppliedItem[]> {
  if (changed.size === 0) return [];
  const { metas } = secretsOrThrow(deps);
  const stored = new Map((await metas.listSecretMetas(namespace)).map((m) => [m.name, m]));
  const out: AppliedItem[] = [];
  for (const service of await deps.store.listServices(namespace)) {
    if (service.deleting || service.spec.kind === 'Job' || skip.has(service.name)) continue;
    if (![...secretsUsed(service.spec)].some((s) => changed.has(s))) continue;
    const next = withSecretVersions(service.spec, (s) => stored.get(s)).spec;
    if (jsonEqual(next, service.spec)) continue;
    try {
      const written = await deps.store.putService(next, deps.now().toISOString(), service.specVersion);
      out.push({ kind: service.spec.kind, namespace, name: service.name, result: 'rolled', specVersion: written.specVersion });
    } catch (err) {
      // Changed meanwhile: that apply resolved the versions itself.
      if (!(err instanceof ConflictError)) throw err;
    }
  }
  return out;
}

/** `POST /v1/apply`: every document checked against the stored state, then stored in order. */
export async function applyDocuments(deps: ApplyDeps, docs: readonly AppliedDocument[]): Promise<AppliedItem[]> {
  const ordered = applyOrder(docs);
  const secrets = ordered.filter((d): d is Extract<AppliedDocument, { kind: 'Secret' }> => d.kind === 'Secret');
  if (secrets.length > 0) secretsOrThrow(deps);
  // The file's secrets as the workloads will find them once stored (the version is not known yet: any marker does for the check).
  const pending = new Map(
    secrets.map((d) => [`${d.secret.metadata.namespace}/${d.secret.metadata.name}`, { keys: Object.keys(d.secret.data), version: 'pending' }]),
  );
  const planned: PlannedWorkload[] = [];
  const issues: FieldIssue[] = [];
  for (const doc of ordered) {
    if (doc.kind === 'Secret') continue;
    try {
      const checked = await checkWorkload(deps, doc.spec, pending, { index: doc.index, text: `${doc.kind} ${doc.spec.metadata.name}` });
      planned.push({ doc, spec: checked.spec, existing: checked.existing });
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      issues.push(...err.issues);
    }
  }
  if (issues.length > 0) throw new ValidationError(issues);

  const results: AppliedItem[] = [];
  const changed = new Map<string, Set<string>>();
  const stored = new Map<string, SecretMeta>();
  for (const doc of secrets) {
    const { meta, result } = await storeSecret(deps, doc.secret);
    stored.set(`${meta.namespace}/${meta.name}`, meta);
    if (result !== 'unchanged') changed.set(meta.namespace, (changed.get(meta.namespace) ?? new Set()).add(meta.name));
    results.push({ kind: 'Secret', namespace: meta.namespace, name: meta.name, result, keys: meta.keys });
  }
  for (const w of planned) {
    // The versions the file's secrets were given just now.
    const spec = withSecretVersions(w.spec, (s) => stored.get(`${w.spec.metadata.namespace}/${s}`) ?? versionOf(w.spec, s)).spec;
    const { service, result } = await storeWorkload(deps, spec, w.existing);
    results.push({ kind: w.doc.kind, namespace: service.namespace, name: service.name, result, specVersion: service.specVersion });
  }
  for (const [namespace, names] of changed) {
    const applied = new Set(planned.filter((w) => w.spec.metadata.namespace === namespace).map((w) => w.spec.metadata.name));
    results.push(...(await rollSecretUsers(deps, namespace, names, applied)));
  }
  return results;
}

/** The version a checked spec already carries for `secret` (resolved from the stored metadata). */
function versionOf(spec: ServiceSpec, secret: string): Pick<SecretMeta, 'keys' | 'version'> | undefined {
  for (const c of spec.spec.containers) {
    for (const ref of Object.values(c.secretEnv ?? {})) {
      if (ref.name === secret && ref.version) {
        const keys = spec.spec.containers.flatMap((x) =>
          Object.values(x.secretEnv ?? {})
            .filter((r) => r.name === secret)
            .map((r) => r.key),
        );
        return { keys, version: ref.version };
      }
    }
  }
  return undefined;
}
