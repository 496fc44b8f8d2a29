/**
 * Host autoscaling in local mode: the Auto Scaling stand-in (local/autoscaling-server.ts) whose
 * instances are local hosts, and the same host autoscaler handler as on AWS, its adapter pointed at
 * the stand-in. Launching `host-<i>` writes its agent configuration and starts the agent on
 * 127.0.1.<i>; terminating it stops the agent and removes the host's containers (a terminated
 * machine takes its containers with it).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import Docker from 'dockerode';
import { AutoScalingHostGroup } from '../adapters/aws/auto-scaling-group.ts';
import { makeHostAutoscalerHandler, type HostAutoscalerHandler } from '../app/handlers/host-autoscaler.ts';
import { LABELS } from '../agent/executor.ts';
import { removeCredentialRoutes } from '../agent/credentials-routes.ts';
import { IptablesCredentialsNat } from '../agent/iptables-credentials-nat.ts';
import type { HostChannel, Store } from '../ports/index.ts';
import type { LocalHost } from '../cli/local-status.ts';
import { startAutoScalingServer, type AutoScalingServer } from './autoscaling-server.ts';
import { hostFiles, startAgent, stopAgent } from './cluster.ts';

/** The group's name in the stand-in (`HostAutoScalingGroupName` on AWS). */
export const LOCAL_GROUP = 'skiff-local-hosts';

export interface LocalHostScalingOptions {
  readonly dataDir: string;
  readonly cluster: string;
  /** The hosts of the cluster, kept up to date here as hosts come and go (the status file lists them). */
  readonly hosts: LocalHost[];
  readonly min: number;
  readonly max: number;
  /** Writes host `i`'s agent configuration. */
  readonly configureHost: (i: number) => void;
  readonly store: Store;
  /** Where host documents are: a terminated host's is removed when the host is forgotten. */
  readonly channel: HostChannel;
  readonly kickScheduler: () => Promise<void>;
  readonly scaleInSeconds: number;
  /** Called after the host list changed. */
  readonly onHostsChanged: () => void;
  readonly log: (line: string) => void;
}

export interface LocalHostScaling {
  readonly server: AutoScalingServer;
  readonly handler: HostAutoscalerHandler;
}

export async function startLocalHostScaling(o: LocalHostScalingOptions): Promise<LocalHostScaling> {
  const index = (id: string) => Number(/^host-(\d+)$/.exec(id)?.[1] ?? Number.NaN);
  const server = await startAutoScalingServer({
    groupName: LOCAL_GROUP,
    min: o.min,
    max: Math.max(o.max, o.hosts.length),
    instances: o.hosts.map((h) => h.id),
    // The lowest free index: host addresses stay within 127.0.1.1 to 127.0.1.<max>.
    nextId: (existing) => {
      for (let i = 1; i <= 254; i++) if (!existing.has(`host-${i}`)) return `host-${i}`;
      throw new Error('no free host index (1 to 254)');
    },
    launch: async (id) => {
      const i = index(id);
      o.configureHost(i);
      const pid = startAgent(o.dataDir, id);
      const host: LocalHost = { id, address: `127.0.1.${i}`, pid, log: hostFiles(o.dataDir, id).log };
      const at = o.hosts.findIndex((h) => h.id === id);
      if (at >= 0) o.hosts[at] = host;
      else o.hosts.push(host);
      o.log(`skiff: host ${id} at 127.0.1.${i} launched by the host autoscaler (agent pid ${pid}, log ${host.log})`);
      o.onHostsChanged();
    },
    terminate: async (id) => {
      await stopAgent(o.dataDir, o.cluster, id);
      await removeHostContainers(o.cluster, id);
      // Its credentials routes name addresses Docker will hand to other hosts' pods.
      await removeCredentialRoutes(new IptablesCredentialsNat(), o.cluster, id);
      // A terminated machine's disk goes with it. Locally the id is used again (an EC2 instance id never
      // is): an agent that found this state would take itself for the old host and ignore its new
      // documents, whose generations start again at 1.
      rmSync(join(o.dataDir, 'agents', `${id}.json`), { force: true });
      const at = o.hosts.findIndex((h) => h.id === id);
      if (at >= 0) o.hosts.splice(at, 1);
      o.log(`skiff: host ${id} terminated by the host autoscaler`);
      o.onHostsChanged();
    },
    log: (line) => o.log(`skiff: ${line}`),
  });
  const client = new AutoScalingClient({
    endpoint: server.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
  const handler = makeHostAutoscalerHandler({
    store: o.store,
    group: new AutoScalingHostGroup(client, LOCAL_GROUP),
    // cluster-autoscaler's 50% threshold; the unneeded time is short locally so that a run shows it.
    policy: { utilizationThreshold: 0.5, unneededMs: o.scaleInSeconds * 1000 },
    now: () => new Date(),
    kickScheduler: o.kickScheduler,
    channel: o.channel,
    log: (m, d) => o.log(`skiff: host autoscaler: ${m}${d ? ` ${JSON.stringify(d)}` : ''}`),
  });
  return { server, handler };
}

/** Removes a terminated host's containers (they would outlive its agent otherwise). */
async function removeHostContainers(cluster: string, id: string, docker = new Docker()): Promise<void> {
  const list = await docker.listContainers({ all: true, filters: { label: [`${LABELS.cluster}=${cluster}`, `${LABELS.host}=${id}`] } });
  await Promise.all(
    list.map((c) =>
      docker
        .getContainer(c.Id)
        .remove({ force: true, v: true })
        .catch(() => undefined),
    ),
  );
}
