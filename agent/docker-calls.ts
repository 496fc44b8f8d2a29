/**
 * Docker calls under a timeout, and their errors. Every call the agent makes to Docker goes
 * through `dockerCall`, with a timeout from `DEFAULT_TIMEOUTS` whose value is explained there: a
 * wedged daemon must never freeze the agent's loop.
 */
import { SkiffError } from '../core/errors.ts';

/** Timeouts of Docker calls, in milliseconds. */
export interface DockerTimeouts {
  readonly list: number;
  readonly inspect: number;
  readonly imageInspect: number;
  readonly create: number;
  readonly start: number;
  /** Added to the stop's grace period. */
  readonly stopMargin: number;
  readonly remove: number;
  /** A pull that shows no progress for this long is abandoned. */
  readonly pullIdle: number;
  readonly pullTotal: number;
}

/**
 * Sized for hosts that run tens of containers (not the hundreds the ECS agent plans for, whose
 * agent/dockerclient/timeout.go was the model), from local images.
 */
export const DEFAULT_TIMEOUTS: DockerTimeouts = {
  // A list or an inspect is one small JSON answer that a healthy daemon gives in milliseconds even with
  // hundreds of containers. The reconcile loop lists again on its next pass, so waiting longer than this
  // only delays the heartbeat and status that keep the host from being declared dead.
  list: 10_000,
  inspect: 10_000,
  imageInspect: 10_000,
  // No pull happens in create (the agent pulls first), but the daemon allocates the overlay2 writable layer
  // and takes per-container locks; after a failover a host gets a burst of creates on 2 cores and we have
  // seen seconds each. A create we give up on may still complete in the daemon and leave a container under
  // the same name (the agent finds it by its labels and removes it), so we are generous rather than tight;
  // ECS allows 4 min for hosts ten times as busy.
  create: 120_000,
  // Start sets up the network namespace, iptables rules and one docker-proxy per published port, then runs
  // runc: under a second normally, tens of seconds on a daemon busy with many starts.
  start: 60_000,
  // Docker sends SIGKILL at the end of the grace period, then waits for containerd to report the exit
  // and releases the network; 30 s covers that on a loaded daemon (the ECS agent's margin too).
  stopMargin: 30_000,
  // Remove deletes the writable layer and anonymous volumes: small for our images, but an unmount on a
  // busy disk can take seconds.
  remove: 60_000,
  // A registry connection that stalls sends no progress; a healthy pull reports every layer chunk.
  pullIdle: 60_000,
  // A 1 GB image at 10 Mbit/s takes about 14 min.
  pullTotal: 20 * 60_000,
};

/** A Docker call failed. `retryable` says whether the same call may succeed later unchanged. */
export class DockerError extends SkiffError {
  override readonly retryable: boolean;
  /** The call that failed, with its target: `start 3f2a9c1b04de`. */
  readonly call: string;
  /** The HTTP status the daemon answered with; absent when it did not answer. */
  readonly statusCode?: number;
  constructor(call: string, message: string, options: { retryable: boolean; statusCode?: number; cause?: unknown }) {
    super(`docker ${call}: ${message}`, { cause: options.cause });
    this.name = 'DockerError';
    this.call = call;
    this.retryable = options.retryable;
    this.statusCode = options.statusCode;
  }
}

/** A Docker call did not answer within its timeout; the daemon is slow or wedged, so a retry may help. */
export class DockerTimeoutError extends DockerError {
  readonly timeoutMs: number;
  constructor(call: string, timeoutMs: number) {
    super(call, `timed out after ${timeoutMs} ms`, { retryable: true });
    this.name = 'DockerTimeoutError';
    this.timeoutMs = timeoutMs;
  }
}

/** Runs one Docker call under a timeout that aborts its request, and turns failures into DockerErrors. */
export async function dockerCall<T>(call: string, timeoutMs: number, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new DockerTimeoutError(call, timeoutMs);
      // Abort the HTTP request too, so a wedged daemon does not accumulate our open connections.
      controller.abort(err);
      reject(err);
    }, timeoutMs);
  });
  try {
    return await Promise.race([run(controller.signal), timedOut]);
  } catch (err) {
    throw toDockerError(call, err);
  } finally {
    clearTimeout(timer);
  }
}

export function statusOf(err: unknown): number | undefined {
  const status = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

function toDockerError(call: string, err: unknown): DockerError {
  if (err instanceof DockerError) return err;
  const statusCode = statusOf(err);
  const json = (err as { json?: { message?: unknown } } | null)?.json;
  const message = typeof json?.message === 'string' ? json.message : err instanceof Error ? err.message : String(err);
  // No answer (daemon down or restarting) and 5xx (daemon-side failures, a port still held) may pass;
  // a 4xx (no such image, bad parameter, name in use) will answer the same until something changes.
  const retryable = statusCode === undefined || statusCode >= 500;
  return new DockerError(call, statusCode === undefined ? message : `${message} (HTTP ${statusCode})`, { retryable, statusCode, cause: err });
}
