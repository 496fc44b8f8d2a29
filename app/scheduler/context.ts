/**
 * What the steps of a scheduler pass share: the snapshot read at the start, the pass's working view
 * of the tasks and hosts (updated as writes succeed), the result and the events it reports.
 */
import type { HostChannel, HostWaker, Store } from '../../ports/index.ts';
import type { Allocation, ClusterEvent, Host, Task, VolumeRemoval } from '../../core/types.ts';
import { claimsByHost, passEvent, tasksByService, type ClusterSnapshot } from '../../core/pass.ts';
import { ConflictError } from '../../core/errors.ts';
import type { NetworkDeps, NetworkResult, NetworkState } from '../network.ts';
import type { MachineCatalog } from '../../ports/machines.ts';
import type { NamespaceSlots } from '../../ports/namespace-slots.ts';
import type { NamespaceAddressing } from '../../core/packet-filter.ts';
import { assignments, type Assignment } from '../../core/allocations.ts';
import { isolatedAssignments } from '../../core/namespace-slots.ts';
import type { BudgetedStep, PassLeftovers } from './budget.ts';

export type PassLog = (message: string, data?: Record<string, unknown>) => void;

export interface PassDeps {
  readonly store: Store;
  readonly channel: HostChannel;
  readonly waker: HostWaker;
  readonly cluster: string;
  readonly now: () => Date;
  /** Seeds task ids and host order; defaults to the pass start time. */
  readonly seed?: string;
  readonly log?: PassLog;
  /**
   * When the pass should be done, in ms on `now`'s clock (app/scheduler/budget.ts): its steps take
   * new work only while it can be finished by then, and `result.more` says what was left.
   * Absent: no budget, the pass does everything it finds.
   */
  readonly deadline?: number;
  /**
   * The routed container network (AWS): hosts get subnets before pods, documents carry them.
   * Absent (local mode): every host shares the agents' configured network.
   */
  readonly network?: NetworkDeps;
  /**
   * What outlives a pass, owned by the caller (the scheduler handler keeps one for its lifetime).
   * @default a fresh state: agents' recent events are copied again, which is harmless (same ids),
   * and the network step reads the route tables and asks about suspect machines on this pass
   */
  readonly state?: PassState;
  /**
   * What the control plane knows of each host's machine, to bound agents' claims when it registers
   * them (EC2 on AWS, the local host size locally). Absent: a claim is taken within the schema's bounds.
   */
  readonly machines?: MachineCatalog;
  /**
   * Where persistent volumes live: `host` (local Docker volumes: a slot is placed back on the host that
   * holds its data) or `shared` (EFS on AWS: reachable from every host, so no pinning). @default 'host'
   */
  readonly volumes?: 'host' | 'shared';
  /**
   * Namespace isolation on AWS (docs/network.md, "Isolation rules"): each host subnet is cut into
   * blocks of `blockPrefix`, one per namespace slot; slots are kept in `slots`. Needs `network`.
   * Absent: documents carry no blocks and no task isolation.
   */
  readonly isolation?: { readonly blockPrefix: number; readonly hostPrefix: number; readonly slots: NamespaceSlots };
}

/** State kept between passes. Losing it costs repeated work only, never a wrong decision. */
export interface PassState {
  /** Newest agent event already copied into the event log, per host (`<at>|<id>`): the rest of each ring is skipped. */
  readonly copiedAgentEvents: Map<string, string>;
  /** When the network step last read the route tables and asked about suspect machines (EC2 calls, paced). */
  readonly network: NetworkState;
  /** The last claim of each host the register step took or refused (stable JSON), so a claim is checked and reported once. */
  readonly claims: Map<string, { readonly claim: string; readonly refused?: string }>;
  /**
   * What one document cost the last publish step that wrote any (its time over the documents it
   * wrote): the place step's budget counts it for each host it places on, since each needs its
   * document this pass (Parameter Store takes 3 a second, DynamoDB hundreds).
   */
  publishMsPerDocument?: number;
  /** What the steps after each budgeted step cost relative to it, as the last budgeted pass measured (app/scheduler/budget.ts). */
  after?: Partial<Record<BudgetedStep, number>>;
  /** What one claim cost the last budgeted pass from the start of its place step to its end (app/scheduler/budget.ts). */
  claimMs?: number;
}

export function newPassState(): PassState {
  return { copiedAgentEvents: new Map(), network: {}, claims: new Map() };
}

export interface PassResult {
  created: number;
  released: number;
  removed: number;
  placed: number;
  unplaceable: number;
  published: string[];
  /** Hosts whose document could not be published this pass (each also a `host.publish-failed` event); retried next pass. */
  publishFailed?: { host: string; reason: string }[];
  conflicts: number;
  /** The network step's counts, when the cluster routes container subnets. */
  network?: {
    acquired: number;
    routed: number;
    released: number;
    repaired: number;
    failed: number /** Ready hosts still without a routed subnet. */;
    waiting: number;
  };
  /** Hosts registered or refreshed from their agents' claims by this pass. */
  registered?: string[];
  /** Namespace slots claimed and released by this pass, and the namespaces that found none (namespace isolation). */
  slots?: { claimed: number; released: number; full: string[] };
  /** Down hosts whose machines are gone for good, forgotten by this pass (AWS). */
  forgotten?: string[];
  /** Items the reads skipped as invalid (core/items.ts): each also an `item.invalid` event. The BadItems metric. */
  badItems?: number;
  /** Persistent volumes forgotten by this pass: their hosts deleted them (`--delete-volumes`). */
  volumesDeleted?: string[];
  /**
   * Events the log refused this pass (throttled, unavailable): the pass went on without them.
   * Agent events among them are copied again next pass; the pass's own are lost. The EventsDropped metric.
   */
  eventsDropped?: number;
  /**
   * What this pass left for the next because its budget ran out (PassDeps.deadline): run the next
   * pass at once. Absent when the pass did everything it found.
   */
  more?: PassLeftovers;
}

/**
 * Independent item writes in flight at once. Each is one small conditional write; sequential they
 * cost ~5 ms each against dynalite (and ~10 ms round trip on AWS), which a 100-replica apply feels.
 */
export const WRITE_CONCURRENCY = 16;

export interface PassContext {
  readonly deps: PassDeps;
  readonly store: Store;
  readonly state: PassState;
  /** Replaced, never changed in place, by the register step when it registers or refreshes hosts. */
  snapshot: ClusterSnapshot;
  /** The pass's time, ISO: every write and event of the pass carries it. */
  readonly now: string;
  readonly seed: string;
  readonly random: () => number;
  readonly log: PassLog;
  readonly result: PassResult;
  readonly events: ClusterEvent[];
  /** The tasks by service as this pass left them (reconcile creates, replaces and removes). */
  readonly tasksByService: Map<string, Task[]>;
  /** Services whose reconcile this pass left undone or unfinished (its budget ran out): the rollout step skips them. */
  readonly deferred: Set<string>;
  /** The budgeted steps' use of the budget: when each started and the writes it took (app/scheduler/budget.ts). */
  readonly budgets: Map<BudgetedStep, { readonly since: number; taken: number }>;
  /** The same tasks by id, in placement order; claims and undone claims update them. */
  tasks: Map<string, Task>;
  /** Tasks pointing at a host, by host. */
  claims: Map<string, Task[]>;
  /** Allocations of the tasks this pass claimed, by host: the commit adds them. */
  readonly placed: Map<string, Allocation[]>;
  /** Hosts as the commit left them (re-read after a lost race): what is published. */
  readonly committed: Map<string, Host>;
  /** The network step's outcome, on AWS. */
  network?: NetworkResult;
  /** Persistent volumes each host is to delete (the remove-volumes step): its document lists them. */
  volumeRemovals?: ReadonlyMap<string, readonly VolumeRemoval[]>;
  /** The namespace-slots step's outcome, when the cluster isolates namespaces. */
  isolation?: {
    readonly addressing: NamespaceAddressing;
    /** Each namespace's slot this pass. */
    readonly slots: Readonly<Record<string, number>>;
    /** Namespaces that need a slot and found none. */
    readonly full: readonly string[];
  };
}

export function passContext(deps: PassDeps, snapshot: ClusterSnapshot, now: string, random: () => number): PassContext {
  const ctx: PassContext = {
    deps,
    store: deps.store,
    state: deps.state ?? newPassState(),
    snapshot,
    now,
    seed: deps.seed ?? now,
    random,
    log: deps.log ?? (() => {}),
    result: { created: 0, released: 0, removed: 0, placed: 0, unplaceable: 0, published: [], conflicts: 0 },
    events: [],
    tasksByService: tasksByService(snapshot.tasks),
    deferred: new Set(),
    budgets: new Map(),
    tasks: new Map(),
    claims: new Map(),
    placed: new Map(),
    committed: new Map(),
  };
  reindexTasks(ctx);
  return ctx;
}

/** Rebuilds the by-id and by-host views from `tasksByService` (after reconcile changed it). */
export function reindexTasks(ctx: PassContext): void {
  const all = [...ctx.tasksByService.values()].flat();
  ctx.tasks = new Map(all.map((t) => [t.id, t]));
  ctx.claims = claimsByHost(all);
}

/**
 * The tasks that should run, by id, with their host and document entry (with `isolation` when the
 * cluster isolates namespaces): what placement counts, the commit checks and documents list.
 */
export function liveAssignments(ctx: PassContext): Map<string, Assignment> {
  const live = assignments(ctx.tasks.values());
  return ctx.isolation ? isolatedAssignments(live, ctx.isolation.slots) : live;
}

/** Records an event of this pass (saved at its end). */
export function record(ctx: PassContext, type: string, message: string, about: Omit<ClusterEvent, 'id' | 'at' | 'type' | 'message'>): void {
  ctx.events.push(passEvent(ctx.now, type, message, about));
}

/**
 * Runs one conditional write. A lost race (`ConflictError`) is counted and skipped, returning false:
 * every step is level-triggered, so the next pass decides again on what it then reads. Any other
 * error fails the pass.
 */
export async function attempt(ctx: PassContext, write: () => Promise<unknown>): Promise<boolean> {
  try {
    await write();
    return true;
  } catch (err) {
    if (!(err instanceof ConflictError)) throw err;
    ctx.result.conflicts++;
    return false;
  }
}
