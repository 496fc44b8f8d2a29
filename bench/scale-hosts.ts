/**
 * A group of simulated hosts for bench/scale.ts, in a child process of its own so that the agents'
 * loops and the control plane's passes do not share one event loop: the real agent (agent/agent.ts)
 * over an in-memory container runtime (adapters/memory/executor.ts) per host, its store and channel
 * the real DynamoDB and SSM adapters pointed at the parent's stand-ins. Driven over IPC:
 * parent → `{ type: 'wake', ids }`, `{ type: 'kill', id }`, `{ type: 'stop' }`;
 * child → `{ type: 'ready' }`, then every second `{ type: 'tick', slots, calls, logs, crashes, documents }`.
 * Exits when told to stop or when its parent goes away.
 */
import './env.ts';
import './quiet-logs.ts';
import { Agent as HttpAgent } from 'node:http';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SSMClient } from '@aws-sdk/client-ssm';
import { DynamoStore } from '../adapters/aws/dynamo-store.ts';
import { SsmHostChannel } from '../adapters/aws/ssm-channel.ts';
import { DynamoHostChannel } from '../adapters/aws/dynamo-host-channel.ts';
import { DynamoLimiter } from './dynamo-limits.ts';
import { CallCounter } from '../adapters/aws/call-counter.ts';
import { HostScopedStore } from '../adapters/host-scoped-store.ts';
import { MemoryExecutor } from '../adapters/memory/executor.ts';
import { Agent } from '../agent/agent.ts';
import { containerSpecHash } from '../agent/docker.ts';
import { SANDBOX } from '../agent/pod-sandbox.ts';
import { DRAIN_SECONDS } from '../core/stopping.ts';

export interface HostGroupConfig {
  readonly cluster: string;
  readonly table: string;
  readonly prefix: string;
  /** The host channel the agents read (bench/scale.ts --channel), and the host document table with `dynamodb`. */
  readonly channel: 'ssm' | 'dynamodb';
  readonly documentTable: string;
  /** This process's share of the document table's limits (the agents run in several processes). */
  readonly tableShare: number;
  readonly dynamoEndpoint: string;
  readonly ssmEndpoint: string;
  /** Hosts `first` .. `first + count - 1` of the fleet. */
  readonly first: number;
  readonly count: number;
  readonly fleet: number;
  readonly cpu: number;
  readonly memory: number;
  readonly pollMs: number;
  readonly heartbeatMs: number;
  readonly reconcileMs: number;
  readonly startDelayMs: number;
  /** Share of running app containers that crash per minute. */
  readonly crashRate: number;
  /** Agents start spread over this long, as an Auto Scaling group's launches. */
  readonly spreadMs: number;
  readonly dir: string;
}

/** EC2-shaped ids, so that the real Run Command waker takes them. */
export const simHostId = (i: number) => `i-${i.toString(16).padStart(17, '0')}`;

if (process.send) {
  const config = JSON.parse(process.env.SKIFF_SCALE_HOSTS ?? '') as HostGroupConfig;
  // A host has its own connections; a few hundred agents share this process's, so allow them many.
  const handler = () => ({ httpAgent: new HttpAgent({ keepAlive: true, maxSockets: 1000 }) });
  const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
  const counter = new CallCounter();
  const ddb = new DynamoDBClient({ endpoint: config.dynamoEndpoint, region: 'us-east-1', credentials, requestHandler: handler() });
  const ssm = new SSMClient({ endpoint: config.ssmEndpoint, region: 'us-east-1', credentials, requestHandler: handler() });
  counter.attach(ddb, 'DynamoDB');
  counter.attach(ssm, 'SSM');
  const store = new DynamoStore(ddb, { tableName: config.table });
  // DynamoDB's limits on the document table, modelled as the SSM stand-in models Parameter Store's (bench/dynamo-limits.ts).
  const limiter = new DynamoLimiter(config.documentTable, undefined, config.tableShare);
  if (config.channel === 'dynamodb') limiter.attach(ddb);
  const channel =
    config.channel === 'dynamodb' ? new DynamoHostChannel(ddb, { tableName: config.documentTable }) : new SsmHostChannel(ssm, { prefix: config.prefix });
  const logs = new Map<string, number>();
  const hosts = new Map<string, { agent: Agent; executor: MemoryExecutor; alive: boolean }>();
  for (let i = config.first; i < config.first + config.count; i++) {
    const id = simHostId(i);
    const executor = new MemoryExecutor({ hashOf: containerSpecHash, startDelayMs: config.startDelayMs });
    const agent = new Agent(
      {
        cluster: config.cluster,
        hostId: id,
        address: `127.1.${i >> 8}.${i & 255}`,
        capacity: { cpu: config.cpu, memory: config.memory },
        labels: { sim: 'true' },
        pollMs: config.pollMs,
        heartbeatMs: config.heartbeatMs,
        reconcileMs: config.reconcileMs,
        stateFile: join(config.dir, 'agents', `${id}.json`),
        stopGraceSeconds: 10,
        drainSeconds: DRAIN_SECONDS.aws,
        parallelism: 4,
      },
      {
        store: new HostScopedStore(store, id),
        channel,
        executor,
        hashOf: containerSpecHash,
        now: Date.now,
        random: Math.random,
        log: (level, message) => {
          if (level !== 'info') logs.set(`${level}: ${message}`, (logs.get(`${level}: ${message}`) ?? 0) + 1);
        },
        version: 'scale-sim',
      },
    );
    hosts.set(id, { agent, executor, alive: true });
    setTimeout(() => void agent.start(), ((i - 1) / config.fleet) * config.spreadMs);
  }

  let crashes = 0;
  const slotOf = (taskId: string) => taskId.slice(0, taskId.lastIndexOf('-'));
  const tick = setInterval(() => {
    const slots: [string, string][] = [];
    for (const [id, h] of hosts) {
      if (!h.alive) continue;
      for (const c of h.executor.running()) {
        if (c.container === SANDBOX) continue;
        if (config.crashRate > 0 && Math.random() < config.crashRate / 60 && h.executor.crash(c.id, 1)) {
          crashes++;
          continue;
        }
        slots.push([slotOf(c.taskId), id]);
      }
    }
    process.send!({ type: 'tick', slots, calls: counter.snapshot(), logs: Object.fromEntries(logs), crashes, documents: limiter.stats() });
  }, 1000);

  const stopAll = async () => {
    clearInterval(tick);
    await Promise.race([Promise.all([...hosts.values()].filter((h) => h.alive).map((h) => h.agent.stop())), new Promise((r) => setTimeout(r, 10_000))]);
    process.exit(0);
  };
  process.on('message', (m: { type: string; ids?: string[]; id?: string }) => {
    if (m.type === 'wake') for (const id of m.ids ?? []) hosts.get(id)?.agent.wake();
    else if (m.type === 'kill' && m.id) {
      const h = hosts.get(m.id);
      if (h?.alive) {
        h.alive = false;
        void h.agent.stop();
      }
    } else if (m.type === 'stop') void stopAll();
  });
  // The parent went away (killed, crashed): do not outlive it.
  process.on('disconnect', () => void stopAll());
  process.send({ type: 'ready' });
}
