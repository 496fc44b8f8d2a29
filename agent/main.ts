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
import { ConfigError, numberEnv, optionalEnv, requireEnv } from '../functions/env.ts';
import { parseCpu, parseMemory } from '../core/quantity.ts';

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

async function main(): Promise<void> {
  const env = process.env;
  const cluster = requireEnv(env, 'SKIFF_CLUSTER');
  const hostId = requireEnv(env, 'SKIFF_HOST_ID');
  const region = optionalEnv(env, 'SKIFF_REGION') ?? optionalEnv(env, 'AWS_REGION');
  const common = region ? { region } : {};
  const dynamodbEndpoint = optionalEnv(env, 'SKIFF_DYNAMODB_ENDPOINT');
  const ssmEndpoint = optionalEnv(env, 'SKIFF_SSM_ENDPOINT');
  const stateDir = optionalEnv(env, 'SKIFF_STATE_DIR') ?? '/var/lib/skiff-agent';
  const pidFile = optionalEnv(env, 'SKIFF_PID_FILE');

  const cpuText = optionalEnv(env, 'SKIFF_HOST_CPU');
  const memText = optionalEnv(env, 'SKIFF_HOST_MEMORY');
  let capacity;
  try {
    capacity = {
      cpu: cpuText ? parseCpu(cpuText) : cpus().length * 1000,
      // Leave room for the OS, Docker and the agent itself.
      memory: memText ? parseMemory(memText) : Math.floor(totalmem() * 0.9),
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
  const executor = new DockerExecutor({ cluster, hostId, ...(network ? { network, zone: optionalEnv(env, 'SKIFF_DNS_ZONE') ?? 'skiff.internal' } : {}) });

  const agent = new Agent(
    {
      cluster,
      hostId,
      address: requireEnv(env, 'SKIFF_HOST_ADDRESS'),
      capacity,
      labels: labelsFrom(optionalEnv(env, 'SKIFF_HOST_LABELS')),
      pollMs: numberEnv(env, 'SKIFF_POLL_SECONDS', 100, { min: 0.1 }) * 1000,
      heartbeatMs: numberEnv(env, 'SKIFF_HEARTBEAT_SECONDS', 15, { min: 0.1 }) * 1000,
      reconcileMs: numberEnv(env, 'SKIFF_RECONCILE_SECONDS', 1, { min: 0.1 }) * 1000,
      stateFile: join(stateDir, `${hostId}.json`),
      stopGraceSeconds: numberEnv(env, 'SKIFF_STOP_GRACE_SECONDS', 10, { min: 0, max: 600 }),
      parallelism: numberEnv(env, 'SKIFF_PARALLELISM', 4, { min: 1, max: 64 }),
    },
    { store, channel, executor, hashOf: containerSpecHash, now: () => Date.now(), random: Math.random, log, version: VERSION },
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
