/**
 * A scale simulation of the real control plane (docs/scale.md): the real API core, scheduler pass,
 * health check and discovery sync, against the local stores (dynalite through the DynamoDB adapter,
 * the Parameter Store stand-in, the Route 53 stand-in, each enforcing AWS's request rates), and N
 * simulated hosts: the real agent loop (agent/agent.ts), all in this process, each over an in-memory
 * container runtime (adapters/memory/executor.ts) and polling the SSM stand-in at the AWS poll
 * interval. No Docker, no child process, no traffic off 127.0.0.1. Counts every DynamoDB, SSM and
 * Route 53 call, prints the figures, asserts nothing, stops by itself within --minutes and cleans up.
 *
 *   npx tsx bench/scale.ts --hosts 200 --tasks 2000 [--channel ssm|dynamodb] [--start-delay-ms 2000] [--crash-rate 0]
 *     [--minutes 10] [--idle-seconds 60] [--replicas 10] [--grace-seconds 60]
 *
 * `--channel dynamodb`: the host documents go through DynamoHostChannel to a host document table on
 * dynalite, with DynamoDB's per-partition and on-demand table limits modelled (bench/dynamo-limits.ts).
 *   node --cpu-prof --import tsx bench/scale.ts ...   (a CPU profile of the whole run)
 */
import './env.ts';
import './quiet-logs.ts';
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, loadavg, cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { numberFlag } from './args.ts';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { SSMClient as SsmClient } from '@aws-sdk/client-ssm';
import { Route53Client } from '@aws-sdk/client-route-53';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { startDynalite, dynaliteClient, ensureTable } from '../local/dynalite.ts';
import { startSsmServer } from '../local/ssm-server.ts';
import { startRoute53Server } from '../local/route53-server.ts';
import { LocalMachines } from '../local/machines.ts';
import { DynamoStore } from '../adapters/aws/dynamo-store.ts';
import { SsmHostChannel } from '../adapters/aws/ssm-channel.ts';
import { DynamoHostChannel } from '../adapters/aws/dynamo-host-channel.ts';
import { ensureHostDocumentTable } from '../local/host-document-table.ts';
import { DynamoLimiter, ON_DEMAND_NEW_TABLE, type LimiterStats } from './dynamo-limits.ts';
import { Route53Zone } from '../adapters/aws/route53-zone.ts';
import { RunCommandWaker } from '../adapters/aws/run-command-waker.ts';
import { CallCounter, type CallTally } from '../adapters/aws/call-counter.ts';
import { itemSize } from '../adapters/aws/dynamo/items.ts';
import { hostIndexKey, hostStatusIndexKey } from '../adapters/aws/dynamo/keys.ts';
import { createApi } from '../app/api.ts';
import { makeHealthHandler } from '../app/handlers/health.ts';
import { DNS_SYNC_BUDGET_MS, runDiscoverySync } from '../app/discovery.ts';
import { newPassState, PASS_STEPS, runPass, type PassResult, type PassStep } from '../app/scheduler/pass.ts';
import { PASS_MARGIN_MS, SCHEDULER_TIMEOUT_MS } from '../app/scheduler/budget.ts';
import type { HealthResult } from '../app/health.ts';
import { DNS_TTL } from '../core/discovery.ts';
import { ASSUME, AWS, MINUTES_PER_MONTH, PRICE } from './aws-prices.ts';
import { simHostId, type HostGroupConfig } from './scale-hosts.ts';
import { SerialLoop } from '../local/serial-loop.ts';

// ---------------------------------------------------------------------------------------------
// Options

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '200' },
    tasks: { type: 'string', default: '2000' },
    replicas: { type: 'string', default: '10' },
    'start-delay-ms': { type: 'string', default: '2000' },
    'crash-rate': { type: 'string', default: '0' },
    minutes: { type: 'string', default: '10' },
    'idle-seconds': { type: 'string', default: '60' },
    'grace-seconds': { type: 'string', default: '60' },
    'health-interval-seconds': { type: 'string', default: '15' },
    'heartbeat-seconds': { type: 'string', default: String(AWS.heartbeatS) },
    'poll-seconds': { type: 'string' },
    'scheduler-interval-ms': { type: 'string', default: '1000' },
    'route53-pending-ms': { type: 'string', default: '10000' },
    'wake-delivery-ms': { type: 'string', default: '1000' },
    'reconcile-ms': { type: 'string', default: '1000' },
    'host-processes': { type: 'string' },
    channel: { type: 'string', default: 'ssm' },
  },
});

const num = (name: keyof typeof values, min: number, max?: number) => numberFlag('scale', values, name, { min, ...(max === undefined ? {} : { max }) });

const HOSTS = num('hosts', 1, 10_000);
const TASKS = num('tasks', 1, 200_000);
const REPLICAS = num('replicas', 1, 1000);
const START_DELAY_MS = num('start-delay-ms', 0, 600_000);
/** Share of the running app containers that crash per minute (each restarts by its policy). */
const CRASH_RATE = num('crash-rate', 0, 60);
const MINUTES = num('minutes', 0.5, 120);
const IDLE_S = num('idle-seconds', 0, 3600);
const GRACE_S = num('grace-seconds', 1, 3600);
const HEALTH_S = num('health-interval-seconds', 1, 600);
const HEARTBEAT_S = num('heartbeat-seconds', 0.1, 600);
if (values.channel !== 'ssm' && values.channel !== 'dynamodb') {
  console.error(`bench/scale: --channel must be ssm or dynamodb, got ${JSON.stringify(values.channel)}`);
  process.exit(2);
}
const CHANNEL: 'ssm' | 'dynamodb' = values.channel;
/** The AWS poll interval for this fleet and channel (docs/host-channel.md: SSM hosts / 20 TPS, at least 5 s; DynamoDB 30 s), unless given. */
const POLL_S = values['poll-seconds'] === undefined ? AWS.pollS(HOSTS, CHANNEL) : num('poll-seconds', 0.1, 3600);
const SCHEDULER_MS = num('scheduler-interval-ms', 10, 600_000);
const ROUTE53_PENDING_MS = num('route53-pending-ms', 0, 600_000);
const WAKE_DELIVERY_MS = num('wake-delivery-ms', 0, 60_000);
const RECONCILE_MS = num('reconcile-ms', 100, 60_000);

const CLUSTER = 'scale';
const TABLE = 'skiff';
const DOCUMENT_TABLE = 'skiff-host-documents';
const REGION = 'us-east-1';
const CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };
const ZONE = 'skiff.internal';
const HOST_CPU = 4000;
const HOST_MEMORY = 8 * 2 ** 30;
const T0 = performance.now();
const deadline = T0 + MINUTES * 60_000;
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const elapsed = () => performance.now() - T0;
const log = (line: string) => console.log(`[${secs(elapsed()).padStart(8)}] ${line}`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const remaining = () => deadline - performance.now();

// ---------------------------------------------------------------------------------------------
// Counting

/** Calls that ended in an error, by `Service.Operation:ErrorName` (after the SDK's own retries). */
const errors = new Map<string, number>();
function countErrors(client: { middlewareStack: { add(m: unknown, o: Record<string, unknown>): void } }, service: string): void {
  client.middlewareStack.add(
    (next: (a: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
      try {
        return await next(args);
      } catch (err) {
        const key = `${service}.${(context.commandName ?? '?').replace(/Command$/, '')}:${(err as Error).name}`;
        errors.set(key, (errors.get(key) ?? 0) + 1);
        throw err;
      }
    },
    { step: 'initialize', name: 'scaleErrorCounter', override: true },
  );
}

/**
 * Write units per second into the three `gsi1` partitions every table write of an indexed item lands
 * in (docs/state.md: `HOSTS#<n>`, `HOSTSTATUS#<n>`, `SERVICES`). A partition takes 1,000 WCU/s (published
 * DynamoDB figure); the index is written with all attributes projected, so about the table's units.
 */
const indexWrites = new Map<number, Map<string, number>>();
function meterIndexWrites(client: { middlewareStack: { add(m: unknown, o: Record<string, unknown>): void } }): void {
  client.middlewareStack.add(
    (next: (a: { input: Record<string, unknown> }) => Promise<{ output: Record<string, unknown> }>, context: { commandName?: string }) =>
      async (args: { input: Record<string, unknown> }) => {
        const result = await next(args);
        const op = context.commandName ?? '';
        if (op === 'PutItemCommand' || op === 'UpdateItemCommand') {
          const keyed = (args.input.Item ?? args.input.Key) as Record<string, unknown> | undefined;
          const skRaw = keyed?.sk as { S?: string } | string | undefined;
          const sk = typeof skRaw === 'string' ? skRaw : skRaw?.S;
          const pkRaw = keyed?.pk as { S?: string } | string | undefined;
          const host = String((typeof pkRaw === 'string' ? pkRaw : pkRaw?.S) ?? '').replace(/^HOST#/, '');
          const partition = sk === '#HOST' ? hostIndexKey(host) : sk === 'STATUS' ? hostStatusIndexKey(host) : sk === '#SERVICE' ? 'SERVICES' : undefined;
          const units = (result.output.ConsumedCapacity as { CapacityUnits?: number } | undefined)?.CapacityUnits ?? 1;
          if (partition) {
            const second = Math.floor(elapsed() / 1000);
            const m = indexWrites.get(second) ?? indexWrites.set(second, new Map()).get(second)!;
            m.set(partition, (m.get(partition) ?? 0) + units);
          }
        }
        return result;
      },
    { step: 'initialize', name: 'scaleIndexMeter', override: true },
  );
}

const counters = {
  scheduler: new CallCounter(),
  discovery: new CallCounter(),
  health: new CallCounter(),
  api: new CallCounter(),
};
type Role = keyof typeof counters | 'agents';

function ddbClient(role: keyof typeof counters) {
  const c = dynaliteClient(dynamoEndpoint);
  counters[role].attach(c, 'DynamoDB');
  countErrors(c, `${role}:DynamoDB`);
  meterIndexWrites(c);
  return c;
}

function ssmClient(role: keyof typeof counters): SSMClient {
  const c = new SsmClient({ endpoint: ssmEndpoint, region: REGION, credentials: CREDENTIALS });
  counters[role].attach(c, 'SSM');
  countErrors(c, `${role}:SSM`);
  return c;
}

const diff = (a: CallTally, b: CallTally): CallTally => {
  const calls: Record<string, number> = {};
  for (const k of new Set([...Object.keys(a.calls), ...Object.keys(b.calls)])) {
    const d = (b.calls[k] ?? 0) - (a.calls[k] ?? 0);
    if (d) calls[k] = d;
  }
  return { calls, readUnits: b.readUnits - a.readUnits, writeUnits: b.writeUnits - a.writeUnits };
};
const total = (t: CallTally, prefix = '') => Object.entries(t.calls).reduce((s, [k, v]) => (k.startsWith(prefix) ? s + v : s), 0);
const snapshotAll = () =>
  ({ ...Object.fromEntries(Object.entries(counters).map(([k, c]) => [k, c.snapshot()])), agents: agentCalls() }) as Record<Role, CallTally>;

// ---------------------------------------------------------------------------------------------
// Memory: sampled, so a pass's peak is seen while it runs

let heapPeak = 0;
let rssPeak = 0;
const memTimer = setInterval(() => {
  const m = process.memoryUsage();
  heapPeak = Math.max(heapPeak, m.heapUsed);
  rssPeak = Math.max(rssPeak, m.rss);
}, 50);
memTimer.unref();
const MB = 2 ** 20;

// ---------------------------------------------------------------------------------------------
// Cleanup, whatever happens

const cleanups: (() => Promise<unknown> | unknown)[] = [];
let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const fn of cleanups.splice(0).reverse()) {
      try {
        await Promise.race([fn(), sleep(15_000)]);
      } catch (err) {
        console.error(`cleanup step failed: ${(err as Error).message}`);
      }
    }
  })();
  return cleaning;
}
// A hard stop a little after the deadline, even if a pass or a scan hangs.
const hardStop = setTimeout(
  () => {
    console.error('bench/scale: hard time limit reached; cleaning up and exiting');
    void cleanup().finally(() => process.exit(3));
  },
  MINUTES * 60_000 + 60_000,
);
hardStop.unref();
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => void cleanup().finally(() => process.exit(130)));

const dir = mkdtempSync(join(tmpdir(), 'skiff-scale-'));
cleanups.push(() => rmSync(dir, { recursive: true, force: true }));

// ---------------------------------------------------------------------------------------------
// The stores

const dynamo = await startDynalite({});
cleanups.push(() => dynamo.close());
const dynamoEndpoint = dynamo.endpoint;
const rawDdb = dynaliteClient(dynamoEndpoint);
await ensureTable(rawDdb, TABLE);
if (CHANNEL === 'dynamodb') await ensureHostDocumentTable(rawDdb, DOCUMENT_TABLE);
const ssm = await startSsmServer({});
cleanups.push(() => ssm.close());
const ssmEndpoint = ssm.endpoint;
const route53 = await startRoute53Server({ pendingMs: ROUTE53_PENDING_MS });
cleanups.push(() => route53.close());
const zoneId = await route53.ensureZone(ZONE);

const store = (role: keyof typeof counters) => new DynamoStore(ddbClient(role), { tableName: TABLE });
const schedulerStore = store('scheduler');
const discoveryStore = store('discovery');
const healthStore = store('health');
const apiStore = store('api');
/** Uncounted: the bench's own checks. */
const benchStore = new DynamoStore(rawDdb, { tableName: TABLE });
const prefix = `/skiff/${CLUSTER}`;
/** DynamoDB's limits on the host document table, for the scheduler's writes (the agents' reads are limited in their processes). */
const schedulerLimiter = new DynamoLimiter(DOCUMENT_TABLE);
const schedulerChannel = (() => {
  if (CHANNEL === 'ssm') return new SsmHostChannel(ssmClient('scheduler'), { prefix });
  const c = ddbClient('scheduler');
  schedulerLimiter.attach(c);
  return new DynamoHostChannel(c, { tableName: DOCUMENT_TABLE });
})();

// ---------------------------------------------------------------------------------------------
// Simulated hosts: the real agent over an in-memory runtime, in child processes (bench/scale-hosts.ts)

const GROUPS = Math.min(HOSTS, values['host-processes'] === undefined ? Math.max(1, Math.ceil(HOSTS / 1000)) : num('host-processes', 1, 64));
interface Group {
  readonly child: ChildProcess;
  readonly ids: Set<string>;
  slots: [string, string][];
  calls: CallTally;
  logs: Record<string, number>;
  crashes: number;
  documents?: LimiterStats;
}
const groups: Group[] = [];
const groupOf = new Map<string, Group>();
const dead = new Set<string>();
const per = Math.ceil(HOSTS / GROUPS);
for (let g = 0; g < GROUPS; g++) {
  const first = g * per + 1;
  const count = Math.min(per, HOSTS - first + 1);
  if (count <= 0) break;
  const config: HostGroupConfig = {
    cluster: CLUSTER,
    table: TABLE,
    prefix: `/skiff/${CLUSTER}`,
    channel: CHANNEL,
    documentTable: DOCUMENT_TABLE,
    tableShare: 1 / GROUPS,
    dynamoEndpoint,
    ssmEndpoint,
    first,
    count,
    fleet: HOSTS,
    cpu: HOST_CPU,
    memory: HOST_MEMORY,
    pollMs: POLL_S * 1000,
    heartbeatMs: HEARTBEAT_S * 1000,
    reconcileMs: RECONCILE_MS,
    startDelayMs: START_DELAY_MS,
    crashRate: CRASH_RATE,
    spreadMs: Math.min(POLL_S * 1000, 10_000),
    dir,
  };
  // fork() runs the child with this process's Node options: tsx's loader included.
  const child = fork(join(import.meta.dirname, 'scale-hosts.ts'), [], {
    env: { ...process.env, SKIFF_SCALE_HOSTS: JSON.stringify(config) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const group: Group = { child, ids: new Set(), slots: [], calls: { calls: {}, readUnits: 0, writeUnits: 0 }, logs: {}, crashes: 0 };
  for (let i = first; i < first + count; i++) {
    group.ids.add(simHostId(i));
    groupOf.set(simHostId(i), group);
  }
  child.on(
    'message',
    (m: { type: string; slots?: [string, string][]; calls?: CallTally; logs?: Record<string, number>; crashes?: number; documents?: LimiterStats }) => {
      if (m.type !== 'tick') return;
      group.documents = m.documents ?? group.documents;
      group.slots = m.slots ?? [];
      group.calls = m.calls ?? group.calls;
      group.logs = m.logs ?? {};
      group.crashes = m.crashes ?? 0;
    },
  );
  groups.push(group);
}
cleanups.push(async () => {
  await Promise.all(
    groups.map(
      (g) =>
        new Promise<void>((resolve) => {
          if (g.child.exitCode !== null || g.child.signalCode !== null) return resolve();
          const timer = setTimeout(() => {
            g.child.kill('SIGKILL');
            resolve();
          }, 15_000);
          g.child.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          try {
            g.child.send({ type: 'stop' });
          } catch {
            g.child.kill('SIGKILL');
          }
        }),
    ),
  );
});
const agentCalls = (): CallTally => {
  const calls: Record<string, number> = {};
  let readUnits = 0;
  let writeUnits = 0;
  for (const g of groups) {
    for (const [k, v] of Object.entries(g.calls.calls)) calls[k] = (calls[k] ?? 0) + v;
    readUnits += g.calls.readUnits;
    writeUnits += g.calls.writeUnits;
  }
  return { calls, readUnits, writeUnits };
};
const agentLogs = () => {
  const all: Record<string, number> = {};
  for (const g of groups) for (const [k, v] of Object.entries(g.logs)) all[k] = (all[k] ?? 0) + v;
  return all;
};

/** SSM Run Command stand-in: each SendCommand is counted, and reaches its hosts' agents after the SSM Agent's delivery delay. */
let sendCommands = 0;
const runCommand = {
  send: async (command: { input: { InstanceIds?: string[] } }) => {
    sendCommands++;
    const ids = command.input.InstanceIds ?? [];
    setTimeout(() => {
      for (const g of groups) {
        const mine = ids.filter((id) => g.ids.has(id) && !dead.has(id));
        if (mine.length > 0 && g.child.connected) g.child.send({ type: 'wake', ids: mine });
      }
    }, WAKE_DELIVERY_MS).unref();
    return {};
  },
} as unknown as SSMClient;
const waker = new RunCommandWaker(runCommand, { documentName: 'skiff-scale-wake' });

// ---------------------------------------------------------------------------------------------
// The control plane: a pass loop (never overlapping, as reserved concurrency 1), discovery after
// each pass (as the scheduler Lambda does on AWS), the health check on its AWS interval

interface PassRecord {
  readonly at: number;
  readonly ms: number;
  readonly discoveryMs: number;
  readonly heapStartMB: number;
  readonly heapPeakMB: number;
  readonly calls: CallTally;
  readonly discoveryCalls: CallTally;
  readonly result?: PassResult;
  readonly error?: string;
  /** Milliseconds per step of the pass. */
  readonly steps: ReadonlyMap<string, number>;
}
const passes: PassRecord[] = [];
/** The pass as the scheduler handler runs it (app/handlers/scheduler.ts), with each step timed. */
let stepTimes = new Map<string, number>();
const timedSteps: PassStep[] = PASS_STEPS.map((step) => ({
  name: step.name,
  async run(ctx) {
    const t = performance.now();
    try {
      await step.run(ctx);
    } finally {
      stepTimes.set(step.name, performance.now() - t);
    }
  },
}));
const passState = newPassState();
const schedulerDeps = {
  store: schedulerStore,
  channel: schedulerChannel,
  waker,
  cluster: CLUSTER,
  now: () => new Date(),
  machines: new LocalMachines({ cpu: HOST_CPU, memory: HOST_MEMORY }),
  state: passState,
};
const zone = new Route53Zone(new Route53Client({ endpoint: route53.endpoint, region: REGION, credentials: CREDENTIALS, maxAttempts: 1 }), {
  hostedZoneId: zoneId,
  zone: ZONE,
  maxSyncMs: DNS_SYNC_BUDGET_MS,
});
let discoveryWarnings = 0;
/** Discovery syncs that failed whole (Route 53 busy past the adapter's retries), by message. */
const discoveryFailures = new Map<string, number>();
const discoveryDeps = { store: discoveryStore, zone: { name: ZONE, ttl: DNS_TTL.aws, port: zone }, warn: () => void discoveryWarnings++ };

/** A control function's loop, as local mode runs it; a failed run is logged and the loop goes on. */
const loop = (body: () => Promise<void>, intervalMs: number) =>
  new SerialLoop(() => body().catch((err: Error) => log(`loop failed: ${err.message}`)), intervalMs);

let passSeq = 0;
let lastDiscovery = performance.now();
const stepList = (m: ReadonlyMap<string, number>) =>
  [...m]
    .filter(([, ms]) => ms >= 1)
    .map(([n, ms]) => `${n} ${ms.toFixed(0)}`)
    .join(', ');
const scheduler = loop(async () => {
  const before = counters.scheduler.snapshot();
  const heapStart = process.memoryUsage().heapUsed;
  heapPeak = heapStart;
  const t = performance.now();
  let result: PassResult | undefined;
  let error: string | undefined;
  try {
    stepTimes = new Map();
    // The deadline the scheduler handler gives a pass in a fresh invocation (app/handlers/scheduler.ts).
    const deadline = Date.now() + SCHEDULER_TIMEOUT_MS - PASS_MARGIN_MS;
    result = await runPass({ ...schedulerDeps, seed: `${new Date().toISOString()}/scale-${++passSeq}`, deadline }, timedSteps);
  } catch (err) {
    error = (err as Error).message;
  }
  const ms = performance.now() - t;
  const heapAtEnd = Math.max(heapPeak, process.memoryUsage().heapUsed);
  const calls = diff(before, counters.scheduler.snapshot());
  const dBefore = counters.discovery.snapshot();
  const td = performance.now();
  try {
    // As the handler does: passes that left work run back to back, the discovery sync after them
    // (at the end of the invocation's window).
    if (!result?.more || performance.now() - lastDiscovery >= SCHEDULER_TIMEOUT_MS - PASS_MARGIN_MS) {
      lastDiscovery = performance.now();
      await runDiscoverySync(discoveryDeps);
    }
  } catch (err) {
    discoveryFailures.set((err as Error).message.slice(0, 160), (discoveryFailures.get((err as Error).message.slice(0, 160)) ?? 0) + 1);
  }
  passes.push({
    at: elapsed(),
    ms,
    discoveryMs: performance.now() - td,
    heapStartMB: heapStart / MB,
    heapPeakMB: heapAtEnd / MB,
    calls,
    discoveryCalls: diff(dBefore, counters.discovery.snapshot()),
    steps: stepTimes,
    ...(result ? { result } : {}),
    ...(error ? { error } : {}),
  });
  if (result && (result.placed || result.published.length || result.created || result.removed || ms > 5000))
    log(
      `pass ${passSeq}: ${secs(ms)}; created ${result.created}, placed ${result.placed}, removed ${result.removed}, published ${result.published.length}, ` +
        `publish failed ${result.publishFailed?.length ?? 0}, unplaceable ${result.unplaceable}, conflicts ${result.conflicts}; ms per step: ${stepList(stepTimes)}`,
    );
  if (error) log(`pass ${passSeq} failed: ${error}`);
  if (result?.more) {
    log(`pass ${passSeq} out of budget, the next runs at once; left: ${JSON.stringify(result.more)}`);
    scheduler.kick();
  }
}, SCHEDULER_MS);
cleanups.push(() => scheduler.stop());

const healthEvents: { at: number; result: HealthResult }[] = [];
const healthHandler = makeHealthHandler(
  {
    store: healthStore,
    now: () => new Date(),
    policy: { graceMs: GRACE_S * 1000, checkIntervalMs: HEALTH_S * 1000 },
    kickScheduler: async () => scheduler.kick(),
    eventRetentionMs: 7 * 86_400_000,
  },
  { checksPerRun: 1, intervalMs: 0 },
);
const health = loop(async () => {
  const [r] = await healthHandler({}, {} as never);
  if (r && (r.down.length || r.up.length || r.suspect.length || r.held)) {
    healthEvents.push({ at: elapsed(), result: r });
    log(`health: down [${r.down.join(' ')}] up [${r.up.join(' ')}] suspect [${r.suspect.join(' ')}]${r.held ? ' (evictions held)' : ''}`);
  }
}, HEALTH_S * 1000);
cleanups.push(() => health.stop());

const api = createApi({ store: apiStore, now: () => new Date(), kickScheduler: async () => scheduler.kick() });

// SSM and Route 53 rates, per second
const ssmPerSecond: { at: number; get: number; put: number }[] = [];
const sumGroup = (c: Record<string, number>, ops: string[]) => ops.reduce((s, o) => s + (c[o] ?? 0), 0);
const GETS = ['GetParameter', 'GetParameters', 'GetParametersByPath'];
let lastSsm = { get: 0, put: 0 };
const rateTimer = setInterval(() => {
  const c = ssm.counts();
  const now = { get: sumGroup(c, GETS), put: sumGroup(c, ['PutParameter']) };
  ssmPerSecond.push({ at: elapsed(), get: now.get - lastSsm.get, put: now.put - lastSsm.put });
  lastSsm = now;
}, 1000);
cleanups.push(() => clearInterval(rateTimer));

/** The host document table's units, all processes together, sampled each second (DynamoDB channel). */
const documentTotals = () => {
  const all = [schedulerLimiter.stats(), ...groups.flatMap((g) => (g.documents ? [g.documents] : []))];
  return {
    rru: all.reduce((n, x) => n + x.rru, 0),
    wru: all.reduce((n, x) => n + x.wru, 0),
    throttled: all.reduce((n, x) => n + x.throttled, 0),
    partitionRru: Math.max(0, ...all.map((x) => x.partitionPeak.rru)),
    partitionWru: Math.max(0, ...all.map((x) => x.partitionPeak.wru)),
  };
};
const documentsPerSecond: { at: number; rru: number; wru: number }[] = [];
let lastDocuments = documentTotals();
const documentTimer = setInterval(() => {
  const now = documentTotals();
  documentsPerSecond.push({ at: elapsed(), rru: now.rru - lastDocuments.rru, wru: now.wru - lastDocuments.wru });
  lastDocuments = now;
}, 1000);
cleanups.push(() => clearInterval(documentTimer));

// ---------------------------------------------------------------------------------------------
// What runs: slots (service-slot) with a running app container, on the live hosts

function runningSlots(): Map<string, string> {
  const slots = new Map<string, string>();
  for (const g of groups) for (const [slot, host] of g.slots) if (!dead.has(host)) slots.set(slot, host);
  return slots;
}

async function until(what: string, cond: () => boolean | Promise<boolean>, everyMs: number, reserveMs = 0): Promise<number | undefined> {
  const t = performance.now();
  while (remaining() > reserveMs) {
    if (await cond()) return performance.now() - t;
    await sleep(everyMs);
  }
  log(`${what}: not reached before the time limit`);
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// The run

const load = () =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');
const loadSamples: number[] = [];
const loadTimer = setInterval(() => loadSamples.push(loadavg()[0]), 5000);
cleanups.push(() => clearInterval(loadTimer));
log(
  `host channel ${CHANNEL}; ${HOSTS} simulated hosts, ${TASKS} tasks in ${Math.ceil(TASKS / REPLICAS)} services; start delay ${START_DELAY_MS} ms, crash rate ${CRASH_RATE}/min, ` +
    `poll ${POLL_S} s, heartbeat ${HEARTBEAT_S} s, grace ${GRACE_S} s, health every ${HEALTH_S} s, scheduler timer ${SCHEDULER_MS} ms, ` +
    `Route 53 pending ${ROUTE53_PENDING_MS} ms, limit ${MINUTES} min; ${cpus().length} cores, load ${load()}`,
);

const figures: Record<string, string> = {};
try {
  // 1. Hosts join: every agent starts (spread over one poll interval, as an Auto Scaling group's launches), the passes register them.
  scheduler.start();
  const joinMs = await until('hosts registered', async () => (await benchStore.listHosts()).filter((h) => h.state === 'ready').length >= HOSTS, 2000);
  figures.join = joinMs === undefined ? 'not reached' : secs(joinMs);
  log(`hosts registered and ready: ${figures.join}`);
  health.start();
  const passesBeforeApply = passes.length;

  // 2. Services through the API, from an empty cluster
  const t0 = performance.now();
  const apiBefore = counters.api.snapshot();
  const services = Math.ceil(TASKS / REPLICAS);
  let applied = 0;
  for (let s = 0; s < services && remaining() > 0; s++) {
    const replicas = Math.min(REPLICAS, TASKS - s * REPLICAS);
    const body = {
      kind: 'Service',
      metadata: { name: `s${String(s).padStart(5, '0')}`, namespace: 'default' },
      spec: {
        replicas,
        containers: [
          {
            name: 'web',
            image: 'skiff/busybox:latest',
            command: ['httpd', '-f', '-p', '8080'],
            env: { MODE: 'scale', SERVICE: `s${s}` },
            ports: [{ containerPort: 8080 }],
            resources: { cpu: '50m', memory: '64Mi' },
          },
        ],
      },
    };
    const r = await api({ method: 'POST', path: '/v1/services', query: {}, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (r.status >= 300) throw new Error(`POST /v1/services answered ${r.status}: ${JSON.stringify(r.body).slice(0, 300)}`);
    applied += replicas;
  }
  const applyMs = performance.now() - t0;
  const apiCalls = diff(apiBefore, counters.api.snapshot());
  figures.apply = `${services} services (${applied} tasks) in ${secs(applyMs)}, ${total(apiCalls)} DynamoDB calls`;
  log(`applied ${figures.apply}`);

  // 3. Convergence: every slot runs (the agents' runtimes), then every task reported running (the store)
  const convergeMs = await until('all tasks running', () => runningSlots().size >= TASKS, 1000, 30_000);
  figures.converge = convergeMs === undefined ? `not reached (${runningSlots().size} of ${TASKS} running)` : secs(convergeMs + applyMs);
  log(`all ${TASKS} tasks running: ${figures.converge} after the first apply`);
  const reportedMs = await until(
    'all tasks reported running',
    async () => {
      const [tasks, statuses] = await Promise.all([benchStore.listAllTasks(), benchStore.listHostStatuses()]);
      const running = new Set(statuses.flatMap((s) => s.tasks.filter((t) => t.state === 'running').map((t) => t.taskId)));
      return tasks.filter((t) => t.host && running.has(t.id)).length >= TASKS;
    },
    2000,
    20_000,
  );
  figures.reported = reportedMs === undefined ? 'not reached' : secs(performance.now() - t0);
  const convergePasses = passes.slice(passesBeforeApply);

  // 4. Idle: a settle, then a window of every counter
  // Settled: two passes in a row with nothing placed, published or left unpublished (the publications throttled
  // at 3 PutParameter/s can take many passes), nothing left for the next pass, and fewer writes than hosts (the
  // convergence's tail writes every service's rollout state once), then 15 s for the last reports.
  const quiet = (p: PassRecord | undefined) =>
    !!p?.result && !p.result.placed && !p.result.published.length && !p.result.publishFailed?.length && !p.result.more && p.calls.writeUnits < HOSTS;
  const settleMs = await until('settled', () => passes.length >= 2 && quiet(passes.at(-1)) && quiet(passes.at(-2)), 1000, 60_000 + IDLE_S * 1000);
  figures.settled = settleMs === undefined ? 'not settled' : secs(performance.now() - t0);
  await sleep(Math.min(15_000, Math.max(0, remaining() - 60_000 - IDLE_S * 1000)));
  const idleS = Math.max(0, Math.min(IDLE_S, (remaining() - 45_000) / 1000));
  const idleStart = {
    at: performance.now(),
    tally: snapshotAll(),
    ssm: ssm.counts(),
    documents: documentTotals(),
    r53: route53.batches().length,
    passes: passes.length,
    sends: sendCommands,
  };
  if (idleS > 0) {
    log(`idle window: ${idleS.toFixed(0)} s`);
    await sleep(idleS * 1000);
  }
  const idleWindowS = (performance.now() - idleStart.at) / 1000;
  const idleEnd = snapshotAll();
  const idleSsm = ssm.counts();
  const idle = Object.fromEntries(([...Object.keys(counters), 'agents'] as Role[]).map((r) => [r, diff(idleStart.tally[r], idleEnd[r])])) as Record<
    Role,
    CallTally
  >;
  const idlePasses = passes.slice(idleStart.passes).filter((p) => !p.error);

  // 5. A host dies: its agent stops (its runtime is gone with it); how long until its tasks run elsewhere
  let death: { host: string; tasks: number; suspectS?: number; downS?: number; movedS?: number } | undefined;
  if (remaining() > GRACE_S * 1000 + 30_000) {
    const slots = runningSlots();
    const counts = new Map<string, number>();
    for (const host of slots.values()) counts.set(host, (counts.get(host) ?? 0) + 1);
    const victim = [...counts].sort((a, b) => b[1] - a[1])[0]?.[0];
    if (victim) {
      const mine = [...slots].filter(([, h]) => h === victim).map(([s]) => s);
      dead.add(victim);
      const tKill = performance.now();
      const killedAt = elapsed();
      groupOf.get(victim)?.child.send({ type: 'kill', id: victim });
      log(`host ${victim} dies with ${mine.length} tasks`);
      const moved = await until(
        'dead host tasks running elsewhere',
        () => {
          const now = runningSlots();
          return mine.every((s) => now.has(s) && now.get(s) !== victim);
        },
        1000,
        5_000,
      );
      const movedAt = performance.now();
      const after = healthEvents.filter((e) => e.at >= killedAt);
      const suspectAt = after.find((e) => e.result.suspect.includes(victim))?.at;
      const downAt = after.find((e) => e.result.down.includes(victim))?.at;
      death = {
        host: victim,
        tasks: mine.length,
        ...(suspectAt !== undefined ? { suspectS: (suspectAt - killedAt) / 1000 } : {}),
        ...(downAt !== undefined ? { downS: (downAt - killedAt) / 1000 } : {}),
        ...(moved !== undefined ? { movedS: (movedAt - tKill) / 1000 } : {}),
      };
    }
  } else log('host death: skipped, not enough time left before --minutes');

  // 6. Item sizes, from a full scan (uncounted)
  const doc = DynamoDBDocumentClient.from(rawDdb);
  const sizes = new Map<string, { n: number; max: number; sum: number }>();
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await doc.send(new ScanCommand({ TableName: TABLE, ExclusiveStartKey: startKey }));
    for (const item of page.Items ?? []) {
      const type = String(item.type ?? (String(item.pk).startsWith('EVENTS') ? 'event' : String(item.sk)));
      const size = itemSize(item);
      const s = sizes.get(type) ?? sizes.set(type, { n: 0, max: 0, sum: 0 }).get(type)!;
      s.n++;
      s.max = Math.max(s.max, size);
      s.sum += size;
    }
    startKey = page.LastEvaluatedKey;
  } while (startKey && remaining() > -45_000);
  if (startKey) log('item sizes: the scan stopped at the time limit; the sizes below are of the items read so far');

  // ------------------------------------------------------------------------------------------
  // Report

  const print = (line = '') => console.log(line);
  const ok = passes.filter((p) => !p.error);
  const first = convergePasses.filter((p) => p.result && (p.result.placed || p.result.published.length));
  const maxPass = ok.reduce((m, p) => (p.ms > m.ms ? p : m), ok[0]);
  const meanIdle = (f: (p: PassRecord) => number) => (idlePasses.length ? idlePasses.reduce((s, p) => s + f(p), 0) / idlePasses.length : Number.NaN);
  print(`\n=== Scale simulation (host channel ${CHANNEL}): ${HOSTS} hosts, ${TASKS} tasks (${Math.ceil(TASKS / REPLICAS)} services of ${REPLICAS}) ===`);
  print(
    `load average at the end: ${load()} (1/5/15 min); mean of 1-min samples during the run: ${(loadSamples.reduce((a, b) => a + b, 0) / Math.max(1, loadSamples.length)).toFixed(1)}`,
  );
  print(`hosts registered and ready after start: ${figures.join}`);
  print(`apply: ${figures.apply}`);
  print(
    `converge (every slot's container running, from the first API write): ${figures.converge}; every task reported running in the store: ${figures.reported}`,
  );
  print(
    `scheduler passes while converging: ${convergePasses.length} (${first.length} that placed or published); pass duration max ${maxPass ? secs(maxPass.ms) : '-'}, ` +
      `idle mean ${secs(meanIdle((p) => p.ms))}; ${ok.filter((p) => p.ms > SCHEDULER_TIMEOUT_MS).length} pass(es) over the scheduler function's ${secs(SCHEDULER_TIMEOUT_MS)} timeout (Lambda's ceiling: 900 s), ` +
      `${ok.filter((p) => p.ms > SCHEDULER_TIMEOUT_MS - PASS_MARGIN_MS).length} over the pass's budget (${secs(SCHEDULER_TIMEOUT_MS - PASS_MARGIN_MS)}), ` +
      `${convergePasses.filter((p) => p.result?.more).length} out of budget with work left; ` +
      `discovery after a pass: max ${secs(Math.max(0, ...ok.map((p) => p.discoveryMs)))}`,
  );
  print(
    `  heap while a pass ran (shared with dynalite and the stand-ins in this process; the agents run in ${groups.length} other process(es)): peak ${Math.max(...ok.map((p) => p.heapPeakMB)).toFixed(0)} MB, ` +
      `largest rise during one pass ${Math.max(...ok.map((p) => p.heapPeakMB - p.heapStartMB)).toFixed(0)} MB; process RSS peak ${(rssPeak / MB).toFixed(0)} MB (Lambda's ceiling 10,240 MB; the function has 512 MB)`,
  );
  for (const p of convergePasses.slice(0, 12))
    print(
      `  pass at ${secs(p.at).padStart(8)}: ${secs(p.ms).padStart(8)} (+ discovery ${secs(p.discoveryMs)}), heap +${(p.heapPeakMB - p.heapStartMB).toFixed(0)} MB; ` +
        `DynamoDB ${total(p.calls, 'DynamoDB')} calls (${p.calls.readUnits.toFixed(0)} RRU, ${p.calls.writeUnits.toFixed(0)} WRU), SSM ${total(p.calls, 'SSM')}; ` +
        (p.result
          ? `placed ${p.result.placed}, published ${p.result.published.length}, publish failed ${p.result.publishFailed?.length ?? 0}`
          : `error ${p.error}`) +
        `; ms: read ${(p.ms - [...p.steps.values()].reduce((a, b) => a + b, 0)).toFixed(0)}, ${stepList(p.steps)}`,
    );
  if (convergePasses.length > 12) print(`  ... ${convergePasses.length - 12} more`);
  const perPass = (f: (p: PassRecord) => CallTally) =>
    idlePasses.length
      ? `${(idlePasses.reduce((s, p) => s + total(f(p), 'DynamoDB'), 0) / idlePasses.length).toFixed(1)} calls, ` +
        `${(idlePasses.reduce((s, p) => s + f(p).readUnits, 0) / idlePasses.length).toFixed(1)} RRU, ${(idlePasses.reduce((s, p) => s + f(p).writeUnits, 0) / idlePasses.length).toFixed(1)} WRU`
      : '-';
  print(
    `DynamoDB per idle pass: scheduler ${perPass((p) => p.calls)}; discovery ${perPass((p) => p.discoveryCalls)} (${idlePasses.length} passes in the window)`,
  );
  const perMin = (t: CallTally) =>
    `${((total(t, 'DynamoDB') / idleWindowS) * 60).toFixed(0)} calls, ${((t.readUnits / idleWindowS) * 60).toFixed(0)} RRU, ${((t.writeUnits / idleWindowS) * 60).toFixed(0)} WRU`;
  print(`DynamoDB per idle minute (window ${idleWindowS.toFixed(0)} s):`);
  for (const r of [...Object.keys(counters), 'agents'] as Role[]) print(`  ${r.padEnd(10)} ${perMin(idle[r])}`);
  print('largest items (DynamoDB counts 400 KB at most):');
  for (const [type, s] of [...sizes].sort((a, b) => b[1].max - a[1].max))
    print(
      `  ${type.padEnd(14)} ${String(s.n).padStart(7)} items, largest ${(s.max / 1024).toFixed(1).padStart(7)} KB (${((s.max / 409_600) * 100).toFixed(2)} % of 400 KB), mean ${(s.sum / s.n / 1024).toFixed(2)} KB`,
    );
  const peakIndex = new Map<string, { units: number; at: number }>();
  for (const [second, m] of indexWrites) for (const [p, u] of m) if (u > (peakIndex.get(p)?.units ?? 0)) peakIndex.set(p, { units: u, at: second });
  print(
    `gsi1 partitions, peak write units in one second (a partition takes 1,000 WCU/s; dynalite does not throttle): ${
      [...peakIndex].map(([p, v]) => `${p} ${v.units.toFixed(0)} at ${v.at} s`).join(', ') || 'none'
    }`,
  );
  const during = ssmPerSecond.filter((s) => s.at >= t0 - T0);
  const idleSsmRate = (op: string[]) => (sumGroup(idleSsm, op) - sumGroup(idleStart.ssm, op)) / idleWindowS;
  print(
    `Parameter Store: peak ${Math.max(0, ...during.map((s) => s.get))} Get/s (quota 40), ${Math.max(0, ...during.map((s) => s.put))} Put/s (quota 3); ` +
      `idle ${idleSsmRate(GETS).toFixed(1)} Get/s, ${idleSsmRate(['PutParameter']).toFixed(2)} Put/s; all calls: ${JSON.stringify(ssm.counts())}`,
  );
  if (CHANNEL === 'dynamodb') {
    const d = documentTotals();
    const docsDuring = documentsPerSecond.filter((x) => x.at >= t0 - T0);
    print(
      `Host document table (DynamoDB on demand; a new table serves ${ON_DEMAND_NEW_TABLE.tableWru} WRU/s and ${ON_DEMAND_NEW_TABLE.tableRru} RRU/s, a partition ` +
        `${ON_DEMAND_NEW_TABLE.partitionWcu} WCU/s and ${ON_DEMAND_NEW_TABLE.partitionRcu} RCU/s): peak ${Math.max(0, ...docsDuring.map((x) => x.wru)).toFixed(0)} WRU/s and ` +
        `${Math.max(0, ...docsDuring.map((x) => x.rru)).toFixed(1)} RRU/s on the table, ${d.partitionWru} WRU and ${d.partitionRru} RRU in one second on one partition; ` +
        (idleWindowS >= 1
          ? `idle ${((d.rru - idleStart.documents.rru) / idleWindowS).toFixed(2)} RRU/s, ${((d.wru - idleStart.documents.wru) / idleWindowS).toFixed(2)} WRU/s; `
          : 'no idle window; ') +
        `${d.wru.toFixed(0)} WRU and ${d.rru.toFixed(0)} RRU in all; ${d.throttled} requests throttled`,
    );
  }
  print(`  SendCommand (wake-ups, 50 hosts per call, paced 200 ms): ${sendCommands} calls in all, ${sendCommands - idleStart.sends} in the idle window`);
  const batches = route53.batches();
  const r53Minutes = (performance.now() - t0) / 60_000;
  print(
    `Route 53: ${batches.length} change batches (${batches.reduce((s, b) => s + b.changes, 0)} changes) in ${r53Minutes.toFixed(1)} min since the apply = ` +
      `${(batches.length / r53Minutes).toFixed(1)} batches/min (one pending change per zone: pending ${ROUTE53_PENDING_MS} ms modelled); ` +
      `idle ${(((batches.length - idleStart.r53) / idleWindowS) * 60).toFixed(1)}/min; errors ${JSON.stringify(route53.errors())}; discovery warnings ${discoveryWarnings}; discovery syncs failed: ${JSON.stringify(Object.fromEntries(discoveryFailures))}`,
  );
  if (death)
    print(
      `host death (${death.host}, ${death.tasks} tasks): suspect after ${death.suspectS?.toFixed(1) ?? '-'} s, down after ${death.downS?.toFixed(1) ?? '-'} s, ` +
        `every task running elsewhere after ${death.movedS?.toFixed(1) ?? 'not reached'} s (grace ${GRACE_S} s, health every ${HEALTH_S} s)`,
    );
  const crashes = groups.reduce((n, g) => n + g.crashes, 0);
  if (crashes) print(`crashes injected: ${crashes}`);
  print(`errors after the SDK's retries: ${JSON.stringify(Object.fromEntries(errors))}`);
  print(`agent warnings: ${JSON.stringify(agentLogs())}`);

  // Monthly cost of this cluster's control plane, from the counted idle figures at AWS rates (docs/cost.md's model)
  if (idleWindowS < 10 || idlePasses.length === 0) {
    print('\nMonthly cost: no idle window was measured (the cluster did not settle before --minutes); give more minutes.');
  } else {
    const passesM = AWS.schedulerPerMin * MINUTES_PER_MONTH;
    const idleMinutes = idleWindowS / 60;
    const agentsWru = idle.agents.writeUnits / idleMinutes;
    const healthWru = idle.health.writeUnits / idleMinutes;
    const healthRru = idle.health.readUnits / idleMinutes;
    const passWru = meanIdle((p) => p.calls.writeUnits + p.discoveryCalls.writeUnits);
    const passRru = meanIdle((p) => p.calls.readUnits + p.discoveryCalls.readUnits);
    const passCalls = meanIdle((p) => total(p.calls) + total(p.discoveryCalls));
    const passMs = meanIdle((p) => p.ms + p.discoveryMs);
    const healthChecksPerMin = 60 / HEALTH_S;
    const healthCallsPerCheck = total(idle.health) / idleMinutes / healthChecksPerMin;
    const wru = (agentsWru + healthWru) * MINUTES_PER_MONTH + passesM * passWru;
    const rru = (idle.agents.readUnits / idleMinutes + healthRru) * MINUTES_PER_MONTH + passesM * passRru;
    const passS = passMs / 1000 + passCalls * (AWS.callMs / 1000);
    const checkS = ((total(idle.health) / idleMinutes / healthChecksPerMin) * AWS.callMs) / 1000;
    const gbs = passesM * passS * AWS.schedulerMemGB + MINUTES_PER_MONTH * (AWS.healthSleepS + 4 * checkS) * AWS.healthMemGB;
    const ssmCalls = ((sumGroup(idleSsm, GETS) - sumGroup(idleStart.ssm, GETS)) / idleMinutes) * MINUTES_PER_MONTH;
    const apiM = ASSUME.apiRequestsPerDay * (730 / 24);
    const dnsM = TASKS * ASSUME.dnsLookupsPerTaskPerMin * MINUTES_PER_MONTH;
    const rows: [string, string, number][] = [
      ['DynamoDB writes', `${(wru / 1e6).toFixed(2)} M WRU`, wru * PRICE.ddbWriteUnit],
      ['DynamoDB reads', `${(rru / 1e6).toFixed(2)} M RRU`, rru * PRICE.ddbReadUnit],
      ['Lambda compute (arm64)', `${Math.round(gbs).toLocaleString('en-US')} GB-s`, gbs * PRICE.lambdaGBs],
      ['Lambda requests', `${((passesM + MINUTES_PER_MONTH + apiM) / 1e6).toFixed(3)} M`, (passesM + MINUTES_PER_MONTH + apiM) * PRICE.lambdaRequest],
      ['Parameter Store (standard)', `${(ssmCalls / 1e6).toFixed(1)} M calls`, 0],
      [
        'NAT data for SSM calls',
        `${((ssmCalls * ASSUME.natBytesPerSsmCall) / 1e9).toFixed(1)} GB`,
        ((ssmCalls * ASSUME.natBytesPerSsmCall) / 1e9) * PRICE.natDataGB,
      ],
      ['Route 53 hosted zone', '1 zone', PRICE.route53Zone],
      ['Route 53 queries (assumed)', `${(dnsM / 1e6).toFixed(1)} M`, dnsM * PRICE.route53Query],
      ['API Gateway (assumed)', `${(apiM / 1e6).toFixed(3)} M`, apiM * PRICE.httpApiRequest],
    ];
    print(
      `\nMonthly control-plane cost, idle, at AWS rates (1 pass + 1 discovery sync a minute, ${healthChecksPerMin} health checks a minute ` +
        `(${healthCallsPerCheck.toFixed(1)} calls each), heartbeat ${HEARTBEAT_S} s, poll ${POLL_S} s; us-east-1 list prices, bench/aws-prices.ts):`,
    );
    let sum = 0;
    for (const [name, usage, usd] of rows) {
      sum += usd;
      print(`  ${name.padEnd(30)} ${usage.padEnd(18)} ${usd.toFixed(2).padStart(9)}`);
    }
    print(
      `  ${'Skiff control plane, total'.padEnd(30)} ${''.padEnd(18)} ${sum.toFixed(2).padStart(9)}  (${((sum / HOSTS) * 1000).toFixed(0)} USD per 1,000 hosts)`,
    );
    // Parameter Store's higher throughput (3 → 10 PutParameter/s) bills every API interaction, the polls included.
    const ssmApi = ((total(idle.agents, 'SSM') + total(idle.scheduler, 'SSM')) / idleMinutes) * MINUTES_PER_MONTH;
    print(
      `  (with Parameter Store's higher throughput: + ${(ssmApi / 1e6).toFixed(1)} M API interactions = ${(ssmApi * PRICE.ssmHigherThroughputCall).toFixed(2)} USD; ` +
        `host documents on DynamoDB: ${(((idle.agents.readUnits / idleMinutes) * MINUTES_PER_MONTH) / 1e6).toFixed(1)} M RRU of the agents' polls, included above)`,
    );
    print(`  ${'EKS control plane'.padEnd(30)} ${'1 cluster × 730 h'.padEnd(18)} ${PRICE.eksControlPlaneMonth.toFixed(2).padStart(9)}`);
    print(`  ${'ECS control plane'.padEnd(30)} ${'free'.padEnd(18)} ${(0).toFixed(2).padStart(9)}`);
    print(`  (Lambda time: the idle pass took ${secs(passMs)} here, plus ${AWS.callMs} ms per call assumed in the Region; its ${passCalls.toFixed(0)} calls.)`);
  }
} finally {
  await cleanup();
  clearTimeout(hardStop);
  process.exit(0);
}
