import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoTenancyStore } from '../../adapters/aws/dynamo/tenancy.ts';
import { useDynalite } from '../helpers/dynalite.ts';
import { describeTenancyStoreContract } from './tenancy-store.contract.ts';

const db = useDynalite({ onDisk: 'skiff-tenancy-contract-' });

// A table per test, so that list results hold only what the test wrote.
describeTenancyStoreContract('DynamoTenancyStore on dynalite', async () => {
  const tableName = await db.table('skiff-tenancy');
  return new DynamoTenancyStore(DynamoDBDocumentClient.from(db.client, { marshallOptions: { removeUndefinedValues: true } }), tableName);
});
