import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatIpv4, parseCidr } from '../../core/cidr.ts';
import { HOST_DOCUMENT_BYTES } from '../../core/document-size.ts';
import { MAX_ALLOW_FROM } from '../../core/spec/network.ts';
import { podOf } from '../../core/reconciler.ts';
import { parseServiceSpec } from '../../core/spec.ts';
import type { HostDocumentTask, HostNetwork } from '../../core/types.ts';
import {
  assignSlots,
  documentBlocks,
  documentRules,
  taskIsolation,
  type FilterRule,
  ISOLATION_TASK_BYTES,
  filterChainName,
  guestRules,
  hostRules,
  matchesAddress,
  namespaceBlock,
  namespaceSources,
  type NamespaceAddressing,
  restoreInput,
  ruleArgs,
  slotCount,
  verdict,
} from '../../core/packet-filter.ts';

describe('rules as iptables sees them', () => {
  it('writes a rule in the form iptables -S prints it back', () => {
    const rule: FilterRule = { source: '172.20.0.5', destination: '172.20.0.0/16', state: 'NEW', action: 'DROP', comment: 'skiff: team-web-1 is a guest here' };
    expect(ruleArgs(rule)).toEqual([
      '-s',
      '172.20.0.5/32',
      '-d',
      '172.20.0.0/16',
      '-m',
      'conntrack',
      '--ctstate',
      'NEW',
      '-m',
      'comment',
      '--comment',
      'skiff: team-web-1 is a guest here',
      '-j',
      'DROP',
    ]);
    expect(restoreInput('SKIFF-0000abcd', [rule])).toBe(
      '*filter\n:SKIFF-0000abcd - [0:0]\n-A SKIFF-0000abcd -s 172.20.0.5/32 -d 172.20.0.0/16 -m conntrack --ctstate NEW -m comment --comment "skiff: team-web-1 is a guest here" -j DROP\nCOMMIT\n',
    );
  });

  it('names one chain per cluster and host, within iptables limit of 28 characters', () => {
    const a = filterChainName('c1', 'local-1');
    expect(a).toMatch(/^SKIFF-[0-9a-f]{8}$/);
    expect(filterChainName('c1', 'local-1')).toBe(a);
    expect(filterChainName('c1', 'local-2')).not.toBe(a);
    expect(filterChainName('c2', 'local-1')).not.toBe(a);
  });

  it('matches addresses as the kernel does, non-contiguous masks included', () => {
    expect(matchesAddress('10.200.0.160/255.255.0.224', '10.200.7.170')).toBe(true);
    expect(matchesAddress('10.200.0.160/255.255.0.224', '10.200.7.130')).toBe(false);
    expect(matchesAddress('10.200.0.0/16', '10.201.0.1')).toBe(false);
    expect(matchesAddress('10.1.2.3', '10.1.2.3')).toBe(true);
  });
});

describe('namespace blocks (AWS)', () => {
  const a: NamespaceAddressing = { clusterCidr: '10.200.0.0/16', hostPrefix: 24, blockPrefix: 27 };

  it('cuts a host subnet into one block per slot and names a slot cluster-wide with one address/mask pair', () => {
    expect(slotCount(a)).toBe(8);
    expect(namespaceBlock(a, '10.200.7.0/24', 5)).toBe('10.200.7.160/27');
    expect(namespaceSources(a, 5)).toBe('10.200.0.160/255.255.0.224');
  });

  it('refuses slots and shapes that do not fit, saying why', () => {
    expect(() => namespaceBlock(a, '10.200.7.0/24', 8)).toThrow(/slot 8 is outside 0-7/);
    expect(() => namespaceBlock(a, '10.200.7.0/25', 1)).toThrow(/not a \/24 host subnet/);
    expect(() => slotCount({ ...a, blockPrefix: 24 })).toThrow(/must be inside host subnets/);
  });

  it('an address of a slot on any host matches that slot sources and no other slot', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 31 }), (host, slot, offset) => {
        const block = parseCidr(namespaceBlock(a, `10.200.${host}.0/24`, slot));
        const ip = formatIpv4(block.address + offset);
        for (let s = 0; s < 8; s++) expect(matchesAddress(namespaceSources(a, s), ip)).toBe(s === slot);
        expect(matchesAddress(namespaceSources(a, slot), '10.201.0.161')).toBe(false);
      }),
    );
  });
});

/** What a connection from one pod to another should do, by the issue: its own namespace, or one the target lets in. */
function allowed(from: { namespace: string }, to: { namespace: string; allowFrom: readonly string[] }): boolean {
  return from.namespace === to.namespace || to.allowFrom.includes(from.namespace);
}

const NAMESPACES = ['a', 'b', 'c', 'd'];
const podsArb = fc.array(
  fc.record({ namespace: fc.constantFrom(...NAMESPACES), allowFrom: fc.uniqueArray(fc.constantFrom(...NAMESPACES), { maxLength: 3 }) }),
  { minLength: 2, maxLength: 8 },
);

describe('the allow matrix, locally (a bridge per namespace, guests joined, Docker between bridges)', () => {
  /**
   * The model of the local topology: namespace n's bridge is 172.(20+n).0.0/16; a pod has a home address
   * on its namespace's bridge and a guest address on each bridge of a namespace it lets in. A packet
   * between two addresses of one bridge is bridged (our chain, then Docker accepts); any other is routed
   * between bridges (our chain, then Docker's isolation drops it). Replies (ESTABLISHED) of a connection
   * whose first packet passed are bridged or routed back the same way.
   */
  function world(specs: readonly { namespace: string; allowFrom: readonly string[] }[]) {
    const subnet = (ns: string) => `172.${20 + NAMESPACES.indexOf(ns)}.0.0/16`;
    const pods = specs.map((s, i) => {
      const guestOn = s.allowFrom.filter((n) => n !== s.namespace);
      const addr = (ns: string) => `172.${20 + NAMESPACES.indexOf(ns)}.${i + 1}.${NAMESPACES.indexOf(s.namespace) + 2}`;
      return { ...s, task: `t${i}`, home: addr(s.namespace), addresses: [addr(s.namespace), ...guestOn.map(addr)], guestOn };
    });
    const rules = guestRules(pods.map((p) => ({ task: p.task, addresses: p.addresses, guestSubnets: p.guestOn.map(subnet) })));
    const bridgeOf = (ip: string) => NAMESPACES.find((ns) => matchesAddress(subnet(ns), ip))!;
    /** Whether a packet from a pod (sent from `source`, one of its addresses, through any of its interfaces) reaches `destination`. */
    const passes = (from: (typeof pods)[number], source: string, destination: string, state: 'NEW' | 'ESTABLISHED'): boolean => {
      const v = verdict(rules, { source, destination, state });
      if (v) return v === 'ACCEPT';
      // The sender leaves through its interface on the destination's bridge when it has one.
      const bridged = from.addresses.some((a) => bridgeOf(a) === bridgeOf(destination));
      return bridged;
    };
    return { pods, rules, passes, bridgeOf };
  }

  it('same namespace: allowed; another: denied unless let in; replies flow; never the other way', () => {
    fc.assert(
      fc.property(podsArb, (specs) => {
        const { pods, passes, bridgeOf } = world(specs);
        for (const from of pods) {
          for (const to of pods) {
            if (from === to) continue;
            // Any source address the sender has, to any address the target has.
            const opens = from.addresses.flatMap((s) => to.addresses.map((d) => [s, d] as const)).filter(([s, d]) => passes(from, s, d, 'NEW'));
            expect(opens.length > 0, `${from.task} (${from.namespace}) to ${to.task} (${to.namespace}, lets in ${to.allowFrom})`).toBe(allowed(from, to));
            // Replies come back, for every connection opened the way the kernel opens one: from the
            // sender's address on the bridge it leaves through (others are spoofed: their replies go astray).
            for (const [s, d] of opens.filter(([s, d]) => bridgeOf(s) === bridgeOf(d))) expect(passes(to, d, s, 'ESTABLISHED')).toBe(true);
          }
        }
      }),
      { numRuns: 100 },
    );
  });

  it('gives the same rules whatever order the pods come in', () => {
    const pods = [
      { task: 't2', addresses: ['172.21.0.2', '172.20.0.9'], guestSubnets: ['172.20.0.0/16'] },
      { task: 't1', addresses: ['172.22.0.2', '172.20.0.8'], guestSubnets: ['172.20.0.0/16'] },
    ];
    expect(guestRules(pods)).toEqual(guestRules([...pods].reverse()));
    expect(guestRules(pods)).toHaveLength(4);
  });
});

describe('the allow matrix on AWS (namespace blocks, rules per host)', () => {
  const a: NamespaceAddressing = { clusterCidr: '10.200.0.0/16', hostPrefix: 24, blockPrefix: 27 };
  const { slots } = assignSlots(NAMESPACES, {}, slotCount(a));
  const isolation = (namespace: string, allowFrom: readonly string[]) => ({ slot: slots[namespace], allowSlots: allowFrom.map((ns) => slots[ns]) });

  it('same namespace: allowed; another: denied unless let in; replies flow; never the other way; any host', () => {
    fc.assert(
      fc.property(podsArb, fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 8, maxLength: 8 }), (specs, hostOf) => {
        const pods = specs.map((s, i) => {
          const subnet = `10.200.${hostOf[i]}.0/24`;
          const block = parseCidr(namespaceBlock(a, subnet, slots[s.namespace]));
          return { ...s, ...isolation(s.namespace, s.allowFrom), task: `t${i}`, subnet, address: formatIpv4(block.address + 2 + i) };
        });
        const rulesOf = (subnet: string) =>
          hostRules(
            a,
            subnet,
            pods.filter((p) => p.subnet === subnet),
          );
        // A packet to a container is judged by the chain of the container's host (FORWARD, into its bridge).
        const passes = (source: string, to: (typeof pods)[number], state: 'NEW' | 'ESTABLISHED') =>
          verdict(rulesOf(to.subnet), { source, destination: to.address, state }) === 'ACCEPT';
        for (const from of pods) {
          for (const to of pods) {
            if (from === to) continue;
            const opens = passes(from.address, to, 'NEW');
            expect(opens, `${from.task} (${from.namespace}) to ${to.task} (${to.namespace}, lets in ${to.allowFrom})`).toBe(allowed(from, to));
            if (opens) expect(passes(to.address, from, 'ESTABLISHED')).toBe(true);
          }
        }
      }),
      { numRuns: 100 },
    );
  });

  it('leaves traffic from outside the cluster CIDR to Docker (the load balancer, the host)', () => {
    const rules = hostRules(a, '10.200.3.0/24', [{ task: 't', address: '10.200.3.34', ...isolation('a', []) }]);
    expect(verdict(rules, { source: '10.0.1.5', destination: '10.200.3.34', state: 'NEW' })).toBeUndefined();
    expect(verdict(rules, { source: '10.200.9.66', destination: '10.200.3.34', state: 'NEW' })).toBe('DROP');
  });

  it('stays one rule per namespace, whatever the number of hosts', () => {
    const pods = Array.from({ length: 40 }, (_, i) => ({ task: `t${i}`, address: '10.200.3.40', ...isolation(NAMESPACES[i % 4], []) }));
    // 1 reply rule + 4 namespaces + 1 drop.
    expect(hostRules(a, '10.200.3.0/24', pods)).toHaveLength(6);
  });

  it('adds at most ISOLATION_TASK_BYTES to a task in its host document, so placement counts it with the task', () => {
    const widest = { isolation: { slot: 65_535, allowSlots: Array.from({ length: MAX_ALLOW_FROM }, () => 65_535) } };
    expect(JSON.stringify(widest).length - 2 + 1).toBeLessThanOrEqual(ISOLATION_TASK_BYTES);
    // A host full of the smallest tasks still fits its document with it: 253 containers of a /24.
    expect(253 * ISOLATION_TASK_BYTES).toBeLessThan(HOST_DOCUMENT_BYTES / 8);
  });
});

describe('assignSlots', () => {
  it('keeps slots given, gives new namespaces the lowest free ones in name order, and lists those that find none', () => {
    expect(assignSlots(['web', 'api', 'db'], { db: 0 }, 4)).toEqual({ slots: { db: 0, api: 1, web: 2 }, full: [] });
    expect(assignSlots(['a', 'b', 'c'], { c: 1, gone: 0 }, 2)).toEqual({ slots: { c: 1, a: 0 }, full: ['b'] });
  });

  it('never gives one slot twice nor one outside the block count, whatever was given before', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.constantFrom(...'abcdefghij'.split('')), { maxLength: 10 }),
        fc.dictionary(fc.constantFrom(...'abcdefghij'.split('')), fc.integer({ min: -1, max: 9 })),
        fc.integer({ min: 1, max: 8 }),
        (namespaces, given, count) => {
          const { slots, full } = assignSlots(namespaces, given, count);
          const values = Object.values(slots);
          expect(new Set(values).size).toBe(values.length);
          for (const v of values) expect(v >= 0 && v < count).toBe(true);
          expect(Object.keys(slots).length + full.length).toBe(namespaces.length);
          expect(full.length > 0).toBe(namespaces.length > count);
        },
      ),
    );
  });
});

describe('isolation in the host document (AWS)', () => {
  const spec = (namespace: string, allowFrom?: string[]) =>
    podOf({
      namespace,
      name: 'web',
      spec: parseServiceSpec({
        kind: 'Service',
        metadata: { name: 'web', namespace },
        spec: { ...(allowFrom ? { network: { allowFrom } } : {}), containers: [{ name: 'app', image: 'skiff/busybox' }] },
      }),
      specVersion: 1,
      createdAt: '2026-01-01T00:00:00.000Z',
      updatedAt: '2026-01-01T00:00:00.000Z',
      deleting: false,
    });
  const slots = { shop: 1, team: 2, billing: 3 };
  const task = (id: string, namespace: string, allowFrom?: string[]): HostDocumentTask => {
    const pod = spec(namespace, allowFrom);
    return { id, namespace, service: 'web', slot: 1, specVersion: 1, pod, isolation: taskIsolation({ namespace, pod }, slots) };
  };
  const network: HostNetwork = { subnet: '10.200.7.0/24', clusterCidr: '10.200.0.0/16', blockPrefix: 27 };

  it('the control plane writes slot numbers per task; a namespace without a slot is named', () => {
    expect(task('t1', 'team', ['shop', 'team', 'billing']).isolation).toEqual({ slot: 2, allowSlots: [1, 3] });
    expect(() => taskIsolation({ namespace: 'other', pod: spec('other', ['team']) }, slots)).toThrow(/namespace other has no address block slot/);
  });

  it('leaves out an allowed namespace without a slot: it has no pods to let in', () => {
    expect(taskIsolation({ namespace: 'team', pod: spec('team', ['other', 'shop']) }, slots)).toEqual({ slot: 2, allowSlots: [1] });
  });

  it("the agent reads its blocks and its chain out of the document and its replicas' addresses", () => {
    const tasks = [task('t1', 'team', ['shop']), task('t2', 'shop'), task('t3', 'team')];
    expect(documentBlocks(network, tasks)).toEqual(
      new Map([
        [1, '10.200.7.32/27'],
        [2, '10.200.7.64/27'],
      ]),
    );
    const rules = documentRules(network, tasks, (id) => ({ t1: '10.200.7.66', t2: '10.200.7.34' })[id]);
    expect(rules.map((r) => `${r.source ?? '*'} > ${r.destination} ${r.action}`)).toEqual([
      '* > 10.200.7.0/24 ACCEPT',
      '10.200.0.32/255.255.0.224 > 10.200.7.32/27 ACCEPT',
      '10.200.0.64/255.255.0.224 > 10.200.7.64/27 ACCEPT',
      '10.200.0.32/255.255.0.224 > 10.200.7.66 ACCEPT',
      '10.200.0.0/16 > 10.200.7.0/24 DROP',
    ]);
    // shop, from another host, reaches team's t1 (it lets shop in) but not team's t3 (10.200.7.67).
    expect(verdict(rules, { source: '10.200.9.40', destination: '10.200.7.66', state: 'NEW' })).toBe('ACCEPT');
    expect(verdict(rules, { source: '10.200.9.40', destination: '10.200.7.67', state: 'NEW' })).toBe('DROP');
  });

  it('without blockPrefix a document isolates nothing; with it, a task without slots is refused by name', () => {
    const plain = { subnet: network.subnet, clusterCidr: network.clusterCidr };
    expect(documentRules(plain, [task('t1', 'team')], () => undefined)).toEqual([]);
    expect(documentBlocks(plain, [task('t1', 'team')]).size).toBe(0);
    const { isolation: _, ...bare } = task('t9', 'team');
    expect(() => documentRules(network, [bare], () => undefined)).toThrow(/task t9 has no isolation slots/);
  });
});
