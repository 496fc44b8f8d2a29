/**
 * The agent's entry point: reads its configuration from the environment once, wires the AWS SDK
 * adapters (endpoints overridden in local mode), and runs until SIGTERM/SIGINT. Stopping the
 * agent leaves its containers running: a restarted agent adopts them.
 *
 * SIGUSR1 wakes it to read its host document now (sent by SSM Run Command on AWS, by the local
 * cluster's waker locally).
 */
import { cpus, totalmem } from 'node:os';
import { writeFileSync, rmSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SSMClient } from '@aws-sdk/client-ssm';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { CloudWatchLogStore } from '../adapters/aws/cloudwatch-log-store.ts';
import { hostStream } from '../core/logs.ts';
import { LogShipper } from './log-shipper.ts';
import { DockerLogSource } from './docker-logs.ts';
import { DynamoStore } from '../adapters/aws/dynamo-store.ts';
import { HostScopedStore } from '../adapters/host-scoped-store.ts';
import { hostChannelConfig, makeHostChannel } from '../app/host-channel-config.ts';
import { SsmSecretVault } from '../adapters/aws/ssm-secrets.ts';
import { withSecretEnv } from './secrets.ts';
import { identityFromEnv } from './identity-wiring.ts';
import { withWorkloadIdentity } from './workload-identity.ts';
import { Agent } from './agent.ts';
import { CgroupUsageSource } from './usage.ts';
import { DockerExecutor, containerSpecHash } from './docker.ts';
import { DockerHostNetwork } from './host-network.ts';
import { HostIsolation } from './host-isolation.ts';
import { NamespaceNetworks } from './namespace-network.ts';
import { GuestIsolation } from './guest-isolation.ts';
import { IptablesFilter } from './packet-filter.ts';
import { DockerVolumeManager, type VolumeManager } from './volumes.ts';
import { EfsVolumeManager, HostMounter } from './efs-volumes.ts';
import { EfsAccessPoints } from '../adapters/aws/efs-access-points.ts';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import Dockerode from 'dockerode';
import { ConfigError, numberEnv, optionalEnv, requireEnv } from '../app/env.ts';
import { ENV } from '../app/env-names.ts';
import { DRAIN_SECONDS, MAX_DRAIN_SECONDS } from '../core/stopping.ts';
import { parseCpu, parseMemory } from '../core/quantity.ts';
import { ec2Identity, hostCapacity, type Ec2Identity } from './imds.ts';

const VERSION = '0.1.0';

function labelsFrom(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!text) return out;
  for (const pair of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new ConfigError(`${ENV.hostLabels}: "${pair}" is not key=value`);
    out[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  return out;
}

/** Ships the agent's own lines to its `host/<id>` stream once central logs are wired (docs/logs.md). */
let shipOwnLine: ((line: string) => void) | undefined;

function log(level: 'info' | 'warn' | 'error', message: string, data?: Record<string, unknown>): void {
  const line = JSON.stringify({ time: new Date().toISOString(), level, component: 'agent', host: process.env[ENV.hostId], message, ...data });
  if (level === 'error') console.error(line);
  else console.log(line);
  shipOwnLine?.(line);
}

/** The host's identity from IMDSv2, or a ConfigError that says what to set instead. */
async function ec2IdentityFor(env: NodeJS.ProcessEnv): Promise<Ec2Identity> {
  try {
    return await ec2Identity({ env });
  } catch (err) {
    throw new ConfigError(
      `cannot read this host's identity from EC2 instance metadata (${(err as Error).message}); off EC2, set ${ENV.hostId} and ${ENV.hostAddress}`,
    );
  }
}

async function main(): Promise<void> {
  const env = process.env;
  const cluster = requireEnv(env, ENV.cluster);
  // Identity: environment values win; what they leave out comes from EC2 instance metadata when
  // SKIFF_HOST_ID is absent or SKIFF_IDENTITY=ec2 (SKIFF_IDENTITY=env never asks IMDS).
  const identityMode = optionalEnv(env, ENV.identity);
  if (identityMode !== undefined && identityMode !== 'ec2' && identityMode !== 'env') {
    throw new ConfigError(`${ENV.identity} must be "ec2" or "env", got "${identityMode}"`);
  }
  const ec2 = identityMode === 'ec2' || (identityMode === undefined && optionalEnv(env, ENV.hostId) === undefined) ? await ec2IdentityFor(env) : undefined;
  const hostId = optionalEnv(env, ENV.hostId) ?? ec2?.hostId ?? requireEnv(env, ENV.hostId);
  const address = optionalEnv(env, ENV.hostAddress) ?? ec2?.address ?? requireEnv(env, ENV.hostAddress);
  const region = optionalEnv(env, ENV.region) ?? optionalEnv(env, 'AWS_REGION') ?? ec2?.region;
  // Credentials: none are configured here. The SDK clients below use the default provider chain,
  // which on EC2 ends at the instance profile (through IMDS), and locally at the environment.
  const common = region ? { region } : {};
  const dynamodbEndpoint = optionalEnv(env, ENV.dynamodbEndpoint);
  const ssmEndpoint = optionalEnv(env, ENV.ssmEndpoint);
  const stateDir = optionalEnv(env, ENV.stateDir) ?? '/var/lib/skiff-agent';
  const pidFile = optionalEnv(env, ENV.pidFile);

  const cpuText = optionalEnv(env, ENV.hostCpu);
  const memText = optionalEnv(env, ENV.hostMemory);
  let capacity: ReturnType<typeof hostCapacity>;
  try {
    // SKIFF_HOST_CPU / SKIFF_HOST_MEMORY override what the OS reports (less memoryReserve: the OS, Docker, the agent).
    const fromOs = cpuText && memText ? undefined : hostCapacity(cpus().length, totalmem());
    capacity = {
      cpu: cpuText ? parseCpu(cpuText) : fromOs!.cpu,
      memory: memText ? parseMemory(memText) : fromOs!.memory,
    };
  } catch (err) {
    throw new ConfigError(`${ENV.hostCpu} / ${ENV.hostMemory}: ${(err as Error).message}`);
  }

  // The host's own items are keyed by its instance ARN on AWS, the key its IAM role may touch.
  const hostArnPrefix = optionalEnv(env, ENV.hostArnPrefix) ?? '';
  const dynamo = new DynamoDBClient({ ...common, ...(dynamodbEndpoint ? { endpoint: dynamodbEndpoint } : {}) });
  const store = new DynamoStore(dynamo, { tableName: requireEnv(env, ENV.table), hostArnPrefix });
  // The cluster's host channel (SKIFF_HOST_CHANNEL): its document on Parameter Store, or an item of the host document table.
  const channel = makeHostChannel(hostChannelConfig(env), {
    dynamo: () => dynamo,
    ssm: () => new SSMClient({ ...common, ...(ssmEndpoint ? { endpoint: ssmEndpoint } : {}) }),
    paramPrefix: optionalEnv(env, ENV.paramPrefix) ?? `/skiff/${cluster}`,
    hostArnPrefix,
  });
  const network = optionalEnv(env, ENV.network);
  const zone = optionalEnv(env, ENV.dnsZone) ?? 'skiff.internal';
  const paramPrefix = optionalEnv(env, ENV.paramPrefix) ?? `/skiff/${cluster}`;
  const docker = new Dockerode();
  // Secret values come from the vault with this host's permissions, only for the containers it creates.
  // Workload identity (docs/identity.md): bound to the agent once it exists (its tasks, its events).
  let agentRef: Agent | undefined;
  const identity = identityFromEnv(env, {
    docker,
    stateDir,
    hostId,
    cluster,
    region,
    network,
    log,
    note: (type, message, about) => agentRef?.note(type, message, about),
    tasks: () => agentRef?.tasks ?? [],
  });
  const dockerExecutor = new DockerExecutor({ docker, cluster, hostId, zone, ...(network ? { network } : {}) });
  // Inside the secret wrapper: it passes its values on in secretEnv, which the identity wrapper adds to.
  const executor = withSecretEnv(
    identity.identity ? withWorkloadIdentity(dockerExecutor, identity.identity) : dockerExecutor,
    new SsmSecretVault(new SSMClient({ ...common, ...(ssmEndpoint ? { endpoint: ssmEndpoint } : {}) }), { prefix: paramPrefix }),
  );
  // Used only when the host document carries a container network (AWS); local documents carry none.
  const hostNetwork = new DockerHostNetwork({
    cluster,
    iptables: optionalEnv(env, ENV.iptables) ?? 'iptables',
    mtu: numberEnv(env, ENV.networkMtu, 9001, { min: 68, max: 65535 }),
  });

  const agent = new Agent(
    {
      cluster,
      hostId,
      address,
      capacity,
      labels: { ...(ec2 ? { zone: ec2.zone } : {}), ...labelsFrom(optionalEnv(env, ENV.hostLabels)) },
      ...(ec2?.instanceType ? { instanceType: ec2.instanceType } : {}),
      pollMs: numberEnv(env, ENV.pollSeconds, 100, { min: 0.1 }) * 1000,
      heartbeatMs: numberEnv(env, ENV.heartbeatSeconds, 15, { min: 0.1 }) * 1000,
      reconcileMs: numberEnv(env, ENV.reconcileSeconds, 1, { min: 0.1 }) * 1000,
      stateFile: join(stateDir, `${hostId}.json`),
      stopGraceSeconds: numberEnv(env, ENV.stopGraceSeconds, 10, { min: 0, max: 600 }),
      // The ALB's deregistration delay by default: infra sets both from one value (infra/ingress.ts).
      drainSeconds: numberEnv(env, ENV.drainSeconds, DRAIN_SECONDS.aws, { min: 0, max: MAX_DRAIN_SECONDS }),
      parallelism: numberEnv(env, ENV.parallelism, 4, { min: 1, max: 64 }),
      dockerStallMs: numberEnv(env, ENV.dockerStallSeconds, 30, { min: 1 }) * 1000,
    },
    // Only this host's own report and heartbeat, from an allow-list of fields: IAM's rule on AWS, this
    // adapter locally. The host record is the control plane's: it registers the host from the claim.
    {
      store: new HostScopedStore(store, hostId),
      channel,
      executor,
      network: hostNetwork,
      ...(network
        ? {
            namespaceNetworks: new NamespaceNetworks(network, cluster),
            // allowFrom one way: guests of other namespaces' networks answer there, never open (agent/guest-isolation.ts).
            isolation: new GuestIsolation({
              docker,
              filter: new IptablesFilter({ cluster, hostId, iptables: optionalEnv(env, ENV.iptables) ?? 'iptables' }),
              log,
              now: () => Date.now(),
            }),
          }
        : {
            // AWS: the rules of the document's namespace blocks, when it has them (agent/host-isolation.ts).
            hostIsolation: new HostIsolation({
              filter: new IptablesFilter({ cluster, hostId, iptables: optionalEnv(env, ENV.iptables) ?? 'iptables' }),
              log,
              now: () => Date.now(),
            }),
          }),
      volumes: volumeManager(docker, cluster, hostId, optionalEnv(env, ENV.efsFileSystemId), region),
      hashOf: containerSpecHash,
      now: () => Date.now(),
      random: Math.random,
      log,
      version: VERSION,
      usage: new CgroupUsageSource(),
    },
  );

  agentRef = agent;
  const stopIdentity = identity.start(
    () => agent.tasks,
    () => agent.generation > 0,
  );
  const stopLogs = startLogShipping(env, docker, dockerExecutor, hostId, common);

  if (pidFile) {
    mkdirSync(dirname(pidFile), { recursive: true });
    writeFileSync(pidFile, String(process.pid));
  }
  process.on('SIGUSR1', () => agent.wake());
  const shutdown = async (signal: string) => {
    log('info', 'stopping agent; containers keep running', { signal });
    await agent.stop();
    await stopIdentity();
    await stopLogs();
    if (pidFile) rmSync(pidFile, { force: true });
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  log('info', 'agent starting', { cluster, host: hostId, capacity });
  await agent.start();
}

main().catch((err) => {
  log('error', err instanceof ConfigError ? err.message : 'agent failed to start', { error: (err as Error).stack });
  process.exit(1);
});

/**
 * Central logs (docs/logs.md): with a log group configured, every container's output and the
 * agent's own log go to it. The containers are listed every 2 s; a new one's lines are read from
 * its start, so the interval delays no line. Returns the stop, which puts what is buffered.
 */
function startLogShipping(
  env: NodeJS.ProcessEnv,
  docker: Dockerode,
  executor: DockerExecutor,
  hostId: string,
  common: { region?: string },
): () => Promise<void> {
  const group = optionalEnv(env, ENV.logGroup);
  if (!group) return async () => undefined;
  const endpoint = optionalEnv(env, ENV.logsEndpoint);
  const store = new CloudWatchLogStore(new CloudWatchLogsClient({ ...common, ...(endpoint ? { endpoint } : {}) }), group);
  // The shipper's own warnings go to stdout only: shipping them would feed a failing shipper.
  const quiet = (level: 'info' | 'warn' | 'error', message: string, data?: Record<string, unknown>) =>
    console.log(JSON.stringify({ time: new Date().toISOString(), level, component: 'log-shipper', host: hostId, message, ...data }));
  const shipper = new LogShipper({ store, source: new DockerLogSource(docker), log: quiet });
  shipOwnLine = (line) => shipper.line(hostStream(hostId), line);
  let listing = false;
  const tick = () => {
    if (listing) return;
    listing = true;
    executor
      .list()
      .then((containers) => shipper.sync(containers))
      .catch((err: Error) => quiet('warn', 'cannot list containers for log shipping', { error: err.message }))
      .finally(() => {
        listing = false;
      });
  };
  tick();
  const timer = setInterval(tick, 2000);
  return async () => {
    clearInterval(timer);
    shipOwnLine = undefined;
    await shipper.stop();
  };
}

/** Local Docker volumes, or EFS access points for persistent volumes when the cluster has a file system (AWS). */
function volumeManager(docker: Dockerode, cluster: string, hostId: string, efsFileSystemId: string | undefined, region: string | undefined): VolumeManager {
  const local = new DockerVolumeManager(docker, cluster, hostId);
  if (!efsFileSystemId) return local;
  if (!region) throw new ConfigError(`${ENV.efsFileSystemId} is set but no region is known: set ${ENV.region} or AWS_REGION`);
  return new EfsVolumeManager({
    fileSystemId: efsFileSystemId,
    accessPoints: new EfsAccessPoints({ region, fileSystemId: efsFileSystemId, clusterName: cluster, credentials: defaultProvider() }),
    mounter: new HostMounter(),
    local,
  });
}
