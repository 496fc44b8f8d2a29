/**
 * The `HostGroup` port on an EC2 Auto Scaling group: the SDK client is injected (pointed at the
 * local stand-in in local mode), SDK failures become domain errors here.
 */
import {
  DescribeAutoScalingGroupsCommand,
  SetDesiredCapacityCommand,
  SetInstanceProtectionCommand,
  TerminateInstanceInAutoScalingGroupCommand,
  type AutoScalingClient,
} from '@aws-sdk/client-auto-scaling';
import { NotFoundError, ValidationError } from '../../core/errors.ts';
import type { GroupState } from '../../core/host-autoscale.ts';
import type { HostGroup } from '../../ports/host-group.ts';
import { classifySdkError, sdkDomainError, sdkErrorMessage, serviceErrors } from './sdk-errors.ts';

/** Auto Scaling's own error names. */
const AUTO_SCALING_ERRORS = serviceErrors({
  // Another scaling activity or a lifecycle action holds the group: re-read and retry.
  conflict: ['ScalingActivityInProgress', 'ScalingActivityInProgressFault'],
  // "You already have a pending update to an Auto Scaling resource": AWS's advice is to retry.
  temporary: ['ResourceContention', 'ResourceContentionFault'],
});

/** SetInstanceProtection takes at most 50 instance ids per call. */
const PROTECTION_BATCH = 50;

export class AutoScalingHostGroup implements HostGroup {
  constructor(
    private readonly client: AutoScalingClient,
    private readonly groupName: string,
  ) {}

  async describe(): Promise<GroupState> {
    const out = await this.call('DescribeAutoScalingGroups', () =>
      this.client.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [this.groupName] })),
    );
    const g = out.AutoScalingGroups?.find((x) => x.AutoScalingGroupName === this.groupName);
    if (!g) throw new NotFoundError(`Auto Scaling group ${this.groupName}`);
    return {
      name: this.groupName,
      min: g.MinSize ?? 0,
      max: g.MaxSize ?? 0,
      desired: g.DesiredCapacity ?? 0,
      instances: (g.Instances ?? []).flatMap((i) =>
        i.InstanceId ? [{ id: i.InstanceId, lifecycle: i.LifecycleState ?? 'Unknown', protectedFromScaleIn: i.ProtectedFromScaleIn ?? false }] : [],
      ),
    };
  }

  async setDesiredCapacity(desired: number): Promise<void> {
    // HonorCooldown false: the autoscaler keeps its own account of hosts coming (core/host-autoscale.ts).
    await this.call('SetDesiredCapacity', () =>
      this.client.send(new SetDesiredCapacityCommand({ AutoScalingGroupName: this.groupName, DesiredCapacity: desired, HonorCooldown: false })),
    );
  }

  async terminateAndDecrement(instanceId: string): Promise<void> {
    await this.call(`TerminateInstanceInAutoScalingGroup ${instanceId}`, () =>
      this.client.send(new TerminateInstanceInAutoScalingGroupCommand({ InstanceId: instanceId, ShouldDecrementDesiredCapacity: true })),
    );
  }

  async setScaleInProtection(instanceIds: readonly string[], protect: boolean): Promise<void> {
    for (let i = 0; i < instanceIds.length; i += PROTECTION_BATCH) {
      const batch = instanceIds.slice(i, i + PROTECTION_BATCH);
      await this.call('SetInstanceProtection', () =>
        this.client.send(new SetInstanceProtectionCommand({ AutoScalingGroupName: this.groupName, InstanceIds: batch, ProtectedFromScaleIn: protect })),
      );
    }
  }

  private async call<T>(op: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (err) {
      // Auto Scaling answers a request it refuses (bounds, an instance not in the group) with ValidationError.
      if ((err as { name?: string }).name === 'ValidationError' && classifySdkError(err, AUTO_SCALING_ERRORS) === 'fatal')
        throw new ValidationError([{ path: op, message: sdkErrorMessage(err) }], { cause: err });
      throw sdkDomainError('Auto Scaling', op, `group ${this.groupName}`, err, AUTO_SCALING_ERRORS);
    }
  }
}
