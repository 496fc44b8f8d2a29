/** The secrets' metadata in memory: the fake beside DynamoSecretMetas (test/contract/secret-metas.contract.ts runs on both). */
import type { SecretMeta } from '../../core/secrets.ts';
import type { SecretMetaStore } from '../../ports/secrets.ts';
import { checkSecretMeta, secretPart } from '../secret-meta-check.ts';

export class MemorySecretMetas implements SecretMetaStore {
  private readonly metas = new Map<string, SecretMeta>();

  async getSecretMeta(namespace: string, name: string): Promise<SecretMeta | undefined> {
    const m = this.metas.get(`${secretPart('namespace', namespace)}/${secretPart('name', name)}`);
    return m && structuredClone(m);
  }

  async listSecretMetas(namespace?: string): Promise<SecretMeta[]> {
    return [...this.metas.values()]
      .filter((m) => namespace === undefined || m.namespace === namespace)
      .sort((a, b) => (a.namespace === b.namespace ? (a.name < b.name ? -1 : 1) : a.namespace < b.namespace ? -1 : 1))
      .map((m) => structuredClone(m));
  }

  async putSecretMeta(meta: SecretMeta): Promise<void> {
    const m = checkSecretMeta(meta);
    this.metas.set(`${m.namespace}/${m.name}`, structuredClone(m));
  }

  async deleteSecretMeta(namespace: string, name: string): Promise<void> {
    this.metas.delete(`${secretPart('namespace', namespace)}/${secretPart('name', name)}`);
  }
}
