/** The `HostGroup` port in memory: an Auto Scaling group's bookkeeping, for use-case tests and the contract. */
import { ValidationError } from '../../core/errors.ts';
import type { GroupInstance, GroupState } from '../../core/host-autoscale.ts';
import type { HostGroup } from '../../ports/host-group.ts';

export interface MemoryHostGroupOptions {
  readonly name?: string;
  readonly min: number;
  readonly max: number;
  /** Instances already in service. */
  readonly instances?: readonly string[];
  /** Instance ids given to launched instances, in order. @default `i-<n>` */
  readonly nextId?: (n: number) => string;
}

/**
 * Launches and terminates at once: raising the desired capacity adds `InService` instances, a
 * terminate removes the instance. New instances are not protected from scale-in.
 */
export class MemoryHostGroup implements HostGroup {
  readonly name: string;
  private min: number;
  private max: number;
  private desired: number;
  private instances: GroupInstance[];
  private launched = 0;
  private readonly nextId: (n: number) => string;
  /** Every call made, for tests that check what was asked. */
  readonly calls: string[] = [];

  constructor(opts: MemoryHostGroupOptions) {
    this.name = opts.name ?? 'hosts';
    this.min = opts.min;
    this.max = opts.max;
    this.instances = (opts.instances ?? []).map((id) => ({ id, lifecycle: 'InService', protectedFromScaleIn: false }));
    this.desired = this.instances.length;
    this.nextId = opts.nextId ?? ((n) => `i-${n}`);
  }

  async describe(): Promise<GroupState> {
    return { name: this.name, min: this.min, max: this.max, desired: this.desired, instances: this.instances.map((i) => ({ ...i })) };
  }

  async setDesiredCapacity(desired: number): Promise<void> {
    this.calls.push(`SetDesiredCapacity ${desired}`);
    checkDesired(desired, this.min, this.max);
    this.desired = desired;
    while (this.instances.length < desired) {
      this.instances.push({ id: this.nextId(++this.launched), lifecycle: 'InService', protectedFromScaleIn: false });
    }
    // The group picks unprotected instances first, as Auto Scaling's default termination policy does.
    while (this.instances.length > desired) {
      const victim = this.instances.findIndex((i) => !i.protectedFromScaleIn);
      if (victim < 0) break;
      this.instances.splice(victim, 1);
    }
  }

  async terminateAndDecrement(instanceId: string): Promise<void> {
    this.calls.push(`TerminateInstanceInAutoScalingGroup ${instanceId}`);
    const at = this.instances.findIndex((i) => i.id === instanceId);
    if (at < 0) throw notMember(instanceId, this.name);
    if (this.desired - 1 < this.min)
      throw new ValidationError([{ path: 'ShouldDecrementDesiredCapacity', message: `would take group ${this.name} below its min of ${this.min}` }]);
    this.instances.splice(at, 1);
    this.desired--;
  }

  async setScaleInProtection(instanceIds: readonly string[], protect: boolean): Promise<void> {
    this.calls.push(`SetInstanceProtection ${protect} ${instanceIds.join(',')}`);
    for (const id of instanceIds) if (!this.instances.some((i) => i.id === id)) throw notMember(id, this.name);
    this.instances = this.instances.map((i) => (instanceIds.includes(i.id) ? { ...i, protectedFromScaleIn: protect } : i));
  }
}

/** The check Auto Scaling makes on SetDesiredCapacity. */
export function checkDesired(desired: number, min: number, max: number): void {
  if (!Number.isInteger(desired) || desired < min || desired > max)
    throw new ValidationError([{ path: 'DesiredCapacity', message: `must be an integer from the group's min ${min} to its max ${max}, got ${desired}` }]);
}

function notMember(id: string, group: string): ValidationError {
  return new ValidationError([{ path: 'InstanceId', message: `instance ${id} is not in group ${group}` }]);
}
