import { DynamoSubnetStore } from '../../adapters/aws/subnet-store.ts';
import { useDynalite } from '../helpers/dynalite.ts';
import { describeSubnetAllocatorContract } from './subnet-store.contract.ts';

const db = useDynalite();

// A table per test, so each test sees only its own subnets.
describeSubnetAllocatorContract('DynamoSubnetStore on dynalite', async (clusterCidr, hostPrefixLength) => {
  const tableName = await db.table('skiff-subnets');
  return new DynamoSubnetStore(db.client, { tableName, clusterCidr, hostPrefixLength });
});
