import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { afterEach, expect, it } from 'vitest';
import { AutoScalingHostGroup } from '../../adapters/aws/auto-scaling-group.ts';
import { NotFoundError } from '../../core/errors.ts';
import { startAutoScalingServer, type AutoScalingServer } from '../../local/autoscaling-server.ts';
import { describeHostGroupContract } from './host-group.contract.ts';

const servers: AutoScalingServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

function client(endpoint: string): AutoScalingClient {
  return new AutoScalingClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 });
}

describeHostGroupContract('AutoScalingHostGroup on the local stand-in', async (min, max, instances) => {
  let n = 0;
  const server = await startAutoScalingServer({
    groupName: 'hosts',
    min,
    max,
    instances,
    nextId: (existing) => {
      do n++;
      while (existing.has(`n${n}`));
      return `n${n}`;
    },
    launch: async () => undefined,
    terminate: async () => undefined,
  });
  servers.push(server);
  return { group: new AutoScalingHostGroup(client(server.endpoint), 'hosts'), settle: () => server.settled() };
});

it('says which group does not exist', async () => {
  const server = await startAutoScalingServer({
    groupName: 'hosts',
    min: 0,
    max: 1,
    nextId: () => 'x',
    launch: async () => undefined,
    terminate: async () => undefined,
  });
  servers.push(server);
  await expect(new AutoScalingHostGroup(client(server.endpoint), 'other').describe()).rejects.toBeInstanceOf(NotFoundError);
});
