/**
 * Secrets, the pure part: what the cluster state keeps of a secret (its keys and a version, never a
 * value), how a workload's references get the version of the secret they read (so that a changed
 * secret changes the pod, and the reconciler replaces its tasks), and which workloads a changed
 * secret rolls. The values live in the vault (ports/secrets.ts); the agent of the host that runs a
 * task fetches them there.
 */
import type { FieldIssue } from './errors.ts';
import type { ServiceSpec } from './types.ts';

/** What the cluster state holds of a secret. */
export interface SecretMeta {
  readonly namespace: string;
  readonly name: string;
  /** The keys of its data, sorted. */
  readonly keys: readonly string[];
  /**
   * The vault's version of the value (`v3`: the SSM parameter's version). Opaque and not derived
   * from the value, so publishing it in a pod spec tells nothing about the value.
   */
  readonly version: string;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** The secret's name in the vault under the cluster's prefix: `/skiff/<cluster>/secrets/<namespace>/<name>`. */
export function secretParameterName(prefix: string, namespace: string, name: string): string {
  return `${prefix}/secrets/${namespace}/${name}`;
}

/** Every secret a workload reads, by name. */
export function secretsUsed(spec: ServiceSpec): Set<string> {
  const out = new Set<string>();
  for (const c of spec.spec.containers) for (const ref of Object.values(c.secretEnv ?? {})) out.add(ref.name);
  return out;
}

/**
 * The spec with each secret reference carrying the version of the secret it reads, or the issues
 * of references to a secret or key that does not exist (`lookup` answers for the namespace).
 */
export function withSecretVersions(
  spec: ServiceSpec,
  lookup: (name: string) => Pick<SecretMeta, 'keys' | 'version'> | undefined,
): { spec: ServiceSpec; issues: FieldIssue[] } {
  const issues: FieldIssue[] = [];
  const containers = spec.spec.containers.map((c, i) => {
    if (!c.secretEnv) return c;
    const secretEnv = Object.fromEntries(
      Object.entries(c.secretEnv).map(([env, ref]) => {
        const path = `spec.containers[${i}].env.${env}.secretKeyRef`;
        const meta = lookup(ref.name);
        if (!meta) {
          issues.push({
            path: `${path}.name`,
            message: `no Secret ${JSON.stringify(ref.name)} in namespace ${spec.metadata.namespace}: apply the Secret first (or in the same file)`,
          });
        } else if (!meta.keys.includes(ref.key)) {
          issues.push({
            path: `${path}.key`,
            message: `Secret ${ref.name} has no key ${JSON.stringify(ref.key)}; its keys are ${meta.keys.map((k) => JSON.stringify(k)).join(', ')}`,
          });
        }
        return [env, { name: ref.name, key: ref.key, ...(meta ? { version: meta.version } : {}) }];
      }),
    );
    return { ...c, secretEnv };
  });
  return { spec: { ...spec, spec: { ...spec.spec, containers } }, issues };
}
