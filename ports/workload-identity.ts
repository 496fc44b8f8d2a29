/**
 * Workload identity's ports (docs/identity.md): where the control plane keeps its token signing keys.
 * The private keys are a control-plane secret: a file of the user's (0600) locally, an SSM SecureString
 * parameter only the control plane's functions may read on AWS.
 */
import type { SigningKeyRecord } from '../core/workload-identity.ts';

/** A JSON Web Key, as jose exports it. */
export type Jwk = Readonly<Record<string, unknown>>;

/** A signing key with its key pair. */
export interface StoredSigningKey extends SigningKeyRecord {
  /** The algorithm it signs with (`ES256`). */
  readonly alg: string;
  readonly publicJwk: Jwk;
  readonly privateJwk: Jwk;
}

export interface SigningKeyStore {
  /** Every key kept (the one signing and the retired ones still published); empty before the first. */
  loadSigningKeys(): Promise<StoredSigningKey[]>;
  /** Replaces the whole set. Only one writer rotates (docs/identity.md), so no condition is needed. */
  saveSigningKeys(keys: readonly StoredSigningKey[]): Promise<void>;
}
