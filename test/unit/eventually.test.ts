/** The tests' wait helper: a check that never settles fails the wait at its deadline, named. */
import { describe, expect, it } from 'vitest';
import { eventually } from '../helpers/cli.ts';

describe('eventually', () => {
  it('returns the first value a check gives, after retrying checks that throw or give nothing', async () => {
    let calls = 0;
    const v = await eventually(
      async () => {
        calls++;
        if (calls === 1) throw new Error('not yet');
        return calls === 2 ? undefined : 'ready';
      },
      'a value',
      5_000,
      1,
    );
    expect(v).toBe('ready');
    expect(calls).toBe(3);
  });

  it('names the last error when the deadline passes', async () => {
    await expect(
      eventually(
        async () => {
          throw new Error('connection refused');
        },
        'the server',
        50,
        5,
      ),
    ).rejects.toThrow('timed out waiting for the server: connection refused');
  });

  it('fails at the deadline when a check never settles, instead of waiting on it', async () => {
    const err = await eventually(() => new Promise<string>(() => {}), 'a quiet server', 100).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/^timed out waiting for a quiet server: its last check had not returned after \d+ ms$/);
  });
});
