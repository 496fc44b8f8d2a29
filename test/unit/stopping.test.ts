import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  DEFAULT_TERMINATION_GRACE_SECONDS,
  planLeaving,
  STOP_SIGNALS,
  stopSignalProblem,
  terminationGraceOf,
  type LeavingContainer,
} from '../../core/stopping.ts';
import { parseServiceSpec } from '../../core/spec.ts';
import { ValidationError } from '../../core/errors.ts';
import { podOf } from '../../core/reconciler.ts';
import { Stopper } from '../../agent/stopping.ts';
import type { ContainerInfo, StopResult } from '../../agent/executor.ts';
import type { ClusterEvent } from '../../core/types.ts';

function spec(extra: { spec?: Record<string, unknown>; container?: Record<string, unknown> } = {}) {
  return parseServiceSpec({
    kind: 'Service',
    metadata: { name: 'web' },
    spec: { ...extra.spec, containers: [{ name: 'app', image: 'skiff/busybox:latest', ...extra.container }] },
  });
}

function issues(extra: Parameters<typeof spec>[0]): string[] {
  try {
    spec(extra);
    return [];
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
}

describe('spec: stopSignal and terminationGracePeriodSeconds', () => {
  it('defaults the grace period to 30 seconds and leaves the signal to its default, SIGTERM', () => {
    const s = spec();
    expect(s.spec.terminationGracePeriodSeconds).toBe(DEFAULT_TERMINATION_GRACE_SECONDS);
    expect(s.spec.containers[0].stopSignal).toBeUndefined();
  });

  it('accepts each listed signal and a grace period from 0 to 600, and carries the grace period into the pod', () => {
    for (const signal of STOP_SIGNALS) expect(spec({ container: { stopSignal: signal } }).spec.containers[0].stopSignal).toBe(signal);
    const s = spec({ spec: { terminationGracePeriodSeconds: 0 } });
    expect(s.spec.terminationGracePeriodSeconds).toBe(0);
    expect(spec({ spec: { terminationGracePeriodSeconds: 600 } }).spec.terminationGracePeriodSeconds).toBe(600);
    const service = { namespace: 'default', name: 'web', spec: s, specVersion: 1, createdAt: '', updatedAt: '', deleting: false };
    expect(podOf(service).terminationGracePeriodSeconds).toBe(0);
  });

  it('refuses a signal written without SIG or in lowercase, with the spelling to use', () => {
    expect(issues({ container: { stopSignal: 'TERM' } })).toEqual(['spec.containers[0].stopSignal: must be written "SIGTERM"; got "TERM"']);
    expect(issues({ container: { stopSignal: 'sigquit' } })).toEqual(['spec.containers[0].stopSignal: must be written "SIGQUIT"; got "sigquit"']);
  });

  it('refuses signals that are not for stopping, numbers and other types, naming the allowed list', () => {
    expect(issues({ container: { stopSignal: 'SIGSTOP' } })[0]).toMatch(
      /^spec\.containers\[0\]\.stopSignal: must be one of SIGTERM, SIGINT, .*; got "SIGSTOP"$/,
    );
    expect(issues({ container: { stopSignal: '15' } })[0]).toMatch(/stopSignal: must be a signal name, not a number/);
    expect(issues({ container: { stopSignal: 15 } })[0]).toMatch(/stopSignal: must be a signal name, one of SIGTERM/);
  });

  it('refuses a grace period that is negative, fractional, over 600 or not a number', () => {
    for (const bad of [-1, 1.5, 601, '30s']) {
      expect(issues({ spec: { terminationGracePeriodSeconds: bad } })[0]).toMatch(
        /^spec\.terminationGracePeriodSeconds: must be an integer number of seconds from 0 to 600: how long each replica gets between its stop signal and the kill \(default 30\)/,
      );
    }
  });

  it("answers Compose's and Nomad's names with Skiff's", () => {
    expect(issues({ spec: { stop_grace_period: 10 } })[0]).toMatch(/did you mean "terminationGracePeriodSeconds"/);
    expect(issues({ container: { stop_signal: 'SIGINT' } })[0]).toMatch(/did you mean "stopSignal"/);
  });

  it('gives a pod stored before the field existed the default grace period', () => {
    expect(terminationGraceOf({})).toBe(30);
    expect(terminationGraceOf({ terminationGracePeriodSeconds: 5 })).toBe(5);
    expect(stopSignalProblem('SIGTERM')).toBeUndefined();
  });
});

const running = (id: string, taskId: string, graceSeconds?: number): LeavingContainer => ({
  id,
  taskId,
  running: true,
  ...(graceSeconds === undefined ? {} : { graceSeconds }),
});

describe('planLeaving', () => {
  it('holds a running container for the drain delay from when its task was first seen leaving, then stops it with its grace period', () => {
    const base = { drainMs: 5000, fallbackGraceSeconds: 10 };
    const first = planLeaving({ ...base, containers: [running('c1', 't1', 30)], since: new Map(), now: 1000 });
    expect(first.stop).toEqual([]);
    expect(first.draining.get('t1')).toBe(6000);
    expect(first.since.get('t1')).toBe(1000);
    const before = planLeaving({ ...base, containers: [running('c1', 't1', 30)], since: first.since, now: 5999 });
    expect(before.stop).toEqual([]);
    const due = planLeaving({ ...base, containers: [running('c1', 't1', 30)], since: first.since, now: 6000 });
    expect(due.stop).toEqual([{ container: running('c1', 't1', 30), graceSeconds: 30, drainedMs: 5000 }]);
  });

  it('removes a container that already stopped at once, and uses the fallback grace period for a container without one', () => {
    const out = planLeaving({
      containers: [{ id: 'c1', taskId: 't1', running: false }, running('c2', 't2')],
      since: new Map(),
      now: 0,
      drainMs: 5000,
      fallbackGraceSeconds: 7,
    });
    expect(out.stop.map((s) => s.container.id)).toEqual(['c1']);
    const later = planLeaving({ containers: [running('c2', 't2')], since: out.since, now: 5000, drainMs: 5000, fallbackGraceSeconds: 7 });
    expect(later.stop).toEqual([{ container: running('c2', 't2'), graceSeconds: 7, drainedMs: 5000 }]);
  });

  it('skips the drain after a freeze: the tasks left discovery when the host was declared down', () => {
    const out = planLeaving({ containers: [running('c1', 't1')], since: new Map(), now: 0, drainMs: 30_000, fallbackGraceSeconds: 10, skipDrain: true });
    expect(out.stop).toHaveLength(1);
  });

  it('forgets a task that is no longer leaving (it came back into the document, or its containers are gone)', () => {
    const out = planLeaving({ containers: [], since: new Map([['t1', 0]]), now: 10, drainMs: 5000, fallbackGraceSeconds: 10 });
    expect(out.since.size).toBe(0);
  });

  it('never signals a running container before the drain has passed since it was first seen, whatever the rounds (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ advance: fc.integer({ min: 0, max: 3000 }), present: fc.subarray(['t1', 't2', 't3']) }), { minLength: 1, maxLength: 30 }),
        fc.integer({ min: 0, max: 10_000 }),
        (rounds, drainMs) => {
          let now = 0;
          let since = new Map<string, number>();
          const firstSeen = new Map<string, number>();
          for (const r of rounds) {
            now += r.advance;
            for (const t of [...firstSeen.keys()]) if (!r.present.includes(t)) firstSeen.delete(t);
            for (const t of r.present) if (!firstSeen.has(t)) firstSeen.set(t, now);
            const out = planLeaving({ containers: r.present.map((t) => running(`c-${t}`, t)), since, now, drainMs, fallbackGraceSeconds: 1 });
            for (const s of out.stop) expect(now - firstSeen.get(s.container.taskId)!).toBeGreaterThanOrEqual(drainMs);
            for (const t of r.present) {
              const stopped = out.stop.some((s) => s.container.taskId === t);
              // Exactly one of: stopped now, or draining until a time after now.
              expect(stopped || (out.draining.get(t) ?? -1) > now).toBe(true);
            }
            since = out.since;
          }
        },
      ),
    );
  });
});

/** An executor whose stops end when the test says, recording each one. */
class FakeStops {
  readonly calls: { id: string; grace: number }[] = [];
  private readonly pending = new Map<string, (r: StopResult) => void>();
  stopAndRemove = (id: string, grace: number): Promise<StopResult> => {
    this.calls.push({ id, grace });
    return new Promise((resolve) => this.pending.set(id, resolve));
  };
  finish(id: string, exitCode: number): void {
    this.pending.get(id)?.({ exitCode });
    this.pending.delete(id);
  }
}

function aContainer(id: string, taskId: string, over: Partial<ContainerInfo> = {}): ContainerInfo {
  return { id, name: `skiff.c.default.${taskId}.app`, taskId, container: 'app', specHash: 'h', state: 'running', ports: [], stopGraceSeconds: 30, ...over };
}

function aStopper(drainMs: number) {
  let now = 0;
  const executor = new FakeStops();
  const events: Pick<ClusterEvent, 'type' | 'message' | 'task'>[] = [];
  const timers: { at: number; fn: () => void }[] = [];
  let rounds = 0;
  const stopper = new Stopper(
    { drainMs, fallbackGraceSeconds: 10 },
    {
      executor,
      now: () => now,
      log: () => {},
      event: (type, message, about) => events.push({ type, message, ...(about.task ? { task: about.task } : {}) }),
      schedule: (fn, ms) => timers.push({ at: now + ms, fn }),
      onStopped: () => rounds++,
    },
  );
  return {
    stopper,
    executor,
    events,
    timers,
    rounds: () => rounds,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('Stopper', () => {
  it('signals a leaving task only after the drain, once, on the side, and reports how it ended', async () => {
    const h = aStopper(5000);
    const leaving = [aContainer('c1', 'web-1-aaaaa')];
    expect(h.stopper.sync(leaving)).toMatchObject({ remaining: 1 });
    expect(h.executor.calls).toEqual([]);
    // A round is scheduled for when the drain ends, so the signal is not late by a reconcile interval.
    expect(h.timers.map((t) => t.at)).toEqual([5000]);
    h.advance(4999);
    h.stopper.sync(leaving);
    expect(h.executor.calls).toEqual([]);
    h.advance(1);
    h.stopper.sync(leaving);
    h.stopper.sync(leaving);
    expect(h.executor.calls).toEqual([{ id: 'c1', grace: 30 }]);
    expect(h.stopper.busy).toBe(true);
    h.advance(1200);
    h.executor.finish('c1', 0);
    await h.stopper.settled();
    expect(h.events).toEqual([
      {
        type: 'task.stopped',
        task: 'web-1-aaaaa',
        message: 'task web-1-aaaaa stopped after a 5.0s drain: exited within its grace period of 30s (1.2s; exit app 0)',
      },
    ]);
    expect(h.rounds()).toBe(1);
  });

  it('says a container was killed when it exited 137 after its whole grace period', async () => {
    const h = aStopper(0);
    h.stopper.sync([aContainer('c1', 't1', { stopGraceSeconds: 2 })]);
    h.advance(2100);
    h.executor.finish('c1', 137);
    await h.stopper.settled();
    expect(h.events[0].message).toContain('killed after its grace period of 2s');
  });

  it('stops the containers of one pod together', () => {
    const h = aStopper(0);
    h.stopper.sync([aContainer('c1', 't1'), aContainer('c2', 't1', { container: 'side' }), aContainer('c3', 't2', { stopGraceSeconds: 3 })]);
    expect(h.executor.calls).toEqual([
      { id: 'c1', grace: 30 },
      { id: 'c2', grace: 30 },
      { id: 'c3', grace: 3 },
    ]);
  });
});
