/** The CLI's one wait loop and progress line (apply, delete), on a fake clock. */
import { describe, expect, it } from 'vitest';
import type { Out } from '../../cli/command.ts';
import { progress, waitUntil, type Poll } from '../../cli/wait.ts';

function capture(isTTY: boolean) {
  const logs: string[] = [];
  const writes: string[] = [];
  const out: Out = { log: (s) => logs.push(s), err: () => undefined, isTTY, write: (s) => writes.push(s) };
  return { out, logs, writes };
}

/** A clock that moves only when the wait sleeps. */
function fakeClock() {
  let t = 1_000_000;
  const sleeps: number[] = [];
  return {
    now: () => t,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      t += ms;
    },
    sleeps,
  };
}

/** Answers the polls in turn, the last one for ever. */
function script<T>(...polls: Poll<T>[]): () => Promise<Poll<T>> {
  let i = 0;
  return async () => polls[Math.min(i++, polls.length - 1)]!;
}

describe('progress', () => {
  it('prints each new line once when the output is not a terminal', () => {
    const c = capture(false);
    const p = progress(c.out);
    for (const line of ['a: 0/3', 'a: 0/3', 'a: 1/3', 'a: 3/3']) p.show(line);
    p.end();
    expect(c.logs).toEqual(['a: 0/3', 'a: 1/3', 'a: 3/3']);
    expect(c.writes).toEqual([]);
  });

  it('redraws one line on a terminal and ends it with a newline', () => {
    const c = capture(true);
    const p = progress(c.out);
    p.show('a: 0/3');
    p.show('a: 0/3');
    p.show('a: 3/3');
    p.end();
    expect(c.writes).toEqual(['\r\x1b[2Ka: 0/3', '\r\x1b[2Ka: 3/3', '\n']);
    expect(c.logs).toEqual([]);
  });

  it('shows nothing when disabled (-o json keeps stdout for the JSON)', () => {
    const c = capture(true);
    const p = progress(c.out, false);
    p.show('a: 0/3');
    p.end();
    expect(c.writes).toEqual([]);
    expect(c.logs).toEqual([]);
  });
});

describe('waitUntil', () => {
  it('polls until done, shows every state including the last, and returns the value', async () => {
    const clock = fakeClock();
    const c = capture(false);
    const value = await waitUntil(
      script<string>({ done: false, state: 'x: 0/2' }, { done: false, state: 'x: 1/2' }, { done: true, value: 'ok', state: 'x: 2/2' }),
      {
        what: 'x',
        timeoutS: 10,
        everyMs: 300,
        progress: progress(c.out),
        ...clock,
      },
    );
    expect(value).toBe('ok');
    expect(c.logs).toEqual(['x: 0/2', 'x: 1/2', 'x: 2/2']);
    expect(clock.sleeps).toEqual([300, 300]);
  });

  it('times out after the deadline with where it stands (the detail, else the state), having looked once more', async () => {
    const clock = fakeClock();
    let polls = 0;
    const poll = async (): Promise<Poll<void>> => {
      polls++;
      return { done: false, state: 'svc: 1/3 running — pending: no host fits', detail: '1/3 running; pending: no host fits' };
    };
    await expect(waitUntil(poll, { what: 'default/svc', timeoutS: 1, everyMs: 300, ...clock })).rejects.toThrow(
      'timed out after 1s waiting for default/svc: 1/3 running; pending: no host fits',
    );
    // At 0, 300, 600, 900 and 1200 ms: the poll past the deadline is the one reported.
    expect(polls).toBe(5);
    await expect(waitUntil(script<void>({ done: false }), { what: 'x to be deleted', timeoutS: 1, ...fakeClock() })).rejects.toThrow(
      /^timed out after 1s waiting for x to be deleted$/,
    );
  });

  it('ends the progress line and passes on an error from the poll as it is', async () => {
    const c = capture(true);
    let n = 0;
    const poll = async (): Promise<Poll<void>> => {
      if (n++ === 1) throw new Error('cannot reach the API');
      return { done: false, state: 'x: 0/1' };
    };
    await expect(waitUntil(poll, { what: 'x', timeoutS: 60, progress: progress(c.out), ...fakeClock() })).rejects.toThrow('cannot reach the API');
    expect(c.writes).toEqual(['\r\x1b[2Kx: 0/1', '\n']);
  });
});
