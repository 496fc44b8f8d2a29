/**
 * Container health checks on the host: a pure state machine (`nextHealth`) and the `Prober` that
 * runs each container's probe on timers and feeds the results to it. The agent decides what to do
 * about an unhealthy container (restart it, report it); this module only observes.
 *
 * Probes never address a container's own IP: http and tcp probes go to the host endpoint where the
 * pod publishes the port (127.0.1.i locally, the host's address on EC2), exec probes go through
 * the executor (`docker exec`).
 */
import { request } from 'node:http';
import { connect } from 'node:net';
import type { Health, HealthCheck } from '../core/types.ts';
import type { Executor } from './executor.ts';

export type ProbeResult = 'success' | 'failure';

/** What the agent knows of one container's health. */
export interface ProbeState {
  readonly health: Health;
  readonly consecutiveSuccesses: number;
  /** Consecutive failures that count toward failureThreshold (see nextHealth for those that do not). */
  readonly consecutiveFailures: number;
  readonly lastResult?: ProbeResult;
  /** What the last probe saw, for people: `HTTP 503, healthy is 200-399`, `exit code 1: ...`. */
  readonly lastMessage?: string;
  /** When the last probe started (ms). */
  readonly lastAt?: number;
  /** A probe has succeeded since the container started, which ends its start period. */
  readonly succeeded?: boolean;
  /** When the last failure that counted happened while starting (ms); spaces them by the interval. */
  readonly lastCountedFailureAt?: number;
}

/** A container that has not been probed yet. */
export const INITIAL_PROBE_STATE: ProbeState = Object.freeze({ health: 'starting', consecutiveSuccesses: 0, consecutiveFailures: 0 });

/**
 * Skiff's start interval, in seconds: while a container is starting it is probed this often (or
 * every intervalSeconds when that is shorter), so a fresh container is found healthy soon after it
 * is ready, like Docker's --health-start-interval.
 */
export const START_INTERVAL_SECONDS = 0.25;

/**
 * The state after one probe result. `now` is when the probe started and `startedAt` when the
 * container started (ms). Rules (Docker's, with Kubernetes' successThreshold):
 * - starting → healthy after successThreshold consecutive successes; unhealthy → healthy likewise;
 * - starting or healthy → unhealthy after failureThreshold consecutive failures that count;
 * - failures during the start period do not count; the first success ends the start period;
 * - while starting, when probes come faster than the interval (START_INTERVAL_SECONDS), a failure
 *   counts only if it is the first of an interval since the container started (none in the first
 *   interval), so the extra probes find a container healthy sooner but never fail it sooner.
 * `message` is kept as lastMessage.
 */
export function nextHealth(state: ProbeState, result: ProbeResult, now: number, check: HealthCheck, startedAt: number, message?: string): ProbeState {
  const seen = { lastResult: result, lastAt: now, ...(message !== undefined ? { lastMessage: message } : {}) };
  const carried = state.lastCountedFailureAt !== undefined ? { lastCountedFailureAt: state.lastCountedFailureAt } : {};
  if (result === 'success') {
    const consecutiveSuccesses = state.consecutiveSuccesses + 1;
    const health: Health = state.health === 'healthy' || consecutiveSuccesses >= check.successThreshold ? 'healthy' : state.health;
    return { health, consecutiveSuccesses, consecutiveFailures: 0, ...seen, succeeded: true, ...carried };
  }
  const succeeded = state.succeeded ? { succeeded: true } : {};
  // A failure always breaks a run of successes, even one that does not count toward failureThreshold.
  const uncounted: ProbeState = {
    health: state.health,
    consecutiveSuccesses: 0,
    consecutiveFailures: state.consecutiveFailures,
    ...seen,
    ...succeeded,
    ...carried,
  };
  if (state.health === 'starting') {
    if (!state.succeeded && now - startedAt < check.startPeriodSeconds * 1000) return uncounted;
    if (check.intervalSeconds > START_INTERVAL_SECONDS) {
      const intervalMs = check.intervalSeconds * 1000;
      const slot = Math.floor((now - startedAt) / intervalMs);
      const countedSlot = state.lastCountedFailureAt === undefined ? 0 : Math.floor((state.lastCountedFailureAt - startedAt) / intervalMs);
      if (slot < 1 || slot <= countedSlot) return uncounted;
    }
  }
  const consecutiveFailures = state.consecutiveFailures + 1;
  const health: Health = consecutiveFailures >= check.failureThreshold ? 'unhealthy' : state.health;
  return {
    health,
    consecutiveSuccesses: 0,
    consecutiveFailures,
    ...seen,
    ...succeeded,
    ...(state.health === 'starting' ? { lastCountedFailureAt: now } : carried),
  };
}

/** One container to probe. */
export interface ProbeTarget {
  /** `taskId/container`. */
  readonly key: string;
  readonly containerId: string;
  readonly check: HealthCheck;
  /** Where the probed port is published on the host (http and tcp probes). */
  readonly endpoint?: { readonly host: string; readonly port: number };
  /**
   * When the container started (ms), Docker's State.StartedAt: not the time of the sync. A changed
   * value means the container restarted in place, which starts its health over.
   */
  readonly startedAt: number;
}

export interface ProberDeps {
  readonly executor: Pick<Executor, 'exec'>;
  readonly now: () => number;
  /** Called when a probe result changes a target's health (not when sync starts a target over). */
  readonly onChange?: (key: string, state: ProbeState, previous: ProbeState) => void;
  readonly log?: (level: 'info' | 'warn' | 'error', message: string, data?: Record<string, unknown>) => void;
}

interface Outcome {
  readonly result: ProbeResult;
  readonly message: string;
}

interface Entry {
  target: ProbeTarget;
  state: ProbeState;
  timer?: NodeJS.Timeout;
  /** The probe in flight, if any; a probe never starts before the previous one of its key ended. */
  running?: Promise<void>;
  /** Aborts the probe in flight when the entry is dropped. */
  abort?: AbortController;
  cancelled: boolean;
}

/**
 * Runs the probes of the containers the agent names in `sync`, each on its own timer, and keeps
 * each container's ProbeState. Probes of one container never overlap; each is bounded by its
 * timeoutSeconds.
 */
export class Prober {
  private readonly entries = new Map<string, Entry>();
  private stopped = false;

  constructor(private readonly deps: ProberDeps) {}

  /**
   * Makes the probed set exactly `targets`: starts new ones, drops absent ones, and starts over a
   * target whose container, start time or check changed. Give only running containers.
   */
  sync(targets: readonly ProbeTarget[]): void {
    if (this.stopped) return;
    const wanted = new Map(targets.map((t) => [t.key, t]));
    for (const [key, entry] of this.entries) {
      if (!wanted.has(key)) {
        this.cancel(entry);
        this.entries.delete(key);
      }
    }
    for (const target of wanted.values()) {
      const entry = this.entries.get(target.key);
      if (entry && sameIncarnation(entry.target, target)) {
        // Same container, same run: take the endpoint as now reported, keep the state.
        entry.target = target;
        continue;
      }
      const previous = entry?.running;
      if (entry) this.cancel(entry);
      const fresh: Entry = { target, state: INITIAL_PROBE_STATE, cancelled: false };
      this.entries.set(target.key, fresh);
      // The first probe waits one start interval: a container synced right after its start is rarely ready.
      // A replaced target's last probe is let finish first, so that probes of one key never overlap.
      this.schedule(fresh, this.periodMs(fresh), previous);
    }
  }

  /** The health state of a target, if it is probed. */
  health(key: string): ProbeState | undefined {
    return this.entries.get(key)?.state;
  }

  /** Stops every probe; resolves when the ones in flight have ended (they are aborted). */
  async stop(): Promise<void> {
    this.stopped = true;
    const running = [...this.entries.values()].map((e) => {
      this.cancel(e);
      return e.running;
    });
    this.entries.clear();
    await Promise.allSettled(running);
  }

  private cancel(entry: Entry): void {
    entry.cancelled = true;
    clearTimeout(entry.timer);
    entry.timer = undefined;
    entry.abort?.abort();
  }

  /** Time between probe starts: the start interval while starting, else the check's interval. */
  private periodMs(entry: Entry): number {
    const interval = entry.target.check.intervalSeconds;
    return Math.round((entry.state.health === 'starting' ? Math.min(interval, START_INTERVAL_SECONDS) : interval) * 1000);
  }

  private schedule(entry: Entry, delayMs: number, after?: Promise<void>): void {
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      entry.running = (async () => {
        await after;
        await this.run(entry);
      })()
        .catch((err: unknown) => this.deps.log?.('error', 'health probe loop failed', { key: entry.target.key, error: (err as Error).message }))
        .finally(() => (entry.running = undefined));
    }, delayMs);
  }

  private async run(entry: Entry): Promise<void> {
    if (entry.cancelled) return;
    const startedAt = this.deps.now();
    entry.abort = new AbortController();
    const outcome = await this.probe(entry.target, entry.abort.signal);
    entry.abort = undefined;
    if (entry.cancelled) return;
    const previous = entry.state;
    entry.state = nextHealth(previous, outcome.result, startedAt, entry.target.check, entry.target.startedAt, outcome.message);
    if (entry.state.health !== previous.health) {
      try {
        this.deps.onChange?.(entry.target.key, entry.state, previous);
      } catch (err) {
        this.deps.log?.('error', 'health change handler failed', { key: entry.target.key, error: (err as Error).message });
      }
    }
    // The handler may have stopped the prober or dropped this target.
    if (entry.cancelled) return;
    this.schedule(entry, Math.max(0, startedAt + this.periodMs(entry) - this.deps.now()));
  }

  /** Runs one probe; never throws. */
  private async probe(target: ProbeTarget, signal: AbortSignal): Promise<Outcome> {
    const { check } = target;
    const timeoutMs = Math.round(check.timeoutSeconds * 1000);
    try {
      if (check.exec) return await execProbe(this.deps.executor, target.containerId, check.exec.command, timeoutMs, signal);
      const port = check.http?.port ?? check.tcp?.port;
      if (!target.endpoint) return { result: 'failure', message: `port ${port} is not published on the host` };
      const host = connectable(target.endpoint.host);
      if (check.http) return await httpProbe(host, target.endpoint.port, check.http, timeoutMs, signal);
      if (check.tcp) return await tcpProbe(host, target.endpoint.port, timeoutMs, signal);
      return { result: 'failure', message: 'the check names no probe' };
    } catch (err) {
      return { result: 'failure', message: (err as Error).message };
    }
  }
}

function sameIncarnation(a: ProbeTarget, b: ProbeTarget): boolean {
  return a.containerId === b.containerId && a.startedAt === b.startedAt && JSON.stringify(a.check) === JSON.stringify(b.check);
}

/** A port published on every address is reached on loopback; the wildcard itself is no destination. */
function connectable(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '::1';
  return host;
}

function timedOut(timeoutMs: number): Outcome {
  return { result: 'failure', message: `timed out after ${timeoutMs} ms` };
}

function describeError(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  return typeof e.code === 'string' && typeof e.message === 'string' && !e.message.includes(e.code) ? `${e.code}: ${e.message}` : String(e.message ?? err);
}

/** Runs `fn` with a signal that fires on timeout or when `outer` aborts, and the reason it fired. */
async function bounded(timeoutMs: number, outer: AbortSignal, fn: (signal: AbortSignal, settle: (o: Outcome) => void) => void): Promise<Outcome> {
  return new Promise<Outcome>((resolve) => {
    const controller = new AbortController();
    let done = false;
    const settle = (o: Outcome): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      outer.removeEventListener('abort', onAbort);
      controller.abort();
      resolve(o);
    };
    const timer = setTimeout(() => settle(timedOut(timeoutMs)), timeoutMs);
    const onAbort = (): void => settle({ result: 'failure', message: 'probe stopped' });
    if (outer.aborted) return onAbort();
    outer.addEventListener('abort', onAbort, { once: true });
    fn(controller.signal, settle);
  });
}

/**
 * GET the path over a fresh connection; healthy when the status is in range. node:http rather than
 * fetch: when nothing listens behind a published port, Docker's port proxy accepts the connection
 * and closes it at once, which node:http reports at once while fetch waits for its timeout; and a
 * fresh connection per probe (as the kubelet does) keeps a pooled one from hiding a restart.
 */
function httpProbe(host: string, port: number, http: NonNullable<HealthCheck['http']>, timeoutMs: number, outer: AbortSignal): Promise<Outcome> {
  const [min, max] = http.status;
  return bounded(timeoutMs, outer, (signal, settle) => {
    const req = request(
      { host, port, path: http.path, method: 'GET', agent: false, signal, headers: { 'user-agent': 'skiff-probe', accept: '*/*', connection: 'close' } },
      (res) => {
        const status = res.statusCode ?? 0;
        // The body is not read: the status decides, and a large or endless body must not hold the probe.
        res.destroy();
        settle(
          status >= min && status <= max
            ? { result: 'success', message: `HTTP ${status}` }
            : { result: 'failure', message: `HTTP ${status}, healthy is ${min}-${max}` },
        );
      },
    );
    req.on('error', (err) => settle({ result: 'failure', message: describeError(err) }));
    req.end();
  });
}

/**
 * How long an accepted connection must stay open to count. Docker's userland proxy accepts a
 * connection to a published port before it dials the container, and closes it within milliseconds
 * when nothing listens there; a port that really accepts keeps it open.
 */
export const TCP_SETTLE_MS = 100;

/** Healthy when a connection is accepted and not closed straight away (see TCP_SETTLE_MS). */
function tcpProbe(host: string, port: number, timeoutMs: number, outer: AbortSignal): Promise<Outcome> {
  return bounded(timeoutMs, outer, (signal, settle) => {
    const socket = connect({ host, port });
    const finish = (o: Outcome): void => {
      socket.destroy();
      settle(o);
    };
    let settleTimer: NodeJS.Timeout | undefined;
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(settleTimer);
        socket.destroy();
      },
      { once: true },
    );
    socket.on('error', (err) => finish({ result: 'failure', message: describeError(err) }));
    socket.on('connect', () => {
      settleTimer = setTimeout(() => finish({ result: 'success', message: 'connected' }), Math.min(TCP_SETTLE_MS, timeoutMs / 2));
      // A server that greets first has surely accepted.
      socket.once('data', () => {
        clearTimeout(settleTimer);
        finish({ result: 'success', message: 'connected' });
      });
      socket.once('close', () => {
        clearTimeout(settleTimer);
        finish({ result: 'failure', message: 'connection closed right after it was accepted: nothing listens behind the published port' });
      });
    });
  });
}

/**
 * Healthy when the command exits with 0 within the timeout. The outcome is decided at the timeout,
 * but the next probe waits for the executor's call to end (it is bounded by the same timeout), so
 * two commands of one probe never run at once; a stopped prober does not wait.
 */
async function execProbe(
  executor: Pick<Executor, 'exec'>,
  containerId: string,
  command: readonly string[],
  timeoutMs: number,
  outer: AbortSignal,
): Promise<Outcome> {
  let call: Promise<unknown> = Promise.resolve();
  const outcome = await bounded(timeoutMs, outer, (_signal, settle) => {
    call = executor.exec(containerId, command, timeoutMs).then(
      ({ exitCode, output }) => {
        const tail = output.replace(/\s+/g, ' ').trim();
        const shown = tail.length > 200 ? `...${tail.slice(-197)}` : tail;
        settle(
          exitCode === 0 ? { result: 'success', message: 'exit code 0' } : { result: 'failure', message: `exit code ${exitCode}${shown ? `: ${shown}` : ''}` },
        );
      },
      (err: unknown) => settle({ result: 'failure', message: (err as Error).message }),
    );
  });
  if (!outer.aborted) await call;
  return outcome;
}
