/**
 * The tenancy state (issue 14): namespaces as objects, and the list of revoked tokens. A port of
 * its own beside `Store` (the same table on DynamoDB): the API reads it on every request, the
 * scheduler never does. Both adapters pass test/contract/tenancy-store.contract.ts.
 */
import type { Namespace, NamespaceSpec } from '../core/namespace.ts';

export interface NamespaceStore {
  getNamespace(name: string): Promise<Namespace | undefined>;
  /** Every namespace object, sorted by name. */
  listNamespaces(): Promise<Namespace[]>;
  /**
   * Create or replace a namespace's spec. `expectedVersion` undefined = whatever is there; a number =
   * only if the stored version equals it (0 = only if absent). A deleting namespace is not replaced
   * (`ConflictError`).
   */
  putNamespace(spec: NamespaceSpec, now: string, expectedVersion?: number): Promise<Namespace>;
  /** Mark a namespace deleting (its services are deleted next); undefined when there is none. */
  markNamespaceDeleting(name: string, now: string): Promise<Namespace | undefined>;
  /** Remove a deleting namespace's object (once nothing is left in it). */
  removeNamespace(name: string): Promise<void>;
}

/** Tokens refused before they expire. An entry may be dropped once its token has expired. */
export interface TokenRevocationStore {
  /** Record `jti` as revoked until `expiresAt` (ISO time; the token is refused by its expiry after that). */
  revokeToken(jti: string, expiresAt: string, now: string): Promise<void>;
  isTokenRevoked(jti: string): Promise<boolean>;
}

export interface TenancyStore extends NamespaceStore, TokenRevocationStore {}
