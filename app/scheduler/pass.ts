/**
 * One scheduler pass: read the cluster, then run the steps in order. Each step asks the core for
 * its plan (core/pass.ts) on the state the previous steps left, and applies it with conditional
 * writes: reconcile services into tasks, place pending tasks (claims), commit host allocations,
 * publish changed host documents and wake those hosts.
 *
 * Safe to run twice or concurrently: every write is conditional, a lost race is skipped and the
 * next pass (a timer, or the next API write) picks up from whatever state it finds.
 * Host-document publication order relies on passes not overlapping (one local loop; on AWS the
 * scheduler function's reserved concurrency of 1); placements never do.
 */
import type { Store } from '../../ports/index.ts';
import type { ClusterSnapshot } from '../../core/pass.ts';
import { rng } from '../../core/random.ts';
import { readTasks } from '../task-reads.ts';
import { passContext, type PassDeps, type PassResult } from './context.ts';
import type { PassStep } from './step.ts';
import { learnCosts } from './budget.ts';
import { ingestAgentEvents, reportBadItems, saveEvents } from './steps/events.ts';
import { forgetGoneHosts, network } from './steps/hosts.ts';
import { registerHosts } from './steps/register-hosts.ts';
import { namespaceSlots } from './steps/namespace-slots.ts';
import { reconcile } from './steps/reconcile.ts';
import { cronJobs } from './steps/jobs.ts';
import { rollout } from './steps/rollout.ts';
import { place } from './steps/place.ts';
import { commit } from './steps/commit.ts';
import { publish } from './steps/publish.ts';
import { removeVolumes } from './steps/volumes.ts';

export { newPassState, type PassDeps, type PassResult, type PassState } from './context.ts';
export type { PassStep } from './step.ts';

/**
 * The steps of a pass, in order. The order is the protocol: hosts registered from their claims
 * before anything uses them (the agents only claim), subnets before placements (a host
 * without one takes no pod), namespace slots after subnets and before placements (a namespace
 * without one is not placed; documents carry the blocks), claims before allocations, allocations before documents, forgotten
 * hosts before publication (nothing is published to them), volume removals before publication (the
 * documents list them). The rollout step reads the tasks as
 * reconcile left them; what it writes steers the next pass.
 */
export const PASS_STEPS: readonly PassStep[] = [
  reportBadItems,
  ingestAgentEvents,
  registerHosts,
  network,
  namespaceSlots,
  cronJobs,
  reconcile,
  rollout,
  place,
  commit,
  forgetGoneHosts,
  removeVolumes,
  publish,
  saveEvents,
];

export async function runPass(deps: PassDeps, steps: readonly PassStep[] = PASS_STEPS): Promise<PassResult> {
  const now = deps.now().toISOString();
  const ctx = passContext(deps, await readSnapshot(deps.store), now, rng(deps.seed ?? now));
  // A budgeted pass notes when each step ended, to learn what its steps cost (app/scheduler/budget.ts).
  const ends = new Map<string, number>();
  for (const step of steps) {
    await step.run(ctx);
    if (deps.deadline !== undefined) ends.set(step.name, deps.now().getTime());
  }
  if (deps.deadline !== undefined) learnCosts(ctx, ends, deps.now().getTime());
  return ctx.result;
}

/**
 * Tasks come from strongly consistent reads of each listed service's partition and of every
 * service a host's allocations name (app/task-reads.ts): never from the index alone, which lags (a
 * task missing from this pass would make its allocation look stale and stop its container), and
 * never by a Scan, which reads the whole table, the event log included.
 */
export async function readSnapshot(store: Store): Promise<ClusterSnapshot> {
  const [services, hosts, statuses] = await Promise.all([store.listServices(), store.listHosts(), store.listHostStatuses()]);
  const tasks = await readTasks(store, services, hosts);
  return { services, hosts, statuses, tasks };
}
