/**
 * Namespace isolation on an AWS host (issue 14; docs/network.md, "Isolation rules"): when the host
 * document cuts the subnet into namespace blocks (`network.blockPrefix`), this agent's packet filter
 * chain holds the document's rules (core/packet-filter.ts `documentRules`): replies pass, each block
 * takes its own namespace from anywhere in the cluster, each replica the namespaces its service lets
 * in, and the rest of the cluster CIDR is dropped.
 *
 * The same discipline as the local guests' rules (agent/guest-isolation.ts), one ChainWriter (agent/chain-writer.ts):
 * `sync` every round with the document and the replicas' addresses; written in one transaction when
 * they change and again at least every `recheckMs` (a chain flushed behind the agent's back is
 * repaired); removed when the document no longer isolates; without iptables (or root), said once.
 * A document whose rules cannot be built (a task without its slot) keeps the rules in force and is
 * reported once: the control plane writes the slots of every task or of none.
 */
import { documentRules } from '../core/packet-filter.ts';
import type { HostDocumentTask, HostNetwork } from '../core/types.ts';
import { ChainWriter } from './chain-writer.ts';
import type { PacketFilter } from './packet-filter.ts';

export interface HostIsolationDeps {
  readonly filter: PacketFilter;
  readonly log: (level: 'info' | 'warn' | 'error', message: string, data?: Record<string, unknown>) => void;
  readonly now: () => number;
  /** Rules applied less than this long ago are not written again unless they changed. @default 60_000 */
  readonly recheckMs?: number;
}

export class HostIsolation {
  private readonly chain: ChainWriter;

  constructor(deps: HostIsolationDeps) {
    this.chain = new ChainWriter({ ...deps, unavailableMeans: 'Namespaces on this host are not isolated from each other (docs/security.md)' });
  }

  /** Every round: the document's network and tasks, and the address of each replica that runs. Never throws. */
  async sync(network: HostNetwork | undefined, tasks: readonly HostDocumentTask[], addressOf: (taskId: string) => string | undefined): Promise<void> {
    await this.chain.guard(async () => {
      // No isolation in the document: no chain (agent/chain-writer.ts clear).
      if (network?.blockPrefix === undefined) return await this.chain.clear();
      await this.chain.write(documentRules(network, tasks, addressOf), true);
    });
  }
}
