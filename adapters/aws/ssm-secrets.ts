/**
 * The secret vault on SSM Parameter Store: one SecureString parameter per secret, its data as JSON,
 * under `<prefix>/secrets/<namespace>/<name>` (the path the hosts' IAM policy allows reading, and
 * nothing else of the cluster's secrets path). Encrypted with the account's SSM key unless a KMS key
 * is given. The version is the parameter's own version, which says nothing about the value.
 */
import { DeleteParameterCommand, GetParameterCommand, PutParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { SkiffError, UnavailableError } from '../../core/errors.ts';
import { secretParameterName } from '../../core/secrets.ts';
import type { SecretVault } from '../../ports/secrets.ts';

/**
 * The tag each secret parameter is created with (value: the cluster's name). The hosts' IAM policy
 * reads a cluster's secrets by it: the deny that keeps a host out of other hosts' documents exempts
 * parameters carrying it (infra/hosts.ts), and the allow requires it. Kept equal to infra/hosts.ts.
 */
export const SECRET_TAG_KEY = 'skiff:cluster-secret';

export interface SsmSecretVaultOptions {
  /** `/skiff/<cluster>`. */
  readonly prefix: string;
  /** The cluster's name, the value of SECRET_TAG_KEY on each secret parameter. Absent: untagged (the agent only reads). */
  readonly cluster?: string;
  /** A KMS key id or alias for the SecureString parameters. @default the account's `alias/aws/ssm` */
  readonly keyId?: string;
}

export class SsmSecretVault implements SecretVault {
  constructor(
    private readonly ssm: SSMClient,
    private readonly options: SsmSecretVaultOptions,
  ) {
    if (!/^\/[A-Za-z0-9_.\-/]+$/.test(options.prefix))
      throw new SkiffError(`SsmSecretVault: prefix must be a parameter path such as /skiff/prod, got ${JSON.stringify(options.prefix)}`);
  }

  private name(namespace: string, name: string): string {
    return secretParameterName(this.options.prefix, namespace, name);
  }

  async getSecret(namespace: string, name: string): Promise<{ data: Record<string, string>; version: string } | undefined> {
    try {
      const out = await this.ssm.send(new GetParameterCommand({ Name: this.name(namespace, name), WithDecryption: true }));
      const p = out.Parameter;
      if (!p?.Value) return undefined;
      const data = JSON.parse(p.Value) as Record<string, string>;
      return { data, version: `v${p.Version ?? 0}` };
    } catch (err) {
      if ((err as Error).name === 'ParameterNotFound') return undefined;
      // The SDK's message never holds the value; the cause is kept for the logs of the caller.
      throw new UnavailableError(`secret ${namespace}/${name} could not be read from SSM: ${(err as Error).name}`, { cause: err });
    }
  }

  async putSecret(namespace: string, name: string, data: Readonly<Record<string, string>>): Promise<string> {
    const base = {
      Name: this.name(namespace, name),
      Type: 'SecureString' as const,
      Value: JSON.stringify(data),
      ...(this.options.keyId ? { KeyId: this.options.keyId } : {}),
    };
    try {
      // Created with its tag (SSM refuses tags with Overwrite), then overwritten: an overwrite keeps the tag.
      if (this.options.cluster) {
        try {
          const out = await this.ssm.send(new PutParameterCommand({ ...base, Tags: [{ Key: SECRET_TAG_KEY, Value: this.options.cluster }] }));
          return `v${out.Version ?? 0}`;
        } catch (err) {
          if ((err as Error).name !== 'ParameterAlreadyExists') throw err;
        }
      }
      const out = await this.ssm.send(new PutParameterCommand({ ...base, Overwrite: true }));
      return `v${out.Version ?? 0}`;
    } catch (err) {
      throw new UnavailableError(`secret ${namespace}/${name} could not be written to SSM: ${(err as Error).name}`, { cause: err });
    }
  }

  async deleteSecret(namespace: string, name: string): Promise<void> {
    try {
      await this.ssm.send(new DeleteParameterCommand({ Name: this.name(namespace, name) }));
    } catch (err) {
      if ((err as Error).name === 'ParameterNotFound') return;
      throw new UnavailableError(`secret ${namespace}/${name} could not be deleted from SSM: ${(err as Error).name}`, { cause: err });
    }
  }
}
