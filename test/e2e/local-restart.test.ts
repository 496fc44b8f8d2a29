/**
 * Starting a local cluster again over its saved state: freshly started agents may need longer to
 * report than the health check's grace (3 s by default; more on a loaded machine), and that
 * start-up must not count as silence, which would declare every host down and move every task.
 * So the start returns, and the health check starts, only once the agents it launched reported.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { removeContainers, removeNetwork, startLocalCluster, type LocalCluster } from '../../local/cluster.ts';
import { aSpec } from '../builders.ts';
import { eventually } from '../helpers/cli.ts';
import { removeClusterContainers, uniqueClusterName } from '../helpers/docker.ts';
import type { ServiceSpec } from '../../core/types.ts';
import { logger } from '../../app/logger.ts';

// The cluster runs in this process: keep its handlers' info lines out of the test output.
logger.setLogLevel('WARN');

const cluster = uniqueClusterName('rs');
const dataDir = mkdtempSync(join(tmpdir(), 'skiff-restart-'));
const options = { cluster, dataDir, hosts: 2, heartbeatSeconds: 0.25, hostGraceSeconds: 1, log: () => {} } as const;
let local: LocalCluster | undefined;

afterAll(async () => {
  try {
    await local?.stop();
  } finally {
    await removeClusterContainers(new Docker(), cluster);
    await removeContainers(cluster).catch(() => 0);
    await removeNetwork(cluster).catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }
});

const base = aSpec({ name: 'keep', replicas: 2 });
const spec: ServiceSpec = { ...base, spec: { ...base.spec, containers: [{ ...base.spec.containers[0], command: ['sleep', '3600'] }] } };

async function running(c: LocalCluster): Promise<string[]> {
  return eventually(
    async () => {
      const tasks = await c.store.listTasks('default', 'keep');
      const statuses = await c.store.listHostStatuses();
      const state = new Map(statuses.flatMap((s) => s.tasks.map((t) => [t.taskId, t.state] as const)));
      return tasks.length === 2 && tasks.every((t) => state.get(t.id) === 'running') ? tasks.map((t) => t.id).sort() : undefined;
    },
    'both replicas running',
    60_000,
  );
}

describe('starting a local cluster again', { timeout: 120_000 }, () => {
  it('waits for its agents to report before judging their silence: no host goes down, no task moves', async () => {
    local = await startLocalCluster(options);
    await local.store.putService(spec, new Date().toISOString(), 0);
    await local.schedule();
    const before = await running(local);

    await local.stop();
    local = undefined;
    const restartedAt = new Date().toISOString();
    local = await startLocalCluster(options);
    // Every freshly started agent has reported by the time the start returns, so the health check
    // (started last) never sees the agents' start-up as silence.
    const reports = await local.store.listHostStatuses();
    expect(reports.map((r) => r.hostId).sort()).toEqual(['host-1', 'host-2']);
    for (const r of reports) expect(r.heartbeatAt >= restartedAt).toBe(true);
    expect((await local.store.listHosts()).map((h) => h.state)).toEqual(['ready', 'ready']);

    expect(await running(local)).toEqual(before);
    const since = (await local.store.listEvents({ limit: 200 })).filter((e) => e.at >= restartedAt);
    expect(since.filter((e) => e.type === 'host.down')).toEqual([]);
    expect(since.filter((e) => e.type === 'task.replaced')).toEqual([]);
  });
});
