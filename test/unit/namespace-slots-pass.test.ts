/**
 * The namespace-slots step in the scheduler pass (docs/network.md, "Isolation rules"), on the pass
 * harness with the in-memory store, subnet allocator and slots; the VPC is a table of routes.
 */
import { describe, expect, it } from 'vitest';
import { MemoryNamespaceSlots } from '../../adapters/memory/namespace-slots.ts';
import { MemorySubnetStore } from '../../adapters/memory/subnet-store.ts';
import type { NetworkDeps } from '../../app/network.ts';
import type { PassDeps } from '../../app/scheduler/pass.ts';
import { parseServiceSpec } from '../../core/spec.ts';
import type { HostDocument } from '../../core/types.ts';
import type { HostRoutes } from '../../ports/network.ts';
import { passHarness, T0, type PassHarness } from '../pass-harness.ts';

const CLUSTER_CIDR = '10.200.0.0/16';

/** Route tables that keep what is put in them: the VPC as the network step sees it. */
class TableRoutes implements HostRoutes {
  readonly routes = new Map<string, string>();
  async ensure(hostId: string, cidr: string): Promise<void> {
    this.routes.set(cidr, hostId);
  }
  async remove(cidr: string): Promise<void> {
    this.routes.delete(cidr);
  }
  async list() {
    return { tables: ['rtb-1'], routes: [...this.routes].map(([cidr, hostId]) => ({ table: 'rtb-1', cidr, hostId, blackhole: false })) };
  }
}

function networkDeps(): NetworkDeps {
  return {
    clusterCidr: CLUSTER_CIDR,
    allocator: new MemorySubnetStore({ clusterCidr: CLUSTER_CIDR }),
    routes: new TableRoutes(),
    machines: { gone: async () => new Set() },
    now: () => Date.parse(T0),
  };
}

async function withService(h: PassHarness, namespace: string, name: string, replicas: number, allowFrom?: string[]): Promise<void> {
  const spec = parseServiceSpec({
    kind: 'Service',
    metadata: { name, namespace },
    spec: {
      replicas,
      ...(allowFrom ? { network: { allowFrom } } : {}),
      containers: [{ name: 'app', image: 'skiff/busybox', resources: { cpu: '100m', memory: '32Mi' } }],
    },
  });
  await h.inner.putService(spec, T0, 0);
}

async function docs(h: PassHarness): Promise<HostDocument[]> {
  return [...h.channel.docs.values()].sort((a, b) => a.hostId.localeCompare(b.hostId));
}

describe('the namespace-slots step', () => {
  it('gives each namespace a slot and writes blockPrefix and every task its isolation, then writes nothing more', async () => {
    const h = await passHarness([
      { id: 'h1', cpu: 1000 },
      { id: 'h2', cpu: 1000 },
    ]);
    const slots = new MemoryNamespaceSlots();
    const deps: Partial<PassDeps> = { network: networkDeps(), isolation: { blockPrefix: 27, hostPrefix: 24, slots } };
    await withService(h, 'shop', 'web', 2);
    await withService(h, 'team', 'db', 2, ['shop', 'billing']);
    const first = await h.pass('s', deps);
    expect(first).toMatchObject({ placed: 4, unplaceable: 0, slots: { claimed: 2, released: 0, full: [] } });
    expect((await slots.listSlots()).map((s) => [s.namespace, s.slot])).toEqual([
      ['shop', 0],
      ['team', 1],
    ]);
    const published = await docs(h);
    expect(published).toHaveLength(2);
    for (const doc of published) {
      expect(doc.network).toMatchObject({ clusterCidr: CLUSTER_CIDR, blockPrefix: 27 });
      for (const t of doc.tasks) {
        // billing has no pods, so no slot: nothing of it to let in.
        expect(t.isolation).toEqual(t.namespace === 'shop' ? { slot: 0, allowSlots: [] } : { slot: 1, allowSlots: [0] });
      }
    }
    expect(published.flatMap((d) => d.tasks)).toHaveLength(4);

    const second = await h.pass('s', deps);
    expect(second).toMatchObject({ placed: 0, published: [] });
    expect(second.slots).toBeUndefined();

    // A namespace that arrives later takes the lowest free slot; the allow naming it is written into team's tasks.
    await withService(h, 'billing', 'api', 1);
    const third = await h.pass('s', deps);
    expect(third.slots).toEqual({ claimed: 1, released: 0, full: [] });
    const team = (await docs(h)).flatMap((d) => d.tasks).filter((t) => t.namespace === 'team');
    expect(team.map((t) => t.isolation)).toEqual([
      { slot: 1, allowSlots: [0, 2] },
      { slot: 1, allowSlots: [0, 2] },
    ]);
  });

  it('refuses to place a namespace that found no slot, and says so', async () => {
    const h = await passHarness([{ id: 'h1', cpu: 4000 }]);
    const slots = new MemoryNamespaceSlots();
    // /25 blocks in /24 host subnets: two slots.
    const deps: Partial<PassDeps> = { network: networkDeps(), isolation: { blockPrefix: 25, hostPrefix: 24, slots } };
    await withService(h, 'a', 'web', 1);
    await withService(h, 'b', 'web', 1);
    await withService(h, 'c', 'web', 1);
    const result = await h.pass('s', deps);
    expect(result).toMatchObject({ placed: 2, unplaceable: 1, slots: { claimed: 2, released: 0, full: ['c'] } });
    const [pending] = (await h.inner.listTasks('c', 'web')).filter((t) => !t.host);
    const message = 'namespace c has no address block slot: all 2 slots of the cluster are taken (blocks /25 in /24 host subnets)';
    expect(pending.unplaceable?.message).toContain(message);
    const events = (await h.inner.listEvents({})).filter((e) => e.type === 'task.unplaceable');
    expect(events.map((e) => e.message)).toEqual([expect.stringContaining(message)]);
    expect((await docs(h)).flatMap((d) => d.tasks.map((t) => t.namespace)).sort()).toEqual(['a', 'b']);
  });

  it('places no more pods of a namespace on a host than its address block holds, and says why', async () => {
    const h = await passHarness([
      { id: 'h1', cpu: 4000 },
      { id: 'h2', cpu: 4000 },
    ]);
    // /30 blocks: one container each (4 addresses less network, broadcast and the bridge's gateway).
    const deps: Partial<PassDeps> = { network: networkDeps(), isolation: { blockPrefix: 30, hostPrefix: 24, slots: new MemoryNamespaceSlots() } };
    await withService(h, 'a', 'web', 3);
    await withService(h, 'b', 'web', 1);
    const result = await h.pass('s', deps);
    expect(result).toMatchObject({ placed: 3, unplaceable: 1 });
    const [waiting] = (await h.inner.listTasks('a', 'web')).filter((t) => !t.host);
    expect(waiting.unplaceable?.message).toBe("0 of 2 hosts fit: 2 namespace's address block full");
    const perHost = (await docs(h)).map((d) =>
      d.tasks
        .map((t) => t.namespace)
        .sort()
        .join(','),
    );
    expect(perHost.sort()).toEqual(['a', 'a,b']);
  });

  it('leaves a namespace whose claim an overlapping pass won unplaced for that pass only', async () => {
    const h = await passHarness([{ id: 'h1', cpu: 4000 }]);
    const slots = new MemoryNamespaceSlots();
    let lose = true;
    // The rival pass's claim: it took slot 0 for another namespace just before this pass's claim, then released it.
    const racing = {
      listSlots: () => slots.listSlots(),
      releaseSlot: (ns: string, slot: number) => slots.releaseSlot(ns, slot),
      claimSlot: async (ns: string, slot: number, since: string) => {
        if (!lose) return slots.claimSlot(ns, slot, since);
        lose = false;
        return false;
      },
    };
    const deps: Partial<PassDeps> = { network: networkDeps(), isolation: { blockPrefix: 27, hostPrefix: 24, slots: racing } };
    await withService(h, 'shop', 'web', 1);
    const first = await h.pass('s', deps);
    expect(first).toMatchObject({ placed: 0, unplaceable: 0 });
    expect(first.conflicts).toBeGreaterThan(0);
    expect((await h.inner.listTasks('shop', 'web'))[0].unplaceable).toBeUndefined();
    const second = await h.pass('s', deps);
    expect(second).toMatchObject({ placed: 1, slots: { claimed: 1, released: 0, full: [] } });
    expect((await docs(h))[0].tasks[0].isolation).toEqual({ slot: 0, allowSlots: [] });
  });

  it('frees the slot of a namespace that has nothing left, for the next namespace', async () => {
    const h = await passHarness([{ id: 'h1', cpu: 4000 }]);
    const slots = new MemoryNamespaceSlots();
    await slots.claimSlot('old', 0, T0);
    const deps: Partial<PassDeps> = { network: networkDeps(), isolation: { blockPrefix: 25, hostPrefix: 24, slots } };
    await withService(h, 'new', 'web', 1);
    const result = await h.pass('s', deps);
    expect(result.slots).toEqual({ claimed: 1, released: 1, full: [] });
    expect((await slots.listSlots()).map((s) => [s.namespace, s.slot])).toEqual([['new', 0]]);
  });

  it('leaves documents exactly as before without the setting', async () => {
    const h = await passHarness([{ id: 'h1', cpu: 1000 }]);
    await withService(h, 'shop', 'web', 1);
    await withService(h, 'team', 'db', 1, ['shop']);
    const result = await h.pass('s', { network: networkDeps() });
    expect(result.slots).toBeUndefined();
    const [doc] = await docs(h);
    expect(Object.keys(doc.network!).sort()).toEqual(['clusterCidr', 'subnet']);
    for (const t of doc.tasks) expect('isolation' in t).toBe(false);
  });
});
