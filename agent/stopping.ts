/**
 * Graceful stops of the replicas that left this host's document (core/stopping.ts has the order
 * and why it holds). The agent hands each round's leaving containers to `Stopper.sync`; a container
 * is signalled once its task has been gone from the document for the drain delay, and the stop
 * (signal, grace period, kill, removal) runs on the side, so that a 30-second grace period never
 * holds up the agent's rounds, its restarts of crashed containers or its reports.
 *
 * Nothing is persisted: an agent that restarts sees the same containers absent from its document
 * and counts their drain again from its start, which only makes the drain longer.
 */
import type { ClusterEvent } from '../core/types.ts';
import { planLeaving } from '../core/stopping.ts';
import type { ContainerInfo, Executor } from './executor.ts';
import { SANDBOX } from './pod-sandbox.ts';

export interface StopperConfig {
  /** How long a leaving task keeps serving before its stop signal (ms). */
  readonly drainMs: number;
  /** The grace period of a container created before containers carried theirs (seconds). */
  readonly fallbackGraceSeconds: number;
}

export interface StopperDeps {
  readonly executor: Pick<Executor, 'stopAndRemove'>;
  readonly now: () => number;
  readonly log: (level: 'info' | 'warn' | 'error', message: string, data?: Record<string, unknown>) => void;
  readonly event: (type: string, message: string, about: Omit<ClusterEvent, 'id' | 'at' | 'type' | 'message'>) => void;
  /** Runs `fn` after `ms` (the agent's timers, cleared when it stops): a round when the next drain ends. */
  readonly schedule: (fn: () => void, ms: number) => void;
  /** A stop finished: the agent runs a round, so its report and applied generation follow at once. */
  readonly onStopped: () => void;
}

/** What remains after a round's `sync`. */
export interface StopperState {
  /** Containers of leaving tasks still present (draining or being stopped). */
  readonly remaining: number;
  /** Tasks draining, with when each gets its signal (ms). */
  readonly draining: ReadonlyMap<string, number>;
}

/** One container to stop, with what its task's events name. */
interface Stopping {
  readonly id: string;
  readonly name: string;
  readonly graceSeconds: number;
  readonly drainedMs: number;
  readonly about: { readonly namespace?: string; readonly service?: string };
}

export class Stopper {
  /** When each leaving task was first seen gone from the document (ms). */
  private since = new Map<string, number>();
  /** Stops in progress, by container id: a round never starts a second stop of the same container. */
  private readonly inFlight = new Map<string, Promise<void>>();
  /** The drain end a round is already scheduled for, so each round does not add a timer. */
  private wakeAt: number | undefined;

  constructor(
    private readonly config: StopperConfig,
    private readonly deps: StopperDeps,
  ) {}

  /**
   * Takes the containers Docker has whose task the document does not list, and starts the stops
   * that are due. `skipDrain`: the agent was frozen, so its leaving tasks left discovery long ago.
   */
  sync(leaving: readonly ContainerInfo[], skipDrain = false): StopperState {
    const now = this.deps.now();
    const decided = planLeaving({
      containers: leaving.map((c) => ({
        id: c.id,
        taskId: c.taskId,
        running: c.state === 'running' || c.state === 'restarting' || c.state === 'paused',
        ...(c.stopGraceSeconds === undefined ? {} : { graceSeconds: c.stopGraceSeconds }),
      })),
      since: this.since,
      now,
      drainMs: this.config.drainMs,
      fallbackGraceSeconds: this.config.fallbackGraceSeconds,
      skipDrain,
    });
    for (const task of decided.since.keys()) {
      if (!this.since.has(task)) {
        const signalIn = Math.max(0, (decided.draining.get(task) ?? now) - now);
        this.deps.log('info', 'task left the host document; draining before its stop signal', { task, signalInMs: signalIn });
      }
    }
    this.since = decided.since;
    const byTask = new Map<string, Stopping[]>();
    for (const s of decided.stop) {
      if (this.inFlight.has(s.container.id)) continue;
      const info = leaving.find((c) => c.id === s.container.id)!;
      const list = byTask.get(s.container.taskId) ?? [];
      list.push({
        id: info.id,
        name: info.container || info.name,
        graceSeconds: s.graceSeconds,
        drainedMs: s.drainedMs,
        about: { ...(info.namespace ? { namespace: info.namespace } : {}), ...(info.service ? { service: info.service } : {}) },
      });
      byTask.set(s.container.taskId, list);
    }
    for (const [task, containers] of byTask) this.stopTask(task, containers);
    const next = Math.min(...decided.draining.values());
    if (Number.isFinite(next) && (this.wakeAt === undefined || this.wakeAt <= now || next < this.wakeAt)) {
      this.wakeAt = next;
      this.deps.schedule(() => {
        this.wakeAt = undefined;
        this.deps.onStopped();
      }, next - now);
    }
    return { remaining: leaving.length, draining: decided.draining };
  }

  /** True while some stop is in progress. */
  get busy(): boolean {
    return this.inFlight.size > 0;
  }

  /** Resolves when the stops in progress have ended (tests; the agent itself never waits for them). */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight.values()]);
  }

  /** Stops every container of one task at once (a pod stops together, as in Kubernetes), then reports it. */
  private stopTask(task: string, containers: readonly Stopping[]): void {
    const started = this.deps.now();
    const grace = Math.max(...containers.map((c) => c.graceSeconds));
    const drained = Math.max(...containers.map((c) => c.drainedMs));
    this.deps.log('info', 'stopping a task that left the host document', { task, drainedMs: drained, graceSeconds: grace });
    const outcomes: { name: string; exitCode?: number; error?: string }[] = [];
    const stopOne = async (c: Stopping): Promise<void> => {
      try {
        const result = await this.deps.executor.stopAndRemove(c.id, c.graceSeconds);
        outcomes.push({ name: c.name, ...(result.exitCode === undefined ? {} : { exitCode: result.exitCode }) });
      } catch (err) {
        // Left as it is: the next round finds the container again and retries its stop.
        outcomes.push({ name: c.name, error: (err as Error).message });
        this.deps.log('error', 'stopping a container failed; retried next round', { task, container: c.name, error: (err as Error).message });
      } finally {
        this.inFlight.delete(c.id);
      }
    };
    // The app containers stop together; the sandbox, which holds the pod's network, only once they are
    // gone: stopped with them, it would cut the requests they are finishing.
    const apps = containers.filter((c) => c.name !== SANDBOX);
    const sandboxes = containers.filter((c) => c.name === SANDBOX);
    const appsDone = Promise.all(apps.map((c) => stopOne(c)));
    const all = (async () => {
      await appsDone;
      await Promise.all(sandboxes.map((c) => stopOne(c)));
      this.finished(task, containers[0].about, outcomes, started, grace, drained);
    })();
    for (const c of containers) this.inFlight.set(c.id, all);
  }

  private finished(
    task: string,
    about: Stopping['about'],
    outcomes: readonly { name: string; exitCode?: number; error?: string }[],
    started: number,
    grace: number,
    drained: number,
  ): void {
    const tookMs = this.deps.now() - started;
    if (outcomes.some((o) => o.error !== undefined)) {
      this.deps.onStopped();
      return;
    }
    // Docker kills with SIGKILL once the grace period has passed: 137 (128 + 9) then, whatever the init forwarded.
    const killed = outcomes.some((o) => o.name !== SANDBOX && o.exitCode === 137) && tookMs >= grace * 1000;
    const codes = outcomes
      .filter((o) => o.name !== SANDBOX)
      .map((o) => `${o.name} ${o.exitCode ?? 'gone'}`)
      .join(', ');
    const how = killed ? `killed after its grace period of ${grace}s` : `exited within its grace period of ${grace}s`;
    this.deps.log('info', 'task stopped', { task, drainedMs: drained, stopMs: tookMs, killed, exitCodes: codes });
    this.deps.event(
      'task.stopped',
      `task ${task} stopped after a ${(drained / 1000).toFixed(1)}s drain: ${how} (${(tookMs / 1000).toFixed(1)}s; exit ${codes})`,
      { ...about, task },
    );
    this.deps.onStopped();
  }
}
