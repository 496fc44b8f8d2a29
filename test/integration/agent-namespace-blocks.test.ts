/**
 * The agent with an isolating host document against real Docker (docs/network.md, "Isolation
 * rules"): each pod on its namespace's block bridge with an address in that block, and the document's
 * rules written with those addresses. iptables is a stand-in that succeeds (the host's nat table is
 * left alone) and the chain goes to the in-memory filter; the subnet is in 10.231.0.0/16, which no
 * route here uses, and nothing is sent to it.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { DockerExecutor, containerSpecHash } from '../../agent/docker.ts';
import { DockerHostNetwork } from '../../agent/host-network.ts';
import { HostIsolation } from '../../agent/host-isolation.ts';
import { MemoryPacketFilter } from '../../agent/packet-filter.ts';
import { contains } from '../../core/cidr.ts';
import { documentRules, taskIsolation } from '../../core/packet-filter.ts';
import type { HostDocumentTask, HostNetwork } from '../../core/types.ts';
import { documentChannel, RecordingStore, startTestAgent, stopTestAgents, testTask, until } from '../helpers/agent-harness.ts';
import { removeClusterContainers, TEST_IMAGE, uniqueClusterName } from '../helpers/docker.ts';

const docker = new Docker();
const cluster = uniqueClusterName('nb');
const dir = mkdtempSync(join(tmpdir(), 'skiff-blocks-'));
const fakeIptables = join(dir, 'iptables');
// A random third octet, so a stale network of an earlier run does not collide.
const octet = Math.floor(Math.random() * 250);
const network: HostNetwork = { subnet: `10.231.${octet}.0/24`, clusterCidr: '10.231.0.0/16', blockPrefix: 26 };
const slots = { shop: 1, team: 2 };

beforeAll(() => {
  writeFileSync(fakeIptables, '#!/bin/sh\nexit 0\n');
  chmodSync(fakeIptables, 0o755);
});

afterEach(async () => {
  await stopTestAgents();
  await removeClusterContainers(docker, cluster);
});

afterAll(async () => {
  try {
    await removeClusterContainers(docker, cluster);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function task(id: string, namespace: string, allowFrom?: string[]): HostDocumentTask {
  const t = testTask(id, {
    namespace,
    spec: { containers: [{ name: 'app', image: TEST_IMAGE, command: ['sleep', '3600'] }], ...(allowFrom ? { network: { allowFrom } } : {}) },
  });
  return { ...t, isolation: taskIsolation(t, slots) };
}

describe('the agent on namespace blocks', () => {
  it("runs each pod on its namespace's block bridge and writes the rules with the pods' addresses", { timeout: 120_000 }, async () => {
    const tasks = [task('db-1', 'team', ['shop']), task('web-1', 'shop')];
    const store = new RecordingStore();
    const filter = new MemoryPacketFilter();
    startTestAgent(
      {
        store,
        executor: new DockerExecutor({ cluster, hostId: 'h1' }),
        channel: documentChannel({ current: { cluster, hostId: 'h1', generation: 1, network, tasks } }),
        network: new DockerHostNetwork({ cluster, iptables: fakeIptables }),
        hostIsolation: new HostIsolation({ filter, log: () => {}, now: () => Date.now() }),
        hashOf: containerSpecHash,
      },
      { cluster, reconcileMs: 200, heartbeatMs: 500 },
    );
    // Two pods' first start on a loaded machine: tens of seconds.
    const addresses = await until(
      () => {
        const last = store.statuses.at(-1);
        const running = new Map((last?.tasks ?? []).filter((t) => t.state === 'running' && t.address).map((t) => [t.taskId, t.address!]));
        return running.size === 2 ? running : undefined;
      },
      'both pods running with addresses',
      90_000,
    );
    expect(contains(`10.231.${octet}.64/26`, `${addresses.get('web-1')}/32`)).toBe(true);
    expect(contains(`10.231.${octet}.128/26`, `${addresses.get('db-1')}/32`)).toBe(true);
    const bridges = (await docker.listNetworks({ filters: { label: [`skiff.cluster=${cluster}`] } })).map((n) => n.Name).sort();
    expect(bridges).toEqual([`skiff-${cluster}-block-1`, `skiff-${cluster}-block-2`]);
    // The round after the addresses: the per-replica allow of shop into team's db.
    const expected = documentRules(network, tasks, (id) => addresses.get(id));
    await until(() => (JSON.stringify(filter.rules) === JSON.stringify(expected) ? true : undefined), 'the rules with the addresses', 30_000);
    expect(filter.rules.find((r) => r.comment === 'skiff: slot 1 let in to db-1')?.destination).toBe(addresses.get('db-1'));
  });
});
