/**
 * Registering a host from its agent's claim: pure. The agent only claims (its report carries a
 * `HostClaim`); the control plane decides what goes into the host record, because a host role may
 * write anything in its own reports but nothing of its record (docs/security.md). Kubernetes'
 * NodeRestriction is the model: a node may say what it is, within what the cluster allows.
 *
 * - Capacity: the claim, capped dimension by dimension by the machine's (on EC2 its instance
 *   type's vCPUs and memory): a host claiming 1e12 CPU gets its instance type's, not every task.
 * - Address: refused when the catalog knows the machine's and the claim names another (on EC2 the
 *   instance's private IP): DNS and the load balancer would send traffic wherever a host said.
 * - State, version, allocations: never the claim's. A new record starts ready with nothing; a
 *   refreshed one keeps its state (a fenced host stays down).
 */
import { capacityIssue } from './items.ts';
import { jsonEqual } from './json.ts';
import type { Host, HostClaim, Resources } from './types.ts';

/** What the control plane knows of a machine (ports/machines.ts). */
export interface MachineFacts {
  /** The most the machine has: its instance type's vCPUs (millicores) and memory (bytes) on EC2. */
  readonly maxCapacity?: Resources;
  /** The machine's own address (the instance's primary private IPv4 on EC2), when known. */
  readonly address?: string;
  /** Where the bound comes from, for messages: `instance type t4g.small`, `the local host size`. */
  readonly source?: string;
}

export type MachineVerdict = { readonly known: true; readonly facts: MachineFacts } | { readonly known: false; readonly reason: string };

export type HostIdentity = Pick<Host, 'id' | 'address' | 'capacity' | 'labels'>;

export type RegistrationPlan =
  /** The record already says what the claim, bounded, says: nothing to write. */
  | { readonly kind: 'unchanged' }
  /** Create the record (ready, no allocations) or refresh its identity; `capped` says what was cut. */
  | { readonly kind: 'register'; readonly identity: HostIdentity; readonly capped?: string }
  /** The claim cannot be taken: the record, if any, is left as it is. */
  | { readonly kind: 'refuse'; readonly reason: string };

export function planRegistration(hostId: string, claim: HostClaim, record: Host | undefined, verdict: MachineVerdict): RegistrationPlan {
  if (!verdict.known) return { kind: 'refuse', reason: verdict.reason };
  const { facts } = verdict;
  if (facts.address !== undefined && claim.address !== facts.address) {
    return { kind: 'refuse', reason: `claims address ${claim.address}, but its machine's is ${facts.address}` };
  }
  const max = facts.maxCapacity;
  const capacity: Resources = {
    cpu: Math.floor(max ? Math.min(claim.capacity.cpu, max.cpu) : claim.capacity.cpu),
    memory: Math.floor(max ? Math.min(claim.capacity.memory, max.memory) : claim.capacity.memory),
  };
  const issue = capacityIssue(capacity);
  if (issue) return { kind: 'refuse', reason: issue };
  const cut = (['cpu', 'memory'] as const).filter((d) => capacity[d] < Math.floor(claim.capacity[d]));
  const capped =
    cut.length > 0 && max
      ? `claimed ${cut.map((d) => `${d} ${claim.capacity[d]}`).join(', ')}; capped at ${cut.map((d) => `${d} ${max[d]}`).join(', ')}, ${facts.source ?? "the machine's"}`
      : undefined;
  const identity: HostIdentity = { id: hostId, address: claim.address, capacity, labels: { ...claim.labels } };
  if (record && record.address === identity.address && jsonEqual(record.capacity, capacity) && jsonEqual(record.labels, identity.labels)) {
    return { kind: 'unchanged' };
  }
  return { kind: 'register', identity, ...(capped ? { capped } : {}) };
}
