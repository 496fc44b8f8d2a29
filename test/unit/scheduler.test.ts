import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { describeRejection, fits, schedule, type PlacementRequest } from '../../core/scheduler.ts';
import type { Host } from '../../core/types.ts';
import { aHost, anAllocation, MiB } from '../builders.ts';

function req(id: string, over: Partial<PlacementRequest> = {}): PlacementRequest {
  return {
    taskId: id,
    namespace: 'default',
    service: 'web',
    slot: 1,
    resources: { cpu: 100, memory: 32 * MiB },
    hostPorts: [],
    constraints: [],
    strategy: 'spread',
    ...over,
  };
}

const threeHosts = [aHost({ id: 'h1' }), aHost({ id: 'h2' }), aHost({ id: 'h3' })];

describe('schedule', () => {
  it('spreads the replicas of a service over distinct hosts', () => {
    const r = schedule(threeHosts, [req('a'), req('b'), req('c')], { seed: 's' });
    expect(new Set(r.placements.map((p) => p.hostId)).size).toBe(3);
    expect(r.failures).toEqual([]);
  });

  it('counts replicas already on a host when spreading', () => {
    const hosts = [aHost({ id: 'h1', allocations: { x: anAllocation('x') } }), aHost({ id: 'h2' })];
    const r = schedule(hosts, [req('a')], { seed: 's' });
    expect(r.placements[0].hostId).toBe('h2');
  });

  it('prefers the least loaded host with spread and the fullest with binpack', () => {
    const other = { x: anAllocation('x', { service: 'other', resources: { cpu: 2000, memory: 32 * MiB } }) };
    const hosts = [aHost({ id: 'busy', allocations: other }), aHost({ id: 'idle' })];
    expect(schedule(hosts, [req('a')], { seed: 's' }).placements[0].hostId).toBe('idle');
    expect(schedule(hosts, [req('a', { strategy: 'binpack' })], { seed: 's' }).placements[0].hostId).toBe('busy');
  });

  it.each([
    ['insufficient memory', req('a', { resources: { cpu: 100, memory: 64 * 1024 * MiB } }), threeHosts, '0 of 3 hosts fit: 3 insufficient memory'],
    ['insufficient cpu', req('a', { resources: { cpu: 9000, memory: MiB } }), threeHosts, '0 of 3 hosts fit: 3 insufficient cpu'],
    ['a failed constraint', req('a', { constraints: ['zone == a'] }), [aHost({ id: 'h1', labels: { zone: 'b' } })], '0 of 1 host fit: 1 constraint zone == a'],
    [
      'a host port in use',
      req('a', { hostPorts: [80] }),
      [aHost({ id: 'h1', allocations: { x: anAllocation('x', { hostPorts: [80] }) } })],
      '0 of 1 host fit: 1 host port 80 in use',
    ],
    ['hosts that are not ready', req('a'), [aHost({ id: 'h1', state: 'down' }), aHost({ id: 'h2', state: 'draining' })], '0 of 2 hosts fit: 2 host not ready'],
    ['no hosts at all', req('a'), [], 'no hosts registered'],
  ])('explains an unplaceable task: %s', (_name, request, hosts, message) => {
    const r = schedule(hosts as Host[], [request], { seed: 's' });
    expect(r.placements).toEqual([]);
    expect(r.failures[0].reason.message).toBe(message);
  });

  it('counts each rejection reason over all hosts', () => {
    const hosts = [aHost({ id: 'a', labels: { zone: 'b' } }), aHost({ id: 'b', memory: MiB }), aHost({ id: 'c', memory: MiB })];
    const r = schedule(hosts, [req('t', { constraints: ['zone == a'] })], { seed: 's' });
    expect(r.failures[0].reason.rejected).toEqual({ 'insufficient memory': 2, 'constraint zone == a': 1 });
    expect(describeRejection(3, r.failures[0].reason.rejected)).toBe('0 of 3 hosts fit: 2 insufficient memory, 1 constraint zone == a');
  });

  it('keeps a task off the host it should avoid when another fits, and uses it when none does', () => {
    const r = schedule(threeHosts, [req('a', { avoidHost: 'h1' }), req('b', { avoidHost: 'h1', service: 'x' }), req('c', { avoidHost: 'h1', service: 'y' })], {
      seed: 's',
    });
    expect(r.placements.map((p) => p.hostId)).not.toContain('h1');
    const only = schedule([aHost({ id: 'h1' })], [req('a', { avoidHost: 'h1' })], { seed: 's' });
    expect(only.placements[0].hostId).toBe('h1');
  });

  it('honours != constraints', () => {
    const hosts = [aHost({ id: 'a', labels: { zone: 'a' } }), aHost({ id: 'b', labels: { zone: 'b' } })];
    const r = schedule(hosts, [req('t', { constraints: ['zone != a'] })], { seed: 's' });
    expect(r.placements[0].hostId).toBe('b');
  });

  it('is deterministic for a seed, whatever order the hosts come in', () => {
    const hosts = Array.from({ length: 200 }, (_, i) => aHost({ id: `h${i}` }));
    const reqs = Array.from({ length: 50 }, (_, i) => req(`t${i}`, { service: `s${i % 7}` }));
    const a = schedule(hosts, reqs, { seed: 'x' });
    const b = schedule(hosts.slice().reverse(), reqs, { seed: 'x' });
    expect(a).toEqual(b);
  });

  // Invariants over random fleets and requests.
  const arbHost = fc.record({
    cpu: fc.integer({ min: 0, max: 4000 }),
    memory: fc.integer({ min: 0, max: 512 }),
    state: fc.constantFrom('ready', 'ready', 'ready', 'draining', 'down'),
    zone: fc.constantFrom('a', 'b'),
    used: fc.array(fc.record({ cpu: fc.integer({ min: 0, max: 1000 }), memory: fc.integer({ min: 0, max: 128 }), port: fc.option(fc.constantFrom(80, 443)) }), {
      maxLength: 3,
    }),
  });
  const arbReq = fc.record({
    cpu: fc.integer({ min: 1, max: 2000 }),
    memory: fc.integer({ min: 1, max: 256 }),
    service: fc.constantFrom('a', 'b', 'c'),
    port: fc.option(fc.constantFrom(80, 443, 8080)),
    constraint: fc.option(fc.constantFrom('zone == a', 'zone != a')),
    strategy: fc.constantFrom('spread' as const, 'binpack' as const),
  });

  it('never over-commits a host and never places a task twice (property)', () => {
    fc.assert(
      fc.property(
        fc.array(arbHost, { maxLength: 12 }),
        fc.array(arbReq, { maxLength: 60 }),
        fc.option(fc.integer({ min: 1, max: 5 })),
        fc.string(),
        (hs, rs, limit, seed) => {
          const hosts: Host[] = hs.map((h, i) =>
            aHost({
              id: `h${i}`,
              cpu: h.cpu,
              memory: h.memory * MiB,
              state: h.state as Host['state'],
              labels: { zone: h.zone },
              allocations: Object.fromEntries(
                h.used.map((u, j) => [
                  `u${i}-${j}`,
                  anAllocation(`u${i}-${j}`, { resources: { cpu: u.cpu, memory: u.memory * MiB }, hostPorts: u.port ? [u.port] : [] }),
                ]),
              ),
            }),
          );
          const reqs = rs.map((r, i) =>
            req(`t${i}`, {
              service: r.service,
              resources: { cpu: r.cpu, memory: r.memory * MiB },
              hostPorts: r.port ? [r.port] : [],
              constraints: r.constraint ? [r.constraint] : [],
              strategy: r.strategy,
            }),
          );
          const result = schedule(hosts, reqs, { seed, ...(limit ? { limit } : {}) });
          // each request is decided exactly once
          const decided = [...result.placements.map((p) => p.taskId), ...result.failures.map((f) => f.taskId)];
          expect(decided.sort()).toEqual(reqs.map((r) => r.taskId).sort());
          // no host receives more than it can hold, counting what it already had (if that fit)
          for (const h of hosts) {
            const added = result.placements.filter((p) => p.hostId === h.id);
            if (added.length === 0) continue;
            expect(h.state).toBe('ready');
            const all = { ...h.allocations };
            for (const p of added) all[p.taskId] = p.allocation;
            if (fits(h.capacity, h.allocations)) expect(fits(h.capacity, all)).toBe(true);
            for (const p of added) {
              const r = reqs.find((x) => x.taskId === p.taskId)!;
              for (const c of r.constraints) {
                if (c === 'zone == a') expect(h.labels.zone).toBe('a');
                if (c === 'zone != a') expect(h.labels.zone).not.toBe('a');
              }
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('places every request when capacity allows, whatever the sample limit (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 30 }), fc.integer({ min: 0, max: 100 }), fc.integer({ min: 1, max: 8 }), (nHosts, nTasks, limit) => {
        const hosts = Array.from({ length: nHosts }, (_, i) => aHost({ id: `h${i}`, cpu: 1000, memory: 1024 * MiB }));
        const reqs = Array.from({ length: nTasks }, (_, i) => req(`t${i}`, { resources: { cpu: 100, memory: 10 * MiB } }));
        const r = schedule(hosts, reqs, { seed: 'p', limit });
        const capacity = nHosts * 10;
        expect(r.placements.length).toBe(Math.min(nTasks, capacity));
      }),
      { numRuns: 100 },
    );
  });
});

describe('schedule: unavailable hosts', () => {
  it("places nothing on a ready host the caller holds back, and counts the caller's reason", () => {
    const held = new Map([['h1', 'no routed container subnet yet']]);
    const one = schedule([aHost({ id: 'h1' })], [req('t1')], { seed: 's', unavailable: held });
    expect(one.placements).toEqual([]);
    expect(one.failures[0].reason.rejected).toEqual({ 'no routed container subnet yet': 1 });

    const two = schedule([aHost({ id: 'h1' }), aHost({ id: 'h2' })], [req('t1'), req('t2')], { seed: 's', unavailable: held });
    expect(two.placements.map((p) => p.hostId)).toEqual(['h2', 'h2']);
  });
});
