/**
 * The agent's decisions, pure: the host document's tasks and the containers Docker has → the
 * actions that make them agree, and each task's status. Applying the same inputs twice gives the
 * same actions; whatever is absent from the document is removed.
 */
import type { ContainerSpec, HostDocumentTask, RestartPolicy, TaskState, TaskStatus } from '../core/types.ts';
import type { ContainerInfo } from './executor.ts';

export type Action =
  | { readonly kind: 'remove'; readonly container: ContainerInfo; readonly reason: string }
  /** Create (and start) the pod's containers in order; the first owns the pod's network. */
  | { readonly kind: 'createPod'; readonly task: HostDocumentTask; readonly reason: string }
  | { readonly kind: 'start'; readonly container: ContainerInfo; readonly task: HostDocumentTask; readonly reason: string };

export interface RestartRecord {
  /** Consecutive restarts of a container that did not stay up. */
  readonly count: number;
  /** Not before this time (ms). */
  readonly notBefore: number;
}

export interface PlanInput {
  readonly tasks: readonly HostDocumentTask[];
  readonly containers: readonly ContainerInfo[];
  /** The spec hash of a container spec (the same function that labelled the containers). */
  readonly hashOf: (spec: ContainerSpec) => string;
  /** Restart bookkeeping by `taskId/container`. */
  readonly restarts: ReadonlyMap<string, RestartRecord>;
  readonly now: number;
  /** Tasks whose probe declared a container unhealthy, with why: their pod is replaced by a fresh one. */
  readonly unhealthy?: ReadonlyMap<string, string>;
}

export interface Plan {
  readonly actions: Action[];
  /** Tasks whose restart waits for back-off, with when it may happen. */
  readonly backingOff: ReadonlyMap<string, number>;
}

/** Restart back-off: the first restart is immediate, then 1 s doubling up to 30 s. */
export const BACKOFF = { baseMs: 1_000, capMs: 30_000, resetAfterMs: 10_000 } as const;

/** Delay before restart number `count` (0-based) of a crash loop. */
export function backoffDelay(count: number): number {
  if (count <= 0) return 0;
  return Math.min(BACKOFF.capMs, BACKOFF.baseMs * 2 ** (count - 1));
}

export function shouldRestart(policy: RestartPolicy, exitCode: number | undefined): boolean {
  if (policy === 'always') return true;
  if (policy === 'on-failure') return exitCode !== 0;
  return false;
}

export function plan(input: PlanInput): Plan {
  const actions: Action[] = [];
  const backingOff = new Map<string, number>();
  const wanted = new Map(input.tasks.map((t) => [t.id, t]));
  const byTask = new Map<string, ContainerInfo[]>();

  for (const c of input.containers) {
    if (!wanted.has(c.taskId)) {
      actions.push({ kind: 'remove', container: c, reason: 'task no longer assigned to this host' });
      continue;
    }
    (byTask.get(c.taskId) ?? byTask.set(c.taskId, []).get(c.taskId)!).push(c);
  }

  for (const task of input.tasks) {
    const have = byTask.get(task.id) ?? [];
    const specs = task.pod.containers;
    const byName = new Map<string, ContainerInfo>();
    let broken: string | undefined;
    for (const c of have) {
      const spec = specs.find((s) => s.name === c.container);
      if (!spec) broken ??= `container ${c.container} is not in the pod spec`;
      else if (input.hashOf(spec) !== c.specHash) broken ??= `container ${c.container} runs an old spec`;
      else if (byName.has(c.container)) broken ??= `container ${c.container} exists twice`;
      else byName.set(c.container, c);
    }
    if (have.length > 0 && byName.size < specs.length && !broken) broken = 'pod is incomplete';
    if (!broken && have.length > 0 && input.unhealthy?.has(task.id)) broken = input.unhealthy.get(task.id)!;
    // The first container owns the pod's network namespace: when it is gone the others must be recreated.
    if (!broken && specs.length > 1 && byName.size > 0 && isStopped(byName.get(specs[0].name)!)) {
      if (shouldRestart(task.pod.restartPolicy, byName.get(specs[0].name)!.exitCode)) broken = 'pod network owner exited';
    }
    if (broken) {
      const key = `${task.id}/*`;
      const rec = input.restarts.get(key);
      if (rec && rec.notBefore > input.now) {
        backingOff.set(task.id, rec.notBefore);
        continue;
      }
      for (const c of have) actions.push({ kind: 'remove', container: c, reason: broken });
      actions.push({ kind: 'createPod', task, reason: broken });
      continue;
    }
    if (have.length === 0) {
      actions.push({ kind: 'createPod', task, reason: 'new task' });
      continue;
    }
    for (const spec of specs) {
      const c = byName.get(spec.name)!;
      if (c.state === 'created') {
        actions.push({ kind: 'start', container: c, task, reason: 'created, not started' });
      } else if (isStopped(c) && shouldRestart(task.pod.restartPolicy, c.exitCode)) {
        const rec = input.restarts.get(`${task.id}/${spec.name}`);
        if (rec && rec.notBefore > input.now) backingOff.set(task.id, rec.notBefore);
        else actions.push({ kind: 'start', container: c, task, reason: `exited with code ${c.exitCode ?? 'unknown'}` });
      }
    }
  }
  return { actions, backingOff };
}

function isStopped(c: ContainerInfo): boolean {
  return c.state === 'exited' || c.state === 'dead';
}

/**
 * The next restart record after a restart of a container that was started at `startedAt` and
 * exited at `finishedAt`: a container that stayed up longer than `resetAfterMs` starts afresh.
 */
export function nextRestart(prev: RestartRecord | undefined, ranMs: number, now: number): RestartRecord {
  const count = prev && ranMs < BACKOFF.resetAfterMs ? prev.count + 1 : 0;
  return { count, notBefore: now + backoffDelay(count + 1) };
}

/** A task's status from its containers, as the agent reports it. */
export function taskStatus(
  task: HostDocumentTask,
  containers: readonly ContainerInfo[],
  backoffUntil: number | undefined,
  now: number,
  previous: TaskStatus | undefined,
  /** Why Docker refused to create the pod for good (runAsNonRoot with a root image), if it did. */
  refusal?: string,
): TaskStatus {
  const mine = containers.filter((c) => c.taskId === task.id);
  const first = mine.find((c) => c.container === task.pod.containers[0]?.name);
  let state: TaskState;
  let exitCode: number | undefined;
  let message: string | undefined;
  if (mine.length < task.pod.containers.length && refusal !== undefined) {
    // Missing containers that were refused are not being created: the task failed, and says why.
    state = 'failed';
    message = refusal;
  }
  // Containers still missing: the agent is creating them (a burst is paced, so this can last a while).
  else if (mine.length < task.pod.containers.length) state = 'creating';
  else if (mine.every((c) => c.state === 'running')) state = 'running';
  else {
    const stopped = mine.filter(isStopped);
    if (stopped.length > 0) {
      const worst = stopped.find((c) => (c.exitCode ?? 1) !== 0) ?? stopped[0];
      exitCode = worst.exitCode;
      const restarting = shouldRestart(task.pod.restartPolicy, worst.exitCode);
      state = restarting ? 'failed' : exitCode === 0 ? 'exited' : 'failed';
      if (restarting && backoffUntil !== undefined) message = `restarting in ${Math.max(0, Math.ceil((backoffUntil - now) / 1000))}s (crash loop back-off)`;
      else if (!restarting) message = `container ${worst.container} exited with code ${worst.exitCode ?? 'unknown'}`;
    } else state = 'starting';
  }
  const ports = first?.ports ?? [];
  const same = previous && previous.state === state && previous.exitCode === exitCode;
  return {
    taskId: task.id,
    namespace: task.namespace,
    service: task.service,
    state,
    ...(exitCode !== undefined ? { exitCode } : {}),
    ...(message ? { message } : {}),
    ports,
    containers: mine.map((c) => ({ name: c.container, id: c.id.slice(0, 12), state: c.state })),
    since: same ? previous.since : new Date(now).toISOString(),
  };
}
