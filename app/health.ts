/**
 * One health check: declare silent hosts down, let fenced hosts rejoin, record events, and ask
 * for a scheduler pass when anything changed (tasks of a down host are replaced by the scheduler).
 */
import type { Store } from '../ports/index.ts';
import type { ClusterEvent } from '../core/types.ts';
import { assessHosts, type HealthPolicy } from '../core/health.ts';

export interface HealthDeps {
  readonly store: Store;
  readonly now: () => Date;
  readonly policy: HealthPolicy;
  readonly kickScheduler: () => Promise<void>;
  /** How long events are kept. */
  readonly eventRetentionMs: number;
}

export interface HealthResult {
  readonly down: string[];
  readonly up: string[];
  readonly resumed: boolean;
  /** Hosts down after this check (the StaleHosts metric). */
  readonly downHosts: number;
}

/** Events deleted per check at most: pruning never crowds out the check itself. */
const PRUNE_BATCH = 200;

export async function runHealthCheck(deps: HealthDeps): Promise<HealthResult> {
  const { store } = deps;
  const now = deps.now();
  const nowIso = now.toISOString();
  const [hosts, statuses, checkpoint] = await Promise.all([store.listHosts(), store.listHostStatuses(), store.getHealthCheckpoint()]);
  const published = new Map<string, number>();
  await Promise.all(hosts.filter((h) => h.state === 'down').map(async (h) => published.set(h.id, (await store.getPublished(h.id))?.generation ?? 0)));
  const assessment = assessHosts(hosts, new Map(statuses.map((s) => [s.hostId, s])), published, checkpoint, now.getTime(), deps.policy);

  const events: ClusterEvent[] = [];
  for (const t of assessment.transitions) {
    await store.setHostState(t.host, t.to, nowIso);
    if (t.to === 'down') events.push({ id: `${nowIso}-host.down-${t.host}`, at: nowIso, type: 'host.down', host: t.host, message: `host ${t.host} is down: ${t.reason}; its tasks will be replaced` });
    else events.push({ id: `${nowIso}-host.fenced-${t.host}`, at: nowIso, type: 'host.fenced', host: t.host, message: `host ${t.host} is back and rejoins: ${t.reason}` });
  }
  const resumed = assessment.checkpoint.resumedAt === now.getTime() && checkpoint !== undefined;
  if (resumed) events.push({ id: `${nowIso}-control-plane.resumed`, at: nowIso, type: 'control-plane.resumed', message: `health checks resumed after ${Math.round((now.getTime() - checkpoint.lastRunAt) / 1000)}s; hosts get ${deps.policy.graceMs / 1000}s to report before any is declared down` });
  if (events.length) await store.putEvents(events);
  await store.putHealthCheckpoint(assessment.checkpoint);
  await store.pruneEvents(new Date(now.getTime() - deps.eventRetentionMs).toISOString(), PRUNE_BATCH);
  if (assessment.transitions.length) await deps.kickScheduler().catch(() => undefined);
  const to = new Map(assessment.transitions.map((t) => [t.host, t.to]));
  return {
    down: assessment.transitions.filter((t) => t.to === 'down').map((t) => t.host),
    up: assessment.transitions.filter((t) => t.to === 'ready').map((t) => t.host),
    resumed,
    downHosts: hosts.filter((h) => (to.get(h.id) ?? h.state) === 'down').length,
  };
}
