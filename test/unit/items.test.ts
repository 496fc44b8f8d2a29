import { describe, expect, it } from 'vitest';
import {
  BadItemLog,
  MAX_HOST_CPU_MILLIS,
  MAX_HOST_MEMORY_BYTES,
  badItemEvent,
  capacityIssue,
  parseEventItem,
  parseHeartbeatItem,
  parseHostItem,
  parseHostStatusItem,
  parseServiceItem,
  parseTaskItem,
} from '../../core/items.ts';
import { NOW, aSpec, aStatus, aTask, hostInput } from '../contract/store-fixtures.ts';

const service = (namespace = 'team', name = 'web') => ({
  namespace,
  name,
  spec: aSpec(namespace, name),
  specVersion: 1,
  createdAt: NOW,
  updatedAt: NOW,
  deleting: false,
});
const host = (id = 'h1') => ({ ...hostInput(id), state: 'ready', registeredAt: NOW, version: 1, allocations: {} });

describe('item schemas and key checks (core/items.ts)', () => {
  it('accepts what the stores write', () => {
    expect(parseServiceItem(service(), { namespace: 'team', name: 'web' })).toMatchObject({ ok: true, value: { name: 'web' } });
    const task = aTask('team', 'web', 3);
    expect(parseTaskItem({ ...task }, { namespace: 'team', service: 'web', slot: 3 })).toEqual({ ok: true, value: task });
    expect(parseHostItem(host(), { hostId: 'h1' })).toEqual({ ok: true, value: host() });
    expect(parseHostStatusItem({ ...aStatus('h1') }, { hostId: 'h1' })).toEqual({ ok: true, value: aStatus('h1') });
  });

  it("keeps a stored pod's pidsLimit, and refuses one out of bounds", () => {
    const task = aTask('team', 'web', 3);
    const limited = { ...task, pod: { ...task.pod, pidsLimit: 64 } };
    expect(parseTaskItem({ ...limited }, { namespace: 'team', service: 'web', slot: 3 })).toEqual({ ok: true, value: limited });
    expect(parseTaskItem({ ...task, pod: { ...task.pod, pidsLimit: 1_000_000 } }, { namespace: 'team', service: 'web', slot: 3 })).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/pidsLimit/),
    });
  });

  it('refuses an identity other than the key says', () => {
    expect(parseServiceItem(service('team', 'evil'), { namespace: 'team', name: 'web' })).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/name "evil" is not "web"/),
    });
    // The spec's own metadata must agree too.
    expect(parseServiceItem({ ...service(), spec: aSpec('team', 'other') }, { namespace: 'team', name: 'web' })).toMatchObject({ ok: false });
    expect(parseTaskItem({ ...aTask('team', 'web', 3) }, { namespace: 'team', service: 'web', slot: 4 })).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/slot/),
    });
    expect(parseHostItem(host('h2'), { hostId: 'h1' })).toMatchObject({ ok: false });
  });

  it("takes a host-written item's host id from its key alone", () => {
    const { hostId: _, ...anonymous } = aStatus('h1');
    expect(parseHostStatusItem(anonymous, { hostId: 'h7' })).toMatchObject({ ok: true, value: { hostId: 'h7' } });
    expect(parseHostStatusItem({ ...aStatus('h2') }, { hostId: 'h1' })).toMatchObject({ ok: false, reason: expect.stringMatching(/hostId "h2" is not "h1"/) });
    expect(parseHeartbeatItem({ hostId: 'h2', heartbeatAt: NOW }, { hostId: 'h1' })).toMatchObject({ ok: false });
    expect(parseHeartbeatItem({ heartbeatAt: NOW }, { hostId: 'h1' })).toEqual({ ok: true, value: { hostId: 'h1', heartbeatAt: NOW } });
  });

  it('bounds capacity, ports and times', () => {
    expect(parseHostItem({ ...host(), capacity: null }, { hostId: 'h1' }).ok).toBe(false);
    expect(parseHostItem({ ...host(), capacity: { cpu: MAX_HOST_CPU_MILLIS + 1, memory: 1 } }, { hostId: 'h1' }).ok).toBe(false);
    expect(parseHostItem({ ...host(), capacity: { cpu: 1, memory: MAX_HOST_MEMORY_BYTES + 1 } }, { hostId: 'h1' }).ok).toBe(false);
    expect(capacityIssue({ cpu: MAX_HOST_CPU_MILLIS, memory: MAX_HOST_MEMORY_BYTES })).toBeUndefined();
    expect(capacityIssue({ cpu: 2000, memory: 2 ** 30 }, { cpu: 1000, memory: 2 ** 40 })).toMatch(/above the most/);
    const s = aStatus('h1');
    expect(parseHostStatusItem({ ...s, tasks: [{ ...s.tasks[0], ports: null }] }, { hostId: 'h1' })).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/tasks\.0\.ports/),
    });
    expect(parseHostStatusItem({ ...s, tasks: [{ ...s.tasks[0], ports: Array(1001).fill(s.tasks[0].ports[0]) }] }, { hostId: 'h1' }).ok).toBe(false);
    expect(parseEventItem({ id: 'e', at: 'yesterday-ish', type: 't', message: 'm' }).ok).toBe(false);
    expect(parseEventItem({ id: 'e', at: NOW, type: 't', message: 'm' }, { at: NOW, id: 'f' }).ok).toBe(false);
  });

  it('keeps one report per item and reason, bounded, and names the key in the event', () => {
    const seen: string[] = [];
    const log = new BadItemLog((r) => seen.push(r.key), 2);
    const bad = { kind: 'service' as const, key: 'HOST#i-1 / SVC', reason: 'its key is not a service key' };
    log.report(bad);
    log.report(bad);
    log.report({ ...bad, key: 'b' });
    log.report({ ...bad, key: 'c' });
    expect(seen).toHaveLength(4);
    expect(log.take()).toEqual({ items: [bad, { ...bad, key: 'b' }], dropped: 1 });
    expect(log.take()).toEqual({ items: [], dropped: 0 });
    expect(badItemEvent(bad, NOW)).toMatchObject({ type: 'item.invalid', at: NOW, message: expect.stringContaining('HOST#i-1 / SVC') });
  });
});
