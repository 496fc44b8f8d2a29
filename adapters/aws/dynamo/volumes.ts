/**
 * Persistent volumes on DynamoDB: one partition (`VOLUMES`), sort key `<namespace>#<service>#<volume>#<slot>`
 * (core/volumes.ts volumeSortKey). A volume is written once, when its slot is first placed, and read by
 * every scheduler pass: a few hundred small items, one Query.
 */
import { DeleteCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ConflictError, ValidationError } from '../../../core/errors.ts';
import { parseVolumeRecord, volumeSortKey, type VolumeKey, type VolumeRecord } from '../../../core/volumes.ts';
import type { VolumeStore } from '../../../ports/index.ts';
import { keyPart, type Item, type Key } from './keys.ts';
import type { DynamoTable } from './table.ts';

const VOLUMES_PK = 'VOLUMES';

function volumeKey(v: VolumeKey): Key {
  keyPart('namespace', v.namespace);
  keyPart('service', v.service);
  keyPart('volume', v.volume);
  return { pk: VOLUMES_PK, sk: volumeSortKey(v) };
}

export class DynamoVolumes implements VolumeStore {
  constructor(private readonly t: DynamoTable) {}

  async recordVolume(volume: VolumeRecord): Promise<VolumeRecord> {
    const checked = parseVolumeRecord(volume);
    if (!checked.ok) throw new ValidationError([{ path: 'volume', message: checked.reason }]);
    const key = volumeKey(volume);
    const label = `volume ${volume.id}`;
    try {
      await this.t.call(
        'PutItem',
        label,
        () =>
          this.t.doc.send(
            new PutCommand({ TableName: this.t.table, Item: { ...key, type: 'volume', ...checked.value }, ConditionExpression: 'attribute_not_exists(pk)' }),
          ),
        `${label} is recorded already`,
      );
      return checked.value;
    } catch (err) {
      // Recorded already: the first host stays; return what holds.
      if (!(err instanceof ConflictError)) throw err;
    }
    const item = await this.t.get(key, label);
    const existing = item && this.read(item);
    if (!existing) throw new ValidationError([{ path: 'volume', message: `${label} is recorded but unreadable` }]);
    return existing;
  }

  async listVolumes(namespace?: string): Promise<VolumeRecord[]> {
    const items = await this.t.queryAll(
      {
        TableName: this.t.table,
        KeyConditionExpression: namespace === undefined ? 'pk = :pk' : 'pk = :pk AND begins_with(sk, :ns)',
        ExpressionAttributeValues: { ':pk': VOLUMES_PK, ...(namespace === undefined ? {} : { ':ns': `${keyPart('namespace', namespace)}#` }) },
        ConsistentRead: true,
      },
      'volumes',
    );
    return items.flatMap((item) => this.read(item) ?? []);
  }

  async deleteVolume(volume: VolumeKey): Promise<void> {
    const key = volumeKey(volume);
    await this.t.call('DeleteItem', `volume ${volume.namespace}/${volume.service}/${volume.volume}/${volume.slot}`, () =>
      this.t.doc.send(new DeleteCommand({ TableName: this.t.table, Key: key })),
    );
  }

  async markVolumeDeleting(volume: VolumeKey, now: string): Promise<VolumeRecord | undefined> {
    const key = volumeKey(volume);
    const label = `volume ${volume.namespace}/${volume.service}/${volume.volume}/${volume.slot}`;
    let attributes: Item | undefined;
    try {
      const out = await this.t.call(
        'UpdateItem',
        label,
        () =>
          this.t.doc.send(
            new UpdateCommand({
              TableName: this.t.table,
              Key: key,
              // The first mark stays: a repeated delete does not move the time the removal was asked.
              UpdateExpression: 'SET deleting = if_not_exists(deleting, :now)',
              ConditionExpression: 'attribute_exists(pk)',
              ExpressionAttributeValues: { ':now': now },
              ReturnValues: 'ALL_NEW',
            }),
          ),
        `${label} is not recorded`,
      );
      attributes = out.Attributes as Item | undefined;
    } catch (err) {
      // Not recorded: nothing to mark.
      if (err instanceof ConflictError) return undefined;
      throw err;
    }
    const marked = attributes && this.read(attributes);
    if (!marked) throw new ValidationError([{ path: 'volume', message: `${label} is recorded but unreadable` }]);
    return marked;
  }

  async forgetDeletedVolume(volume: VolumeKey): Promise<void> {
    const key = volumeKey(volume);
    await this.t.call(
      'DeleteItem',
      `volume ${volume.namespace}/${volume.service}/${volume.volume}/${volume.slot}`,
      () =>
        this.t.doc.send(
          new DeleteCommand({ TableName: this.t.table, Key: key, ConditionExpression: 'attribute_not_exists(pk) OR attribute_exists(deleting)' }),
        ),
      `volume ${volume.namespace}/${volume.service}/${volume.volume}/${volume.slot} is not marked for removal`,
    );
  }

  /** The record of an item, checked against its key; a bad one is reported and skipped. */
  private read(item: Item): VolumeRecord | undefined {
    const { pk: _pk, sk, type: _type, ...rest } = item;
    const parsed = parseVolumeRecord(rest);
    const reason = !parsed.ok ? parsed.reason : volumeSortKey(parsed.value) !== sk ? `its key ${String(sk)} does not name it` : undefined;
    if (reason === undefined && parsed.ok) return parsed.value;
    this.t.bad.report({ kind: 'volume', key: `${String(item.pk)}/${String(sk)}`, reason: reason ?? 'unreadable' });
    return undefined;
  }
}
