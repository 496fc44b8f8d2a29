/**
 * Deleting a service keeps its persistent volumes unless asked (`--delete-volumes`): the pure plan
 * (core/volume-removal.ts), and the API with scheduler passes on the in-memory store.
 */
import { describe, expect, it } from 'vitest';
import { MAX_REMOVALS_PER_DOCUMENT, planVolumeRemovals, volumesBeingDeleted } from '../../core/volume-removal.ts';
import { DOCUMENT_ENVELOPE_BYTES } from '../../core/document-size.ts';
import { volumeId, volumeState, type VolumeRecord } from '../../core/volumes.ts';
import { parseServiceSpec } from '../../core/spec.ts';
import { createApi } from '../../app/api.ts';
import type { Host } from '../../core/types.ts';
import { passHarness, T0, type PassHarness } from '../pass-harness.ts';

const MARK = '2026-01-01T01:00:00.000Z';

function aVolume(service: string, slot: number, host: string, deleting?: string): VolumeRecord {
  return {
    id: volumeId('default', service, 'data', slot),
    namespace: 'default',
    service,
    volume: 'data',
    slot,
    host,
    createdAt: T0,
    ...(deleting ? { deleting } : {}),
  };
}

const hosts = (...spec: [string, Host['state']][]) => spec.map(([id, state]) => ({ id, state }));
const ids = (list: readonly { record: VolumeRecord }[]) => list.map((x) => x.record.id);

describe('planVolumeRemovals', () => {
  it('asks the host that holds a local volume to delete it, and forgets it once that host reports it', () => {
    const marked = [aVolume('db', 1, 'h1', MARK), aVolume('db', 2, 'h2', MARK), aVolume('web', 1, 'h1')];
    const plan = planVolumeRemovals(marked, hosts(['h1', 'ready'], ['h2', 'ready']), [], [], 'host');
    expect(Object.fromEntries([...plan.byHost].map(([h, rs]) => [h, rs.map((r) => r.id)]))).toEqual({ h1: ['default-db-data-1'], h2: ['default-db-data-2'] });
    expect(plan.forget).toEqual([]);

    const after = planVolumeRemovals(marked, hosts(['h1', 'ready'], ['h2', 'ready']), [{ hostId: 'h1', removedVolumes: ['default/db/data/1'] }], [], 'host');
    expect(ids(after.forget)).toEqual(['default-db-data-1']);
    expect(after.forget[0].reason).toBe('host h1 deleted it');
    expect([...after.byHost.keys()]).toEqual(['h2']);
  });

  it('waits while its service still has containers somewhere, and while its host is down; forgets it when its host is gone for good', () => {
    const marked = [aVolume('db', 1, 'h1', MARK)];
    const stopping = planVolumeRemovals(marked, hosts(['h1', 'ready']), [], [{ namespace: 'default', name: 'db' }], 'host');
    expect(stopping.byHost.size).toBe(0);
    expect(stopping.waiting[0].reason).toBe('service default/db is still stopping its containers');

    const down = planVolumeRemovals(marked, hosts(['h1', 'down']), [], [], 'host');
    // Still listed: the host acts on it when it comes back.
    expect([...down.byHost.keys()]).toEqual(['h1']);
    expect(down.waiting[0].reason).toBe('its data lives on host h1, which is down; deleted when it is back');

    const gone = planVolumeRemovals(marked, hosts(['h2', 'ready']), [], [], 'host');
    expect(ids(gone.forget)).toEqual(['default-db-data-1']);
    expect(gone.forget[0].reason).toBe('host h1 is gone, and its data with it');
  });

  it("on EFS asks the recorded host if it is up, else the first ready host, and takes any host's report", () => {
    const marked = [aVolume('db', 1, 'h2', MARK)];
    expect([...planVolumeRemovals(marked, hosts(['h1', 'ready'], ['h2', 'ready']), [], [], 'shared').byHost.keys()]).toEqual(['h2']);
    expect([...planVolumeRemovals(marked, hosts(['h3', 'ready'], ['h1', 'ready'], ['h2', 'down']), [], [], 'shared').byHost.keys()]).toEqual(['h1']);
    const none = planVolumeRemovals(marked, hosts(['h2', 'down']), [], [], 'shared');
    expect(none.byHost.size).toBe(0);
    expect(none.waiting[0].reason).toBe('no host is ready to delete its access point');
    const done = planVolumeRemovals(marked, hosts(['h1', 'ready']), [{ hostId: 'h1', removedVolumes: ['default/db/data/1'] }], [], 'shared');
    expect(ids(done.forget)).toEqual(['default-db-data-1']);
  });

  it('lists at most a bounded number of removals a document, within the room the document budget keeps beside the tasks', () => {
    const many = Array.from({ length: MAX_REMOVALS_PER_DOCUMENT + 3 }, (_, i) => aVolume('db', i + 1, 'h1', MARK));
    const plan = planVolumeRemovals(many, hosts(['h1', 'ready']), [], [], 'host');
    expect(plan.byHost.get('h1')).toHaveLength(MAX_REMOVALS_PER_DOCUMENT);
    expect(plan.waiting).toHaveLength(3);
    expect(plan.waiting[0].reason).toBe(`host h1 deletes ${MAX_REMOVALS_PER_DOCUMENT} volumes at a time; this one waits its turn`);
    // The largest entry: every key part at its 63-character limit, the largest slot.
    const part = 'a'.repeat(63);
    const largest = { id: volumeId(part, part, part, 999_999), namespace: part, service: part, volume: part, slot: 999_999 };
    // With room left for the rest of the envelope (cluster, host id, generation, network: under 1 KiB).
    expect(JSON.stringify(Array(MAX_REMOVALS_PER_DOCUMENT).fill(largest)).length).toBeLessThan(DOCUMENT_ENVELOPE_BYTES - 1024);
  });

  it('ignores volumes not marked for removal', () => {
    const plan = planVolumeRemovals([aVolume('db', 1, 'h1')], hosts(['h1', 'ready']), [{ hostId: 'h1', removedVolumes: ['default/db/data/1'] }], [], 'host');
    expect(plan).toEqual({ byHost: new Map(), forget: [], waiting: [] });
  });
});

describe('volume states', () => {
  const svc = (name: string, deleting = false, volumes: string[] = ['data']) => ({
    namespace: 'default',
    name,
    deleting,
    spec: { spec: { volumes: volumes.map((v) => ({ name: v, persistent: {} })) } },
  });
  it('is bound while a live service declares it, retained without one, deleting once its removal is asked', () => {
    expect(volumeState(aVolume('db', 1, 'h1'), [svc('db')])).toBe('bound');
    expect(volumeState(aVolume('db', 1, 'h1'), [svc('db', true)])).toBe('retained');
    expect(volumeState(aVolume('db', 1, 'h1'), [svc('db', false, ['other'])])).toBe('retained');
    expect(volumeState(aVolume('db', 1, 'h1'), [])).toBe('retained');
    expect(volumeState(aVolume('db', 1, 'h1', MARK), [svc('db')])).toBe('deleting');
  });

  it('refuses a new service while a volume it declares is still being deleted, naming it', () => {
    const records = [aVolume('db', 1, 'h1', MARK), aVolume('db', 2, 'h1', MARK), aVolume('web', 1, 'h1', MARK)];
    expect(volumesBeingDeleted({ namespace: 'default', name: 'db', volumes: ['data'] }, records)).toBe(
      'service default/db: its volumes default-db-data-1, default-db-data-2 from a deleted service of that name are still being deleted; apply again once `skiff get volumes` no longer lists them',
    );
    expect(volumesBeingDeleted({ namespace: 'default', name: 'db', volumes: ['logs'] }, records)).toBeUndefined();
    expect(volumesBeingDeleted({ namespace: 'default', name: 'db', volumes: ['data'] }, [aVolume('db', 1, 'h1')])).toBeUndefined();
  });
});

const dbSpec = (replicas: number) => ({
  kind: 'Service',
  metadata: { name: 'db' },
  spec: {
    replicas,
    volumes: [{ name: 'data', persistent: {} }],
    containers: [{ name: 'app', image: 'skiff/busybox', resources: { cpu: '100m', memory: '32Mi' }, volumeMounts: [{ name: 'data', mountPath: '/data' }] }],
  },
});

async function setUp(): Promise<{ h: PassHarness; api: ReturnType<typeof createApi> }> {
  const h = await passHarness([
    { id: 'h1', cpu: 150 },
    { id: 'h2', cpu: 150 },
  ]);
  const api = createApi({ store: h.store, now: () => new Date(h.now()), kickScheduler: async () => {} });
  return { h, api };
}

/** Passes until the service is gone (no agent reports here: its tasks go with their allocations). */
async function passUntilGone(h: PassHarness): Promise<void> {
  for (let i = 0; i < 5 && (await h.inner.getService('default', 'db')); i++) await h.pass(`gone-${i}`);
  expect(await h.inner.getService('default', 'db')).toBeUndefined();
}

describe('deleting a service and its volumes (API and scheduler passes)', () => {
  it('keeps the volumes of a deleted service as retained, and a new service of that name attaches them on their hosts', async () => {
    const { h, api } = await setUp();
    await h.inner.putService(parseServiceSpec(dbSpec(2)), T0, 0);
    await h.pass('a');
    const before = new Map((await h.inner.listVolumes()).map((v) => [v.id, v.host]));
    expect([...before.keys()]).toEqual(['default-db-data-1', 'default-db-data-2']);

    const deleted = await api({ method: 'DELETE', path: '/v1/namespaces/default/services/db', query: {}, headers: {} });
    expect(deleted.status).toBe(202);
    expect(deleted.body).not.toHaveProperty('volumes');
    await passUntilGone(h);
    const listed = await api({ method: 'GET', path: '/v1/volumes', query: {}, headers: {} });
    expect((listed.body as { name: string; state: string }[]).map((v) => [v.name, v.state])).toEqual([
      ['default-db-data-1', 'retained'],
      ['default-db-data-2', 'retained'],
    ]);
    expect([...h.channel.docs.values()].some((d) => d.removeVolumes)).toBe(false);

    const applied = await api({ method: 'POST', path: '/v1/services', query: {}, headers: {}, body: JSON.stringify(dbSpec(2)) });
    expect(applied.status).toBeLessThan(300);
    await h.pass('b');
    const tasks = await h.inner.listTasks('default', 'db');
    expect(new Map(tasks.map((t) => [volumeId('default', 'db', 'data', t.slot), t.host]))).toEqual(before);
    const again = await api({ method: 'GET', path: '/v1/volumes', query: {}, headers: {} });
    expect((again.body as { state: string }[]).map((v) => v.state)).toEqual(['bound', 'bound']);
  });

  it('with deleteVolumes=true has each holder delete its volume, and forgets each record once its holder reports it', async () => {
    const { h, api } = await setUp();
    await h.inner.putService(parseServiceSpec(dbSpec(2)), T0, 0);
    await h.pass('a');
    const holder = new Map((await h.inner.listVolumes()).map((v) => [v.slot, v.host]));
    // One replica a host (150m each, 100m a replica): each host holds one volume.
    expect(new Set(holder.values()).size).toBe(2);

    const deleted = await api({ method: 'DELETE', path: '/v1/namespaces/default/services/db', query: { deleteVolumes: 'true' }, headers: {} });
    expect(deleted.status).toBe(202);
    expect(deleted.body).toMatchObject({ result: 'deleting', volumes: ['default-db-data-1', 'default-db-data-2'] });
    const marked = await api({ method: 'GET', path: '/v1/volumes', query: {}, headers: {} });
    expect((marked.body as { state: string; deleting?: string }[]).map((v) => [v.state, typeof v.deleting])).toEqual([
      ['deleting', 'string'],
      ['deleting', 'string'],
    ]);
    // A new service of that name would be placed on data about to vanish: refused while deletion runs.
    const refused = await api({ method: 'POST', path: '/v1/services', query: {}, headers: {}, body: JSON.stringify(dbSpec(1)) });
    expect(refused.status).toBe(409);

    await passUntilGone(h);
    await h.pass('c');
    const h1 = holder.get(1)!;
    const h2 = holder.get(2)!;
    expect(h.channel.docs.get(h1)?.removeVolumes?.map((r) => r.id)).toEqual(['default-db-data-1']);
    expect(h.channel.docs.get(h2)?.removeVolumes?.map((r) => r.id)).toEqual(['default-db-data-2']);

    // The first holder's agent reports its volume deleted: that record goes, and its document drops the removal.
    await h.inner.putHostStatus({ hostId: h1, heartbeatAt: h.now(), generation: 9, agentVersion: 't', tasks: [], removedVolumes: ['default/db/data/1'] });
    const result = await h.pass('d');
    expect(result.volumesDeleted).toEqual(['default-db-data-1']);
    expect((await h.inner.listVolumes()).map((v) => v.id)).toEqual(['default-db-data-2']);
    expect(h.channel.docs.get(h1)?.removeVolumes).toBeUndefined();
    expect(h.channel.docs.get(h2)?.removeVolumes?.map((r) => r.id)).toEqual(['default-db-data-2']);
    const events = await h.inner.listEvents({});
    expect(events.filter((e) => e.type === 'volume.deleted').map((e) => e.message)).toEqual([`volume default-db-data-1 deleted: host ${h1} deleted it`]);

    await h.inner.putHostStatus({ hostId: h2, heartbeatAt: h.now(), generation: 9, agentVersion: 't', tasks: [], removedVolumes: ['default/db/data/2'] });
    await h.pass('e');
    expect(await h.inner.listVolumes()).toEqual([]);
    expect(h.channel.docs.get(h2)?.removeVolumes).toBeUndefined();

    // Gone: the name is free again, with new volumes.
    const applied = await api({ method: 'POST', path: '/v1/services', query: {}, headers: {}, body: JSON.stringify(dbSpec(1)) });
    expect(applied.status).toBeLessThan(300);
  });

  it('deletes the retained volumes of a service already gone, and answers 404 when there are none', async () => {
    const { h, api } = await setUp();
    await h.inner.putService(parseServiceSpec(dbSpec(1)), T0, 0);
    await h.pass('a');
    await api({ method: 'DELETE', path: '/v1/namespaces/default/services/db', query: {}, headers: {} });
    await passUntilGone(h);
    const later = await api({ method: 'DELETE', path: '/v1/namespaces/default/services/db', query: { deleteVolumes: 'true' }, headers: {} });
    expect(later.status).toBe(202);
    expect(later.body).toEqual({ result: 'deleting-volumes', volumes: ['default-db-data-1'] });
    expect((await h.inner.listVolumes())[0].deleting).toBeDefined();
    expect((await api({ method: 'DELETE', path: '/v1/namespaces/default/services/nothing', query: { deleteVolumes: 'true' }, headers: {} })).status).toBe(404);
  });

  it('refuses a deleteVolumes that is not true or false, naming the parameter, and deletes nothing', async () => {
    const { h, api } = await setUp();
    await h.inner.putService(parseServiceSpec(dbSpec(1)), T0, 0);
    await h.pass('a');
    const res = await api({ method: 'DELETE', path: '/v1/namespaces/default/services/db', query: { deleteVolumes: 'yes' }, headers: {} });
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body)).toContain('query.deleteVolumes');
    expect((await h.inner.getService('default', 'db'))?.deleting).toBe(false);
  });
});
