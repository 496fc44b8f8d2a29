/**
 * What Skiff's control plane costs per month on AWS (us-east-1 list prices), from the calls a local
 * cluster really makes. Runs an idle cluster of 10 local hosts with 50 tasks (real Docker), counts
 * every DynamoDB, SSM and Route 53 call at the stand-ins, attributes them to the loops that make
 * them, and scales the per-event figures to the AWS timings. Scenario B (100 hosts, 1,000 tasks) is
 * extrapolated from the same figures. Prints tables; asserts nothing; stops by itself within
 * ~3 minutes and cleans up (agents, containers, network, temp dir). See docs/cost.md.
 *   npx tsx bench/cost.ts [--window 60]
 */
import './env.ts';
import http from 'node:http';
import net from 'node:net';
import { createRequire } from 'node:module';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { numberFlag } from './args.ts';
import { SSMClient } from '@aws-sdk/client-ssm';
import { startLocalCluster, removeContainers, removeNetwork, endpointsFile, type LocalCluster } from '../local/cluster.ts';
import { dynaliteClient } from '../local/dynalite.ts';
import { DynamoStore } from '../adapters/aws/dynamo-store.ts';
import { SsmHostChannel } from '../adapters/aws/ssm-channel.ts';
import { CallCounter, writeUnits, type CallTally, type ItemImage } from '../adapters/aws/call-counter.ts';
import { makeSchedulerHandler } from '../app/handlers/scheduler.ts';
import { runDiscoverySync } from '../app/discovery.ts';
import { runHealthCheck } from '../app/health.ts';
import { authedFetch } from '../test/helpers/local-api.ts';
import { ASSUME, AWS, MINUTES_PER_MONTH, PRICE, SECONDS_PER_MONTH } from './aws-prices.ts';

const { values } = parseArgs({ options: { window: { type: 'string', default: '60' } } });
const WINDOW_S = numberFlag('cost', values, 'window', { min: 10, max: 3600 });
/** The whole run stops by itself after this, cleaning up, whatever state it is in. */
const HARD_LIMIT_MS = 175_000;

// AWS-mode timings, us-east-1 list prices and the assumptions that are not measured: bench/aws-prices.ts

// ---------------------------------------------------------------------------------------------
// Metering dynalite: every action reports AWS's consumed capacity, global index writes included.
// dynalite loads its actions with require(); replacing their exports in the module cache before
// the cluster starts dynalite puts a meter in front of each. Batch actions call these same
// modules per item, so they are metered item by item.

interface DynaliteTable {
  readonly KeySchema: unknown;
}
interface DynaliteStore {
  getTable(name: string, cb: (err: unknown, table?: DynaliteTable) => void): void;
  getItemDb(name: string): { get(key: string, cb: (err: unknown, item?: Item) => void): void };
}
type Item = Record<string, { S?: string; L?: unknown[] } & Record<string, unknown>>;
type Data = Record<string, unknown> & { TableName: string; ReturnConsumedCapacity?: string; Key?: Item; Item?: Item };
type Done = (err: { body?: { __type?: string } } | null, out?: Record<string, unknown>) => void;
type Action = (store: DynaliteStore, data: Data, cb: Done) => void;

const requireCjs = createRequire(import.meta.url);
const ddb = requireCjs('dynalite/db/index.js') as { itemSize(item: Item): number; createKey(key: Item, table: DynaliteTable): string };

interface LedgerEntry {
  calls: number;
  readUnits: number;
  writeUnits: number;
}
/** Capacity per `Operation:item type`, for every caller (agents included). */
const ledger = new Map<string, LedgerEntry>();
/** Host status items written: their size and task count (to extrapolate to more tasks per host). */
const statusWrites: { size: number; tasks: number }[] = [];

function book(key: string, read: number, write: number): void {
  const e = ledger.get(key) ?? { calls: 0, readUnits: 0, writeUnits: 0 };
  e.calls++;
  e.readUnits += read;
  e.writeUnits += write;
  ledger.set(key, e);
}

const image = (item: Item | undefined): ItemImage | undefined =>
  item && { size: ddb.itemSize(item), indexKey: item.gsi1pk ? `${item.gsi1pk.S}\u0000${item.gsi1sk?.S ?? ''}` : undefined };

function readItem(store: DynaliteStore, data: Data, keySource: Item): Promise<Item | undefined> {
  return new Promise((ok) =>
    store.getTable(data.TableName, (err, table) => {
      if (err || !table) return ok(undefined);
      store.getItemDb(data.TableName).get(ddb.createKey(keySource, table), (e, item) => ok(e ? undefined : item));
    }),
  );
}

function meterWrite(name: string, original: Action): Action {
  return (store, data, cb) => {
    const keySource = (data.Item ?? data.Key)!;
    void readItem(store, data, keySource).then((before) => {
      const asked = data.ReturnConsumedCapacity;
      original(store, { ...data, ReturnConsumedCapacity: 'INDEXES' }, (err, out) => {
        const failed = Boolean(err?.body?.__type?.includes('ConditionalCheckFailed'));
        const finish = (after: Item | undefined) => {
          if (err && !failed) return cb(err, out);
          const u = writeUnits(image(before), image(after), failed);
          const type = (after ?? before)?.type?.S ?? 'item';
          book(`${name}:${type}`, 0, u.table + u.index);
          if (name === 'PutItem' && type === 'hoststatus' && after) statusWrites.push({ size: ddb.itemSize(after), tasks: after.tasks?.L?.length ?? 0 });
          if (err) return cb(err, out);
          const result = { ...out };
          delete result.ConsumedCapacity;
          if (asked === 'TOTAL' || asked === 'INDEXES') {
            result.ConsumedCapacity = {
              TableName: data.TableName,
              CapacityUnits: u.table + u.index,
              WriteCapacityUnits: u.table + u.index,
              ...(asked === 'INDEXES'
                ? { Table: { CapacityUnits: u.table }, GlobalSecondaryIndexes: u.index ? { gsi1: { CapacityUnits: u.index } } : undefined }
                : {}),
            };
          }
          cb(null, result);
        };
        if (failed) finish(undefined);
        else if (name === 'DeleteItem') finish(undefined);
        else void readItem(store, data, keySource).then(finish);
      });
    });
  };
}

function meterRead(name: string, original: Action): Action {
  return (store, data, cb) => {
    const asked = data.ReturnConsumedCapacity;
    original(store, { ...data, ReturnConsumedCapacity: 'INDEXES' }, (err, out) => {
      if (err) return cb(err, out);
      const c = out?.ConsumedCapacity as { CapacityUnits?: number } | undefined;
      const units = c?.CapacityUnits ?? 0;
      book(`${name}:${(data.IndexName as string | undefined) ?? 'table'}`, units, 0);
      const result = { ...out };
      if (asked === 'TOTAL' || asked === 'INDEXES') result.ConsumedCapacity = { ...c, ReadCapacityUnits: units };
      else delete result.ConsumedCapacity;
      cb(null, result);
    });
  };
}

function meterDynalite(): void {
  const meters: [string, string, (n: string, a: Action) => Action][] = [
    ['putItem', 'PutItem', meterWrite],
    ['updateItem', 'UpdateItem', meterWrite],
    ['deleteItem', 'DeleteItem', meterWrite],
    ['getItem', 'GetItem', meterRead],
    ['query', 'Query', meterRead],
    ['scan', 'Scan', meterRead],
  ];
  for (const [file, name, meter] of meters) {
    const path = requireCjs.resolve(`dynalite/actions/${file}.js`);
    const original = requireCjs(path) as Action;
    requireCjs.cache[path]!.exports = meter(name, original);
  }
  if (requireCjs.cache[requireCjs.resolve('dynalite')]) throw new Error('dynalite was loaded before its actions were metered');
}

// ---------------------------------------------------------------------------------------------
// Counting at the wire: every request the in-process stand-ins receive, by operation, and whether it
// came from this process (the control plane) or from outside it (the agents, one process each).

const ownPorts = new Set<number>();
const wire = new Map<string, number>();

function operationOf(req: http.IncomingMessage): string | undefined {
  const target = req.headers['x-amz-target'];
  if (typeof target === 'string') {
    const [service, op] = target.split('.');
    return `${service.startsWith('DynamoDB') ? 'DynamoDB' : service === 'AmazonSSM' ? 'SSM' : service}.${op}`;
  }
  const path = (req.url ?? '').split('?')[0];
  if (!path.startsWith('/2013-04-01/')) return undefined;
  if (path.endsWith('/rrset')) return `Route53.${req.method === 'POST' ? 'ChangeResourceRecordSets' : 'ListResourceRecordSets'}`;
  if (path.includes('/change/')) return 'Route53.GetChange';
  return `Route53.${req.method} ${path.replace(/\/hostedzone\/[^/]+/, '/hostedzone/ID')}`;
}

function countTheWire(): void {
  const socketEmit = net.Socket.prototype.emit;
  net.Socket.prototype.emit = function (this: net.Socket & { skiffPort?: number }, event: string | symbol, ...args: unknown[]) {
    if (event === 'connect' && this.localPort) {
      this.skiffPort = this.localPort;
      ownPorts.add(this.skiffPort);
    }
    if (event === 'close' && this.skiffPort) ownPorts.delete(this.skiffPort);
    return (socketEmit as (e: string | symbol, ...a: unknown[]) => boolean).call(this, event, ...args);
  } as typeof socketEmit;
  const serverEmit = http.Server.prototype.emit;
  http.Server.prototype.emit = function (this: http.Server, event: string | symbol, ...args: unknown[]) {
    if (event === 'request') {
      const req = args[0] as http.IncomingMessage;
      const op = operationOf(req);
      if (op) {
        const key = `${ownPorts.has(req.socket.remotePort ?? -1) ? 'control' : 'agent'} ${op}`;
        wire.set(key, (wire.get(key) ?? 0) + 1);
      }
    }
    return (serverEmit as (e: string | symbol, ...a: unknown[]) => boolean).call(this, event, ...args);
  } as typeof serverEmit;
}

const snapshot = <V>(m: Map<string, V>): Map<string, V> => new Map([...m].map(([k, v]) => [k, typeof v === 'object' ? { ...v } : v]));
function delta(after: Map<string, number>, before: Map<string, number>): Map<string, number> {
  return new Map([...after].map(([k, v]) => [k, v - (before.get(k) ?? 0)] as [string, number]).filter(([, v]) => v > 0));
}
function ledgerDelta(after: Map<string, LedgerEntry>, before: Map<string, LedgerEntry>): Map<string, LedgerEntry> {
  const out = new Map<string, LedgerEntry>();
  for (const [k, v] of after) {
    const b = before.get(k) ?? { calls: 0, readUnits: 0, writeUnits: 0 };
    if (v.calls > b.calls) out.set(k, { calls: v.calls - b.calls, readUnits: v.readUnits - b.readUnits, writeUnits: v.writeUnits - b.writeUnits });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The run

const HOSTS = 10;
const TASKS = 50;
const cluster = `cost${randomBytes(3).toString('hex')}`;
const dataDir = mkdtempSync(join(tmpdir(), 'skiff-cost-'));
const t0 = Date.now();
const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(0)}s`;
const note = (s: string) => console.error(`[${elapsed()}] ${s}`);

meterDynalite();
countTheWire();
// The handlers log their passes on stdout (as on Lambda); only the figures go there here.
const print = console.log.bind(console);
console.log = () => {};

let local: LocalCluster | undefined;
let cleaned: Promise<void> | undefined;
const cleanup = () =>
  (cleaned ??= (async () => {
    try {
      await local?.stop();
    } finally {
      await removeContainers(cluster).catch(() => undefined);
      await removeNetwork(cluster).catch(() => undefined);
      rmSync(dataDir, { recursive: true, force: true });
    }
  })());
const watchdog = setTimeout(() => {
  console.error(`cost: over the ${HARD_LIMIT_MS / 1000} s limit, stopping`);
  void cleanup().finally(() => process.exit(1));
}, HARD_LIMIT_MS);

async function until<T>(what: string, check: () => Promise<T | undefined>, limitMs: number): Promise<T> {
  for (const start = Date.now(); ; ) {
    const v = await check().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() - start > limitMs) throw new Error(`gave up waiting for ${what} after ${limitMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

interface PerEvent {
  tally: CallTally;
  ms: number;
}

/** Runs `fn` `n` times with the counter reset before each; returns the mean calls, units and time. */
async function perEvent(counter: CallCounter, n: number, fn: () => Promise<unknown>): Promise<PerEvent> {
  const calls = new Map<string, number>();
  let read = 0,
    write = 0,
    ms = 0;
  for (let i = 0; i < n; i++) {
    counter.reset();
    const start = performance.now();
    await fn();
    ms += performance.now() - start;
    const t = counter.snapshot();
    for (const [k, v] of Object.entries(t.calls)) calls.set(k, (calls.get(k) ?? 0) + v);
    read += t.readUnits;
    write += t.writeUnits;
  }
  return { tally: { calls: Object.fromEntries([...calls].map(([k, v]) => [k, v / n])), readUnits: read / n, writeUnits: write / n }, ms: ms / n };
}

const totalCalls = (t: CallTally, prefix = '') => Object.entries(t.calls).reduce((s, [k, v]) => (k.startsWith(prefix) ? s + v : s), 0);

try {
  local = await startLocalCluster({
    cluster,
    dataDir,
    hosts: HOSTS,
    heartbeatSeconds: AWS.heartbeatS,
    pollSeconds: AWS.pollS(HOSTS),
    hostGraceSeconds: 60,
    schedulerIntervalMs: 60_000,
    log: () => {},
  });
  const api = local.status.api;
  const apiFetch = authedFetch(local.token);
  await until(
    `${HOSTS} hosts to register`,
    async () => {
      const hosts = (await (await apiFetch(`${api}/v1/hosts`)).json()) as { heartbeatAt: string | null }[];
      return hosts.length === HOSTS && hosts.every((h) => h.heartbeatAt) ? true : undefined;
    },
    60_000,
  );
  note(`${HOSTS} hosts registered`);
  const res = await apiFetch(`${api}/v1/services`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      kind: 'Service',
      metadata: { name: 'idle' },
      spec: {
        replicas: TASKS,
        containers: [{ name: 'main', image: 'skiff/busybox:latest', command: ['sleep', '3600'], resources: { cpu: '50m', memory: '16Mi' } }],
      },
    }),
  });
  if (!res.ok) throw new Error(`apply failed: ${res.status} ${await res.text()}`);
  await until(
    `${TASKS} tasks running`,
    async () => {
      const s = (await (await apiFetch(`${api}/v1/namespaces/default/services/idle`)).json()) as { running: number; ready: boolean };
      return s.ready ? true : undefined;
    },
    90_000,
  );
  note(`${TASKS} tasks running; settling 15 s`);
  // Past the reports of the start: from here on agents only heartbeat and poll.
  await new Promise((r) => setTimeout(r, 15_000));

  // Window: everything every caller does, at the wire and in the meter.
  const wire0 = snapshot(wire);
  const ledger0 = snapshot(ledger);
  const status0 = statusWrites.length;
  const w0 = Date.now();
  await new Promise((r) => setTimeout(r, WINDOW_S * 1000));
  const windowS = (Date.now() - w0) / 1000;
  const wireW = delta(snapshot(wire), wire0);
  const ledgerW = ledgerDelta(snapshot(ledger), ledger0);
  const reportsW = statusWrites.length - status0;
  // Every report since the start (task counts grow as tasks land): the size model's data.
  const sizes = statusWrites.slice();
  note(`window of ${windowS.toFixed(1)} s measured`);

  // Per-event figures: the control plane's handlers, run here with counted clients.
  const endpoints = JSON.parse(readFileSync(endpointsFile(dataDir), 'utf8')) as { dynamodbPort: number; ssmPort: number };
  const counter = new CallCounter();
  const dynamo = dynaliteClient(`http://127.0.0.1:${endpoints.dynamodbPort}`);
  counter.attach(dynamo, 'DynamoDB');
  const ssm = new SSMClient({
    endpoint: `http://127.0.0.1:${endpoints.ssmPort}`,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  counter.attach(ssm, 'SSM');
  const store = new DynamoStore(dynamo, { tableName: 'skiff' });
  const channel = new SsmHostChannel(ssm, { prefix: `/skiff/${cluster}` });
  // On AWS a wake-up is one SendCommand per 50 hosts.
  const waker = { wake: async (ids: readonly string[]) => counter.record('SSM.SendCommand', Math.ceil(ids.length / 50)) };
  const scheduler = makeSchedulerHandler({ store, channel, waker, cluster, now: () => new Date() });
  const pass = await perEvent(counter, 5, () => scheduler({}, { awsRequestId: `cost-${Date.now()}` } as never));
  const discovery = await perEvent(counter, 5, () => runDiscoverySync({ store }));
  const check = await perEvent(counter, 5, () =>
    runHealthCheck({
      store,
      now: () => new Date(),
      policy: { graceMs: 60_000, checkIntervalMs: 15_000 },
      kickScheduler: async () => counter.record('Lambda.Invoke'),
      eventRetentionMs: 7 * 86_400_000,
    }),
  );
  dynamo.destroy();
  ssm.destroy();
  note('per-event figures measured');

  // ------------------------------------------------------------------------------------------
  // What one heartbeat and one poll cost, from the window.

  const agentCalls = [...wireW].filter(([k]) => k.startsWith('agent '));
  const heartbeats = wireW.get('agent DynamoDB.PutItem') ?? 0;
  const polls = wireW.get('agent SSM.GetParameter') ?? 0;
  // An unchanged report is only a heartbeat item (no index); a changed one is the whole status (table + index).
  const beatLedger = ledgerW.get('PutItem:heartbeat') ?? { calls: 0, readUnits: 0, writeUnits: 0 };
  const wruPerBeat = beatLedger.calls ? beatLedger.writeUnits / beatLedger.calls : 1;
  const agentDdbCallsPerHeartbeat = agentCalls.filter(([k]) => k.includes(' DynamoDB.')).reduce((s, [, v]) => s + v, 0) / Math.max(1, heartbeats);
  const agentSsmCallsPerPoll = agentCalls.filter(([k]) => k.includes(' SSM.')).reduce((s, [, v]) => s + v, 0) / Math.max(1, polls);

  // Host status item size against its task count: size = base + perTask × tasks (least squares).
  const n = sizes.length;
  const mx = sizes.reduce((s, x) => s + x.tasks, 0) / Math.max(1, n);
  const my = sizes.reduce((s, x) => s + x.size, 0) / Math.max(1, n);
  const sxx = sizes.reduce((s, x) => s + (x.tasks - mx) ** 2, 0);
  const perTaskBytes = sxx > 0 ? sizes.reduce((s, x) => s + (x.tasks - mx) * (x.size - my), 0) / sxx : my / Math.max(1, mx);
  const baseBytes = my - perTaskBytes * mx;
  const statusWru = (tasksPerHost: number) => {
    const u = writeUnits({ size: baseBytes + perTaskBytes * tasksPerHost, indexKey: 'k' }, { size: baseBytes + perTaskBytes * tasksPerHost, indexKey: 'k' });
    return u.table + u.index;
  };

  print(
    `cost: cluster ${cluster}, ${HOSTS} local hosts, ${TASKS} tasks, window ${windowS.toFixed(1)} s (local timings: heartbeat ${AWS.heartbeatS} s, poll ${AWS.pollS(HOSTS)} s, as on AWS)`,
  );
  print('\nMeasured in the window (every caller, at the stand-ins):');
  for (const [k, v] of [...wireW].sort()) print(`  ${k.padEnd(40)} ${String(v).padStart(6)}  (${((v / windowS) * 60).toFixed(1)}/min)`);
  print('\nDynamoDB capacity in the window, by operation:item type (metered in dynalite, index writes included):');
  for (const [k, v] of [...ledgerW].sort())
    print(`  ${k.padEnd(40)} calls ${String(v.calls).padStart(5)}  RRU ${v.readUnits.toFixed(1).padStart(7)}  WRU ${v.writeUnits.toFixed(1).padStart(7)}`);

  const expectHeartbeats = (HOSTS * windowS) / AWS.heartbeatS;
  const expectPolls = (HOSTS * windowS) / AWS.pollS(HOSTS);
  print('\nCheck: agent loop rates, measured vs expected from the configured timings:');
  print(
    `  heartbeats (agent PutItem)     ${heartbeats} vs ${expectHeartbeats.toFixed(1)} (= ${HOSTS} hosts × ${windowS.toFixed(0)} s / ${AWS.heartbeatS} s); of them whole reports: ${reportsW}`,
  );
  print(
    `  polls (agent GetParameter)     ${polls} vs ${expectPolls.toFixed(1)} (= ${HOSTS} hosts × ${windowS.toFixed(0)} s / ${AWS.pollS(HOSTS)} s, jitter U(0.5,1.5))`,
  );
  print(
    `  per heartbeat: ${agentDdbCallsPerHeartbeat.toFixed(2)} DynamoDB calls, ${wruPerBeat.toFixed(2)} WRU (heartbeat item, no index); per poll: ${agentSsmCallsPerPoll.toFixed(2)} SSM calls`,
  );
  print(
    `  a whole report instead (written only when it changes): ${statusWru(TASKS / HOSTS).toFixed(0)} WRU at ${TASKS / HOSTS} tasks per host (table + index)`,
  );
  print(
    `  host status item: ${sxx > 0 ? `${baseBytes.toFixed(0)} B + ${perTaskBytes.toFixed(0)} B per task` : `${perTaskBytes.toFixed(0)} B per task, base included (every host held ${mx} tasks)`} (from ${n} writes)`,
  );

  const show = (name: string, p: PerEvent) =>
    print(
      `  ${name.padEnd(18)} ${
        Object.entries(p.tally.calls)
          .map(([k, v]) => `${k} ${v.toFixed(1)}`)
          .join(', ') || '(none)'
      }; RRU ${p.tally.readUnits.toFixed(2)}, WRU ${p.tally.writeUnits.toFixed(2)}; ${p.ms.toFixed(0)} ms locally`,
    );
  print('\nPer event (control plane handlers, run 5 times each with counted clients, mean):');
  show('scheduler pass', pass);
  show('discovery sync', discovery);
  show('health check', check);

  // Second check: the cluster's own control-plane loops in the window against the per-event figures.
  // Locally health waits 1 s and discovery 250 ms after each run ends, the scheduler 60 s.
  const cpMeasured = [...wireW].filter(([k]) => k.startsWith('control DynamoDB.')).reduce((s, [, v]) => s + v, 0);
  const healthRuns = windowS / (1 + check.ms / 1000);
  const cpPredicted =
    healthRuns * totalCalls(check.tally, 'DynamoDB') +
    (windowS / (0.25 + discovery.ms / 1000)) * totalCalls(discovery.tally, 'DynamoDB') +
    (windowS / 60) * totalCalls(pass.tally, 'DynamoDB');
  print(
    `  check: health checks in the window (its checkpoint writes): ${ledgerW.get('PutItem:health')?.calls ?? 0} measured vs ${healthRuns.toFixed(1)} predicted`,
  );
  print(`  check: the local control plane made ${cpMeasured} DynamoDB calls in the window; per-event figures × local rates predict ${cpPredicted.toFixed(0)}`);

  // ------------------------------------------------------------------------------------------
  // The model: per-event figures × AWS rates, per month.

  interface Scenario {
    name: string;
    hosts: number;
    tasks: number;
    /** Reads of a pass, a sync and a check grow with the data they list: tasks + hosts, relative to A. */
    dataScale: number;
  }
  const scenarios: Scenario[] = [
    { name: `A: ${HOSTS} hosts, ${TASKS} tasks (measured)`, hosts: HOSTS, tasks: TASKS, dataScale: 1 },
    { name: 'B: 100 hosts, 1,000 tasks (extrapolated)', hosts: 100, tasks: 1_000, dataScale: (1_000 + 100) / (TASKS + HOSTS) },
  ];
  const ssmPassCalls = totalCalls(pass.tally, 'SSM') + totalCalls(discovery.tally, 'SSM');
  const totals: number[] = [];
  for (const s of scenarios) {
    const poll = AWS.pollS(s.hosts);
    const heartbeatsM = (s.hosts * SECONDS_PER_MONTH) / AWS.heartbeatS;
    const pollsM = (s.hosts * SECONDS_PER_MONTH) / poll;
    const passesM = AWS.schedulerPerMin * MINUTES_PER_MONTH;
    const checksM = AWS.healthChecksPerMin * MINUTES_PER_MONTH;
    const healthInvM = AWS.healthInvocationsPerMin * MINUTES_PER_MONTH;
    const apiM = ASSUME.apiRequestsPerDay * (730 / 24);
    // Reports that changed in the idle window (usually none), per host-second, at the scenario's report size.
    const reportsM = (reportsW / (HOSTS * windowS)) * s.hosts * SECONDS_PER_MONTH;
    const wru =
      heartbeatsM * wruPerBeat +
      reportsM * statusWru(s.tasks / s.hosts) +
      passesM * (pass.tally.writeUnits + discovery.tally.writeUnits) +
      checksM * check.tally.writeUnits;
    const rru = s.dataScale * (passesM * (pass.tally.readUnits + discovery.tally.readUnits) + checksM * check.tally.readUnits);
    const passCalls = totalCalls(pass.tally) + totalCalls(discovery.tally);
    const passS = (s.dataScale * (pass.ms + discovery.ms) + passCalls * AWS.callMs) / 1000;
    const checkS = (s.dataScale * check.ms + totalCalls(check.tally) * AWS.callMs) / 1000;
    const healthS = AWS.healthSleepS + 4 * checkS;
    const gbs = passesM * passS * AWS.schedulerMemGB + healthInvM * healthS * AWS.healthMemGB + apiM * (ASSUME.apiMs / 1000) * AWS.apiMemGB;
    const invocations = passesM + healthInvM + apiM;
    const ssmCallsM = pollsM * agentSsmCallsPerPoll + passesM * ssmPassCalls;
    const dnsM = s.tasks * ASSUME.dnsLookupsPerTaskPerMin * MINUTES_PER_MONTH;
    const rows: [string, string, number][] = [
      ['DynamoDB writes', `${(wru / 1e6).toFixed(2)} M WRU`, wru * PRICE.ddbWriteUnit],
      ['DynamoDB reads', `${(rru / 1e6).toFixed(2)} M RRU`, rru * PRICE.ddbReadUnit],
      ['Lambda compute (arm64)', `${Math.round(gbs).toLocaleString('en-US')} GB-s`, gbs * PRICE.lambdaGBs],
      ['Lambda requests', `${(invocations / 1e6).toFixed(3)} M`, invocations * PRICE.lambdaRequest],
      ['Parameter Store (standard)', `${(ssmCallsM / 1e6).toFixed(2)} M calls`, ssmCallsM * PRICE.ssmStandard],
      ['SSM Run Command (wake-ups)', 'idle: 0', 0],
      [
        'NAT data for SSM calls',
        `${((ssmCallsM * ASSUME.natBytesPerSsmCall) / 1e9).toFixed(1)} GB`,
        ((ssmCallsM * ASSUME.natBytesPerSsmCall) / 1e9) * PRICE.natDataGB,
      ],
      ['Route 53 hosted zone', '1 zone', PRICE.route53Zone],
      ['Route 53 queries (assumed)', `${(dnsM / 1e6).toFixed(1)} M`, dnsM * PRICE.route53Query],
      ['API Gateway HTTP API (assumed)', `${(apiM / 1e6).toFixed(3)} M`, apiM * PRICE.httpApiRequest],
      [
        'CloudWatch Logs ingestion',
        `${((invocations * ASSUME.logBytesPerInvocation) / 1e9).toFixed(3)} GB`,
        ((invocations * ASSUME.logBytesPerInvocation) / 1e9) * PRICE.logsIngestGB,
      ],
      ['EventBridge scheduled rules', `${Math.round(2 * MINUTES_PER_MONTH).toLocaleString('en-US')} events`, 0],
    ];
    const total = rows.reduce((sum, r) => sum + r[2], 0);
    totals.push(total);
    print(
      `\nScenario ${s.name}: poll ${poll} s, ${Math.round(heartbeatsM).toLocaleString('en-US')} heartbeats, ${Math.round(pollsM).toLocaleString('en-US')} polls, ${Math.round(passesM).toLocaleString('en-US')} passes, ${Math.round(checksM).toLocaleString('en-US')} checks a month`,
    );
    print(`  ${'item'.padEnd(32)} ${'usage per month'.padEnd(20)} USD/month`);
    for (const [item, usage, usd] of rows) print(`  ${item.padEnd(32)} ${usage.padEnd(20)} ${usd.toFixed(2).padStart(9)}`);
    print(`  ${'Skiff control plane, total'.padEnd(32)} ${''.padEnd(20)} ${total.toFixed(2).padStart(9)}`);
    print(`  ${'EKS control plane (for scale)'.padEnd(32)} ${'1 cluster × 730 h'.padEnd(20)} ${PRICE.eksControlPlaneMonth.toFixed(2).padStart(9)}`);
  }
  print("\nNot in either total (the same on both sides): hosts' EC2, the NAT gateway's hours, an ALB when ingress is used");
  print(`(ALB: ${(PRICE.albHour * 730).toFixed(2)} USD/month + ${PRICE.albLcuHour} USD per LCU-hour), container logs.`);
  print(`\nSummary: Skiff ${totals.map((t) => t.toFixed(2)).join(' / ')} USD/month (A / B) vs EKS ${PRICE.eksControlPlaneMonth.toFixed(2)} USD/month.`);
} finally {
  clearTimeout(watchdog);
  note('stopping the cluster');
  await cleanup();
  note('done');
}
