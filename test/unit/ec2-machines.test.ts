import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import { DescribeInstancesCommand, EC2Client, EC2ServiceException, type InstanceStateName } from '@aws-sdk/client-ec2';
import { Ec2Machines } from '../../adapters/aws/ec2-machines.ts';
import { Ec2UnavailableError } from '../../adapters/aws/ec2-errors.ts';
import { SkiffError } from '../../core/errors.ts';

const ec2 = mockClient(EC2Client);
afterEach(() => ec2.reset());
afterAll(() => ec2.restore());
const machines = () => new Ec2Machines(ec2 as unknown as EC2Client);
const instance = (id: string, state: string) => ({ InstanceId: id, State: { Name: state as InstanceStateName } });
const ec2Error = (code: string) => new EC2ServiceException({ name: code, $fault: 'client', $metadata: { httpStatusCode: 400 }, message: `${code} (test)` });

describe('Ec2Machines (at the SDK boundary)', () => {
  it('says terminated, shutting-down and unlisted instances are gone; running and stopped ones are not', async () => {
    ec2.on(DescribeInstancesCommand).resolves({
      Reservations: [
        { Instances: [instance('i-00000001', 'terminated'), instance('i-00000002', 'running')] },
        { Instances: [instance('i-00000003', 'shutting-down'), instance('i-00000004', 'stopped')] },
      ],
    });
    const gone = await machines().gone(['i-00000001', 'i-00000002', 'i-00000003', 'i-00000004', 'i-00000005', 'i-00000005']);
    expect([...gone].sort()).toEqual(['i-00000001', 'i-00000003', 'i-00000005']);
    // A filter, not InstanceIds: an unknown id must not fail the whole call.
    expect(ec2.commandCalls(DescribeInstancesCommand)[0].args[0].input.Filters).toEqual([
      { Name: 'instance-id', Values: ['i-00000001', 'i-00000002', 'i-00000003', 'i-00000004', 'i-00000005'] },
    ]);
  });

  it('asks in batches of 100 and follows pages', async () => {
    const ids = Array.from({ length: 150 }, (_, i) => `i-${String(i).padStart(8, '0')}`);
    ec2.on(DescribeInstancesCommand).callsFake(async (input: { Filters: { Values: string[] }[]; NextToken?: string }) => {
      const values = input.Filters[0].Values;
      // First page: the first half running; second page: the rest running too.
      const half = Math.ceil(values.length / 2);
      const page = input.NextToken ? values.slice(half) : values.slice(0, half);
      return { Reservations: [{ Instances: page.map((id) => instance(id, 'running')) }], ...(input.NextToken ? {} : { NextToken: 'next' }) };
    });
    expect((await machines().gone(ids)).size).toBe(0);
    const calls = ec2.commandCalls(DescribeInstancesCommand).map((c) => c.args[0].input.Filters![0].Values!.length);
    expect(calls).toEqual([100, 100, 50, 50]);
  });

  it('never asks about host ids that are not instance ids, and maps EC2 errors', async () => {
    expect((await machines().gone(['local-host-1'])).size).toBe(0);
    expect(ec2.commandCalls(DescribeInstancesCommand)).toHaveLength(0);
    ec2.on(DescribeInstancesCommand).rejects(ec2Error('RequestLimitExceeded'));
    await expect(machines().gone(['i-00000001'])).rejects.toBeInstanceOf(Ec2UnavailableError);
    ec2.on(DescribeInstancesCommand).rejects(ec2Error('UnauthorizedOperation'));
    const err = await machines()
      .gone(['i-00000001'])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SkiffError);
    expect((err as Error).message).toMatch(/grant ec2:DescribeInstances/);
  });
});
