/**
 * Remove volumes: the persistent volumes marked for removal (`--delete-volumes`) go into the documents
 * of the hosts that hold them, and their records are forgotten once those hosts report the data gone
 * (core/volume-removal.ts). Before publish, which writes the lists into the documents.
 */
import { planVolumeRemovals } from '../../../core/volume-removal.ts';
import { passEvent } from '../../../core/pass.ts';
import { attempt } from '../context.ts';
import type { PassStep } from '../step.ts';

export const removeVolumes: PassStep = {
  name: 'remove-volumes',
  async run(ctx) {
    // One Query of the small volumes partition a pass; most passes find nothing marked and stop here.
    const marked = (await ctx.store.listVolumes()).filter((v) => v.deleting !== undefined);
    if (marked.length === 0) return;
    const plan = planVolumeRemovals(marked, ctx.snapshot.hosts, ctx.snapshot.statuses, ctx.snapshot.services, ctx.deps.volumes ?? 'host');
    ctx.volumeRemovals = plan.byHost;
    const deleted: string[] = [];
    for (const { record: v, reason } of plan.forget) {
      if (!(await attempt(ctx, () => ctx.store.forgetDeletedVolume(v)))) continue;
      deleted.push(v.id);
      const event = passEvent(ctx.now, 'volume.deleted', `volume ${v.id} deleted: ${reason}`, { namespace: v.namespace, service: v.service, host: v.host });
      // Its own id: a service's volumes deleted in one pass share the pass, type and subject.
      ctx.events.push({ ...event, id: `${event.id}-${v.id}` });
    }
    if (deleted.length > 0) ctx.result.volumesDeleted = deleted;
    for (const { record: v, reason } of plan.waiting) ctx.log('volume removal waits', { volume: v.id, reason });
  },
};
