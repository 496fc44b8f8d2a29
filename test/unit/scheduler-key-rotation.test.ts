import type { Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { MemorySigningKeyStore } from '../../adapters/memory/signing-keys.ts';
import { makeSchedulerHandler } from '../../app/handlers/scheduler.ts';
import { rotateSigningKeys } from '../../app/workload-tokens.ts';
import { passHarness } from '../pass-harness.ts';

describe('the scheduler as the one rotator of workload token keys', () => {
  it('makes the first key at its first pass, checks again at most every 10 minutes, and a failure does not fail the pass', async () => {
    const h = await passHarness([{ id: 'h1', cpu: 1000 }]);
    const keys = new MemorySigningKeyStore();
    let now = Date.parse('2026-12-01T00:00:00Z');
    let checks = 0;
    let fail = false;
    const handler = makeSchedulerHandler(
      { store: h.store, channel: h.channel, waker: h.waker, cluster: 'c', now: () => new Date(now), log: () => {} },
      undefined,
      {
        rotateSigningKeys: async () => {
          checks++;
          if (fail) throw new Error('SSM throttled');
          return rotateSigningKeys(keys, now);
        },
      },
    );
    await handler({}, { awsRequestId: 'r1' } as Context);
    expect(await keys.loadSigningKeys()).toHaveLength(1);
    now += 5 * 60_000;
    await handler({}, { awsRequestId: 'r2' } as Context);
    expect(checks).toBe(1);
    now += 5 * 60_000;
    fail = true;
    await expect(handler({}, { awsRequestId: 'r3' } as Context)).resolves.toBeDefined();
    expect(checks).toBe(2);
    // A failed check is tried again at the next pass, not 10 minutes later.
    fail = false;
    await handler({}, { awsRequestId: 'r4' } as Context);
    expect(checks).toBe(3);
  });
});
