import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { assessHosts, evictionBudget, resolvePolicy, type HealthCheckpoint } from '../../core/health.ts';
import type { Host, HostStatus, TaskStatus } from '../../core/types.ts';
import { aHost } from '../builders.ts';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();
// suspect after 1.5 s, idle down after 3 s, busy down after 9 s, 1 eviction per 30 s for up to 10 hosts
const policy = { graceMs: 3000, checkIntervalMs: 1000 };
const aTaskStatus = (state: TaskStatus['state']): TaskStatus => ({
  taskId: `t-${state}`,
  namespace: 'default',
  service: 'web',
  state,
  ports: [],
  containers: [],
  since: iso(T0),
});
const status = (hostId: string, at: number, generation = 1, extra: Partial<HostStatus> = {}): HostStatus => ({
  hostId,
  heartbeatAt: iso(at),
  generation,
  tasks: [],
  agentVersion: 't',
  ...extra,
});
const running = { lastRunAt: T0 + 9000, resumedAt: T0 };
const hostsNamed = (...ids: string[]) => ids.map((id) => aHost({ id, registeredAt: iso(T0) }));
const beats = (entries: [string, number][], extra: Partial<HostStatus> = {}) => new Map(entries.map(([id, at]) => [id, status(id, at, 1, extra)]));

describe('assessHosts', () => {
  it('declares down a host whose heartbeat is older than the grace period', () => {
    const hosts = hostsNamed('a', 'b', 'c');
    const r = assessHosts(
      hosts,
      beats([
        ['a', T0 + 9500],
        ['b', T0 + 6000],
        ['c', T0 + 9800],
      ]),
      new Map(),
      running,
      T0 + 10_000,
      policy,
    );
    expect(r.transitions).toEqual([{ host: 'b', from: 'ready', to: 'down', reason: 'no heartbeat for more than 3s (last 4s ago)' }]);
  });

  it.each([
    // [what, host state, silent (ms), last report busy, docker unresponsive, expected transition]
    ['a host heartbeating on time stays ready', 'ready', 500, false, false, undefined],
    ['a host silent past the suspect threshold becomes suspect', 'ready', 2000, false, false, 'suspect'],
    ['an idle host silent past the grace is down', 'ready', 3500, false, false, 'down'],
    ['a busy host silent past the idle grace is only suspect', 'ready', 3500, true, false, 'suspect'],
    ['a busy host silent past the busy grace is down', 'suspect', 9500, true, false, 'down'],
    ['a suspect host that heartbeats again is ready', 'suspect', 500, false, false, 'ready'],
    ['a heartbeating host whose Docker does not answer is degraded', 'ready', 500, false, true, 'degraded'],
    ['a degraded host whose Docker answers again is ready', 'degraded', 500, false, false, 'ready'],
    ['a degraded host that falls silent is suspect, then down', 'degraded', 2000, false, true, 'suspect'],
    ['a draining host is never suspect: it takes no new task anyway', 'draining', 2000, false, false, undefined],
    ['a draining host silent past the grace is down', 'draining', 3500, false, false, 'down'],
  ] as const)('%s', (_what, state, silentMs, busy, unresponsive, to) => {
    const now = T0 + 60_000;
    const victim = aHost({ id: 'v', state, registeredAt: iso(T0) });
    const extra: Partial<HostStatus> = {
      ...(busy ? { tasks: [aTaskStatus('creating')] } : {}),
      ...(unresponsive ? { runtime: { state: 'unresponsive', since: iso(T0), message: 'no Docker call answered for more than 30s' } } : {}),
    };
    // Two healthy hosts beside it, so that one silent host is not a mass silence.
    const hosts = [victim, ...hostsNamed('a', 'b')];
    const statuses = new Map([
      ['v', status('v', now - silentMs, 1, extra)],
      ['a', status('a', now)],
      ['b', status('b', now)],
    ]);
    const r = assessHosts(hosts, statuses, new Map(), { lastRunAt: now - 1000, resumedAt: T0 }, now, policy);
    expect(r.transitions.map((t) => t.to)).toEqual(to ? [to] : []);
  });

  it('gives a host that never reported the grace period from its registration', () => {
    const hosts = [aHost({ id: 'new', registeredAt: iso(T0 + 8000) }), ...hostsNamed('old', 'x', 'y')];
    const r = assessHosts(
      hosts,
      beats([
        ['x', T0 + 9900],
        ['y', T0 + 9900],
      ]),
      new Map(),
      running,
      T0 + 10_000,
      policy,
    );
    expect(r.transitions.map((t) => [t.host, t.to])).toEqual([
      ['old', 'down'],
      ['new', 'suspect'],
    ]);
  });

  it('holds evictions when more than half of the hosts are silent at once, and says why', () => {
    const hosts = hostsNamed('a', 'b', 'c');
    const now = T0 + 20_000;
    const r = assessHosts(
      hosts,
      beats([
        ['a', now - 10_000],
        ['b', now - 10_000],
        ['c', now],
      ]),
      new Map(),
      { lastRunAt: now - 1000, resumedAt: T0 },
      now,
      policy,
    );
    expect(r.transitions.map((t) => [t.host, t.to])).toEqual([
      ['a', 'suspect'],
      ['b', 'suspect'],
    ]);
    expect(r.transitions[0].reason).toContain('not declared down: 2 of 3 hosts silent at once');
    expect(r.hold).toMatchObject({ silent: ['a', 'b'], hosts: 3 });
    expect(r.checkpoint.heldSince).toBe(now);
    // the hold keeps its start while it lasts, and ends when the silence does
    const later = assessHosts(
      hosts,
      beats([
        ['a', now - 10_000],
        ['b', now - 10_000],
        ['c', now + 1000],
      ]),
      new Map(),
      r.checkpoint,
      now + 1000,
      policy,
    );
    expect(later.checkpoint.heldSince).toBe(now);
    const over = assessHosts(
      hosts,
      beats([
        ['a', now + 2000],
        ['b', now + 2000],
        ['c', now + 2000],
      ]),
      new Map(),
      later.checkpoint,
      now + 2000,
      policy,
    );
    expect(over.hold).toBeUndefined();
    expect(over.checkpoint.heldSince).toBeUndefined();
  });

  it('gives the hosts a fresh grace when a hold ends: those that come back last are not evicted for the wait', () => {
    const now = T0 + 200_000;
    // a and b were paused together for two minutes (held, suspect); a has just come back, b not yet.
    const hosts = [
      aHost({ id: 'a', state: 'suspect', stateSince: iso(T0 + 80_000), registeredAt: iso(T0) }),
      aHost({ id: 'b', state: 'suspect', stateSince: iso(T0 + 80_000), registeredAt: iso(T0) }),
      ...hostsNamed('c'),
    ];
    const held: HealthCheckpoint = { lastRunAt: now - 1000, resumedAt: T0, heldSince: T0 + 80_000 };
    const r = assessHosts(
      hosts,
      beats([
        ['a', now],
        ['b', T0 + 78_000],
        ['c', now],
      ]),
      new Map(),
      held,
      now,
      policy,
    );
    expect(r.hold).toBeUndefined();
    expect(r.transitions.map((t) => [t.host, t.to])).toEqual([['a', 'ready']]);
    // b gets the whole grace from the release: still not down 3 s later, down once silent for longer
    hosts[0] = { ...hosts[0], state: 'ready', stateSince: iso(now) };
    const later = assessHosts(
      hosts,
      beats([
        ['a', now + 3000],
        ['b', T0 + 78_000],
        ['c', now + 3000],
      ]),
      new Map(),
      r.checkpoint,
      now + 3000,
      policy,
    );
    expect(later.transitions).toEqual([]);
    const after = assessHosts(
      hosts,
      beats([
        ['a', now + 3500],
        ['b', T0 + 78_000],
        ['c', now + 3500],
      ]),
      new Map(),
      later.checkpoint,
      now + 3500,
      policy,
    );
    expect(after.transitions.map((t) => [t.host, t.to])).toEqual([['b', 'down']]);
  });

  it('keeps a suspect host suspect until it is heard from, even when the clock restarts', () => {
    const hosts = [aHost({ id: 'a', state: 'suspect', stateSince: iso(T0 + 50_000), registeredAt: iso(T0) }), ...hostsNamed('b', 'c')];
    // the control plane was away for 10 s: silence is judged from its return, but a has not beaten since it became suspect
    const r = assessHosts(
      hosts,
      beats([
        ['a', T0 + 49_000],
        ['b', T0 + 60_000],
        ['c', T0 + 60_000],
      ]),
      new Map(),
      { lastRunAt: T0 + 50_000, resumedAt: T0 },
      T0 + 60_000,
      policy,
    );
    expect(r.transitions).toEqual([]);
  });

  it('still replaces one dead host of three (a third is no mass silence)', () => {
    const hosts = hostsNamed('a', 'b', 'c');
    const now = T0 + 20_000;
    const r = assessHosts(
      hosts,
      beats([
        ['a', now - 10_000],
        ['b', now],
        ['c', now],
      ]),
      new Map(),
      { lastRunAt: now - 1000, resumedAt: T0 },
      now,
      policy,
    );
    expect(r.transitions.map((t) => [t.host, t.to])).toEqual([['a', 'down']]);
    expect(r.hold).toBeUndefined();
  });

  it('declares down no more hosts per window than the eviction budget; the rest stay suspect', () => {
    // 20 hosts: the budget is 2 per 30 s; 4 silent (20%: no mass silence), one declared down a moment ago.
    const ids = Array.from({ length: 20 }, (_, i) => `h${String(i).padStart(2, '0')}`);
    const now = T0 + 100_000;
    const hosts = ids.map((id, i) => aHost({ id, registeredAt: iso(T0), ...(i === 0 ? { state: 'down' as const, stateSince: iso(now - 10_000) } : {}) }));
    const statuses = beats(ids.map((id, i) => [id, i < 4 ? now - 20_000 + i * 1000 : now]));
    const r = assessHosts(hosts, statuses, new Map(), { lastRunAt: now - 1000, resumedAt: T0 }, now, policy);
    expect(evictionBudget(20, resolvePolicy(policy))).toBe(2);
    // the longest silent first
    expect(r.transitions.map((t) => [t.host, t.to])).toEqual([
      ['h01', 'down'],
      ['h02', 'suspect'],
      ['h03', 'suspect'],
    ]);
    expect(r.deferred).toEqual(['h02', 'h03']);
    expect(r.transitions[1].reason).toContain('eviction budget of 2 host(s) per 30s spent');
    // once the window has passed, the budget is whole again: the deferred ones go
    const later = hosts.map((h) =>
      h.id === 'h01' ? { ...h, state: 'down' as const, stateSince: iso(now) } : h.id === 'h02' || h.id === 'h03' ? { ...h, state: 'suspect' as const } : h,
    );
    const fresh = beats(ids.map((id, i) => [id, i < 4 ? now - 20_000 + i * 1000 : now + 30_000]));
    const next = assessHosts(later, fresh, new Map(), { lastRunAt: now + 29_000, resumedAt: T0 }, now + 30_000, policy);
    expect(next.transitions.map((t) => [t.host, t.to])).toEqual([
      ['h02', 'down'],
      ['h03', 'down'],
    ]);
  });

  it('does not reschedule a healthy fleet after the control plane itself was away', () => {
    const hosts = hostsNamed('a', 'b', 'c');
    // agents could not report while the store was down: every heartbeat is a minute old
    const old = beats([
      ['a', T0 + 1000],
      ['b', T0 + 1000],
      ['c', T0 + 1000],
    ]);
    const back = assessHosts(hosts, old, new Map(), { lastRunAt: T0 + 1000, resumedAt: T0 }, T0 + 60_000, policy);
    expect(back.transitions).toEqual([]);
    expect(back.checkpoint).toEqual({ lastRunAt: T0 + 60_000, resumedAt: T0 + 60_000 });
    // ... a and b report again; c stays silent after the return: suspect, then down once the grace has passed again
    let checkpoint: HealthCheckpoint = back.checkpoint;
    let c: Host = hosts[2];
    const seen: string[] = [];
    for (let t = T0 + 61_000; t <= T0 + 64_000; t += 1000) {
      const r = assessHosts(
        [hosts[0], hosts[1], c],
        beats([
          ['a', t],
          ['b', t],
          ['c', T0 + 1000],
        ]),
        new Map(),
        checkpoint,
        t,
        policy,
      );
      for (const x of r.transitions) {
        seen.push(`${x.host}@${(t - T0) / 1000}:${x.to}`);
        c = { ...c, state: x.to, stateSince: iso(t) };
      }
      checkpoint = r.checkpoint;
    }
    expect(seen).toEqual(['c@62:suspect', 'c@64:down']);
  });

  it('declares nothing down when every heartbeat is late alike (a slow control plane or store)', () => {
    const hosts = hostsNamed('a', 'b', 'c');
    const r = assessHosts(
      hosts,
      beats([
        ['a', T0 + 7000],
        ['b', T0 + 6900],
        ['c', T0 + 7000],
      ]),
      new Map(),
      { lastRunAt: T0 + 7500, resumedAt: T0 },
      T0 + 11_500,
      policy,
    );
    expect(r.transitions).toEqual([]);
  });

  it('still finds a dead host when the control plane is slow (every check late, every heartbeat landing late)', () => {
    const hosts = hostsNamed('dead', 'a', 'b');
    let checkpoint: HealthCheckpoint = { lastRunAt: T0, resumedAt: T0 };
    const changes: string[] = [];
    let state: Host['state'] = 'ready';
    // Checks 2.5 s apart (the interval is 1 s); the live hosts' heartbeats are 2 s old when read.
    for (let t = T0 + 2500; t <= T0 + 30_000; t += 2500) {
      const r = assessHosts(
        [{ ...hosts[0], state }, hosts[1], hosts[2]],
        beats([
          ['dead', T0],
          ['a', t - 2000],
          ['b', t - 2000],
        ]),
        new Map(),
        checkpoint,
        t,
        policy,
      );
      for (const x of r.transitions) {
        changes.push(`${x.host}:${x.to}`);
        state = x.to;
      }
      checkpoint = r.checkpoint;
    }
    expect(changes).toEqual(['dead:suspect', 'dead:down']);
  });

  it('lets a down host rejoin only after it applied the newest document (fenced)', () => {
    const host = aHost({ id: 'a', state: 'down', stateSince: iso(T0 + 5000), registeredAt: iso(T0) });
    const published = new Map([['a', 7]]);
    const stale = assessHosts([host], new Map([['a', status('a', T0 + 9000, 6)]]), published, running, T0 + 10_000, policy);
    expect(stale.transitions).toEqual([]);
    const fenced = assessHosts([host], new Map([['a', status('a', T0 + 9000, 7)]]), published, running, T0 + 10_000, policy);
    expect(fenced.transitions).toEqual([
      { host: 'a', from: 'down', to: 'ready', reason: 'heartbeat resumed and document generation 7 applied; stale tasks stopped' },
    ]);
  });

  it('ignores heartbeats from before the host was declared down', () => {
    const host = aHost({ id: 'a', state: 'down', stateSince: iso(T0 + 9500), registeredAt: iso(T0) });
    const r = assessHosts([host], new Map([['a', status('a', T0 + 9000, 9)]]), new Map(), running, T0 + 10_000, policy);
    expect(r.transitions).toEqual([]);
  });
});

describe('assessHosts properties', () => {
  const fleet = fc.array(
    fc.record({
      state: fc.constantFrom('ready', 'suspect', 'degraded', 'draining', 'down'),
      silentMs: fc.integer({ min: 0, max: 120_000 }),
      busy: fc.boolean(),
      recentlyDown: fc.boolean(),
    }),
    { minLength: 1, maxLength: 30 },
  );
  const now = T0 + 1_000_000;
  const build = (rows: { state: Host['state']; silentMs: number; busy: boolean; recentlyDown: boolean }[]) => {
    const hosts = rows.map((r, i) =>
      aHost({ id: `h${i}`, state: r.state, registeredAt: iso(T0), ...(r.state === 'down' ? { stateSince: iso(r.recentlyDown ? now - 1000 : T0) } : {}) }),
    );
    const statuses = new Map(rows.map((r, i) => [`h${i}`, status(`h${i}`, now - r.silentMs, 1, r.busy ? { tasks: [aTaskStatus('creating')] } : {})]));
    return { hosts, statuses };
  };
  const checkpoint = { lastRunAt: now - 1000, resumedAt: T0 };

  it('never declares down a host that heartbeat within its grace, nor more hosts than the budget allows', () => {
    fc.assert(
      fc.property(fleet, (rows) => {
        const { hosts, statuses } = build(rows);
        const r = assessHosts(hosts, statuses, new Map(), checkpoint, now, policy);
        const p = resolvePolicy(policy);
        const down = r.transitions.filter((t) => t.to === 'down');
        for (const t of down) {
          const row = rows[Number(t.host.slice(1))];
          expect(row.silentMs).toBeGreaterThan(row.busy ? p.busyGraceMs : p.graceMs);
        }
        const recent = rows.filter((x) => x.state === 'down' && x.recentlyDown).length;
        expect(down.length).toBeLessThanOrEqual(Math.max(0, evictionBudget(rows.length, p) - recent));
      }),
    );
  });

  it('declares nothing down while more than half of the hosts are silent', () => {
    fc.assert(
      fc.property(fleet, (rows) => {
        const { hosts, statuses } = build(rows);
        const r = assessHosts(hosts, statuses, new Map(), checkpoint, now, policy);
        // judged against the freshest heartbeat of the fleet; a down host not heard from since counts too
        const freshest = Math.min(...rows.map((x) => x.silentMs));
        const unheard = (x: (typeof rows)[number]) => x.state === 'down' && now - x.silentMs <= (x.recentlyDown ? now - 1000 : T0);
        const silent = rows.filter((x) => x.silentMs - freshest > resolvePolicy(policy).suspectMs || unheard(x)).length;
        if (silent / rows.length > 0.5) {
          expect(r.hold).toBeDefined();
          expect(r.transitions.filter((t) => t.to === 'down')).toEqual([]);
        } else expect(r.hold).toBeUndefined();
      }),
    );
  });

  it('is idempotent: applying its transitions and assessing again at the same moment changes nothing more', () => {
    fc.assert(
      fc.property(fleet, (rows) => {
        const { hosts, statuses } = build(rows);
        // No down host may rejoin here (its document is newer than what it applied): a rejoin frees budget.
        const published = new Map(hosts.map((h) => [h.id, 2]));
        const first = assessHosts(hosts, statuses, published, checkpoint, now, policy);
        const to = new Map(first.transitions.map((t) => [t.host, t.to]));
        const after = hosts.map((h) => (to.has(h.id) ? { ...h, state: to.get(h.id)!, stateSince: iso(now) } : h));
        const again = assessHosts(after, statuses, published, first.checkpoint, now, policy);
        expect(again.transitions).toEqual([]);
      }),
    );
  });
});
