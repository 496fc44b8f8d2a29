/**
 * Rollouts, pure: which outdated replicas to replace now (the budgets of `spec.update`), when a
 * new replica counts as available, when a rollout has failed, and the rollout state the scheduler
 * pass writes on the service (progress, completion, rollback, revision history).
 *
 * The slot model carries the surge: a slot's new task may keep its old incarnation running as
 * `Task.previous` (the new-first mechanism drains use) until the new one is available. So a
 * replacement is either a surge (old kept: one more replica exists for a while, none fewer
 * serves) or an unavailable one (old stopped at once: none more exists, one fewer serves).
 */
import type { PodSpec, PodTemplate, ReplicaBudget, Revision, RolloutState, Service, ServiceSpec, Task, TaskStatus, UpdateSpec } from './types.ts';
import { jsonEqual, stableStringify } from './json.ts';
import { UPDATE_DEFAULTS } from './spec/defaults.ts';
import { desiredReplicas as desiredCount } from './replicas.ts';

/** Mirrors core/reconciler.ts RESTORED (kept here to avoid an import cycle). */
const RESTORED = 'back to its previous incarnation';

/** The update policy of a spec; specs stored before `spec.update` existed get the defaults. */
export function updatePolicy(spec: ServiceSpec): UpdateSpec {
  return spec.spec.update ?? UPDATE_DEFAULTS;
}

/** A budget as a count for `replicas`: percentages round up for the surge, down for unavailability (Kubernetes' rule). */
export function resolveBudget(budget: ReplicaBudget, replicas: number, round: 'up' | 'down'): number {
  if (typeof budget === 'number') return budget;
  const scaled = (Number.parseInt(budget, 10) * replicas) / 100;
  return round === 'up' ? Math.ceil(scaled) : Math.floor(scaled);
}

/** The surge and unavailability allowed for `replicas`; both rounding to 0 allows a surge of 1, or nothing could move. */
export function budgets(update: UpdateSpec, replicas: number): { surge: number; unavailable: number } {
  const surge = resolveBudget(update.maxSurge, replicas, 'up');
  const unavailable = resolveBudget(update.maxUnavailable, replicas, 'down');
  return surge === 0 && unavailable === 0 ? { surge: 1, unavailable: 0 } : { surge, unavailable };
}

/**
 * A replica is available once it runs, its probe (if any) passes, and it has been running for
 * `minReadySeconds`. The agent reports when the state last changed (`since`); a restart resets it.
 */
export function isAvailable(status: TaskStatus | undefined, minReadySeconds: number, now: string): boolean {
  if (status?.state !== 'running') return false;
  if (status.health !== undefined && status.health !== 'healthy') return false;
  return minReadySeconds === 0 || Date.parse(now) - Date.parse(status.since) >= minReadySeconds * 1000;
}

/**
 * A new replica may take over from the old one: available, and not failed (a crash-looping
 * container is "running" between its crashes).
 */
export function isReady(status: TaskStatus | undefined, minReadySeconds: number, now: string): boolean {
  return isAvailable(status, minReadySeconds, now) && replicaFailure(status, now) === undefined;
}

/** A new replica restarted this often by its agent (exits or failed probes) marks its version failed. */
export const ROLLOUT_FAILED_AFTER_RESTARTS = 2;

/**
 * A replica that restarted but has since run this long is stable again: restarts are counted over
 * the task's life, and a crash loop never runs this long between crashes (Kubernetes resets its
 * crash-loop back-off after ten minutes; a minute is enough to tell a loop from a past hiccup).
 */
export const STABLE_AFTER_SECONDS = 60;

/** Why a replica of the version being rolled out has failed, or undefined while it may still succeed. */
export function replicaFailure(status: TaskStatus | undefined, now: string, probed = false): string | undefined {
  if (!status) return undefined;
  const exit = status.lastExitCode ?? status.exitCode;
  const code = exit === undefined ? '' : `, last exit code ${exit}`;
  if (status.state === 'failed' || (status.state === 'exited' && status.exitCode !== 0)) return `exited${code}${status.message ? `: ${status.message}` : ''}`;
  const restarts = status.restarts ?? 0;
  const stable = status.state === 'running' && Date.parse(now) - Date.parse(status.since) >= STABLE_AFTER_SECONDS * 1000;
  if (restarts >= ROLLOUT_FAILED_AFTER_RESTARTS && !stable) {
    // A pod replaced for a failed probe was removed, not exited: no exit code, unless its process also crashed.
    const probeFailed = status.health === 'unhealthy' || /probe|unhealthy/.test(status.message ?? '') || (probed && status.lastExitCode === undefined);
    const how = probeFailed ? 'failing its probe' : 'crash-looping';
    return `${how}: restarted ${restarts} times${code}${status.message ? ` (${status.message})` : ''}`;
  }
  return undefined;
}

/** The pod template of a spec or pod: what a rollout changes (every field of the pod each replica runs). */
export function templateOf(pod: PodSpec | ServiceSpec): PodTemplate {
  const p = 'kind' in pod ? pod.spec : pod;
  return {
    containers: p.containers,
    restartPolicy: p.restartPolicy,
    ...(p.pidsLimit === undefined ? {} : { pidsLimit: p.pidsLimit }),
    ...(p.terminationGracePeriodSeconds === undefined ? {} : { terminationGracePeriodSeconds: p.terminationGracePeriodSeconds }),
    ...(p.volumes === undefined ? {} : { volumes: p.volumes }),
    ...(p.initContainers === undefined ? {} : { initContainers: p.initContainers }),
    // Workload identity is the pod's: a new role rolls the replicas (their credentials are the old role's).
    ...(p.identity === undefined ? {} : { identity: p.identity }),
    // Who may connect is the pod's too: its containers join the allowed namespaces' networks when created.
    ...(p.network === undefined ? {} : { network: p.network }),
  };
}

/** The spec with its pod template replaced by `template` (rollback, undo): replicas, placement and the rest unchanged. */
export function withTemplate(spec: ServiceSpec, template: PodTemplate): ServiceSpec {
  const { pidsLimit: _p, terminationGracePeriodSeconds: _g, volumes: _v, initContainers: _i, identity: _id, network: _n, ...rest } = spec.spec;
  return { ...spec, spec: { ...rest, ...templateOf(template) } };
}

/** An outdated slot of 1..replicas as the planner sees it. */
export interface RolloutSlot {
  readonly slot: number;
  /** The slot serves: its task, or the previous incarnation it keeps, is available. */
  readonly available: boolean;
  /** The slot's task keeps a previous incarnation running (after this pass's releases). */
  readonly hasPrevious: boolean;
}

export interface RolloutStep {
  /** Slots to replace new-first (the old incarnation kept until the new one is available). */
  readonly surge: number[];
  /** Slots to replace at once (the old incarnation stopped now). */
  readonly unavailable: number[];
}

/**
 * Which outdated slots to replace this pass, within the budgets: never more than `replicas +
 * surge` replicas exist (tasks plus kept previous incarnations), and a replacement never takes
 * the serving slots below `replicas - unavailable`. Slots that do not serve are replaced first, at
 * once: that costs no availability (Kubernetes scales down unhealthy old replicas first too).
 * `existing` counts every replica that will exist after the pass's other writes; `serving` the
 * slots of 1..replicas that serve.
 */
export function planRollout(input: {
  readonly replicas: number;
  readonly update: UpdateSpec;
  readonly outdated: readonly RolloutSlot[];
  readonly serving: number;
  readonly existing: number;
}): RolloutStep {
  const { surge, unavailable } = budgets(input.update, input.replicas);
  const out: RolloutStep = { surge: [], unavailable: [] };
  let existing = input.existing;
  let serving = input.serving;
  const floor = input.replicas - unavailable;
  for (const s of input.outdated) if (!s.available) out.unavailable.push(s.slot);
  for (const s of input.outdated) {
    if (!s.available) continue;
    // A kept previous incarnation is carried over (or the available task becomes it): the count of replicas is unchanged.
    const cost = s.hasPrevious ? 0 : 1;
    if (existing + cost <= input.replicas + surge) {
      out.surge.push(s.slot);
      existing += cost;
    } else if (serving - 1 >= floor) {
      out.unavailable.push(s.slot);
      serving--;
    }
  }
  return out;
}

/** Events the rollout state change is worth, written by the pass. */
export interface RolloutEvent {
  readonly type: 'rollout.started' | 'rollout.complete' | 'rollout.failed' | 'rollout.rolledBack' | 'rollout.progress';
  readonly message: string;
}

export interface RolloutDecision {
  /** The state to write (conditional on the service's specVersion), when it changed. */
  readonly state?: RolloutState;
  /** The spec to put back (the last healthy template): a rollback. */
  readonly revert?: ServiceSpec;
  readonly events: readonly RolloutEvent[];
}

/** What the rollout state machine reads of one slot's tasks. */
export interface RolloutObservation {
  readonly tasks: readonly Task[];
  readonly statusOf: (task: Pick<Task, 'id' | 'host'>) => TaskStatus | undefined;
  readonly replicas: number;
  readonly now: string;
}

/** True when `task` runs `template` and was created after the restart, if one is asked for. */
export function isCurrent(task: Pick<Task, 'pod' | 'createdAt'>, template: PodTemplate, restartedAt: string | undefined): boolean {
  return podTemplateJson(task.pod) === templateJson(template) && (restartedAt === undefined || task.createdAt >= restartedAt);
}

/**
 * The stable JSON of a pod's template, and of a template, kept per object: a pass compares every
 * task with its service's template in reconcile and again in rollout, and the service's template is
 * the same object for all its tasks (at 20,000 tasks, 40,000 serializations of the service's side
 * otherwise, and the tasks' twice each). Pods and templates are never changed in place.
 */
const podTemplates = new WeakMap<PodSpec, string>();
const templates = new WeakMap<PodTemplate, string>();
function podTemplateJson(pod: PodSpec): string {
  const known = podTemplates.get(pod);
  if (known !== undefined) return known;
  const json = stableStringify(templateOf(pod));
  podTemplates.set(pod, json);
  return json;
}
function templateJson(template: PodTemplate): string {
  const known = templates.get(template);
  if (known !== undefined) return known;
  const json = stableStringify(template);
  templates.set(template, json);
  return json;
}

/** A revision list with `revision` added last: an equal template earlier is dropped (it moved up), at most `limit` kept, within `maxBytes`. */
export function addRevision(revisions: readonly Revision[], revision: Revision, limit: number, maxBytes = MAX_REVISION_BYTES): Revision[] {
  const list = [...revisions.filter((r) => !jsonEqual(r.template, revision.template)), revision];
  while (list.length > limit) list.shift();
  // All revisions live on the service item (400 KB on DynamoDB): the oldest go first when templates are big.
  while (list.length > 0 && stableStringify(list).length > maxBytes) list.shift();
  return list;
}

/** Room for revisions on the service item (DynamoDB's 400 KB), beside its spec and bookkeeping. */
export const MAX_REVISION_BYTES = 200_000;

/** The bytes the revisions of `spec`'s service may take: what the spec leaves of the item, with room for the rest. */
export function revisionBudget(spec: ServiceSpec): number {
  return Math.max(0, Math.min(MAX_REVISION_BYTES, 360_000 - stableStringify(spec).length));
}

/**
 * The rollout state after this pass, from the state stored on the service and what its replicas
 * report: a new spec starts a rollout; progress moves the deadline; every replica current and
 * available completes it (the template joins the history); a failed replica or a passed deadline
 * fails it, and with autoRollback the last healthy template is put back.
 */
export function decideRollout(service: Service, obs: RolloutObservation): RolloutDecision {
  const update = updatePolicy(service.spec);
  const template = templateOf(service.spec);
  const events: RolloutEvent[] = [];
  const stored = service.rollout;
  let state: RolloutState;
  if (stored?.specVersion === service.specVersion) {
    state = stored;
  } else {
    const rollbackOf = stored?.phase === 'rolledBack' ? stored.specVersion : undefined;
    state = {
      specVersion: service.specVersion,
      phase: 'progressing',
      startedAt: obs.now,
      progressAt: obs.now,
      updated: 0,
      revisions: stored?.revisions ?? seedRevisions(obs, template),
      ...(stored?.restartedAt ? { restartedAt: stored.restartedAt } : {}),
      ...(rollbackOf === undefined ? {} : { rollbackOf, message: `rolling back version ${rollbackOf}: ${stored?.message ?? 'it failed'}` }),
    };
    events.push({ type: 'rollout.started', message: rollbackOf === undefined ? `rollout of version ${service.specVersion} started` : state.message! });
  }
  if (state.phase === 'rolledBack') {
    // The state was written but the spec not yet put back (a pass cut short): put it back now.
    const target = rollbackTarget(state.revisions, template);
    return target ? { revert: withTemplate(service.spec, target.template), events } : { events };
  }
  if (state.phase !== 'progressing') return changed(stored, state, events);

  const current = obs.tasks.filter((t) => t.slot <= obs.replicas && isCurrent(t, template, state.restartedAt));
  const available = current.filter((t) => isReady(obs.statusOf(t), update.minReadySeconds, obs.now));
  // Only replicas this rollout started can fail it: an old one given back its slot brings its own past restarts.
  const failures = current
    .filter((t) => t.reason !== RESTORED && t.createdAt >= state.startedAt)
    .flatMap((t) => {
      const why = replicaFailure(
        obs.statusOf(t),
        obs.now,
        t.pod.containers.some((c) => c.health !== undefined),
      );
      return why ? [`${t.id}${t.host ? ` on ${t.host}` : ''} ${why}`] : [];
    });
  const complete =
    failures.length === 0 &&
    available.length === obs.replicas &&
    obs.tasks.length === obs.replicas &&
    obs.tasks.every((t) => !t.previous) &&
    current.length === obs.replicas;
  if (complete) {
    const revisions = addRevision(
      state.revisions,
      { version: service.specVersion, template, at: obs.now, ...causeOf(state) },
      update.revisionHistoryLimit,
      revisionBudget(service.spec),
    );
    events.push({ type: 'rollout.complete', message: `rollout of version ${service.specVersion} complete: ${obs.replicas} replica(s) available` });
    return { state: { ...state, phase: 'complete', updated: available.length, progressAt: obs.now, revisions }, events };
  }
  if (available.length > state.updated) state = { ...state, updated: available.length, progressAt: obs.now };
  const overdue = Date.parse(obs.now) - Date.parse(state.progressAt) > update.progressDeadlineSeconds * 1000;
  if (failures.length === 0 && !overdue) return changed(stored, state, events);

  const why =
    failures.length > 0
      ? `${failures.length} new replica(s) failed: ${failures.join('; ')}`
      : `no new replica became available for ${update.progressDeadlineSeconds}s (progressDeadlineSeconds): ${available.length}/${obs.replicas} available`;
  const target = update.autoRollback ? rollbackTarget(state.revisions, template) : undefined;
  if (!target) {
    const reason = update.autoRollback ? 'no earlier healthy revision to roll back to' : 'autoRollback is off';
    events.push({ type: 'rollout.failed', message: `rollout of version ${service.specVersion} failed, ${reason}: ${why}` });
    return { state: { ...state, phase: 'failed', message: why }, events };
  }
  events.push({ type: 'rollout.failed', message: `rollout of version ${service.specVersion} failed: ${why}` });
  events.push({ type: 'rollout.rolledBack', message: `rolling back to version ${target.version}, the last healthy revision` });
  return { state: { ...state, phase: 'rolledBack', message: why }, revert: withTemplate(service.spec, target.template), events };
}

/** The revision a failed rollout returns to: the newest healthy one with another template. */
export function rollbackTarget(revisions: readonly Revision[], template: PodTemplate): Revision | undefined {
  return [...revisions].reverse().find((r) => !jsonEqual(r.template, template));
}

function causeOf(state: RolloutState): { cause?: string } {
  if (state.rollbackOf !== undefined) return { cause: `rollback of version ${state.rollbackOf}` };
  if (state.message) return { cause: state.message };
  return {};
}

/**
 * History for a service that had none (created before history existed): the template its available
 * replicas run, when it differs from the new one, so the first rollout can already roll back.
 */
function seedRevisions(obs: RolloutObservation, template: PodTemplate): Revision[] {
  for (const t of obs.tasks) {
    if (!isAvailable(obs.statusOf(t), 0, obs.now) || jsonEqual(templateOf(t.pod), template)) continue;
    return [{ version: t.specVersion, template: templateOf(t.pod), at: obs.now, cause: 'running when history began' }];
  }
  return [];
}

function changed(stored: RolloutState | undefined, state: RolloutState, events: RolloutEvent[]): RolloutDecision {
  return jsonEqual(stored, state) ? { events } : { state, events };
}

/** Where a rollout stands, for `skiff rollout status` and `apply`: counts over the service's tasks. */
export interface RolloutView {
  readonly namespace: string;
  readonly name: string;
  readonly specVersion: number;
  /** `progressing` until the pass has looked at this version. */
  readonly phase: RolloutState['phase'];
  /** The version rolled back by this one, or whose failure this one reverts. */
  readonly rollbackOf: number | null;
  readonly message: string | null;
  readonly replicas: number;
  /** Replicas on the current template (created after a restart, if one is asked for). */
  readonly updated: number;
  /** Of those, available (running, probe passing, minReadySeconds) and not crash-looping. */
  readonly available: number;
  /** Replicas still on an older template, kept previous incarnations included. */
  readonly old: number;
  readonly startedAt: string | null;
  readonly progressDeadlineSeconds: number;
  /** Why a replica waits for a host, when one does. */
  readonly pending: string | null;
}

export function rolloutView(
  service: Service,
  tasks: readonly Task[],
  statusOf: (t: Pick<Task, 'id' | 'host'>) => TaskStatus | undefined,
  now: string,
): RolloutView {
  const update = updatePolicy(service.spec);
  const template = templateOf(service.spec);
  const state = service.rollout?.specVersion === service.specVersion ? service.rollout : undefined;
  // A rollback's spec written, its rollout not yet started by a pass: it is the rollback already.
  const reverting = !state && service.rollout?.phase === 'rolledBack' ? service.rollout : undefined;
  const current = tasks.filter((t) => t.desired === 'running' && isCurrent(t, template, service.rollout?.restartedAt));
  const old = tasks.length - current.length + tasks.filter((t) => t.previous).length;
  return {
    namespace: service.namespace,
    name: service.name,
    specVersion: service.specVersion,
    phase: state?.phase ?? 'progressing',
    rollbackOf: state?.rollbackOf ?? reverting?.specVersion ?? null,
    message: state?.message ?? reverting?.message ?? null,
    replicas: desiredCount(service),
    updated: current.length,
    available: current.filter((t) => isReady(statusOf(t), update.minReadySeconds, now)).length,
    old,
    startedAt: state?.startedAt ?? null,
    progressDeadlineSeconds: update.progressDeadlineSeconds,
    pending: tasks.find((t) => !t.host && t.unplaceable)?.unplaceable?.message ?? null,
  };
}
