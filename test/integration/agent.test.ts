/**
 * The agent against real Docker, the SSM stand-in and dynalite: applies its host document,
 * removes what is not in it, restarts crashed containers, and adopts its containers after a
 * restart instead of recreating them.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { Agent, type AgentConfig, type AgentDeps } from '../../agent/agent.ts';
import { DockerExecutor, containerSpecHash } from '../../agent/docker.ts';
import { DockerHostNetwork } from '../../agent/host-network.ts';
import { contains } from '../../core/cidr.ts';
import { DynamoStore } from '../../adapters/aws/dynamo-store.ts';
import { SsmHostChannel } from '../../adapters/aws/ssm-channel.ts';
import { dynaliteClient, ensureTable, startDynalite, type DynaliteServer } from '../../local/dynalite.ts';
import { startSsmServer, type SsmServer } from '../../local/ssm-server.ts';
import type { HostDocument, HostDocumentTask } from '../../core/types.ts';
import { removeClusterContainers, uniqueClusterName, TEST_IMAGE } from '../helpers/docker.ts';
import { eventually } from '../helpers/cli.ts';
import { LABELS } from '../../agent/executor.ts';
import { SANDBOX } from '../../agent/pod-sandbox.ts';

const docker = new Docker();
const cluster = uniqueClusterName('ag');
const dir = mkdtempSync(join(tmpdir(), 'skiff-agent-'));
let dynamo: DynaliteServer;
let ssm: SsmServer;
let client: DynamoDBClient;
let ssmClient: SSMClient;
let store: DynamoStore;
let channel: SsmHostChannel;
const agents: Agent[] = [];
// A container subnet in 10.231.128.0/17, which no route here uses (host-network.test.ts takes the lower half).
// Containers get addresses in it; nothing is ever sent to them from the host.
const hostSubnet = `10.231.${128 + Math.floor(Math.random() * 128)}.0/24`;
// The agent's iptables calls go to a stand-in that succeeds and prints no rules: the host's nat table is left alone.
const fakeIptables = join(dir, 'iptables');

beforeAll(async () => {
  dynamo = await startDynalite();
  client = dynaliteClient(dynamo.endpoint);
  await ensureTable(client, 'skiff');
  store = new DynamoStore(client, { tableName: 'skiff' });
  ssm = await startSsmServer({ limits: false });
  ssmClient = new SSMClient({ endpoint: ssm.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
  channel = new SsmHostChannel(ssmClient, { prefix: `/skiff/${cluster}` });
  writeFileSync(fakeIptables, '#!/bin/sh\nexit 0\n');
  chmodSync(fakeIptables, 0o755);
});

afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.stop()));
  await removeClusterContainers(docker, cluster);
});

afterAll(async () => {
  try {
    ssmClient?.destroy();
    client?.destroy();
    await ssm?.close();
    await dynamo?.close();
  } finally {
    await removeClusterContainers(docker, cluster);
    rmSync(dir, { recursive: true, force: true });
  }
});

function task(id: string, command: string[] = ['sh', '-c', 'exec httpd -f -p 8080 -h /'], restartPolicy: 'always' | 'never' = 'always'): HostDocumentTask {
  return {
    id,
    namespace: 'default',
    service: id.replace(/-\d+-[a-z0-9]+$/, ''),
    slot: 1,
    specVersion: 1,
    pod: {
      restartPolicy,
      containers: [
        {
          name: 'web',
          image: TEST_IMAGE,
          command,
          env: {},
          ports: [{ containerPort: 8080, protocol: 'tcp' }],
          resources: { cpu: 100, memory: 16 * 1024 * 1024 },
        },
      ],
    },
  };
}

async function startAgent(hostId: string, log: AgentDeps['log'] = () => {}): Promise<Agent> {
  const config: AgentConfig = {
    cluster,
    hostId,
    address: '127.0.1.9',
    capacity: { cpu: 2000, memory: 1024 ** 3 },
    labels: {},
    pollMs: 200,
    heartbeatMs: 500,
    reconcileMs: 200,
    stateFile: join(dir, `${hostId}.json`),
    stopGraceSeconds: 2,
    parallelism: 4,
  };
  const agent = new Agent(config, {
    store,
    channel,
    executor: new DockerExecutor({ cluster, hostId }),
    network: new DockerHostNetwork({ cluster, iptables: fakeIptables }),
    hashOf: containerSpecHash,
    now: () => Date.now(),
    random: () => 0.5,
    log,
    version: 'test',
  });
  agents.push(agent);
  await agent.start();
  return agent;
}

const publish = (hostId: string, generation: number, tasks: HostDocumentTask[]) =>
  channel.publish({ cluster, hostId, generation, tasks } satisfies HostDocument);
const allContainersOf = (hostId: string) =>
  docker.listContainers({ all: true, filters: { label: [`${LABELS.cluster}=${cluster}`, `${LABELS.host}=${hostId}`] } });
/** The app containers (every pod also has a sandbox, agent/pod-sandbox.ts). */
const containersOf = async (hostId: string) => (await allContainersOf(hostId)).filter((c) => c.Labels[LABELS.container] !== SANDBOX);

describe('the agent', () => {
  it('runs the tasks of its document, reports them, and removes what the document no longer lists', async () => {
    await publish('ha', 1, [task('one-1-aaaaa'), task('two-1-bbbbb')]);
    await startAgent('ha');
    // The file's first agent start and its first two pods: tens of seconds on a loaded machine.
    const status = await eventually(
      async () => {
        const s = await store.getHostStatus('ha');
        return s && s.tasks.length === 2 && s.tasks.every((t) => t.state === 'running') ? s : undefined;
      },
      'both tasks running',
      90_000,
    );
    expect(status.generation).toBe(1);
    const one = status.tasks.find((t) => t.taskId === 'one-1-aaaaa')!;
    // No network in the document: the executor's configured one (here Docker's default bridge).
    expect(one.address).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(contains(hostSubnet, `${one.address}/32`)).toBe(false);
    const port = one.ports[0];
    expect(port).toMatchObject({ containerPort: 8080, hostIp: '127.0.1.9' });
    // Each attempt has its own deadline: a published port can accept before the container behind it answers.
    const answered = await eventually(
      async () => {
        const res = await fetch(`http://${port.hostIp}:${port.hostPort}/`, { signal: AbortSignal.timeout(5_000) });
        await res.body?.cancel();
        return res.status;
      },
      `the published port ${port.hostIp}:${port.hostPort} answering`,
      60_000,
    );
    expect(answered).toBeLessThan(500);

    await publish('ha', 2, [task('one-1-aaaaa')]);
    await eventually(async () => ((await allContainersOf('ha')).length === 2 ? true : undefined), 'the dropped task removed, sandbox and all', 60_000);
    expect((await containersOf('ha'))[0].Labels[LABELS.task]).toBe('one-1-aaaaa');
  }, 240_000);

  it('writes its whole report when it changes, and only the small heartbeat while it does not', async () => {
    await publish('hb', 1, [task('beat-1-aaaaa')]);
    await startAgent('hb');
    const settled = await eventually(async () => {
      const s = await store.getHostStatus('hb');
      return s?.tasks[0]?.state === 'running' ? s : undefined;
    }, 'the task running');
    const doc = DynamoDBDocumentClient.from(client);
    const raw = async (sk: string) =>
      (await doc.send(new GetCommand({ TableName: 'skiff', Key: { pk: 'HOST#hb', sk }, ConsistentRead: true }))).Item as { heartbeatAt: string } | undefined;
    // Heartbeats (every 500 ms here) move the status's time on while the report item stays as written.
    const later = await eventually(async () => {
      const s = await store.getHostStatus('hb');
      return s && s.heartbeatAt > settled.heartbeatAt ? s : undefined;
    }, 'a heartbeat after the report');
    expect(later.tasks).toEqual(settled.tasks);
    const beat = await raw('BEAT');
    const report = await raw('STATUS');
    expect(beat!.heartbeatAt).toBe(later.heartbeatAt);
    expect(report!.heartbeatAt < beat!.heartbeatAt).toBe(true);
  });

  it('runs pods on the host network of a document that carries one, and reports their addresses in its subnet', async () => {
    await channel.publish({
      cluster,
      hostId: 'hn',
      generation: 1,
      tasks: [task('routed-1-aaaaa')],
      network: { subnet: hostSubnet, clusterCidr: '10.231.0.0/16' },
    });
    await startAgent('hn');
    const status = await eventually(async () => {
      const t = (await store.getHostStatus('hn'))?.tasks[0];
      return t?.state === 'running' && t.address ? t : undefined;
    }, 'the task running with an address');
    expect(contains(hostSubnet, `${status.address}/32`)).toBe(true);
    // The sandbox owns the pod's network namespace, and so its address.
    const [c] = (await allContainersOf('hn')).filter((x) => x.Labels[LABELS.container] === SANDBOX);
    const info = await docker.getContainer(c.Id).inspect();
    const endpoint = info.NetworkSettings.Networks[`skiff-${cluster}`];
    expect(endpoint.IPAddress).toBe(status.address);
    expect(endpoint.Aliases).toEqual(expect.arrayContaining(['routed.default.skiff.internal', 'routed-1-aaaaa.routed.default.skiff.internal']));
  });

  it('creates no pod while its host network cannot be brought up, and creates it once the obstacle is gone', async () => {
    // The cluster's network already exists on another subnet, and a container still uses it.
    const [a, b, c] = hostSubnet.split('.');
    const stale = `${a}.${b}.${c === '255' ? '254' : Number(c) + 1}.0/24`;
    await docker.createNetwork({ Name: `skiff-${cluster}`, Driver: 'bridge', IPAM: { Config: [{ Subnet: stale }] }, Labels: { [LABELS.cluster]: cluster } });
    const blocker = await docker.createContainer({
      Image: TEST_IMAGE,
      Cmd: ['true'],
      name: `skiff.${cluster}.blocker`,
      Labels: { [LABELS.cluster]: cluster },
      HostConfig: { NetworkMode: `skiff-${cluster}` },
    });
    const errors: string[] = [];
    await channel.publish({
      cluster,
      hostId: 'hf',
      generation: 1,
      tasks: [task('wait-1-aaaaa')],
      network: { subnet: hostSubnet, clusterCidr: '10.231.0.0/16' },
    });
    const agent = await startAgent('hf', (level, message, data) => {
      if (level === 'error') errors.push(`${message}: ${String(data?.error)}`);
    });
    await eventually(async () => (agent.generation === 1 ? true : undefined), 'the document applied');
    await agent.reconcileNow();
    await agent.reconcileNow();
    expect(await allContainersOf('hf')).toEqual([]);
    // Logged once, not once per round.
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(`has subnet ${stale} but this host's container subnet is now ${hostSubnet}`);

    await blocker.remove({ force: true });
    const status = await eventually(async () => {
      const t = (await store.getHostStatus('hf'))?.tasks[0];
      return t?.state === 'running' && t.address ? t : undefined;
    }, 'the task running once the network could be recreated');
    expect(contains(hostSubnet, `${status.address}/32`)).toBe(true);
  });

  it('ignores a document older than the one it applied', async () => {
    // A host of its own: another test's saved document for its host would start that test's pod here first,
    // and that pod can still be stopping (drain and grace period) when the containers are counted.
    await publish('ho', 5, [task('new-1-aaaaa')]);
    const agent = await startAgent('ho');
    await eventually(async () => (agent.generation === 5 ? true : undefined), 'generation 5 applied');
    await channel.remove('ho');
    await publish('ho', 3, []);
    await agent.pollNow();
    await agent.reconcileNow();
    expect(agent.generation).toBe(5);
    expect((await containersOf('ho')).map((c) => [c.Labels[LABELS.task], c.State])).toEqual([['new-1-aaaaa', 'running']]);
  });

  it('restarts a crashed container in place', async () => {
    await publish('hc', 1, [task('crash-1-aaaaa')]);
    await startAgent('hc');
    const [before] = await eventually(async () => {
      const c = await containersOf('hc');
      return c.length === 1 && c[0].State === 'running' ? c : undefined;
    }, 'the container running');
    await docker.getContainer(before.Id).kill();
    await eventually(async () => {
      const c = await docker.getContainer(before.Id).inspect();
      return c.State.Running && c.RestartCount === 0 && Date.parse(c.State.StartedAt) > Date.parse(c.State.FinishedAt) ? true : undefined;
    }, 'the same container running again');
  });

  it('leaves a task that exited alone under restartPolicy never, and reports its exit code', async () => {
    await publish('hd', 1, [task('once-1-aaaaa', ['sh', '-c', 'exit 7'], 'never')]);
    await startAgent('hd');
    const status = await eventually(async () => {
      const s = await store.getHostStatus('hd');
      const t = s?.tasks[0];
      return t?.state === 'failed' ? t : undefined;
    }, 'the task reported failed');
    expect(status.exitCode).toBe(7);
    expect(status.message).toContain('exited with code 7');
  });

  it('reports a container killed for going over its memory limit as OOMKilled, in the task message and its events', async () => {
    const hog = task('hog-1-aaaaa', ['sh', '-c', 'x=aaaaaaaaaaaaaaaa; while :; do x="$x$x"; done']);
    await publish('hm', 1, [hog]);
    await startAgent('hm');
    const status = await eventually(
      async () => {
        const s = await store.getHostStatus('hm');
        const t = s?.tasks[0];
        return t?.message?.includes('OOMKilled') && s?.events?.some((e) => e.type === 'task.restarted' && e.message.includes('OOMKilled')) ? s : undefined;
      },
      'the OOM kill reported',
      30_000,
    );
    expect(status.tasks[0]).toMatchObject({ state: 'failed', exitCode: 137 });
    expect(status.tasks[0].message).toMatch(/^container web was OOMKilled \(it used more than its memory limit\)/);
  });

  it('adopts its running containers after a restart instead of recreating them', async () => {
    await publish('he', 1, [task('keep-1-aaaaa'), task('keep-2-bbbbb')]);
    const first = await startAgent('he');
    const before = await eventually(async () => {
      const c = await containersOf('he');
      return c.length === 2 && c.every((x) => x.State === 'running') ? c : undefined;
    }, 'two containers running');
    await first.stop();
    agents.splice(agents.indexOf(first), 1);
    // The control plane is unreachable for the new agent: it works from its saved document.
    await channel.remove('he');
    const second = await startAgent('he');
    expect(second.generation).toBe(1);
    await second.pollNow();
    await second.reconcileNow();
    const after = await containersOf('he');
    expect(after.map((c) => c.Id).sort()).toEqual(before.map((c) => c.Id).sort());
    expect(after.every((c) => c.State === 'running')).toBe(true);
  });
});
