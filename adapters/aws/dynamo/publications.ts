/** What was last published to each host, on DynamoDB: one item per host (`HOST#<id>`, `PUBLISHED`), outside the host's writable partition. */
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { SkiffError } from '../../../core/errors.ts';
import type { PublicationStore } from '../../../ports/index.ts';
import { toPublished } from './items.ts';
import { publishedKey } from './keys.ts';
import type { DynamoTable } from './table.ts';

export class DynamoPublications implements PublicationStore {
  constructor(private readonly t: DynamoTable) {}

  async getPublished(hostId: string): Promise<{ generation: number; hash: string } | undefined> {
    const item = await this.t.get(publishedKey(hostId), `published document of host ${hostId}`);
    return item && toPublished(this.t.bad, item);
  }

  async setPublished(hostId: string, previousGeneration: number, next: { generation: number; hash: string }): Promise<void> {
    const label = `published document of host ${hostId}`;
    if (!(next.generation > previousGeneration)) {
      throw new SkiffError(`${label}: generation ${next.generation} must be greater than ${previousGeneration}`);
    }
    const key = publishedKey(hostId);
    await this.t.call(
      'PutItem',
      label,
      () =>
        this.t.doc.send(
          new PutCommand({
            TableName: this.t.table,
            Item: { ...key, type: 'published', generation: next.generation, hash: next.hash },
            ...(previousGeneration === 0
              ? { ConditionExpression: 'attribute_not_exists(pk)' }
              : {
                  ConditionExpression: '#generation = :prev',
                  ExpressionAttributeNames: { '#generation': 'generation' },
                  ExpressionAttributeValues: { ':prev': previousGeneration },
                }),
          }),
        ),
      `${label} is no longer at generation ${previousGeneration}`,
    );
  }
}
