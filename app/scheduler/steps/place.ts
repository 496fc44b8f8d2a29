/** Placement: claim each placed task (only one scheduler can claim a task), note why the others wait. */
import type { Placement, ScheduleFailure } from '../../../core/scheduler.ts';
import { documentTask } from '../../../core/allocations.ts';
import { isolatedTask, noSlotMessage, slotlessPending } from '../../../core/namespace-slots.ts';
import { hostsWithoutSubnet, planPlacement } from '../../../core/pass.ts';
import { forEachLimit } from '../../../core/async.ts';
import { attempt, liveAssignments, record, WRITE_CONCURRENCY, type PassContext } from '../context.ts';
import type { PassStep } from '../step.ts';
import { leave, stepBudget } from '../budget.ts';
import type { HostDocumentTask, Task } from '../../../core/types.ts';
import { persistentVolumes, slotVolumes, volumeId, volumeKeyString, type VolumeRecord } from '../../../core/volumes.ts';

export const place: PassStep = {
  name: 'place',
  async run(ctx) {
    const hosts = ctx.snapshot.hosts;
    const volumes = await recordedVolumes(ctx);
    const { waiting, slotless } = namespaceRefusals(ctx);
    const plan = planPlacement({
      services: ctx.snapshot.services,
      hosts,
      tasks: waiting.size > 0 ? new Map([...ctx.tasks].filter(([id]) => !waiting.has(id))) : ctx.tasks,
      live: liveAssignments(ctx),
      claims: ctx.claims,
      seed: ctx.seed,
      ...(ctx.network ? { unavailable: hostsWithoutSubnet(hosts, ctx.network.networks) } : {}),
      ...(volumes && ctx.deps.volumes !== 'shared' ? { stickyVolumes: volumes } : {}),
      ...(ctx.isolation ? { documentTask: isolatedDocumentTask(ctx.isolation.slots), podsPerNamespace: blockPods(ctx.isolation.addressing.blockPrefix) } : {}),
    });
    // Claims and notes grow with the backlog: taken while the pass's budget allows (each claim it
    // takes is committed and published by this pass), the rest planned again by the next pass.
    // A claim on a host this pass has not placed on also costs that host's document, at what the last
    // publication cost one (Parameter Store takes 3 a second: ≈ 130 hosts in a 45 s pass; DynamoDB hundreds).
    const perDocument = ctx.state.publishMsPerDocument ?? 0;
    const touched = new Set<string>();
    let host: string | undefined;
    const budget = stepBudget(ctx, 'place', () => (touched.size + (host && !touched.has(host) ? 1 : 0)) * perDocument);
    let left = 0;
    const take =
      <T>(write: (item: T) => Promise<void>) =>
      async (item: T) => {
        if (budget.take()) await write(item);
        else left++;
      };
    // Host by host: a pass cut by its budget has then written whole documents, each host's new tasks
    // in one publication, where the plan's order (spread: a service's replicas on different hosts)
    // would publish about a document per claim and publish most hosts again in every later pass.
    const byHost = [...plan.placements].sort((a, b) => (a.hostId < b.hostId ? -1 : a.hostId > b.hostId ? 1 : 0));
    await forEachLimit(byHost, WRITE_CONCURRENCY, async (p) => {
      host = p.hostId;
      if (!budget.take()) {
        left++;
        return;
      }
      touched.add(p.hostId);
      await claim(ctx, p);
    });
    host = undefined;
    // The plan's failures hold whether or not the placements it counted before them were all claimed
    // now: the next pass claims the rest on the same hosts (the UnplaceableTasks metric counts them all).
    ctx.result.unplaceable = plan.failures.length + slotless.length;
    const newSlotless = slotless.filter((f) => ctx.tasks.get(f.taskId)!.unplaceable?.message !== f.reason.message);
    await forEachLimit(
      [...plan.newReasons, ...newSlotless],
      WRITE_CONCURRENCY,
      take((f) => noteUnplaceable(ctx, f)),
    );
    leave(ctx, 'placements', left);
  },
};

/**
 * On a cluster that isolates namespaces, the pending tasks of a namespace without a slot: no host can
 * take them (their addresses would be in no namespace's block). Those of a namespace that found none
 * (`full`) are unplaceable and say why; those whose claim an overlapping pass won only wait for the next pass.
 */
function namespaceRefusals(ctx: PassContext): { waiting: Set<string>; slotless: ScheduleFailure[] } {
  const iso = ctx.isolation;
  if (!iso) return { waiting: new Set(), slotless: [] };
  const pending = slotlessPending(ctx.tasks.values(), iso.slots);
  const hosts = ctx.snapshot.hosts.length;
  const slotless = pending
    .filter((t) => iso.full.includes(t.namespace))
    .map((t) => ({ taskId: t.id, reason: { message: noSlotMessage(t.namespace, iso.addressing), rejected: {}, hosts } }));
  return { waiting: new Set(pending.map((t) => t.id)), slotless };
}

/** The containers one namespace block's Docker bridge holds: its addresses but network, broadcast and gateway. */
function blockPods(blockPrefix: number): number {
  return 2 ** (32 - blockPrefix) - 3;
}

/** A task's document entry with its `isolation`, as placement counts its bytes. */
function isolatedDocumentTask(slots: Readonly<Record<string, number>>): (t: Task) => HostDocumentTask {
  return (t) => isolatedTask(documentTask(t), slots);
}

/** Claims the task for the host; the commit step then adds its allocation to the host. */
async function claim(ctx: PassContext, p: Placement): Promise<void> {
  const task = ctx.tasks.get(p.taskId)!;
  if (!(await attempt(ctx, () => ctx.store.assignTask(task.namespace, task.service, task.slot, task.id, p.hostId)))) return;
  const claimed = { ...task, host: p.hostId, unplaceable: undefined };
  ctx.tasks.set(task.id, claimed);
  push(ctx.claims, p.hostId, claimed);
  push(ctx.placed, p.hostId, p.allocation);
  record(ctx, 'task.placed', `task ${task.id} placed on ${p.hostId}`, { namespace: task.namespace, service: task.service, task: task.id, host: p.hostId });
  await recordVolumes(ctx, claimed, p.hostId);
}

/**
 * The recorded persistent volumes, when a pending task has one (else no read: most passes place
 * nothing, and most services have no volume).
 */
async function recordedVolumes(ctx: PassContext): Promise<Map<string, VolumeRecord> | undefined> {
  const pending = [...ctx.tasks.values()].some((t) => t.desired === 'running' && !t.host && persistentVolumes(t.pod).length > 0);
  if (!pending) return undefined;
  const records = await ctx.store.listVolumes();
  return new Map(records.map((r) => [volumeKeyString(r), r]));
}

/**
 * Records the slot's persistent volumes on the host the task was just claimed for; a volume already
 * recorded keeps its host (the first holds). A failed write is retried when the task is next placed:
 * until recorded, the volume is not pinned (its first incarnation has written nothing elsewhere).
 */
async function recordVolumes(ctx: PassContext, task: Task, hostId: string): Promise<void> {
  for (const key of slotVolumes(task.namespace, task.service, task.slot, task.pod)) {
    const record = { id: volumeId(key.namespace, key.service, key.volume, key.slot), ...key, host: hostId, createdAt: ctx.now };
    await attempt(ctx, () => ctx.store.recordVolume(record));
  }
}

async function noteUnplaceable(ctx: PassContext, f: ScheduleFailure): Promise<void> {
  const task = ctx.tasks.get(f.taskId)!;
  if (!(await attempt(ctx, () => ctx.store.setTaskUnplaceable(task.namespace, task.service, task.slot, task.id, { ...f.reason, at: ctx.now })))) return;
  ctx.log('task unplaceable', { task: task.id, reason: f.reason.message });
  record(ctx, 'task.unplaceable', `task ${task.id} cannot be placed: ${f.reason.message}`, { namespace: task.namespace, service: task.service, task: task.id });
}

function push<V>(map: Map<string, V[]>, key: string, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
