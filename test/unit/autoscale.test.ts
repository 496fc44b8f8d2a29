import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CPU_INITIALIZATION_MS, decideReplicas, type AutoscaleInput, type ReplicaSample } from '../../core/autoscale.ts';
import type { AutoscalingSpec } from '../../core/types.ts';

const NOW = 10_000_000;
const LONG_AGO = NOW - 3_600_000;

const spec = (over: Partial<AutoscalingSpec> = {}): AutoscalingSpec => ({
  minReplicas: 1,
  maxReplicas: 100,
  targetCPUUtilization: 50,
  scaleUpStabilizationSeconds: 0,
  scaleDownStabilizationSeconds: 0,
  ...over,
});

/** `n` ready replicas, running for an hour, each with these readings. */
const ready = (n: number, usage: Partial<ReplicaSample> = {}): ReplicaSample[] =>
  Array.from({ length: n }, (_, i) => ({ taskId: `t${i}`, ready: true, startedAt: LONG_AGO, ...usage }));

const input = (over: Partial<AutoscaleInput>): AutoscaleInput => ({
  name: 'web',
  autoscaling: spec(),
  current: 3,
  replicas: ready(3, { cpu: 50 }),
  history: [],
  watchedSince: LONG_AGO,
  now: NOW,
  ...over,
});

describe('decideReplicas: the target-tracking rule', () => {
  // HPA's docs: "if the current metric value is 200m, and the desired value is 100m, the number of replicas will be doubled".
  it('doubles the replicas when the metric is twice the target', () => {
    const d = decideReplicas(input({ replicas: ready(3, { cpu: 100 }) }));
    expect(d.replicas).toBe(6);
    expect(d.message).toBe('web 3 → 6: cpu 100% of 50% target');
    expect(d.reason).toBe('cpu 100% of 50% target');
  });

  // "... if the current value is instead 50m, you'll halve the number of replicas".
  it('halves the replicas when the metric is half the target', () => {
    const d = decideReplicas(input({ current: 4, replicas: ready(4, { cpu: 25 }) }));
    expect(d.replicas).toBe(2);
    expect(d.message).toBe('web 4 → 2: cpu 25% of 50% target');
  });

  it('changes nothing within the 10% tolerance, and acts just outside it', () => {
    expect(decideReplicas(input({ replicas: ready(3, { cpu: 54.5 }) })).changed).toBe(false);
    expect(decideReplicas(input({ replicas: ready(3, { cpu: 45.5 }) })).changed).toBe(false);
    expect(decideReplicas(input({ replicas: ready(3, { cpu: 56 }) })).replicas).toBe(4);
    expect(decideReplicas(input({ replicas: ready(3, { cpu: 40 }) })).replicas).toBe(3); // ceil(0.8 × 3) = 3
    expect(decideReplicas(input({ replicas: ready(3, { cpu: 30 }) })).replicas).toBe(2);
  });

  it('takes the highest proposal of several targets', () => {
    const d = decideReplicas(input({ autoscaling: spec({ targetMemoryUtilization: 50 }), current: 2, replicas: ready(2, { cpu: 75, memory: 150 }) }));
    expect(d.replicas).toBe(6);
    expect(d.reason).toBe('memory 150% of 50% target');
    expect(d.readings.map((r) => [r.metric, r.proposal])).toEqual([
      ['cpu', 3],
      ['memory', 6],
    ]);
  });

  it('follows requests per replica from the load balancer', () => {
    const d = decideReplicas(
      input({ autoscaling: spec({ targetCPUUtilization: undefined, targetRequestsPerReplica: 10 }), current: 5, replicas: ready(5), requestsPerReplica: 19 }),
    );
    expect(d.replicas).toBe(10);
    expect(d.reason).toBe('requests 19/s per replica of 10/s target');
  });

  it('stays within minReplicas and maxReplicas, and says so', () => {
    const up = decideReplicas(input({ autoscaling: spec({ maxReplicas: 4 }), replicas: ready(3, { cpu: 100 }) }));
    expect(up.replicas).toBe(4);
    expect(up.message).toBe('web 3 → 4: cpu 100% of 50% target, capped at maxReplicas 4');
    const down = decideReplicas(input({ autoscaling: spec({ minReplicas: 3 }), current: 4, replicas: ready(4, { cpu: 1 }) }));
    expect(down.replicas).toBe(3);
  });

  it('scales up at most to double, or 4 more, in one step (HPA default policies)', () => {
    expect(decideReplicas(input({ current: 1, replicas: ready(1, { cpu: 500 }) })).replicas).toBe(5);
    expect(decideReplicas(input({ current: 10, replicas: ready(10, { cpu: 500 }) })).replicas).toBe(20);
  });
});

describe('decideReplicas: replicas without a measurement, or not yet ready', () => {
  const missing = (n: number): ReplicaSample[] => Array.from({ length: n }, (_, i) => ({ taskId: `m${i}`, ready: false }));

  it('counts unmeasured replicas as 0% on a scale-up: two hot and two pending replicas are enough', () => {
    const d = decideReplicas(input({ current: 4, replicas: [...ready(2, { cpu: 100 }), ...missing(2)] }));
    expect(d.replicas).toBe(4);
    expect(d.readings[0].note).toBe('assumed 0% for 2 unmeasured');
  });

  it('still scales up when the known replicas outweigh 0% for the unmeasured', () => {
    expect(decideReplicas(input({ current: 4, replicas: [...ready(3, { cpu: 100 }), ...missing(1)] })).replicas).toBe(6);
  });

  it('counts unmeasured replicas as 100% on a scale-down', () => {
    expect(decideReplicas(input({ current: 4, replicas: [...ready(3, { cpu: 10 }), ...missing(1)] })).replicas).toBe(3);
  });

  it('changes nothing when the assumption reverses the direction', () => {
    expect(decideReplicas(input({ current: 4, replicas: [...ready(1, { cpu: 10 }), ...missing(3)] })).changed).toBe(false);
  });

  it('ignores the CPU of replicas that are starting, so a rollout is not load', () => {
    const starting = (cpu: number): ReplicaSample => ({ taskId: 's', ready: false, startedAt: NOW - 10_000, cpu });
    const d = decideReplicas(input({ current: 4, replicas: [...ready(2, { cpu: 50 }), starting(300), starting(300)] }));
    expect(d.changed).toBe(false);
    // Hot ready replicas with starting ones: the starting ones count as 0%.
    expect(decideReplicas(input({ current: 4, replicas: [...ready(2, { cpu: 100 }), starting(300), starting(300)] })).changed).toBe(false);
  });

  it('trusts the CPU of a replica not ready for longer than the initialization period', () => {
    const old: ReplicaSample = { taskId: 'o', ready: false, startedAt: NOW - CPU_INITIALIZATION_MS - 1, cpu: 100 };
    expect(decideReplicas(input({ current: 1, replicas: [old] })).replicas).toBe(2);
  });

  it('holds when no ready replica reports the metric', () => {
    const d = decideReplicas(input({ replicas: missing(3) }));
    expect(d.changed).toBe(false);
    expect(d.readings[0]).toEqual({ metric: 'cpu', target: 50, note: 'no ready replica reports cpu yet' });
  });

  it('does not scale down while another target is not measured', () => {
    const d = decideReplicas(input({ autoscaling: spec({ targetMemoryUtilization: 50 }), current: 4, replicas: ready(4, { cpu: 5 }) }));
    expect(d.changed).toBe(false);
    expect(d.reason).toContain('not scaling down while memory not measured');
  });
});

describe('decideReplicas: stabilization windows', () => {
  it('scales down only to the highest recommendation of the scale-down window', () => {
    const d = decideReplicas(
      input({
        autoscaling: spec({ scaleDownStabilizationSeconds: 300 }),
        current: 6,
        replicas: ready(6, { cpu: 10 }),
        history: [
          { at: NOW - 400_000, replicas: 9 },
          { at: NOW - 200_000, replicas: 5 },
          { at: NOW - 100_000, replicas: 3 },
        ],
      }),
    );
    expect(d.recommendation).toBe(2);
    expect(d.replicas).toBe(5);
    expect(d.reason).toBe('cpu 10% of 50% target; held at 5, the highest recommendation of the last 300 s');
    // The entry older than both windows is dropped; this one is recorded.
    expect(d.history).toEqual([
      { at: NOW - 200_000, replicas: 5 },
      { at: NOW - 100_000, replicas: 3 },
      { at: NOW, replicas: 2 },
    ]);
  });

  it('scales up only to the lowest recommendation of the scale-up window', () => {
    const d = decideReplicas(
      input({
        autoscaling: spec({ scaleUpStabilizationSeconds: 60 }),
        current: 2,
        replicas: ready(2, { cpu: 200 }),
        history: [{ at: NOW - 30_000, replicas: 3 }],
      }),
    );
    expect(d.replicas).toBe(3);
  });

  it('does not scale down before it has watched a whole scale-down window', () => {
    const d = decideReplicas(
      input({ autoscaling: spec({ scaleDownStabilizationSeconds: 300 }), current: 4, replicas: ready(4, { cpu: 5 }), watchedSince: NOW - 60_000 }),
    );
    expect(d.changed).toBe(false);
    expect(d.reason).toContain('not scaling down before 300 s of recommendations are known');
  });

  it('never flaps: every output is within bounds and never below a count it scaled up to within the scale-down window', () => {
    const step = 15_000;
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 400 }), { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 0, max: 120 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 4, max: 30 }),
        (loads, downWindow, min, max) => {
          const a = spec({ minReplicas: min, maxReplicas: max, scaleDownStabilizationSeconds: downWindow });
          let current = min;
          let history: AutoscaleInput['history'] = [];
          const ups: { at: number; replicas: number }[] = [];
          loads.forEach((load, i) => {
            const now = NOW + i * step;
            const d = decideReplicas({
              name: 'web',
              autoscaling: a,
              current,
              replicas: ready(current, { cpu: load }),
              history,
              watchedSince: NOW - 1_000_000,
              now,
            });
            expect(d.replicas).toBeGreaterThanOrEqual(min);
            expect(d.replicas).toBeLessThanOrEqual(max);
            if (d.replicas < current) {
              for (const up of ups) if (up.at > now - downWindow * 1000) expect(d.replicas).toBeGreaterThanOrEqual(up.replicas);
            }
            if (d.replicas > current) ups.push({ at: now, replicas: d.replicas });
            current = d.replicas;
            history = d.history;
          });
        },
      ),
    );
  });

  it('settles: a steady load at the target changes nothing', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 46, max: 54 }), (n, cpu) => {
        expect(decideReplicas(input({ current: n, replicas: ready(n, { cpu }) })).changed).toBe(false);
      }),
    );
  });
});
