import { DescribeInstanceTypesCommand, DescribeInstancesCommand, type DescribeInstancesCommandOutput, EC2Client } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { Ec2MachineCatalog } from '../../adapters/aws/ec2-machine-catalog.ts';

const ec2 = mockClient(EC2Client);
afterEach(() => ec2.reset());
const ID = 'i-0abc12345678def01';
const claim = { address: '10.0.1.17', capacity: { cpu: 1e12, memory: 1e15 }, labels: {}, instanceType: 'u-24tb1.metal' };

function instance(over: Record<string, unknown> = {}): DescribeInstancesCommandOutput {
  return {
    Reservations: [
      {
        Instances: [
          {
            InstanceId: ID,
            InstanceType: 't4g.medium',
            PrivateIpAddress: '10.0.1.17',
            State: { Name: 'running' },
            Tags: [{ Key: 'skiff:cluster', Value: 'prod' }],
            ...over,
          },
        ],
      },
    ],
  } as DescribeInstancesCommandOutput;
}

describe('Ec2MachineCatalog', () => {
  it("gives the instance type's size and the private IP from EC2, not the claim, and asks once per instance and type", async () => {
    ec2.on(DescribeInstancesCommand).resolves(instance());
    ec2
      .on(DescribeInstanceTypesCommand)
      .resolves({ InstanceTypes: [{ InstanceType: 't4g.medium', VCpuInfo: { DefaultVCpus: 2 }, MemoryInfo: { SizeInMiB: 4096 } }] });
    const catalog = new Ec2MachineCatalog(new EC2Client({ region: 'eu-west-1' }), { cluster: 'prod' });
    const expected = { known: true, facts: { maxCapacity: { cpu: 2000, memory: 4096 * 2 ** 20 }, address: '10.0.1.17', source: 'instance type t4g.medium' } };
    expect(await catalog.describe(ID, claim)).toEqual(expected);
    expect(await catalog.describe(ID, claim)).toEqual(expected);
    expect(ec2.commandCalls(DescribeInstancesCommand)).toHaveLength(1);
    expect(ec2.commandCalls(DescribeInstanceTypesCommand).map((c) => c.args[0].input.InstanceTypes)).toEqual([['t4g.medium']]);
  });

  it('refuses what cannot be a host of this cluster: no instance id, an unknown, stopped or foreign instance', async () => {
    const catalog = new Ec2MachineCatalog(new EC2Client({ region: 'eu-west-1' }), { cluster: 'prod' });
    expect(await catalog.describe('host-1', claim)).toEqual({ known: false, reason: '"host-1" is not an EC2 instance id' });
    ec2
      .on(DescribeInstancesCommand)
      .resolvesOnce({ Reservations: [] })
      .resolvesOnce(instance({ State: { Name: 'stopped' } }))
      .resolvesOnce(instance({ Tags: [] }));
    expect(await catalog.describe(ID, claim)).toEqual({ known: false, reason: `EC2 knows no instance ${ID}` });
    expect(await catalog.describe(ID, claim)).toEqual({ known: false, reason: `instance ${ID} is stopped` });
    expect(await catalog.describe(ID, claim)).toEqual({ known: false, reason: `instance ${ID} is not tagged skiff:cluster=prod` });
  });

  it('throws a retryable error when EC2 throttles, so the host is tried again next pass', async () => {
    ec2.on(DescribeInstancesCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'RequestLimitExceeded', $metadata: { httpStatusCode: 503 } }));
    const catalog = new Ec2MachineCatalog(new EC2Client({ region: 'eu-west-1' }));
    await expect(catalog.describe(ID, claim)).rejects.toThrow(/EC2 throttled DescribeInstances on instance i-0abc12345678def01; retry later/);
  });
});
