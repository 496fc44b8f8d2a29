/**
 * Namespace isolation on an AWS host (agent/host-isolation.ts): the document's rules through the
 * agent's packet filter, with the in-memory filter and the agent over fakes; the iptables argv with
 * a recording runner.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { HostIsolation } from '../../agent/host-isolation.ts';
import type { HostNetworkManager } from '../../agent/host-network.ts';
import { type CommandRunner, IptablesError } from '../../agent/iptables.ts';
import { IptablesFilter, MemoryPacketFilter } from '../../agent/packet-filter.ts';
import type { ContainerInfo } from '../../agent/executor.ts';
import { documentRules, filterChainName, taskIsolation, verdict } from '../../core/packet-filter.ts';
import type { HostDocument, HostDocumentTask, HostNetwork } from '../../core/types.ts';
import { documentChannel, RecordingExecutor, startTestAgent, stopTestAgents, testTask, until } from '../helpers/agent-harness.ts';

afterEach(stopTestAgents);

const network: HostNetwork = { subnet: '10.200.7.0/24', clusterCidr: '10.200.0.0/16', blockPrefix: 27 };
const slots = { shop: 1, team: 2 };
/** A task of `namespace` with its isolation as the scheduler writes it. */
function task(id: string, namespace: string, allowFrom?: string[]): HostDocumentTask {
  const t = testTask(id, { namespace, ...(allowFrom ? { spec: { network: { allowFrom } } } : {}) });
  return { ...t, isolation: taskIsolation(t, slots) };
}
const addresses: Record<string, string> = { 'db-1': '10.200.7.66', 'web-1': '10.200.7.34' };

function harness(recheckMs = 60_000) {
  const filter = new MemoryPacketFilter();
  const logs: string[] = [];
  let clock = 1_000_000;
  const isolation = new HostIsolation({ filter, log: (_, m) => logs.push(m), now: () => clock, recheckMs });
  return { filter, logs, isolation, advance: (ms: number) => (clock += ms) };
}

describe('HostIsolation', () => {
  it("writes the document's rules, not again while unchanged, again after the recheck period, and at once when an address arrives", async () => {
    const h = harness();
    const tasks = [task('db-1', 'team', ['shop']), task('web-1', 'shop')];
    await h.isolation.sync(network, tasks, () => undefined);
    expect(h.filter.rules).toEqual(documentRules(network, tasks, () => undefined));
    expect(h.filter.applies).toBe(1);
    await h.isolation.sync(network, tasks, () => undefined);
    expect(h.filter.applies).toBe(1);
    // The replica's address: its per-replica allow of shop is added.
    await h.isolation.sync(network, tasks, (id) => addresses[id]);
    expect(h.filter.applies).toBe(2);
    expect(h.filter.rules.map((r) => r.comment)).toContain('skiff: slot 1 let in to db-1');
    h.advance(60_000);
    await h.isolation.sync(network, tasks, (id) => addresses[id]);
    expect(h.filter.applies).toBe(3);
    // What the rules decide: shop reaches team's replica, which it is let into; team's block keeps others out.
    const fromShopElsewhere = '10.200.9.40'; // slot 1 on another host
    const fromOther = '10.200.9.100'; // slot 3 on another host
    expect(verdict(h.filter.rules, { source: fromShopElsewhere, destination: '10.200.7.66', state: 'NEW' })).toBe('ACCEPT');
    expect(verdict(h.filter.rules, { source: fromOther, destination: '10.200.7.66', state: 'NEW' })).toBe('DROP');
    expect(verdict(h.filter.rules, { source: fromOther, destination: '10.200.7.66', state: 'ESTABLISHED' })).toBe('ACCEPT');
  });

  it('removes the chain when the document no longer isolates, and quietly clears a left-over one at the first round', async () => {
    const h = harness();
    h.filter.installed = true;
    await h.isolation.sync({ subnet: network.subnet, clusterCidr: network.clusterCidr }, [], () => undefined);
    expect(h.filter.installed).toBe(false);
    await h.isolation.sync(network, [task('web-1', 'shop')], () => undefined);
    expect(h.filter.installed).toBe(true);
    await h.isolation.sync(undefined, [], () => undefined);
    expect(h.filter.installed).toBe(false);
    expect(h.filter.rules).toEqual([]);
  });

  it('keeps the rules in force and says once why, when a task has no slot in an isolating document', async () => {
    const h = harness();
    await h.isolation.sync(network, [task('web-1', 'shop')], () => undefined);
    const before = h.filter.rules;
    const slotless = testTask('x-1', { namespace: 'other' });
    await h.isolation.sync(network, [task('web-1', 'shop'), slotless], () => undefined);
    await h.isolation.sync(network, [task('web-1', 'shop'), slotless], () => undefined);
    expect(h.filter.rules).toBe(before);
    expect(h.logs).toEqual(['writing namespace isolation rules failed; retrying next round']);
  });

  it('says once that it cannot write rules without iptables, and stops trying', async () => {
    const h = harness();
    h.filter.failWith = new IptablesError('iptables-restore -w --noflush failed: this user may not use iptables-restore', true);
    await h.isolation.sync(network, [task('web-1', 'shop')], () => undefined);
    await h.isolation.sync(network, [task('web-1', 'shop')], () => undefined);
    expect(h.logs).toHaveLength(1);
    expect(h.logs[0]).toMatch(/^namespace isolation rules cannot be written: .*Namespaces on this host are not isolated from each other/);
  });
});

describe("the document's rules as iptables writes them", () => {
  it('one restore transaction with the non-contiguous masks, then the jump from DOCKER-USER', async () => {
    const calls: { line: string; input?: string }[] = [];
    const run: CommandRunner = async (file, args, input) => {
      calls.push({ line: [file, ...args].join(' '), ...(input !== undefined ? { input } : {}) });
      return { code: args.includes('-C') ? 1 : 0, stdout: '', stderr: '' };
    };
    const h = new HostIsolation({ filter: new IptablesFilter({ cluster: 'prod', hostId: 'i-0a1', run }), log: () => {}, now: () => 0 });
    await h.sync(network, [task('db-1', 'team', ['shop'])], (id) => addresses[id]);
    const chain = filterChainName('prod', 'i-0a1');
    expect(calls.map((c) => c.line)).toEqual([
      'iptables-restore -w --noflush',
      `iptables -w -C DOCKER-USER -m comment --comment skiff prod i-0a1 -j ${chain}`,
      `iptables -w -I DOCKER-USER 1 -m comment --comment skiff prod i-0a1 -j ${chain}`,
    ]);
    expect(calls[0].input).toBe(
      [
        '*filter',
        `:${chain} - [0:0]`,
        `-A ${chain} -d 10.200.7.0/24 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment "skiff: replies pass" -j ACCEPT`,
        `-A ${chain} -s 10.200.0.64/255.255.0.224 -d 10.200.7.64/27 -m comment --comment "skiff: slot 2 to its own block" -j ACCEPT`,
        `-A ${chain} -s 10.200.0.32/255.255.0.224 -d 10.200.7.66/32 -m comment --comment "skiff: slot 1 let in to db-1" -j ACCEPT`,
        `-A ${chain} -s 10.200.0.0/16 -d 10.200.7.0/24 -m comment --comment "skiff: other namespaces kept out" -j DROP`,
        'COMMIT',
        '',
      ].join('\n'),
    );
  });
});

/** The in-memory runtime whose pods get an address, as Docker gives one on the pod's network. */
class AddressedExecutor extends RecordingExecutor {
  override async list(): Promise<ContainerInfo[]> {
    return (await super.list()).map((c) => (c.state === 'running' && addresses[c.taskId] ? { ...c, address: addresses[c.taskId] } : c));
  }
}

/** Block bridges by slot, as DockerHostNetwork names them, without Docker. */
const blockNetworks: HostNetworkManager = {
  ensure: async () => 'skiff-c',
  ensureBlocks: async (_, tasks) => new Map(tasks.flatMap((t) => (t.isolation ? [[t.isolation.slot, `skiff-c-block-${t.isolation.slot}`] as const] : []))),
};

describe('the agent with an isolating document', () => {
  it("puts each pod on its namespace's block bridge and applies the document's rules with its replicas' addresses", async () => {
    const executor = new AddressedExecutor();
    const filter = new MemoryPacketFilter();
    const doc: { current: HostDocument } = {
      current: { cluster: 'c', hostId: 'h1', generation: 1, network, tasks: [task('db-1', 'team', ['shop']), task('web-1', 'shop')] },
    };
    const agent = startTestAgent({
      executor,
      channel: documentChannel(doc),
      network: blockNetworks,
      hostIsolation: new HostIsolation({ filter, log: () => {}, now: () => Date.now() }),
    });
    await until(() => (filter.rules.some((r) => r.comment === 'skiff: slot 1 let in to db-1') ? true : undefined), 'the per-replica allow');
    const sandboxNetworks = executor.creates.filter((c) => c.options.network !== undefined).map((c) => [c.taskId, c.options.network]);
    expect(sandboxNetworks.sort()).toEqual([
      ['db-1', 'skiff-c-block-2'],
      ['web-1', 'skiff-c-block-1'],
    ]);
    expect(filter.rules).toEqual(documentRules(network, doc.current.tasks, (id) => addresses[id]));

    // The document stops isolating: the chain goes.
    doc.current = { ...doc.current, generation: 2, network: { subnet: network.subnet, clusterCidr: network.clusterCidr } };
    agent.wake();
    await until(() => (filter.installed ? undefined : true), 'the chain removed');
  });
});
