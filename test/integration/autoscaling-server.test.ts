/**
 * The local Auto Scaling stand-in beyond the HostGroup contract: what it refuses, and a launch that
 * fails (the machine did not start) leaves no instance behind.
 */
import { AutoScalingClient, DescribeAutoScalingGroupsCommand, SetDesiredCapacityCommand } from '@aws-sdk/client-auto-scaling';
import { afterEach, describe, expect, it } from 'vitest';
import { startAutoScalingServer, type AutoScalingServer } from '../../local/autoscaling-server.ts';

const servers: AutoScalingServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const base = { groupName: 'hosts', min: 1, max: 3, instances: ['host-1'], nextId: () => 'host-2', terminate: async () => undefined };
const client = (s: AutoScalingServer) =>
  new AutoScalingClient({ endpoint: s.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 });

describe('the local Auto Scaling stand-in', () => {
  it('drops an instance whose launch failed, and launches it again on the next change of desired capacity', async () => {
    let fail = true;
    const logs: string[] = [];
    const s = await startAutoScalingServer({
      ...base,
      launch: async () => {
        if (fail) throw new Error('agent did not start');
      },
      log: (l) => logs.push(l),
    });
    servers.push(s);
    await client(s).send(new SetDesiredCapacityCommand({ AutoScalingGroupName: 'hosts', DesiredCapacity: 2 }));
    await s.settled();
    expect(s.instances().map((i) => i.id)).toEqual(['host-1']);
    expect(logs).toContain('auto scaling: launching host-2 failed: agent did not start');
    fail = false;
    await client(s).send(new SetDesiredCapacityCommand({ AutoScalingGroupName: 'hosts', DesiredCapacity: 2 }));
    await s.settled();
    expect(s.instances()).toEqual([
      { id: 'host-1', lifecycle: 'InService', protectedFromScaleIn: false },
      { id: 'host-2', lifecycle: 'InService', protectedFromScaleIn: false },
    ]);
  });

  it('answers a desired capacity beyond the max with ValidationError naming the bounds, and an unknown group with none', async () => {
    const s = await startAutoScalingServer({ ...base, launch: async () => undefined });
    servers.push(s);
    await expect(client(s).send(new SetDesiredCapacityCommand({ AutoScalingGroupName: 'hosts', DesiredCapacity: 4 }))).rejects.toMatchObject({
      name: 'ValidationError',
      message: "New SetDesiredCapacity value 4 is outside of the group's bounds [1, 3].",
    });
    const out = await client(s).send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: ['other'] }));
    expect(out.AutoScalingGroups).toEqual([]);
  });

  it('refuses bad options by name', async () => {
    await expect(startAutoScalingServer({ ...base, min: 3, max: 1, launch: async () => undefined })).rejects.toThrow(
      /min and max must be integers with 0 <= min <= max/,
    );
    await expect(startAutoScalingServer({ ...base, host: '0.0.0.0', launch: async () => undefined })).rejects.toThrow(/loopback/);
  });
});
