/**
 * The agent's workload identity, wired from its environment (agent/main.ts calls it once):
 * - the credentials endpoint when STS can be reached (a region, or SKIFF_STS_ENDPOINT locally), with the
 *   host's secret for task tokens in `<stateDir>/<host>.task-token-secret` (0600, made once, so tokens in
 *   running containers' env survive agent restarts);
 * - workload tokens when SKIFF_API_URL names the API: proved by SKIFF_HOST_TOKEN (local mode) or
 *   signed with the host's role (AWS);
 * - where containers reach the endpoint: SKIFF_CREDENTIALS_ADDRESS (AWS: 169.254.170.2, an address of
 *   the host that every SDK allows over plain HTTP, docs/identity.md), else the gateway of the pod's
 *   Docker network (local mode), found by inspecting it.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { STSClient } from '@aws-sdk/client-sts';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import type Dockerode from 'dockerode';
import { writeFileAtomicSync } from '../adapters/fs/atomic-write.ts';
import { stsRoleAssumer } from '../adapters/aws/sts-role-assumer.ts';
import { ENV } from '../app/env-names.ts';
import { ConfigError, optionalEnv } from '../app/env.ts';
import { signRequest } from '../cli/sigv4.ts';
import { apiWorkloadTokenSource, bearerHostAuth, type HostAuth } from './api-token-client.ts';
import { CredentialsEndpoint, TaskTokens, type CredentialTask } from './credentials-endpoint.ts';
import { namespaceNetworkName } from './namespace-network.ts';
import { WorkloadIdentity } from './workload-identity.ts';
import type { HostDocumentTask } from '../core/types.ts';

type Log = (level: 'info' | 'warn' | 'error', message: string, data?: Record<string, unknown>) => void;
type Note = (type: string, message: string, about: { namespace?: string; service?: string; task?: string }) => void;

/** How often tokens due for renewal are renewed: a minute is a sixtieth of a token's hour. */
export const TOKEN_REFRESH_MS = 60_000;

export interface IdentityWiring {
  readonly identity: WorkloadIdentity | undefined;
  /** Starts renewing tokens for the tasks `tasks()` names; returns the stop. */
  start(tasks: () => readonly HostDocumentTask[]): () => Promise<void>;
}

export function identityFromEnv(
  env: NodeJS.ProcessEnv,
  o: {
    docker: Dockerode;
    stateDir: string;
    hostId: string;
    region: string | undefined;
    network: string | undefined;
    log: Log;
    note: Note;
    tasks: () => readonly HostDocumentTask[];
  },
): IdentityWiring {
  const apiUrl = optionalEnv(env, ENV.apiUrl);
  const hostToken = optionalEnv(env, ENV.hostToken);
  const stsEndpoint = optionalEnv(env, ENV.stsEndpoint);
  const address = optionalEnv(env, ENV.credentialsAddress);
  let endpoint: CredentialsEndpoint | undefined;
  if (stsEndpoint || o.region) {
    const sts = new STSClient({ ...(o.region ? { region: o.region } : { region: 'us-east-1' }), ...(stsEndpoint ? { endpoint: stsEndpoint } : {}) });
    endpoint = new CredentialsEndpoint({
      // Per host: local agents share one state directory.
      tokens: new TaskTokens(hostSecret(join(o.stateDir, `${o.hostId}.task-token-secret`))),
      ports: savedPorts(join(o.stateDir, `${o.hostId}.credentials-ports.json`)),
      assumeRole: stsRoleAssumer(sts),
      tasks: () => new Map(o.tasks().map((t) => [t.id, credentialTask(t)])),
      now: () => Date.now(),
      onIssued: (t, c) =>
        o.note('identity.credentials-issued', `credentials of ${t.roleArn} issued to task ${t.id} (expire ${c.expiration.toISOString()})`, {
          namespace: t.namespace,
          service: t.service,
          task: t.id,
        }),
      onFailed: (t, err) => o.log('warn', 'AssumeRole for a task failed', { task: t.id, role: t.roleArn, error: `${err.name}: ${err.message}` }),
    });
  }
  let auth: HostAuth | undefined;
  if (apiUrl) {
    if (hostToken) auth = bearerHostAuth(hostToken);
    else if (o.region) {
      const region = o.region;
      const credentials = defaultProvider();
      auth = async (req) => signRequest(req, { region, credentials: await credentials() });
    } else throw new ConfigError(`${ENV.apiUrl} is set but the agent can prove its host neither with ${ENV.hostToken} nor by signing (no region)`);
  }
  if (!endpoint && !auth) return { identity: undefined, start: () => async () => {} };
  const identity = new WorkloadIdentity({
    // Per host: local agents share one state directory, and each prunes what it does not run.
    dir: join(o.stateDir, 'identity', o.hostId),
    ...(endpoint
      ? {
          endpoint,
          endpointAddress: async (namespace: string) => address ?? (await gatewayOf(o.docker, namespaceNetworkName(o.network ?? 'bridge', namespace))),
        }
      : {}),
    ...(apiUrl && auth ? { tokens: apiWorkloadTokenSource(apiUrl, auth) } : {}),
    now: () => Date.now(),
    log: o.log,
  });
  return {
    identity,
    start: (tasks) => {
      const timer = setInterval(
        () => void identity.refresh(tasks()).catch((err: Error) => o.log('warn', 'workload token refresh failed', { error: err.message })),
        TOKEN_REFRESH_MS,
      );
      return async () => {
        clearInterval(timer);
        await endpoint?.close();
      };
    },
  };
}

function credentialTask(t: HostDocumentTask): CredentialTask {
  return { id: t.id, namespace: t.namespace, service: t.service, ...(t.pod.identity ? { roleArn: t.pod.identity.awsRole } : {}) };
}

/** The host's secret for task tokens: 32 random bytes, 0600, made on first use and kept. */
function hostSecret(file: string): Uint8Array {
  try {
    const key = readFileSync(file);
    if (key.length === 32) return new Uint8Array(key);
  } catch {
    // Absent: made below.
  }
  const key = randomBytes(32);
  mkdirSync(join(file, '..'), { recursive: true, mode: 0o700 });
  writeFileAtomicSync(file, key, { mode: 0o600 });
  return new Uint8Array(key);
}

/** The endpoint's ports by address, in a small JSON file (written atomically) so a restarted agent binds them again. */
function savedPorts(file: string): { get(address: string): number | undefined; set(address: string, port: number): void } {
  const read = (): Record<string, number> => {
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as Record<string, number>;
    } catch {
      return {};
    }
  };
  return {
    get: (address) => {
      const port = read()[address];
      return Number.isInteger(port) && port > 0 && port < 65536 ? port : undefined;
    },
    set: (address, port) => {
      mkdirSync(join(file, '..'), { recursive: true, mode: 0o700 });
      writeFileAtomicSync(file, JSON.stringify({ ...read(), [address]: port }), { mode: 0o600 });
    },
  };
}

/** The gateway address of a Docker network (the host's address on it), where its containers reach the host. */
async function gatewayOf(docker: Dockerode, network: string): Promise<string> {
  // 10 s, as the agent's other Docker inspects (agent/docker-calls.ts): an inspect is milliseconds on a healthy daemon.
  const inspect = docker.getNetwork(network).inspect() as Promise<{ IPAM?: { Config?: { Gateway?: string }[] } }>;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`docker network inspect ${network} took longer than 10s`)), 10_000);
  });
  const info = await Promise.race([inspect, timeout]).finally(() => clearTimeout(timer));
  const gateway = info.IPAM?.Config?.find((c) => c.Gateway)?.Gateway;
  if (!gateway) throw new Error(`Docker network ${network} has no gateway address: set ${ENV.credentialsAddress}`);
  return gateway;
}
