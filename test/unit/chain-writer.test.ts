/**
 * The agent's chain discipline (agent/chain-writer.ts), shared by HostIsolation and GuestIsolation:
 * written on change and re-checked, cleared, a failure warned once, iptables unavailable said once
 * and final. Through the in-memory packet filter.
 */
import { describe, expect, it } from 'vitest';
import { ChainWriter } from '../../agent/chain-writer.ts';
import { IptablesError } from '../../agent/iptables.ts';
import { MemoryPacketFilter } from '../../agent/packet-filter.ts';
import type { FilterRule } from '../../core/packet-filter.ts';

const drop: FilterRule = { destination: '10.200.7.0/27', action: 'DROP', comment: 'skiff: test drop' };
const allow: FilterRule = { source: '10.200.9.32/27', destination: '10.200.7.0/27', action: 'ACCEPT', comment: 'skiff: test allow' };

function harness(recheckMs = 60_000) {
  const filter = new MemoryPacketFilter();
  const logs: { level: string; message: string; data?: Record<string, unknown> }[] = [];
  let clock = 1_000_000;
  const chain = new ChainWriter({
    filter,
    log: (level, message, data) => logs.push({ level, message, ...(data ? { data } : {}) }),
    now: () => clock,
    recheckMs,
    unavailableMeans: 'What the host goes without.',
  });
  return { filter, logs, chain, advance: (ms: number) => (clock += ms) };
}

describe('ChainWriter', () => {
  it('writes changed rules at once, unchanged ones again only when a re-check finds recheckMs passed', async () => {
    const h = harness(60_000);
    await h.chain.write([drop], true);
    expect(h.filter.rules).toEqual([drop]);
    expect(h.filter.applies).toBe(1);
    await h.chain.write([drop], true);
    h.advance(59_999);
    await h.chain.write([drop], true);
    expect(h.filter.applies).toBe(1);
    await h.chain.write([allow, drop], false);
    expect(h.filter.rules).toEqual([allow, drop]);
    expect(h.filter.applies).toBe(2);
    h.advance(60_000);
    // Without a re-check, unchanged rules are not written however old they are.
    await h.chain.write([allow, drop], false);
    expect(h.filter.applies).toBe(2);
    await h.chain.write([allow, drop], true);
    expect(h.filter.applies).toBe(3);
    expect(h.logs).toEqual([]);
  });

  it('clears quietly the first time even when that fails, and for real once it has written', async () => {
    const h = harness();
    h.filter.failWith = new Error('iptables: No chain/target/match by that name.');
    await h.chain.clear();
    h.filter.failWith = undefined;
    await h.chain.write([drop], true);
    expect(h.filter.installed).toBe(true);
    await h.chain.clear();
    expect(h.filter.installed).toBe(false);
    // Cleared: the same rules are written again at once.
    await h.chain.write([drop], false);
    expect(h.filter.applies).toBe(2);
    h.filter.failWith = new Error('iptables: Resource temporarily unavailable.');
    await expect(h.chain.clear()).rejects.toThrow('Resource temporarily unavailable');
  });

  it('warns once per distinct failure, retries the next round, and says when the rules are written again', async () => {
    const h = harness();
    h.filter.failWith = new IptablesError('iptables-restore: line 2 failed', false);
    for (let i = 0; i < 3; i++) await h.chain.guard(() => h.chain.write([drop], true));
    h.filter.failWith = new IptablesError('iptables-restore: line 3 failed', false);
    await h.chain.guard(() => h.chain.write([drop], true));
    expect(h.logs.map((l) => [l.level, l.message, l.data?.error])).toEqual([
      ['warn', 'writing namespace isolation rules failed; retrying next round', 'iptables-restore: line 2 failed'],
      ['warn', 'writing namespace isolation rules failed; retrying next round', 'iptables-restore: line 3 failed'],
    ]);
    h.filter.failWith = undefined;
    await h.chain.guard(() => h.chain.write([drop], false));
    expect(h.filter.rules).toEqual([drop]);
    expect(h.logs.at(-1)).toEqual({ level: 'info', message: 'namespace isolation rules written again', data: { rules: 1 } });
    expect(h.chain.unavailable).toBe(false);
  });

  it('a failure of the round itself (not of the write) is warned the same way', async () => {
    const h = harness();
    await h.chain.guard(async () => {
      throw new Error('docker inspect failed');
    });
    expect(h.logs).toEqual([
      { level: 'warn', message: 'writing namespace isolation rules failed; retrying next round', data: { error: 'docker inspect failed' } },
    ]);
  });

  it('says once that iptables is unavailable, with what that means, and runs no later round', async () => {
    const h = harness();
    h.filter.failWith = new IptablesError('iptables may not be used by this user', true);
    await h.chain.guard(() => h.chain.write([drop], true));
    expect(h.chain.unavailable).toBe(true);
    let ran = 0;
    await h.chain.guard(async () => {
      ran++;
    });
    expect(ran).toBe(0);
    expect(h.logs).toEqual([
      { level: 'warn', message: 'namespace isolation rules cannot be written: iptables may not be used by this user. What the host goes without.' },
    ]);
  });
});
