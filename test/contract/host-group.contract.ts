/**
 * The `HostGroup` contract (ports/host-group.ts), observed through the port alone. Run by
 * memory-host-group.test.ts and auto-scaling-host-group.test.ts (the AWS adapter on the local
 * Auto Scaling stand-in).
 */
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../core/errors.ts';
import type { HostGroup } from '../../ports/host-group.ts';

export interface HostGroupFixture {
  readonly group: HostGroup;
  /** Waits until launches and terminations started so far are done (a real group works in the background). */
  settle(): Promise<void>;
}

const members = async (g: HostGroup) => (await g.describe()).instances.filter((i) => /^(InService|Pending)/.test(i.lifecycle)).map((i) => i.id);

/** Declares the contract's tests; `make` returns a fresh group of those bounds with `instances` in service. */
export function describeHostGroupContract(name: string, make: (min: number, max: number, instances: readonly string[]) => Promise<HostGroupFixture>): void {
  describe(`HostGroup contract: ${name}`, () => {
    it('describes its bounds, desired capacity and instances', async () => {
      const { group } = await make(1, 3, ['a1']);
      const state = await group.describe();
      expect(state).toMatchObject({ min: 1, max: 3, desired: 1 });
      expect(state.instances).toEqual([{ id: 'a1', lifecycle: 'InService', protectedFromScaleIn: false }]);
    });

    it('launches instances up to a raised desired capacity, within the max only', async () => {
      const f = await make(1, 3, ['a1']);
      await f.group.setDesiredCapacity(3);
      await f.settle();
      const state = await f.group.describe();
      expect(state.desired).toBe(3);
      expect(state.instances.filter((i) => i.lifecycle === 'InService')).toHaveLength(3);
      await expect(f.group.setDesiredCapacity(4)).rejects.toBeInstanceOf(ValidationError);
      await expect(f.group.setDesiredCapacity(0)).rejects.toBeInstanceOf(ValidationError);
      expect((await f.group.describe()).desired).toBe(3);
    });

    it('terminates one instance with a decrement, never below the min', async () => {
      const f = await make(1, 3, ['a1', 'a2']);
      await f.group.terminateAndDecrement('a2');
      await f.settle();
      expect(await members(f.group)).toEqual(['a1']);
      expect((await f.group.describe()).desired).toBe(1);
      await expect(f.group.terminateAndDecrement('a1')).rejects.toBeInstanceOf(ValidationError);
      await expect(f.group.terminateAndDecrement('nope')).rejects.toBeInstanceOf(ValidationError);
      expect(await members(f.group)).toEqual(['a1']);
    });

    it('keeps protected instances when the desired capacity goes down', async () => {
      const f = await make(0, 3, ['a1', 'a2', 'a3']);
      await f.group.setScaleInProtection(['a1', 'a3'], true);
      expect((await f.group.describe()).instances.filter((i) => i.protectedFromScaleIn).map((i) => i.id)).toEqual(['a1', 'a3']);
      await f.group.setDesiredCapacity(2);
      await f.settle();
      expect(await members(f.group)).toEqual(['a1', 'a3']);
      await f.group.setScaleInProtection(['a3'], false);
      await f.group.setDesiredCapacity(1);
      await f.settle();
      expect(await members(f.group)).toEqual(['a1']);
      await expect(f.group.setScaleInProtection(['nope'], true)).rejects.toBeInstanceOf(ValidationError);
    });
  });
}
