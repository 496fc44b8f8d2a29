/**
 * Host health: which hosts are suspect, degraded, down, or back. Pure: the caller passes the clock.
 *
 * A busy host is not a dead host. The detector works in steps, each with its own reason:
 * - **suspect**: silent for longer than `suspectMs`. It gets no new task, nothing is moved away.
 * - **down**: silent for longer than its down grace: `graceMs` for an idle host, `busyGraceMs` for a
 *   host whose last report showed containers being created or started (a daemon working through a
 *   burst answers slowly, and the host's work is what is in flight). Its tasks are then replaced.
 * - **degraded**: the host heartbeats but its agent reports that Docker does not answer. No new
 *   task; nothing is moved away (its containers may well be running).
 *
 * Two brakes keep a problem on Skiff's side, or in the network, from moving the fleet around:
 * - **mass silence**: when more than `massFailureShare` of the hosts are silent at once, nothing is
 *   declared down (they stay suspect): a whole fleet does not die at once, a partition or a
 *   starved control plane does. Kubernetes' node lifecycle controller stops evicting likewise.
 * - **eviction budget**: at most max(1, ceil(`evictionShare` × hosts)) hosts are declared down per
 *   `evictionWindowMs` (counted from the hosts' own `stateSince`, so no extra state is kept);
 *   the rest stay suspect until the budget allows (Kubernetes: 0.1 node per second).
 *
 * A host that was down rejoins only once its agent has applied the newest document published for
 * it: that document no longer lists the tasks that were moved away, so the agent has stopped them
 * (it was fenced) before it gets any new work.
 *
 * Silence is measured twice, and the smaller counts:
 * - by the clock: since the host's last heartbeat. After an absence of the control plane longer
 *   than the grace (no check ran: it was down, or its schedule stalled), the agents could not
 *   report either, so silence counts from its return: its return never reschedules a healthy fleet.
 * - against the fleet: since the host's last heartbeat, up to the freshest heartbeat of any host.
 *   A control plane or store that is merely slow (under load, checks late by seconds, heartbeat
 *   writes landing late) delays every host's heartbeat alike: nobody looks silent for that, while
 *   a dead host falls behind the others and is still found. One host alone is never found silent
 *   this way: with nowhere to move its tasks, there is nothing to gain by declaring it down.
 */
import type { Host, HostStatus } from './types.ts';

export interface HealthPolicy {
  /** An idle host silent for longer than this (ms) is down. */
  readonly graceMs: number;
  /**
   * How often the check runs (ms). A gap of more than two intervals since the last check means the
   * control plane was away: agents could not report either, so heartbeats are judged from its return.
   */
  readonly checkIntervalMs: number;
  /** A host silent for longer than this (ms) is suspect: no new placements. @default graceMs / 2 */
  readonly suspectMs?: number;
  /** Down grace of a host whose last report showed containers being created or started. @default 3 × graceMs */
  readonly busyGraceMs?: number;
  /** More than this share of hosts silent at once: nothing is declared down. @default 0.5 */
  readonly massFailureShare?: number;
  /** Window of the eviction budget (ms). @default 10 × graceMs */
  readonly evictionWindowMs?: number;
  /** Share of the hosts that may be declared down per window (at least one). @default 0.1 */
  readonly evictionShare?: number;
}

/** The policy with every default filled in. */
export function resolvePolicy(policy: HealthPolicy): Required<HealthPolicy> {
  return {
    graceMs: policy.graceMs,
    checkIntervalMs: policy.checkIntervalMs,
    suspectMs: policy.suspectMs ?? policy.graceMs / 2,
    busyGraceMs: Math.max(policy.busyGraceMs ?? 3 * policy.graceMs, policy.graceMs),
    massFailureShare: policy.massFailureShare ?? 0.5,
    evictionWindowMs: policy.evictionWindowMs ?? 10 * policy.graceMs,
    evictionShare: policy.evictionShare ?? 0.1,
  };
}

export interface HealthCheckpoint {
  /** When the health check last ran (ms). */
  readonly lastRunAt: number;
  /** When the control plane last came back after an absence longer than the grace (ms). */
  readonly resumedAt: number;
  /** Since when evictions are held because too many hosts are silent at once (ms); absent: not held. */
  readonly heldSince?: number;
}

export type HostTransitionTo = 'down' | 'ready' | 'suspect' | 'degraded';

export interface HostTransition {
  readonly host: string;
  readonly to: HostTransitionTo;
  /** The state it leaves. */
  readonly from: Host['state'];
  readonly reason: string;
}

/** Evictions held: too many hosts silent at once. */
export interface Hold {
  readonly silent: readonly string[];
  readonly hosts: number;
  readonly reason: string;
}

export interface HealthAssessment {
  readonly transitions: HostTransition[];
  readonly checkpoint: HealthCheckpoint;
  /** Present while evictions are held (mass silence). */
  readonly hold?: Hold;
  /** Hosts past their down grace that stay suspect because the eviction budget is spent. */
  readonly deferred: readonly string[];
}

/** True when the host's last report shows work in flight: containers being created or started. */
export function isBusy(status: HostStatus | undefined): boolean {
  return status?.tasks.some((t) => t.state === 'creating' || t.state === 'starting') ?? false;
}

/** Hosts that may be declared down per window: a share of the fleet, at least one. */
export function evictionBudget(hosts: number, policy: Required<HealthPolicy>): number {
  return Math.max(1, Math.ceil(policy.evictionShare * hosts));
}

const secs = (ms: number) => `${Math.round(ms / 100) / 10}s`;

export function assessHosts(
  hosts: readonly Host[],
  statuses: ReadonlyMap<string, HostStatus>,
  published: ReadonlyMap<string, number>,
  previous: HealthCheckpoint | undefined,
  now: number,
  given: HealthPolicy,
): HealthAssessment {
  const policy = resolvePolicy(given);
  // Only an absence longer than the grace restarts the clock; shorter gaps (a slow control plane) are
  // covered by judging each host against the fleet.
  const away = !previous || now - previous.lastRunAt > policy.graceMs;
  const resumedAt = away ? now : previous.resumedAt;
  const beatsAt = hosts.map((h) => Date.parse(statuses.get(h.id)?.heartbeatAt ?? '')).filter(Number.isFinite);
  // Capped at now: a host whose clock runs ahead must not make the others look silent.
  const freshest = Math.min(now, Math.max(-Infinity, ...beatsAt));

  const seen = hosts.map((host) => {
    const status = statuses.get(host.id);
    const beat = status ? Date.parse(status.heartbeatAt) : Number.NaN;
    const registered = Date.parse(host.registeredAt);
    const since = Math.max(Number.isFinite(beat) ? beat : -Infinity, Number.isFinite(registered) ? registered : -Infinity, resumedAt);
    return { host, status, beat, silentMs: Math.max(0, Math.min(now, freshest) - since) };
  });

  // Mass silence: judged on every host, down ones included (a host down and still silent looks down). A host
  // suspect or down that has not beaten since counts as silent even when the clock was restarted (a
  // control-plane absence): it has still not been heard from.
  const heardSince = (host: Host, beat: number) => Number.isFinite(beat) && beat > (host.stateSince ? Date.parse(host.stateSince) : -Infinity);
  const silent = seen
    .filter((s) => s.silentMs > policy.suspectMs || ((s.host.state === 'suspect' || s.host.state === 'down') && !heardSince(s.host, s.beat)))
    .map((s) => s.host.id);
  const held = hosts.length > 0 && silent.length / hosts.length > policy.massFailureShare;
  // The end of a hold gives every host a fresh grace, as the control plane's return does: the hosts that
  // were silent together come back one by one, and the last ones must not be evicted for the time the
  // first ones took.
  const released = !held && previous?.heldSince !== undefined;
  const clockFrom = released ? now : resumedAt;
  const hold: Hold | undefined = held
    ? {
        silent,
        hosts: hosts.length,
        reason: `${silent.length} of ${hosts.length} hosts silent at once (more than ${Math.round(policy.massFailureShare * 100)}%): a problem on Skiff's side or in the network is likelier than so many dead hosts; nothing is moved`,
      }
    : undefined;

  const budget = evictionBudget(hosts.length, policy);
  let evicted = hosts.filter((h) => h.state === 'down' && h.stateSince !== undefined && now - Date.parse(h.stateSince) < policy.evictionWindowMs).length;

  const transitions: HostTransition[] = [];
  const deferred: string[] = [];
  const move = (host: Host, to: HostTransitionTo, reason: string) => {
    if (host.state !== to) transitions.push({ host: host.id, from: host.state, to, reason });
  };
  // The longest silent first: when the budget is short, the surest failures go first.
  const order = [...seen].sort((a, b) => b.silentMs - a.silentMs || a.host.id.localeCompare(b.host.id));
  for (const { host, status, beat, silentMs } of order) {
    const age = Number.isFinite(beat) ? `last ${secs(now - beat)} ago` : 'never reported';
    if (host.state === 'down') {
      // Down: back only with a fresh heartbeat sent after it was declared down, from an agent that has
      // applied the newest document for it.
      const downSince = host.stateSince ? Date.parse(host.stateSince) : -Infinity;
      const fresh = Number.isFinite(beat) && now - beat <= policy.graceMs && beat > downSince;
      if (!fresh || !status) continue;
      const want = published.get(host.id) ?? 0;
      if (status.generation < want) continue;
      move(host, 'ready', `heartbeat resumed and document generation ${status.generation} applied; stale tasks stopped`);
      continue;
    }
    const busy = isBusy(status);
    const grace = busy ? policy.busyGraceMs : policy.graceMs;
    if (silentMs > grace && !released) {
      const why = `no heartbeat for more than ${secs(grace)}${busy ? ' (busy: it was creating containers)' : ''} (${age})`;
      if (held) {
        if (host.state !== 'draining') move(host, 'suspect', `${why}; not declared down: ${hold!.reason}`);
      } else if (evicted >= budget) {
        deferred.push(host.id);
        if (host.state !== 'draining')
          move(host, 'suspect', `${why}; not declared down yet: eviction budget of ${budget} host(s) per ${secs(policy.evictionWindowMs)} spent`);
      } else {
        evicted++;
        move(host, 'down', why);
      }
      continue;
    }
    // A draining host takes no new task already: only its death matters.
    if (host.state === 'draining') continue;
    if (silentMs > policy.suspectMs) {
      move(host, 'suspect', `no heartbeat for more than ${secs(policy.suspectMs)} (${age}); no new tasks until it reports`);
      continue;
    }
    const docker = status?.runtime;
    if (docker?.state === 'unresponsive') move(host, 'degraded', `Docker does not answer (${docker.message}); no new tasks, nothing moved away`);
    else if (host.state === 'suspect' && heardSince(host, beat)) move(host, 'ready', `heartbeat resumed (${age})`);
    else if (host.state === 'degraded') move(host, 'ready', 'Docker answers again');
  }
  const checkpoint: HealthCheckpoint = { lastRunAt: now, resumedAt: clockFrom, ...(held ? { heldSince: previous?.heldSince ?? now } : {}) };
  return { transitions, checkpoint, ...(hold ? { hold } : {}), deferred };
}
