/** The secret vault in memory: the fake beside SsmSecretVault, for unit tests of the API and the agent. */
import type { SecretVault } from '../../ports/secrets.ts';

export class MemorySecretVault implements SecretVault {
  private readonly values = new Map<string, { data: Record<string, string>; version: number }>();
  /** Reads made, for tests that count them. */
  reads = 0;

  async getSecret(namespace: string, name: string): Promise<{ data: Record<string, string>; version: string } | undefined> {
    this.reads++;
    const v = this.values.get(`${namespace}/${name}`);
    return v && { data: { ...v.data }, version: `v${v.version}` };
  }

  async putSecret(namespace: string, name: string, data: Readonly<Record<string, string>>): Promise<string> {
    const version = (this.values.get(`${namespace}/${name}`)?.version ?? 0) + 1;
    this.values.set(`${namespace}/${name}`, { data: { ...data }, version });
    return `v${version}`;
  }

  async deleteSecret(namespace: string, name: string): Promise<void> {
    this.values.delete(`${namespace}/${name}`);
  }
}
