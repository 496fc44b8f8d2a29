/** Services: create, replace and remove tasks, release previous incarnations, remove deleted services. */
import type { Task } from '../../../core/types.ts';
import type { ServicePlan } from '../../../core/reconciler.ts';
import { planServices, serviceKey } from '../../../core/pass.ts';
import { forEachLimit } from '../../../core/async.ts';
import { attempt, record, reindexTasks, WRITE_CONCURRENCY, type PassContext } from '../context.ts';
import { recordJobStatus } from './jobs.ts';
import type { PassStep } from '../step.ts';
import { backlogReserveMs, leave, stepBudget } from '../budget.ts';

/** A service's tasks by slot, as this pass leaves them. */
type Slots = Map<number, Task>;

export const reconcile: PassStep = {
  name: 'reconcile',
  async run(ctx) {
    // Creations, removals and releases grow with the backlog: taken while the pass's budget allows.
    const budget = stepBudget(ctx, 'reconcile');
    // The tasks already pending are placed first: a task is created only with time left to place
    // those too, or created tasks pile up while each pass has less time to place them (measured at
    // 2,000 hosts: docs/scale.md). Removals and releases are not held back: they free capacity.
    const pending = [...ctx.tasks.values()].filter((t) => t.desired === 'running' && !t.host && !t.unplaceable).length;
    const reserveMs = backlogReserveMs(ctx, pending);
    const take =
      <T>(write: (item: T) => Promise<void>) =>
      async (item: T) => {
        if (budget.take()) await write(item);
      };
    // Service by service, each one's writes done before the next: a service is removed only after its own tasks.
    for (const { service, tasks, plan, jobStatus } of planServices(ctx.snapshot, ctx.now, ctx.random)) {
      const key = serviceKey(service);
      const writes = plan.create.length + plan.remove.length + plan.release.length + (jobStatus ? 1 : 0) + (plan.removeService ? 1 : 0);
      // Out of budget: the service keeps its tasks as read, untouched, and its rollout waits for a pass that reconciles it.
      if (writes > 0 && budget.cut) {
        ctx.deferred.add(key);
        leave(ctx, 'services');
        continue;
      }
      const slots: Slots = new Map(tasks.map((t) => [t.slot, t]));
      // A Job's progress first: the tasks it accounts for are removed only once it is recorded.
      if (jobStatus && !(await recordJobStatus(ctx, service, jobStatus))) {
        ctx.tasksByService.set(key, [...slots.values()]);
        continue;
      }
      let held = false;
      await forEachLimit(plan.create, WRITE_CONCURRENCY, async (c) => {
        if (reserveMs > 0 && !budget.fits(reserveMs)) held = true;
        else if (budget.take()) await createTask(ctx, slots, c);
      });
      // Creations held for the backlog: so are this service's removals (a rollout's old replica goes
      // only after its new one exists), as after a cut; the next pass plans the service again.
      if (held) {
        ctx.tasksByService.set(key, [...slots.values()]);
        ctx.deferred.add(key);
        leave(ctx, 'services');
        continue;
      }
      await forEachLimit(
        plan.remove,
        WRITE_CONCURRENCY,
        take((r) => removeTask(ctx, slots, r)),
      );
      await forEachLimit(
        plan.release,
        WRITE_CONCURRENCY,
        take((t) => releasePrevious(ctx, slots, t)),
      );
      ctx.tasksByService.set(key, [...slots.values()]);
      // Cut within the service: what it did holds (each write stands alone); the rest is planned again next pass.
      if (budget.cut) {
        ctx.deferred.add(key);
        leave(ctx, 'services');
        continue;
      }
      if (plan.removeService) {
        await ctx.store.removeService(service.namespace, service.name);
        ctx.log('service removed', { service: key });
      }
    }
    reindexTasks(ctx);
  },
};

async function createTask(ctx: PassContext, slots: Slots, { task, previousIncarnation, reason }: ServicePlan['create'][number]): Promise<void> {
  if (!(await attempt(ctx, () => ctx.store.putTask(task, previousIncarnation)))) return;
  const replaced = slots.get(task.slot);
  slots.set(task.slot, task);
  ctx.result.created++;
  ctx.log('task created', { task: task.id, reason });
  const about = { namespace: task.namespace, service: task.service, task: task.id };
  if (replaced)
    record(ctx, 'task.replaced', `task ${replaced.id} replaced by ${task.id}: ${reason}`, { ...about, ...(replaced.host ? { host: replaced.host } : {}) });
  else record(ctx, 'task.created', `task ${task.id} created: ${reason}`, about);
}

async function removeTask(ctx: PassContext, slots: Slots, { task, reason }: ServicePlan['remove'][number]): Promise<void> {
  if (!(await attempt(ctx, () => ctx.store.deleteTask(task.namespace, task.service, task.slot, task.id)))) return;
  slots.delete(task.slot);
  ctx.result.removed++;
  ctx.log('task removed', { task: task.id, reason });
  record(ctx, 'task.removed', `task ${task.id} removed: ${reason}`, {
    namespace: task.namespace,
    service: task.service,
    task: task.id,
    ...(task.host ? { host: task.host } : {}),
  });
}

async function releasePrevious(ctx: PassContext, slots: Slots, task: Task): Promise<void> {
  if (!(await attempt(ctx, () => ctx.store.releasePrevious(task.namespace, task.service, task.slot, task.id)))) return;
  slots.set(task.slot, { ...task, previous: undefined });
  ctx.result.released++;
  const previous = task.previous!;
  record(ctx, 'task.released', `previous incarnation ${previous.id} on ${previous.host} stopped: ${task.id} runs on ${task.host}`, {
    namespace: task.namespace,
    service: task.service,
    task: task.id,
    host: previous.host,
  });
}
