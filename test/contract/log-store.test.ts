import { afterAll, beforeAll } from 'vitest';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { MemoryLogStore } from '../../adapters/memory/log-store.ts';
import { CloudWatchLogStore } from '../../adapters/aws/cloudwatch-log-store.ts';
import { startLogsServer, type LogsServer } from '../../local/logs-server.ts';
import { describeLogStoreContract } from './log-store.contract.ts';

describeLogStoreContract('MemoryLogStore', async () => new MemoryLogStore());

let server: LogsServer;
let groups = 0;
beforeAll(async () => {
  server = await startLogsServer({});
});
afterAll(async () => {
  await server?.close();
});

describeLogStoreContract('CloudWatchLogStore on the local stand-in', async () => {
  const client = new CloudWatchLogsClient({
    endpoint: server.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
  const store = new CloudWatchLogStore(client, `/skiff/contract-${++groups}`);
  await store.createGroup();
  return store;
});
