/** local/serial-loop.ts: the loop local mode runs its control functions in (one run at a time). */
import { describe, expect, it } from 'vitest';
import { SerialLoop } from '../../local/serial-loop.ts';

/** A body whose runs end when the test says, recording how many overlap. */
function gatedBody() {
  const gates: (() => void)[] = [];
  const state = { runs: 0, inFlight: 0, maxInFlight: 0 };
  const body = async () => {
    state.runs++;
    state.inFlight++;
    state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
    await new Promise<void>((resolve) => gates.push(resolve));
    state.inFlight--;
  };
  const release = async () => {
    while (gates.length === 0) await new Promise((r) => setImmediate(r));
    gates.shift()!();
  };
  return { body, state, release };
}

describe('SerialLoop', () => {
  it('folds kicks during a run into one more run after it, never beside it', async () => {
    const { body, state, release } = gatedBody();
    const loop = new SerialLoop(body, 60_000);
    const first = loop.runNow();
    loop.kick();
    loop.kick();
    const same = loop.runNow();
    await release();
    await release();
    await Promise.all([first, same]);
    expect(state).toEqual({ runs: 2, inFlight: 0, maxInFlight: 1 });
    await loop.stop();
  });

  it('runs at start, again on the timer, and stop waits for the run in progress then runs no more', async () => {
    const { body, state, release } = gatedBody();
    const loop = new SerialLoop(body, 1);
    loop.start();
    await release();
    await release();
    // The timer's third run is in flight: stop waits for it.
    while (state.inFlight === 0) await new Promise((r) => setImmediate(r));
    let done = false;
    const stopped = loop.stop().then(() => (done = true));
    await new Promise((r) => setTimeout(r, 5));
    expect(done).toBe(false);
    await release();
    await stopped;
    const runs = state.runs;
    expect(runs).toBeGreaterThanOrEqual(3);
    loop.kick();
    await loop.runNow();
    await new Promise((r) => setTimeout(r, 20));
    expect(state.runs).toBe(runs);
    expect(state.maxInFlight).toBe(1);
  });
});
