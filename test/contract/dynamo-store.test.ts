import { DynamoStore } from '../../adapters/aws/dynamo-store.ts';
import { useDynalite } from '../helpers/dynalite.ts';
import { describeStoreContract } from './store.contract.ts';
import { describeVolumeStoreContract } from './volume-store.contract.ts';

const db = useDynalite({ onDisk: 'skiff-store-contract-' });

// A table per test, so that list results hold only what the test wrote.
describeStoreContract('DynamoStore on dynalite', async () => {
  const tableName = await db.table('skiff-contract');
  return new DynamoStore(db.client, { tableName });
});

describeVolumeStoreContract('DynamoStore on dynalite', async () => {
  const tableName = await db.table('skiff-contract');
  return new DynamoStore(db.client, { tableName });
});
