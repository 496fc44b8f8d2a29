import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  allocate,
  capacityError,
  cidrSize,
  containersPerHost,
  contains,
  formatCidr,
  formatIpv4,
  overlaps,
  parseCidr,
  parseIpv4,
  subnets,
} from '../../core/cidr.ts';
import { ValidationError } from '../../core/errors.ts';

describe('parsing and formatting', () => {
  it('round-trips addresses and CIDRs', () => {
    expect(parseIpv4('10.200.3.7')).toBe(10 * 2 ** 24 + 200 * 2 ** 16 + 3 * 256 + 7);
    expect(formatIpv4(parseIpv4('255.255.255.255'))).toBe('255.255.255.255');
    expect(parseCidr('10.200.0.0/16')).toEqual({ address: parseIpv4('10.200.0.0'), prefix: 16 });
    expect(formatCidr(parseCidr('0.0.0.0/0'))).toBe('0.0.0.0/0');
    expect(cidrSize(parseCidr('0.0.0.0/0'))).toBe(2 ** 32);
    expect(formatCidr(parseCidr('192.168.1.7/32'))).toBe('192.168.1.7/32');
  });

  it.each([
    ['10.200.0.0', 'expected address/prefix'],
    ['10.200.0/16', 'is not an IPv4 address'],
    ['10.256.0.0/16', 'is not an IPv4 address'],
    ['10.010.0.0/16', 'without leading zeros'],
    ['10.200.0.0/33', 'expected a whole number 0-32'],
    ['10.200.0.0/08', 'expected a whole number 0-32'],
    [' 10.200.0.0/16', 'is not an IPv4 address'],
    ['10.200.1.0/16', 'has host bits set: the /16 network holding 10.200.1.0 is 10.200.0.0/16'],
  ])('refuses %j, saying what is wrong', (text, message) => {
    const err = (() => {
      try {
        parseCidr(text, 'network.clusterCidr');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).issues[0].path).toBe('network.clusterCidr');
    expect((err as ValidationError).message).toContain(message);
  });

  it('tells overlap and containment apart', () => {
    expect(overlaps('10.200.0.0/16', '10.200.255.0/24')).toBe(true);
    expect(overlaps('10.200.0.0/16', '10.201.0.0/16')).toBe(false);
    expect(overlaps('10.0.0.0/8', '10.200.0.0/16')).toBe(true);
    expect(contains('10.200.0.0/16', '10.200.4.0/22')).toBe(true);
    expect(contains('10.200.4.0/22', '10.200.0.0/16')).toBe(false);
    expect(contains('10.200.0.0/16', '10.201.0.0/24')).toBe(false);
  });
});

describe('subnets', () => {
  it('counts the host subnets of a cluster CIDR and names each by index', () => {
    const plan = subnets('10.200.0.0/16', 24);
    expect(plan.count).toBe(256);
    expect(plan.at(0)).toBe('10.200.0.0/24');
    expect(plan.at(7)).toBe('10.200.7.0/24');
    expect(plan.at(255)).toBe('10.200.255.0/24');
    expect(plan.indexOf('10.200.7.0/24')).toBe(7);
    expect(plan.indexOf('10.200.7.0/25')).toBeUndefined();
    expect(plan.indexOf('10.201.0.0/24')).toBeUndefined();
    expect(() => plan.at(256)).toThrow(/outside 0\.\.255/);
    expect(subnets('0.0.0.0/0', 32).count).toBe(2 ** 32);
    expect(subnets('0.0.0.0/0', 32).at(2 ** 32 - 1)).toBe('255.255.255.255/32');
  });

  it('refuses a prefix shorter than the cluster prefix', () => {
    expect(() => subnets('10.200.0.0/16', 15)).toThrow(/from 16 \(the cluster's prefix\) to 32/);
  });

  it('counts containers per host after network, broadcast and bridge addresses', () => {
    expect(containersPerHost(24)).toBe(253);
    expect(containersPerHost(30)).toBe(1);
    expect(() => containersPerHost(31)).toThrow(/a \/30 is the smallest that holds a container/);
  });
});

describe('allocate', () => {
  it('returns the first free subnet from the cursor, wrapping around', () => {
    const held = new Set(['10.200.0.0/24', '10.200.1.0/24', '10.200.3.0/24']);
    expect(allocate('10.200.0.0/22', 24, held)).toBe('10.200.2.0/24');
    expect(allocate('10.200.0.0/22', 24, held, 3)).toBe('10.200.2.0/24');
    expect(allocate('10.200.0.0/22', 24, new Set(['10.200.2.0/24']), 6)).toBe('10.200.3.0/24');
    expect(allocate('10.200.0.0/22', 24, new Set(['10.200.3.0/24']), 3)).toBe('10.200.0.0/24');
  });

  it('returns undefined when every subnet is held', () => {
    expect(allocate('10.200.0.0/23', 24, new Set(['10.200.0.0/24', '10.200.1.0/24']), 1)).toBeUndefined();
  });

  it('treats a held CIDR of another prefix as holding every subnet it overlaps', () => {
    expect(allocate('10.200.0.0/22', 24, new Set(['10.200.0.0/23']))).toBe('10.200.2.0/24');
    expect(allocate('10.200.0.0/22', 24, new Set(['10.200.2.128/25']), 2)).toBe('10.200.3.0/24');
    expect(allocate('10.200.0.0/22', 24, new Set(['10.0.0.0/8']))).toBeUndefined();
    expect(allocate('10.200.0.0/22', 24, new Set(['10.201.0.0/24']))).toBe('10.200.0.0/24');
  });

  it('refuses host prefixes that hold no container and bad cursors', () => {
    expect(() => allocate('10.200.0.0/16', 31, new Set())).toThrow(ValidationError);
    expect(() => allocate('10.200.0.0/16', 24, new Set(), -1)).toThrow(/cursor/);
    expect(() => allocate('10.200.0.0/16', 24, new Set(['nonsense']))).toThrow(/held/);
  });

  const scenario = fc
    .record({ clusterPrefix: fc.integer({ min: 8, max: 28 }), extra: fc.integer({ min: 0, max: 6 }), base: fc.integer({ min: 0, max: 2 ** 32 - 1 }) })
    .chain(({ clusterPrefix, extra, base }) => {
      const hostPrefix = Math.min(30, clusterPrefix + extra);
      const size = 2 ** (32 - clusterPrefix);
      const cluster = formatCidr({ address: base - (base % size), prefix: clusterPrefix });
      const count = 2 ** (hostPrefix - clusterPrefix);
      // Held CIDRs: some of the plan's subnets, plus CIDRs of other prefixes around the cluster.
      const anyCidr = fc
        .record({ address: fc.integer({ min: 0, max: 2 ** 32 - 1 }), prefix: fc.integer({ min: clusterPrefix - 2, max: 32 }) })
        .map(({ address, prefix }) => {
          const s = 2 ** (32 - prefix);
          return formatCidr({ address: address - (address % s), prefix });
        });
      const nearCidr = fc
        .record({ offset: fc.integer({ min: 0, max: size - 1 }), prefix: fc.integer({ min: clusterPrefix, max: 32 }) })
        .map(({ offset, prefix }) => {
          const s = 2 ** (32 - prefix);
          const address = parseCidr(cluster).address + offset;
          return formatCidr({ address: address - (address % s), prefix });
        });
      return fc.record({
        cluster: fc.constant(cluster),
        hostPrefix: fc.constant(hostPrefix),
        held: fc.array(
          fc.oneof(
            fc.integer({ min: 0, max: count - 1 }).map((i) => subnets(cluster, hostPrefix).at(i)),
            nearCidr,
            anyCidr,
          ),
          { maxLength: 12 },
        ),
        cursor: fc.nat(),
        hosts: fc.integer({ min: 1, max: 20 }),
      });
    });

  it('never hands out a subnet that overlaps a held one, and stays inside the cluster CIDR', () => {
    fc.assert(
      fc.property(scenario, ({ cluster, hostPrefix, held, cursor }) => {
        const got = allocate(cluster, hostPrefix, new Set(held), cursor);
        if (got === undefined) {
          // Only when every subnet of the plan overlaps something held.
          const plan = subnets(cluster, hostPrefix);
          if (plan.count <= 64) {
            for (let i = 0; i < plan.count; i++) expect(held.some((h) => overlaps(h, plan.at(i)))).toBe(true);
          }
          return;
        }
        expect(parseCidr(got).prefix).toBe(hostPrefix);
        expect(contains(cluster, got)).toBe(true);
        expect(held.some((h) => overlaps(h, got))).toBe(false);
      }),
      { numRuns: 500 },
    );
  });

  it('gives successive hosts disjoint subnets until the cluster is full', () => {
    fc.assert(
      fc.property(scenario, fc.array(fc.nat(), { minLength: 20, maxLength: 20 }), ({ cluster, hostPrefix, held, hosts }, cursors) => {
        const taken = new Set(held);
        const given: string[] = [];
        for (let h = 0; h < hosts; h++) {
          const got = allocate(cluster, hostPrefix, taken, cursors[h]);
          if (got === undefined) break;
          expect(taken.has(got)).toBe(false);
          given.push(got);
          taken.add(got);
        }
        for (let i = 0; i < given.length; i++) {
          expect(contains(cluster, given[i])).toBe(true);
          for (let j = i + 1; j < given.length; j++) expect(overlaps(given[i], given[j])).toBe(false);
        }
        // It stops early only when the plan is full.
        if (given.length < hosts) expect(allocate(cluster, hostPrefix, taken, 0)).toBeUndefined();
      }),
      { numRuns: 300 },
    );
  });
});

describe('capacityError', () => {
  it('says what to change when the cluster CIDR has fewer host subnets than maxHosts', () => {
    expect(capacityError('10.200.0.0/20', 24, 50)).toBe(
      'cluster CIDR 10.200.0.0/20 holds 16 host subnets of /24, fewer than maxHosts 50: use a /18 or larger, ' +
        'or a longer host prefix (/26 gives 64 subnets of 61 containers)',
    );
  });

  it('accepts a cluster CIDR that holds exactly maxHosts host subnets', () => {
    expect(capacityError('10.200.0.0/16', 24, 256)).toBeUndefined();
    expect(capacityError('10.200.0.0/16', 24, 257)).toMatch(/holds 256 host subnets of \/24, fewer than maxHosts 257: use a \/15 or larger/);
  });

  it('leaves out advice that cannot work', () => {
    expect(capacityError('10.200.0.0/28', 30, 5)).toBe('cluster CIDR 10.200.0.0/28 holds 4 host subnets of /30, fewer than maxHosts 5: use a /27 or larger');
    expect(capacityError('0.0.0.0/0', 30, 2 ** 31)).toMatch(/no IPv4 network can hold 2147483648 host subnets of \/30; lower maxHosts/);
  });

  it('refuses a bad maxHosts or host prefix', () => {
    expect(() => capacityError('10.200.0.0/16', 24, 0)).toThrow(/maxHosts/);
    expect(() => capacityError('10.200.0.0/16', 31, 3)).toThrow(/hostPrefix/);
  });
});
