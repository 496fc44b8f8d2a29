/**
 * Local mode's host document table (the DynamoDB host channel, adapters/aws/dynamo-host-channel.ts):
 * created on dynalite beside the state table when a cluster runs with `--host-channel dynamodb`.
 * On AWS the CDK stack creates it (infra/host-documents.ts).
 */
import { CreateTableCommand, DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { hostDocumentTableDefinition } from '../adapters/aws/dynamo-host-channel.ts';
import { SkiffError } from '../core/errors.ts';

const ACTIVE_TIMEOUT_MS = 60_000;

/** Create the host document table if absent, then wait until it is ACTIVE; a table of another shape is an error. */
export async function ensureHostDocumentTable(client: DynamoDBClient, tableName: string): Promise<void> {
  try {
    await client.send(new CreateTableCommand(hostDocumentTableDefinition(tableName)));
  } catch (err) {
    // Already there (a restarted cluster, or another process won the race): checked below.
    if ((err as Error).name !== 'ResourceInUseException') throw new SkiffError(`could not create DynamoDB table ${tableName}`, { cause: err });
  }
  const deadline = Date.now() + ACTIVE_TIMEOUT_MS;
  for (let wait = 10; ; wait = Math.min(1000, wait * 2)) {
    const table = (await client.send(new DescribeTableCommand({ TableName: tableName }))).Table;
    const keys = table?.KeySchema?.map((k) => `${k.AttributeName}:${k.KeyType}`).join(',');
    if (keys !== 'pk:HASH') throw new SkiffError(`DynamoDB table ${tableName} exists with keys ${keys}; the host document table has pk:HASH only`);
    if (table?.TableStatus === 'ACTIVE') return;
    if (Date.now() > deadline) throw new SkiffError(`DynamoDB table ${tableName} is not ACTIVE after ${ACTIVE_TIMEOUT_MS / 1000} s`);
    await new Promise((r) => setTimeout(r, wait));
  }
}
