import { describe, expect, it } from 'vitest';
import { DynamoNamespaceSlots } from '../../adapters/aws/namespace-slots.ts';
import { DynamoSubnetStore } from '../../adapters/aws/subnet-store.ts';
import { useDynalite } from '../helpers/dynalite.ts';
import { describeNamespaceSlotsContract } from './namespace-slots.contract.ts';

const db = useDynalite();

// A table per test, so each test sees only its own slots.
describeNamespaceSlotsContract('DynamoNamespaceSlots on dynalite', async () => {
  const tableName = await db.table('skiff-slots');
  return new DynamoNamespaceSlots(db.client, { tableName });
});

describe('DynamoNamespaceSlots', () => {
  it('shares the cluster table with the subnet allocator, each seeing only its own items', async () => {
    const tableName = await db.table('skiff-slots');
    const slots = new DynamoNamespaceSlots(db.client, { tableName });
    const subnets = new DynamoSubnetStore(db.client, { tableName, clusterCidr: '10.200.0.0/16' });
    const cidr = await subnets.acquire('i-0a1');
    await slots.claimSlot('shop', 2, '2026-01-01T00:00:00.000Z');
    expect(await slots.listSlots()).toEqual([{ namespace: 'shop', slot: 2, since: '2026-01-01T00:00:00.000Z' }]);
    expect((await subnets.list()).map((l) => l.cidr)).toEqual([cidr]);
  });

  it('refuses unknown options and a missing table name', () => {
    expect(() => new DynamoNamespaceSlots(db.client, { tableName: 't', extra: 1 } as never)).toThrow(/unknown option\(s\) extra/);
    expect(() => new DynamoNamespaceSlots(db.client, { tableName: '' })).toThrow(/tableName is required/);
  });
});
