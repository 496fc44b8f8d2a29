/**
 * One health check: mark silent hosts suspect and then down, degraded hosts (Docker not answering),
 * let fenced hosts rejoin, hold evictions when too many hosts are silent at once, record events, and
 * ask for a scheduler pass when anything changed (tasks of a down host are replaced by the scheduler).
 */
import type { Store } from '../ports/index.ts';
import type { ClusterEvent } from '../core/types.ts';
import { assessHosts, resolvePolicy, type HealthPolicy, type HostTransition } from '../core/health.ts';

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
  /** Hosts that became suspect or degraded in this check. */
  readonly suspect: string[];
  readonly resumed: boolean;
  /** Hosts down after this check (the StaleHosts metric). */
  readonly downHosts: number;
  /** Hosts suspect or degraded after this check (the SuspectHosts metric). */
  readonly suspectHosts: number;
  /** True while evictions are held because too many hosts are silent at once (the EvictionsHeld metric). */
  readonly held: boolean;
}

/** Events deleted per check at most: pruning never crowds out the check itself. */
const PRUNE_BATCH = 200;

function transitionEvent(t: HostTransition, nowIso: string): ClusterEvent {
  const about = { at: nowIso, host: t.host };
  switch (t.to) {
    case 'down':
      return { id: `${nowIso}-host.down-${t.host}`, type: 'host.down', message: `host ${t.host} is down: ${t.reason}; its tasks will be replaced`, ...about };
    case 'suspect':
      return { id: `${nowIso}-host.suspect-${t.host}`, type: 'host.suspect', message: `host ${t.host} is suspect: ${t.reason}`, ...about };
    case 'degraded':
      return { id: `${nowIso}-host.degraded-${t.host}`, type: 'host.degraded', message: `host ${t.host} is degraded: ${t.reason}`, ...about };
    case 'ready':
      return t.from === 'down'
        ? { id: `${nowIso}-host.fenced-${t.host}`, type: 'host.fenced', message: `host ${t.host} is back and rejoins: ${t.reason}`, ...about }
        : { id: `${nowIso}-host.ready-${t.host}`, type: 'host.ready', message: `host ${t.host} is ready again: ${t.reason}`, ...about };
  }
}

export async function runHealthCheck(deps: HealthDeps): Promise<HealthResult> {
  const { store } = deps;
  const now = deps.now();
  const nowIso = now.toISOString();
  const [hosts, statuses, checkpoint] = await Promise.all([store.listHosts(), store.listHostStatuses(), store.getHealthCheckpoint()]);
  const down = hosts.filter((h) => h.state === 'down').map((h) => h.id);
  const records = down.length > 0 ? await store.getPublishedMany(down) : new Map<string, { generation: number }>();
  const published = new Map(down.map((id) => [id, records.get(id)?.generation ?? 0]));
  const assessment = assessHosts(hosts, new Map(statuses.map((s) => [s.hostId, s])), published, checkpoint, now.getTime(), deps.policy);

  const events: ClusterEvent[] = [];
  for (const t of assessment.transitions) {
    await store.setHostState(t.host, t.to, nowIso);
    events.push(transitionEvent(t, nowIso));
  }
  const resumed = assessment.checkpoint.resumedAt === now.getTime() && checkpoint !== undefined;
  const policy = resolvePolicy(deps.policy);
  // A short gap (a busy control plane: checks late by a few seconds) protects the hosts all the same, but
  // only an absence longer than the grace is worth an event: under load the short ones come every few seconds.
  if (resumed && now.getTime() - checkpoint.lastRunAt > policy.graceMs)
    events.push({
      id: `${nowIso}-control-plane.resumed`,
      at: nowIso,
      type: 'control-plane.resumed',
      message: `health checks resumed after ${Math.round((now.getTime() - checkpoint.lastRunAt) / 1000)}s; hosts get ${policy.graceMs / 1000}s to report before any is declared down`,
    });
  // One event when a hold begins and one when it ends, not one per check.
  const wasHeld = checkpoint?.heldSince !== undefined;
  if (assessment.hold && !wasHeld) {
    events.push({
      id: `${nowIso}-health.held`,
      at: nowIso,
      type: 'health.held',
      message: `evictions held: ${assessment.hold.reason} (silent: ${assessment.hold.silent.join(', ')})`,
    });
  } else if (!assessment.hold && wasHeld) {
    events.push({
      id: `${nowIso}-health.released`,
      at: nowIso,
      type: 'health.released',
      message: `evictions resume: fewer than ${Math.round(policy.massFailureShare * 100)}% of hosts are silent (held for ${Math.round((now.getTime() - checkpoint!.heldSince!) / 1000)}s)`,
    });
  }
  if (events.length) await store.putEvents(events);
  await store.putHealthCheckpoint(assessment.checkpoint);
  await store.pruneEvents(new Date(now.getTime() - deps.eventRetentionMs).toISOString(), PRUNE_BATCH);
  if (assessment.transitions.length) await deps.kickScheduler().catch(() => undefined);
  const to = new Map(assessment.transitions.map((t) => [t.host, t.to]));
  const stateAfter = (id: string, state: string) => to.get(id) ?? state;
  return {
    down: assessment.transitions.filter((t) => t.to === 'down').map((t) => t.host),
    up: assessment.transitions.filter((t) => t.to === 'ready').map((t) => t.host),
    suspect: assessment.transitions.filter((t) => t.to === 'suspect' || t.to === 'degraded').map((t) => t.host),
    resumed,
    downHosts: hosts.filter((h) => stateAfter(h.id, h.state) === 'down').length,
    suspectHosts: hosts.filter((h) => ['suspect', 'degraded'].includes(stateAfter(h.id, h.state))).length,
    held: assessment.hold !== undefined,
  };
}
