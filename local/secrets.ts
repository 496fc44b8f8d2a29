/** Local mode's secrets: metadata in dynalite beside the cluster state, values in the SSM stand-in (sealed with its local key). */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SSMClient } from '@aws-sdk/client-ssm';
import { DynamoSecretMetas } from '../adapters/aws/dynamo/secrets.ts';
import { SsmSecretVault } from '../adapters/aws/ssm-secrets.ts';
import type { SecretDeps } from '../app/apply.ts';

export function localSecrets(dynamo: DynamoDBClient, tableName: string, ssmEndpoint: string, prefix: string, cluster: string): SecretDeps {
  const ssm = new SSMClient({ endpoint: ssmEndpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  return { metas: new DynamoSecretMetas(dynamo, { tableName }), vault: new SsmSecretVault(ssm, { prefix, cluster }) };
}
