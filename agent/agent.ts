/**
 * The host agent: claims its host, polls its host document, makes Docker match it, and
 * reports what runs. It keeps working with the whole control plane gone (static stability): the
 * last document is kept on disk, and containers keep being restarted from it.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { HostChannel, Store } from '../ports/index.ts';
import type { ClusterEvent, Health, HostClaim, HostDocument, HostNetwork, HostStatus, Resources, TaskStatus } from '../core/types.ts';
import { ValidationError } from '../core/errors.ts';
import { UsageSampler, type UsageSource } from './usage.ts';
import type { ContainerInfo, Executor } from './executor.ts';
import type { HostNetworkManager } from './host-network.ts';
import { nextRestart, plan, taskStatus, type Action, type RestartRecord } from './plan.ts';
import { Prober, type ProbeState, type ProbeTarget } from './probes.ts';
import { stableStringify } from '../core/json.ts';
import { forEachLimit } from '../core/async.ts';
import { writeFileAtomic } from '../adapters/fs/atomic-write.ts';
import { WatchedExecutor } from './runtime-watch.ts';
import { DockerError } from './docker-calls.ts';
import { Stopper } from './stopping.ts';
import { SANDBOX, sandboxSpec } from './pod-sandbox.ts';
import { mountsOf, removalsDue, type VolumeManager, type VolumeSources } from './volumes.ts';
import { volumeKeyString } from '../core/volumes.ts';
import { allowedNamespaces } from '../core/spec/network.ts';
import { namespaceNetworksOf } from './namespace-network.ts';
import type { GuestSandbox } from './guest-isolation.ts';

/** How often a long batch of container starts reports its progress. */
const PROGRESS_MS = 1000;
/**
 * A status write that takes longer is given up on (the next beat writes again), so that a store that
 * hangs cannot stop later heartbeats. Well above a healthy write (milliseconds) and below any grace.
 */
const REPORT_TIMEOUT_MS = 10_000;

/**
 * What the agent writes: its report and its heartbeat, nothing else. It never writes its host
 * record: its registration claim (address, capacity, labels, instance type) rides in every full
 * report, and the control plane registers or refreshes the host from it (docs/security.md).
 */
export type AgentStore = Pick<Store, 'putHostStatus' | 'putHeartbeat'>;

export interface AgentConfig {
  readonly cluster: string;
  readonly hostId: string;
  readonly address: string;
  readonly capacity: Resources;
  readonly labels: Readonly<Record<string, string>>;
  /** The EC2 instance type from instance metadata, claimed with the rest (absent off EC2). */
  readonly instanceType?: string;
  /** Safety-net poll of the host document; wake-ups make changes arrive sooner. */
  readonly pollMs: number;
  /**
   * Heartbeat: the status is written at least this often, and at once when it changes. The heartbeat
   * runs on its own timer: it never waits behind Docker, a pull, a probe or a long reconcile round.
   */
  readonly heartbeatMs: number;
  /** How often Docker is re-checked for crashed containers. */
  readonly reconcileMs: number;
  /** Where the last applied document is kept (format-versioned JSON). */
  readonly stateFile: string;
  /**
   * Grace period for stopping a container before it is killed, when the container carries none (it
   * was created before containers carried their pod's), and at most, for a container replaced in
   * place (a failed probe, a broken pod) while the round waits.
   */
  readonly stopGraceSeconds: number;
  /**
   * Seconds a task that left the document keeps running (and serving the requests in flight) before
   * its stop signal: the load balancer's drain (core/stopping.ts DRAIN_SECONDS). @default 0
   */
  readonly drainSeconds?: number;
  /** Containers created or started at once; dockerd serializes much of the work anyway. */
  readonly parallelism: number;
  /**
   * Docker counts as unresponsive (the host reports itself degraded) when no call has been answered for
   * this long while one waited. Above the list timeout (10 s), so one slow answer is not enough.
   * @default 30_000
   */
  readonly dockerStallMs?: number;
  /** How often the containers' CPU and memory are sampled for the autoscaler (agent/usage.ts); default 5 s. */
  readonly usageSampleMs?: number;
  /** Image of the pod sandboxes (agent/pod-sandbox.ts). @default 'skiff/busybox:latest' */
  readonly sandboxImage?: string;
}

export interface AgentDeps {
  readonly store: AgentStore;
  readonly channel: HostChannel;
  readonly executor: Executor;
  /** Brings up the host's container network when the document carries one (AWS); unused without it. */
  readonly network?: HostNetworkManager;
  /** Without a host network: a Docker network per namespace (agent/namespace-network.ts); absent, every pod on the executor's network. */
  readonly namespaceNetworks?: { ensure(namespace: string): Promise<string> };
  /** With namespace networks: keeps the replicas that join other namespaces' networks from opening connections there (agent/guest-isolation.ts). */
  readonly isolation?: { admit(sandbox: GuestSandbox): Promise<void>; sync(sandboxes: readonly GuestSandbox[]): Promise<void> };
  /**
   * With a host network (AWS): the document's namespace isolation rules, from its blocks and slots and the
   * replicas' addresses (agent/host-isolation.ts). Never with `isolation`: both write this agent's one chain.
   */
  readonly hostIsolation?: {
    sync(network: HostNetwork | undefined, tasks: HostDocument['tasks'], addressOf: (taskId: string) => string | undefined): Promise<void>;
  };
  /** Makes pods' volumes (agent/volumes.ts); a pod that declares volumes fails to start without it. */
  readonly volumes?: VolumeManager;
  readonly hashOf: (spec: HostDocument['tasks'][number]['pod']['containers'][number]) => string;
  readonly now: () => number;
  readonly random: () => number;
  readonly log: (level: 'info' | 'warn' | 'error', message: string, data?: Record<string, unknown>) => void;
  readonly version: string;
  /** Where container CPU and memory are read (the cgroup files); absent: the agent reports no usage. */
  readonly usage?: UsageSource;
}

/** On-disk state format; bump when its shape changes and migrate or discard older files. */
const STATE_FORMAT = 1;
/** Events kept in the agent's report for the scheduler to copy into the cluster's event log. */
const EVENT_RING = 50;
/**
 * A pod Docker refused for good (a non-retryable create error: runAsNonRoot with an image whose user
 * is root, a configuration the daemon rejects) is tried again only after this long: the refusal will
 * not pass by retrying every round, but an image rebuilt under the same tag may fix it.
 */
const REFUSAL_RETRY_MS = 60_000;
/**
 * Restarts of one task reported one by one; after that only every 10th, so a crash loop (a
 * restart every 30 s at the back-off cap: 2,880 a day) does not flood the event log.
 */
const RESTART_EVENTS_IN_FULL = 3;

interface SavedState {
  readonly format: number;
  readonly hostId: string;
  readonly document: HostDocument;
}

export class Agent {
  private doc: HostDocument | undefined;
  private stopped = false;
  private timers: NodeJS.Timeout[] = [];
  private restarts = new Map<string, RestartRecord>();
  private statuses = new Map<string, TaskStatus>();
  private lastReport = 0;
  private lastReported = '';
  private reconciling: Promise<void> | undefined;
  private reconcileAgain = false;
  private polling: Promise<void> | undefined;
  /** A wake-up came while a poll ran: that poll may have read before the publication, so read once more. */
  private pollAgain = false;
  /** Images known to be present; a create that fails for a missing image clears the entry. */
  private images = new Set<string>();
  /** Restarts per task in this agent's lifetime, and the last exit code seen. */
  private restartCounts = new Map<string, number>();
  private lastExit = new Map<string, number>();
  private events: ClusterEvent[] = [];
  private eventSeq = 0;
  private readonly bootId = Date.now().toString(36);
  /**
   * When the last reconcile round ended; a long gap before the next one means this process was frozen.
   * From its end, not its start: a round that is long because Docker is slow is no freeze.
   */
  private lastRoundAt = 0;
  private readonly prober: Prober;
  /** Stops the tasks that left the document: drain, stop signal, grace period (agent/stopping.ts). */
  private readonly stopper: Stopper;
  /** The executor, watched: whether Docker answers is reported with the heartbeat. */
  private readonly docker: WatchedExecutor;
  /** The generation whose stale containers this agent has removed: what its report says it applied. */
  private applied = 0;
  private reporting: Promise<void> | undefined;
  private reportAgain = false;
  private forceReport = false;
  /** When the heartbeat timer last fired, to notice an event loop blocked by synchronous work. */
  private lastTick = 0;
  /** The progress report of the batch in flight, if one is being made. */
  private progress: Promise<void> | undefined;
  /** Whether Docker was last found unresponsive (logged on change only). */
  private dockerStalled = false;
  /** Tasks with a container its probe declared unhealthy, and why; their pod is replaced next round. */
  private unhealthy = new Map<string, string>();
  /** When this agent started each container (ms), so a probe knows a restart from a long-lived container. */
  private startedByMe = new Map<string, number>();
  /** Tasks whose pod Docker refused for good: the reason (reported as the task's message) and when to try again. */
  private refused = new Map<string, { message: string; until: number }>();
  /** The Docker network each of this round's new pods joins (by its task); undefined: the executor's configured one. */
  private podNetwork: ((task: HostDocument['tasks'][number]) => string) | undefined;
  /** The last failure to bring up the host network, so a failure that lasts is logged once, not every round. */
  private networkFailure: string | undefined;
  /** Samples what each task uses, for the autoscaler; reported with the task's status. */
  private readonly usage: UsageSampler | undefined;

  constructor(
    private readonly config: AgentConfig,
    private readonly deps: AgentDeps,
  ) {
    this.docker = new WatchedExecutor(deps.executor, deps.now);
    this.usage = deps.usage && new UsageSampler(deps.usage, { now: deps.now, intervalMs: config.usageSampleMs, onChange: () => void this.report(false) });
    this.stopper = new Stopper(
      { drainMs: (config.drainSeconds ?? 0) * 1000, fallbackGraceSeconds: config.stopGraceSeconds },
      {
        executor: this.docker,
        now: deps.now,
        log: deps.log,
        event: (type, message, about) => this.event(type, message, { ...about, host: config.hostId }),
        schedule: (fn, ms) => this.schedule(fn, ms),
        // A stop that ends after the agent itself stopped must not start a round (it would act on Docker again).
        onStopped: () => {
          if (!this.stopped) void this.kickReconcile();
        },
      },
    );
    this.prober = new Prober({
      executor: this.docker,
      now: deps.now,
      log: deps.log,
      onChange: (key, state, previous) => this.onHealthChange(key, state, previous),
    });
  }

  private onHealthChange(key: string, state: ProbeState, previous: ProbeState): void {
    const [taskId, container] = key.split('/');
    const task = this.doc?.tasks.find((t) => t.id === taskId);
    const about = { ...(task ? { namespace: task.namespace, service: task.service } : {}), task: taskId, host: this.config.hostId };
    if (state.health === 'unhealthy' && previous.health !== 'unhealthy') {
      const why = `container ${container} unhealthy: probe failed ${state.consecutiveFailures} time(s): ${state.lastMessage ?? 'no answer'}`;
      this.event('task.unhealthy', `task ${taskId}: ${why}`, about);
      this.unhealthy.set(taskId, why);
      void this.kickReconcile();
    } else if (state.health === 'healthy' && previous.health === 'unhealthy') {
      this.event('task.healthy', `task ${taskId}: container ${container} healthy again`, about);
    }
    void this.report(false);
  }

  /** The generation of the newest document this agent has (0 before any). */
  get generation(): number {
    return this.doc?.generation ?? 0;
  }

  /** The tasks of the newest document (none before any): what this host runs, as the credentials endpoint asks. */
  get tasks(): readonly HostDocument['tasks'][number][] {
    return this.doc?.tasks ?? [];
  }

  /** Records an event about one of this host's tasks in the report (workload identity's audit: agent/main.ts). */
  note(type: string, message: string, about: { namespace?: string; service?: string; task?: string }): void {
    this.event(type, message, { ...about, host: this.config.hostId });
    void this.report(false);
  }

  /** The generation this agent has applied: its stale containers are gone (0 before any). */
  get appliedGeneration(): number {
    return this.applied;
  }

  private unwatch: (() => void) | undefined;

  async start(): Promise<void> {
    // React to a container's exit at once; the periodic round is the safety net.
    this.unwatch = this.docker.watchExits((id) => void this.onContainerExit(id));
    this.doc = await this.loadState();
    // `applied` stays 0 until the first round has removed what the saved document no longer lists: it was
    // saved when fetched, so the agent may have stopped before applying it.
    if (this.doc) this.deps.log('info', 'resuming from saved document', { generation: this.doc.generation, tasks: this.doc.tasks.length });
    // No registration call: the first report (the heartbeat loop's first tick) carries the claim, and
    // the control plane's next pass registers the host from it.
    this.deps.log('info', 'claiming host', { host: this.config.hostId, address: this.config.address, capacity: this.config.capacity });
    this.schedule(() => this.pollLoop(), 0);
    this.schedule(() => this.reconcileLoop(), 0);
    this.schedule(() => this.heartbeatLoop(), 0);
    this.usage?.start();
  }

  /**
   * Liveness, apart from work: ticks four times per heartbeat interval and writes a beat when one is
   * due. It never awaits Docker or the reconcile round, so a host that is busy keeps heartbeating;
   * only a blocked event loop or a store that does not answer can delay it.
   */
  private heartbeatLoop(): void {
    const tickMs = Math.max(50, this.config.heartbeatMs / 4);
    const now = this.deps.now();
    const late = this.lastTick > 0 ? now - this.lastTick - tickMs : 0;
    if (late > this.config.heartbeatMs)
      this.deps.log('warn', 'heartbeat timer fired late: the event loop was blocked (or the process frozen)', { lateMs: late });
    this.lastTick = now;
    // A stall with one long call in flight is checked with a cheap call on the side.
    this.docker.probe(this.stallMs / 2);
    void this.report(false);
    this.schedule(() => this.heartbeatLoop(), tickMs);
  }

  private get stallMs(): number {
    return this.config.dockerStallMs ?? 30_000;
  }

  /**
   * Docker announces a death a moment before its API shows the container stopped: wait (briefly,
   * bounded) until it does, so the round that follows sees the exit instead of the next one.
   */
  private async onContainerExit(id: string): Promise<void> {
    for (let i = 0; i < 20 && !this.stopped; i++) {
      const info = await this.docker.inspect(id).catch(() => undefined);
      if (info?.state !== 'running') break;
      await new Promise((r) => setTimeout(r, 25));
    }
    await this.kickReconcile();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unwatch?.();
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
    await Promise.allSettled([this.reconciling, this.polling, this.reporting, this.prober.stop(), this.usage?.stop()]);
  }

  /**
   * Poll the document now (a wake-up from the control plane, which follows a publication): a fresh
   * read (strongly consistent on the DynamoDB channel), and if a poll is running, one more after it.
   */
  wake(): void {
    if (!this.stopped) void this.poll(true);
  }

  /** Reads the host document now and resolves when it has been taken in (or found unchanged). */
  pollNow(): Promise<void> {
    return this.poll();
  }

  /** Runs a full reconcile round now and resolves when it has finished. */
  async reconcileNow(): Promise<void> {
    await this.kickReconcile();
    // A round already running may have started before the caller's change; make sure one more ran.
    await this.kickReconcile();
  }

  private schedule(fn: () => Promise<void> | void, ms: number): void {
    if (this.stopped) return;
    const t = setTimeout(() => {
      this.timers = this.timers.filter((x) => x !== t);
      void fn();
    }, ms);
    this.timers.push(t);
  }

  private async pollLoop(): Promise<void> {
    await this.poll();
    // Jitter spreads a fleet's polls evenly over the interval instead of in bursts.
    const jitter = 0.5 + this.deps.random();
    this.schedule(() => this.pollLoop(), Math.round(this.config.pollMs * jitter));
  }

  /** `fresh`: the caller knows a newer document exists (HostChannelFetchOptions); the timer's polls are not. */
  private poll(fresh = false): Promise<void> {
    if (this.polling) {
      if (fresh) this.pollAgain = true;
      return this.polling;
    }
    this.polling = (async () => {
      let read = fresh;
      do {
        this.pollAgain = false;
        await this.fetchDocument(read);
        read = true;
      } while (this.pollAgain && !this.stopped);
    })().finally(() => (this.polling = undefined));
    return this.polling;
  }

  private async fetchDocument(fresh: boolean): Promise<void> {
    try {
      const got = await this.deps.channel.fetch(this.config.hostId, this.doc?.generation, fresh ? { fresh } : undefined);
      if (got === undefined || got === 'unchanged') return;
      if (got.hostId !== this.config.hostId || got.cluster !== this.config.cluster) {
        this.deps.log('error', 'ignoring a document addressed to another host', { host: got.hostId, cluster: got.cluster });
        return;
      }
      // Level-triggered and monotonic: an older or repeated document changes nothing.
      if (this.doc && got.generation <= this.doc.generation) return;
      this.doc = got;
      this.deps.log('info', 'applying host document', { generation: got.generation, tasks: got.tasks.length });
      await this.saveState(got);
      this.kickReconcile();
    } catch (err) {
      this.deps.log('warn', 'document poll failed', { error: (err as Error).message });
    }
  }

  private async reconcileLoop(): Promise<void> {
    await this.kickReconcile();
    this.schedule(() => this.reconcileLoop(), this.config.reconcileMs);
  }

  /** Runs a reconcile now, or right after the one in progress. */
  private kickReconcile(): Promise<void> {
    if (this.reconciling) {
      this.reconcileAgain = true;
      return this.reconciling;
    }
    this.reconciling = (async () => {
      do {
        this.reconcileAgain = false;
        try {
          await this.reconcile();
        } catch (err) {
          this.deps.log('error', 'reconcile failed', { error: (err as Error).message });
        } finally {
          this.lastRoundAt = this.deps.now();
        }
      } while (this.reconcileAgain && !this.stopped);
    })().finally(() => (this.reconciling = undefined));
    return this.reconciling;
  }

  private async reconcile(): Promise<void> {
    const started = this.deps.now();
    const gapMs = started - this.lastRoundAt;
    const frozen = this.lastRoundAt > 0 && gapMs > Math.max(3 * this.config.reconcileMs, 3000);
    if (frozen) {
      // The agent was frozen or cut off (a partition, SIGSTOP). The control plane may have declared this
      // host down and moved its tasks: read the document before acting on the old one, so stale tasks are
      // stopped, not restarted (fencing). If the control plane cannot be reached, keep going (static stability).
      this.deps.log('warn', 'agent was frozen; reading the host document before acting', { gapMs });
      await this.poll(true);
    }
    const tasks = this.doc?.tasks ?? [];
    // Before the first document arrives (a fresh host, control plane unreachable) nothing is removed:
    // a restarted agent without its state file must not stop what it cannot yet judge.
    if (!this.doc) {
      await this.report(false);
      return;
    }
    const doc = this.doc;
    const networkReady = await this.ensureNetwork(doc);
    let containers = await this.docker.list();
    const now = this.deps.now();
    const decided = plan({ tasks, containers, hashOf: this.deps.hashOf, restarts: this.restarts, now, unhealthy: this.unhealthy });
    // The containers of tasks that left the document are the stopper's: drained, then signalled, on the side.
    const wanted = new Set(tasks.map((t) => t.id));
    const leaving = this.stopper.sync(
      containers.filter((c) => !wanted.has(c.taskId)),
      frozen,
    );
    const kept = decided.actions.filter((a) => a.kind !== 'remove' || wanted.has(a.container.taskId));
    // Without its network a new pod would get an address other hosts cannot route to: create none this
    // round. Removals and restarts of existing containers go on.
    // A refused pod is not created again until its retry time: it stays failed, with the reason, meanwhile.
    const actions = kept.filter((a) => a.kind !== 'createPod' || (networkReady && (this.refused.get(a.task.id)?.until ?? 0) <= now));
    for (const a of actions) if (a.kind === 'createPod') this.unhealthy.delete(a.task.id);
    // Once the stale containers are gone, this document counts as applied (fencing relies on it): the
    // leaving ones too, so a host that comes back from down is ready only once what moved away has stopped.
    const removed = () => {
      if (leaving.remaining === 0) this.applied = Math.max(this.applied, doc.generation);
    };
    if (actions.length > 0) {
      // Say at once what is about to happen: the new tasks show `creating` (the control plane sees a busy
      // host, not a silent one), and the heartbeat timer keeps writing while the batch runs.
      this.refreshStatuses(tasks, containers, decided.backingOff);
      void this.report(false);
      await this.execute(actions, removed);
      containers = await this.docker.list();
    } else removed();
    const live = new Set(tasks.map((t) => t.id));
    if (this.deps.volumes && (this.pruneDue || actions.some((a) => a.kind === 'remove'))) await this.pruneVolumes(live, containers);
    await this.removeVolumes(doc, containers);
    for (const key of this.statuses.keys()) if (!live.has(key)) this.statuses.delete(key);
    for (const key of this.restarts.keys()) if (!live.has(key.split('/')[0])) this.restarts.delete(key);
    for (const key of this.restartCounts.keys()) if (!live.has(key)) this.restartCounts.delete(key);
    for (const key of this.lastExit.keys()) if (!live.has(key)) this.lastExit.delete(key);
    for (const key of this.unhealthy.keys()) if (!live.has(key)) this.unhealthy.delete(key);
    for (const key of this.refused.keys()) if (!live.has(key)) this.refused.delete(key);
    const present = new Set(containers.map((c) => c.id));
    for (const id of this.startedByMe.keys()) if (!present.has(id)) this.startedByMe.delete(id);
    this.prober.sync(this.probeTargets(tasks, containers));
    if (this.deps.isolation) {
      const guests = new Set(tasks.filter((t) => this.isGuest(t)).map((t) => t.id));
      await this.deps.isolation.sync(
        containers.filter((c) => c.container === SANDBOX && c.state === 'running' && guests.has(c.taskId)).map((c) => ({ id: c.id, taskId: c.taskId })),
      );
    }
    this.refreshStatuses(tasks, containers, decided.backingOff);
    // After the statuses: a replica's per-replica allows need its address, which its status now carries.
    if (this.deps.hostIsolation) await this.deps.hostIsolation.sync(doc.network, tasks, (id) => this.statuses.get(id)?.address);
    await this.report(false);
  }

  /**
   * Ensures the document's host network (through the cached manager, so cheap every round) and picks the
   * network new pods join. False when it is not ready: the caller then creates no pod, and retries next round.
   */
  private async ensureNetwork(doc: HostDocument): Promise<boolean> {
    if (!doc.network) {
      this.podNetwork = undefined;
      return true;
    }
    try {
      if (!this.deps.network) throw new Error('the host document carries a container network but this agent has no network manager');
      this.podNetwork = await this.podNetworks(this.deps.network, doc.network, doc.tasks);
      if (this.networkFailure !== undefined) this.deps.log('info', 'host container network ready', { subnet: doc.network.subnet });
      this.networkFailure = undefined;
      return true;
    } catch (err) {
      const message = (err as Error).message;
      if (message !== this.networkFailure) {
        this.deps.log('error', 'host container network not ready; creating no pods until it is', { subnet: doc.network.subnet, error: message });
      }
      this.networkFailure = message;
      return false;
    }
  }

  /**
   * The network of each pod: the bridge over the host's subnet, or, when the document isolates
   * namespaces, its namespace's block bridge (a task without a slot there is refused by name).
   */
  private async podNetworks(
    manager: HostNetworkManager,
    network: HostNetwork,
    tasks: HostDocument['tasks'],
  ): Promise<(task: HostDocument['tasks'][number]) => string> {
    if (network.blockPrefix === undefined) {
      const name = await manager.ensure(network);
      return () => name;
    }
    const blocks = await manager.ensureBlocks(network, tasks);
    return (task) => {
      const name = task.isolation ? blocks.get(task.isolation.slot) : undefined;
      if (name === undefined)
        throw new ValidationError([
          { path: `tasks.${task.id}.isolation`, message: `task ${task.id} has no namespace slot in a document that isolates namespaces` },
        ]);
      return name;
    };
  }

  /** The running containers that declare a probe, with the host endpoint of the probed port. */
  private probeTargets(tasks: HostDocument['tasks'], containers: readonly ContainerInfo[]): ProbeTarget[] {
    const targets: ProbeTarget[] = [];
    for (const task of tasks) {
      const mine = containers.filter((c) => c.taskId === task.id);
      // A pod's ports are published on its first container (the others share its network).
      const published = mine.flatMap((c) => c.ports);
      for (const spec of task.pod.containers) {
        const check = spec.health;
        const c = mine.find((x) => x.container === spec.name);
        if (!check || !c || c.state !== 'running') continue;
        const port = check.http?.port ?? check.tcp?.port;
        const p = port === undefined ? undefined : published.find((x) => x.containerPort === port && x.protocol === 'tcp');
        const started = this.startedByMe.get(c.id) ?? (c.startedAt ? Date.parse(c.startedAt) : 0);
        targets.push({
          key: `${task.id}/${spec.name}`,
          containerId: c.id,
          check,
          ...(p ? { endpoint: { host: p.hostIp, port: p.hostPort } } : {}),
          startedAt: started,
        });
      }
    }
    return targets;
  }

  /** Worst health over a task's probed containers; undefined when none declares a probe. */
  private taskHealth(task: HostDocument['tasks'][number]): { health?: Health; message?: string } {
    let worst: Health | undefined;
    let message: string | undefined;
    const rank: Record<Health, number> = { healthy: 0, starting: 1, unhealthy: 2 };
    for (const spec of task.pod.containers) {
      if (!spec.health) continue;
      const state = this.prober.health(`${task.id}/${spec.name}`);
      const h: Health = state?.health ?? 'starting';
      if (worst === undefined || rank[h] > rank[worst]) {
        worst = h;
        message = h === 'unhealthy' ? `container ${spec.name}: ${state?.lastMessage ?? 'probe failing'}` : undefined;
      }
    }
    return { ...(worst ? { health: worst } : {}), ...(message ? { message } : {}) };
  }

  /** Recomputes each task's status, and records the transitions worth an event. */
  private refreshStatuses(tasks: HostDocument['tasks'], containers: readonly ContainerInfo[], backingOff: ReadonlyMap<string, number> = new Map()): void {
    const now = this.deps.now();
    this.usage?.track(tasks, containers);
    for (const task of tasks) {
      const before = this.statuses.get(task.id);
      const base = taskStatus(task, containers, backingOff.get(task.id), now, before, this.refused.get(task.id)?.message);
      if (base.exitCode !== undefined) this.lastExit.set(task.id, base.exitCode);
      const restarts = this.restartCounts.get(task.id) ?? 0;
      const lastExitCode = this.lastExit.get(task.id);
      const health = base.state === 'running' ? this.taskHealth(task) : {};
      // The pod's address is its sandbox's: the others share its network namespace.
      const first = containers.find((c) => c.taskId === task.id && c.container === SANDBOX);
      const address = first?.state === 'running' ? first.address : undefined;
      const next: TaskStatus = {
        ...base,
        ...health,
        ...(address ? { address } : {}),
        ...(restarts ? { restarts } : {}),
        ...(lastExitCode !== undefined ? { lastExitCode } : {}),
      };
      this.statuses.set(task.id, next);
      if (before?.state === next.state) continue;
      const about = { namespace: task.namespace, service: task.service, task: task.id, host: this.config.hostId };
      if (next.state === 'running') this.event('task.started', `task ${task.id} is running on ${this.config.hostId}`, about);
      else if ((next.state === 'failed' || next.state === 'exited') && before?.state === 'running') {
        this.event('task.exited', `task ${task.id} exited with code ${next.exitCode ?? 'unknown'}${next.message ? ` (${next.message})` : ''}`, about);
      }
    }
  }

  private event(type: string, message: string, about: Omit<ClusterEvent, 'id' | 'at' | 'type' | 'message'>): void {
    const at = new Date(this.deps.now()).toISOString();
    this.events.push({ id: `${this.config.hostId}-${this.bootId}-${++this.eventSeq}`, at, type, message, ...about });
    if (this.events.length > EVENT_RING) this.events.splice(0, this.events.length - EVENT_RING);
  }

  private async execute(actions: readonly Action[], removed: () => void): Promise<void> {
    // Removals first: they free ports and memory the creations may need.
    const removals = actions.filter((a) => a.kind === 'remove');
    let failed = 0;
    await forEachLimit(removals, this.config.parallelism, async (a) => {
      this.deps.log('info', 'removing container', { container: a.container.name, reason: a.reason });
      try {
        await this.docker.stopAndRemove(a.container.id, this.config.stopGraceSeconds);
      } catch (err) {
        failed++;
        this.deps.log('error', 'action failed', { action: 'remove', container: a.container.name, error: (err as Error).message });
      }
    });
    // A removal that failed is retried next round; until it succeeds the document is not applied.
    if (failed === 0) removed();
    const rest = actions.filter((a) => a.kind !== 'remove');
    let lastProgress = this.deps.now();
    await forEachLimit(rest, this.config.parallelism, async (a) => {
      try {
        if (a.kind === 'createPod') {
          await this.createPod(a.task, a.reason);
          this.refused.delete(a.task.id);
        } else if (a.kind === 'createContainer') await this.createContainer(a.task, a.spec, a.sandbox.id);
        else if (a.kind === 'start') await this.restart(a.container, a.task.id, a.reason);
      } catch (err) {
        if (a.kind === 'createPod' && err instanceof DockerError && !err.retryable) this.refuse(a.task, err);
        this.deps.log('error', 'action failed', {
          action: a.kind,
          task: a.task.id,
          error: (err as Error).message,
        });
      }
      // A big batch takes seconds: report what already runs about once a second instead of at the end. On
      // the side: a worker must never fail (nor wait) for it, or the round would end while creations are
      // still in flight and the next round would create the same containers again.
      if (this.deps.now() - lastProgress >= PROGRESS_MS && !this.progress) {
        lastProgress = this.deps.now();
        this.progress = this.reportProgress().finally(() => (this.progress = undefined));
      }
    });
    await this.progress;
  }

  /** Reports the tasks that run so far, in the middle of a batch of actions. Never rejects. */
  private async reportProgress(): Promise<void> {
    try {
      this.refreshStatuses(this.doc?.tasks ?? [], await this.docker.list());
      await this.report(false);
    } catch (err) {
      this.deps.log('warn', 'progress report failed', { error: (err as Error).message });
    }
  }

  private async createPod(task: HostDocument['tasks'][number], reason: string): Promise<void> {
    const now = this.deps.now();
    if (reason !== 'new task') {
      const key = `${task.id}/*`;
      this.restarts.set(key, nextRestart(this.restarts.get(key), 0, now));
      this.countRestart(task.id, '*', reason);
    }
    this.deps.log('info', 'starting task', { task: task.id, reason });
    const sandbox = sandboxSpec(task, this.config.sandboxImage);
    await this.ensureImages([sandbox, ...(task.pod.initContainers ?? []), ...task.pod.containers]);
    // Volumes first: a container cannot be created with a mount of a volume that does not exist.
    const volumes = await this.volumesOf(task);
    let sandboxId: string;
    try {
      sandboxId = await this.docker.create(task, sandbox, {
        hostAddress: this.config.address,
        podPorts: sandbox.ports,
        hostname: task.id,
        ...(this.podNetwork
          ? { network: this.podNetwork(task) }
          : this.deps.namespaceNetworks
            ? await namespaceNetworksOf(this.deps.namespaceNetworks, task.namespace, allowedNamespaces(task.namespace, task.pod.network))
            : {}),
      });
    } catch (err) {
      // The image may have been removed behind the agent's back: check again next time.
      this.images.delete(sandbox.image);
      throw err;
    }
    await this.docker.start(sandboxId);
    this.startedByMe.set(sandboxId, this.deps.now());
    await this.admitGuest(task, sandboxId);
    // With init containers the next rounds run them one by one (each exit wakes a round), then the app containers.
    if ((task.pod.initContainers ?? []).length > 0) return void this.kickReconcileSoon();
    for (const c of task.pod.containers) await this.createContainer(task, c, sandboxId, volumes);
  }

  /** Creates and starts one container of a pod in its sandbox's network namespace. */
  private async createContainer(
    task: HostDocument['tasks'][number],
    spec: HostDocument['tasks'][number]['pod']['containers'][number],
    sandboxId: string,
    volumes?: VolumeSources,
  ): Promise<void> {
    await this.ensureImages([spec]);
    await this.admitGuest(task, sandboxId);
    const sources = volumes ?? (spec.volumeMounts?.length ? await this.volumesOf(task) : new Map());
    const id = await this.docker.create(task, spec, { hostAddress: this.config.address, joinNetworkOf: sandboxId, mounts: mountsOf(spec, sources) });
    await this.docker.start(id);
    this.startedByMe.set(id, this.deps.now());
  }

  /** Whether a task's pod joins other namespaces' networks as a guest: locally, when its spec lets them in. */
  private isGuest(task: HostDocument['tasks'][number]): boolean {
    return !this.podNetwork && !!this.deps.namespaceNetworks && allowedNamespaces(task.namespace, task.pod.network).length > 0;
  }

  /** A guest pod's rules are in force before anything runs in its sandbox (its addresses exist once the sandbox started). */
  private async admitGuest(task: HostDocument['tasks'][number], sandboxId: string): Promise<void> {
    if (this.deps.isolation && this.isGuest(task)) await this.deps.isolation.admit({ id: sandboxId, taskId: task.id });
  }

  private async ensureImages(specs: readonly { readonly image: string }[]): Promise<void> {
    for (const c of specs) {
      if (this.images.has(c.image)) continue;
      if (!(await this.docker.hasImage(c.image))) await this.docker.pull(c.image);
      this.images.add(c.image);
    }
  }

  private async volumesOf(task: HostDocument['tasks'][number]): Promise<VolumeSources> {
    if (!(task.pod.volumes ?? []).length) return new Map();
    if (!this.deps.volumes) throw new Error(`task ${task.id} declares volumes but this agent has no volume manager`);
    return this.deps.volumes.ensure(task);
  }

  /** Whether emptyDir volumes are to be pruned (on the first round, then after removals). */
  private pruneDue = true;

  /** Removes the emptyDir volumes of tasks gone from this host: neither in the document nor with a container left. */
  private async pruneVolumes(live: ReadonlySet<string>, containers: readonly ContainerInfo[]): Promise<void> {
    const keep = new Set([...live, ...containers.map((c) => c.taskId)]);
    try {
      await this.deps.volumes!.prune(keep);
      this.pruneDue = false;
    } catch (err) {
      this.pruneDue = true;
      this.deps.log('warn', 'removing the volumes of gone tasks failed; retrying next round', { error: (err as Error).message });
    }
  }

  /** Volumes of the document's `removeVolumes` this agent has deleted, by volumeKeyString: reported until they leave the document. */
  private removedVolumes = new Set<string>();

  /**
   * Deletes the persistent volumes the document asks removed, each once no container of its service is
   * left on this host (nor due to start), and remembers them for the report. One volume's failure is
   * retried next round and stops no other. A restarted agent asks again: Docker (or EFS) finds nothing
   * and it is reported again.
   */
  private async removeVolumes(doc: HostDocument, containers: readonly ContainerInfo[]): Promise<void> {
    const asked = doc.removeVolumes ?? [];
    const keys = new Set(asked.map((r) => volumeKeyString(r)));
    for (const key of this.removedVolumes) if (!keys.has(key)) this.removedVolumes.delete(key);
    if (asked.length === 0) return;
    if (!this.deps.volumes) {
      this.deps.log('warn', 'the host document asks volumes removed but this agent has no volume manager', { volumes: asked.map((r) => r.id) });
      return;
    }
    for (const r of removalsDue(asked, this.removedVolumes, containers, doc.tasks)) {
      try {
        if ((await this.deps.volumes.removePersistent(r)) === 'in-use') continue;
        this.removedVolumes.add(volumeKeyString(r));
        this.deps.log('info', 'persistent volume deleted', { volume: r.id });
        this.event('volume.removed', `volume ${r.id} deleted from host ${this.config.hostId}`, {
          namespace: r.namespace,
          service: r.service,
          host: this.config.hostId,
        });
      } catch (err) {
        this.deps.log('warn', 'deleting a persistent volume failed; retrying next round', { volume: r.id, error: (err as Error).message });
      }
    }
  }

  /** Records that Docker refused the task's pod for good: the task reports failed with the reason, and an event says it once. */
  private refuse(task: HostDocument['tasks'][number], err: DockerError): void {
    const message = err.message.replace(/^docker /, '');
    const before = this.refused.get(task.id);
    this.refused.set(task.id, { message, until: this.deps.now() + REFUSAL_RETRY_MS });
    if (before?.message === message) return;
    const about = { namespace: task.namespace, service: task.service, task: task.id, host: this.config.hostId };
    this.event('task.refused', `task ${task.id} cannot start: ${message}`, about);
  }

  /** A round right after this one (init containers move on at their exit; this covers a missed event). */
  private kickReconcileSoon(): void {
    this.reconcileAgain = true;
  }

  private async restart(container: ContainerInfo, taskId: string, reason: string): Promise<void> {
    const now = this.deps.now();
    const key = `${taskId}/${container.container}`;
    const ran = container.startedAt && container.finishedAt ? Date.parse(container.finishedAt) - Date.parse(container.startedAt) : 0;
    // Docker may record a fast exit's finish a few ms before its start: a negative run counts as none.
    this.restarts.set(key, nextRestart(this.restarts.get(key), Number.isFinite(ran) ? Math.max(0, ran) : 0, now));
    this.deps.log('info', 'restarting container', { container: container.name, reason });
    this.countRestart(taskId, container.container, reason);
    await this.docker.start(container.id);
    this.startedByMe.set(container.id, this.deps.now());
  }

  private countRestart(taskId: string, container: string, reason: string): void {
    const n = (this.restartCounts.get(taskId) ?? 0) + 1;
    this.restartCounts.set(taskId, n);
    const task = this.doc?.tasks.find((t) => t.id === taskId);
    const about = { ...(task ? { namespace: task.namespace, service: task.service } : {}), task: taskId, host: this.config.hostId };
    if (n <= RESTART_EVENTS_IN_FULL) this.event('task.restarted', `container ${container} of task ${taskId} restarted (${reason}); restart ${n}`, about);
    else if (n === RESTART_EVENTS_IN_FULL + 1)
      this.event('task.crash-loop', `task ${taskId} keeps failing (${reason}); restarting with back-off, reporting every 10th restart`, about);
    else if (n % 10 === 0) this.event('task.restarted', `container ${container} of task ${taskId} restarted (${reason}); restart ${n}`, about);
  }

  /**
   * Writes the host's report, one write at a time (an older report must never land over a newer one);
   * a call made meanwhile is folded into one more write after the current one.
   */
  private report(force: boolean): Promise<void> {
    this.forceReport ||= force;
    if (this.reporting) {
      this.reportAgain = true;
      return this.reporting;
    }
    this.reporting = (async () => {
      do {
        this.reportAgain = false;
        const f = this.forceReport;
        this.forceReport = false;
        await this.writeReport(f);
      } while (this.reportAgain && !this.stopped);
    })().finally(() => (this.reporting = undefined));
    return this.reporting;
  }

  /** Docker's trouble as reported: present once no call has been answered for the stall limit. */
  private runtimeTrouble(now: number): HostStatus['runtime'] {
    const since = this.docker.stalledSince();
    const trouble = since !== undefined && now - since > this.stallMs;
    if (trouble !== this.dockerStalled) {
      this.dockerStalled = trouble;
      if (trouble) this.deps.log('error', 'Docker does not answer; reporting this host degraded (still heartbeating)', { stalledMs: now - since! });
      else this.deps.log('info', 'Docker answers again');
    }
    if (!trouble) return undefined;
    return { state: 'unresponsive', since: new Date(since!).toISOString(), message: `no Docker call answered for more than ${this.stallMs / 1000}s` };
  }

  /** The status with the task's sampled usage, while it runs. */
  private withUsage(status: TaskStatus): TaskStatus {
    const usage = status.state === 'running' ? this.usage?.usageOf(status.taskId) : undefined;
    return usage ? { ...status, usage } : status;
  }

  private async writeReport(force: boolean): Promise<void> {
    const tasks = [...this.statuses.values()].sort((a, b) => a.taskId.localeCompare(b.taskId)).map((t) => this.withUsage(t));
    const now = this.deps.now();
    const runtime = this.runtimeTrouble(now);
    const removedVolumes = [...this.removedVolumes].sort();
    const fingerprint = stableStringify({ g: this.applied, t: tasks, e: this.eventSeq, r: runtime?.since ?? null, v: removedVolumes });
    // Due at three quarters of the interval: the timer ticks at a quarter, so beats stay within one interval.
    const due = now - this.lastReport >= 0.75 * this.config.heartbeatMs;
    if (!force && fingerprint === this.lastReported && !due) return;
    const at = new Date(now).toISOString();
    try {
      if (!force && fingerprint === this.lastReported) {
        // Nothing to tell but that this host lives: the small heartbeat item, not the whole report again.
        await withTimeout(this.deps.store.putHeartbeat(this.config.hostId, at), REPORT_TIMEOUT_MS, 'heartbeat');
        this.lastReport = now;
        return;
      }
      const status: HostStatus = {
        hostId: this.config.hostId,
        heartbeatAt: at,
        generation: this.applied,
        tasks,
        agentVersion: this.deps.version,
        ...(this.events.length ? { events: this.events.slice() } : {}),
        ...(runtime ? { runtime } : {}),
        claim: this.claim(),
        ...(removedVolumes.length ? { removedVolumes } : {}),
      };
      await withTimeout(this.deps.store.putHostStatus(status), REPORT_TIMEOUT_MS, 'status report');
      this.lastReport = now;
      this.lastReported = fingerprint;
    } catch (err) {
      // A write given up on may still land later, over a newer one: rewrite the whole report next time.
      this.lastReported = '';
      this.deps.log('warn', 'status report failed', { error: (err as Error).message });
    }
  }

  /** The registration claim every full report carries (unchanged for the agent's lifetime). */
  private claim(): HostClaim {
    const { address, capacity, labels, instanceType } = this.config;
    return { address, capacity: { cpu: capacity.cpu, memory: capacity.memory }, labels, ...(instanceType ? { instanceType } : {}) };
  }

  private async loadState(): Promise<HostDocument | undefined> {
    let text: string;
    try {
      text = await readFile(this.config.stateFile, 'utf8');
    } catch {
      return undefined;
    }
    try {
      const saved = JSON.parse(text) as SavedState;
      if (saved.format !== STATE_FORMAT || saved.hostId !== this.config.hostId) {
        this.deps.log('warn', 'ignoring saved state of another format or host', { file: this.config.stateFile, format: saved.format });
        return undefined;
      }
      return saved.document;
    } catch (err) {
      this.deps.log('warn', 'ignoring unreadable saved state', { file: this.config.stateFile, error: (err as Error).message });
      return undefined;
    }
  }

  private async saveState(document: HostDocument): Promise<void> {
    const state: SavedState = { format: STATE_FORMAT, hostId: this.config.hostId, document };
    await mkdir(dirname(this.config.stateFile), { recursive: true });
    // Owner only (0600, set before a byte is written): the document names the host's tasks and their secret references.
    await writeFileAtomic(this.config.stateFile, JSON.stringify(state), { mode: 0o600 });
  }
}

/** Rejects when `promise` has not settled within `ms`; the work itself is not cancelled. */
function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms / 1000}s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
