import { describe, expect, it } from 'vitest';
import { clampToBounds, desiredReplicas, scaleAfterApply } from '../../core/replicas.ts';
import type { AutoscalingSpec, ServiceScale, ServiceSpec } from '../../core/types.ts';
import { aSpec } from '../contract/store-fixtures.ts';

const AT = '2026-01-01T00:00:00.000Z';
const cli = (replicas: number): ServiceScale => ({ replicas, source: 'cli', at: AT });
const autoscaled = (replicas: number, bounds: Pick<AutoscalingSpec, 'minReplicas' | 'maxReplicas'>): ServiceSpec => {
  const spec = aSpec('team', 'web', { replicas });
  return {
    ...spec,
    spec: { ...spec.spec, autoscaling: { ...bounds, targetCPUUtilization: 60, scaleUpStabilizationSeconds: 0, scaleDownStabilizationSeconds: 300 } },
  };
};

describe('desiredReplicas', () => {
  it('is the spec count until someone scales, then the chosen count', () => {
    expect(desiredReplicas({ spec: aSpec('team', 'web', { replicas: 3 }) })).toBe(3);
    expect(desiredReplicas({ spec: aSpec('team', 'web', { replicas: 3 }), scale: cli(7) })).toBe(7);
    expect(desiredReplicas({ spec: aSpec('team', 'web', { replicas: 3 }), scale: cli(0) })).toBe(0);
  });

  it('stays within the autoscaling bounds, whoever chose the count', () => {
    const spec = autoscaled(1, { minReplicas: 2, maxReplicas: 5 });
    expect(desiredReplicas({ spec })).toBe(2);
    expect(desiredReplicas({ spec, scale: cli(9) })).toBe(5);
    expect(desiredReplicas({ spec, scale: cli(4) })).toBe(4);
    expect(clampToBounds(aSpec('team', 'web'), 900)).toBe(900);
  });
});

describe('scaleAfterApply', () => {
  const before = { spec: aSpec('team', 'web', { replicas: 2 }), scale: cli(5) };

  it('keeps a scale when the apply leaves spec.replicas as it was', () => {
    expect(scaleAfterApply(before, aSpec('team', 'web', { replicas: 2, image: 'other:1' }))).toEqual(cli(5));
  });

  it('drops it when the apply changes spec.replicas: the file wins', () => {
    expect(scaleAfterApply(before, aSpec('team', 'web', { replicas: 4 }))).toBeUndefined();
  });

  it('keeps the autoscaler choice across every apply of an autoscaled service', () => {
    const current = { spec: autoscaled(2, { minReplicas: 1, maxReplicas: 10 }), scale: { ...cli(6), source: 'autoscaler' as const } };
    expect(scaleAfterApply(current, autoscaled(3, { minReplicas: 1, maxReplicas: 10 }))).toEqual(current.scale);
  });

  it('has nothing to keep for a new service or one never scaled', () => {
    expect(scaleAfterApply(undefined, aSpec('team', 'web'))).toBeUndefined();
    expect(scaleAfterApply({ spec: aSpec('team', 'web') }, aSpec('team', 'web', { replicas: 9 }))).toBeUndefined();
  });
});
