/**
 * Secrets: two ports, because the value and what is known of it live apart. The cluster state keeps
 * a secret's keys and version (`SecretMetaStore`, DynamoDB or memory); the values are in a vault
 * that encrypts them (`SecretVault`, SSM SecureString parameters), which the API writes and each
 * host's agent reads for the tasks it runs (`SecretReader`, with the host's own permissions).
 */
import type { SecretMeta } from '../core/secrets.ts';

export interface SecretMetaStore {
  getSecretMeta(namespace: string, name: string): Promise<SecretMeta | undefined>;
  /** Every secret, or those of one namespace, sorted by namespace then name. */
  listSecretMetas(namespace?: string): Promise<SecretMeta[]>;
  /** Create or replace (unconditional: the vault's version orders the values). */
  putSecretMeta(meta: SecretMeta): Promise<void>;
  /** Forget a secret; absent is not an error. */
  deleteSecretMeta(namespace: string, name: string): Promise<void>;
}

export interface SecretReader {
  /** The secret's data and version, or undefined when the vault has none. */
  getSecret(namespace: string, name: string): Promise<{ data: Record<string, string>; version: string } | undefined>;
}

export interface SecretVault extends SecretReader {
  /** Store the data (encrypted); returns the new version. */
  putSecret(namespace: string, name: string, data: Readonly<Record<string, string>>): Promise<string>;
  /** Remove the value; absent is not an error. */
  deleteSecret(namespace: string, name: string): Promise<void>;
}
