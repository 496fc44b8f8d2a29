/**
 * The scheduler: places pods (tasks) on hosts. Pure: hosts and requests in, placements out.
 *
 * Shape after Nomad and swarmkit: a chain of feasibility checks (cheap ones first), then ranking
 * of the feasible hosts. Every rejected host is counted by reason, so an unplaceable task can say
 * "0 of 12 hosts fit: 9 insufficient memory, 3 constraint zone == a".
 *
 * For large fleets it ranks a bounded sample of feasible hosts (Nomad's LimitIterator): hosts are
 * visited in a seeded shuffled order from a rotating cursor, and the first `limit` feasible ones
 * are scored. Below `limit` hosts the search is exhaustive, so small clusters get the best host.
 */
import type { Allocation, Host, Resources, Unplaceable } from './types.ts';
import { rng, shuffled } from './random.ts';
import { parseConstraint } from './spec.ts';
import { HOST_DOCUMENT_BYTES } from './document-size.ts';

export interface PlacementRequest {
  readonly taskId: string;
  readonly namespace: string;
  readonly service: string;
  readonly slot: number;
  /** The pod's total: the sum over its containers. */
  readonly resources: Resources;
  /** Fixed host ports the pod needs free on the host. */
  readonly hostPorts: readonly number[];
  readonly constraints: readonly string[];
  readonly strategy: 'spread' | 'binpack';
  /** A host to use only when no other fits (the task kept failing there). */
  readonly avoidHost?: string;
  /** The pod's bytes in a host document (core/document-size.ts); unchecked when absent. */
  readonly documentBytes?: number;
  /**
   * The only host the task may run on: where its persistent volume's data lives (core/volumes.ts).
   * While that host cannot take it, the task waits, and says why.
   */
  readonly pin?: { readonly host: string; readonly volume: string };
}

export interface Placement {
  readonly taskId: string;
  readonly hostId: string;
  readonly allocation: Allocation;
}

export interface ScheduleFailure {
  readonly taskId: string;
  readonly reason: Omit<Unplaceable, 'at'>;
}

export interface ScheduleResult {
  readonly placements: Placement[];
  readonly failures: ScheduleFailure[];
}

export interface ScheduleOptions {
  /** Seeds the host order, so a pass can be replayed. */
  readonly seed: string;
  /** How many feasible hosts to rank per task at most. Default: all up to 64 hosts, then 4·log2(n). */
  readonly limit?: number;
  /**
   * Ready hosts that must take nothing yet, each with the reason counted against it (a host whose
   * container subnet is not routed yet: `REJECT.noSubnet`).
   */
  readonly unavailable?: ReadonlyMap<string, string>;
  /**
   * Bytes each host's document already holds (its allocations' tasks), by host id. A request with
   * `documentBytes` fits a host only while the total stays within `documentBudget`.
   */
  readonly documentUsed?: ReadonlyMap<string, number>;
  /** @default HOST_DOCUMENT_BYTES */
  readonly documentBudget?: number;
  /**
   * With namespace isolation: the pods one namespace may have on one host, the containers its address
   * block holds (`2^(32 − blockPrefix) − 3`). Absent: no such limit.
   */
  readonly podsPerNamespace?: number;
}

/** Reasons a host is rejected, also the keys of `Unplaceable.rejected`. */
export const REJECT = {
  notReady: 'host not ready',
  noSubnet: 'no routed container subnet yet',
  cpu: 'insufficient cpu',
  memory: 'insufficient memory',
  document: `host document full (${HOST_DOCUMENT_BYTES / 1024} KiB)`,
  block: "namespace's address block full",
  volume: 'not the host of its volume',
} as const;

/** A constraint the spec validated; an unparsable one (only from a corrupt store) matches no host. */
interface CompiledConstraint {
  readonly text: string;
  readonly key: string;
  readonly equal: boolean;
  readonly value: string;
}

function compile(text: string): CompiledConstraint {
  const c = parseConstraint(text);
  return c ? { text: `${c.key} ${c.op} ${c.value}`, key: c.key, equal: c.op === '==', value: c.value } : { text, key: '', equal: true, value: '\u0000invalid' };
}

/** Mutable per-pass view of one host. */
interface Node {
  readonly host: Host;
  readonly ready: boolean;
  /** Why the node takes nothing: `REJECT.notReady` or the caller's reason. */
  readonly notReady: string;
  cpuFree: number;
  memFree: number;
  /** Bytes left in the host's document. */
  docFree: number;
  readonly ports: Set<number>;
}

/** Sum of a host's allocations. */
export function allocated(host: Pick<Host, 'allocations'>): Resources {
  let cpu = 0;
  let memory = 0;
  for (const id in host.allocations) {
    const a = host.allocations[id];
    cpu += a.resources.cpu;
    memory += a.resources.memory;
  }
  return { cpu, memory };
}

/** True when `allocations` fit the host's capacity and hold no host port twice. */
export function fits(capacity: Resources, allocations: Readonly<Record<string, Allocation>>): boolean {
  let cpu = 0;
  let memory = 0;
  const ports = new Set<number>();
  for (const id in allocations) {
    const a = allocations[id];
    cpu += a.resources.cpu;
    memory += a.resources.memory;
    for (const p of a.hostPorts) {
      if (ports.has(p)) return false;
      ports.add(p);
    }
  }
  return cpu <= capacity.cpu && memory <= capacity.memory;
}

function serviceKey(namespace: string, service: string): string {
  return `${namespace}/${service}`;
}

/** Places each request on a host, or explains why none fits. Never over-commits a host. */
export function schedule(hosts: readonly Host[], requests: readonly PlacementRequest[], options: ScheduleOptions): ScheduleResult {
  const random = rng(options.seed);
  // Sorting first makes the shuffle depend only on the seed, not on the order the store returned.
  const order = shuffled(
    hosts.slice().sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)),
    random,
  );
  const budget = options.documentBudget ?? HOST_DOCUMENT_BYTES;
  const nodes: Node[] = order.map((host) => {
    const used = allocated(host);
    const ports = new Set<number>();
    for (const id in host.allocations) for (const p of host.allocations[id].hostPorts) ports.add(p);
    const unavailable = options.unavailable?.get(host.id);
    const ready = host.state === 'ready' && unavailable === undefined;
    return {
      host,
      ready,
      notReady: host.state === 'ready' ? (unavailable ?? REJECT.notReady) : REJECT.notReady,
      cpuFree: host.capacity.cpu - used.cpu,
      memFree: host.capacity.memory - used.memory,
      docFree: budget - (options.documentUsed?.get(host.id) ?? 0),
      ports,
    };
  });
  const n = nodes.length;
  const limit = Math.max(1, options.limit ?? (n <= 64 ? n : Math.ceil(4 * Math.log2(n))));

  // Replicas of a service already on each node (node index -> count), for anti-affinity.
  // Sparse: a fleet has many services, each on few hosts.
  const perService = new Map<string, Map<number, number>>();
  const countsFor = (key: string): Map<number, number> => {
    let c = perService.get(key);
    if (!c) {
      c = new Map();
      perService.set(key, c);
    }
    return c;
  };
  nodes.forEach((node, i) => {
    for (const id in node.host.allocations) {
      const a = node.host.allocations[id];
      const c = countsFor(serviceKey(a.namespace, a.service));
      c.set(i, (c.get(i) ?? 0) + 1);
    }
  });

  // Pods of each namespace on each node, when a namespace's address block bounds them.
  const perNamespace = new Map<string, Map<number, number>>();
  if (options.podsPerNamespace !== undefined) {
    nodes.forEach((node, i) => {
      for (const id in node.host.allocations) {
        const ns = node.host.allocations[id].namespace;
        const c = perNamespace.get(ns) ?? new Map<number, number>();
        c.set(i, (c.get(i) ?? 0) + 1);
        perNamespace.set(ns, c);
      }
    });
  }

  const constraintCache = new Map<string, CompiledConstraint[]>();
  // Capacity only shrinks within a pass, so a request shape that found no host finds none later.
  const failedShapes = new Map<string, Omit<Unplaceable, 'at'>>();

  const placements: Placement[] = [];
  const failures: ScheduleFailure[] = [];
  let cursor = 0;

  for (const req of requests) {
    const constraintKey = req.constraints.join('\u0000');
    let constraints = constraintCache.get(constraintKey);
    if (!constraints) {
      constraints = req.constraints.map(compile);
      constraintCache.set(constraintKey, constraints);
    }
    const docBytes = req.documentBytes ?? 0;
    const nsKey = options.podsPerNamespace !== undefined ? req.namespace : '';
    const shape = `${req.resources.cpu}|${req.resources.memory}|${docBytes}|${req.hostPorts.join(',')}|${constraintKey}|${req.pin?.host ?? ''}|${req.pin?.volume ?? ''}|${nsKey}`;
    const nsPods = options.podsPerNamespace !== undefined ? (perNamespace.get(req.namespace) ?? new Map<number, number>()) : undefined;
    if (nsPods) perNamespace.set(req.namespace, nsPods);
    const known = failedShapes.get(shape);
    if (known) {
      failures.push({ taskId: req.taskId, reason: known });
      continue;
    }
    const counts = countsFor(serviceKey(req.namespace, req.service));

    let best = -1;
    let bestScore = -Infinity;
    let feasible = 0;
    let rejected: Record<string, number> | undefined;
    const reject = (reason: string) => {
      rejected ??= {};
      rejected[reason] = (rejected[reason] ?? 0) + 1;
    };

    for (let k = 0; k < n && feasible < limit; k++) {
      const i = (cursor + k) % n;
      const node = nodes[i];
      // A pinned task fits one host at most: the others are rejected before anything else is looked at.
      if (req.pin && node.host.id !== req.pin.host) {
        reject(REJECT.volume);
        continue;
      }
      // Cheapest checks first: a state flag and two numbers reject most hosts of a busy fleet.
      if (!node.ready) {
        reject(node.notReady);
        continue;
      }
      if (node.cpuFree < req.resources.cpu) {
        reject(REJECT.cpu);
        continue;
      }
      if (node.memFree < req.resources.memory) {
        reject(REJECT.memory);
        continue;
      }
      if (node.docFree < docBytes) {
        reject(REJECT.document);
        continue;
      }
      if (nsPods && (nsPods.get(i) ?? 0) >= options.podsPerNamespace!) {
        reject(REJECT.block);
        continue;
      }
      let ok = true;
      for (const c of constraints) {
        const v = node.host.labels[c.key];
        if ((v === c.value) !== c.equal) {
          reject(`constraint ${c.text}`);
          ok = false;
          break;
        }
      }
      if (!ok) continue;
      for (const p of req.hostPorts) {
        if (node.ports.has(p)) {
          reject(`host port ${p} in use`);
          ok = false;
          break;
        }
      }
      if (!ok) continue;

      feasible++;
      const cap = node.host.capacity;
      const util = Math.max(
        cap.cpu > 0 ? 1 - (node.cpuFree - req.resources.cpu) / cap.cpu : 1,
        cap.memory > 0 ? 1 - (node.memFree - req.resources.memory) / cap.memory : 1,
      );
      // Replicas of one service always prefer different hosts (a host is a failure domain);
      // the strategy only decides between hosts with equally few of them.
      // An avoided host outranks nothing but having no host at all.
      const score = (node.host.id === req.avoidHost ? -1e9 : 0) - (counts.get(i) ?? 0) * 10 + (req.strategy === 'binpack' ? util : 1 - util);
      if (score > bestScore) {
        bestScore = score;
        best = i;
      }
    }

    if (best < 0) {
      const described = describeRejection(n, rejected ?? {});
      const reason = { hosts: n, rejected: rejected ?? {}, message: req.pin ? pinnedMessage(req.pin, nodes, described) : described };
      failedShapes.set(shape, reason);
      failures.push({ taskId: req.taskId, reason });
      continue;
    }

    const node = nodes[best];
    node.cpuFree -= req.resources.cpu;
    node.memFree -= req.resources.memory;
    node.docFree -= docBytes;
    for (const p of req.hostPorts) node.ports.add(p);
    counts.set(best, (counts.get(best) ?? 0) + 1);
    nsPods?.set(best, (nsPods.get(best) ?? 0) + 1);
    placements.push({
      taskId: req.taskId,
      hostId: node.host.id,
      allocation: {
        taskId: req.taskId,
        namespace: req.namespace,
        service: req.service,
        slot: req.slot,
        resources: req.resources,
        hostPorts: req.hostPorts,
      },
    });
    cursor = (best + 1) % Math.max(n, 1);
  }
  return { placements, failures };
}

/** Why a task pinned to its volume's host waits: that host is down, gone, or full. */
function pinnedMessage(pin: NonNullable<PlacementRequest['pin']>, nodes: readonly Node[], described: string): string {
  const node = nodes.find((x) => x.host.id === pin.host);
  const where = `its volume ${pin.volume} lives on host ${pin.host}`;
  if (!node) return `${where}, which is gone; the replica waits for it (${described})`;
  if (node.host.state !== 'ready') return `${where}, which is ${node.host.state}; the replica waits for it to be ready again (${described})`;
  return `${where}, which cannot take it now (${described})`;
}

/** "0 of 12 hosts fit: 9 insufficient memory, 3 constraint zone == a". */
export function describeRejection(hosts: number, rejected: Readonly<Record<string, number>>): string {
  if (hosts === 0) return 'no hosts registered';
  const parts = Object.entries(rejected)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .map(([reason, count]) => `${count} ${reason}`);
  return `0 of ${hosts} host${hosts === 1 ? '' : 's'} fit: ${parts.join(', ')}`;
}
