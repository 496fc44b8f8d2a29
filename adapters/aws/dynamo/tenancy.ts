/**
 * The `TenancyStore` port on DynamoDB, in the cluster's one table:
 * - namespaces in one partition, `NAMESPACES` / `<name>` (a cluster has tens of them, read whole by
 *   every quota and ingress check: one Query);
 * - revoked tokens at `REVOKED#<jti>` / `TOKEN`, with `expiresAt` (epoch seconds) for the table's TTL
 *   to drop them once the token has expired anyway.
 * Only the control plane writes these items (hosts' IAM keys them out: docs/aws.md), yet every item
 * read is validated and a bad one is skipped and reported, as for the rest of the table.
 */
import { DeleteCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ConflictError, ValidationError } from '../../../core/errors.ts';
import { jsonEqual } from '../../../core/json.ts';
import { parseStoredNamespaceSpec, type Namespace, type NamespaceSpec } from '../../../core/namespace.ts';
import type { TenancyStore } from '../../../ports/tenancy.ts';
import { dynamoCall, dynamoGet, dynamoQueryAll } from '../dynamo-calls.ts';

const NAMESPACES = 'NAMESPACES';
const REVOKED_SK = 'TOKEN';

export class DynamoTenancyStore implements TenancyStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
    /** Told about each item skipped because it is not a valid namespace. */
    private readonly onBadItem: (key: string, reason: string) => void = () => {},
  ) {}

  async getNamespace(name: string): Promise<Namespace | undefined> {
    const item = await dynamoGet(this.doc, this.table, { pk: NAMESPACES, sk: keyPart('namespace', name) }, `namespace ${name}`);
    return item && this.toNamespace(item);
  }

  async listNamespaces(): Promise<Namespace[]> {
    const items = await dynamoQueryAll(
      this.doc,
      this.table,
      { TableName: this.table, KeyConditionExpression: 'pk = :p', ExpressionAttributeValues: { ':p': NAMESPACES }, ConsistentRead: true },
      'namespaces',
    );
    return items.map((i) => this.toNamespace(i)).filter((n): n is Namespace => n !== undefined);
  }

  async putNamespace(spec: NamespaceSpec, now: string, expectedVersion?: number): Promise<Namespace> {
    const name = keyPart('namespace', spec.metadata.name);
    const label = `namespace ${name}`;
    const current = await this.getNamespace(name);
    if (current?.deleting) throw new ConflictError(`${label} is being deleted; wait and retry`);
    if (expectedVersion === 0 && current) throw new ConflictError(`${label} already exists (version ${current.version})`);
    if (expectedVersion !== undefined && expectedVersion > 0 && current?.version !== expectedVersion)
      throw new ConflictError(current ? `${label} is at version ${current.version}, not ${expectedVersion}` : `${label} does not exist`);
    if (current && jsonEqual(current.spec, spec)) return current;
    const ns: Namespace = { name, spec, version: (current?.version ?? 0) + 1, createdAt: current?.createdAt ?? now, updatedAt: now };
    // Conditional on the version read: a concurrent writer makes this a ConflictError, never a lost update.
    await dynamoCall(
      this.table,
      'PutItem',
      label,
      () =>
        this.doc.send(
          new PutCommand({
            TableName: this.table,
            Item: { pk: NAMESPACES, sk: name, ...ns },
            ConditionExpression: current ? 'version = :v AND attribute_not_exists(deleting)' : 'attribute_not_exists(pk)',
            ...(current ? { ExpressionAttributeValues: { ':v': current.version } } : {}),
          }),
        ),
      `${label} changed concurrently; re-read and retry`,
    );
    return ns;
  }

  async markNamespaceDeleting(name: string, now: string): Promise<Namespace | undefined> {
    const current = await this.getNamespace(name);
    if (!current) return undefined;
    if (current.deleting) return current;
    const ns: Namespace = { ...current, deleting: now, version: current.version + 1, updatedAt: now };
    await dynamoCall(
      this.table,
      'PutItem',
      `namespace ${name}`,
      () =>
        this.doc.send(
          new PutCommand({
            TableName: this.table,
            Item: { pk: NAMESPACES, sk: current.name, ...ns },
            ConditionExpression: 'version = :v',
            ExpressionAttributeValues: { ':v': current.version },
          }),
        ),
      `namespace ${name} changed concurrently; re-read and retry`,
    );
    return ns;
  }

  async removeNamespace(name: string): Promise<void> {
    await dynamoCall(
      this.table,
      'DeleteItem',
      `namespace ${name}`,
      () =>
        this.doc.send(
          new DeleteCommand({
            TableName: this.table,
            Key: { pk: NAMESPACES, sk: keyPart('namespace', name) },
            ConditionExpression: 'attribute_not_exists(pk) OR attribute_exists(deleting)',
          }),
        ),
      `namespace ${name} is not being deleted`,
    );
  }

  async revokeToken(jti: string, expiresAt: string, now: string): Promise<void> {
    const epoch = Math.ceil(Date.parse(expiresAt) / 1000);
    await dynamoCall(this.table, 'PutItem', `revocation of token ${jti}`, () =>
      this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: { pk: `REVOKED#${keyPart('jti', jti)}`, sk: REVOKED_SK, revokedAt: now, ...(Number.isFinite(epoch) ? { expiresAt: epoch } : {}) },
        }),
      ),
    );
  }

  async isTokenRevoked(jti: string): Promise<boolean> {
    const item = await dynamoGet(this.doc, this.table, { pk: `REVOKED#${keyPart('jti', jti)}`, sk: REVOKED_SK }, `revocation of token ${jti}`);
    return item !== undefined;
  }

  private toNamespace(item: Record<string, unknown>): Namespace | undefined {
    const key = `${String(item.pk)} / ${String(item.sk)}`;
    try {
      const spec = parseStoredNamespaceSpec(item.spec);
      const { name, version, createdAt, updatedAt, deleting } = item;
      if (name !== item.sk || spec.metadata.name !== name) throw new Error('its name is not its key');
      if (
        typeof version !== 'number' ||
        typeof createdAt !== 'string' ||
        typeof updatedAt !== 'string' ||
        (deleting !== undefined && typeof deleting !== 'string')
      )
        throw new Error('version, createdAt or updatedAt is missing or of the wrong type');
      return { name, spec, version, createdAt, updatedAt, ...(deleting ? { deleting } : {}) };
    } catch (err) {
      this.onBadItem(key, (err as Error).message);
      return undefined;
    }
  }
}

function keyPart(field: string, value: string): string {
  if (typeof value !== 'string' || value === '' || value.includes('#'))
    throw new ValidationError([{ path: field, message: `must be a non-empty string without "#" (got ${JSON.stringify(value)})` }]);
  return value;
}
