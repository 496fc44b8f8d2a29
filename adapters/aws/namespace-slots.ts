/**
 * The `NamespaceSlots` port on DynamoDB, in the cluster's single table, with single-item conditional
 * writes (dynalite has no transactions), as the subnet allocator (docs/network.md, "The allocator on
 * DynamoDB"). One item per held slot, so one per namespace in the settled state:
 *
 * - `NSSLOTS` / `SLOT#<slot, 5 digits>`: `namespace, slot, since`. Created with
 *   `attribute_not_exists(pk) OR namespace = :ns`: of two namespaces claiming one slot, exactly one
 *   write succeeds, and a claim repeated by the holder changes nothing. Deleted only on
 *   `namespace = :ns`: a namespace frees its own slot, never another's.
 *
 * One partition, read with a strongly consistent Query (no index): a pass decides on what the last
 * pass wrote. At most 65,536 items of ~60 bytes: a few KB for the tens of namespaces a cluster has.
 * No pointer item as the subnet allocator's: there concurrent acquires of one host must converge on
 * one subnet, here only the scheduler pass claims (one at a time), and a namespace found holding two
 * slots keeps its first claimed (`since`), which the pass reads back.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ConflictError, SkiffError } from '../../core/errors.ts';
import { checkSlotClaim, type NamespaceSlot, type NamespaceSlots } from '../../ports/namespace-slots.ts';
import { dynamoCall, dynamoQueryAll } from './dynamo-calls.ts';

export interface DynamoNamespaceSlotsOptions {
  /** The cluster's table (`tableDefinition()` in local/dynalite.ts, or the CDK stack's). */
  readonly tableName: string;
}

const OPTION_KEYS = new Set(['tableName']);
const SLOTS_PK = 'NSSLOTS';
const slotKey = (slot: number) => ({ pk: SLOTS_PK, sk: `SLOT#${String(slot).padStart(5, '0')}` });

/** Namespace slots in the cluster's DynamoDB table (a plain `DynamoDBClient`, wrapped here in a document client). */
export class DynamoNamespaceSlots implements NamespaceSlots {
  private readonly doc: DynamoDBDocumentClient;
  private readonly table: string;

  constructor(client: DynamoDBClient, options: DynamoNamespaceSlotsOptions) {
    const unknown = Object.keys(options).filter((k) => !OPTION_KEYS.has(k));
    if (unknown.length > 0) throw new SkiffError(`DynamoNamespaceSlots: unknown option(s) ${unknown.join(', ')}`);
    if (!options.tableName) throw new SkiffError('DynamoNamespaceSlots: tableName is required');
    this.table = options.tableName;
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  async listSlots(): Promise<NamespaceSlot[]> {
    const items = await dynamoQueryAll(
      this.doc,
      this.table,
      { TableName: this.table, KeyConditionExpression: 'pk = :p', ExpressionAttributeValues: { ':p': SLOTS_PK }, ConsistentRead: true },
      'namespace slots',
    );
    // The sort key orders them by slot.
    return items.map((i) => ({ namespace: String(i.namespace), slot: Number(i.slot), since: String(i.since) }));
  }

  async claimSlot(namespace: string, slot: number, since: string): Promise<boolean> {
    checkSlotClaim(namespace, slot);
    try {
      // An update, not a put: a repeated claim keeps the first `since`.
      await dynamoCall(this.table, 'UpdateItem', `namespace slot ${slot}`, () =>
        this.doc.send(
          new UpdateCommand({
            TableName: this.table,
            Key: slotKey(slot),
            UpdateExpression: 'SET #ns = :ns, #slot = :slot, #since = if_not_exists(#since, :since)',
            ConditionExpression: 'attribute_not_exists(pk) OR #ns = :ns',
            ExpressionAttributeNames: { '#ns': 'namespace', '#slot': 'slot', '#since': 'since' },
            ExpressionAttributeValues: { ':ns': namespace, ':slot': slot, ':since': since },
          }),
        ),
      );
    } catch (err) {
      if (err instanceof ConflictError) return false;
      throw err;
    }
    return true;
  }

  async releaseSlot(namespace: string, slot: number): Promise<boolean> {
    checkSlotClaim(namespace, slot);
    try {
      await dynamoCall(this.table, 'DeleteItem', `namespace slot ${slot}`, () =>
        this.doc.send(
          new DeleteCommand({
            TableName: this.table,
            Key: slotKey(slot),
            ConditionExpression: '#ns = :ns',
            ExpressionAttributeNames: { '#ns': 'namespace' },
            ExpressionAttributeValues: { ':ns': namespace },
          }),
        ),
      );
    } catch (err) {
      if (err instanceof ConflictError) return false;
      throw err;
    }
    return true;
  }
}
