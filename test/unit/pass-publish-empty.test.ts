/**
 * A new host with nothing to run gets no document: publishing an empty one to every host of a new
 * fleet spent the whole PutParameter quota before the first task (docs/scale.md). Once a host has had
 * a document, an empty one is published as before (that is how its tasks are stopped).
 */
import { describe, expect, it } from 'vitest';
import { passHarness, T0 } from '../pass-harness.ts';
import { aSpec } from '../builders.ts';

describe('publishing to hosts without tasks', () => {
  it('publishes nothing to a new host with no task, then its first document once a task lands on it', async () => {
    const h = await passHarness([{ id: 'h1', cpu: 1000 }]);
    const idle = await h.pass('s');
    expect(idle.published).toEqual([]);
    expect(h.channel.docs.size).toBe(0);
    expect(await h.inner.getPublished('h1')).toBeUndefined();
    expect(h.waker.woken).toEqual([]);

    await h.inner.putService(aSpec({ name: 'web', replicas: 1, cpu: 100 }), T0, 0);
    const placed = await h.pass('s');
    expect(placed).toMatchObject({ placed: 1, published: ['h1'] });
    expect(h.channel.docs.get('h1')).toMatchObject({ generation: 1, tasks: [{ service: 'web' }] });
  });

  it('still publishes the empty document that stops the last task of a host that had one', async () => {
    const h = await passHarness([{ id: 'h1', cpu: 1000 }]);
    await h.inner.putService(aSpec({ name: 'web', replicas: 1, cpu: 100 }), T0, 0);
    await h.pass('s');
    expect(await h.inner.markServiceDeleting('default', 'web', T0)).toMatchObject({ deleting: true });
    // The reconciler stops the task; the next passes publish the host's emptied document.
    for (let i = 0; i < 3 && (h.channel.docs.get('h1')?.tasks.length ?? 1) > 0; i++) await h.pass('s');
    expect(h.channel.docs.get('h1')).toMatchObject({ generation: 2, tasks: [] });
  });
});
