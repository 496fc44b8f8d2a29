/**
 * How a replica stops, pure (docs/load-balancing.md, "Graceful stop"): it leaves DNS and the load
 * balancer first, then waits out a drain delay, then gets its stop signal, and is killed only once
 * its pod's grace period has passed.
 *
 * The order is kept without any new state in the control plane. A replica leaves discovery when its
 * task leaves the store (removed, replaced, released) or its service is deleting; the host document
 * is computed from the same tasks after that write, so the replica leaves the document in the same
 * pass or a later one, never an earlier one. The agent then holds the containers of a task that left
 * its document for the drain delay before it signals them: the delay is counted from when the agent
 * first saw the task gone, so it covers the discovery sync of that pass (on AWS it runs in the same
 * invocation, right after the publication; locally every 250 ms) and the load balancer's own drain.
 */
import type { PodSpec } from './types.ts';

/** The signal a container gets when it is to stop and its spec names none: Docker's and Kubernetes' default. */
export const DEFAULT_STOP_SIGNAL = 'SIGTERM';

/**
 * The signals a spec may name as `stopSignal`. The ones servers use to stop or stop gracefully
 * (nginx QUIT, Apache WINCH, php-fpm QUIT, HAProxy USR1), plus INT and HUP; SIGKILL too, for a
 * process that must never run its shutdown path. Not SIGSTOP (it would never exit) nor the signals
 * of faults (SEGV, BUS, ...), which no program uses to stop.
 */
export const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGKILL'] as const;

export type StopSignal = (typeof STOP_SIGNALS)[number];

/** Seconds between the stop signal and the kill when the spec says nothing: Kubernetes' default. */
export const DEFAULT_TERMINATION_GRACE_SECONDS = 30;
/**
 * The longest grace period: 10 minutes, like the longest a rolling update should wait for one
 * replica. A leaving replica holds its host's memory and ports for that long (its allocation is
 * already free for the next placement), and ECS allows 120 s, Nomad 30 s by default.
 */
export const MAX_TERMINATION_GRACE_SECONDS = 600;

/**
 * Seconds a leaving replica keeps serving the requests in flight before its stop signal. On AWS this
 * is the target groups' deregistration delay (adapters/aws/alb.ts, set by infra/ingress.ts), so the
 * load balancer and the agent count the same drain; 30 s and not ELBv2's own 300 s, which would hold
 * every step of a rolling update for 5 minutes. Locally, the local DNS TTL (5 s, core/discovery.ts):
 * a client that resolved the replica's address just before it left stops using it before the signal.
 */
export const DRAIN_SECONDS = { aws: 30, local: 5 } as const;
/** The drain delay bounds, seconds: ELBv2's range for the deregistration delay. */
export const MAX_DRAIN_SECONDS = 3600;

/** Why `value` is not a stop signal a spec may name, if it is not. */
export function stopSignalProblem(value: string): string | undefined {
  if ((STOP_SIGNALS as readonly string[]).includes(value)) return undefined;
  const upper = value.toUpperCase();
  const named = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  if ((STOP_SIGNALS as readonly string[]).includes(named)) return `must be written ${JSON.stringify(named)}; got ${JSON.stringify(value)}`;
  if (/^\d+$/.test(value)) return `must be a signal name, not a number: one of ${STOP_SIGNALS.join(', ')}; got ${value}`;
  return `must be one of ${STOP_SIGNALS.join(', ')}; got ${JSON.stringify(value)}`;
}

/** The grace period of a pod (its spec's, or the default for pods stored before the field existed). */
export function terminationGraceOf(pod: Pick<PodSpec, 'terminationGracePeriodSeconds'>): number {
  return pod.terminationGracePeriodSeconds ?? DEFAULT_TERMINATION_GRACE_SECONDS;
}

/** A container of a task that left the host's document. */
export interface LeavingContainer {
  readonly id: string;
  readonly taskId: string;
  /** Whether it still runs (a stopped one is removed without waiting: it serves nothing). */
  readonly running: boolean;
  /** Its grace period, from its labels; undefined for containers created before they carried it. */
  readonly graceSeconds?: number;
}

export interface LeavingInput {
  readonly containers: readonly LeavingContainer[];
  /** When the agent first saw each leaving task gone from its document (ms). */
  readonly since: ReadonlyMap<string, number>;
  readonly now: number;
  readonly drainMs: number;
  /** The grace period of a container that carries none. */
  readonly fallbackGraceSeconds: number;
  /**
   * Signal at once, without the drain: the agent was frozen or cut off, so the control plane may
   * have declared its host down long ago and moved its tasks away (they left discovery then).
   */
  readonly skipDrain?: boolean;
}

export interface LeavingPlan {
  /** The `since` map to keep: leaving tasks only, new ones stamped `now`. */
  readonly since: Map<string, number>;
  /** Containers to stop now, each with its grace period. */
  readonly stop: { readonly container: LeavingContainer; readonly graceSeconds: number; readonly drainedMs: number }[];
  /** Tasks still draining, with when their containers get their signal. */
  readonly draining: Map<string, number>;
}

/**
 * Which leaving containers get their stop signal now. Level-triggered: the input is the containers
 * Docker has whose task the document no longer lists; a task that comes back into the document
 * simply stops being leaving, and an agent that restarts forgets `since` and counts the drain again
 * from its restart (a longer drain, never a shorter one).
 */
export function planLeaving(input: LeavingInput): LeavingPlan {
  const since = new Map<string, number>();
  for (const c of input.containers) if (!since.has(c.taskId)) since.set(c.taskId, input.since.get(c.taskId) ?? input.now);
  const stop: LeavingPlan['stop'][number][] = [];
  const draining = new Map<string, number>();
  for (const c of input.containers) {
    const from = since.get(c.taskId)!;
    const due = from + input.drainMs;
    const graceSeconds = c.graceSeconds ?? input.fallbackGraceSeconds;
    if (!c.running || input.skipDrain || due <= input.now) stop.push({ container: c, graceSeconds, drainedMs: input.now - from });
    else draining.set(c.taskId, due);
  }
  return { since, stop, draining };
}
