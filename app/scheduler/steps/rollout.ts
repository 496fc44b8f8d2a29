/**
 * Rollouts: each service's rollout state after this pass (core/rollout.ts `decideRollout`),
 * written on the service conditionally on its specVersion; a failed version is put back to the
 * last healthy template (a new specVersion, rolled out by the next passes like any change).
 */
import { serviceKey } from '../../../core/pass.ts';
import { decideRollout } from '../../../core/rollout.ts';
import { workloadPlanner } from '../../../core/global.ts';
import { desiredReplicas } from '../../../core/replicas.ts';
import { statusIndex, statusOf } from '../../../core/views.ts';
import type { Task } from '../../../core/types.ts';
import { attempt, record } from '../context.ts';
import type { PassStep } from '../step.ts';

export const rollout: PassStep = {
  name: 'rollout',
  async run(ctx) {
    const reports = statusIndex(ctx.snapshot.statuses);
    for (const service of ctx.snapshot.services) {
      // Jobs run to completion and a global service follows its hosts: only replicated services roll out.
      if (service.deleting || workloadPlanner(service) !== 'replicated') continue;
      // A service whose reconcile the pass's budget cut is half-way: its tasks would read as a rollout
      // stalled (or, with its old tasks all still there, as one not started). Decided by the pass that reconciles it.
      if (ctx.deferred.has(serviceKey(service))) continue;
      const decision = decideRollout(service, {
        tasks: ctx.tasksByService.get(serviceKey(service)) ?? [],
        statusOf: (t) => statusOf(reports, t as Task),
        replicas: desiredReplicas(service),
        now: ctx.now,
      });
      // The state first: a rollback whose spec write is cut short is put back by the next pass, which finds it rolledBack.
      if (decision.state && !(await attempt(ctx, () => ctx.store.setServiceRollout(service.namespace, service.name, decision.state!, service.specVersion))))
        continue;
      if (decision.revert && !(await attempt(ctx, () => ctx.store.putService(decision.revert!, ctx.now, service.specVersion)))) continue;
      for (const e of decision.events) record(ctx, e.type, `${serviceKey(service)}: ${e.message}`, { namespace: service.namespace, service: service.name });
      if (decision.state || decision.revert)
        ctx.log('rollout', { service: serviceKey(service), phase: decision.state?.phase, reverted: decision.revert !== undefined });
    }
  },
};
