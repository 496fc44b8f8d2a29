import { describe, expect, it } from 'vitest';
import type { ApiClient } from '../../cli/client.ts';
import { RolloutFailed, rolloutLine, waitForRollout, type RolloutStatus } from '../../cli/rollout-wait.ts';

const base: RolloutStatus = {
  namespace: 'default',
  name: 'web',
  specVersion: 2,
  phase: 'progressing',
  rollbackOf: null,
  message: null,
  replicas: 3,
  updated: 1,
  available: 0,
  old: 3,
  startedAt: null,
  progressDeadlineSeconds: 600,
  pending: null,
};

/** A client whose rollout route answers each of `answers` in turn, the last one forever. */
function client(answers: Partial<RolloutStatus>[]): ApiClient {
  let i = 0;
  return { request: async () => ({ ...base, ...answers[Math.min(i++, answers.length - 1)] }) } as unknown as ApiClient;
}

const wait = (answers: Partial<RolloutStatus>[], version = 2) => waitForRollout(client(answers), 'default', 'web', { version, timeoutS: 60, everyMs: 1 });

describe('waitForRollout', () => {
  it('waits until the version is complete, through an older version not yet seen', async () => {
    const s = await wait([{ specVersion: 1, phase: 'complete' }, {}, { phase: 'complete', updated: 3, available: 3, old: 0 }]);
    expect(rolloutLine(s)).toBe('default/web: 3/3 running (version 2 complete: 3 updated, 0 old)');
  });

  it('fails when the version was rolled back, with the reason', async () => {
    const done = wait([{}, { specVersion: 3, rollbackOf: 2, message: '1 new replica(s) failed: web-1-abcde on host-1 crash-looping' }]);
    await expect(done).rejects.toBeInstanceOf(RolloutFailed);
    await expect(wait([{ specVersion: 3, rollbackOf: 2, message: 'x crash-looping' }])).rejects.toThrow(
      'version 2 of default/web failed and was rolled back: x crash-looping',
    );
  });

  it('fails on a failed rollout and when another version replaced it', async () => {
    await expect(wait([{ phase: 'failed', message: 'no new replica became available for 30s' }])).rejects.toThrow(
      /rollout of version 2 of default\/web failed: no new replica/,
    );
    await expect(wait([{ specVersion: 4 }])).rejects.toThrow('was replaced by version 4 before it finished rolling out');
  });
});
