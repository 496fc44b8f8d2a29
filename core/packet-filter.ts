/**
 * Packet filter rules that keep namespaces' containers apart (issue 14; docs/network.md, "Isolation
 * rules"). Pure: the agent turns its pods into rules here and hands them to a `PacketFilter`
 * (agent/packet-filter.ts), which writes them into one iptables chain of its own, jumped to from
 * Docker's `DOCKER-USER` (evaluated in FORWARD before Docker's own isolation and accept rules).
 *
 * Two topologies, one chain:
 *
 * - Local mode (`guestRules`): every namespace has its own Docker bridge, and Docker already drops
 *   traffic between bridges. A service that lets namespace N in (`spec.network.allowFrom`) has each
 *   replica join N's bridge as a *guest* (so N's containers resolve its name through Docker's DNS and
 *   reach it on N's bridge). A bridge has no direction, so the rules make it one: no NEW connection
 *   from any of the guest replica's addresses into a network it is a guest on. Replies to the
 *   connections N opens are ESTABLISHED and pass. The rules only ever DROP, so the chains of the
 *   several local agents sharing one kernel can run in any order.
 * - AWS (`hostRules`): every host's container subnet is cut into one block per namespace *slot*, the
 *   same slot at the same offset on every host, so a namespace's containers anywhere in the cluster are
 *   the addresses matching one address/mask pair (`namespaceSources`): one rule per namespace, whatever
 *   the number of hosts. Rules guard the host's own blocks: replies pass, a block accepts its own
 *   namespace and the namespaces its services let in (per replica), and drops the rest of the cluster CIDR.
 */
import { formatIpv4, parseCidr, parseIpv4 } from './cidr.ts';
import { ValidationError } from './errors.ts';
import { hash32 } from './random.ts';
import { allowedNamespaces } from './spec/network.ts';
import type { HostDocumentTask, HostNetwork } from './types.ts';

/** One rule of our chain, in the order given. Addresses are `a.b.c.d`, `a.b.c.d/n` or `a.b.c.d/m.m.m.m`. */
export interface FilterRule {
  readonly source?: string;
  readonly destination?: string;
  /** conntrack states the rule matches; absent: every packet. */
  readonly state?: 'NEW' | 'RELATED,ESTABLISHED';
  readonly action: 'ACCEPT' | 'DROP';
  /** Why the rule is there, kept in iptables (`-m comment`): what `iptables -S` shows a person. */
  readonly comment: string;
}

/** The chain Docker evaluates first for forwarded packets, and leaves to its users. */
export const DOCKER_USER_CHAIN = 'DOCKER-USER';

/**
 * The chain of one agent: `SKIFF-` and a hash of cluster and host. iptables limits chain names to 28
 * characters, and several local agents share one kernel, so each needs its own (the jump's comment
 * names cluster and host in full: `jumpComment`).
 */
export function filterChainName(cluster: string, hostId: string): string {
  return `SKIFF-${hash32(`${cluster}\n${hostId}`).toString(16).padStart(8, '0')}`;
}

/** The comment on the jump from DOCKER-USER: how a cluster's chains are found and removed when it stops. */
export function jumpComment(cluster: string, hostId: string): string {
  return `skiff ${cluster} ${hostId}`;
}

/** A rule's iptables arguments after `-A <chain>` (the form `iptables -S` prints them back in). */
export function ruleArgs(rule: FilterRule): string[] {
  return [
    ...(rule.source ? ['-s', normalAddress(rule.source)] : []),
    ...(rule.destination ? ['-d', normalAddress(rule.destination)] : []),
    ...(rule.state ? ['-m', 'conntrack', '--ctstate', rule.state] : []),
    '-m',
    'comment',
    '--comment',
    rule.comment,
    '-j',
    rule.action,
  ];
}

/**
 * The `iptables-restore --noflush` input that replaces the chain's rules with these, in one
 * transaction (declaring an existing chain flushes it; nothing else in the table is touched). So a
 * change never leaves a moment with half the rules.
 */
export function restoreInput(chain: string, rules: readonly FilterRule[]): string {
  const quote = (arg: string) => (/^[\w./:,-]+$/.test(arg) ? arg : `"${arg.replace(/["\\]/g, '')}"`);
  return ['*filter', `:${chain} - [0:0]`, ...rules.map((r) => ['-A', chain, ...ruleArgs(r)].map(quote).join(' ')), 'COMMIT', ''].join('\n');
}

/** `a.b.c.d` as `/32`, a CIDR as given, `addr/mask` as given: what `iptables -S` prints. */
function normalAddress(spec: string): string {
  return spec.includes('/') ? spec : `${spec}/32`;
}

/** An address spec as the kernel matches it: `(ip & mask) === address`. */
export function parseAddressSpec(spec: string, field = 'address'): { address: number; mask: number } {
  const [ip, mask] = spec.split('/');
  const address = parseIpv4(ip, field);
  if (mask === undefined) return { address, mask: 0xffffffff };
  const bits = mask.includes('.') ? parseIpv4(mask, field) : prefixMask(parseCidrPrefix(spec, field));
  return { address: (address & bits) >>> 0, mask: bits };
}

function parseCidrPrefix(spec: string, field: string): number {
  const prefix = Number(spec.split('/')[1]);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > 32) throw new ValidationError([{ path: field, message: `${spec}: the prefix must be 0-32` }]);
  return prefix;
}

function prefixMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Whether `ip` matches an address spec. */
export function matchesAddress(spec: string, ip: string): boolean {
  const { address, mask } = parseAddressSpec(spec);
  return (parseIpv4(ip) & mask) >>> 0 === address;
}

/** A packet as the chain sees it. */
export interface FilterPacket {
  readonly source: string;
  readonly destination: string;
  readonly state: 'NEW' | 'ESTABLISHED' | 'RELATED';
}

/** The first rule's verdict, or `undefined` when none matches (the chain returns; Docker decides). */
export function verdict(rules: readonly FilterRule[], packet: FilterPacket): 'ACCEPT' | 'DROP' | undefined {
  for (const r of rules) {
    if (r.source && !matchesAddress(r.source, packet.source)) continue;
    if (r.destination && !matchesAddress(r.destination, packet.destination)) continue;
    if (r.state && !r.state.split(',').includes(packet.state)) continue;
    return r.action;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Local mode: guests of other namespaces' bridges may answer there, never open.

/** A local pod that joined other namespaces' networks (`spec.network.allowFrom`). */
export interface GuestPod {
  /** Its task id: what the rules' comments name. */
  readonly task: string;
  /** All its addresses: on its own namespace's network and on each network it is a guest on. */
  readonly addresses: readonly string[];
  /** The subnets of the networks it is a guest on. */
  readonly guestSubnets: readonly string[];
}

/**
 * No NEW connection from any address of a guest pod to a network it is a guest on. Every address, not
 * just its guest one: a process may bind its home address and still leave through the guest interface.
 * Sorted, so the same pods give the same rules (and no rewrite) whatever order they were listed in.
 */
export function guestRules(pods: readonly GuestPod[]): FilterRule[] {
  const rules: FilterRule[] = [];
  for (const pod of [...pods].sort((a, b) => a.task.localeCompare(b.task))) {
    for (const subnet of [...new Set(pod.guestSubnets)].sort()) {
      for (const address of [...new Set(pod.addresses)].sort()) {
        rules.push({ source: address, destination: subnet, state: 'NEW', action: 'DROP', comment: `skiff: ${pod.task} is a guest here, may answer, not open` });
      }
    }
  }
  return rules;
}

// ---------------------------------------------------------------------------------------------
// AWS: namespace blocks inside each host's subnet, one slot per namespace cluster-wide.

/** How the cluster cuts host subnets into namespace blocks; carried by each host document (`HostNetwork.blockPrefix` with its subnet and cluster CIDR). */
export interface NamespaceAddressing {
  readonly clusterCidr: string;
  /** The prefix of every host's subnet. */
  readonly hostPrefix: number;
  /** The prefix of one namespace's block inside a host's subnet (longer than `hostPrefix`). */
  readonly blockPrefix: number;
}

function checkAddressing(a: NamespaceAddressing): { cluster: number; clusterPrefix: number } {
  const cluster = parseCidr(a.clusterCidr, 'clusterCidr');
  if (!(a.hostPrefix > cluster.prefix && a.blockPrefix > a.hostPrefix && a.blockPrefix <= 30)) {
    throw new ValidationError([
      {
        path: 'isolation.blockPrefix',
        message: `namespace blocks /${a.blockPrefix} must be inside host subnets /${a.hostPrefix}, inside the cluster CIDR ${a.clusterCidr}, and hold a container (/30 at most)`,
      },
    ]);
  }
  return { cluster: cluster.address, clusterPrefix: cluster.prefix };
}

/** How many namespace slots a host subnet holds: each namespace on a host needs one. */
export function slotCount(a: NamespaceAddressing): number {
  checkAddressing(a);
  return 2 ** (a.blockPrefix - a.hostPrefix);
}

function checkSlot(a: NamespaceAddressing, slot: number): void {
  const count = slotCount(a);
  if (!Number.isInteger(slot) || slot < 0 || slot >= count) {
    throw new ValidationError([
      { path: 'isolation.slots', message: `slot ${slot} is outside 0-${count - 1} (${count} blocks of /${a.blockPrefix} per /${a.hostPrefix} host subnet)` },
    ]);
  }
}

/** The block of a namespace slot inside one host's subnet: the Docker network its pods join on that host. */
export function namespaceBlock(a: NamespaceAddressing, hostSubnet: string, slot: number): string {
  checkSlot(a, slot);
  const host = parseCidr(hostSubnet, 'subnet');
  if (host.prefix !== a.hostPrefix) throw new ValidationError([{ path: 'subnet', message: `${hostSubnet} is not a /${a.hostPrefix} host subnet` }]);
  return `${formatIpv4(host.address + slot * 2 ** (32 - a.blockPrefix))}/${a.blockPrefix}`;
}

/**
 * Every address of a namespace slot on every host, as one address/mask pair: the cluster's prefix
 * bits and the slot bits must match, the host bits (between them) are free. iptables and the kernel
 * take such a non-contiguous mask as they take a prefix: `(ip & mask) === address`.
 * 10.200.0.0/16, hosts /24, blocks /27, slot 5: `10.200.0.160/255.255.0.224`.
 */
export function namespaceSources(a: NamespaceAddressing, slot: number): string {
  const { cluster, clusterPrefix } = checkAddressing(a);
  checkSlot(a, slot);
  const slotMask = prefixMask(a.blockPrefix) - prefixMask(a.hostPrefix);
  const mask = (prefixMask(clusterPrefix) | slotMask) >>> 0;
  return `${formatIpv4((cluster | (slot * 2 ** (32 - a.blockPrefix))) >>> 0)}/${formatIpv4(mask)}`;
}

/**
 * What a host document carries per task for its rules on AWS (`HostDocumentTask.isolation`):
 * slot numbers, never names, so a task's share is at most `ISOLATION_TASK_BYTES` and counted with the
 * task's bytes at placement (core/document-size.ts): the document grows with the host's tasks, never
 * with the cluster's hosts or namespaces.
 */
export interface TaskIsolation {
  /** The slot of the task's namespace. */
  readonly slot: number;
  /** The slots of the namespaces its service lets in (`spec.network.allowFrom`, without its own). */
  readonly allowSlots: readonly number[];
}

/**
 * The most one task's `isolation` adds to its JSON in the document: `,"isolation":{"slot":N,"allowSlots":[...]}`
 * with 16 slots of up to 5 digits (a /16 host subnet in /32 blocks has 65,536 slots). Checked by a test.
 */
export const ISOLATION_TASK_BYTES = 160;

/** A replica on this host, as the rules need it. */
export interface HostPod extends TaskIsolation {
  readonly task: string;
  /** Its address, in its namespace's block on this host; absent while it does not run (its block is open to its namespace all the same). */
  readonly address?: string;
}

/**
 * The chain of one AWS host. For traffic to this host's containers (its subnet):
 *
 * 1. replies (ESTABLISHED, RELATED) pass: a connection exists only because its first packet passed;
 * 2. each namespace block on this host accepts its own namespace's sources from the whole cluster;
 * 3. each replica accepts the sources of the namespaces its service lets in;
 * 4. anything else from the cluster CIDR (another namespace's container) is dropped.
 *
 * Traffic from outside the cluster CIDR (the load balancer, the host itself, the VPC) is left to
 * Docker and the security group. The rules grow with the host's namespaces and its replicas' allows,
 * never with the number of hosts.
 */
export function hostRules(a: NamespaceAddressing, hostSubnet: string, pods: readonly HostPod[]): FilterRule[] {
  const rules: FilterRule[] = [{ destination: hostSubnet, state: 'RELATED,ESTABLISHED', action: 'ACCEPT', comment: 'skiff: replies pass' }];
  for (const slot of [...new Set(pods.map((p) => p.slot))].sort((x, y) => x - y)) {
    rules.push({
      source: namespaceSources(a, slot),
      destination: namespaceBlock(a, hostSubnet, slot),
      action: 'ACCEPT',
      comment: `skiff: slot ${slot} to its own block`,
    });
  }
  for (const pod of [...pods].sort((x, y) => x.task.localeCompare(y.task))) {
    if (pod.address === undefined) continue;
    for (const slot of [...new Set(pod.allowSlots)].filter((n) => n !== pod.slot).sort((x, y) => x - y)) {
      rules.push({ source: namespaceSources(a, slot), destination: pod.address, action: 'ACCEPT', comment: `skiff: slot ${slot} let in to ${pod.task}` });
    }
  }
  rules.push({ source: a.clusterCidr, destination: hostSubnet, action: 'DROP', comment: 'skiff: other namespaces kept out' });
  return rules;
}

/**
 * Gives each namespace a slot, cluster-wide, keeping the ones already given (a slot names a namespace's
 * addresses on every host, so it never moves while the namespace has pods). New namespaces take the
 * lowest free slots, in name order. A namespace that finds none is listed in `full`: its pods cannot
 * be placed on an isolating cluster until a namespace is deleted (or the cluster uses smaller blocks).
 */
export function assignSlots(
  namespaces: readonly string[],
  given: Readonly<Record<string, number>>,
  count: number,
): { slots: Record<string, number>; full: string[] } {
  const wanted = new Set(namespaces);
  const slots: Record<string, number> = {};
  const taken = new Set<number>();
  for (const [ns, slot] of Object.entries(given)) {
    if (wanted.has(ns) && Number.isInteger(slot) && slot >= 0 && slot < count && !taken.has(slot)) {
      slots[ns] = slot;
      taken.add(slot);
    }
  }
  const full: string[] = [];
  let next = 0;
  for (const ns of [...wanted].sort()) {
    if (slots[ns] !== undefined) continue;
    while (taken.has(next)) next++;
    if (next >= count) full.push(ns);
    else {
      slots[ns] = next;
      taken.add(next);
    }
  }
  return { slots, full };
}

// ---------------------------------------------------------------------------------------------
// The host document: the control plane writes slots into it, the agent reads its rules out of it.

/**
 * The control plane's side: a task's `isolation` in its host's document, from the cluster's slots.
 * Throws naming the namespace when the task's own has no slot (`assignSlots` listed it as full). An
 * allowed namespace without a slot is left out: it has no pods anywhere, so there is nothing to let in
 * (when it gets a slot, the task's entry changes and its document is published again).
 */
export function taskIsolation(task: Pick<HostDocumentTask, 'namespace' | 'pod'>, slots: Readonly<Record<string, number>>): TaskIsolation {
  const slot = slots[task.namespace];
  if (slot === undefined)
    throw new ValidationError([{ path: 'namespace', message: `namespace ${task.namespace} has no address block slot: every slot of the cluster is taken` }]);
  const allowSlots = allowedNamespaces(task.namespace, task.pod.network)
    .map((ns) => slots[ns])
    .filter((n): n is number => n !== undefined);
  return { slot, allowSlots };
}

/** The addressing a host document describes, when it isolates namespaces. */
export function documentAddressing(network: HostNetwork | undefined): NamespaceAddressing | undefined {
  if (!network || network.blockPrefix === undefined) return undefined;
  return { clusterCidr: network.clusterCidr, hostPrefix: parseCidr(network.subnet, 'network.subnet').prefix, blockPrefix: network.blockPrefix };
}

/** The agent's side: the blocks (one Docker bridge each) its document's tasks need, by slot. */
export function documentBlocks(network: HostNetwork, tasks: readonly HostDocumentTask[]): Map<number, string> {
  const a = documentAddressing(network);
  const blocks = new Map<number, string>();
  if (!a) return blocks;
  for (const t of tasks) if (t.isolation && !blocks.has(t.isolation.slot)) blocks.set(t.isolation.slot, namespaceBlock(a, network.subnet, t.isolation.slot));
  return new Map([...blocks].sort(([x], [y]) => x - y));
}

/**
 * The agent's side: the host's chain from its document and the addresses its replicas have. A task
 * without `isolation` in an isolating document is refused by name (the control plane writes both or
 * neither); a task with no address yet (not started) opens its namespace's block, and gets its
 * per-replica allows once it has one.
 */
export function documentRules(network: HostNetwork, tasks: readonly HostDocumentTask[], addressOf: (taskId: string) => string | undefined): FilterRule[] {
  const a = documentAddressing(network);
  if (!a) return [];
  const pods: HostPod[] = [];
  for (const t of tasks) {
    if (!t.isolation)
      throw new ValidationError([{ path: `tasks.${t.id}.isolation`, message: `task ${t.id} has no isolation slots in a document that isolates namespaces` }]);
    const address = addressOf(t.id);
    pods.push({ task: t.id, ...t.isolation, ...(address !== undefined ? { address } : {}) });
  }
  return hostRules(a, network.subnet, pods);
}
