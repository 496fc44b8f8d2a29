/**
 * The HAProxy data plane's server slots: which replica each backend's servers hold, and the
 * runtime API commands that move a backend from one set of replicas to the next without a reload.
 * Pure: the shell (local/haproxy.ts) sends the commands to HAProxy's stats socket and passes the
 * time and the session counts in.
 *
 * Each backend has a fixed pool of servers `s1`..`sN` written in haproxy.cfg. A slot is free (its
 * server is `disabled`, HAProxy's maintenance), active (it holds a replica that takes requests),
 * or leaving (the replica left the routes: the server is in maintenance, so it gets no new
 * request, while the requests it has finish). A leaving slot is free again once HAProxy counts no
 * session on it, or after `forceAfterMs`, when its last sessions are shut. A replica that comes
 * back while it is leaving takes requests again in its slot.
 *
 * Why maintenance and not HAProxy's `drain` state for a leaving replica: `drain` still sends a
 * client whose affinity cookie names the server there ("accepts new persistent connections"), and
 * the Node proxy's drain sends a leaving replica no new request at all. In maintenance, a client
 * pinned to it is balanced to another replica and gets a new cookie, as with the Node proxy.
 *
 * Only a change of targets goes through the runtime API. A new or removed route, a change of
 * host, path, TLS or affinity, or a backend that needs more slots than it has, is a reload
 * (`layoutForReload`), which sizes the pools again with headroom.
 */
import type { IngressRoute } from '../ports/index.ts';

export type Target = IngressRoute['targets'][number];

export interface Slot {
  /** The server's name in its backend: `s1`, `s2`, ... */
  readonly server: string;
  /** The replica it holds (active or leaving); none when free. */
  readonly target?: Target;
  /** When the replica left the routes (ms), while it drains; absent when active or free. */
  readonly leavingSince?: number;
}

/** Slots per route, keyed by `routeKey`. */
export type Layout = ReadonlyMap<string, readonly Slot[]>;

/** A route's identity across tables: its host and path (one route each, the sync checks). */
export function routeKey(r: Pick<IngressRoute, 'host' | 'path'>): string {
  return `${r.host} ${r.path ?? '/'}`;
}

/**
 * Slots for a backend of `targets` replicas: twice as many, at least 4, so a rolling update
 * (a new replica beside each old one) and scaling up to double fit without a reload.
 */
export function slotCount(targets: number): number {
  return Math.max(4, 2 * targets);
}

/** A replica's identity in a slot: the same task at the same address and port. */
function same(a: Target, b: Target): boolean {
  return a.taskId === b.taskId && a.ip === b.ip && a.port === b.port;
}

function slots(count: number): Slot[] {
  return Array.from({ length: count }, (_, i) => ({ server: `s${i + 1}` }));
}

/**
 * The layout a reload writes for `routes`: each route keeps its pool (grown to `slotCount` when
 * its targets no longer fit) and its replicas keep their slots; new replicas take free slots in
 * order. Leaving replicas are not carried over: the new worker has no session on them, and the
 * old worker finishes what it has.
 */
export function layoutForReload(previous: Layout, routes: readonly IngressRoute[]): Layout {
  const next = new Map<string, Slot[]>();
  for (const r of routes) {
    const old = previous.get(routeKey(r)) ?? [];
    // A new route, even one with no target yet, gets a pool: its first replicas come at runtime.
    const size = old.length > 0 && old.length >= r.targets.length ? old.length : slotCount(r.targets.length);
    const pool = slots(size);
    const placed = new Set<Target>();
    old.forEach((s, i) => {
      if (i >= size || s.target === undefined || s.leavingSince !== undefined) return;
      const kept = r.targets.find((t) => !placed.has(t) && same(t, s.target!));
      if (kept === undefined) return;
      pool[i] = { server: pool[i].server, target: kept };
      placed.add(kept);
    });
    let free = 0;
    for (const t of r.targets) {
      if (placed.has(t)) continue;
      while (pool[free].target !== undefined) free++;
      pool[free] = { server: pool[free].server, target: t };
    }
    next.set(routeKey(r), pool);
  }
  return next;
}

export type TargetPlan =
  | { readonly kind: 'runtime'; readonly layout: Layout; readonly commands: readonly string[] }
  | { readonly kind: 'reload'; readonly why: string };

/**
 * How to go from `layout` to the targets of `routes` through the runtime API: new replicas take
 * free slots (address, then ready), replicas that left go to maintenance and leave from `now`,
 * returning ones are ready again. New replicas are made ready before the leaving ones stop taking
 * requests, so a replacement never leaves a backend empty. A reload when the routes are not the
 * layout's (added or removed) or a backend has too few free slots.
 * `backends` names each route's backend (`backendNames` in local/haproxy-config.ts).
 */
export function planTargets(layout: Layout, routes: readonly IngressRoute[], backends: ReadonlyMap<string, string>, now: number): TargetPlan {
  const keys = new Set(routes.map(routeKey));
  const gone = [...layout.keys()].filter((k) => !keys.has(k));
  if (gone.length > 0 || keys.size !== layout.size) return { kind: 'reload', why: 'the routes changed' };
  const next = new Map<string, Slot[]>();
  const ready: string[] = [];
  const leave: string[] = [];
  for (const r of routes) {
    const key = routeKey(r);
    const pool = [...(layout.get(key) ?? [])];
    const backend = backends.get(key);
    if (pool.length === 0 || backend === undefined) return { kind: 'reload', why: `route ${key} is new` };
    const wanted = [...r.targets];
    pool.forEach((s, i) => {
      if (s.target === undefined) return;
      const at = wanted.findIndex((t) => same(t, s.target!));
      if (at >= 0) {
        wanted.splice(at, 1);
        if (s.leavingSince !== undefined) {
          pool[i] = { server: s.server, target: s.target };
          ready.push(`set server ${backend}/${s.server} state ready`);
        }
      } else if (s.leavingSince === undefined) {
        pool[i] = { ...s, leavingSince: now };
        leave.push(`set server ${backend}/${s.server} state maint`);
      }
    });
    const free = pool.flatMap((s, i) => (s.target === undefined ? [i] : []));
    if (wanted.length > free.length) {
      return { kind: 'reload', why: `backend ${backend} needs ${wanted.length} free server slots for new replicas and has ${free.length} of ${pool.length}` };
    }
    wanted.forEach((t, n) => {
      const i = free[n];
      pool[i] = { server: pool[i].server, target: t };
      ready.push(`set server ${backend}/${pool[i].server} addr ${t.ip} port ${t.port}`, `set server ${backend}/${pool[i].server} state ready`);
    });
    next.set(key, pool);
  }
  return { kind: 'runtime', layout: next, commands: [...ready, ...leave] };
}

/**
 * Frees leaving slots: those with no session left (`sessions` of `backend/server`, from
 * `show stat`; unknown counts wait), and those leaving for `forceAfterMs` or more, whose remaining
 * sessions (a WebSocket, a long download) are shut first.
 */
export function releaseSlots(
  layout: Layout,
  backends: ReadonlyMap<string, string>,
  sessions: ReadonlyMap<string, number>,
  now: number,
  forceAfterMs: number,
): { readonly layout: Layout; readonly commands: readonly string[] } {
  const next = new Map<string, Slot[]>();
  const commands: string[] = [];
  for (const [key, pool] of layout) {
    const backend = backends.get(key);
    next.set(
      key,
      pool.map((s) => {
        if (s.leavingSince === undefined || backend === undefined) return s;
        const open = sessions.get(`${backend}/${s.server}`);
        if (open === 0) return { server: s.server };
        if (now - s.leavingSince < forceAfterMs) return s;
        if (open !== undefined) commands.push(`shutdown sessions server ${backend}/${s.server}`);
        return { server: s.server };
      }),
    );
  }
  return { layout: next, commands };
}

/** The layout with every slot free: what the configuration's shape depends on (a reload is needed when it changes). */
export function emptied(layout: Layout): Layout {
  return new Map([...layout].map(([k, pool]) => [k, pool.map((s) => ({ server: s.server }))]));
}

/** Whether HAProxy's answer to a runtime command means it was applied (`set server ... addr` reports the change; the others print nothing). */
export function runtimeAnswerOk(command: string, answer: string): boolean {
  if (/ addr \S+ port \d+$/.test(command)) return /changed from|no need to change/.test(answer);
  return answer.trim() === '';
}
