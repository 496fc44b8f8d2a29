/**
 * The host group: the machines the cluster's hosts run on, grown and shrunk by the host autoscaler
 * (an EC2 Auto Scaling group on AWS, the Auto Scaling stand-in that starts agent processes locally).
 * A host id is its instance id. The contract both adapters pass is test/contract/host-group.contract.ts.
 */
import type { GroupState } from '../core/host-autoscale.ts';

export interface HostGroup {
  /** The group's bounds, desired capacity and instances. `NotFoundError` when the group does not exist. */
  describe(): Promise<GroupState>;
  /**
   * Set the desired capacity (the group launches or terminates to reach it). A value outside
   * min..max is a `ValidationError` naming the bounds; nothing changes then.
   */
  setDesiredCapacity(desired: number): Promise<void>;
  /**
   * Terminate one instance and lower the desired capacity by one, so that it is not replaced.
   * `ValidationError` when the instance is not in the group or the decrement would take the
   * group below its min (Auto Scaling answers both with the one error code ValidationError).
   */
  terminateAndDecrement(instanceId: string): Promise<void>;
  /** Protect instances from (or expose them to) the group's own scale-in. `ValidationError` for an instance not in the group. */
  setScaleInProtection(instanceIds: readonly string[], protect: boolean): Promise<void>;
}
