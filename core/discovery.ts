/**
 * Service discovery by DNS: the record sets that name every service and every replica that can
 * take traffic. Pure: the caller passes the services, the task views and the TTL; the same input
 * always gives the same, sorted output, so `DnsZone.sync` sees no change when nothing changed.
 *
 * Names (docs/discovery.md):
 * - `<service>.<namespace>.<zone>`               A: one value per distinct host IP of the ready replicas
 * - `<taskId>.<service>.<namespace>.<zone>`      A: where that replica publishes its ports
 * - `_<port>._<proto>.<service>.<namespace>.<zone>` SRV: `0 10 <hostPort> <taskId>.<service>.<namespace>.<zone>`
 *   per ready replica; `<port>` is the port's name, or its container port when it has none.
 *
 * Addressing: `host` (local mode, and AWS without routed subnets) names the host address and
 * published port of each replica; replicas that publish nothing get no record. `container` (AWS with
 * routed container subnets, docs/network.md) names each replica's own address, reachable from
 * every host and container, and SRV records carry the container ports the service declares.
 */
import { ValidationError } from './errors.ts';
import type { Service, TaskView } from './types.ts';
import type { DnsRecordSet } from '../ports/index.ts';

/**
 * The default zone. Never `.local`: that suffix belongs to multicast DNS (RFC 6762), and resolvers
 * such as systemd-resolved and macOS send `.local` queries to mDNS instead of to our server.
 */
export const DEFAULT_ZONE = 'skiff.internal';

/**
 * TTLs in seconds. Locally the answer comes from a server on the same machine, so 5 s costs nothing
 * and keeps tests and demos quick. On AWS a Route 53 change itself takes up to about a minute to
 * reach every authoritative server; a TTL of 10 s keeps what clients cache a small part of the
 * failover window, and private-zone queries are cheap (docs/discovery.md has the arithmetic).
 */
export const DNS_TTL = { local: 5, aws: 10 } as const;

/** Which address a name leads to: the host's published port, or the replica's own (routed) address. */
export type Addressing = 'host' | 'container';

/** SRV priority and weight: every replica equal (RFC 2782: lowest priority first, weight spreads load). */
const SRV_PRIORITY = 0;
const SRV_WEIGHT = 10;
/** RFC 1035: 255 octets on the wire, i.e. 253 characters in dotted form without the trailing dot. */
const MAX_NAME_LENGTH = 253;
/**
 * The longest zone that leaves room for the longest record name, a replica's: task id (at most 52:
 * a 40-character service name, `-<slot of up to 4 digits>-<5 characters>`) + service (40) +
 * namespace (40) + 3 dots = 135 characters in front of the zone, and 253 - 135 = 118.
 */
const MAX_ZONE_LENGTH = 118;
/** Route 53 accepts TTLs from 0 to 2^31 - 1 seconds (ResourceRecordSet.TTL). */
const MAX_TTL = 2_147_483_647;
const LABEL = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?$/;

/**
 * The record sets that DNS must hold for `services` and their `tasks`, sorted by name, then type;
 * values sorted too. A service with no ready replica gets no record at all (NXDOMAIN).
 */
export function dnsRecords(
  zone: string,
  services: readonly Service[],
  tasks: readonly TaskView[],
  ttl: number,
  addressing: Addressing = 'host',
): DnsRecordSet[] {
  checkZone(zone);
  if (!Number.isInteger(ttl) || ttl < 0 || ttl > MAX_TTL) {
    throw new ValidationError([{ path: 'ttl', message: `must be an integer from 0 to ${MAX_TTL} seconds, got ${ttl}` }]);
  }
  const live = new Map<string, Service>();
  for (const s of services) if (!s.deleting) live.set(key(s.namespace, s.name), s);

  const sets = new Map<string, { name: string; type: 'A' | 'SRV'; values: Set<string> }>();
  const add = (name: string, type: 'A' | 'SRV', value: string): void => {
    const id = `${name} ${type}`;
    let set = sets.get(id);
    if (!set) {
      set = { name, type, values: new Set() };
      sets.set(id, set);
    }
    set.values.add(value);
  };

  for (const task of tasks) {
    const service = live.get(key(task.namespace, task.service));
    if (!service || !isReady(task)) continue;
    if (addressing === 'container') {
      if (task.address === undefined || !isUsableIpv4(task.address)) continue;
      const serviceName = `${service.name}.${service.namespace}.${zone}`;
      const taskName = `${task.id}.${serviceName}`;
      add(serviceName, 'A', task.address);
      add(taskName, 'A', task.address);
      for (const c of service.spec.spec.containers) {
        for (const p of c.ports)
          add(`_${p.name ?? p.containerPort}._${p.protocol}.${serviceName}`, 'SRV', `${SRV_PRIORITY} ${SRV_WEIGHT} ${p.containerPort} ${taskName}`);
      }
      continue;
    }
    const ports = task.ports.filter((p) => isUsableIpv4(p.hostIp) && p.hostPort > 0);
    if (ports.length === 0) continue;
    const serviceName = `${service.name}.${service.namespace}.${zone}`;
    const taskName = `${task.id}.${serviceName}`;
    for (const p of ports) {
      add(serviceName, 'A', p.hostIp);
      add(taskName, 'A', p.hostIp);
      const label = portLabel(service, p.container, p.containerPort, p.protocol);
      add(`_${label}._${p.protocol}.${serviceName}`, 'SRV', `${SRV_PRIORITY} ${SRV_WEIGHT} ${p.hostPort} ${taskName}`);
    }
  }

  const out: DnsRecordSet[] = [];
  for (const set of sets.values()) {
    if (set.name.length > MAX_NAME_LENGTH) {
      throw new ValidationError([{ path: 'zone', message: `record name ${set.name} is longer than ${MAX_NAME_LENGTH} characters` }]);
    }
    const values = [...set.values].sort(set.type === 'A' ? compareIpv4 : compareSrv);
    out.push({ name: set.name, type: set.type, ttl, values });
  }
  return out.sort(compareRecordSets);
}

/** Orders record sets by name, then type: the order `dnsRecords` returns. */
export function compareRecordSets(a: DnsRecordSet, b: DnsRecordSet): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : a.type < b.type ? -1 : a.type > b.type ? 1 : 0;
}

/** Throws a ValidationError naming what is wrong with `zone`; returns nothing when it is usable. */
export function checkZone(zone: string): void {
  const problem = zoneProblem(zone);
  if (problem) throw new ValidationError([{ path: 'zone', message: problem }]);
}

function zoneProblem(zone: unknown): string | undefined {
  if (typeof zone !== 'string' || zone === '') return 'must be a DNS name such as skiff.internal';
  if (zone.endsWith('.')) return `must be written without the trailing dot, got ${JSON.stringify(zone)}`;
  if (zone.length > MAX_ZONE_LENGTH) return `must be at most ${MAX_ZONE_LENGTH} characters so that every record name fits in 253, got ${zone.length}`;
  const labels = zone.split('.');
  if (labels.length < 2) return `must have at least two labels (such as skiff.internal), got ${JSON.stringify(zone)}`;
  for (const label of labels) {
    if (label.length > 63 || !LABEL.test(label)) {
      return `label ${JSON.stringify(label)} of ${JSON.stringify(zone)} must be 1-63 lowercase letters, digits and "-", starting and ending with a letter or digit`;
    }
  }
  if (labels[labels.length - 1] === 'local') {
    return `must not end in .local, which belongs to multicast DNS (RFC 6762); use ${DEFAULT_ZONE} or another name`;
  }
  return undefined;
}

function key(namespace: string, name: string): string {
  return `${namespace}\u0000${name}`;
}

/** A replica takes traffic when it should run, runs, and is healthy (or has no probe). */
function isReady(task: TaskView): boolean {
  return task.desired === 'running' && task.state === 'running' && (task.health === undefined || task.health === 'healthy');
}

/** An address an A record can carry: dotted IPv4, not the unspecified 0.0.0.0 (published on all interfaces). */
function isUsableIpv4(ip: string): boolean {
  const parts = ip.split('.');
  if (parts.length !== 4) return false;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return false;
  }
  return ip !== '0.0.0.0';
}

/**
 * The SRV service label of a published port: its name in the service's current spec, else the
 * container port number (a task still running an older spec may publish a port the spec dropped).
 */
function portLabel(service: Service, container: string, containerPort: number, protocol: 'tcp' | 'udp'): string {
  const spec = service.spec.spec.containers.find((c) => c.name === container);
  const port = spec?.ports.find((p) => p.containerPort === containerPort && p.protocol === protocol);
  return port?.name ?? String(containerPort);
}

function ipv4Number(ip: string): number {
  return ip.split('.').reduce((n, part) => n * 256 + Number(part), 0);
}

function compareIpv4(a: string, b: string): number {
  return ipv4Number(a) - ipv4Number(b);
}

/** SRV values by target, then port: one replica's ports stay together. */
function compareSrv(a: string, b: string): number {
  const [, , portA, targetA] = a.split(' ');
  const [, , portB, targetB] = b.split(' ');
  if (targetA !== targetB) return targetA < targetB ? -1 : 1;
  return Number(portA) - Number(portB);
}
