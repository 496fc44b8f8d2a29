/**
 * The one-machine cluster: dynalite and the SSM stand-in in this process, the same API and
 * scheduler handlers as on AWS (their adapters pointed at the stand-ins), and one agent process
 * per host, host `i` publishing container ports on 127.0.1.`i`.
 *
 * The control plane can stop and come back while the hosts keep running, as on AWS:
 * - its endpoints are stable: the ports are picked once and kept in `<dataDir>/endpoints.json`;
 * - agents are detached (own process group, output to their log file), so they outlive this
 *   process; each has `<dataDir>/run/<host>.pid` (its pid) and `<dataDir>/run/<host>.env.json`
 *   (its Skiff configuration), so anyone can find it, check it is really that agent, and start it
 *   again with the same configuration;
 * - a start adopts every agent of the cluster that still runs instead of starting another.
 *
 * Local mode is a preset that swaps adapters; no logic here decides anything about the cluster.
 */
import { spawn } from 'node:child_process';
import {
  chmodSync,
  mkdirSync,
  openSync,
  closeSync,
  existsSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { SSMClient } from '@aws-sdk/client-ssm';
import Docker from 'dockerode';
import { startDynalite, dynaliteClient, ensureTable } from './dynalite.ts';
import { startSsmServer } from './ssm-server.ts';
import { startApiServer } from './api-server.ts';
import { startStsServer } from './sts-server.ts';
import { HostTokenSigner } from '../app/host-tokens.ts';
import { rotateSigningKeys, WorkloadTokenIssuer } from '../app/workload-tokens.ts';
import { FileSigningKeyStore } from '../adapters/fs/signing-key-file.ts';
import { ensureLocalToken, ensureSigningKey } from './token.ts';
import { localAuthenticator, TokenSigner } from '../app/tokens.ts';
import { DynamoTenancyStore } from '../adapters/aws/dynamo/tenancy.ts';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { SignalWaker } from './waker.ts';
import { LocalMachines } from './machines.ts';
import { parseCpu, parseMemory } from '../core/quantity.ts';
import { DynamoStore } from '../adapters/aws/dynamo-store.ts';
import { HOST_CHANNELS, makeHostChannel, type HostChannelKind } from '../app/host-channel-config.ts';
import { ensureHostDocumentTable } from './host-document-table.ts';
import { writeFileAtomicSync } from '../adapters/fs/atomic-write.ts';
import { makeApiHandler } from '../app/handlers/api.ts';
import { localSecrets } from './secrets.ts';
import { makeSchedulerHandler } from '../app/handlers/scheduler.ts';
import { makeHealthHandler } from '../app/handlers/health.ts';
import { makeAutoscalerHandler } from '../app/handlers/autoscaler.ts';
import { AutoscalerMemory } from '../app/autoscaler.ts';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { CloudWatchAutoscaling } from '../adapters/aws/cloudwatch-autoscaling.ts';
import { startCloudWatchServer } from './cloudwatch-server.ts';
import { startLogsServer } from './logs-server.ts';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { CloudWatchLogStore } from '../adapters/aws/cloudwatch-log-store.ts';
import { LogShipper } from '../agent/log-shipper.ts';
import { IptablesFilter, removeClusterFilters } from '../agent/packet-filter.ts';
import { removeCredentialRoutes } from '../agent/credentials-routes.ts';
import { IptablesCredentialsNat } from '../agent/iptables-credentials-nat.ts';
import { controlStream } from '../core/logs.ts';
import { localTargetGroup, startRequestMeter } from './request-meter.ts';
import { runDiscoverySync } from '../app/discovery.ts';
import { Route53Client } from '@aws-sdk/client-route-53';
import { Route53Zone } from '../adapters/aws/route53-zone.ts';
import { startRoute53Server } from './route53-server.ts';
import { startDnsServer } from './dns-server.ts';
import { startProxyWorker } from './proxy-worker.ts';
import { haproxyVersion, startHaproxy } from './haproxy.ts';
import type { ProxyServer } from './proxy.ts';
import { ensureLocalCa } from './ca.ts';
import { isPortUnavailable, WELL_KNOWN_PORTS, wellKnownPortsAllowed } from './ingress-ports.ts';
import { startLocalHostScaling } from './host-scaling.ts';
import { LABELS } from '../agent/executor.ts';
import { SANDBOX } from '../agent/pod-sandbox.ts';
import type { IngressRoute, Store } from '../ports/index.ts';
// The status file's format and reader belong to the CLI, which reads it without loading this module.
import { readLocalStatus, statusFilePath, type LocalHost, type LocalStatus } from '../cli/local-status.ts';
import { DRAIN_SECONDS } from '../core/stopping.ts';
import { bundleIsFresh } from '../scripts/cli-bundle.mjs';
import { SerialLoop } from './serial-loop.ts';

export { readLocalStatus, type LocalHost, type LocalStatus };

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const AGENT_MAIN = join(PROJECT_ROOT, 'agent', 'main.ts');
/** The agent bundled by scripts/build-agent.mjs: run when fresh, as it starts in half the time tsx takes. */
const AGENT_BUNDLE = join(PROJECT_ROOT, 'dist', 'agent', 'main.mjs');

/** How to start an agent: its bundle when it is up to date with the sources, else the sources through tsx. */
function agentCommand(): string[] {
  return bundleIsFresh(pathToFileURL(`${PROJECT_ROOT}/`), 'agent') ? [AGENT_BUNDLE] : ['--import', 'tsx', AGENT_MAIN];
}
const TABLE = 'skiff';
/** The host document table, with `hostChannel: 'dynamodb'` (adapters/aws/dynamo-host-channel.ts). */
const HOST_DOCUMENT_TABLE = 'skiff-host-documents';
const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };
const REGION = 'us-east-1';
/** Format of `<dataDir>/endpoints.json`; bump when its shape changes. */
const ENDPOINTS_FORMAT = 1;
/** Format of `<dataDir>/run/<host>.env.json`; bump when its shape changes. */
const AGENT_ENV_FORMAT = 1;
/** An agent gets this long to stop on SIGTERM before it is killed: it finishes the Docker call in flight. */
const AGENT_STOP_GRACE_MS = 5_000;
/**
 * How long `local up` waits for freshly started agents to report before it starts the health
 * check. An agent needs a few seconds to start (Node.js, registration); on a loaded machine more
 * than the local grace of 3 s, and a health check already running would take that for silence
 * and declare the host down, moving every task of a cluster that was merely started again.
 */
const AGENT_FIRST_REPORT_MS = 30_000;

export interface LocalClusterOptions {
  /** Cluster name: labels its containers and names its SSM path. @default 'local' */
  readonly cluster?: string;
  /** @default 3 */
  readonly hosts?: number;
  /** Where state (DynamoDB, SSM parameters, endpoints, agent state, logs) is kept. @default '.skiff/<cluster>' */
  readonly dataDir?: string;
  /** API port on 127.0.0.1; overrides (and replaces) the saved one. @default the port saved in the data dir, else a free one */
  readonly apiPort?: number;
  /** DNS server port (UDP and TCP) on 127.0.0.1. @default the port saved in the data dir, else a free one */
  readonly dnsPort?: number;
  /** Load balancer (reverse proxy) port on 127.0.0.1. @default 80 when this process may bind it and it is free, else the port saved in the data dir, else a free one */
  readonly proxyPort?: number;
  /** The load balancer's HTTPS port on 127.0.0.1. @default 443 with 80 (see proxyPort), else the port saved in the data dir, else a free one */
  readonly proxyHttpsPort?: number;
  /**
   * The load balancer's data plane: the built-in Node proxy, or HAProxy (installed apart; faster,
   * without some of the Node proxy's features: docs/load-balancing.md). @default 'node'
   */
  readonly ingress?: 'node' | 'haproxy';
  /** Capacity each local host reports. @default 4000 millicores, 8 GiB */
  readonly hostCpu?: string;
  readonly hostMemory?: string;
  /** Scheduler timer (API writes also trigger a pass at once). @default 1000 */
  readonly schedulerIntervalMs?: number;
  /** Agent document poll (wake-ups make changes arrive sooner). @default 2 */
  readonly pollSeconds?: number;
  /** Agent heartbeat. @default 1 */
  readonly heartbeatSeconds?: number;
  /**
   * Seconds a leaving replica keeps serving (it has left DNS and the load balancer) before its stop
   * signal: the local equivalent of the ALB's deregistration delay. @default 5 (DRAIN_SECONDS.local)
   */
  readonly drainSeconds?: number;
  /**
   * An idle host silent for longer is declared down and its tasks replaced; it is suspect (no new tasks)
   * after half of it, and a host creating containers gets three times as long (core/health.ts). @default 5
   */
  readonly hostGraceSeconds?: number;
  /**
   * The most hosts the local Auto Scaling stand-in may run (local/autoscaling-server.ts): above
   * `hosts`, the host autoscaler adds hosts for pending tasks and removes idle ones, never below `hosts`.
   * @default hosts: nothing grows unless asked
   */
  readonly maxHosts?: number;
  /** How long a host must stay unneeded before the host autoscaler drains it. @default 30 */
  readonly hostScaleInSeconds?: number;
  /** The horizontal autoscaler's timer (HPA's sync period is 15 s; shorter here so a scale-out starts within 15 s of the load). @default 5000 */
  readonly autoscalerIntervalMs?: number;
  /**
   * Which host channel carries the host documents (docs/host-channel.md): the SSM Parameter Store
   * stand-in, or the host document table on dynalite (as a cluster deployed with `hostChannel: 'dynamodb'`). @default 'ssm'
   */
  readonly hostChannel?: HostChannelKind;
  /** Where the status file for the CLI is written; undefined writes none. */
  readonly statusFile?: string;
  readonly log?: (line: string) => void;
}

export interface LocalCluster {
  readonly status: LocalStatus;
  /** The API's bearer token (also in `<dataDir>/token`). */
  readonly token: string;
  readonly store: Store;
  /** Runs a scheduler pass now and waits for it. */
  schedule(): Promise<void>;
  /** Stops everything: the agents (by pid), the cluster's containers, then the control plane. State is kept. */
  stop(): Promise<void>;
  /** Stops only the control plane; the agents and their containers keep running, and the next start adopts them. */
  stopControlPlane(): Promise<void>;
  /** The load balancer's routes in force (what the proxy sends where). */
  routes(): IngressRoute[];
}

const KNOWN_OPTIONS = new Set([
  'cluster',
  'hosts',
  'dataDir',
  'apiPort',
  'dnsPort',
  'proxyPort',
  'proxyHttpsPort',
  'ingress',
  'hostCpu',
  'hostMemory',
  'schedulerIntervalMs',
  'pollSeconds',
  'heartbeatSeconds',
  'drainSeconds',
  'hostGraceSeconds',
  'maxHosts',
  'hostScaleInSeconds',
  'autoscalerIntervalMs',
  'hostChannel',
  'statusFile',
  'log',
]);

export async function startLocalCluster(options: LocalClusterOptions = {}): Promise<LocalCluster> {
  for (const k of Object.keys(options)) if (!KNOWN_OPTIONS.has(k)) throw new Error(`unknown local cluster option "${k}"`);
  const cluster = options.cluster ?? 'local';
  if (!/^[a-z0-9][a-z0-9-]{0,30}$/.test(cluster)) throw new Error(`cluster name "${cluster}" must be lowercase letters, digits and '-', at most 31 characters`);
  const hostCount = options.hosts ?? 3;
  if (!Number.isInteger(hostCount) || hostCount < 1 || hostCount > 254) throw new Error(`hosts must be an integer from 1 to 254, got ${hostCount}`);
  const maxHosts = options.maxHosts ?? hostCount;
  if (!Number.isInteger(maxHosts) || maxHosts < hostCount || maxHosts > 254)
    throw new Error(`maxHosts must be an integer from hosts (${hostCount}) to 254, got ${maxHosts}`);
  const scaleInSeconds = options.hostScaleInSeconds ?? 30;
  if (!(scaleInSeconds >= 0)) throw new Error(`hostScaleInSeconds must be a number of seconds, got ${scaleInSeconds}`);
  const hostChannel = options.hostChannel ?? 'ssm';
  if (!HOST_CHANNELS.includes(hostChannel)) throw new Error(`hostChannel must be one of ${HOST_CHANNELS.join(', ')}, got ${JSON.stringify(hostChannel)}`);
  const apiPort = options.apiPort;
  if (apiPort !== undefined && (!Number.isInteger(apiPort) || apiPort < 0 || apiPort > 65535))
    throw new Error(`apiPort must be a TCP port number, got ${apiPort}`);
  if (options.ingress !== undefined && options.ingress !== 'node' && options.ingress !== 'haproxy')
    throw new Error(`ingress must be "node" or "haproxy", got ${JSON.stringify(options.ingress)}`);
  // Before anything starts: a missing HAProxy is a clear error, not a half-started cluster.
  if (options.ingress === 'haproxy') await haproxyVersion();
  const dataDir = resolve(options.dataDir ?? join('.skiff', cluster));
  // The control plane's lines also go to its `control/<function>` streams once the log store is up (docs/logs.md).
  let shipControlLine: ((line: string) => void) | undefined;
  const print = options.log ?? ((line: string) => console.log(line));
  const log = (line: string) => {
    print(line);
    shipControlLine?.(line);
  };
  const runDir = join(dataDir, 'run');
  const logDir = join(dataDir, 'logs');
  mkdirSync(runDir, { recursive: true });
  mkdirSync(logDir, { recursive: true });
  // The CLI trusts the token (and the status file) only in folders no one else may write
  // (cli/local-status.ts); a umask of 002 would make them group-writable.
  denyOthersWrite(dataDir);
  if (options.statusFile) {
    mkdirSync(dirname(options.statusFile), { recursive: true });
    denyOthersWrite(dirname(options.statusFile));
  }

  if (options.statusFile) checkStatusFileIsFree(options.statusFile, cluster, dataDir);
  // Before the API listens: it admits only requests that carry this token.
  const token = ensureLocalToken(dataDir);
  const signingKey = ensureSigningKey(dataDir);
  const signer = new TokenSigner(signingKey);
  // Agents prove their host to the API with a token of their own (workload identity, docs/identity.md).
  const hostTokens = new HostTokenSigner(signingKey);

  const controlPlaneStartedAt = new Date();
  const controlPlane: (() => Promise<void> | void)[] = [];
  const spawned: number[] = [];
  const runSteps = async (steps: (() => Promise<void> | void)[]) => {
    for (const fn of steps.reverse()) {
      try {
        await fn();
      } catch (err) {
        log(`skiff: cleanup step failed: ${(err as Error).message}`);
      }
    }
  };

  try {
    const endpointsPath = endpointsFile(dataDir);
    const saved = readEndpoints(endpointsPath);
    const savedAt = `saved in ${endpointsPath}`;

    const dynamo = await bindStable('DynamoDB (dynalite)', saved?.dynamodbPort, savedAt, endpointsPath, (port) =>
      startDynalite({ path: join(dataDir, 'dynamodb'), port }),
    );
    controlPlane.push(() => dynamo.close());
    const dynamoClient = dynaliteClient(dynamo.endpoint);
    await ensureTable(dynamoClient, TABLE);
    log(`skiff: DynamoDB (dynalite) at ${dynamo.endpoint}, data in ${join(dataDir, 'dynamodb')}`);

    const ssm = await bindStable('SSM Parameter Store stand-in', saved?.ssmPort, savedAt, endpointsPath, (port) =>
      startSsmServer({ dataFile: join(dataDir, 'ssm.json'), port }),
    );
    controlPlane.push(() => ssm.close());
    log(`skiff: SSM Parameter Store stand-in at ${ssm.endpoint}`);

    // Central logs (docs/logs.md): the CloudWatch Logs stand-in, in memory (logs outlive containers
    // and hosts, not the local control plane), on a saved port so that running agents find it again.
    const logsServer = await bindStable('CloudWatch Logs stand-in', saved?.logsPort, savedAt, endpointsPath, (port) => startLogsServer({ port }));
    controlPlane.push(() => logsServer.close());
    const logStore = new CloudWatchLogStore(
      new CloudWatchLogsClient({ endpoint: logsServer.endpoint, region: REGION, credentials: LOCAL_CREDENTIALS, maxAttempts: 2 }),
      logGroupName(cluster),
    );
    await logStore.createGroup();
    // No containers: it only ships the control plane's own lines.
    const controlLogs = new LogShipper({ store: logStore, source: { follow: async function* () {} } });
    controlPlane.push(() => {
      shipControlLine = undefined;
      return controlLogs.stop();
    });
    shipControlLine = (line) => {
      const m = /^skiff: ([a-z][a-z0-9 -]*?): (.*)$/s.exec(line);
      const fn = m ? m[1].replace(/ /g, '-') : 'local';
      controlLogs.line(
        controlStream(fn),
        JSON.stringify({ time: new Date().toISOString(), level: 'info', component: fn, message: m ? m[2] : line.replace(/^skiff: /, '') }),
      );
    };
    log(`skiff: CloudWatch Logs stand-in at ${logsServer.endpoint}, log group ${logGroupName(cluster)}`);

    const store = new DynamoStore(dynamoClient, { tableName: TABLE });
    if (hostChannel === 'dynamodb') await ensureHostDocumentTable(dynamoClient, HOST_DOCUMENT_TABLE);
    const channel = makeHostChannel(hostChannel === 'dynamodb' ? { kind: 'dynamodb', table: HOST_DOCUMENT_TABLE } : { kind: 'ssm' }, {
      dynamo: () => dynamoClient,
      ssm: () => new SSMClient({ endpoint: ssm.endpoint, region: REGION, credentials: LOCAL_CREDENTIALS }),
      paramPrefix: `/skiff/${cluster}`,
      hostArnPrefix: '',
    });
    log(`skiff: host documents on ${hostChannel === 'dynamodb' ? `DynamoDB (table ${HOST_DOCUMENT_TABLE})` : 'SSM Parameter Store'}`);
    const waker = new SignalWaker(runDir, (id, pid) => findAgent(dataDir, cluster, id)?.pid === pid);

    const scheduler = new HandlerLoop(
      // Agents only claim; the scheduler registers them, capped at the host size every local agent is given.
      makeSchedulerHandler({ store, channel, waker, cluster, now: () => new Date(), machines: new LocalMachines(localHostSize(options)) }),
      options.schedulerIntervalMs ?? 1000,
      (msg) => log(`skiff: scheduler: ${msg}`),
    );
    controlPlane.push(() => scheduler.stop());
    // The health check every second, one check per run (on AWS: 4 checks per one-minute invocation).
    const health = new HandlerLoop(
      makeHealthHandler(
        {
          store,
          now: () => new Date(),
          // 5 missed 1 s heartbeats make an idle host down, 2.5 s make it suspect: a killed host's tasks
          // run elsewhere within 10 s, and a busy one (creating containers) gets 15 s.
          policy: { graceMs: (options.hostGraceSeconds ?? 5) * 1000, checkIntervalMs: 1000 },
          kickScheduler: async () => scheduler.kick(),
          eventRetentionMs: 7 * 86_400_000,
        },
        { checksPerRun: 1, intervalMs: 0 },
      ),
      1000,
      (msg) => log(`skiff: health: ${msg}`),
    );
    controlPlane.push(() => health.stop());
    // The same handler as the autoscaler Lambda, on a timer instead of a schedule, and on its alarms'
    // state changes from the CloudWatch stand-in, where the load balancer's request counts go.
    let kickAutoscaler = (): void => {};
    const cloudwatch = await startCloudWatchServer({ onAlarmStateChange: (e) => e.detail.state.value === 'ALARM' && kickAutoscaler() });
    controlPlane.push(() => cloudwatch.close());
    let routed: () => IngressRoute[] = () => [];
    const requestRates = new CloudWatchAutoscaling(new CloudWatchClient({ endpoint: cloudwatch.endpoint, region: REGION, credentials: LOCAL_CREDENTIALS }), {
      alarmPrefix: `skiff-${cluster}-autoscale-`,
      targetGroupOf: async (ns, name) => (routed().some((r) => r.namespace === ns && r.service === name) ? localTargetGroup(ns, name) : undefined),
    });
    const tenancy = new DynamoTenancyStore(DynamoDBDocumentClient.from(dynamoClient, { marshallOptions: { removeUndefinedValues: true } }), TABLE);
    const autoscaler = new HandlerLoop(
      makeAutoscalerHandler(
        {
          store,
          namespaces: tenancy,
          memory: new AutoscalerMemory(),
          now: () => new Date(),
          kickScheduler: async () => scheduler.kick(),
          requests: requestRates,
          alarms: requestRates,
        },
        () => requestRates.refresh(),
      ),
      options.autoscalerIntervalMs ?? 5000,
      (msg) => log(`skiff: autoscaler: ${msg}`),
    );
    controlPlane.push(() => autoscaler.stop());
    kickAutoscaler = () => autoscaler.kick();

    // Workload identity: the STS stand-in the agents assume tasks' roles through (roles under
    // /skiff/<cluster>/, as the host role's grant on AWS), and the signing keys of workload tokens.
    const sts = await bindStable('STS stand-in', saved?.stsPort, savedAt, endpointsPath, (port) =>
      startStsServer({ allowedRolePath: `/skiff/${cluster}/`, port }),
    );
    controlPlane.push(() => sts.close());
    const identityKeys = new FileSigningKeyStore(join(dataDir, 'identity-keys.json'));
    await rotateSigningKeys(identityKeys, Date.now());
    // The one rotator locally (docs/identity.md); hourly is far more often than the weekly rotation needs.
    const rotation = setInterval(
      () => void rotateSigningKeys(identityKeys, Date.now()).catch((err: Error) => log(`skiff: signing key rotation failed: ${err.message}`)),
      3_600_000,
    );
    rotation.unref();
    controlPlane.push(() => clearInterval(rotation));
    // The issuer is the API's URL, known once it listens (below).
    const workloadIdentity: { cluster: string; issuer?: WorkloadTokenIssuer } = { cluster };

    const apiHandler = makeApiHandler({
      store,
      tenancy,
      tokens: signer,
      now: () => new Date(),
      kickScheduler: async () => scheduler.kick(),
      // startedAt: the reports of agents that stopped with an earlier run are not shown as current.
      startedAt: controlPlaneStartedAt,
      secrets: localSecrets(dynamoClient, TABLE, ssm.endpoint, `/skiff/${cluster}`, cluster),
      workloadIdentity,
      // `describe` shows the request rate the autoscaler acts on (the proxy's counts, through the CloudWatch stand-in).
      requestRates,
      logs: logStore,
      // The web console (docs/console.md), built by scripts/build-console.mjs (npm start and npm test build it).
      console: { dir: join(PROJECT_ROOT, 'dist', 'console'), config: { apiPrefix: '', signIn: 'local-token' } },
    });
    const authenticate = localAuthenticator({ adminToken: token, signer, revocations: tenancy, now: () => new Date(), hosts: hostTokens });
    const api = await bindStable('API', apiPort || saved?.apiPort, apiPort ? 'given with --port' : savedAt, endpointsPath, (port) =>
      startApiServer(apiHandler, { port, authenticate }),
    );
    controlPlane.push(() => api.close());
    workloadIdentity.issuer = new WorkloadTokenIssuer({ issuer: api.url, keys: identityKeys });
    log(`skiff: API at ${api.url}`);
    log(`skiff: web console at ${api.url}/console (sign in with the token in ${join(dataDir, 'token')})`);

    // Discovery: Route 53 (stand-in) holds the names, a real DNS server answers from it, and the
    // embedded proxy balances ingress traffic; both follow the replicas within a second.
    const route53 = await startRoute53Server({ dataFile: join(dataDir, 'route53.json') });
    controlPlane.push(() => route53.close());
    const zoneId = await route53.ensureZone(DNS_ZONE);
    const route53Client = new Route53Client({ endpoint: route53.endpoint, region: REGION, credentials: LOCAL_CREDENTIALS, maxAttempts: 1 });
    const zone = new Route53Zone(route53Client, { hostedZoneId: zoneId, zone: DNS_ZONE });
    const dns = await bindStable('DNS server', options.dnsPort || saved?.dnsPort, options.dnsPort ? 'given with --dns-port' : savedAt, endpointsPath, (port) =>
      startDnsServer({ port, zone: DNS_ZONE, records: () => route53.records(zoneId) }),
    );
    controlPlane.push(() => dns.close());
    log(`skiff: DNS server at 127.0.0.1:${dns.port} for ${DNS_ZONE} (try: dig @127.0.0.1 -p ${dns.port} hello.default.${DNS_ZONE})`);
    // The local CA: created once, kept in the data folder; the proxy's thread issues a certificate per ingress host from it.
    const ca = await ensureLocalCa(dataDir, (m) => log(`skiff: ${m}`));
    const trust = `trust it to reach tls ingress hosts: curl --cacert ${ca.cert} https://<host>/`;
    log(ca.created ? `skiff: created the local certificate authority ${ca.cert}; ${trust}` : `skiff: local certificate authority ${ca.cert}; ${trust}`);
    const drainMs = (options.drainSeconds ?? DRAIN_SECONDS.local) * 1000;
    const startLb = (port: number, httpsPort: number) =>
      options.ingress === 'haproxy'
        ? startHaproxy({
            port,
            httpsPort,
            ca: { cert: ca.cert, key: ca.key },
            runDir: join(dataDir, 'haproxy'),
            // An old worker keeps what it has after a reload (the drain) for at most this long.
            hardStopAfterMs: Math.max(drainMs, 60_000),
            log: (line) => log(`skiff: load balancer: ${line}`),
          })
        : // Its own thread: the control plane's busy moments must not hold up ingress traffic.
          startProxyWorker(
            {
              port,
              httpsPort,
              ca: { cert: ca.cert, key: ca.key },
              drainMs,
              log: (line) => log(`skiff: load balancer: ${line}`),
            },
            (message) => log(`skiff: ${message}`),
          );
    const proxy = await startLoadBalancer(options, saved, savedAt, endpointsPath, startLb, log);
    controlPlane.push(() => proxy.close());
    routed = () => proxy.routes();
    const stopMeter = startRequestMeter(proxy, cloudwatch);
    controlPlane.push(async () => stopMeter());
    log(
      `skiff: load balancer${options.ingress === 'haproxy' ? ' (HAProxy data plane)' : ''} at ${proxy.url} and ${proxy.httpsUrl} (routes by Host header and path to services with spec.ingress)`,
    );
    const discoveryDeps = { store, zone: { name: DNS_ZONE, ttl: 5, port: zone }, loadBalancer: proxy, warn: (m: string) => log(`skiff: discovery: ${m}`) };
    // Every 250 ms: a replica that dies or turns unhealthy leaves DNS and the proxy within a second.
    const discovery = new HandlerLoop(
      () => runDiscoverySync(discoveryDeps),
      250,
      (msg) => log(`skiff: discovery: ${msg}`),
    );
    controlPlane.push(() => discovery.stop());

    writeJsonAtomic(endpointsPath, {
      format: ENDPOINTS_FORMAT,
      dynamodbPort: portOf(dynamo.endpoint),
      ssmPort: ssm.port,
      apiPort: portOf(api.url),
      dnsPort: dns.port,
      // The well-known ports are not saved: a start without the right to bind them would fail on them.
      proxyPort: proxy.port < 1024 ? saved?.proxyPort : proxy.port,
      proxyHttpsPort: (proxy.httpsPort ?? 0) < 1024 ? saved?.proxyHttpsPort : proxy.httpsPort,
      stsPort: portOf(sts.endpoint),
      logsPort: logsServer.port,
    } satisfies SavedEndpoints);

    const network = await ensureNetwork(cluster);
    log(`skiff: container network ${network} (replicas reach each other by <service>.<namespace>.${DNS_ZONE})`);
    const hosts: LocalHost[] = [];
    // Hosts whose agent this start launched, and when: their first report is awaited below.
    const starting: string[] = [];
    const startingAt = new Date();
    /** Host `i`'s agent configuration (`host-<i>` on 127.0.1.<i>), saved where `startAgent` finds it. */
    const configureHost = (i: number, previousToken?: string): Record<string, string> => {
      const id = `host-${i}`;
      const address = `127.0.1.${i}`;
      const env: Record<string, string> = {
        AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        SKIFF_REGION: REGION,
        SKIFF_CLUSTER: cluster,
        SKIFF_TABLE: TABLE,
        SKIFF_PARAM_PREFIX: `/skiff/${cluster}`,
        SKIFF_DYNAMODB_ENDPOINT: dynamo.endpoint,
        SKIFF_SSM_ENDPOINT: ssm.endpoint,
        SKIFF_HOST_CHANNEL: hostChannel,
        ...(hostChannel === 'dynamodb' ? { SKIFF_HOST_DOCUMENT_TABLE: HOST_DOCUMENT_TABLE } : {}),
        SKIFF_LOG_GROUP: logGroupName(cluster),
        SKIFF_LOGS_ENDPOINT: logsServer.endpoint,
        SKIFF_HOST_ID: id,
        SKIFF_HOST_ADDRESS: address,
        SKIFF_HOST_CPU: options.hostCpu ?? DEFAULT_HOST_CPU,
        SKIFF_HOST_MEMORY: options.hostMemory ?? DEFAULT_HOST_MEMORY,
        SKIFF_HOST_LABELS: `local=true,index=${i}`,
        SKIFF_POLL_SECONDS: String(options.pollSeconds ?? 2),
        SKIFF_HEARTBEAT_SECONDS: String(options.heartbeatSeconds ?? 1),
        SKIFF_STOP_GRACE_SECONDS: '5',
        SKIFF_DRAIN_SECONDS: String(options.drainSeconds ?? DRAIN_SECONDS.local),
        SKIFF_NETWORK: network,
        SKIFF_DNS_ZONE: DNS_ZONE,
        SKIFF_STATE_DIR: join(dataDir, 'agents'),
        SKIFF_PID_FILE: hostFiles(dataDir, id).pid,
        SKIFF_API_URL: api.url,
        // The running agent's token while it has a week left: a new one would restart the agent for nothing.
        SKIFF_HOST_TOKEN:
          previousToken !== undefined && hostTokens.isCurrent(previousToken, id, new Date(), 7 * 86_400_000) ? previousToken : hostTokens.issue(id, new Date()),
        SKIFF_STS_ENDPOINT: sts.endpoint,
      };
      // 0600: it holds the agent's host token.
      writeJsonAtomic(hostFiles(dataDir, id).env, { format: AGENT_ENV_FORMAT, cluster, hostId: id, address, env } satisfies AgentEnvFile, 0o600);
      return env;
    };
    for (let i = 1; i <= hostCount; i++) {
      const id = `host-${i}`;
      const address = `127.0.1.${i}`;
      let running = findAgent(dataDir, cluster, id);
      const env = configureHost(i, running?.env.SKIFF_HOST_TOKEN);
      const logFile = hostFiles(dataDir, id).log;
      if (running) {
        const differs = Object.keys(env).filter((k) => running!.env[k] !== env[k]);
        if (differs.length > 0) {
          // A restarted agent adopts its containers, so applying new settings costs nothing but a moment.
          log(`skiff: host ${id}: restarting its agent (pid ${running.pid}) to apply changed ${differs.join(', ')}`);
          await stopAgent(dataDir, cluster, id);
          running = undefined;
        }
      }
      if (running) {
        hosts.push({ id, address, pid: running.pid, log: logFile });
        log(
          `skiff: host ${id} at ${address}: adopted its running agent (pid ${running.pid}${running.state === 'paused' ? ', paused: `skiff local resume-host` resumes it' : ''}, log ${logFile})`,
        );
      } else {
        const pid = startAgent(dataDir, id);
        spawned.push(pid);
        starting.push(id);
        hosts.push({ id, address, pid, log: logFile });
        log(`skiff: host ${id} at ${address} (agent pid ${pid}, log ${logFile})`);
      }
    }
    // Hosts of an earlier, larger start keep running: they are registered and may hold tasks. They are
    // listed so that the host commands and a full stop reach them.
    for (const id of knownHostIds(dataDir)) {
      if (hosts.some((h) => h.id === id)) continue;
      const running = findAgent(dataDir, cluster, id);
      if (!running) continue;
      hosts.push({ id, address: running.env.SKIFF_HOST_ADDRESS ?? '?', pid: running.pid, log: hostFiles(dataDir, id).log });
      log(
        `skiff: host ${id} (agent pid ${running.pid}) is still running although --hosts is ${hostCount}: left alone; \`skiff local kill-host ${id}\` or \`skiff local down\` stops it`,
      );
    }

    const status: LocalStatus = {
      cluster,
      pid: process.pid,
      api: api.url,
      dns: `127.0.0.1:${dns.port}`,
      proxy: proxy.url,
      ...(proxy.httpsUrl ? { proxyHttps: proxy.httpsUrl } : {}),
      ca: ca.cert,
      dataDir,
      startedAt: new Date().toISOString(),
      hosts,
    };
    const watcher = new HostWatcher(dataDir, cluster, hosts, log);
    controlPlane.push(() => watcher.stop());
    const writeStatus = () => {
      if (options.statusFile) writeJsonAtomic(options.statusFile, status, 0o644);
    };
    writeStatus();
    // Above the start count, the host autoscaler grows and shrinks the hosts through the Auto Scaling stand-in.
    if (maxHosts > hostCount) {
      const scaling = await startLocalHostScaling({
        dataDir,
        cluster,
        hosts,
        min: hostCount,
        max: maxHosts,
        configureHost: (i) => void configureHost(i),
        store,
        channel,
        kickScheduler: async () => scheduler.kick(),
        scaleInSeconds,
        onHostsChanged: writeStatus,
        log,
      });
      controlPlane.push(() => scaling.server.close());
      // Every 2 s: a pending task asks for a host within a few seconds (on AWS: once a minute).
      const hostAutoscaler = new HandlerLoop(scaling.handler, 2000, (msg) => log(`skiff: host autoscaler: ${msg}`));
      controlPlane.push(() => hostAutoscaler.stop());
      hostAutoscaler.start();
      log(`skiff: host autoscaler: ${hostCount} to ${maxHosts} hosts (Auto Scaling stand-in at ${scaling.server.endpoint})`);
    }
    scheduler.start();
    discovery.start();
    watcher.start();
    if (starting.length > 0) await awaitFirstReports(store, starting, startingAt, AGENT_FIRST_REPORT_MS, log);
    health.start();
    autoscaler.start();

    const stopHosts = async () => {
      watcher.stop();
      await stopAgents(
        dataDir,
        cluster,
        hosts.map((h) => h.id),
      );
      const removed = await removeContainers(cluster);
      await removeNetwork(cluster);
      log(`skiff: stopped the agents and removed the ${removed} container(s) and the network of cluster ${cluster}`);
    };
    let stopping: Promise<void> | undefined;
    return {
      status,
      token,
      store,
      schedule: () => scheduler.runNow(),
      // The agents stop while the control plane still runs, so that their last reports land.
      stop: () =>
        (stopping ??= (async () => {
          await runSteps([...controlPlane, stopHosts]);
          if (options.statusFile) rmSync(options.statusFile, { force: true });
        })()),
      // The status file stays: it tells the CLI where the data dir and the running hosts are.
      stopControlPlane: () => (stopping ??= runSteps([...controlPlane])),
      routes: () => proxy.routes(),
    };
  } catch (err) {
    await runSteps([...controlPlane, ...spawned.map((pid) => () => stopPid(pid))]);
    throw err;
  }
}

/** The size of every local host (its agent's SKIFF_HOST_CPU / SKIFF_HOST_MEMORY): the most a local host's claim is registered with. */
const DEFAULT_HOST_CPU = '4';
const DEFAULT_HOST_MEMORY = '8Gi';

export function localHostSize(options: { readonly hostCpu?: string; readonly hostMemory?: string }): { cpu: number; memory: number } {
  return { cpu: parseCpu(options.hostCpu ?? DEFAULT_HOST_CPU), memory: parseMemory(options.hostMemory ?? DEFAULT_HOST_MEMORY) };
}

/** Refuses to start over a status file that names a running control plane, or running hosts of another cluster. */
function checkStatusFileIsFree(file: string, cluster: string, dataDir: string): void {
  const running = readLocalStatus(file);
  if (!running) return;
  if (controlPlaneMismatch(running, file) === undefined)
    throw new Error(`a local cluster is already running (pid ${running.pid}, API ${running.api}); stop it first`);
  if (running.cluster === cluster && running.dataDir === dataDir) return;
  const alive = running.hosts.filter((h) => findAgent(running.dataDir, running.cluster, h.id));
  if (alive.length > 0) {
    throw new Error(
      `host(s) ${alive.map((h) => h.id).join(', ')} of local cluster "${running.cluster}" (data in ${running.dataDir}) still run from this folder: ` +
        `start that cluster again with --cluster ${running.cluster} --data ${running.dataDir}, or stop its hosts with \`skiff local down\``,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Stable endpoints

interface SavedEndpoints {
  readonly format: number;
  readonly dynamodbPort: number;
  readonly ssmPort: number;
  readonly apiPort: number;
  /** Added after format 1 was first written: absent in older files, then a free port is picked. */
  readonly dnsPort?: number;
  readonly proxyPort?: number;
  readonly proxyHttpsPort?: number;
  /** The STS stand-in's: in every agent's environment, so a new start keeps it to adopt them. */
  readonly stsPort?: number;
  readonly logsPort?: number;
}

/** The cluster's log group, as the stack names it on AWS (infra/logs.ts). */
export const logGroupName = (cluster: string): string => `/skiff/${cluster}`;

/** `<dataDir>/endpoints.json`: the ports of the control plane, kept so that running agents find it again. */
export function endpointsFile(dataDir: string): string {
  return join(dataDir, 'endpoints.json');
}

function readEndpoints(file: string): SavedEndpoints | undefined {
  if (!existsSync(file)) return undefined;
  let saved: SavedEndpoints;
  try {
    saved = JSON.parse(readFileSync(file, 'utf8')) as SavedEndpoints;
  } catch (err) {
    throw new Error(`${file} is not valid JSON (${(err as Error).message}): delete it to pick new ports`);
  }
  if (saved?.format !== ENDPOINTS_FORMAT)
    throw new Error(`${file} has format ${String(saved?.format)}, this skiff reads format ${ENDPOINTS_FORMAT}: delete it to pick new ports`);
  for (const k of ['dynamodbPort', 'ssmPort', 'apiPort'] as const) {
    if (!Number.isInteger(saved[k]) || saved[k] < 1 || saved[k] > 65535)
      throw new Error(`${file}: ${k} must be a TCP port number, got ${JSON.stringify(saved[k])}: delete the file to pick new ports`);
  }
  return saved;
}

/**
 * Starts the load balancer: on the ports given; else on 80 and 443 when this process may bind
 * them and they are free; else on the ports saved in the data folder, or free ones. Says which.
 */
async function startLoadBalancer(
  options: LocalClusterOptions,
  saved: SavedEndpoints | undefined,
  savedAt: string,
  endpointsPath: string,
  start: (port: number, httpsPort: number) => Promise<ProxyServer>,
  log: (line: string) => void,
): Promise<ProxyServer> {
  if (!options.proxyPort && !options.proxyHttpsPort) {
    const why = wellKnownPortsAllowed();
    if (why === undefined) {
      log('skiff: load balancer: not on ports 80 and 443 (binding them needs root or CAP_NET_BIND_SERVICE); on the ports below');
    } else {
      try {
        const proxy = await start(WELL_KNOWN_PORTS.http, WELL_KNOWN_PORTS.https);
        log(`skiff: load balancer on ports 80 and 443 of 127.0.0.1 (${why})`);
        return proxy;
      } catch (err) {
        if (!isPortUnavailable(err)) throw err;
        log(`skiff: load balancer: ports 80 and 443 of 127.0.0.1 are not free (${(err as Error).message}); on the ports below`);
      }
    }
  }
  const httpsFixed = options.proxyHttpsPort || saved?.proxyHttpsPort || 0;
  return bindStable(
    'load balancer',
    options.proxyPort || saved?.proxyPort,
    options.proxyPort ? 'given with --proxy-port' : savedAt,
    endpointsPath,
    async (port) => {
      try {
        return await start(port, httpsFixed);
      } catch (err) {
        // A saved HTTPS port taken meanwhile: a free one instead (a port given on the command line must be that one).
        if (!isPortUnavailable(err) || httpsFixed === 0 || options.proxyHttpsPort) throw err;
        log(`skiff: load balancer: HTTPS port ${httpsFixed} (${savedAt}) is taken; on a free one`);
        return start(port, 0);
      }
    },
  );
}

/**
 * Starts a server on its fixed port, or on a free one picked below the kernel's ephemeral range:
 * a port from that range could be taken, while the control plane is down, by an outgoing
 * connection (an agent's poll) or a published container port, and the next start would fail.
 */
async function bindStable<T>(what: string, fixed: number | undefined, source: string, file: string, start: (port: number) => Promise<T>): Promise<T> {
  if (fixed) {
    try {
      return await start(fixed);
    } catch (err) {
      if (!isAddrInUse(err)) throw err;
      throw new Error(`port ${fixed} of the ${what} (${source}) is in use by another process: stop that process, or delete ${file} to pick new ports`, {
        cause: err,
      });
    }
  }
  let last: unknown;
  for (const port of portCandidates(20)) {
    try {
      return await start(port);
    } catch (err) {
      if (!isAddrInUse(err)) throw err;
      last = err;
    }
  }
  throw new Error(`found no free port for the ${what}`, { cause: last });
}

function portCandidates(count: number): number[] {
  const min = 20_000;
  let low = 32_768;
  try {
    low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || low;
  } catch {
    // Not Linux: assume the usual range.
  }
  // An unusual ephemeral range leaves no room below it: any free port then.
  if (low - min < 1_000) return [0];
  return Array.from({ length: count }, () => min + Math.floor(Math.random() * (low - min)));
}

function isAddrInUse(err: unknown): boolean {
  for (let e = err as { code?: string; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (e.code === 'EADDRINUSE') return true;
  }
  return false;
}

function portOf(url: string): number {
  return Number(new URL(url).port);
}

// ---------------------------------------------------------------------------------------------
// Hosts: agents as detached processes, found by pid file and checked in /proc

export type HostState = 'running' | 'paused' | 'dead';

interface AgentEnvFile {
  readonly format: number;
  readonly cluster: string;
  readonly hostId: string;
  readonly address: string;
  /** The agent's Skiff configuration; the rest of its environment (PATH, DOCKER_HOST...) comes from whoever starts it. */
  readonly env: Record<string, string>;
}

/** The files of one local host: its agent's pid, its saved configuration, its log. */
export function hostFiles(dataDir: string, id: string): { pid: string; env: string; log: string } {
  return { pid: join(dataDir, 'run', `${id}.pid`), env: join(dataDir, 'run', `${id}.env.json`), log: join(dataDir, 'logs', `${id}.log`) };
}

function readAgentEnv(dataDir: string, id: string): AgentEnvFile | undefined {
  const file = hostFiles(dataDir, id).env;
  if (!existsSync(file)) return undefined;
  let saved: AgentEnvFile;
  try {
    saved = JSON.parse(readFileSync(file, 'utf8')) as AgentEnvFile;
  } catch (err) {
    throw new Error(`${file} is not valid JSON (${(err as Error).message}): start the cluster again with \`skiff local up\` to rewrite it`);
  }
  if (saved?.format !== AGENT_ENV_FORMAT)
    throw new Error(
      `${file} has format ${String(saved?.format)}, this skiff reads format ${AGENT_ENV_FORMAT}: start the cluster again with \`skiff local up\` to rewrite it`,
    );
  return saved;
}

/** Ids of every host that has ever run from this data dir (it has a pid or configuration file). */
function knownHostIds(dataDir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(join(dataDir, 'run'));
  } catch {
    return [];
  }
  const ids = new Set(names.map((n) => /^(host-\d+)\.(pid|env\.json)$/.exec(n)?.[1]).filter((id): id is string => id !== undefined));
  return [...ids].sort((a, b) => Number(a.slice(5)) - Number(b.slice(5)));
}

export interface AgentProcess {
  readonly pid: number;
  readonly state: 'running' | 'paused';
  /** Its environment at start (what /proc shows). */
  readonly env: Record<string, string>;
}

/**
 * The running agent of a host, or undefined when there is none. The pid file alone is not trusted (the
 * agent may have died and its pid been reused): the process must run agent/main.ts (or its bundle) with this cluster's
 * name and this very pid file in its environment.
 */
export function findAgent(dataDir: string, cluster: string, id: string): AgentProcess | undefined {
  const pidFile = hostFiles(dataDir, id).pid;
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return agentProcess(pid, cluster, pidFile);
}

function agentProcess(pid: number, cluster: string, pidFile: string): AgentProcess | undefined {
  if (!existsSync('/proc/self/stat')) {
    // No /proc (not Linux): the pid file is all there is to go by.
    return isAlive(pid) ? { pid, state: 'running', env: {} } : undefined;
  }
  let stat: string, cmdline: string, environ: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
  } catch {
    return undefined;
  }
  // The state letter follows the command name in parentheses, which may itself contain ") ".
  const letter = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  if (letter === 'Z' || letter === 'X' || letter === 'x') return undefined;
  if (!cmdline.split('\0').some((arg) => arg.endsWith(`${sep}agent${sep}main.ts`) || arg.endsWith(`${sep}dist${sep}agent${sep}main.mjs`))) return undefined;
  if (processUid(pid) !== process.getuid?.()) return undefined;
  const env: Record<string, string> = {};
  for (const pair of environ.split('\0')) {
    const eq = pair.indexOf('=');
    if (eq > 0) env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  if (env.SKIFF_CLUSTER !== cluster || env.SKIFF_PID_FILE !== pidFile) return undefined;
  // T: stopped by a signal (SIGSTOP); t: stopped by a debugger. Either way it does nothing.
  return { pid, state: letter === 'T' || letter === 't' ? 'paused' : 'running', env };
}

/** The real uid of a process, from /proc/<pid>/status (Linux); undefined when it cannot be read. */
function processUid(pid: number): number | undefined {
  try {
    const line = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return line ? Number(line[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Why the process the status file names is not the control plane it claims to be, or undefined when
 * it is: `skiff local up` run by this user, from a folder whose status file is this one, with the
 * status's data folder. A pid alone is not trusted: the control plane may have died and its pid been
 * reused, or the file may name any process; `local down` signals only what passes. Without /proc
 * (not Linux) the pid is all there is to go by.
 */
export function controlPlaneMismatch(status: LocalStatus, statusFile: string): string | undefined {
  const pid = status.pid;
  if (!Number.isInteger(pid) || pid <= 0) return `${JSON.stringify(pid)} is not a process id`;
  if (!existsSync('/proc/self/stat')) return isAlive(pid) ? undefined : `no process has pid ${pid}`;
  let stat: string, cmdline: string, cwd: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    cwd = readlinkSync(`/proc/${pid}/cwd`);
  } catch {
    return `no process of yours has pid ${pid}`;
  }
  const letter = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  if (letter === 'Z' || letter === 'X' || letter === 'x') return `process ${pid} has exited`;
  const uid = processUid(pid);
  if (uid !== process.getuid?.()) return `process ${pid} belongs to uid ${uid ?? '?'}, not to you`;
  const args = cmdline.split('\0');
  // The entry script (bin/skiff.mjs, the bundle or cli/main.ts under tsx), then `local up`.
  const entry = args.findIndex(
    (a) => basename(a) === 'skiff.mjs' || basename(a) === 'skiff' || a.endsWith(`${sep}cli${sep}main.ts`) || a.endsWith(`${sep}cli${sep}main.mjs`),
  );
  if (entry < 0 || args[entry + 1] !== 'local' || args[entry + 2] !== 'up')
    return `process ${pid} is not \`skiff local up\` (it runs ${JSON.stringify(args.filter(Boolean).join(' ').slice(0, 120))})`;
  const real = (p: string) => {
    try {
      return realpathSync(p);
    } catch {
      return resolve(p);
    }
  };
  if (real(statusFilePath(cwd)) !== real(statusFile)) return `process ${pid} runs from ${cwd}, not from this folder`;
  const flag = (name: string) => {
    const i = args.findIndex((a, j) => j > entry && (a === `--${name}` || a.startsWith(`--${name}=`)));
    if (i < 0) return undefined;
    return args[i]!.includes('=') ? args[i]!.slice(args[i]!.indexOf('=') + 1) : args[i + 1];
  };
  const dataDir = resolve(cwd, flag('data') ?? join('.skiff', flag('cluster') ?? 'local'));
  if (real(dataDir) !== real(status.dataDir)) return `process ${pid} keeps its data in ${dataDir}, not in ${status.dataDir}`;
  return undefined;
}

/** Where a host's agent stands: its pid (null when dead) and state. */
export function hostState(dataDir: string, cluster: string, id: string): { pid: number | null; state: HostState } {
  const agent = findAgent(dataDir, cluster, id);
  return agent ? { pid: agent.pid, state: agent.state } : { pid: null, state: 'dead' };
}

/**
 * Starts a host's agent from its saved configuration, detached: its own process group and session, so
 * that it neither gets the terminal's Ctrl-C nor dies with the process that started it. Returns its pid.
 */
export function startAgent(dataDir: string, id: string): number {
  const saved = readAgentEnv(dataDir, id);
  if (!saved) throw new Error(`host ${id} has no saved configuration (${hostFiles(dataDir, id).env}): start the cluster with \`skiff local up\``);
  const files = hostFiles(dataDir, id);
  mkdirSync(dirname(files.log), { recursive: true });
  const fd = openSync(files.log, 'a');
  // The caller's AWS settings are not the agent's business: locally it talks to the stand-ins only.
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_')));
  let child: ReturnType<typeof spawn>;
  try {
    child = spawn(process.execPath, agentCommand(), {
      cwd: PROJECT_ROOT,
      detached: true,
      stdio: ['ignore', fd, fd],
      env: { ...base, ...saved.env },
    });
  } finally {
    closeSync(fd);
  }
  child.on('error', () => undefined);
  child.unref();
  if (!child.pid) throw new Error(`could not start the agent of host ${id}; see ${files.log}`);
  // Written now so that the host is found at once; the agent writes the same pid when it is up.
  writeFileSync(files.pid, String(child.pid));
  return child.pid;
}

/** Stops a host's agent: SIGTERM (it leaves its containers running), SIGKILL after a grace period. */
export async function stopAgent(dataDir: string, cluster: string, id: string): Promise<number | undefined> {
  const agent = findAgent(dataDir, cluster, id);
  if (!agent) return undefined;
  const pidFile = hostFiles(dataDir, id).pid;
  await stopPid(agent.pid, () => agentProcess(agent.pid, cluster, pidFile) !== undefined);
  return agent.pid;
}

/**
 * Stops the agent of every host this data dir knows of (and of `also`), each as stopAgent does, and
 * returns once all have exited: the pids stopped. What a full stop runs before it removes the cluster's
 * containers and networks, so that no agent writes its rules again behind the removal.
 */
export async function stopAgents(dataDir: string, cluster: string, also: readonly string[] = []): Promise<number[]> {
  const ids = new Set([...also, ...knownHostIds(dataDir)]);
  const pids = await Promise.all([...ids].map((id) => stopAgent(dataDir, cluster, id)));
  return pids.filter((pid): pid is number => pid !== undefined);
}

async function stopPid(pid: number, alive: () => boolean = () => isAlive(pid)): Promise<void> {
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(pid, s);
    } catch {
      // gone already
    }
  };
  signal('SIGTERM');
  // A paused agent would keep SIGTERM pending forever.
  signal('SIGCONT');
  for (const deadline = Date.now() + AGENT_STOP_GRACE_MS; alive() && Date.now() < deadline; ) await sleep(100);
  if (!alive()) return;
  signal('SIGKILL');
  for (const deadline = Date.now() + 2_000; alive() && Date.now() < deadline; ) await sleep(50);
}

/**
 * A dead machine: SIGKILL the host's agent and `docker kill` its containers (they stay, exited, as
 * after a power cut). Returns the agent's pid (undefined if it was already dead) and the app containers
 * killed: a pod's sandbox is killed with it but is not one of the containers its spec names.
 */
export async function killHost(dataDir: string, cluster: string, id: string, docker = new Docker()): Promise<{ pid: number | undefined; containers: number }> {
  const agent = findAgent(dataDir, cluster, id);
  if (agent) {
    process.kill(agent.pid, 'SIGKILL');
    // A stale pid file would point the waker's SIGUSR1 at whatever process reuses the pid later.
    rmSync(hostFiles(dataDir, id).pid, { force: true });
  }
  const list = await docker.listContainers({ filters: { label: [`${LABELS.cluster}=${cluster}`, `${LABELS.host}=${id}`] } });
  await Promise.all(
    list.map((c) =>
      docker
        .getContainer(c.Id)
        .kill()
        .catch((err: { statusCode?: number }) => {
          // 404: removed meanwhile; 409: not running any more.
          if (err.statusCode !== 404 && err.statusCode !== 409) throw err;
        }),
    ),
  );
  // A power cut takes the kernel's packet filter rules with it; the agent writes its own again when it comes back.
  await new IptablesFilter({ cluster, hostId: id }).remove().catch(() => undefined);
  return { pid: agent?.pid, containers: list.filter((c) => c.Labels[LABELS.container] !== SANDBOX).length };
}

/** Logs what happens to the hosts behind the control plane's back (killed, paused, started again). */
class HostWatcher {
  private timer: NodeJS.Timeout | undefined;
  private last = new Map<string, string>();

  constructor(
    private readonly dataDir: string,
    private readonly cluster: string,
    private readonly hosts: readonly LocalHost[],
    private readonly log: (line: string) => void,
  ) {}

  start(): void {
    for (const h of this.hosts) this.last.set(h.id, this.describe(h.id));
    this.timer = setInterval(() => this.check(), 1_000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private describe(id: string): string {
    const { pid, state } = hostState(this.dataDir, this.cluster, id);
    return state === 'dead' ? 'dead' : `${state} (agent pid ${pid})`;
  }

  private check(): void {
    for (const h of this.hosts) {
      const now = this.describe(h.id);
      if (now !== this.last.get(h.id)) this.log(`skiff: host ${h.id} is ${now}${now === 'dead' ? `; see ${h.log}` : ''}`);
      this.last.set(h.id, now);
    }
  }
}

// ---------------------------------------------------------------------------------------------

/**
 * Waits until each of `hostIds` has reported since `since` (its agent is up and registered), at
 * most `timeoutMs`; then logs the hosts still silent and returns, and the health check judges them.
 */
async function awaitFirstReports(store: DynamoStore, hostIds: readonly string[], since: Date, timeoutMs: number, log: (line: string) => void): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let silent = [...hostIds];
  while (silent.length > 0) {
    const statuses = await Promise.all(silent.map((id) => store.getHostStatus(id).catch(() => undefined)));
    silent = silent.filter((_, i) => !(statuses[i] && Date.parse(statuses[i]!.heartbeatAt) >= since.getTime()));
    if (silent.length === 0) return;
    if (Date.now() >= deadline) {
      log(
        `skiff: host(s) ${silent.join(', ')} did not report within ${timeoutMs / 1000} s of starting; the health check now counts their silence (see their logs)`,
      );
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Runs a handler (scheduler, health) on a timer and on demand, one run at a time; a failure is logged once until it changes. */
class HandlerLoop extends SerialLoop {
  constructor(handler: (event: unknown, context: never) => Promise<unknown>, intervalMs: number, log: (msg: string) => void) {
    let lastError = '';
    super(async () => {
      try {
        const result = await handler({}, { awsRequestId: `local-${Date.now()}` } as never);
        lastError = '';
        // A scheduler pass that ran out of its budget left work: the next runs at once, not at the next tick.
        if ((result as { more?: unknown } | undefined)?.more) this.kick();
      } catch (err) {
        const msg = (err as Error).message;
        if (msg !== lastError) log(`pass failed: ${msg}`);
        lastError = msg;
      }
    }, intervalMs);
  }
}

/** The cluster's DNS zone: service names are `<service>.<namespace>.skiff.internal` (never `.local`: mDNS). */
export const DNS_ZONE = 'skiff.internal';

/** The cluster's container network: one Docker bridge network, shared by every local host. */
export async function ensureNetwork(cluster: string, docker = new Docker()): Promise<string> {
  const name = `skiff-${cluster}`;
  const existing = await docker.listNetworks({ filters: { name: [name] } });
  if (existing.some((n) => n.Name === name)) return name;
  try {
    await docker.createNetwork({ Name: name, Driver: 'bridge', CheckDuplicate: true, Labels: { [LABELS.cluster]: cluster } });
  } catch (err) {
    // 409: created meanwhile by another start; that one is as good.
    if ((err as { statusCode?: number }).statusCode !== 409) throw err;
  }
  return name;
}

/** Removes the cluster's networks, the agents' isolation rules (agent/packet-filter.ts) and their credentials NAT rules on the bridges (agent/credentials-routes.ts). */
export async function removeNetwork(cluster: string, docker = new Docker()): Promise<void> {
  // The agents' namespace isolation rules name the containers' addresses: they go with the containers.
  await removeClusterFilters(cluster).catch(() => 0);
  const nets = await docker.listNetworks({ filters: { label: [`${LABELS.cluster}=${cluster}`] } });
  await Promise.all(
    nets.map((n) =>
      docker
        .getNetwork(n.Id)
        .remove()
        .catch(() => undefined),
    ),
  );
  await removeCredentialRoutes(new IptablesCredentialsNat(), cluster);
}

/** Removes every container of the cluster, on every local host. */
export async function removeContainers(cluster: string, docker = new Docker()): Promise<number> {
  const list = await docker.listContainers({ all: true, filters: { label: [`${LABELS.cluster}=${cluster}`] } });
  await Promise.all(
    list.map((c) =>
      docker
        .getContainer(c.Id)
        .remove({ force: true, v: true })
        .catch(() => undefined),
    ),
  );
  return list.length;
}

function writeJsonAtomic(file: string, value: unknown, mode?: number): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileAtomicSync(file, JSON.stringify(value, null, 2), mode === undefined ? {} : { mode });
}

/** Drops group and world write from a folder of the user's (Skiff's own: the data dir, `.skiff`). */
function denyOthersWrite(dir: string): void {
  const st = statSync(dir);
  if (st.uid === process.getuid?.() && st.mode & 0o022) chmodSync(dir, st.mode & 0o7755);
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
