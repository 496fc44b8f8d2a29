import { describe, expect, it } from 'vitest';
import { withFaults } from '../../adapters/memory/faulty-store.ts';
import { MemoryStore } from '../../adapters/memory/store.ts';
import { ConflictError, UnavailableError } from '../../core/errors.ts';
import { LATER, NOW, aSpec, aTask, hostInput } from '../contract/store-fixtures.ts';

describe('withFaults', () => {
  it('fails the next matching call with a retryable error, without reaching the store', async () => {
    const inner = new MemoryStore();
    const { store, faults } = withFaults(inner);
    await store.putService(aSpec('team', 'web'), NOW);
    faults.failNext('putTask');
    const err = await store.putTask(aTask('team', 'web', 0), undefined).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect(err).toMatchObject({ retryable: true, message: 'injected fault: putTask failed' });
    expect(await inner.listTasks('team', 'web')).toEqual([]);
    // Once only: the retry goes through.
    await store.putTask(aTask('team', 'web', 0), undefined);
    expect(await inner.listTasks('team', 'web')).toHaveLength(1);
    expect(faults.unfired()).toEqual([]);
  });

  it('fails only the calls whose arguments match, as many times as told, with the error given', async () => {
    const { store, faults } = withFaults(new MemoryStore());
    const boom = new Error('boom');
    faults.failNext('registerHost', { when: (host) => host.id === 'h2', times: 2, error: boom });
    await store.registerHost(hostInput('h1'), NOW);
    await expect(store.registerHost(hostInput('h2'), NOW)).rejects.toBe(boom);
    await expect(store.registerHost(hostInput('h2'), NOW)).rejects.toBe(boom);
    await store.registerHost(hostInput('h2'), NOW);
    expect((await store.listHosts()).map((h) => h.id)).toEqual(['h1', 'h2']);
  });

  it('loses the reply of a write that was made: the caller sees an error, the store holds the write', async () => {
    const { store, faults } = withFaults(new MemoryStore());
    const host = await store.registerHost(hostInput('h1'), NOW);
    faults.loseReply('updateAllocations');
    await expect(store.updateAllocations(host, {})).rejects.toThrow(/reply of updateAllocations was lost/);
    expect((await store.getHost('h1'))?.version).toBe(2);
    // The caller's retry on what it read now conflicts: the write it thought failed is there.
    await expect(store.updateAllocations(host, {})).rejects.toBeInstanceOf(ConflictError);
  });

  it('drops a write silently: it resolves and nothing is stored', async () => {
    const { store, faults } = withFaults(new MemoryStore());
    faults.dropNext('setPublished');
    await store.setPublished('h1', 0, { generation: 1, hash: 'x' });
    expect(await store.getPublished('h1')).toBeUndefined();
  });

  it('runs a rival write just before the call, so the call meets it', async () => {
    const inner = new MemoryStore();
    const { store, faults } = withFaults(inner);
    const host = await store.registerHost(hostInput('h1'), NOW);
    faults.beforeNext('updateAllocations', (h) => inner.setHostState(h.id, 'down', LATER));
    await expect(store.updateAllocations(host, {})).rejects.toThrow(/host h1 is no longer at version 1/);
    expect(await inner.getHost('h1')).toMatchObject({ state: 'down', version: 2 });
  });

  it('records every call, and names the rules that never fired', async () => {
    const { store, faults } = withFaults(new MemoryStore());
    faults.failNext('forgetHost').dropNext('putHeartbeat', { times: 2 });
    await store.putHeartbeat('h1', NOW);
    await store.getHost('h1');
    expect(faults.calls).toEqual([
      { method: 'putHeartbeat', args: ['h1', NOW] },
      { method: 'getHost', args: ['h1'] },
    ]);
    expect(faults.unfired()).toEqual(['fail forgetHost (1 left)', 'drop putHeartbeat (1 left)']);
    faults.clear();
    expect(faults.unfired()).toEqual([]);
    expect(() => faults.failNext('getHost', { times: 0 })).toThrow(/times must be a positive integer/);
  });
});

describe('withFaults interleave', () => {
  /** Two callers, each writing its events one call at a time; the order the calls reached the store. */
  async function schedule(seed: string): Promise<string> {
    const { store, faults } = withFaults(new MemoryStore());
    faults.interleave(seed);
    const writer = async (who: string) => {
      for (let i = 0; i < 4; i++) await store.putEvents([{ id: `${who}${i}`, at: NOW, type: 't', message: 'm' }]);
    };
    await Promise.all([writer('a'), writer('b')]);
    return faults.calls.map((c) => (c.args[0] as { id: string }[])[0].id[0]).join('');
  }

  it('interleaves concurrent callers the same way for the same seed, and differently across seeds', async () => {
    expect(await schedule('s1')).toBe(await schedule('s1'));
    const orders = new Set<string>();
    for (let i = 0; i < 12; i++) orders.add(await schedule(`seed-${i}`));
    expect(orders.size).toBeGreaterThan(1);
    for (const order of orders) expect([...order].sort().join('')).toBe('aaaabbbb');
  });

  it('runs callers in lockstep without it', async () => {
    const { store, faults } = withFaults(new MemoryStore());
    await Promise.all(
      ['a', 'b'].map(async (who) => {
        for (let i = 0; i < 3; i++) await store.putEvents([{ id: `${who}${i}`, at: NOW, type: 't', message: 'm' }]);
      }),
    );
    expect(faults.calls.map((c) => (c.args[0] as { id: string }[])[0].id[0]).join('')).toBe('ababab');
  });
});
