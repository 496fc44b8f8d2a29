/**
 * The secrets' metadata on DynamoDB: one item per secret (`SECRET#<namespace>#<name>`, `#SECRET`),
 * listed through the index (`gsi1pk = SECRETS`). Keys and a version only: the value is in the vault.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { SecretMeta } from '../../../core/secrets.ts';
import type { SecretMetaStore } from '../../../ports/secrets.ts';
import { checkSecretMeta, secretPart } from '../../secret-meta-check.ts';
import { GSI1 } from './keys.ts';
import { DynamoTable } from './table.ts';

const SECRETS = 'SECRETS';
const SECRET_SK = '#SECRET';

function secretKey(namespace: string, name: string) {
  return { pk: `SECRET#${secretPart('namespace', namespace)}#${secretPart('name', name)}`, sk: SECRET_SK };
}

export class DynamoSecretMetas implements SecretMetaStore {
  private readonly t: DynamoTable;

  constructor(client: DynamoDBClient, options: { readonly tableName: string }) {
    const doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
    this.t = new DynamoTable(doc, options.tableName, '');
  }

  async getSecretMeta(namespace: string, name: string): Promise<SecretMeta | undefined> {
    const item = await this.t.get(secretKey(namespace, name), `secret ${namespace}/${name}`);
    return item ? checkSecretMeta(item) : undefined;
  }

  async listSecretMetas(namespace?: string): Promise<SecretMeta[]> {
    const items = await this.t.queryAll(
      namespace === undefined
        ? { TableName: this.t.table, IndexName: GSI1, KeyConditionExpression: 'gsi1pk = :p', ExpressionAttributeValues: { ':p': SECRETS } }
        : {
            TableName: this.t.table,
            IndexName: GSI1,
            KeyConditionExpression: 'gsi1pk = :p AND begins_with(gsi1sk, :ns)',
            ExpressionAttributeValues: { ':p': SECRETS, ':ns': `${secretPart('namespace', namespace)}#` },
          },
      'secrets',
    );
    // A malformed item is skipped rather than failing the list.
    return items.flatMap((i) => {
      try {
        return [checkSecretMeta(i)];
      } catch {
        return [];
      }
    });
  }

  async putSecretMeta(meta: SecretMeta): Promise<void> {
    const m = checkSecretMeta(meta);
    const label = `secret ${m.namespace}/${m.name}`;
    await this.t.call('PutItem', label, () =>
      this.t.doc.send(
        new PutCommand({
          TableName: this.t.table,
          Item: { ...secretKey(m.namespace, m.name), gsi1pk: SECRETS, gsi1sk: `${m.namespace}#${m.name}`, type: 'secret', ...m },
        }),
      ),
    );
  }

  async deleteSecretMeta(namespace: string, name: string): Promise<void> {
    const key = secretKey(namespace, name);
    await this.t.call('DeleteItem', `secret ${namespace}/${name}`, () => this.t.doc.send(new DeleteCommand({ TableName: this.t.table, Key: key })));
  }
}
