import { describe, expect, it } from 'vitest';
import { planNetwork, routeDrift } from '../../core/network.ts';

const lease = (hostId: string, cidr: string, routed = true) => ({ hostId, cidr, routed });

describe('planNetwork', () => {
  it('acquires for hosts without a subnet, routes unrouted leases, and lists routed hosts', () => {
    const plan = planNetwork(
      [
        { id: 'i-new', state: 'ready' },
        { id: 'i-half', state: 'ready' },
        { id: 'i-done', state: 'draining' },
      ],
      [lease('i-half', '10.200.1.0/24', false), lease('i-done', '10.200.2.0/24')],
    );
    expect(plan.acquire).toEqual(['i-new']);
    expect(plan.route).toEqual([lease('i-half', '10.200.1.0/24', false)]);
    expect([...plan.routed]).toEqual([['i-done', '10.200.2.0/24']]);
    expect(plan.suspect).toEqual([]);
  });

  it('suspects a down host that holds no subnet too: its machine may be gone and the host forgotten', () => {
    expect(planNetwork([{ id: 'i-down', state: 'down' }], []).suspect).toEqual(['i-down']);
  });

  it('leaves down hosts alone but keeps their routed subnet, and suspects the leases of down and unknown hosts', () => {
    const plan = planNetwork(
      [
        { id: 'i-down', state: 'down' },
        { id: 'i-down2', state: 'down' },
      ],
      [lease('i-down', '10.200.3.0/24'), lease('i-down2', '10.200.4.0/24', false), lease('i-forgotten', '10.200.5.0/24')],
    );
    expect(plan.acquire).toEqual([]);
    expect(plan.route).toEqual([]);
    expect([...plan.routed]).toEqual([['i-down', '10.200.3.0/24']]);
    expect(plan.suspect).toEqual(['i-down', 'i-down2', 'i-forgotten']);
    expect(plan.leasesOf.get('i-forgotten')).toEqual([lease('i-forgotten', '10.200.5.0/24')]);
  });

  it('asks the allocator again for a host holding two subnets (an orphan claim) and treats neither as routed', () => {
    const plan = planNetwork([{ id: 'i-a', state: 'ready' }], [lease('i-a', '10.200.1.0/24'), lease('i-a', '10.200.9.0/24')]);
    expect(plan.acquire).toEqual(['i-a']);
    expect(plan.routed.size).toBe(0);
  });
});

describe('routeDrift', () => {
  const tables = ['rtb-a', 'rtb-b'];
  const route = (table: string, cidr: string, hostId?: string, blackhole = false) => ({ table, cidr, ...(hostId ? { hostId } : {}), blackhole });
  const routed = new Map([
    ['i-1', '10.200.1.0/24'],
    ['i-2', '10.200.2.0/24'],
    ['i-3', '10.200.3.0/24'],
    ['i-4', '10.200.4.0/24'],
  ]);

  it("finds routes missing from a table, leading to another host, or black-holed; ignores routes that are not Skiff's", () => {
    const routes = [
      route('rtb-a', '10.0.0.0/16'),
      route('rtb-a', '0.0.0.0/0'),
      ...tables.map((t) => route(t, '10.200.1.0/24', 'i-1')),
      route('rtb-a', '10.200.2.0/24', 'i-2'), // missing from rtb-b
      ...tables.map((t) => route(t, '10.200.3.0/24', t === 'rtb-b' ? 'i-9' : 'i-3')), // leads elsewhere in rtb-b
      ...tables.map((t) => route(t, '10.200.4.0/24', 'i-4', t === 'rtb-a')), // a black hole in rtb-a
    ];
    expect(routeDrift(routed, { tables, routes })).toEqual([
      { hostId: 'i-2', cidr: '10.200.2.0/24' },
      { hostId: 'i-3', cidr: '10.200.3.0/24' },
      { hostId: 'i-4', cidr: '10.200.4.0/24' },
    ]);
  });

  it('finds nothing when every table routes every subnet to its host', () => {
    const routes = [...routed].flatMap(([hostId, cidr]) => tables.map((t) => route(t, cidr, hostId)));
    expect(routeDrift(routed, { tables, routes })).toEqual([]);
  });
});
