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
import { DynamoStore } from '../adapters/aws/dynamo-store.ts';
import { SsmHostChannel } from '../adapters/aws/ssm-channel.ts';
import { Agent } from './agent.ts';
import { DockerExecutor, containerSpecHash } from './docker.ts';
import { DockerHostNetwork } from './host-network.ts';
import { ConfigError, numberEnv, optionalEnv, requireEnv } from '../functions/env.ts';
import { parseCpu, parseMemory } from '../core/quantity.ts';
import { ec2Identity, hostCapacity, type Ec2Identity } from './imds.ts';

const VERSION = '0.1.0';

function labelsFrom(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!text) return out;
  for (const pair of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new ConfigError(`SKIFF_HOST_LABELS: "${pair}" is not key=value`);
    out[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  return out;
}

function log(level: 'info' | 'warn' | 'error', message: string, data?: Record<string, unknown>): void {
  const line = JSON.stringify({ time: new Date().toISOString(), level, component: 'agent', host: process.env.SKIFF_HOST_ID, message, ...data });
  if (level === 'error') console.error(line);
  else console.log(line);
}

/** The host's identity from IMDSv2, or a ConfigError that says what to set instead. */
async function ec2IdentityFor(env: NodeJS.ProcessEnv): Promise<Ec2Identity> {
  try {
    return await ec2Identity({ env });
  } catch (err) {
    throw new ConfigError(`cannot read this host's identity from EC2 instance metadata (${(err as Error).message}); off EC2, set SKIFF_HOST_ID and SKIFF_HOST_ADDRESS`);
  }
}

async function main(): Promise<void> {
  const env = process.env;
  const cluster = requireEnv(env, 'SKIFF_CLUSTER');
  // Identity: environment values win; what they leave out comes from EC2 instance metadata when
  // SKIFF_HOST_ID is absent or SKIFF_IDENTITY=ec2 (SKIFF_IDENTITY=env never asks IMDS).
  const identityMode = optionalEnv(env, 'SKIFF_IDENTITY');
  if (identityMode !== undefined && identityMode !== 'ec2' && identityMode !== 'env') {
    throw new ConfigError(`SKIFF_IDENTITY must be "ec2" or "env", got "${identityMode}"`);
  }
  const ec2 = identityMode === 'ec2' || (identityMode === undefined && optionalEnv(env, 'SKIFF_HOST_ID') === undefined) ? await ec2IdentityFor(env) : undefined;
  const hostId = optionalEnv(env, 'SKIFF_HOST_ID') ?? ec2?.hostId ?? requireEnv(env, 'SKIFF_HOST_ID');
  const address = optionalEnv(env, 'SKIFF_HOST_ADDRESS') ?? ec2?.address ?? requireEnv(env, 'SKIFF_HOST_ADDRESS');
  const region = optionalEnv(env, 'SKIFF_REGION') ?? optionalEnv(env, 'AWS_REGION') ?? ec2?.region;
  // Credentials: none are configured here. The SDK clients below use the default provider chain,
  // which on EC2 ends at the instance profile (through IMDS), and locally at the environment.
  const common = region ? { region } : {};
  const dynamodbEndpoint = optionalEnv(env, 'SKIFF_DYNAMODB_ENDPOINT');
  const ssmEndpoint = optionalEnv(env, 'SKIFF_SSM_ENDPOINT');
  const stateDir = optionalEnv(env, 'SKIFF_STATE_DIR') ?? '/var/lib/skiff-agent';
  const pidFile = optionalEnv(env, 'SKIFF_PID_FILE');

  const cpuText = optionalEnv(env, 'SKIFF_HOST_CPU');
  const memText = optionalEnv(env, 'SKIFF_HOST_MEMORY');
  let capacity;
  try {
    // SKIFF_HOST_CPU / SKIFF_HOST_MEMORY override what the OS reports (less memoryReserve: the OS, Docker, the agent).
    const fromOs = cpuText && memText ? undefined : hostCapacity(cpus().length, totalmem());
    capacity = {
      cpu: cpuText ? parseCpu(cpuText) : fromOs!.cpu,
      memory: memText ? parseMemory(memText) : fromOs!.memory,
    };
  } catch (err) {
    throw new ConfigError(`SKIFF_HOST_CPU / SKIFF_HOST_MEMORY: ${(err as Error).message}`);
  }

  // The host's own items are keyed by its instance ARN on AWS, the key its IAM role may touch.
  const hostArnPrefix = optionalEnv(env, 'SKIFF_HOST_ARN_PREFIX') ?? '';
  const store = new DynamoStore(new DynamoDBClient({ ...common, ...(dynamodbEndpoint ? { endpoint: dynamodbEndpoint } : {}) }), {
    tableName: requireEnv(env, 'SKIFF_TABLE'),
    hostArnPrefix,
  });
  const channel = new SsmHostChannel(new SSMClient({ ...common, ...(ssmEndpoint ? { endpoint: ssmEndpoint } : {}) }), {
    prefix: optionalEnv(env, 'SKIFF_PARAM_PREFIX') ?? `/skiff/${cluster}`,
    hostArnPrefix,
  });
  const network = optionalEnv(env, 'SKIFF_NETWORK');
  const zone = optionalEnv(env, 'SKIFF_DNS_ZONE') ?? 'skiff.internal';
  const executor = new DockerExecutor({ cluster, hostId, zone, ...(network ? { network } : {}) });
  // Used only when the host document carries a container network (AWS); local documents carry none.
  const hostNetwork = new DockerHostNetwork({
    cluster,
    iptables: optionalEnv(env, 'SKIFF_IPTABLES') ?? 'iptables',
    mtu: numberEnv(env, 'SKIFF_NETWORK_MTU', 9001, { min: 68, max: 65535 }),
  });

  const agent = new Agent(
    {
      cluster,
      hostId,
      address,
      capacity,
      labels: { ...(ec2 ? { zone: ec2.zone } : {}), ...labelsFrom(optionalEnv(env, 'SKIFF_HOST_LABELS')) },
      pollMs: numberEnv(env, 'SKIFF_POLL_SECONDS', 100, { min: 0.1 }) * 1000,
      heartbeatMs: numberEnv(env, 'SKIFF_HEARTBEAT_SECONDS', 15, { min: 0.1 }) * 1000,
      reconcileMs: numberEnv(env, 'SKIFF_RECONCILE_SECONDS', 1, { min: 0.1 }) * 1000,
      stateFile: join(stateDir, `${hostId}.json`),
      stopGraceSeconds: numberEnv(env, 'SKIFF_STOP_GRACE_SECONDS', 10, { min: 0, max: 600 }),
      parallelism: numberEnv(env, 'SKIFF_PARALLELISM', 4, { min: 1, max: 64 }),
      dockerStallMs: numberEnv(env, 'SKIFF_DOCKER_STALL_SECONDS', 30, { min: 1 }) * 1000,
    },
    { store, channel, executor, network: hostNetwork, hashOf: containerSpecHash, now: () => Date.now(), random: Math.random, log, version: VERSION },
  );

  if (pidFile) {
    mkdirSync(dirname(pidFile), { recursive: true });
    writeFileSync(pidFile, String(process.pid));
  }
  process.on('SIGUSR1', () => agent.wake());
  const shutdown = async (signal: string) => {
    log('info', 'stopping agent; containers keep running', { signal });
    await agent.stop();
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
