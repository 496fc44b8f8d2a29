/**
 * The scheduler pass on the in-memory store: what it writes, what it keeps between passes, and
 * that every failure, race or vanished host leaves a state the next pass repairs.
 */
import { describe, expect, it } from 'vitest';
import { LimitError, UnavailableError } from '../../core/errors.ts';
import { documentHash } from '../../core/allocations.ts';
import { UNSETTLED_HASH } from '../../core/pass.ts';
import { REJECT } from '../../core/scheduler.ts';
import { DOCUMENT_ENVELOPE_BYTES, documentTaskBytes, HOST_DOCUMENT_BYTES } from '../../core/document-size.ts';
import type { HostDocument } from '../../core/types.ts';
import type { ClusterEvent } from '../../core/types.ts';
import type { Context } from 'aws-lambda';
import { newPassState, PASS_STEPS, runPass } from '../../app/scheduler/pass.ts';
import { makeSchedulerHandler } from '../../app/handlers/scheduler.ts';
import type { StoreMethod } from '../../adapters/memory/faulty-store.ts';
import { aSpec } from '../builders.ts';
import { converged, passHarness, T0, violations, type PassHarness } from '../pass-harness.ts';

const WRITES: readonly StoreMethod[] = [
  'putTask',
  'deleteTask',
  'assignTask',
  'unassignTask',
  'setTaskUnplaceable',
  'releasePrevious',
  'updateAllocations',
  'setPublished',
  'putEvents',
  'removeService',
];

async function withService(h: PassHarness, name: string, replicas: number, cpu = 100): Promise<void> {
  await h.inner.putService(aSpec({ name, replicas, cpu }), T0, 0);
}

describe('a scheduler pass', () => {
  it('creates, places, commits and publishes a service, wakes its hosts, then writes nothing on the next pass', async () => {
    const h = await passHarness([
      { id: 'h1', cpu: 1000 },
      { id: 'h2', cpu: 1000 },
    ]);
    await withService(h, 'web', 3);
    const first = await h.pass('s');
    expect(first).toMatchObject({ created: 3, placed: 3, unplaceable: 0, conflicts: 0, published: ['h1', 'h2'] });
    expect(h.waker.woken).toEqual([['h1', 'h2']]);
    expect(await converged(h)).toEqual([]);

    const before = h.faults.calls.length;
    const second = await h.pass('s');
    expect(second).toMatchObject({ created: 0, placed: 0, published: [], conflicts: 0 });
    expect(h.faults.calls.slice(before).filter((c) => WRITES.includes(c.method))).toEqual([]);
  });

  it('runs its steps in the order of the protocol', () => {
    expect(PASS_STEPS.map((s) => s.name)).toEqual([
      'report-bad-items',
      'ingest-agent-events',
      'register-hosts',
      'network',
      'namespace-slots',
      'cron-jobs',
      'reconcile',
      'rollout',
      'place',
      'commit',
      'forget-gone-hosts',
      'remove-volumes',
      'publish',
      'save-events',
    ]);
  });

  it('copies an agent event into the log once while its state lives, and again (harmlessly) with a fresh state', async () => {
    const h = await passHarness([{ id: 'h1', cpu: 1000 }]);
    const event: ClusterEvent = { id: 'e1', at: T0, type: 'task.started', message: 'started', host: 'h1' };
    await h.inner.putHostStatus({ hostId: 'h1', heartbeatAt: T0, generation: 0, agentVersion: 't', tasks: [], events: [event] });
    const copies = () => h.faults.calls.filter((c) => c.method === 'putEvents' && (c.args[0] as ClusterEvent[]).some((e) => e.id === 'e1')).length;
    await h.pass();
    await h.pass();
    expect(copies()).toBe(1);
    await runPass({ store: h.store, channel: h.channel, waker: h.waker, cluster: 'c', now: () => new Date(), state: newPassState() });
    expect(copies()).toBe(2);
    expect((await h.inner.listEvents({ host: 'h1' })).filter((e) => e.id === 'e1')).toHaveLength(1);
  });
});

describe('the scheduler handler', () => {
  it('keeps one pass state for its lifetime: an agent event is copied once over many invocations', async () => {
    const h = await passHarness([{ id: 'h1', cpu: 1000 }]);
    await h.inner.putHostStatus({
      hostId: 'h1',
      heartbeatAt: T0,
      generation: 0,
      agentVersion: 't',
      tasks: [],
      events: [{ id: 'e1', at: T0, type: 'task.started', message: 'started' }],
    });
    const handler = makeSchedulerHandler({ store: h.store, channel: h.channel, waker: h.waker, cluster: 'c', now: () => new Date(), log: () => {} });
    for (let i = 0; i < 3; i++) await handler({}, { awsRequestId: `r${i}` } as Context);
    expect(h.faults.calls.filter((c) => c.method === 'putEvents')).toHaveLength(1);
  });
});

describe('a write that fails or loses its reply mid-pass', () => {
  const faults: { name: string; inject: (h: PassHarness) => void }[] = [
    { name: 'a task creation fails', inject: (h) => h.faults.failNext('putTask', { when: (t) => t.slot === 2 }) },
    { name: 'a claim fails', inject: (h) => h.faults.failNext('assignTask') },
    { name: 'a claim is written but its reply is lost', inject: (h) => h.faults.loseReply('assignTask') },
    { name: 'an allocation write fails', inject: (h) => h.faults.failNext('updateAllocations') },
    { name: 'an allocation write is committed but its reply is lost', inject: (h) => h.faults.loseReply('updateAllocations') },
    { name: 'a publication record is lost', inject: (h) => h.faults.dropNext('setPublished') },
    { name: 'the publication record fails after the document went out', inject: (h) => h.faults.failNext('setPublished') },
    { name: 'the events are not saved', inject: (h) => h.faults.failNext('putEvents') },
  ];
  for (const f of faults) {
    it(`keeps every invariant when ${f.name}, and the next pass repairs it`, async () => {
      const h = await passHarness([
        { id: 'h1', cpu: 300 },
        { id: 'h2', cpu: 300 },
      ]);
      await withService(h, 'web', 4);
      f.inject(h);
      await h.pass('s').catch((err) => expect(err).toBeInstanceOf(UnavailableError));
      expect(h.faults.unfired()).toEqual([]);
      expect(await violations(h)).toEqual([]);

      await h.pass('s');
      expect(await converged(h)).toEqual([]);
      expect(await h.inner.listAllTasks()).toHaveLength(4);
      const docs = [...h.channel.docs.values()].flatMap((d) => d.tasks.map((t) => t.id));
      expect(docs.sort()).toEqual((await h.inner.listAllTasks()).map((t) => t.id).sort());
    });
  }
});

describe('two passes racing on the same snapshot', () => {
  for (let i = 0; i < 8; i++) {
    it(`never over-commits a host nor places a task twice (seeds a${i}, b${i})`, async () => {
      // 3 hosts of 3 slots each for 12 replicas: the two passes fight for every slot.
      const h = await passHarness([
        { id: 'h1', cpu: 300 },
        { id: 'h2', cpu: 300 },
        { id: 'h3', cpu: 300 },
      ]);
      await withService(h, 'a', 6);
      await withService(h, 'b', 6);
      const [x, y] = await Promise.all([h.pass(`a${i}`), h.pass(`b${i}`)]);
      expect(x.conflicts + y.conflicts).toBeGreaterThan(0);
      expect(x.created + y.created).toBe(12);
      expect(await placementViolations(h)).toEqual([]);

      await h.pass();
      await h.pass();
      expect(await placementViolations(h)).toEqual([]);
      const hosts = await h.inner.listHosts();
      expect(hosts.flatMap((x) => Object.keys(x.allocations))).toHaveLength(9);
      const tasks = await h.inner.listAllTasks();
      expect(tasks).toHaveLength(12);
      expect(tasks.filter((t) => !t.host).every((t) => t.unplaceable?.message.includes('insufficient cpu'))).toBe(true);
    });
  }
});

describe('three passes interleaved by the store as network latency would', () => {
  for (let i = 0; i < 8; i++) {
    it(`never over-commits a host nor places a task twice, and the next passes converge (schedule ${i})`, async () => {
      const h = await passHarness([
        { id: 'h1', cpu: 400 },
        { id: 'h2', cpu: 400 },
        { id: 'h3', cpu: 400 },
      ]);
      await withService(h, 'a', 5);
      await withService(h, 'b', 5);
      h.faults.interleave(`schedule-${i}`);
      const results = await Promise.all([h.pass(`a${i}`), h.pass(`b${i}`), h.pass(`c${i}`)]);
      expect(results.reduce((n, r) => n + r.created, 0)).toBe(10);
      expect(await placementViolations(h)).toEqual([]);

      await h.pass();
      await h.pass();
      expect(await converged(h)).toEqual([]);
      expect((await h.inner.listHosts()).flatMap((x) => Object.keys(x.allocations))).toHaveLength(10);
    });
  }
});

describe('a host vanishing between the snapshot and the commit', () => {
  it('commits nothing to a host that is forgotten meanwhile; the next passes replace its task elsewhere', async () => {
    const h = await passHarness([
      { id: 'h1', cpu: 100 },
      { id: 'h2', cpu: 100 },
    ]);
    await withService(h, 'web', 2);
    h.faults.beforeNext(
      'updateAllocations',
      async () => {
        await h.inner.setHostState('h1', 'down', T0);
        await h.inner.forgetHost((await h.inner.getHost('h1'))!);
      },
      { when: (host) => host.id === 'h1' },
    );
    const first = await h.pass('s');
    expect(h.faults.unfired()).toEqual([]);
    expect(first.conflicts).toBeGreaterThan(0);
    expect(first.published).toEqual(['h2']);
    expect(await violations(h)).toEqual([]);

    await h.inner.registerHost({ id: 'h3', address: '127.0.1.3', capacity: { cpu: 100, memory: 1024 * 2 ** 20 }, labels: {} }, T0);
    await h.pass('s');
    await h.pass('s');
    expect(await converged(h)).toEqual([]);
    const tasks = await h.inner.listAllTasks();
    expect(tasks.map((t) => t.host).sort()).toEqual(['h2', 'h3']);
  });
});

describe('a host going down between the snapshot and the commit', () => {
  it('takes none of the placements computed while it was ready: the claims are undone and the next pass places them elsewhere', async () => {
    const h = await passHarness([
      { id: 'h1', cpu: 100 },
      { id: 'h2', cpu: 100 },
    ]);
    await withService(h, 'web', 1);
    // The health check declares whichever host was chosen down just before its allocation write.
    h.faults.beforeNext('updateAllocations', (host) => h.inner.setHostState(host.id, 'down', T0));
    const first = await h.pass('s');
    expect(h.faults.unfired()).toEqual([]);
    const chosen = (h.faults.calls.find((c) => c.method === 'updateAllocations')!.args[0] as { id: string }).id;
    expect((await h.inner.getHost(chosen))!.allocations).toEqual({});
    expect((await h.inner.listAllTasks())[0].host).toBeUndefined();
    expect(first.placed).toBe(0);

    await h.pass('s');
    expect(await converged(h)).toEqual([]);
    expect((await h.inner.listAllTasks())[0].host).toBe(chosen === 'h1' ? 'h2' : 'h1');
  });
});

describe('a publication that loses to an overlapping pass', () => {
  it('is a lost race: counted, and the pass goes on publishing the other hosts and saving its events', async () => {
    const h = await passHarness([
      { id: 'h1', cpu: 100 },
      { id: 'h2', cpu: 100 },
    ]);
    await withService(h, 'web', 2);
    // Another pass published generation 1 to h1, with other content, and has not recorded it yet.
    await h.channel.publish({ cluster: 'c', hostId: 'h1', generation: 1, tasks: [] });
    const result = await h.pass('s');
    expect(result.conflicts).toBe(1);
    expect(result.published).toEqual(['h2']);
    expect(h.channel.docs.get('h1')).toMatchObject({ generation: 1, tasks: [] });
    expect((await h.inner.listEvents({})).filter((e) => e.type === 'task.placed')).toHaveLength(2);

    // The rival never records (it crashed): the record was unsettled, so the next pass publishes over it.
    expect(await h.inner.getPublished('h1')).toEqual({ generation: 1, hash: UNSETTLED_HASH });
    expect((await h.pass('s')).published).toEqual(['h1']);
    expect(h.channel.docs.get('h1')!.generation).toBe(2);
    expect(await converged(h)).toEqual([]);
  });

  it('never leaves the channel holding the content of the pass that lost the record (the chaos race)', async () => {
    // Two passes publish generation 1 of h1: the rival's document went out first, this pass's
    // overwrote it (the SSM channel reads then writes, so both can pass its check), and the rival
    // records its own content just before this pass tries to. The rival's content is what every
    // later pass computes (the service is being deleted), so a record of it would never be republished.
    const h = await passHarness([{ id: 'h1', cpu: 1000 }]);
    await withService(h, 'web', 1);
    h.faults.beforeNext('setPublished', async () => {
      await h.inner.markServiceDeleting('default', 'web', T0);
      await h.inner.setPublished('h1', 0, { generation: 1, hash: documentHash([]) });
    });
    const first = await h.pass('s');
    expect(h.faults.unfired()).toEqual([]);
    expect(first.conflicts).toBe(1);
    expect(h.channel.docs.get('h1')!.tasks).toHaveLength(1);

    for (let i = 0; i < 4; i++) await h.pass('s');
    expect(await h.inner.listAllTasks()).toEqual([]);
    expect(h.channel.docs.get('h1')!.tasks).toEqual([]);
    expect(h.channel.docs.get('h1')!.generation).toBe((await h.inner.getPublished('h1'))!.generation);
  });
});

describe('one host whose publication fails', () => {
  const failures: { name: string; error: () => Error }[] = [
    {
      name: 'its document is too large for the channel',
      error: () => new LimitError('host document for h1 encodes to 500000 bytes; the limit is 100 parameters'),
    },
    { name: 'the channel is throttled', error: () => new UnavailableError('throttled') },
  ];
  for (const f of failures) {
    it(`when ${f.name}: is reported, its record is not advanced, and the other hosts are published and woken`, async () => {
      const h = await passHarness([
        { id: 'h1', cpu: 200 },
        { id: 'h2', cpu: 200 },
      ]);
      await withService(h, 'web', 4);
      h.channel.failFor.set('h1', f.error());
      const first = await h.pass('s');
      expect(first).toMatchObject({ placed: 4, published: ['h2'], publishFailed: [{ host: 'h1', reason: f.error().message }] });
      expect(h.waker.woken).toEqual([['h2']]);
      expect(await h.inner.getPublished('h1')).toBeUndefined();
      const events = await h.inner.listEvents({ host: 'h1' });
      expect(events.filter((e) => e.type === 'host.publish-failed')).toHaveLength(1);
      expect((await h.inner.listEvents({})).filter((e) => e.type === 'task.placed')).toHaveLength(4);

      h.channel.failFor.delete('h1');
      const second = await h.pass('s');
      expect(second.published).toEqual(['h1']);
      expect(second.publishFailed).toBeUndefined();
      expect(await converged(h)).toEqual([]);
    });
  }

  it('when its publication record fails after the document went out: the next pass records it without a second document', async () => {
    const h = await passHarness([
      { id: 'h1', cpu: 200 },
      { id: 'h2', cpu: 200 },
    ]);
    await withService(h, 'web', 4);
    h.faults.failNext('setPublished', { when: (id) => id === 'h1' });
    const first = await h.pass('s');
    expect(first.published).toEqual(['h2']);
    expect(first.publishFailed).toMatchObject([{ host: 'h1' }]);
    expect(await h.inner.getPublished('h1')).toBeUndefined();
    await h.pass('s');
    expect(await h.inner.getPublished('h1')).toMatchObject({ generation: 1 });
    expect(h.channel.docs.get('h1')!.generation).toBe(1);
    expect(await converged(h)).toEqual([]);
  });

  it('when the waker fails: the pass still saves its events; hosts apply at their next poll', async () => {
    const h = await passHarness([{ id: 'h1', cpu: 200 }]);
    await withService(h, 'web', 1);
    const result = await h.pass('s', {
      waker: {
        wake: async () => {
          throw new UnavailableError('SSM Run Command throttled');
        },
      },
    });
    expect(result.published).toEqual(['h1']);
    expect((await h.inner.listEvents({})).filter((e) => e.type === 'task.placed')).toHaveLength(1);
  });
});

describe('a service whose pods fill the host documents', () => {
  it('places what the documents hold and keeps the rest pending with the document reason; every host is published', async () => {
    // The case, at the spec limit: a 60 KiB env value, 16 replicas on 2 hosts (6 fit a document).
    const h = await passHarness([
      { id: 'h1', cpu: 4000 },
      { id: 'h2', cpu: 4000 },
    ]);
    const spec = aSpec({ name: 'big', replicas: 16, cpu: 10 });
    const containers = [{ ...spec.spec.containers[0], env: { BIG: 'x'.repeat(60 * 1024) } }];
    await h.inner.putService({ ...spec, spec: { ...spec.spec, containers } }, T0, 0);
    const first = await h.pass('s');
    expect(first).toMatchObject({ created: 16, placed: 12, unplaceable: 4, published: ['h1', 'h2'] });
    expect(first.publishFailed).toBeUndefined();
    const pending = (await h.inner.listAllTasks()).filter((t) => !t.host);
    expect(pending.map((t) => t.unplaceable?.message)).toEqual(Array(4).fill(`0 of 2 hosts fit: 2 ${REJECT.document}`));
    for (const doc of h.channel.docs.values()) expect(documentBytes(doc)).toBeLessThanOrEqual(HOST_DOCUMENT_BYTES + DOCUMENT_ENVELOPE_BYTES);
    expect(await violations(h)).toEqual([]);
  });
});

describe('one host whose allocation write fails', () => {
  it('is left to the next pass; the other hosts are committed and published in this one', async () => {
    const h = await passHarness([
      { id: 'h1', cpu: 200 },
      { id: 'h2', cpu: 200 },
    ]);
    await withService(h, 'web', 4);
    h.faults.failNext('updateAllocations', { when: (host) => host.id === 'h1' });
    const first = await h.pass('s');
    expect(h.faults.unfired()).toEqual([]);
    expect(first.published).toEqual(['h2']);
    expect(await violations(h)).toEqual([]);
    expect((await h.inner.getHost('h1'))!.allocations).toEqual({});
    await h.pass('s');
    await h.pass('s');
    expect(await converged(h)).toEqual([]);
  });
});

/** A document's bytes as the SSM channel encodes it: its tasks as counted at placement, and its envelope. */
function documentBytes(doc: HostDocument): number {
  return doc.tasks.reduce((n, t) => n + documentTaskBytes(t), JSON.stringify({ ...doc, tasks: [] }).length);
}

/** The placement invariants alone: documents may lag while passes overlap (publication relies on them not overlapping). */
async function placementViolations(h: PassHarness): Promise<string[]> {
  return (await violations(h)).filter((v) => !v.startsWith('document'));
}
