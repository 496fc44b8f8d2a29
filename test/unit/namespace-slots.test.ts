/** The pass's slot decisions (core/namespace-slots.ts): which namespace holds which slot, and what that writes. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { planSlots, isolatedTask, noSlotMessage } from '../../core/namespace-slots.ts';
import { placementRequest } from '../../core/pass.ts';
import { lacksCapacity } from '../../core/host-autoscale.ts';
import { REJECT } from '../../core/scheduler.ts';
import { documentTask } from '../../core/allocations.ts';
import { documentTaskBytes } from '../../core/document-size.ts';
import { ISOLATION_TASK_BYTES, type NamespaceAddressing } from '../../core/packet-filter.ts';
import type { Task } from '../../core/types.ts';
import { podOf } from '../../core/reconciler.ts';
import { parseServiceSpec } from '../../core/spec.ts';

const A: NamespaceAddressing = { clusterCidr: '10.200.0.0/16', hostPrefix: 24, blockPrefix: 26 }; // 4 slots
const T0 = '2026-01-01T00:00:00.000Z';
const T1 = '2026-01-01T00:01:00.000Z';
const demand = (inUse: string[], wanted: string[] = []) => ({ inUse: new Set(inUse), wanted: new Set([...inUse, ...wanted]) });

describe('planSlots', () => {
  it('gives new namespaces the lowest free slots in name order, and claims only those', () => {
    const plan = planSlots([{ namespace: 'shop', slot: 0, since: T0 }], demand(['shop'], ['team', 'billing']), A);
    expect(plan).toEqual({
      slots: { shop: 0, billing: 1, team: 2 },
      full: [],
      claims: [
        { namespace: 'billing', slot: 1 },
        { namespace: 'team', slot: 2 },
      ],
      releases: [],
    });
  });

  it('keeps a slot while its namespace is wanted, and frees it once nothing of the namespace is left', () => {
    const held = [
      { namespace: 'shop', slot: 2, since: T0 },
      { namespace: 'gone', slot: 0, since: T0 },
    ];
    const plan = planSlots(held, demand([], ['shop', 'new']), A);
    expect(plan.slots).toEqual({ shop: 2, new: 0 });
    expect(plan.releases).toEqual([{ namespace: 'gone', slot: 0 }]);
    expect(plan.claims).toEqual([{ namespace: 'new', slot: 0 }]);
  });

  it('serves namespaces with pods on hosts before those only about to have some', () => {
    // 4 slots, 5 namespaces: 'zz' runs pods (isolation turned on in a running cluster), 'a'-'d' only have services.
    const plan = planSlots([], demand(['zz'], ['a', 'b', 'c', 'd']), A);
    expect(plan.slots).toEqual({ zz: 0, a: 1, b: 2, c: 3 });
    expect(plan.full).toEqual(['d']);
  });

  it('keeps the first claimed of two slots one namespace holds, and frees the other', () => {
    const held = [
      { namespace: 'shop', slot: 0, since: T1 },
      { namespace: 'shop', slot: 3, since: T0 },
    ];
    const plan = planSlots(held, demand(['shop']), A);
    expect(plan.slots).toEqual({ shop: 3 });
    expect(plan.releases).toEqual([{ namespace: 'shop', slot: 0 }]);
    expect(plan.claims).toEqual([]);
  });

  it('never gives one slot to two namespaces, never moves a wanted held slot, and fills every slot before refusing', () => {
    const names = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g');
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(names, fc.integer({ min: 0, max: 3 })), { selector: ([, s]) => s }),
        fc.array(names),
        fc.array(names),
        (held, inUse, wanted) => {
          const heldSlots = held.map(([namespace, slot]) => ({ namespace, slot, since: T0 }));
          const d = demand(inUse, wanted);
          const plan = planSlots(heldSlots, d, A);
          const values = Object.values(plan.slots);
          expect(new Set(values).size).toBe(values.length);
          for (const ns of Object.keys(plan.slots)) expect(d.wanted.has(ns)).toBe(true);
          // A namespace holding one slot keeps it.
          for (const [ns, slot] of held) if (d.wanted.has(ns) && held.filter(([n]) => n === ns).length === 1) expect(plan.slots[ns]).toBe(slot);
          if (plan.full.length > 0) expect(values).toHaveLength(4);
          expect(Object.keys(plan.slots).length + plan.full.length).toBe(d.wanted.size);
        },
      ),
    );
  });
});

describe('isolation in the document entries the pass writes', () => {
  const task = (namespace: string, allowFrom?: string[]): Task => {
    const spec = parseServiceSpec({
      kind: 'Service',
      metadata: { name: 'web', namespace },
      spec: { ...(allowFrom ? { network: { allowFrom } } : {}), containers: [{ name: 'app', image: 'skiff/busybox' }] },
    });
    const pod = podOf({ namespace, name: 'web', spec, specVersion: 1, createdAt: T0, updatedAt: T0, deleting: false });
    return { id: `${namespace}-t1`, namespace, service: 'web', slot: 0, specVersion: 1, pod, incarnation: 1, desired: 'running', createdAt: T0 };
  };

  it('adds the slots to an entry whose namespace has one, and nothing otherwise', () => {
    const slots = { shop: 1, team: 2 };
    expect(isolatedTask(documentTask(task('team', ['shop', 'nowhere'])), slots).isolation).toEqual({ slot: 2, allowSlots: [1] });
    expect(isolatedTask(documentTask(task('other')), slots).isolation).toBeUndefined();
  });

  it('counts the isolation bytes at placement, within ISOLATION_TASK_BYTES', () => {
    const t = task('team', ['shop']);
    const plain = placementRequest(t, undefined).documentBytes ?? 0;
    const isolated = placementRequest(t, undefined, (x) => isolatedTask(documentTask(x), { shop: 1, team: 2 })).documentBytes ?? 0;
    expect(isolated).toBe(documentTaskBytes({ ...documentTask(t), isolation: { slot: 2, allowSlots: [1] } }));
    expect(isolated - plain).toBe(',"isolation":{"slot":2,"allowSlots":[1]}'.length);
    expect(isolated - plain).toBeLessThanOrEqual(ISOLATION_TASK_BYTES);
  });

  it('lets the host autoscaler add hosts for a full address block, not for a namespace without a slot', () => {
    const at = T0;
    expect(lacksCapacity({ at, message: 'm', rejected: { [REJECT.block]: 2 }, hosts: 2 })).toBe(true);
    expect(lacksCapacity({ at, message: noSlotMessage('shop', A), rejected: {}, hosts: 2 })).toBe(false);
  });

  it('says why a namespace without a slot waits, and what to change', () => {
    expect(noSlotMessage('shop', A)).toBe(
      'namespace shop has no address block slot: all 4 slots of the cluster are taken (blocks /26 in /24 host subnets); ' +
        "delete a namespace's services, or use a longer namespaceBlockPrefix",
    );
  });
});
