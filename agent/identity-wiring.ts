/**
 * The agent's workload identity, wired from its environment (agent/main.ts calls it once):
 * - the credentials endpoint when STS can be reached (a region, or SKIFF_STS_ENDPOINT locally), with the
 *   host's secret for task tokens in `<stateDir>/<host>.task-token-secret` (0600, made once, so tokens in
 *   running containers' env survive agent restarts);
 * - workload tokens when SKIFF_API_URL names the API: proved by SKIFF_HOST_TOKEN (local mode) or
 *   signed with the host's role (AWS);
 * - where containers reach the endpoint: SKIFF_CREDENTIALS_ADDRESS (AWS: 169.254.170.2, an address of
 *   the host that every SDK allows over plain HTTP, docs/identity.md), else the gateway of the pod's
 *   Docker network (local mode), found by inspecting it; there the agent DNATs 169.254.170.2:80 from
 *   each pod to it (agent/credentials-routes.ts) where it can, and gives containers that address.
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
import { CredentialsRoutes } from './credentials-routes.ts';
import { IptablesCredentialsNat } from './iptables-credentials-nat.ts';
import type { CredentialsNat } from '../ports/credentials-nat.ts';
import { namespaceNetworkName } from './namespace-network.ts';
import { WorkloadIdentity } from './workload-identity.ts';
import type { HostDocumentTask } from '../core/types.ts';

type Log = (level: 'info' | 'warn' | 'error', message: string, data?: Record<string, unknown>) => void;
type Note = (type: string, message: string, about: { namespace?: string; service?: string; task?: string }) => void;

/** How often tokens due for renewal are renewed: a minute is a sixtieth of a token's hour. */
export const TOKEN_REFRESH_MS = 60_000;
/**
 * How often the credentials routes of tasks gone are looked for (a look costs nothing but a set check):
 * local hosts share their networks, and an address Docker hands to another host's new pod must not
 * stay routed to this agent for long.
 */
export const ROUTES_PRUNE_MS = 2_000;

export interface IdentityWiring {
  readonly identity: WorkloadIdentity | undefined;
  /**
   * Starts renewing tokens for the tasks `tasks()` names, and keeping the credentials routes to them;
   * returns the stop. `hasDocument`: false until the agent holds a document (its own saved one after a
   * restart counts): until then `tasks()` is empty without meaning that no task runs, and no route is pruned.
   */
  start(tasks: () => readonly HostDocumentTask[], hasDocument?: () => boolean): () => Promise<void>;
}

export function identityFromEnv(
  env: NodeJS.ProcessEnv,
  o: {
    docker: Dockerode;
    stateDir: string;
    hostId: string;
    /** The cluster: names the agent's NAT chain; absent, containers are never given 169.254.170.2. */
    cluster?: string;
    /** Where the credentials routes go. @default iptables (SKIFF_IPTABLES) */
    nat?: CredentialsNat;
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
  // Only where the endpoint listens on the pod networks' gateways: 169.254.170.2 on the host's lo (AWS)
  // is reached as it is.
  const routes =
    endpoint && !address && o.cluster
      ? new CredentialsRoutes({
          nat: o.nat ?? new IptablesCredentialsNat(optionalEnv(env, ENV.iptables) ?? 'iptables'),
          cluster: o.cluster,
          host: o.hostId,
          log: o.log,
        })
      : undefined;
  const bridges = new Map<string, string>();
  const identity = new WorkloadIdentity({
    // Per host: local agents share one state directory, and each prunes what it does not run.
    dir: join(o.stateDir, 'identity', o.hostId),
    ...(endpoint
      ? {
          endpoint,
          endpointAddress: async (namespace: string) => address ?? (await gatewayOf(o.docker, namespaceNetworkName(o.network ?? 'bridge', namespace))),
          ...(routes
            ? {
                linkLocal: async (task: HostDocumentTask, sandboxId: string, listener: { address: string; port: number }) =>
                  (await routes.enabled()) && routes.route({ task: task.id, addresses: await podAddresses(o.docker, sandboxId, bridges), listener }),
              }
            : {}),
        }
      : {}),
    ...(apiUrl && auth ? { tokens: apiWorkloadTokenSource(apiUrl, auth) } : {}),
    now: () => Date.now(),
    log: o.log,
  });
  return {
    identity,
    start: (tasks, hasDocument = () => true) => {
      const live = () => new Set(tasks().map((t) => t.id));
      // The full sync (which also puts back rules removed behind the agent's back) once a minute.
      const syncRoutes = () => {
        if (hasDocument()) void routes?.sync(live()).catch((err: Error) => o.log('warn', 'credentials routes sync failed', { error: err.message }));
      };
      // Now: makes the chain, adopts an earlier run's rules (their containers keep running) and says
      // whether rules can be applied here, before any container is made.
      void routes?.enabled();
      const timer = setInterval(() => {
        void identity.refresh(tasks()).catch((err: Error) => o.log('warn', 'workload token refresh failed', { error: err.message }));
        syncRoutes();
      }, TOKEN_REFRESH_MS);
      const pruner = setInterval(() => {
        const ids = live();
        if (hasDocument() && routes?.tasks().some((t) => !ids.has(t))) syncRoutes();
      }, ROUTES_PRUNE_MS);
      return async () => {
        clearInterval(timer);
        clearInterval(pruner);
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

/**
 * A pod's address on each network its sandbox is on, with the network's Linux bridge (Docker names a
 * user-defined bridge `br-<first 12 of its id>` unless the network says otherwise; `bridge` is docker0).
 * `bridges` caches the names by network id: they never change.
 */
async function podAddresses(docker: Dockerode, sandboxId: string, bridges: Map<string, string>): Promise<{ bridge: string; ip: string }[]> {
  type Networks = Record<string, { NetworkID?: string; IPAddress?: string }>;
  const info = (await withTimeout(docker.getContainer(sandboxId).inspect(), `docker inspect ${sandboxId.slice(0, 12)}`)) as {
    NetworkSettings?: { Networks?: Networks };
  };
  const out: { bridge: string; ip: string }[] = [];
  for (const [name, n] of Object.entries(info.NetworkSettings?.Networks ?? {})) {
    if (!n.IPAddress || !n.NetworkID) continue;
    let bridge = bridges.get(n.NetworkID);
    if (!bridge) {
      const net = (await withTimeout(docker.getNetwork(n.NetworkID).inspect(), `docker network inspect ${name}`)) as {
        Id: string;
        Options?: Record<string, string>;
      };
      bridge = net.Options?.['com.docker.network.bridge.name'] ?? `br-${net.Id.slice(0, 12)}`;
      bridges.set(n.NetworkID, bridge);
    }
    out.push({ bridge, ip: n.IPAddress });
  }
  if (out.length === 0) throw new Error(`the pod sandbox ${sandboxId.slice(0, 12)} has no address on any network (not running?)`);
  return out;
}

/** 10 s, as the agent's other Docker inspects (agent/docker-calls.ts): an inspect is milliseconds on a healthy daemon. */
async function withTimeout<T>(call: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than 10s`)), 10_000);
  });
  return Promise.race([call, timeout]).finally(() => clearTimeout(timer));
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
