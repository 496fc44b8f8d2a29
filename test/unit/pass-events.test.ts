/**
 * The pass's event writes are best-effort: a throttled or unavailable event log never aborts a pass
 * (nothing scheduled would be worse than an event lost), the loss is logged and counted, and agent
 * events that were not copied are copied again on the next pass.
 */
import { describe, expect, it } from 'vitest';
import type { ClusterEvent } from '../../core/types.ts';
import { aSpec } from '../builders.ts';
import { converged, passHarness, T0 } from '../pass-harness.ts';

const agentEvent: ClusterEvent = { id: 'e1', at: T0, type: 'task.started', message: 'started', host: 'h1' };

describe('the event log failing during a pass', () => {
  it('does not stop the pass when copying agent events fails: it schedules, counts the drop, and copies them next pass', async () => {
    const h = await passHarness([{ id: 'h1', cpu: 1000 }]);
    await h.inner.putHostStatus({ hostId: 'h1', heartbeatAt: T0, generation: 0, agentVersion: 't', tasks: [], events: [agentEvent] });
    await h.inner.putService(aSpec({ name: 'web', replicas: 2 }), T0, 0);
    h.faults.failNext('putEvents', { when: (events) => events.some((e) => e.id === 'e1') });
    const logged: string[] = [];

    const first = await h.pass('s', { log: (m) => logged.push(m) });
    expect(h.faults.unfired()).toEqual([]);
    expect(first).toMatchObject({ created: 2, placed: 2, eventsDropped: 1 });
    expect(await converged(h)).toEqual([]);
    expect(logged.some((m) => /event/i.test(m))).toBe(true);
    expect((await h.inner.listEvents({ host: 'h1' })).map((e) => e.id)).not.toContain('e1');

    const second = await h.pass('s');
    expect(second.eventsDropped ?? 0).toBe(0);
    expect((await h.inner.listEvents({ host: 'h1' })).map((e) => e.id)).toContain('e1');
  });

  it('does not fail the pass when saving its own events fails: the work stands, the drop is counted', async () => {
    const h = await passHarness([{ id: 'h1', cpu: 1000 }]);
    await h.inner.putService(aSpec({ name: 'web', replicas: 3 }), T0, 0);
    h.faults.failNext('putEvents');

    const result = await h.pass('s');
    expect(h.faults.unfired()).toEqual([]);
    expect(result).toMatchObject({ created: 3, placed: 3, published: ['h1'] });
    expect(result.eventsDropped).toBeGreaterThan(0);
    expect(await converged(h)).toEqual([]);
  });

  it('reports no drop when the event log answers', async () => {
    const h = await passHarness([{ id: 'h1', cpu: 1000 }]);
    await h.inner.putService(aSpec({ name: 'web', replicas: 1 }), T0, 0);
    const result = await h.pass('s');
    expect(result.eventsDropped ?? 0).toBe(0);
    expect((await h.inner.listEvents({ service: 'web' })).length).toBeGreaterThan(0);
  });
});
