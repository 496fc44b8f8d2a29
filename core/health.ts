/**
 * Host health: which hosts are down, which have come back. Pure: the caller passes the clock.
 *
 * A host is declared down when its last heartbeat is older than the grace period. A host that
 * was down rejoins only once its agent has applied the newest document published for it: that
 * document no longer lists the tasks that were moved away, so the agent has stopped them (it was
 * fenced) before it gets any new work.
 *
 * When the control plane itself was away (no health run for two check intervals), the agents
 * could not report either: heartbeats are then judged from the moment the control plane
 * resumed, so its return never reschedules a healthy fleet.
 */
import type { Host, HostStatus } from './types.ts';

export interface HealthPolicy {
  /** A heartbeat older than this (ms) makes a host down. */
  readonly graceMs: number;
  /**
   * How often the check runs (ms). A gap of more than two intervals since the last check means the
   * control plane was away: agents could not report either, so heartbeats are judged from its return.
   */
  readonly checkIntervalMs: number;
}

export interface HealthCheckpoint {
  /** When the health check last ran (ms). */
  readonly lastRunAt: number;
  /** When the control plane came back after an absence longer than the grace (ms). */
  readonly resumedAt: number;
}

export interface HostTransition {
  readonly host: string;
  readonly to: 'down' | 'ready';
  readonly reason: string;
}

export interface HealthAssessment {
  readonly transitions: HostTransition[];
  readonly checkpoint: HealthCheckpoint;
}

export function assessHosts(
  hosts: readonly Host[],
  statuses: ReadonlyMap<string, HostStatus>,
  published: ReadonlyMap<string, number>,
  previous: HealthCheckpoint | undefined,
  now: number,
  policy: HealthPolicy,
): HealthAssessment {
  const resumed = !previous || now - previous.lastRunAt > 2 * policy.checkIntervalMs;
  const checkpoint = { lastRunAt: now, resumedAt: resumed ? now : previous.resumedAt };
  const transitions: HostTransition[] = [];
  for (const host of hosts) {
    const status = statuses.get(host.id);
    const beat = status ? Date.parse(status.heartbeatAt) : Number.NaN;
    const registered = Date.parse(host.registeredAt);
    const since = Math.max(Number.isFinite(beat) ? beat : -Infinity, Number.isFinite(registered) ? registered : -Infinity, checkpoint.resumedAt);
    const silentMs = now - since;
    if (host.state !== 'down') {
      if (silentMs > policy.graceMs) {
        const age = Number.isFinite(beat) ? `${((now - beat) / 1000).toFixed(1)}s ago` : 'never';
        transitions.push({ host: host.id, to: 'down', reason: `no heartbeat for more than ${policy.graceMs / 1000}s (last ${age})` });
      }
      continue;
    }
    // Down: back only with a fresh heartbeat sent after it was declared down, from an agent that has
    // applied the newest document for it.
    const downSince = host.stateSince ? Date.parse(host.stateSince) : -Infinity;
    const fresh = Number.isFinite(beat) && now - beat <= policy.graceMs && beat > downSince;
    if (!fresh || !status) continue;
    const want = published.get(host.id) ?? 0;
    if (status.generation < want) continue;
    transitions.push({ host: host.id, to: 'ready', reason: `heartbeat resumed and document generation ${status.generation} applied; stale tasks stopped` });
  }
  return { transitions, checkpoint };
}
