import { describe, expect, it } from 'vitest';
import { GuestIsolation } from '../../agent/guest-isolation.ts';
import { type CommandRunner, IptablesError } from '../../agent/iptables.ts';
import { IptablesFilter, MemoryPacketFilter, type PacketFilter, removeClusterFilters } from '../../agent/packet-filter.ts';
import { filterChainName, guestRules } from '../../core/packet-filter.ts';

/** A runner that records every call and answers from a script of (predicate, answer). */
function recorder(answer: (file: string, args: readonly string[]) => { code: number; stdout?: string; stderr?: string } = () => ({ code: 0 })) {
  const calls: { file: string; args: readonly string[]; input?: string }[] = [];
  const run: CommandRunner = async (file, args, input) => {
    calls.push({ file, args, ...(input !== undefined ? { input } : {}) });
    const a = answer(file, args);
    return { code: a.code, stdout: a.stdout ?? '', stderr: a.stderr ?? '' };
  };
  return { calls, run };
}

const rule = guestRules([{ task: 'team-web-1', addresses: ['172.21.0.2'], guestSubnets: ['172.20.0.0/16'] }]);

describe('IptablesFilter (iptables argv, no kernel)', () => {
  const chain = filterChainName('c1', 'local-1');

  it('replaces its chain in one restore transaction, then inserts its jump at the top of DOCKER-USER when missing', async () => {
    const { calls, run } = recorder((_, args) => ({ code: args.includes('-C') ? 1 : 0 }));
    await new IptablesFilter({ cluster: 'c1', hostId: 'local-1', run }).apply(rule);
    expect(calls.map((c) => [c.file, ...c.args].join(' '))).toEqual([
      'iptables-restore -w --noflush',
      `iptables -w -C DOCKER-USER -m comment --comment skiff c1 local-1 -j ${chain}`,
      `iptables -w -I DOCKER-USER 1 -m comment --comment skiff c1 local-1 -j ${chain}`,
    ]);
    expect(calls[0].input).toBe(
      `*filter\n:${chain} - [0:0]\n-A ${chain} -s 172.21.0.2/32 -d 172.20.0.0/16 -m conntrack --ctstate NEW -m comment --comment "skiff: team-web-1 is a guest here, may answer, not open" -j DROP\nCOMMIT\n`,
    );
  });

  it('adds no second jump when it is there (an agent restarted)', async () => {
    const { calls, run } = recorder();
    await new IptablesFilter({ cluster: 'c1', hostId: 'local-1', run }).apply(rule);
    expect(calls.filter((c) => c.args.includes('-I'))).toEqual([]);
  });

  it('says clearly when iptables is missing or not the agent to use', async () => {
    const denied = recorder(() => ({
      code: 4,
      stderr: 'iptables-restore v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)',
    }));
    const err = await new IptablesFilter({ cluster: 'c1', hostId: 'local-1', run: denied.run }).apply(rule).catch((e: Error) => e);
    expect(err).toBeInstanceOf(IptablesError);
    expect((err as IptablesError).unavailable).toBe(true);
    expect((err as Error).message).toMatch(/must run as root/);
    const missing = recorder(() => ({ code: 127, stderr: 'spawn iptables-restore ENOENT' }));
    await expect(new IptablesFilter({ cluster: 'c1', hostId: 'local-1', run: missing.run }).apply(rule)).rejects.toThrow(/not installed/);
  });

  it('fails retryably, naming the call, when DOCKER-USER is missing', async () => {
    const { run } = recorder((_, args) => (args.includes('DOCKER-USER') ? { code: 1, stderr: 'iptables: No chain/target/match by that name.' } : { code: 0 }));
    await expect(new IptablesFilter({ cluster: 'c1', hostId: 'local-1', run }).apply(rule)).rejects.toThrow(
      /-I DOCKER-USER 1 .* failed \(exit code 1\): iptables: No chain/,
    );
  });

  it('removes its jump and chain, and only its own', async () => {
    let jumps = 2;
    const { calls, run } = recorder((_, args) => (args.includes('-D') ? { code: jumps-- > 0 ? 0 : 1 } : { code: 0 }));
    await new IptablesFilter({ cluster: 'c1', hostId: 'local-1', run }).remove();
    expect(calls.map((c) => c.args.join(' '))).toEqual([
      `-w -D DOCKER-USER -m comment --comment skiff c1 local-1 -j ${chain}`,
      `-w -D DOCKER-USER -m comment --comment skiff c1 local-1 -j ${chain}`,
      `-w -D DOCKER-USER -m comment --comment skiff c1 local-1 -j ${chain}`,
      `-w -F ${chain}`,
      `-w -X ${chain}`,
    ]);
  });

  it('removes the chains of every host of one cluster, found by the jumps, and leaves the rest', async () => {
    const listing = [
      '-N DOCKER-USER',
      `-A DOCKER-USER -m comment --comment "skiff c1 local-2" -j ${filterChainName('c1', 'local-2')}`,
      `-A DOCKER-USER -m comment --comment "skiff c2 local-1" -j ${filterChainName('c2', 'local-1')}`,
      `-A DOCKER-USER -m comment --comment "skiff c1 local-1" -j ${filterChainName('c1', 'local-1')}`,
      '-A DOCKER-USER -s 10.9.0.0/16 -j DROP',
      '-A DOCKER-USER -j RETURN',
    ].join('\n');
    const { calls, run } = recorder((_, args) =>
      args.includes('-S')
        ? { code: 0, stdout: listing }
        : args.includes('-D')
          ? { code: calls.filter((c) => c.args.includes('-D')).length % 2 ? 0 : 1 }
          : { code: 0 },
    );
    expect(await removeClusterFilters('c1', { run })).toBe(2);
    const touched = calls.filter((c) => !c.args.includes('-S')).map((c) => c.args.at(-1));
    expect(new Set(touched)).toEqual(new Set([filterChainName('c1', 'local-1'), filterChainName('c1', 'local-2')]));
  });

  it('does nothing when iptables cannot list DOCKER-USER', async () => {
    const { calls, run } = recorder(() => ({ code: 4, stderr: 'Permission denied (you must be root)' }));
    expect(await removeClusterFilters('c1', { run })).toBe(0);
    expect(calls).toHaveLength(1);
  });
});

/** A Docker stand-in with the sandboxes' networks and the networks' subnets. */
function dockerWith(containers: Record<string, { home: string; networks: Record<string, string> }>, subnets: Record<string, string>) {
  const inspects = { containers: 0, networks: 0 };
  return {
    inspects,
    docker: {
      getContainer: (id: string) => ({
        inspect: async () => {
          inspects.containers++;
          const c = containers[id];
          if (!c) throw Object.assign(new Error(`no such container: ${id}`), { statusCode: 404 });
          return {
            HostConfig: { NetworkMode: c.home },
            NetworkSettings: { Networks: Object.fromEntries(Object.entries(c.networks).map(([n, ip]) => [n, { IPAddress: ip }])) },
          };
        },
      }),
      getNetwork: (name: string) => ({
        inspect: async () => {
          inspects.networks++;
          return { IPAM: { Config: [{ Subnet: subnets[name] }] } };
        },
      }),
    } as unknown as ConstructorParameters<typeof GuestIsolation>[0]['docker'],
  };
}

describe('GuestIsolation (the in-memory filter)', () => {
  const subnets = { 'net-team': '172.21.0.0/16', 'net-shop': '172.20.0.0/16', 'net-bill': '172.22.0.0/16' };
  const setup = () => {
    const { docker, inspects } = dockerWith(
      {
        s1: { home: 'net-team', networks: { 'net-team': '172.21.0.2', 'net-shop': '172.20.0.9' } },
        s2: { home: 'net-bill', networks: { 'net-bill': '172.22.0.2', 'net-shop': '172.20.0.10' } },
        s3: { home: 'net-team', networks: { 'net-team': '172.21.0.3' } },
      },
      subnets,
    );
    const filter = new MemoryPacketFilter();
    const logs: string[] = [];
    let now = 0;
    const iso = new GuestIsolation({ docker, filter, log: (level, message) => logs.push(`${level} ${message}`), now: () => now, recheckMs: 60_000 });
    return { iso, filter, logs, inspects, advance: (ms: number) => (now += ms) };
  };

  it('writes a guest its rules on admission, follows the running guests, and rewrites only on change or recheck', async () => {
    const { iso, filter, inspects, advance } = setup();
    await iso.admit({ id: 's1', taskId: 'team-web-1' });
    expect(filter.rules).toEqual(guestRules([{ task: 'team-web-1', addresses: ['172.21.0.2', '172.20.0.9'], guestSubnets: ['172.20.0.0/16'] }]));
    await iso.admit({ id: 's1', taskId: 'team-web-1' });
    await iso.sync([{ id: 's1', taskId: 'team-web-1' }]);
    expect(filter.applies).toBe(1);
    expect(inspects.containers).toBe(1);
    await iso.sync([
      { id: 's1', taskId: 'team-web-1' },
      { id: 's2', taskId: 'bill-api-1' },
      { id: 's3', taskId: 'team-x-1' },
    ]);
    expect(filter.rules).toHaveLength(4);
    expect(filter.applies).toBe(2);
    await iso.sync([{ id: 's2', taskId: 'bill-api-1' }]);
    expect(filter.rules.map((r) => r.source)).toEqual(['172.20.0.10', '172.22.0.2']);
    expect(inspects.networks).toBe(1);
    advance(60_000);
    await iso.sync([{ id: 's2', taskId: 'bill-api-1' }]);
    expect(filter.applies).toBe(4);
    await iso.sync([]);
    expect(filter.rules).toEqual([]);
  });

  it('says once that iptables is unavailable, what that means, and stops trying', async () => {
    const { iso, filter, logs } = setup();
    filter.failWith = new IptablesError('iptables may not be used by this user (Permission denied): the agent must run as root', true);
    await iso.admit({ id: 's1', taskId: 'team-web-1' });
    await iso.sync([{ id: 's1', taskId: 'team-web-1' }]);
    await iso.admit({ id: 's2', taskId: 'bill-api-1' });
    expect(logs).toEqual([
      "warn namespace isolation rules cannot be written: iptables may not be used by this user (Permission denied): the agent must run as root. A service's spec.network.allowFrom opens both ways on this host (docs/security.md)",
    ]);
  });

  it('retries a failed write next round, warning once per distinct failure', async () => {
    const { iso, filter, logs } = setup();
    filter.failWith = new Error('xtables lock busy');
    await iso.admit({ id: 's1', taskId: 'team-web-1' });
    await iso.sync([{ id: 's1', taskId: 'team-web-1' }]);
    expect(logs).toHaveLength(1);
    filter.failWith = undefined;
    await iso.sync([{ id: 's1', taskId: 'team-web-1' }]);
    expect(filter.rules).toHaveLength(2);
    expect(logs.at(-1)).toBe('info namespace isolation rules written again');
  });
});

describe('GuestIsolation without guests', () => {
  it('writes no chain, clears one an earlier run left (quietly, even without iptables), and removes its own when the last guest goes', async () => {
    const { docker } = dockerWith(
      { s1: { home: 'net-team', networks: { 'net-team': '172.21.0.2', 'net-shop': '172.20.0.9' } } },
      { 'net-shop': '172.20.0.0/16' },
    );
    const calls: string[] = [];
    const filter: PacketFilter = {
      apply: async () => void calls.push('apply'),
      remove: async (): Promise<void> => {
        calls.push('remove');
        throw new IptablesError('iptables may not be used by this user', true);
      },
    };
    const logs: string[] = [];
    const iso = new GuestIsolation({ docker, filter, log: (_, message) => logs.push(message), now: () => 0 });
    await iso.sync([]);
    await iso.sync([]);
    expect(calls).toEqual(['remove']);
    expect(logs).toEqual([]);
    filter.remove = async () => void calls.push('remove');
    await iso.sync([{ id: 's1', taskId: 'team-web-1' }]);
    await iso.sync([]);
    await iso.sync([]);
    expect(calls).toEqual(['remove', 'apply', 'remove']);
  });
});
