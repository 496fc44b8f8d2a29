/**
 * The agent's decisions, pure: the host document's tasks and the containers Docker has → the
 * actions that make them agree, and each task's status. Applying the same inputs twice gives the
 * same actions; whatever is absent from the document is removed.
 */
import type { ContainerSpec, HostDocumentTask, RestartPolicy, TaskState, TaskStatus } from '../core/types.ts';
import type { ContainerInfo } from './executor.ts';
import { podPorts, SANDBOX } from './pod-sandbox.ts';

export type Action =
  | { readonly kind: 'remove'; readonly container: ContainerInfo; readonly reason: string }
  /**
   * Create the pod: its volumes and its sandbox (which owns the pod's network namespace), then the app
   * containers when the pod has no init container (else the rounds that follow run those first).
   */
  | { readonly kind: 'createPod'; readonly task: HostDocumentTask; readonly reason: string }
  /** Create and start one container of a pod whose sandbox runs, in the sandbox's network namespace. */
  | {
      readonly kind: 'createContainer';
      readonly task: HostDocumentTask;
      readonly spec: ContainerSpec;
      readonly sandbox: ContainerInfo;
      readonly reason: string;
    }
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
    const inits = task.pod.initContainers ?? [];
    const byName = new Map<string, ContainerInfo>();
    let sandbox: ContainerInfo | undefined;
    let broken: string | undefined;
    for (const c of have) {
      if (c.container === SANDBOX) {
        if (sandbox) broken ??= 'the pod sandbox exists twice';
        sandbox = c;
        continue;
      }
      const spec = specs.find((s) => s.name === c.container) ?? inits.find((s) => s.name === c.container);
      if (!spec) broken ??= `container ${c.container} is not in the pod spec`;
      else if (input.hashOf(spec) !== c.specHash) broken ??= `container ${c.container} runs an old spec`;
      else if (byName.has(c.container)) broken ??= `container ${c.container} exists twice`;
      else byName.set(c.container, c);
    }
    if (!broken && have.length > 0 && input.unhealthy?.has(task.id)) broken = input.unhealthy.get(task.id)!;
    // The sandbox owns the pod's network namespace: without it the others have no network, and a new one
    // would have another address. A pod whose every container has ended for good needs no network.
    const apps = specs.map((s) => byName.get(s.name));
    const done = apps.every((c) => c !== undefined && isStopped(c) && !shouldRestart(task.pod.restartPolicy, c.exitCode));
    if (!broken && have.length > 0 && !sandbox) broken = 'the pod sandbox is gone';
    if (!broken && sandbox && isStopped(sandbox) && !done) broken = 'the pod sandbox exited';
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
    if (!sandbox) {
      actions.push({ kind: 'createPod', task, reason: 'new task' });
      continue;
    }
    if (sandbox.state === 'created') actions.push({ kind: 'start', container: sandbox, task, reason: 'pod sandbox created, not started' });
    // Init containers run once, in order, before any app container; once an app container exists the
    // pod is past them (a restarted app container does not run them again, as in Kubernetes).
    if (apps.every((c) => c === undefined) && !initsDone(input, task, byName, actions, backingOff, sandbox)) continue;
    for (const spec of specs) {
      const c = byName.get(spec.name);
      if (!c) {
        actions.push({ kind: 'createContainer', task, spec, sandbox, reason: 'container missing' });
      } else if (c.state === 'created') {
        actions.push({ kind: 'start', container: c, task, reason: 'created, not started' });
      } else if (isStopped(c) && shouldRestart(task.pod.restartPolicy, c.exitCode)) {
        const rec = input.restarts.get(`${task.id}/${spec.name}`);
        if (rec && rec.notBefore > input.now) backingOff.set(task.id, rec.notBefore);
        else actions.push({ kind: 'start', container: c, task, reason: exitReason(c) });
      }
    }
  }
  return { actions, backingOff };
}

/**
 * The init phase of one pod: true when every init container has succeeded; else adds the action that
 * moves it on (create the next one, retry a failed one after its back-off) and returns false.
 */
function initsDone(
  input: PlanInput,
  task: HostDocumentTask,
  byName: ReadonlyMap<string, ContainerInfo>,
  actions: Action[],
  backingOff: Map<string, number>,
  sandbox: ContainerInfo,
): boolean {
  for (const spec of task.pod.initContainers ?? []) {
    const c = byName.get(spec.name);
    if (!c) {
      actions.push({ kind: 'createContainer', task, spec, sandbox, reason: 'init container' });
      return false;
    }
    if (c.state === 'created') {
      actions.push({ kind: 'start', container: c, task, reason: 'init container created, not started' });
      return false;
    }
    if (!isStopped(c)) return false;
    if (c.exitCode === 0) continue;
    // A failed init container is retried with back-off, unless the pod never restarts anything.
    if (task.pod.restartPolicy === 'never') return false;
    const rec = input.restarts.get(`${task.id}/${spec.name}`);
    if (rec && rec.notBefore > input.now) backingOff.set(task.id, rec.notBefore);
    else actions.push({ kind: 'start', container: c, task, reason: `init container ${spec.name} ${exitReason(c)}` });
    return false;
  }
  return true;
}

function exitReason(c: ContainerInfo): string {
  return `exited with code ${c.exitCode ?? 'unknown'}${c.oomKilled ? ' (OOMKilled: over its memory limit)' : ''}`;
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
  const all = containers.filter((c) => c.taskId === task.id);
  const sandbox = all.find((c) => c.container === SANDBOX);
  const mine = all.filter((c) => task.pod.containers.some((s) => s.name === c.container));
  let state: TaskState;
  let exitCode: number | undefined;
  let message: string | undefined;
  const init = mine.length === 0 && sandbox ? initStatus(task, all, backoffUntil, now) : undefined;
  if (init) ({ state, exitCode, message } = init);
  else if (mine.length < task.pod.containers.length && refusal !== undefined) {
    // Missing containers that were refused are not being created: the task failed, and says why.
    state = 'failed';
    message = refusal;
  }
  // Containers still missing: the agent is creating them (a burst is paced, so this can last a while).
  else if (!sandbox || mine.length < task.pod.containers.length) state = 'creating';
  else if (mine.every((c) => c.state === 'running')) state = 'running';
  else {
    const stopped = mine.filter(isStopped);
    if (stopped.length > 0) {
      const worst = stopped.find((c) => c.oomKilled) ?? stopped.find((c) => (c.exitCode ?? 1) !== 0) ?? stopped[0];
      exitCode = worst.exitCode;
      const restarting = shouldRestart(task.pod.restartPolicy, worst.exitCode);
      state = restarting ? 'failed' : exitCode === 0 ? 'exited' : 'failed';
      const oom = worst.oomKilled ? `container ${worst.container} was OOMKilled (it used more than its memory limit)` : undefined;
      if (restarting && backoffUntil !== undefined)
        message = `${oom ? `${oom}; ` : ''}restarting in ${Math.max(0, Math.ceil((backoffUntil - now) / 1000))}s (crash loop back-off)`;
      else if (!restarting) message = oom ?? `container ${worst.container} exited with code ${worst.exitCode ?? 'unknown'}`;
      else if (oom) message = oom;
    } else state = 'starting';
  }
  const ports = sandbox ? podPorts(task, sandbox.ports) : [];
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

/** The status of a pod in its init phase (no app container yet), or undefined once it is past it. */
function initStatus(
  task: HostDocumentTask,
  all: readonly ContainerInfo[],
  backoffUntil: number | undefined,
  now: number,
): Pick<TaskStatus, 'state' | 'exitCode' | 'message'> | undefined {
  const inits = task.pod.initContainers ?? [];
  for (const [i, spec] of inits.entries()) {
    const c = all.find((x) => x.container === spec.name);
    const which = `init container ${spec.name} (${i + 1} of ${inits.length})`;
    if (!c || !isStopped(c)) return { state: 'starting', message: `running ${which}` };
    if (c.exitCode === 0) continue;
    const failed = `${which} failed: ${exitReason(c)}`;
    if (task.pod.restartPolicy === 'never') return { state: 'failed', exitCode: c.exitCode, message: `${failed}; restartPolicy is never` };
    const wait = backoffUntil === undefined ? '' : `; retrying in ${Math.max(0, Math.ceil((backoffUntil - now) / 1000))}s (back-off)`;
    return { state: 'failed', exitCode: c.exitCode, message: `${failed}${wait}` };
  }
  return undefined;
}
