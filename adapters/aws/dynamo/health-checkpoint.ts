/** The health check's checkpoint on DynamoDB: one item (`HEALTH`, `CHECKPOINT`). */
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import type { HealthCheckpoint } from '../../../core/health.ts';
import type { HealthCheckpointStore } from '../../../ports/index.ts';
import { toCheckpoint } from './items.ts';
import { HEALTH_KEY } from './keys.ts';
import type { DynamoTable } from './table.ts';

export class DynamoHealthCheckpoint implements HealthCheckpointStore {
  constructor(private readonly t: DynamoTable) {}

  async getHealthCheckpoint(): Promise<HealthCheckpoint | undefined> {
    const item = await this.t.get(HEALTH_KEY, 'health checkpoint');
    return item && toCheckpoint(this.t.bad, item);
  }

  async putHealthCheckpoint(checkpoint: HealthCheckpoint): Promise<void> {
    await this.t.call('PutItem', 'health checkpoint', () =>
      this.t.doc.send(
        new PutCommand({
          TableName: this.t.table,
          Item: {
            ...HEALTH_KEY,
            type: 'health',
            lastRunAt: checkpoint.lastRunAt,
            resumedAt: checkpoint.resumedAt,
            ...(checkpoint.heldSince !== undefined ? { heldSince: checkpoint.heldSince } : {}),
          },
        }),
      ),
    );
  }
}
