import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../adapters/memory/store.ts';
import { AutoscalerMemory, runAutoscaler, type AutoscalerDeps } from '../../app/autoscaler.ts';
import { makeAutoscalerHandler } from '../../app/handlers/autoscaler.ts';
import { desiredReplicas } from '../../core/replicas.ts';
import { parseNamespaceSpec, type Namespace } from '../../core/namespace.ts';
import type { AutoscalingSpec, HostStatus, ServiceSpec } from '../../core/types.ts';
import { aSpec, aTask, MiB } from '../builders.ts';

const T0 = Date.parse('2026-12-07T04:00:00.000Z');

function autoscaled(replicas: number, a: Partial<AutoscalingSpec> = {}): ServiceSpec {
  const spec = aSpec({ replicas, cpu: 100, memory: 32 * MiB });
  return {
    ...spec,
    spec: {
      ...spec.spec,
      autoscaling: { minReplicas: 1, maxReplicas: 6, targetCPUUtilization: 50, scaleUpStabilizationSeconds: 0, scaleDownStabilizationSeconds: 30, ...a },
    },
  };
}

/** A store holding `web` with `n` running tasks on host-1, each using `cpu` millicores. */
async function cluster(n: number, cpu: number, a: Partial<AutoscalingSpec> = {}) {
  const store = new MemoryStore();
  const service = await store.putService(autoscaled(n, a), new Date(T0).toISOString());
  const tasks = Array.from({ length: n }, (_, i) => aTask(service, i));
  for (const t of tasks) await store.putTask(t, undefined);
  const report = async (millicores: number) => {
    const status: HostStatus = {
      hostId: 'host-1',
      heartbeatAt: new Date(T0).toISOString(),
      generation: 1,
      agentVersion: 'test',
      tasks: (await store.listTasks('default', 'web')).map((t) => ({
        taskId: t.id,
        namespace: 'default',
        service: 'web',
        state: 'running' as const,
        ports: [],
        containers: [],
        since: new Date(T0 - 3_600_000).toISOString(),
        usage: { cpu: millicores, memory: 8 * MiB },
      })),
    };
    await store.putHostStatus(status);
  };
  await report(cpu);
  return { store, report };
}

describe('runAutoscaler', () => {
  it('scales a hot service out through setServiceScale, with an event that says why, and kicks the scheduler', async () => {
    const { store } = await cluster(2, 100);
    let kicked = 0;
    const deps: AutoscalerDeps = { store, memory: new AutoscalerMemory(), now: () => new Date(T0), kickScheduler: async () => void kicked++ };
    const result = await runAutoscaler(deps);
    expect(result.scaled).toEqual(['web 2 → 4: cpu 100% of 50% target']);
    const service = (await store.getService('default', 'web'))!;
    expect(service.specVersion).toBe(1);
    expect(service.scale).toEqual({ replicas: 4, source: 'autoscaler', at: new Date(T0).toISOString(), reason: 'cpu 100% of 50% target' });
    expect(desiredReplicas(service)).toBe(4);
    const events = await store.listEvents({ service: 'web' });
    expect(events.map((e) => [e.type, e.message])).toEqual([['service.scaled-up', 'web 2 → 4: cpu 100% of 50% target']]);
    expect(kicked).toBe(1);
  });

  it('stops at the namespace quota and says so, once', async () => {
    // web asks 100m per replica; the quota of default leaves room for 3 replicas, not the 4 it wants.
    const quota = (cpu: string): Namespace => ({
      name: 'default',
      spec: parseNamespaceSpec({ kind: 'Namespace', metadata: { name: 'default' }, spec: { quota: { cpu } } }),
      version: 1,
      createdAt: '',
      updatedAt: '',
    });
    const { store } = await cluster(2, 100);
    let namespace = quota('300m');
    const deps: AutoscalerDeps = { store, memory: new AutoscalerMemory(), now: () => new Date(T0), namespaces: { getNamespace: async () => namespace } };
    expect((await runAutoscaler(deps)).scaled).toEqual([
      'web 2 → 3 (wants 4): cpu 100% of 50% target; stopped at the quota: namespace default: cpu 200m of 300m used, this change needs 200m more',
    ]);
    expect(desiredReplicas((await store.getService('default', 'web'))!)).toBe(3);
    // At the quota: no scale, one event that says why, not one per run.
    await runAutoscaler(deps);
    await runAutoscaler(deps);
    const blocked = (await store.listEvents({ service: 'web' })).filter((e) => e.type === 'service.scale-blocked');
    expect(blocked.map((e) => e.message)).toEqual([
      'web stays at 3 (wants 4: cpu 100% of 50% target): stopped at the quota: namespace default: cpu 300m of 300m used, this change needs 100m more',
    ]);
    expect(desiredReplicas((await store.getService('default', 'web'))!)).toBe(3);
    // The quota raised: it scales on.
    namespace = quota('2');
    expect((await runAutoscaler(deps)).scaled).toEqual(['web 3 → 4: cpu 100% of 50% target']);
  });

  it('does nothing within the tolerance and for services without autoscaling', async () => {
    const { store } = await cluster(2, 52);
    await store.putService(aSpec({ name: 'plain', replicas: 1 }), new Date(T0).toISOString());
    const result = await runAutoscaler({ store, memory: new AutoscalerMemory(), now: () => new Date(T0) });
    expect(result.evaluated).toBe(1);
    expect(result.scaled).toEqual([]);
    expect((await store.getService('default', 'web'))!.scale).toBeUndefined();
  });

  it('scales in only after the scale-down window, and stays scaled across an apply that changes nothing', async () => {
    const { store, report } = await cluster(4, 5, { minReplicas: 2, scaleDownStabilizationSeconds: 30 });
    const memory = new AutoscalerMemory();
    let now = T0;
    const deps: AutoscalerDeps = { store, memory, now: () => new Date(now) };
    expect((await runAutoscaler(deps)).scaled).toEqual([]);
    now += 15_000;
    expect((await runAutoscaler(deps)).scaled).toEqual([]);
    now += 16_000;
    expect((await runAutoscaler(deps)).scaled).toEqual(['web 4 → 2: cpu 5% of 50% target, kept at minReplicas 2']);
    // The same spec applied again: the autoscaler's count stays.
    await store.putService(autoscaled(4, { minReplicas: 2, scaleDownStabilizationSeconds: 30 }), new Date(now).toISOString());
    expect(desiredReplicas((await store.getService('default', 'web'))!)).toBe(2);
    await report(5);
  });

  it('loses a race with a new apply as a conflict and tries again next run', async () => {
    const { store } = await cluster(2, 100);
    const racing: AutoscalerDeps['store'] = {
      listServices: () => store.listServices(),
      listTasks: (ns, s) => store.listTasks(ns, s),
      listHostStatuses: () => store.listHostStatuses(),
      putEvents: (e) => store.putEvents(e),
      setServiceScale: async (...args) => {
        // A user applies a new spec between the autoscaler's read and its write.
        await store.putService(autoscaled(3), new Date(T0).toISOString());
        return store.setServiceScale(...args);
      },
    };
    const result = await runAutoscaler({ store: racing, memory: new AutoscalerMemory(), now: () => new Date(T0) });
    expect(result.conflicts).toEqual(['default/web']);
    expect(result.scaled).toEqual([]);
  });

  it('follows request rates from the load balancer', async () => {
    const { store } = await cluster(2, 10, { targetCPUUtilization: undefined, targetRequestsPerReplica: 10 });
    const result = await runAutoscaler({
      store,
      memory: new AutoscalerMemory(),
      now: () => new Date(T0),
      requests: { requestsPerReplica: async () => new Map([['default/web', 25]]) },
    });
    expect(result.scaled).toEqual(['web 2 → 5: requests 25/s per replica of 10/s target']);
  });
});

describe('the autoscaler handler', () => {
  it('reads CloudWatch afresh when an alarm woke it, and not on its schedule', async () => {
    const { store } = await cluster(2, 50);
    let refreshed = 0;
    const handler = makeAutoscalerHandler({ store, memory: new AutoscalerMemory(), now: () => new Date(T0) }, () => void refreshed++);
    const context = { awsRequestId: 'test' } as never;
    await handler({ 'detail-type': 'Scheduled Event', source: 'aws.events' }, context);
    expect(refreshed).toBe(0);
    const result = await handler(
      { 'detail-type': 'CloudWatch Alarm State Change', source: 'aws.cloudwatch', detail: { alarmName: 'skiff-prod-autoscale-default-web-requests' } },
      context,
    );
    expect(refreshed).toBe(1);
    expect(result.evaluated).toBe(1);
  });
});
