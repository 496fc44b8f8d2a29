import { describe, expect, it } from 'vitest';
import { HostScopedStore } from '../../adapters/host-scoped-store.ts';
import { MemoryStore } from '../../adapters/memory/store.ts';
import { ValidationError } from '../../core/errors.ts';
import type { HostStatus } from '../../core/types.ts';
import { LATER, NOW, aStatus, hostInput } from '../contract/store-fixtures.ts';

const claim = { address: '127.0.1.1', capacity: { cpu: 4000, memory: 8 * 2 ** 30 }, labels: { local: 'true' } };

function setup() {
  const inner = new MemoryStore();
  const agent = new HostScopedStore(inner, 'h1');
  return { inner, agent };
}

describe('HostScopedStore: what a host may write (local equivalent of the host role IAM policy)', () => {
  it("writes the host's own status, with its registration claim, and heartbeat; never a host record", async () => {
    const { inner, agent } = setup();
    await agent.putHostStatus(aStatus('h1', { claim }));
    await agent.putHeartbeat('h1', LATER);
    expect(await inner.getHostStatus('h1')).toEqual({ ...aStatus('h1', { claim }), heartbeatAt: LATER });
    // Registration is the control plane's (the register-hosts pass step): the agent has no way to it.
    expect(await inner.getHost('h1')).toBeUndefined();
    expect('registerHost' in agent).toBe(false);
  });

  it('passes on the volumes the host reports deleted (the control plane forgets them on it)', async () => {
    const { inner, agent } = setup();
    await agent.putHostStatus(aStatus('h1', { removedVolumes: ['default/db/data/1'] }));
    expect((await inner.getHostStatus('h1'))?.removedVolumes).toEqual(['default/db/data/1']);
  });

  it("refuses every write of another host's items", async () => {
    const { inner, agent } = setup();
    await expect(agent.putHostStatus(aStatus('h2'))).rejects.toBeInstanceOf(ValidationError);
    await expect(agent.putHeartbeat('h2', NOW)).rejects.toBeInstanceOf(ValidationError);
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
    expect(await inner.getHost('h1')).toMatchObject({ state: 'down' });
    expect('setHostState' in agent).toBe(false);
  });

  it('refuses a status the control plane would skip (ports null, an event time that is no time, a claim without capacity)', async () => {
    const { inner, agent } = setup();
    const good = aStatus('h1');
    await expect(agent.putHostStatus({ ...good, tasks: [{ ...good.tasks[0], ports: null as never }] })).rejects.toThrow(/ports/);
    await expect(agent.putHostStatus({ ...good, events: [{ id: 'e', at: 'soon', type: 't', message: 'm' }] })).rejects.toThrow(/time/);
    await expect(agent.putHostStatus({ ...good, claim: { ...claim, capacity: null as never } })).rejects.toThrow(/capacity/);
    expect(await inner.getHostStatus('h1')).toBeUndefined();
  });
});
