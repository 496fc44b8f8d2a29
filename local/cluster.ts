/**
 * The one-machine cluster: dynalite and the SSM stand-in in this process, the same API and
 * scheduler handlers as on AWS (their adapters pointed at the stand-ins), and one agent child
 * process per host, host `i` publishing container ports on 127.0.1.`i`.
 *
 * Local mode is a preset that swaps adapters; no logic here decides anything about the cluster.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, closeSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SSMClient } from '@aws-sdk/client-ssm';
import Docker from 'dockerode';
import { startDynalite, dynaliteClient, ensureTable } from './dynalite.ts';
import { startSsmServer } from './ssm-server.ts';
import { startApiServer } from './api-server.ts';
import { SignalWaker } from './waker.ts';
import { DynamoStore } from '../adapters/aws/dynamo-store.ts';
import { SsmHostChannel } from '../adapters/aws/ssm-channel.ts';
import { makeApiHandler } from '../functions/api/handler.ts';
import { makeSchedulerHandler } from '../functions/scheduler/handler.ts';
import { LABELS } from '../agent/executor.ts';
import type { Store } from '../ports/index.ts';

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TABLE = 'skiff';
const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };
const REGION = 'us-east-1';

export interface LocalClusterOptions {
  /** Cluster name: labels its containers and names its SSM path. @default 'local' */
  readonly cluster?: string;
  /** @default 3 */
  readonly hosts?: number;
  /** Where state (DynamoDB, SSM parameters, agent state, logs) is kept. @default '.skiff/<cluster>' */
  readonly dataDir?: string;
  /** API port on 127.0.0.1; 0 picks a free one. @default 0 */
  readonly apiPort?: number;
  /** Capacity each local host reports. @default 4000 millicores, 8 GiB */
  readonly hostCpu?: string;
  readonly hostMemory?: string;
  /** Scheduler timer (API writes also trigger a pass at once). @default 1000 */
  readonly schedulerIntervalMs?: number;
  /** Agent document poll (wake-ups make changes arrive sooner). @default 2 */
  readonly pollSeconds?: number;
  /** Agent heartbeat. @default 2 */
  readonly heartbeatSeconds?: number;
  /** Where the status file for the CLI is written; undefined writes none. */
  readonly statusFile?: string;
  readonly log?: (line: string) => void;
}

export interface LocalHost {
  readonly id: string;
  readonly address: string;
  readonly pid: number;
  readonly log: string;
}

export interface LocalStatus {
  readonly cluster: string;
  readonly pid: number;
  readonly api: string;
  readonly dataDir: string;
  readonly startedAt: string;
  readonly hosts: LocalHost[];
}

export interface LocalCluster {
  readonly status: LocalStatus;
  readonly store: Store;
  /** Runs a scheduler pass now and waits for it. */
  schedule(): Promise<void>;
  stop(): Promise<void>;
}

const KNOWN_OPTIONS = new Set(['cluster', 'hosts', 'dataDir', 'apiPort', 'hostCpu', 'hostMemory', 'schedulerIntervalMs', 'pollSeconds', 'heartbeatSeconds', 'statusFile', 'log']);

export async function startLocalCluster(options: LocalClusterOptions = {}): Promise<LocalCluster> {
  for (const k of Object.keys(options)) if (!KNOWN_OPTIONS.has(k)) throw new Error(`unknown local cluster option "${k}"`);
  const cluster = options.cluster ?? 'local';
  if (!/^[a-z0-9][a-z0-9-]{0,30}$/.test(cluster)) throw new Error(`cluster name "${cluster}" must be lowercase letters, digits and '-', at most 31 characters`);
  const hostCount = options.hosts ?? 3;
  if (!Number.isInteger(hostCount) || hostCount < 1 || hostCount > 254) throw new Error(`hosts must be an integer from 1 to 254, got ${hostCount}`);
  const dataDir = resolve(options.dataDir ?? join('.skiff', cluster));
  const log = options.log ?? ((line: string) => console.log(line));
  const runDir = join(dataDir, 'run');
  const logDir = join(dataDir, 'logs');
  mkdirSync(runDir, { recursive: true });
  mkdirSync(logDir, { recursive: true });

  if (options.statusFile) {
    const running = readLocalStatus(options.statusFile);
    if (running && isAlive(running.pid)) throw new Error(`a local cluster is already running (pid ${running.pid}, API ${running.api}); stop it first`);
  }

  const cleanups: (() => Promise<void> | void)[] = [];
  const stopAll = async () => {
    for (const fn of cleanups.reverse()) {
      try {
        await fn();
      } catch (err) {
        log(`skiff: cleanup step failed: ${(err as Error).message}`);
      }
    }
  };

  try {
    const dynamo = await startDynalite({ path: join(dataDir, 'dynamodb') });
    cleanups.push(() => dynamo.close());
    const dynamoClient = dynaliteClient(dynamo.endpoint);
    await ensureTable(dynamoClient, TABLE);
    log(`skiff: DynamoDB (dynalite) at ${dynamo.endpoint}, data in ${join(dataDir, 'dynamodb')}`);

    const ssm = await startSsmServer({ dataFile: join(dataDir, 'ssm.json') });
    cleanups.push(() => ssm.close());
    log(`skiff: SSM Parameter Store stand-in at ${ssm.endpoint}`);

    const store = new DynamoStore(dynamoClient, { tableName: TABLE });
    const channel = new SsmHostChannel(new SSMClient({ endpoint: ssm.endpoint, region: REGION, credentials: LOCAL_CREDENTIALS }), { prefix: `/skiff/${cluster}` });
    const waker = new SignalWaker(runDir);

    const scheduler = new SchedulerLoop(
      makeSchedulerHandler({ store, channel, waker, cluster, now: () => new Date() }),
      options.schedulerIntervalMs ?? 1000,
      (msg) => log(`skiff: scheduler: ${msg}`),
    );
    cleanups.push(() => scheduler.stop());

    const api = await startApiServer(makeApiHandler({ store, now: () => new Date(), kickScheduler: async () => scheduler.kick() }), { port: options.apiPort ?? 0 });
    cleanups.push(() => api.close());
    log(`skiff: API at ${api.url}`);

    const agents: { host: LocalHost; child: ChildProcess }[] = [];
    cleanups.push(async () => {
      await Promise.all(agents.map(({ child }) => stopChild(child)));
      await removeContainers(cluster);
      log(`skiff: removed the containers of cluster ${cluster}`);
    });
    for (let i = 1; i <= hostCount; i++) {
      const id = `host-${i}`;
      const address = `127.0.1.${i}`;
      const logFile = join(logDir, `${id}.log`);
      const fd = openSync(logFile, 'a');
      const child = spawn(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'agent', 'main.ts')], {
        cwd: PROJECT_ROOT,
        stdio: ['ignore', fd, fd],
        env: {
          ...process.env,
          AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
          AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
          AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
          SKIFF_REGION: REGION,
          SKIFF_CLUSTER: cluster,
          SKIFF_TABLE: TABLE,
          SKIFF_PARAM_PREFIX: `/skiff/${cluster}`,
          SKIFF_DYNAMODB_ENDPOINT: dynamo.endpoint,
          SKIFF_SSM_ENDPOINT: ssm.endpoint,
          SKIFF_HOST_ID: id,
          SKIFF_HOST_ADDRESS: address,
          SKIFF_HOST_CPU: options.hostCpu ?? '4',
          SKIFF_HOST_MEMORY: options.hostMemory ?? '8Gi',
          SKIFF_HOST_LABELS: `local=true,index=${i}`,
          SKIFF_POLL_SECONDS: String(options.pollSeconds ?? 2),
          SKIFF_HEARTBEAT_SECONDS: String(options.heartbeatSeconds ?? 2),
          SKIFF_STOP_GRACE_SECONDS: '5',
          SKIFF_STATE_DIR: join(dataDir, 'agents'),
          SKIFF_PID_FILE: join(runDir, `${id}.pid`),
        },
      });
      closeSync(fd);
      const host = { id, address, pid: child.pid ?? -1, log: logFile };
      agents.push({ host, child });
      child.on('exit', (code, signal) => {
        if (!stopping) log(`skiff: agent ${id} exited (${signal ?? `code ${code}`}); see ${logFile}`);
      });
      log(`skiff: host ${id} at ${address} (agent pid ${host.pid}, log ${logFile})`);
    }
    let stopping = false;
    cleanups.push(() => {
      stopping = true;
    });

    const status: LocalStatus = { cluster, pid: process.pid, api: api.url, dataDir, startedAt: new Date().toISOString(), hosts: agents.map((a) => a.host) };
    if (options.statusFile) {
      const file = options.statusFile;
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, JSON.stringify(status, null, 2));
      cleanups.push(() => rmSync(file, { force: true }));
    }
    scheduler.start();

    let stopped: Promise<void> | undefined;
    return {
      status,
      store,
      schedule: () => scheduler.runNow(),
      stop: () => (stopped ??= stopAll()),
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** Runs the scheduler handler on a timer and on demand, one pass at a time. */
class SchedulerLoop {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private lastError = '';

  constructor(
    private readonly handler: ReturnType<typeof makeSchedulerHandler>,
    private readonly intervalMs: number,
    private readonly log: (msg: string) => void,
  ) {}

  start(): void {
    this.tick();
  }

  private tick(): void {
    if (this.stopped) return;
    void this.runNow().finally(() => {
      if (!this.stopped) this.timer = setTimeout(() => this.tick(), this.intervalMs);
    });
  }

  /** A pass soon; passes never overlap (see functions/scheduler/pass.ts). */
  kick(): void {
    void this.runNow();
  }

  runNow(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          await this.handler({}, { awsRequestId: `local-${Date.now()}` } as never);
          this.lastError = '';
        } catch (err) {
          const msg = (err as Error).message;
          if (msg !== this.lastError) this.log(`pass failed: ${msg}`);
          this.lastError = msg;
        }
      } while (this.again && !this.stopped);
    })().finally(() => (this.running = undefined));
    return this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 5000).unref());
  if ((await Promise.race([exited, timeout])) === 'timeout') {
    child.kill('SIGKILL');
    await exited;
  }
}

/** Removes every container of the cluster, on every local host. */
export async function removeContainers(cluster: string, docker = new Docker()): Promise<number> {
  const list = await docker.listContainers({ all: true, filters: { label: [`${LABELS.cluster}=${cluster}`] } });
  await Promise.all(list.map((c) => docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined)));
  return list.length;
}

export function readLocalStatus(file: string): LocalStatus | undefined {
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LocalStatus;
  } catch {
    return undefined;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
