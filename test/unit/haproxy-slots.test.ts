/**
 * The HAProxy data plane's server slots (local/haproxy-slots.ts): which replica each slot holds,
 * and the runtime API commands for a change of targets; when a change needs a reload instead.
 */
import { describe, expect, it } from 'vitest';
import { backendNames } from '../../local/haproxy-config.ts';
import { emptied, type Layout, layoutForReload, planTargets, releaseSlots, routeKey, runtimeAnswerOk, slotCount } from '../../local/haproxy-slots.ts';
import type { IngressRoute } from '../../ports/index.ts';

const t = (taskId: string, port: number) => ({ taskId, ip: '127.0.1.2', port });
const [a, b, c, d, e] = [t('web-a', 32001), t('web-b', 32002), t('web-c', 32003), t('web-d', 32004), t('web-e', 32005)];
const web = (...targets: IngressRoute['targets']): IngressRoute => ({
  host: 'shop.example.com',
  namespace: 'shop',
  service: 'web',
  sessionAffinity: true,
  targets,
});
const api = (...targets: IngressRoute['targets']): IngressRoute => ({ ...web(...targets), path: '/api', service: 'api' });

/** The slots of the web route, as `server=taskId` (`+leaving`), free ones as `server=`. */
function slotsOf(layout: Layout, route: IngressRoute = web()): string[] {
  return (layout.get(routeKey(route)) ?? []).map((s) => `${s.server}=${s.target?.taskId ?? ''}${s.leavingSince === undefined ? '' : '+leaving'}`);
}

function plan(layout: Layout, routes: IngressRoute[], now = 1000) {
  return planTargets(layout, routes, backendNames(routes), now);
}

describe('layoutForReload', () => {
  it('gives a new route twice its targets in slots, at least 4, free ones after', () => {
    expect(slotCount(0)).toBe(4);
    expect(slotCount(3)).toBe(6);
    expect(slotsOf(layoutForReload(new Map(), [web(a, b)]))).toEqual(['s1=web-a', 's2=web-b', 's3=', 's4=']);
    expect(slotsOf(layoutForReload(new Map(), [web()]))).toEqual(['s1=', 's2=', 's3=', 's4=']);
  });

  it('keeps replicas in their slots, drops leaving ones, and grows a pool its targets outgrow', () => {
    const before: Layout = new Map([
      [routeKey(web()), [{ server: 's1' }, { server: 's2', target: b }, { server: 's3', target: a, leavingSince: 5 }, { server: 's4', target: c }]],
    ]);
    expect(slotsOf(layoutForReload(before, [web(a, b, c)]))).toEqual(['s1=web-a', 's2=web-b', 's3=', 's4=web-c']);
    expect(slotsOf(layoutForReload(before, [web(a, b, c, d, e)]))).toEqual([
      's1=web-a',
      's2=web-b',
      's3=web-d',
      's4=web-c',
      's5=web-e',
      's6=',
      's7=',
      's8=',
      's9=',
      's10=',
    ]);
  });
});

describe('planTargets', () => {
  const start = layoutForReload(new Map(), [web(a, b)]);

  it('puts a new replica in a free slot: its address, then ready', () => {
    const p = plan(start, [web(a, b, c)]);
    expect(p).toMatchObject({
      kind: 'runtime',
      commands: ['set server skiff.shop.web/s3 addr 127.0.1.2 port 32003', 'set server skiff.shop.web/s3 state ready'],
    });
    if (p.kind === 'runtime') expect(slotsOf(p.layout)).toEqual(['s1=web-a', 's2=web-b', 's3=web-c', 's4=']);
  });

  it('takes a replica that left out of balancing (maintenance, not drain), after the new ones are ready', () => {
    const p = plan(start, [web(b, c)], 7000);
    expect(p).toMatchObject({
      kind: 'runtime',
      commands: [
        'set server skiff.shop.web/s3 addr 127.0.1.2 port 32003',
        'set server skiff.shop.web/s3 state ready',
        'set server skiff.shop.web/s1 state maint',
      ],
    });
    if (p.kind !== 'runtime') return;
    expect(slotsOf(p.layout)).toEqual(['s1=web-a+leaving', 's2=web-b', 's3=web-c', 's4=']);
    expect(p.layout.get(routeKey(web()))![0].leavingSince).toBe(7000);
    // The same table again changes nothing, and the leaving time is kept.
    const again = plan(p.layout, [web(b, c)], 9000);
    expect(again).toMatchObject({ kind: 'runtime', commands: [] });
    if (again.kind === 'runtime') expect(again.layout.get(routeKey(web()))![0].leavingSince).toBe(7000);
    // A replica that comes back while it leaves takes requests again, in its slot.
    const back = plan(p.layout, [web(a, b, c)]);
    expect(back).toMatchObject({ kind: 'runtime', commands: ['set server skiff.shop.web/s1 state ready'] });
    if (back.kind === 'runtime') expect(slotsOf(back.layout)).toEqual(['s1=web-a', 's2=web-b', 's3=web-c', 's4=']);
  });

  it('counts a replica at another port as a new one', () => {
    expect(plan(start, [web(a, { ...b, port: 40000 })])).toMatchObject({
      kind: 'runtime',
      commands: [
        'set server skiff.shop.web/s3 addr 127.0.1.2 port 40000',
        'set server skiff.shop.web/s3 state ready',
        'set server skiff.shop.web/s2 state maint',
      ],
    });
  });

  it('asks for a reload when a backend has too few free slots, or the routes changed', () => {
    expect(plan(start, [web(a, b, c, d, e)])).toEqual({
      kind: 'reload',
      why: 'backend skiff.shop.web needs 3 free server slots for new replicas and has 2 of 4',
    });
    // Leaving slots are not free until their sessions are gone.
    const leaving = plan(start, [web(c, d)]);
    expect(leaving.kind).toBe('runtime');
    if (leaving.kind === 'runtime') expect(plan(leaving.layout, [web(c, d, e)])).toMatchObject({ kind: 'reload' });
    expect(plan(start, [web(a, b), api(c)])).toEqual({ kind: 'reload', why: 'the routes changed' });
    expect(plan(start, [api(a, b)])).toEqual({ kind: 'reload', why: 'the routes changed' });
    expect(plan(new Map(), [web(a)])).toEqual({ kind: 'reload', why: 'the routes changed' });
  });
});

describe('releaseSlots', () => {
  const p = plan(layoutForReload(new Map(), [web(a, b)]), [web(b)], 1000);
  const leaving = p.kind === 'runtime' ? p.layout : new Map();
  const names = backendNames([web(b)]);

  it('frees a leaving slot once HAProxy counts no session on it', () => {
    const still = releaseSlots(leaving, names, new Map([['skiff.shop.web/s1', 1]]), 2000, 60_000);
    expect(still.commands).toEqual([]);
    expect(slotsOf(still.layout)).toEqual(['s1=web-a+leaving', 's2=web-b', 's3=', 's4=']);
    // Not read yet: it waits.
    expect(slotsOf(releaseSlots(leaving, names, new Map(), 2000, 60_000).layout)[0]).toBe('s1=web-a+leaving');
    const done = releaseSlots(leaving, names, new Map([['skiff.shop.web/s1', 0]]), 2000, 60_000);
    expect(done.commands).toEqual([]);
    expect(slotsOf(done.layout)).toEqual(['s1=', 's2=web-b', 's3=', 's4=']);
  });

  it('shuts the sessions a leaving replica still has after forceAfterMs, and frees its slot', () => {
    const forced = releaseSlots(leaving, names, new Map([['skiff.shop.web/s1', 2]]), 61_000, 60_000);
    expect(forced.commands).toEqual(['shutdown sessions server skiff.shop.web/s1']);
    expect(slotsOf(forced.layout)[0]).toBe('s1=');
  });
});

describe('emptied and runtimeAnswerOk', () => {
  it('frees every slot, keeping the pools', () => {
    expect(slotsOf(emptied(layoutForReload(new Map(), [web(a, b)])))).toEqual(['s1=', 's2=', 's3=', 's4=']);
  });

  it("reads HAProxy's answers: addr reports a change, the other commands print nothing", () => {
    const addr = 'set server skiff.shop.web/s3 addr 127.0.1.2 port 32003';
    expect(runtimeAnswerOk(addr, "IP changed from '127.0.0.1' to '127.0.1.2', port changed from '1' to '32003' by 'stats socket command'\n")).toBe(true);
    expect(runtimeAnswerOk(addr, "no need to change the addr, port changed from '1' to '32003' by 'stats socket command'\n")).toBe(true);
    expect(runtimeAnswerOk(addr, 'No such server.\n')).toBe(false);
    expect(runtimeAnswerOk('set server skiff.shop.web/s3 state ready', '\n')).toBe(true);
    expect(runtimeAnswerOk('set server skiff.shop.web/s9 state ready', 'No such server.\n')).toBe(false);
  });
});
