/**
 * The order a stop relies on (core/stopping.ts): a replica leaves DNS and the load balancer no later
 * than it leaves its host's document, so the agent's drain, counted from the document, always starts
 * after discovery has dropped it. Checked over random scalings, deletes, spec changes and drains, on
 * the real scheduler pass, with host reports that still list the leaving replicas as running.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { dnsRecords } from '../../core/discovery.ts';
import { ingressRoutes } from '../../core/ingress.ts';
import { taskViews } from '../../core/views.ts';
import type { HostStatus, ServiceSpec, TaskStatus } from '../../core/types.ts';
import { aSpec } from '../builders.ts';
import { passHarness, type PassHarness } from '../pass-harness.ts';

const HOST = 'shop.example.com';

function spec(replicas: number, image = 'skiff/busybox:latest'): ServiceSpec {
  const base = aSpec({ name: 'shop', replicas });
  return {
    ...base,
    spec: { ...base.spec, containers: [{ ...base.spec.containers[0], image }], ingress: { host: HOST, port: 8080, sessionAffinity: false } },
  };
}

/** Every host reports as running every task its current and its previous document listed (a leaving replica still runs). */
async function reportEverything(h: PassHarness, previous: Map<string, Set<string>>): Promise<void> {
  const hosts = await h.inner.listHosts();
  for (const host of hosts) {
    const doc = h.channel.docs.get(host.id);
    const ids = new Set([...(previous.get(host.id) ?? []), ...(doc?.tasks.map((t) => t.id) ?? [])]);
    const tasks: TaskStatus[] = [...ids].map((id, i) => ({
      taskId: id,
      namespace: 'default',
      service: 'shop',
      state: 'running',
      ports: [{ container: 'app', containerPort: 8080, protocol: 'tcp', hostIp: host.address, hostPort: 30000 + i }],
      containers: [],
      since: h.now(),
    }));
    const status: HostStatus = { hostId: host.id, heartbeatAt: h.now(), generation: doc?.generation ?? 0, tasks, agentVersion: 'test' };
    await h.inner.putHostStatus(status);
    previous.set(host.id, new Set(doc?.tasks.map((t) => t.id) ?? []));
  }
}

/** The replicas that discovery would name or route to now, that their host's published document does not list. */
async function discoverableButNotDocumented(h: PassHarness): Promise<string[]> {
  const [services, tasks, statuses, hosts] = await Promise.all([
    h.inner.listServices(),
    h.inner.listAllTasks(),
    h.inner.listHostStatuses(),
    h.inner.listHosts(),
  ]);
  const views = taskViews(tasks, statuses, hosts);
  const documented = (taskId: string) => {
    const t = tasks.find((x) => x.id === taskId);
    return t?.host !== undefined && (h.channel.docs.get(t.host)?.tasks.some((d) => d.id === taskId) ?? false);
  };
  const routed = ingressRoutes(services, views).flatMap((r) => r.targets.map((t) => t.taskId));
  const named = dnsRecords('skiff.internal', services, views, 5).flatMap((r) => (r.name.split('.').length === 5 ? [r.name.split('.')[0]] : []));
  return [...new Set([...routed, ...named])].filter((id) => !documented(id));
}

type Op = { kind: 'scale'; replicas: number } | { kind: 'image'; tag: number } | { kind: 'drain'; host: number } | { kind: 'delete' };

describe('a leaving replica leaves discovery no later than its host document', () => {
  it('scale-in: the replicas that go are out of DNS and the load balancer by the pass that takes them off their hosts', async () => {
    const h = await passHarness([
      { id: 'h1', cpu: 4000 },
      { id: 'h2', cpu: 4000 },
    ]);
    const previous = new Map<string, Set<string>>();
    await h.inner.putService(spec(4), h.now());
    for (let i = 0; i < 3; i++) {
      await h.pass();
      await reportEverything(h, previous);
    }
    expect(
      ingressRoutes(await h.inner.listServices(), taskViews(await h.inner.listAllTasks(), await h.inner.listHostStatuses(), await h.inner.listHosts()))[0]
        .targets,
    ).toHaveLength(4);
    const current = (await h.inner.getService('default', 'shop'))!;
    await h.inner.putService(spec(1), h.now(), current.specVersion);
    await h.pass();
    await reportEverything(h, previous);
    expect(await discoverableButNotDocumented(h)).toEqual([]);
    const routes = ingressRoutes(
      await h.inner.listServices(),
      taskViews(await h.inner.listAllTasks(), await h.inner.listHostStatuses(), await h.inner.listHosts()),
    );
    expect(routes[0].targets).toHaveLength(1);
  });

  it('holds after every pass of random scalings, image changes, host drains and a delete (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            fc.record({ kind: fc.constant('scale' as const), replicas: fc.integer({ min: 0, max: 5 }) }),
            fc.record({ kind: fc.constant('image' as const), tag: fc.integer({ min: 1, max: 3 }) }),
            fc.record({ kind: fc.constant('drain' as const), host: fc.integer({ min: 1, max: 3 }) }),
            fc.constant({ kind: 'delete' as const }),
          ),
          { minLength: 1, maxLength: 6 },
        ),
        async (ops: Op[]) => {
          const h = await passHarness([
            { id: 'h1', cpu: 4000 },
            { id: 'h2', cpu: 4000 },
            { id: 'h3', cpu: 4000 },
          ]);
          const previous = new Map<string, Set<string>>();
          await h.inner.putService(spec(3), h.now());
          let replicas = 3;
          let image = 'skiff/busybox:latest';
          for (let op of ops) {
            const s = await h.inner.getService('default', 'shop');
            if (!s) break;
            // A deleting service takes no more changes: its passes go on.
            if (s.deleting) op = { kind: 'drain', host: 0 };
            if (op.kind === 'scale') replicas = op.replicas;
            if (op.kind === 'image') image = `skiff/busybox:v${op.tag}`;
            if (op.kind === 'scale' || op.kind === 'image') await h.inner.putService(spec(replicas, image), h.now(), s.specVersion);
            if (op.kind === 'drain' && op.host > 0) await h.inner.setHostState(`h${op.host}`, 'draining', h.now());
            if (op.kind === 'delete') await h.inner.markServiceDeleting('default', 'shop', h.now());
            for (let i = 0; i < 2; i++) {
              await h.pass();
              await reportEverything(h, previous);
              expect(await discoverableButNotDocumented(h)).toEqual([]);
            }
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});
