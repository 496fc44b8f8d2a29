/**
 * Namespace isolation on an AWS host (issue 14; docs/network.md, "Isolation rules"): when the host
 * document cuts the subnet into namespace blocks (`network.blockPrefix`), this agent's packet filter
 * chain holds the document's rules (core/packet-filter.ts `documentRules`): replies pass, each block
 * takes its own namespace from anywhere in the cluster, each replica the namespaces its service lets
 * in, and the rest of the cluster CIDR is dropped.
 *
 * The same discipline as the local guests' rules (agent/guest-isolation.ts), through the same port:
 * `sync` every round with the document and the replicas' addresses; written in one transaction when
 * they change and again at least every `recheckMs` (a chain flushed behind the agent's back is
 * repaired); removed when the document no longer isolates; without iptables (or root), said once.
 * A document whose rules cannot be built (a task without its slot) keeps the rules in force and is
 * reported once: the control plane writes the slots of every task or of none.
 */
import { documentRules } from '../core/packet-filter.ts';
import type { HostDocumentTask, HostNetwork } from '../core/types.ts';
import { IptablesError } from './iptables.ts';
import type { PacketFilter } from './packet-filter.ts';

export interface HostIsolationDeps {
  readonly filter: PacketFilter;
  readonly log: (level: 'info' | 'warn' | 'error', message: string, data?: Record<string, unknown>) => void;
  readonly now: () => number;
  /** Rules applied less than this long ago are not written again unless they changed. @default 60_000 */
  readonly recheckMs?: number;
}

export class HostIsolation {
  private applied: string | undefined;
  /** Whether this agent's chain is there: undefined until the first write of this run. */
  private written: boolean | undefined;
  private appliedAt = 0;
  private warned: string | undefined;
  private unavailable = false;

  constructor(private readonly deps: HostIsolationDeps) {}

  /** Every round: the document's network and tasks, and the address of each replica that runs. Never throws. */
  async sync(network: HostNetwork | undefined, tasks: readonly HostDocumentTask[], addressOf: (taskId: string) => string | undefined): Promise<void> {
    if (this.unavailable) return;
    try {
      const isolating = network?.blockPrefix !== undefined;
      if (!isolating || !network) return await this.clear();
      const rules = documentRules(network, tasks, addressOf);
      const key = JSON.stringify(rules);
      if (key === this.applied && this.deps.now() - this.appliedAt < (this.deps.recheckMs ?? 60_000)) return;
      await this.deps.filter.apply(rules);
      if (this.warned !== undefined) this.deps.log('info', 'namespace isolation rules written again', { rules: rules.length });
      this.written = true;
      this.applied = key;
      this.appliedAt = this.deps.now();
      this.warned = undefined;
    } catch (err) {
      this.failed(err);
    }
  }

  /**
   * No isolation in the document: no chain. The first time quietly (an agent without iptables on a
   * cluster that does not isolate has nothing to say), which also clears a chain an earlier run left.
   */
  private async clear(): Promise<void> {
    if (this.written === undefined) await this.deps.filter.remove().catch(() => undefined);
    else if (this.written) await this.deps.filter.remove();
    this.written = false;
    this.applied = undefined;
  }

  private failed(err: unknown): void {
    const message = (err as Error).message;
    if (err instanceof IptablesError && err.unavailable) {
      this.unavailable = true;
      this.deps.log(
        'warn',
        `namespace isolation rules cannot be written: ${message}. Namespaces on this host are not isolated from each other (docs/security.md)`,
      );
      return;
    }
    // Once per distinct failure: the next round tries again.
    if (message !== this.warned) this.deps.log('warn', 'writing namespace isolation rules failed; retrying next round', { error: message });
    this.warned = message;
    this.applied = undefined;
  }
}
