/**
 * The health check use case on the in-memory store: what it writes and when it asks for a pass.
 * Checks run with the clock moving on, until the core's policy has decided (it may suspect a host
 * before it declares it down).
 */
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../adapters/memory/store.ts';
import { withFaults } from '../../adapters/memory/faulty-store.ts';
import { UnavailableError } from '../../core/errors.ts';
import { runHealthCheck, type HealthDeps } from '../../app/health.ts';
import { MiB } from '../builders.ts';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();
const GRACE_MS = 3000;

async function cluster(hosts: string[]) {
  const inner = new MemoryStore();
  const { store, faults } = withFaults(inner);
  for (const [i, id] of hosts.entries())
    await inner.registerHost({ id, address: `127.0.1.${i + 1}`, capacity: { cpu: 1000, memory: 1024 * MiB }, labels: {} }, iso(T0));
  let clock = T0;
  let kicks = 0;
  const deps: HealthDeps = {
    store,
    now: () => new Date(clock),
    policy: { graceMs: GRACE_MS, checkIntervalMs: 1000 },
    kickScheduler: async () => void kicks++,
    eventRetentionMs: 86_400_000,
  };
  /** Agents of `alive` beat at the current time. */
  const beat = (alive: string[]) =>
    Promise.all(alive.map((id) => inner.putHostStatus({ hostId: id, heartbeatAt: iso(clock), generation: 0, agentVersion: 't', tasks: [] })));
  /** One check a second, the live agents beating before each, until `done` or 30 checks. */
  const checkUntil = async (alive: string[], done: () => Promise<boolean>) => {
    for (let i = 0; i < 30 && !(await done()); i++) {
      clock += 1000;
      await beat(alive);
      await runHealthCheck(deps);
    }
  };
  return {
    inner,
    store,
    faults,
    deps,
    beat,
    checkUntil,
    kicks: () => kicks,
    advance: (ms: number) => {
      clock += ms;
    },
  };
}

const stateOf = async (store: MemoryStore, id: string) => (await store.getHost(id))!.state;

describe('the health check', () => {
  it('declares a silent host down, records it and asks for a pass; hosts that beat stay ready', async () => {
    const c = await cluster(['a', 'b', 'c', 'd']);
    await c.beat(['a', 'b', 'c', 'd']);
    await c.checkUntil(['a', 'b', 'c'], async () => (await stateOf(c.inner, 'd')) === 'down');
    expect(await stateOf(c.inner, 'd')).toBe('down');
    for (const id of ['a', 'b', 'c']) expect(await stateOf(c.inner, id)).toBe('ready');
    expect((await c.inner.listEvents({ host: 'd' })).map((e) => e.type)).toContain('host.down');
    expect(c.kicks()).toBeGreaterThan(0);
  });

  it('writes no host state, no event and asks for no pass while every host beats', async () => {
    const c = await cluster(['a', 'b']);
    await c.beat(['a', 'b']);
    let checks = 0;
    await c.checkUntil(['a', 'b'], async () => ++checks > 10);
    expect(c.faults.calls.filter((x) => x.method === 'setHostState' || x.method === 'putEvents')).toEqual([]);
    expect(c.kicks()).toBe(0);
  });

  it('survives a failed state write: the check fails, and the next one declares the host down', async () => {
    const c = await cluster(['a', 'b', 'c', 'd']);
    await c.beat(['a', 'b', 'c', 'd']);
    c.faults.failNext('setHostState');
    let failed = 0;
    for (let i = 0; i < 30 && (await stateOf(c.inner, 'd')) !== 'down'; i++) {
      c.advance(1000);
      await c.beat(['a', 'b', 'c']);
      await runHealthCheck(c.deps).catch((err) => {
        expect(err).toBeInstanceOf(UnavailableError);
        failed++;
      });
    }
    expect(failed).toBe(1);
    expect(await stateOf(c.inner, 'd')).toBe('down');
  });

  it('does not fail the check when the scheduler cannot be asked for a pass', async () => {
    const c = await cluster(['a', 'b', 'c', 'd']);
    await c.beat(['a', 'b', 'c', 'd']);
    const deps = { ...c.deps, kickScheduler: async () => Promise.reject(new Error('lambda throttled')) };
    for (let i = 0; i < 30 && (await stateOf(c.inner, 'd')) !== 'down'; i++) {
      c.advance(1000);
      await c.beat(['a', 'b', 'c']);
      await runHealthCheck(deps);
    }
    expect(await stateOf(c.inner, 'd')).toBe('down');
  });
});
