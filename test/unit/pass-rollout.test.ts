import { describe, expect, it } from 'vitest';
import type { HostStatus, ServiceSpec, TaskStatus } from '../../core/types.ts';
import { aSpec } from '../builders.ts';
import { converged, passHarness, T0, violations, type PassHarness } from '../pass-harness.ts';

/** The spec with VERSION=`version` in its container's env (a new pod template per version). */
function spec(version: string, replicas = 4): ServiceSpec {
  const s = aSpec({ name: 'web', replicas });
  return { ...s, spec: { ...s.spec, containers: [{ ...s.spec.containers[0], env: { VERSION: version } }] } };
}

/**
 * Plays the agents: every task and kept previous incarnation in a host's document reports, healthy
 * unless its VERSION is in `crashing` (then restarted twice, last exit code 1).
 */
async function report(h: PassHarness, crashing: ReadonlySet<string> = new Set()): Promise<void> {
  for (const host of await h.inner.listHosts()) {
    const doc = h.channel.docs.get(host.id);
    const tasks: TaskStatus[] = (doc?.tasks ?? []).map((t) => {
      const bad = crashing.has(t.pod.containers[0].env.VERSION);
      return {
        taskId: t.id,
        namespace: t.namespace,
        service: t.service,
        state: 'running',
        ...(bad ? { restarts: 2, lastExitCode: 1 } : {}),
        ports: [],
        containers: [],
        since: h.now(),
      };
    });
    const status: HostStatus = { hostId: host.id, heartbeatAt: h.now(), generation: doc?.generation ?? 0, agentVersion: 't', tasks };
    await h.inner.putHostStatus(status);
  }
}

async function running(h: PassHarness): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const host of await h.inner.listHosts()) for (const t of h.channel.docs.get(host.id)?.tasks ?? []) out.set(t.id, t.pod.containers[0].env.VERSION);
  return out;
}

async function settle(h: PassHarness, crashing?: ReadonlySet<string>, passes = 30, check?: (versions: Map<string, string>) => void): Promise<void> {
  for (let i = 0; i < passes; i++) {
    await h.pass();
    expect(await violations(h)).toEqual([]);
    check?.(await running(h));
    await report(h, crashing);
  }
}

describe('rollouts in the scheduler pass', () => {
  it('rolls 4 replicas to a new version one surge at a time, never more than 5 running, and records the revision', async () => {
    const h = await passHarness([
      { id: 'h1', cpu: 2000 },
      { id: 'h2', cpu: 2000 },
    ]);
    await h.inner.putService(spec('1'), T0, 0);
    await settle(h, undefined, 4);
    expect((await h.inner.getService('default', 'web'))?.rollout).toMatchObject({ specVersion: 1, phase: 'complete' });

    await h.inner.putService(spec('2'), T0, 1);
    let most = 0;
    await settle(h, undefined, 12, (versions) => {
      most = Math.max(most, versions.size);
      // Every replica of version 1 stops only once its replacement reported healthy: 4 serve throughout.
      expect(versions.size).toBeGreaterThanOrEqual(4);
    });
    expect(most).toBe(5);
    const service = await h.inner.getService('default', 'web');
    expect(service?.rollout).toMatchObject({ specVersion: 2, phase: 'complete' });
    expect(service?.rollout?.revisions.map((r) => r.version)).toEqual([1, 2]);
    expect([...(await running(h)).values()]).toEqual(['2', '2', '2', '2']);
    expect(await converged(h)).toEqual([]);
  });

  it('rolls a crash-looping version back to the last healthy one, the old replicas serving throughout, and says which replicas failed', async () => {
    const h = await passHarness([{ id: 'h1', cpu: 4000 }]);
    await h.inner.putService(spec('1'), T0, 0);
    await settle(h, undefined, 4);
    await h.inner.putService(spec('bad'), T0, 1);
    await settle(h, new Set(['bad']), 12, (versions) => {
      expect([...versions.values()].filter((v) => v === '1').length).toBe(4);
    });
    const service = await h.inner.getService('default', 'web');
    expect(service?.specVersion).toBe(3);
    expect(service?.spec.spec.containers[0].env).toEqual({ VERSION: '1' });
    expect(service?.rollout).toMatchObject({ specVersion: 3, phase: 'complete', rollbackOf: 2 });
    expect([...(await running(h)).values()]).toEqual(['1', '1', '1', '1']);
    const events = await h.inner.listEvents({ service: 'web' });
    const failed = events.find((e) => e.type === 'rollout.failed');
    expect(failed?.message).toMatch(/version 2 failed: 1 new replica\(s\) failed: web-\d-\w+ on h1 crash-looping: restarted 2 times, last exit code 1/);
    expect(events.map((e) => e.type)).toContain('rollout.rolledBack');
  });
});
