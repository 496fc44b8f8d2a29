/**
 * The `HostMachines` port on EC2: which hosts' instances are gone for good, so their container
 * subnets may be released (docs/network.md, "Teardown"). A host id is its instance id.
 */
import { DescribeInstancesCommand, type DescribeInstancesCommandOutput, type EC2Client } from '@aws-sdk/client-ec2';
import type { HostMachines } from '../../ports/network.ts';
import { ec2Failure } from './ec2-errors.ts';

/**
 * Filter values per DescribeInstances call. A filter, unlike `InstanceIds`, leaves out unknown ids
 * instead of failing the whole call with InvalidInstanceID.NotFound; EC2 caps values per filter at 200.
 */
const IDS_PER_CALL = 100;
/**
 * States from which an instance never runs again. `shutting-down` leads only to `terminated`; a
 * `stopped` instance can start again with its containers' subnet still in use, so it is not gone.
 */
const GONE_STATES: ReadonlySet<string> = new Set(['shutting-down', 'terminated']);
const INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;

/** Instance states from EC2 (`ec2:DescribeInstances`, which has no resource-level permissions). */
export class Ec2Machines implements HostMachines {
  constructor(private readonly client: EC2Client) {}

  async gone(hostIds: readonly string[]): Promise<Set<string>> {
    const gone = new Set<string>();
    // Not an instance id: nothing EC2 can say; such a host is never released by this port.
    const ids = [...new Set(hostIds)].filter((id) => INSTANCE_ID.test(id));
    for (let i = 0; i < ids.length; i += IDS_PER_CALL) {
      const batch = ids.slice(i, i + IDS_PER_CALL);
      const seen = new Set<string>();
      let nextToken: string | undefined;
      do {
        const label = `instances ${batch[0]}${batch.length > 1 ? ` and ${batch.length - 1} more` : ''}`;
        let out: DescribeInstancesCommandOutput;
        try {
          out = await this.client.send(
            new DescribeInstancesCommand({ Filters: [{ Name: 'instance-id', Values: batch }], NextToken: nextToken, MaxResults: 1000 }),
          );
        } catch (err) {
          throw ec2Failure('DescribeInstances', label, err);
        }
        for (const reservation of out.Reservations ?? []) {
          for (const instance of reservation.Instances ?? []) {
            if (!instance.InstanceId) continue;
            seen.add(instance.InstanceId);
            if (GONE_STATES.has(instance.State?.Name ?? '')) gone.add(instance.InstanceId);
          }
        }
        nextToken = out.NextToken;
      } while (nextToken);
      // EC2 lists terminated instances for about an hour, then forgets them: unknown means gone.
      for (const id of batch) if (!seen.has(id)) gone.add(id);
    }
    return gone;
  }
}
