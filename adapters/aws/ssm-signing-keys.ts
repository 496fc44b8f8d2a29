/**
 * Signing keys in one SSM SecureString parameter, `<prefix>/control/signing-keys`, as the cluster's
 * secrets are kept (adapters/aws/ssm-secrets.ts): encrypted with the account's SSM key unless a KMS
 * key is given. The hosts' policy denies every `/skiff/` parameter not tagged with their own ARN or
 * the secrets tag, and this one carries neither: only the control plane's functions read it.
 *
 * A set of three P-256 keys is about 1.2 KB, well within a standard parameter's 4 KB.
 */
import { GetParameterCommand, PutParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { SkiffError, UnavailableError } from '../../core/errors.ts';
import type { SigningKeyStore, StoredSigningKey } from '../../ports/workload-identity.ts';
import { parseSigningKeys, serializeSigningKeys } from '../fs/signing-key-file.ts';

/** The parameter of a cluster's signing keys. */
export function signingKeysParameter(prefix: string): string {
  return `${prefix}/control/signing-keys`;
}

export class SsmSigningKeyStore implements SigningKeyStore {
  private readonly name: string;
  constructor(
    private readonly ssm: SSMClient,
    private readonly options: { readonly prefix: string; readonly keyId?: string },
  ) {
    if (!/^\/[A-Za-z0-9_.\-/]+$/.test(options.prefix))
      throw new SkiffError(`SsmSigningKeyStore: prefix must be a parameter path such as /skiff/prod, got ${JSON.stringify(options.prefix)}`);
    this.name = signingKeysParameter(options.prefix);
  }

  async loadSigningKeys(): Promise<StoredSigningKey[]> {
    let value: string | undefined;
    try {
      value = (await this.ssm.send(new GetParameterCommand({ Name: this.name, WithDecryption: true }))).Parameter?.Value;
    } catch (err) {
      if ((err as Error).name === 'ParameterNotFound') return [];
      throw new UnavailableError(`the signing keys could not be read from SSM (${this.name}): ${(err as Error).name}`, { cause: err });
    }
    return value ? parseSigningKeys(value, `SSM parameter ${this.name}`) : [];
  }

  async saveSigningKeys(keys: readonly StoredSigningKey[]): Promise<void> {
    try {
      await this.ssm.send(
        new PutParameterCommand({
          Name: this.name,
          Type: 'SecureString',
          Value: serializeSigningKeys(keys),
          Overwrite: true,
          ...(this.options.keyId ? { KeyId: this.options.keyId } : {}),
        }),
      );
    } catch (err) {
      throw new UnavailableError(`the signing keys could not be written to SSM (${this.name}): ${(err as Error).name}`, { cause: err });
    }
  }
}
