import { describe, expect, it } from 'vitest';
import { HostScopedStore } from '../../adapters/host-scoped-store.ts';
import { MemoryStore } from '../../adapters/memory/store.ts';
import { ValidationError } from '../../core/errors.ts';
import type { HostStatus } from '../../core/types.ts';
import { LATER, NOW, aStatus, hostInput } from '../contract/store-fixtures.ts';

function setup(maxCapacity?: { cpu: number; memory: number }) {
  const inner = new MemoryStore();
  const agent = new HostScopedStore(inner, 'h1', maxCapacity ? { maxCapacity } : {});
  return { inner, agent };
}

describe('HostScopedStore: what a host may write (local equivalent of the host role IAM policy)', () => {
  it("writes the host's own status, heartbeat and registration", async () => {
    const { inner, agent } = setup();
    await agent.registerHost(hostInput('h1'), NOW);
    await agent.putHostStatus(aStatus('h1'));
    await agent.putHeartbeat('h1', LATER);
    expect(await inner.getHostStatus('h1')).toEqual({ ...aStatus('h1'), heartbeatAt: LATER });
    expect(await inner.getHost('h1')).toMatchObject({ id: 'h1', state: 'ready' });
  });

  it("refuses every write of another host's items", async () => {
    const { inner, agent } = setup();
    await expect(agent.putHostStatus(aStatus('h2'))).rejects.toBeInstanceOf(ValidationError);
    await expect(agent.putHeartbeat('h2', NOW)).rejects.toBeInstanceOf(ValidationError);
    await expect(agent.registerHost(hostInput('h2'), NOW)).rejects.toBeInstanceOf(ValidationError);
    expect(await inner.listHostStatuses()).toEqual([]);
    expect(await inner.listHosts()).toEqual([]);
  });

  it('drops fields outside the status allow-list, so a fenced host cannot report itself ready', async () => {
    const { inner, agent } = setup();
    await inner.registerHost(hostInput('h1'), NOW);
    await inner.setHostState('h1', 'down', NOW);
    const smuggled = { ...aStatus('h1'), state: 'ready', capacity: { cpu: 1e9, memory: 1e15 }, gsi1pk: 'SERVICES' } as unknown as HostStatus;
    await agent.putHostStatus(smuggled);
    expect(Object.keys((await inner.getHostStatus('h1'))!).sort()).toEqual(['agentVersion', 'generation', 'heartbeatAt', 'hostId', 'tasks']);
    // Re-registering keeps the state: only the control plane moves a host between states.
    await agent.registerHost(hostInput('h1', 2), LATER);
    expect(await inner.getHost('h1')).toMatchObject({ state: 'down', address: '127.0.1.2' });
    expect('setHostState' in agent).toBe(false);
  });

  it('refuses a status the control plane would skip (ports null, an event time that is no time)', async () => {
    const { inner, agent } = setup();
    const good = aStatus('h1');
    await expect(agent.putHostStatus({ ...good, tasks: [{ ...good.tasks[0], ports: null as never }] })).rejects.toThrow(/ports/);
    await expect(agent.putHostStatus({ ...good, events: [{ id: 'e', at: 'soon', type: 't', message: 'm' }] })).rejects.toThrow(/time/);
    expect(await inner.getHostStatus('h1')).toBeUndefined();
  });

  it('bounds the capacity claim by the configured host size, and by the schema without one', async () => {
    const bounded = setup({ cpu: 4000, memory: 8 * 2 ** 30 });
    await expect(bounded.agent.registerHost({ ...hostInput('h1'), capacity: { cpu: 8000, memory: 2 ** 30 } }, NOW)).rejects.toThrow(
      /above the most a host may claim/,
    );
    await expect(bounded.agent.registerHost({ ...hostInput('h1'), capacity: { cpu: 4000, memory: 8 * 2 ** 30 } }, NOW)).resolves.toMatchObject({
      capacity: { cpu: 4000 },
    });
    const open = setup();
    await expect(open.agent.registerHost({ ...hostInput('h1'), capacity: { cpu: 1e12, memory: 1e12 } }, NOW)).rejects.toThrow(/capacity/);
    await expect(open.agent.registerHost({ ...hostInput('h1'), capacity: null as never }, NOW)).rejects.toThrow(/capacity/);
  });
});
