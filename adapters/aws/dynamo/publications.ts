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

  async getPublishedMany(hostIds: readonly string[]): Promise<Map<string, { generation: number; hash: string }>> {
    // BatchGetItem refuses a repeated key.
    const keys = new Map([...new Set(hostIds)].map((id) => [publishedKey(id).pk, { id, key: publishedKey(id) }]));
    const items = await this.t.batchGet(
      [...keys.values()].map((k) => k.key),
      'published documents',
    );
    const out = new Map<string, { generation: number; hash: string }>();
    for (const item of items) {
      const id = keys.get(String(item.pk))?.id;
      const published = id === undefined ? undefined : toPublished(this.t.bad, item);
      if (id !== undefined && published) out.set(id, published);
    }
    return out;
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
