/**
 * A pass within its time budget (app/scheduler/budget.ts): a backlog larger than one pass's budget
 * converges over several passes, each done by its deadline, with everything a pass placed committed,
 * published and woken by that pass. The clock is fake: it moves only when the pass calls the store
 * or the host channel (10 ms a call), so nothing here depends on this machine's speed.
 */
import type { Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import type { HostChannel, Store } from '../../ports/index.ts';
import type { HostStatus, ServiceSpec, TaskStatus } from '../../core/types.ts';
import { makeSchedulerHandler } from '../../app/handlers/scheduler.ts';
import { MIN_PASS_MS, PASS_MARGIN_MS } from '../../app/scheduler/budget.ts';
import type { PassResult } from '../../app/scheduler/pass.ts';
import { aSpec, MiB } from '../builders.ts';
import { converged, passHarness, T0, violations, type PassHarness } from '../pass-harness.ts';

const CALL_MS = 10;
const BUDGET_MS = 2_000;

/** A clock that moves `CALL_MS` per store or channel call, and the harness's store and channel on it. */
/** A store method's cost in ms, by its arguments. */
type Cost = (...args: never[]) => number;

function fakeTime(h: PassHarness, channelMs = CALL_MS, storeMs: Readonly<Record<string, Cost>> = {}) {
  const clock = { ms: Date.parse(T0) + 3_600_000 };
  const ticking = <T extends object>(target: T, ms = CALL_MS, per: Readonly<Record<string, Cost>> = {}): T =>
    new Proxy(target, {
      get(t, prop, receiver) {
        const value = Reflect.get(t, prop, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          const cost = per[String(prop)];
          clock.ms += cost ? cost(...(args as never[])) : ms;
          return value.apply(t, args);
        };
      },
    });
  const now = () => new Date(clock.ms);
  return { clock, now, store: ticking(h.store, CALL_MS, storeMs) as Store, channel: ticking(h.channel, channelMs) as HostChannel };
}

/** The spec with VERSION=`version` in its container's env (a new pod template per version). */
function spec(name: string, version: string, replicas: number): ServiceSpec {
  const s = aSpec({ name, replicas, cpu: 100 });
  return { ...s, spec: { ...s.spec, containers: [{ ...s.spec.containers[0], env: { VERSION: version } }] } };
}

/** Plays the agents: every task in a host's document reports running and healthy. */
async function report(h: PassHarness, at: string): Promise<void> {
  for (const host of await h.inner.listHosts()) {
    const doc = h.channel.docs.get(host.id);
    const tasks: TaskStatus[] = (doc?.tasks ?? []).map((t) => ({
      taskId: t.id,
      namespace: t.namespace,
      service: t.service,
      state: 'running',
      ports: [],
      containers: [],
      since: at,
    }));
    const status: HostStatus = { hostId: host.id, heartbeatAt: at, generation: doc?.generation ?? 0, agentVersion: 't', tasks };
    await h.inner.putHostStatus(status);
  }
}

/** Claimed tasks whose host has no allocation for them, or whose host's document does not list them. */
async function unpublishedClaims(h: PassHarness): Promise<string[]> {
  const hosts = new Map((await h.inner.listHosts()).map((x) => [x.id, x]));
  const out: string[] = [];
  for (const t of await h.inner.listAllTasks()) {
    if (t.desired !== 'running' || !t.host) continue;
    if (!hosts.get(t.host)?.allocations[t.id]) out.push(`${t.id} claimed by ${t.host} without its allocation`);
    if (!h.channel.docs.get(t.host)?.tasks.some((d) => d.id === t.id)) out.push(`${t.id} claimed by ${t.host}, not in its document`);
  }
  return out;
}

describe('a pass within its time budget', () => {
  it('converges a backlog of several budgets over several passes, each within its deadline, a rollout and a scale in the middle', async () => {
    const h = await passHarness(Array.from({ length: 10 }, (_, i) => ({ id: `h${i}`, cpu: 3000 })));
    const time = fakeTime(h);
    await h.inner.putService(spec('web', '1', 60), T0, 0);
    await h.inner.putService(spec('api', '1', 40), T0, 0);

    const where = new Map<string, string>();
    const results: PassResult[] = [];
    let overran = 0;
    for (let pass = 0; pass < 60; pass++) {
      const start = time.clock.ms;
      const r = await h.pass(`p${pass}`, { store: time.store, channel: time.channel, now: time.now, deadline: start + BUDGET_MS });
      results.push(r);
      overran = Math.max(overran, time.clock.ms - start - BUDGET_MS);
      // Every pass: no host over capacity, no task on two hosts, documents only what points back...
      expect(await violations(h)).toEqual([]);
      // ...every claim committed and published by the pass that took it, and hosts woken for it...
      expect(await unpublishedClaims(h)).toEqual([]);
      if (r.placed > 0) expect(h.waker.woken.at(-1)).toEqual(expect.arrayContaining(r.published));
      // ...and a placed task never moves (placed once).
      for (const t of await h.inner.listAllTasks())
        if (t.host) {
          expect(where.get(t.id) ?? t.host).toBe(t.host);
          where.set(t.id, t.host);
        }
      await report(h, time.now().toISOString());
      // In the middle of the backlog: a new version of web (a rollout) and api scaled up.
      if (pass === 1) {
        await h.inner.putService(spec('web', '2', 60), T0, 1);
        await h.inner.setServiceScale('default', 'api', { replicas: 70, source: 'cli', at: T0 }, 1);
      }
      const done = (await h.inner.getService('default', 'web'))?.rollout?.phase === 'complete';
      if (pass > 2 && !r.more && done && (await converged(h)).length === 0) break;
    }

    // The backlog did not fit one budget: passes were cut and left work for the next.
    expect(results.filter((r) => r.more).length).toBeGreaterThanOrEqual(3);
    expect(results.some((r) => (r.more?.services ?? 0) > 0)).toBe(true);
    expect(results.some((r) => (r.more?.placements ?? 0) > 0)).toBe(true);
    // No pass ran past its deadline.
    expect(overran).toBeLessThanOrEqual(0);
    // Converged: the rollout finished (never read as failed from a half-reconciled service), api at its new count.
    expect(results.at(-1)?.more).toBeUndefined();
    expect(await converged(h)).toEqual([]);
    const web = await h.inner.getService('default', 'web');
    expect(web?.rollout).toMatchObject({ specVersion: 2, phase: 'complete' });
    expect(web?.specVersion).toBe(2);
    const tasks = (await h.inner.listAllTasks()).filter((t) => t.desired === 'running');
    expect(tasks.filter((t) => t.service === 'web').map((t) => t.pod.containers[0].env.VERSION)).toEqual(Array(60).fill('2'));
    expect(tasks.filter((t) => t.service === 'api')).toHaveLength(70);
  });

  it('on a slow host channel, places on no more hosts than it can publish to by its deadline', async () => {
    // Parameter Store's pace: a document every 300 ms (3 a second), against 10 ms for a store write.
    const h = await passHarness(Array.from({ length: 30 }, (_, i) => ({ id: `h${i}`, cpu: 3000 })));
    const time = fakeTime(h, 300);
    const over = () => ({ store: time.store, channel: time.channel, now: time.now, deadline: time.clock.ms + BUDGET_MS });
    // A first publication tells the pass what a document costs.
    await h.inner.putService(spec('one', '1', 1), T0, 0);
    await h.pass('warm', over());
    await h.inner.putService(spec('web', '1', 90), T0, 0);
    let passes = 0;
    while (passes < 40) {
      const start = time.clock.ms;
      const r = await h.pass(`p${passes++}`, over());
      expect(time.clock.ms - start).toBeLessThanOrEqual(BUDGET_MS);
      expect(r.published.length).toBeLessThanOrEqual(BUDGET_MS / 300);
      expect(await unpublishedClaims(h)).toEqual([]);
      if (!r.more && (await converged(h)).length === 0) break;
    }
    // 30 hosts' documents at 300 ms do not fit one 2 s pass: several passes, each within its deadline.
    expect(passes).toBeGreaterThanOrEqual(5);
    expect(await converged(h)).toEqual([]);
  });

  it('learns what the steps after reconcile and place cost: a slow event log keeps the passes after the first within their deadline', async () => {
    // Saving the events costs 20 ms an event (dynalite under load: 35 s for 2,460 events, 14 ms), more than the model's ratios allow for.
    const h = await passHarness(Array.from({ length: 10 }, (_, i) => ({ id: `h${i}`, cpu: 30_000, memory: 64 * 1024 * MiB })));
    const time = fakeTime(h, CALL_MS, { putEvents: (events: readonly unknown[]) => 20 * events.length });
    await h.inner.putService(spec('web', '1', 600), T0, 0);
    const took: number[] = [];
    for (let pass = 0; pass < 40; pass++) {
      const start = time.clock.ms;
      const r = await h.pass(`p${pass}`, { store: time.store, channel: time.channel, now: time.now, deadline: start + BUDGET_MS });
      took.push(time.clock.ms - start);
      expect(await violations(h)).toEqual([]);
      if (!r.more && (await converged(h)).length === 0) break;
    }
    // The model's ratios underestimate the events' save: the first pass runs 50 % over. Every later one,
    // on what the last measured, ends by its deadline but for the writes already in flight when its
    // steps stopped taking more (a store call or two here; on AWS the handler's margin holds them).
    expect(took[0]).toBeGreaterThan(BUDGET_MS * 1.25);
    expect(took.slice(1).filter((ms) => ms > BUDGET_MS * 1.02)).toEqual([]);
    expect(await converged(h)).toEqual([]);
  });

  it('places the tasks pending from earlier passes before it creates more', async () => {
    // Store calls cost 10 ms and a document 60 ms: a backlog of 400 tasks takes many passes.
    const h = await passHarness(Array.from({ length: 20 }, (_, i) => ({ id: `h${i}`, cpu: 30_000, memory: 64 * 1024 * MiB })));
    const time = fakeTime(h, 60);
    for (let i = 0; i < 40; i++) await h.inner.putService(spec(`s${i}`, '1', 10), T0, 0);
    const pendingAfter: number[] = [];
    const took: number[] = [];
    for (let pass = 0; pass < 60; pass++) {
      const start = time.clock.ms;
      const r = await h.pass(`p${pass}`, { store: time.store, channel: time.channel, now: time.now, deadline: start + BUDGET_MS });
      took.push(time.clock.ms - start);
      pendingAfter.push((await h.inner.listAllTasks()).filter((t) => t.desired === 'running' && !t.host).length);
      await report(h, time.now().toISOString());
      if (!r.more && (await converged(h)).length === 0) break;
    }
    expect(await converged(h)).toEqual([]);
    expect(pendingAfter.length).toBeGreaterThanOrEqual(3);
    // The first pass runs on the model's ratios (see above); the others within their deadline.
    expect(took.slice(1).filter((ms) => ms > BUDGET_MS * 1.02)).toEqual([]);
    // Created tasks do not pile up: once a pass has measured what a claim costs, the tasks left
    // pending stay about what one pass places (without the reserve: over 200 here, rising while
    // reconcile ran first in every pass).
    expect(Math.max(...pendingAfter.slice(2))).toBeLessThanOrEqual(40);
  });

  it('without a deadline a pass does the whole backlog at once', async () => {
    const h = await passHarness(Array.from({ length: 10 }, (_, i) => ({ id: `h${i}`, cpu: 3000 })));
    await h.inner.putService(spec('web', '1', 100), T0, 0);
    const r = await h.pass();
    expect(r.more).toBeUndefined();
    expect(r.placed).toBe(100);
    expect(await converged(h)).toEqual([]);
  });
});

describe('the scheduler handler', () => {
  it("gives the passes the Lambda context's remaining time less the margin, and runs them back to back while work and time are left", async () => {
    const h = await passHarness(Array.from({ length: 10 }, (_, i) => ({ id: `h${i}`, cpu: 30_000, memory: 64 * 1024 * MiB })));
    const time = fakeTime(h);
    await h.inner.putService(spec('web', '1', 1000), T0, 0);
    const starts: number[] = [];
    const store = new Proxy(time.store, {
      get(t, prop, receiver) {
        // A pass's first read: when it started.
        if (prop === 'listServices') starts.push(time.clock.ms);
        return Reflect.get(t, prop, receiver);
      },
    });
    const handler = makeSchedulerHandler({ store, channel: time.channel, waker: h.waker, cluster: 'c', now: time.now, log: () => {} });
    const invoke = async (remaining: number) => {
      starts.length = 0;
      const at = time.clock.ms;
      const result = await handler({}, { awsRequestId: `r${at}`, getRemainingTimeInMillis: () => remaining } as unknown as Context);
      return { result, at, took: time.clock.ms - at, starts: starts.map((s) => s - at) };
    };

    // 1 s to spare after the margin: one pass, cut by its deadline, and the handler says work is left.
    const short = await invoke(PASS_MARGIN_MS + 1_000);
    expect(short.starts).toEqual([0]);
    expect(short.result.more).toBeDefined();
    expect(short.took).toBeLessThanOrEqual(1_000);

    // 40 s: passes back to back, each started with at least MIN_PASS_MS of the invocation's budget left, none past it.
    const long = await invoke(PASS_MARGIN_MS + 40_000);
    expect(long.starts.length).toBeGreaterThanOrEqual(2);
    for (const s of long.starts.slice(1)) expect(s).toBeLessThanOrEqual(40_000 - MIN_PASS_MS);
    expect(long.took).toBeLessThanOrEqual(40_000);
    expect(long.result.placed).toBeGreaterThan(0);

    // Invocations until nothing is left: converged, every task placed once.
    for (let i = 0; i < 10 && (await converged(h)).length > 0; i++) await invoke(PASS_MARGIN_MS + 40_000);
    expect(await converged(h)).toEqual([]);
    expect(await violations(h)).toEqual([]);
  });
});
