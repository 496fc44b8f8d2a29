import { describe, expect, it } from 'vitest';
import { MemoryHostGroup } from '../../adapters/memory/host-group.ts';
import { newHostAutoscalerState, runHostAutoscaler, type HostAutoscalerDeps } from '../../app/host-autoscaler.ts';
import { hostAutoscalerSettings } from '../../app/handlers/host-autoscaler.ts';
import { aSpec, MiB } from '../builders.ts';
import { passHarness, T0, type PassHarness } from '../pass-harness.ts';

/**
 * The host autoscaler with the scheduler pass on the in-memory store and group: a launched instance
 * registers as a host at once, as an agent would after booting.
 */
async function setup(opts: { min: number; max: number; hosts: number }) {
  const ids = Array.from({ length: opts.hosts }, (_, i) => `i-${i + 1}`);
  const h = await passHarness(ids.map((id) => ({ id, cpu: 1000 })));
  const group = new MemoryHostGroup({ min: opts.min, max: opts.max, instances: ids, nextId: (n) => `i-${opts.hosts + n}` });
  let clock = Date.parse(T0) + 3_600_000;
  const state = newHostAutoscalerState();
  const deps: HostAutoscalerDeps = {
    store: h.store,
    group,
    policy: { utilizationThreshold: 0.5, unneededMs: 60_000 },
    now: () => new Date(clock),
    channel: h.channel,
  };
  const registerNewHosts = async () => {
    const known = new Set((await h.inner.listHosts()).map((x) => x.id));
    for (const i of (await group.describe()).instances) {
      if (!known.has(i.id)) await h.inner.registerHost({ id: i.id, address: '127.0.1.9', capacity: { cpu: 1000, memory: 1024 * MiB }, labels: {} }, T0);
    }
  };
  return {
    h,
    group,
    run: async (advanceMs = 10_000) => {
      clock += advanceMs;
      return runHostAutoscaler(deps, state);
    },
    registerNewHosts,
  };
}

async function apply(h: PassHarness, replicas: number, hostPort?: number) {
  const current = await h.inner.getService('default', 'web');
  await h.inner.putService(aSpec({ name: 'web', replicas, cpu: 400, ...(hostPort ? { hostPort } : {}) }), T0, current?.specVersion ?? 0);
}

describe('the host autoscaler', () => {
  it('asks for the hosts pending replicas need, once, and their replicas run there', async () => {
    const s = await setup({ min: 1, max: 3, hosts: 1 });
    await apply(s.h, 4);
    await s.h.pass();
    const out = await s.run();
    expect(out).toMatchObject({ action: 'scale-out', desired: 2, waiting: 2 });
    const pending = (await s.h.inner.listAllTasks()).filter((t) => !t.host);
    expect(pending.map((t) => t.unplaceable?.waiting)).toEqual(['waiting for a new host (1 requested)', 'waiting for a new host (1 requested)']);
    const events = await s.h.inner.listEvents({});
    expect(events.map((e) => e.message)).toContain('group hosts: 2 pending task(s) need 1 more host(s): desired 1 → 2 (max 3)');

    // The host is still booting: no second request for the same tasks.
    expect(await s.run()).toMatchObject({ action: 'none', upcoming: 1 });
    expect(s.group.calls.filter((c) => c.startsWith('SetDesiredCapacity'))).toEqual(['SetDesiredCapacity 2']);

    await s.registerNewHosts();
    await s.h.pass();
    expect((await s.h.inner.listAllTasks()).every((t) => t.host)).toBe(true);
    // Both hosts hold tasks now: protected from the group's own scale-in.
    await s.run();
    expect((await s.group.describe()).instances.map((i) => i.protectedFromScaleIn)).toEqual([true, true]);
  });

  it('drains an idle extra host after the unneeded time, then terminates it with a decrement', async () => {
    const s = await setup({ min: 1, max: 3, hosts: 1 });
    await apply(s.h, 2, 8080);
    await s.h.pass();
    expect(await s.run()).toMatchObject({ action: 'scale-out', desired: 2 });
    await s.registerNewHosts();
    await s.h.pass();
    expect((await s.h.inner.listAllTasks()).every((t) => t.host)).toBe(true);

    await apply(s.h, 1, 8080);
    for (let i = 0; i < 3; i++) await s.h.pass();
    expect(await s.run()).toMatchObject({ action: 'none' });
    const drain = await s.run(60_000);
    expect(drain.action).toBe('drain');
    const victim = drain.host!;
    expect((await s.h.inner.getHost(victim))?.state).toBe('draining');
    for (let i = 0; i < 4; i++) await s.h.pass();
    expect(Object.keys((await s.h.inner.getHost(victim))!.allocations)).toEqual([]);
    expect(await s.run()).toMatchObject({ action: 'terminate', host: victim });
    const g = await s.group.describe();
    expect(g.desired).toBe(1);
    expect(g.instances.map((i) => i.id)).not.toContain(victim);
    expect((await s.h.inner.listAllTasks()).every((t) => t.host && t.host !== victim)).toBe(true);
    // At the min now: nothing more goes.
    expect(await s.run(600_000)).toMatchObject({ action: 'none', reason: 'group hosts is at its min of 1 host(s)' });
    // Once the health check has declared it down, the terminated host is forgotten, its document first.
    await s.h.inner.setHostState(victim, 'down', T0);
    expect(await s.run()).toMatchObject({ forgotten: [victim] });
    expect(await s.h.inner.getHost(victim)).toBeUndefined();
    expect(s.h.channel.docs.has(victim)).toBe(false);
  });

  it('leaves a host a person drained to the person', async () => {
    const s = await setup({ min: 1, max: 3, hosts: 2 });
    await s.h.inner.setHostState('i-2', 'draining', T0);
    await s.h.inner.putEvents([{ id: 'e', at: T0, type: 'host.draining', host: 'i-2', message: 'drained by hand' }]);
    expect(await s.run()).toMatchObject({ action: 'none', reason: 'a host is draining: one scale-in at a time' });
    expect((await s.group.describe()).desired).toBe(2);
  });
});

describe('hostAutoscalerSettings', () => {
  it('reads the scale-in policy and the fallback shape, and names a wrong variable', () => {
    expect(hostAutoscalerSettings({})).toEqual({ policy: { utilizationThreshold: 0.5, unneededMs: 600_000 } });
    expect(
      hostAutoscalerSettings({
        SKIFF_HOST_SCALE_IN_UTILIZATION: '0.3',
        SKIFF_HOST_SCALE_IN_UNNEEDED_SECONDS: '60',
        SKIFF_HOST_TEMPLATE_CPU: '2000',
        SKIFF_HOST_TEMPLATE_MEMORY_MIB: '4096',
      }),
    ).toEqual({ policy: { utilizationThreshold: 0.3, unneededMs: 60_000 }, fallbackTemplate: { capacity: { cpu: 2000, memory: 4096 * MiB }, labels: {} } });
    expect(() => hostAutoscalerSettings({ SKIFF_HOST_SCALE_IN_UTILIZATION: '50' })).toThrow(/SKIFF_HOST_SCALE_IN_UTILIZATION must be a number from 0 to 1/);
    expect(() => hostAutoscalerSettings({ SKIFF_HOST_TEMPLATE_CPU: '2000' })).toThrow(/SKIFF_HOST_TEMPLATE_CPU and SKIFF_HOST_TEMPLATE_MEMORY_MIB go together/);
  });
});
