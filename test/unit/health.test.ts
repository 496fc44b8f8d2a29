import { describe, expect, it } from 'vitest';
import { assessHosts } from '../../core/health.ts';
import type { HostStatus } from '../../core/types.ts';
import { aHost } from '../builders.ts';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();
const policy = { graceMs: 3000, checkIntervalMs: 1000 };
const status = (hostId: string, at: number, generation = 1): HostStatus => ({ hostId, heartbeatAt: iso(at), generation, tasks: [], agentVersion: 't' });
const running = { lastRunAt: T0 + 9000, resumedAt: T0 };

describe('assessHosts', () => {
  it('declares down a host whose heartbeat is older than the grace period', () => {
    const hosts = [aHost({ id: 'a', registeredAt: iso(T0) }), aHost({ id: 'b', registeredAt: iso(T0) })];
    const r = assessHosts(hosts, new Map([['a', status('a', T0 + 9500)], ['b', status('b', T0 + 6000)]]), new Map(), running, T0 + 10_000, policy);
    expect(r.transitions).toEqual([{ host: 'b', to: 'down', reason: 'no heartbeat for more than 3s (last 4.0s ago)' }]);
  });

  it('gives a host that never reported the grace period from its registration', () => {
    const hosts = [aHost({ id: 'new', registeredAt: iso(T0 + 8000) }), aHost({ id: 'old', registeredAt: iso(T0) })];
    const r = assessHosts(hosts, new Map(), new Map(), running, T0 + 10_000, policy);
    expect(r.transitions.map((t) => t.host)).toEqual(['old']);
  });

  it('does not reschedule a healthy fleet after the control plane itself was away', () => {
    const hosts = [aHost({ id: 'a', registeredAt: iso(T0) })];
    const statuses = new Map([['a', status('a', T0 + 1000)]]); // agents could not report while the store was down
    const back = assessHosts(hosts, statuses, new Map(), { lastRunAt: T0 + 1000, resumedAt: T0 }, T0 + 60_000, policy);
    expect(back.transitions).toEqual([]);
    expect(back.checkpoint).toEqual({ lastRunAt: T0 + 60_000, resumedAt: T0 + 60_000 });
    // ... but a host that stays silent after the return is down once the grace has passed again
    let checkpoint = back.checkpoint;
    for (let t = T0 + 61_000; t <= T0 + 63_000; t += 1000) {
      const r = assessHosts(hosts, statuses, new Map(), checkpoint, t, policy);
      expect(r.transitions).toEqual([]);
      checkpoint = r.checkpoint;
    }
    const later = assessHosts(hosts, statuses, new Map(), checkpoint, T0 + 64_000, policy);
    expect(later.transitions.map((t) => t.to)).toEqual(['down']);
  });

  it('treats even a short control-plane absence (missed checks) as one, since agents could not report', () => {
    const hosts = [aHost({ id: 'a', registeredAt: iso(T0) })];
    const statuses = new Map([['a', status('a', T0 + 7000)]]);
    const r = assessHosts(hosts, statuses, new Map(), { lastRunAt: T0 + 7500, resumedAt: T0 }, T0 + 10_500, policy);
    expect(r.transitions).toEqual([]);
    expect(r.checkpoint.resumedAt).toBe(T0 + 10_500);
  });

  it('lets a down host rejoin only after it applied the newest document (fenced)', () => {
    const host = aHost({ id: 'a', state: 'down', stateSince: iso(T0 + 5000), registeredAt: iso(T0) });
    const published = new Map([['a', 7]]);
    const stale = assessHosts([host], new Map([['a', status('a', T0 + 9000, 6)]]), published, running, T0 + 10_000, policy);
    expect(stale.transitions).toEqual([]);
    const fenced = assessHosts([host], new Map([['a', status('a', T0 + 9000, 7)]]), published, running, T0 + 10_000, policy);
    expect(fenced.transitions).toEqual([{ host: 'a', to: 'ready', reason: 'heartbeat resumed and document generation 7 applied; stale tasks stopped' }]);
  });

  it('ignores heartbeats from before the host was declared down', () => {
    const host = aHost({ id: 'a', state: 'down', stateSince: iso(T0 + 9500), registeredAt: iso(T0) });
    const r = assessHosts([host], new Map([['a', status('a', T0 + 9000, 9)]]), new Map(), running, T0 + 10_000, policy);
    expect(r.transitions).toEqual([]);
  });
});
