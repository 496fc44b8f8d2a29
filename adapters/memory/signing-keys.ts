/** Signing keys in memory: tests, and a control plane that needs no keys to outlive it. */
import type { SigningKeyStore, StoredSigningKey } from '../../ports/workload-identity.ts';

export class MemorySigningKeyStore implements SigningKeyStore {
  private keys: StoredSigningKey[] = [];
  /** Saves so far, for tests that check a read does not write. */
  saves = 0;

  async loadSigningKeys(): Promise<StoredSigningKey[]> {
    return structuredClone(this.keys);
  }

  async saveSigningKeys(keys: readonly StoredSigningKey[]): Promise<void> {
    this.saves++;
    this.keys = structuredClone([...keys]);
  }
}
