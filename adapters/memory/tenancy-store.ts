/**
 * The `TenancyStore` port in memory: the fake beside the DynamoDB one (both pass
 * test/contract/tenancy-store.contract.ts). Values go in and out as copies.
 */
import { ConflictError, ValidationError } from '../../core/errors.ts';
import { jsonEqual } from '../../core/json.ts';
import type { Namespace, NamespaceSpec } from '../../core/namespace.ts';
import type { TenancyStore } from '../../ports/tenancy.ts';

export class MemoryTenancyStore implements TenancyStore {
  private readonly namespaces = new Map<string, Namespace>();
  private readonly revoked = new Map<string, string>();

  async getNamespace(name: string): Promise<Namespace | undefined> {
    const ns = this.namespaces.get(checkName(name));
    return ns && structuredClone(ns);
  }

  async listNamespaces(): Promise<Namespace[]> {
    return [...this.namespaces.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((n) => structuredClone(n));
  }

  async putNamespace(spec: NamespaceSpec, now: string, expectedVersion?: number): Promise<Namespace> {
    const name = checkName(spec.metadata.name);
    const current = this.namespaces.get(name);
    if (current?.deleting) throw new ConflictError(`namespace ${name} is being deleted; wait and retry`);
    if (expectedVersion === 0 && current) throw new ConflictError(`namespace ${name} already exists (version ${current.version})`);
    if (expectedVersion !== undefined && expectedVersion > 0 && current?.version !== expectedVersion)
      throw new ConflictError(current ? `namespace ${name} is at version ${current.version}, not ${expectedVersion}` : `namespace ${name} does not exist`);
    if (current && jsonEqual(current.spec, spec)) return structuredClone(current);
    const ns: Namespace = { name, spec: structuredClone(spec), version: (current?.version ?? 0) + 1, createdAt: current?.createdAt ?? now, updatedAt: now };
    this.namespaces.set(name, ns);
    return structuredClone(ns);
  }

  async markNamespaceDeleting(name: string, now: string): Promise<Namespace | undefined> {
    const current = this.namespaces.get(checkName(name));
    if (!current) return undefined;
    if (current.deleting) return structuredClone(current);
    const ns: Namespace = { ...current, deleting: now, version: current.version + 1, updatedAt: now };
    this.namespaces.set(name, ns);
    return structuredClone(ns);
  }

  async removeNamespace(name: string): Promise<void> {
    const current = this.namespaces.get(checkName(name));
    if (current && !current.deleting) throw new ConflictError(`namespace ${name} is not being deleted`);
    this.namespaces.delete(name);
  }

  async revokeToken(jti: string, expiresAt: string, _now: string): Promise<void> {
    this.revoked.set(checkName(jti, 'jti'), expiresAt);
  }

  async isTokenRevoked(jti: string): Promise<boolean> {
    return this.revoked.has(checkName(jti, 'jti'));
  }
}

/** The same key rule as the DynamoDB store: non-empty, no "#". */
function checkName(value: string, field = 'namespace'): string {
  if (typeof value !== 'string' || value === '' || value.includes('#'))
    throw new ValidationError([{ path: field, message: `must be a non-empty string without "#" (got ${JSON.stringify(value)})` }]);
  return value;
}
