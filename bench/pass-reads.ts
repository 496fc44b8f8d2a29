/**
 * What one scheduler pass's snapshot, one discovery sync's reads and one GET /v1/hosts page read
 * from DynamoDB, before and after the reads were made incremental (docs/scale.md, "Where the curve
 * bends", 4, 6 and 7): the same table, read both ways, with the read units dynalite reports.
 *
 *   npx tsx bench/pass-reads.ts [--hosts 200] [--services 200] [--replicas 10] [--events 24500]
 *
 * The table is filled directly through the store (no agents, no passes): hosts with their
 * allocations, services with their placed tasks, one status per host reporting its tasks, and the
 * event log as a 10-minute run at 200 hosts left it (24,500 events, each written to up to 4
 * partitions). Durations are this machine's (dynalite on loopback), the calls and units are exact.
 * Asserts nothing; cleans up its dynalite.
 */
import './env.ts';
import { parseArgs } from 'node:util';
import { numberFlag } from './args.ts';
import { DynamoStore } from '../adapters/aws/dynamo-store.ts';
import { CallCounter, type CallTally } from '../adapters/aws/call-counter.ts';
import { dynaliteClient, ensureTable, startDynalite } from '../local/dynalite.ts';
import { readSnapshot } from '../app/scheduler/pass.ts';
import { readTasks } from '../app/task-reads.ts';
import { createApi } from '../app/api.ts';
import { allocationFor } from '../core/allocations.ts';
import type { ClusterEvent, HostStatus, ServiceSpec, Task } from '../core/types.ts';
import { forEachLimit } from '../core/async.ts';

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '200' },
    services: { type: 'string', default: '200' },
    replicas: { type: 'string', default: '10' },
    events: { type: 'string', default: '24500' },
  },
});
const int = (name: keyof typeof values, min: number, max: number) => numberFlag('pass-reads', values, name, { min, max, integer: true });
const HOSTS = int('hosts', 1, 10_000);
const SERVICES = int('services', 1, 10_000);
const REPLICAS = int('replicas', 1, 100);
const EVENTS = int('events', 0, 1_000_000);
const NOW = '2026-12-07T12:00:00.000Z';

const dynamo = await startDynalite({});
try {
  const client = dynaliteClient(dynamo.endpoint);
  await ensureTable(client, 'skiff');
  const counter = new CallCounter();
  counter.attach(client, 'DynamoDB');
  const store = new DynamoStore(client, { tableName: 'skiff' });
  const t0 = performance.now();

  // Fill: hosts, services and their placed tasks, allocations, statuses, events.
  const hostIds = Array.from({ length: HOSTS }, (_, i) => `i-${i.toString(16).padStart(17, '0')}`);
  await forEachLimit(hostIds, 16, async (id, i) => {
    await store.registerHost({ id, address: `127.1.${i >> 8}.${i & 255}`, capacity: { cpu: 64_000, memory: 2 ** 38 }, labels: {} }, NOW);
  });
  const tasks: Task[] = [];
  await forEachLimit(
    Array.from({ length: SERVICES }, (_, s) => `s${String(s).padStart(5, '0')}`),
    16,
    async (name, s) => {
      // A spec as the parser leaves it (core/spec.ts): what the API stores for bench/scale.ts's services.
      const spec: ServiceSpec = {
        kind: 'Service',
        metadata: { name, namespace: 'default', labels: {} },
        spec: {
          replicas: REPLICAS,
          restartPolicy: 'always',
          placement: { strategy: 'spread', constraints: [] },
          containers: [
            {
              name: 'web',
              image: 'skiff/busybox:latest',
              command: ['httpd', '-f', '-p', '8080'],
              env: { MODE: 'scale', SERVICE: name },
              ports: [{ containerPort: 8080, protocol: 'tcp' }],
              resources: { cpu: 50, memory: 64 * 2 ** 20 },
            },
          ],
        },
      };
      const service = await store.putService(spec, NOW, 0);
      for (let slot = 1; slot <= REPLICAS; slot++) {
        const host = hostIds[(s * REPLICAS + slot) % HOSTS]!;
        const task: Task = {
          id: `${name}-${slot}-abcde`,
          namespace: 'default',
          service: name,
          slot,
          incarnation: 1,
          specVersion: service.specVersion,
          pod: { containers: service.spec.spec.containers, restartPolicy: 'always' },
          desired: 'running',
          createdAt: NOW,
        } as Task;
        await store.putTask(task, undefined);
        await store.assignTask('default', name, slot, task.id, host);
        tasks.push({ ...task, host });
      }
    },
  );
  const byHost = new Map<string, Task[]>();
  for (const t of tasks) byHost.set(t.host!, [...(byHost.get(t.host!) ?? []), t]);
  await forEachLimit([...byHost], 16, async ([id, mine]) => {
    const host = (await store.getHost(id))!;
    await store.updateAllocations(host, Object.fromEntries(mine.map((t) => [t.id, allocationFor(t)])));
    const status: HostStatus = {
      hostId: id,
      heartbeatAt: NOW,
      generation: 1,
      agentVersion: 'bench',
      tasks: mine.map((t) => ({
        taskId: t.id,
        namespace: t.namespace,
        service: t.service,
        state: 'running',
        ports: [{ container: 'web', containerPort: 8080, protocol: 'tcp', hostIp: '0.0.0.0', hostPort: 32768 + t.slot }],
        containers: [{ name: 'web', id: `c${t.id}`, state: 'running' }],
        since: NOW,
      })),
    } as HostStatus;
    await store.putHostStatus(status);
  });
  const events: ClusterEvent[] = Array.from({ length: EVENTS }, (_, i) => {
    const t = tasks[i % tasks.length]!;
    return {
      id: `bench-${i}`,
      at: new Date(Date.parse(NOW) - i * 25).toISOString(),
      type: 'task.running',
      message: `task ${t.id} is running on host ${t.host}`,
      namespace: t.namespace,
      service: t.service,
      host: t.host!,
      task: t.id,
    };
  });
  for (let i = 0; i < events.length; i += 500) await store.putEvents(events.slice(i, i + 500));
  console.log(
    `table: ${HOSTS} hosts, ${SERVICES} services of ${REPLICAS} (${tasks.length} tasks), ${HOSTS} statuses, ${EVENTS} events; filled in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );

  const measure = async (what: string, run: () => Promise<unknown>) => {
    const before = counter.snapshot();
    const t = performance.now();
    await run();
    const ms = performance.now() - t;
    const after = counter.snapshot();
    const d: CallTally = {
      calls: Object.fromEntries(
        Object.entries(after.calls)
          .map(([k, v]) => [k, v - (before.calls[k] ?? 0)])
          .filter(([, v]) => (v as number) > 0),
      ),
      readUnits: after.readUnits - before.readUnits,
      writeUnits: after.writeUnits - before.writeUnits,
    };
    const calls = Object.values(d.calls).reduce((a, b) => a + b, 0);
    console.log(
      `${what.padEnd(64)} ${String(calls).padStart(6)} calls ${d.readUnits.toFixed(0).padStart(7)} RRU ${(ms / 1000).toFixed(2).padStart(7)} s  ${JSON.stringify(d.calls)}`,
    );
  };
  // Before: the four lists, the tasks by a Scan of the table (listAllTasks), as readSnapshot and runDiscoverySync read them.
  await measure('pass snapshot, before (Scan for the tasks)', () =>
    Promise.all([store.listServices(), store.listHosts(), store.listHostStatuses(), store.listAllTasks()]),
  );
  await measure('pass snapshot, after (a Query per service)', () => readSnapshot(store));
  await measure('discovery reads, after', async () => {
    const [services, , hosts] = await Promise.all([store.listServices(), store.listHostStatuses(), store.listHosts()]);
    await readTasks(store, services, hosts);
  });
  const api = createApi({ store, now: () => new Date(NOW), kickScheduler: async () => {} });
  await measure('GET /v1/hosts?limit=50, before (every host and status)', () => Promise.all([store.listHosts(), store.listHostStatuses()]));
  await measure('GET /v1/hosts?limit=50, after (a page)', () => api({ method: 'GET', path: '/v1/hosts', query: { limit: '50' }, headers: {} }));
  await measure('GET /v1/services?limit=20, after', () => api({ method: 'GET', path: '/v1/services', query: { limit: '20' }, headers: {} }));
  // The publish step's records (bend 6), as an idle pass reads them: every host has one.
  await forEachLimit(hostIds, 16, (id) => store.setPublished(id, 0, { generation: 1, hash: `h-${id}` }));
  await measure('publish step records, before (a GetItem per host, 16 at a time)', () =>
    forEachLimit(hostIds, 16, async (id) => {
      await store.getPublished(id);
    }),
  );
  await measure('publish step records, after (BatchGetItem, 100 a call)', () => store.getPublishedMany(hostIds));
  client.destroy();
} finally {
  await dynamo.close();
}
