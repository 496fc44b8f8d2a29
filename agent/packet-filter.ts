/**
 * The port through which the agent writes its namespace isolation rules (core/packet-filter.ts), and
 * its adapters: iptables (one chain of this agent's own, jumped to from Docker's DOCKER-USER) and an
 * in-memory fake for tests. docs/network.md, "Isolation rules".
 *
 * Ours and nothing else: the chain's name is `SKIFF-<hash of cluster and host>`, the jump carries the
 * comment `skiff <cluster> <host>`; every write names one or the other, so rules that are not ours are
 * never listed, changed or removed. The chain's rules are replaced in one `iptables-restore --noflush`
 * transaction, so a change never shows half of them, and applying the same rules again (an agent
 * restarted) changes nothing.
 */
import { DOCKER_USER_CHAIN, type FilterRule, filterChainName, jumpComment, restoreInput } from '../core/packet-filter.ts';
import { type CommandRunner, IptablesCommand, runCommand } from './iptables.ts';

export interface PacketFilter {
  /**
   * Makes this agent's chain hold exactly these rules, and DOCKER-USER jump to it. Idempotent. Throws
   * IptablesError (agent/iptables.ts), `unavailable` when iptables cannot be used here at all.
   */
  apply(rules: readonly FilterRule[]): Promise<void>;
  /** Removes this agent's jump and chain; nothing else. A no-op when they are gone. */
  remove(): Promise<void>;
}

export interface IptablesFilterOptions {
  readonly cluster: string;
  readonly hostId: string;
  /** @default 'iptables' (SKIFF_IPTABLES) */
  readonly iptables?: string;
  /** @default the `-restore` sibling of `iptables` */
  readonly iptablesRestore?: string;
  readonly run?: CommandRunner;
}

export class IptablesFilter implements PacketFilter {
  readonly chain: string;
  private readonly comment: string;
  private readonly iptables: IptablesCommand;
  private readonly restore: IptablesCommand;

  constructor(options: IptablesFilterOptions) {
    this.chain = filterChainName(options.cluster, options.hostId);
    this.comment = jumpComment(options.cluster, options.hostId);
    const iptables = options.iptables ?? 'iptables';
    this.iptables = new IptablesCommand(iptables, ['-w'], options.run);
    this.restore = new IptablesCommand(options.iptablesRestore ?? `${iptables}-restore`, ['-w', '--noflush'], options.run);
  }

  async apply(rules: readonly FilterRule[]): Promise<void> {
    // The chain first (declaring it creates or flushes it, with its new rules, in one transaction), then the jump to it.
    await this.restore.must([], restoreInput(this.chain, rules));
    const jump = jumpArgs(this.chain, this.comment);
    const check = await this.iptables.attempt(['-C', DOCKER_USER_CHAIN, ...jump]);
    if (check.code === 0) return;
    // Not installed or not root is said now; any other failure ("no such rule") is the insert's to settle.
    const failed = this.iptables.failure(['-C', DOCKER_USER_CHAIN, ...jump], check);
    if (failed.unavailable) throw failed;
    // At the top: Docker appends `-j RETURN` to DOCKER-USER, and other agents' jumps only ever drop.
    await this.iptables.must(['-I', DOCKER_USER_CHAIN, '1', ...jump]);
  }

  async remove(): Promise<void> {
    await removeChain(this.iptables, this.chain, this.comment);
  }
}

const jumpArgs = (chain: string, comment: string): string[] => ['-m', 'comment', '--comment', comment, '-j', chain];

/** Deletes every jump to `chain` with this comment from DOCKER-USER, then the chain. Missing ones are fine. */
async function removeChain(iptables: IptablesCommand, chain: string, comment: string): Promise<void> {
  // A jump inserted twice (two agents of one host id racing) is deleted twice; bounded all the same.
  for (let i = 0; i < 8; i++) {
    const args = ['-D', DOCKER_USER_CHAIN, ...jumpArgs(chain, comment)];
    const deleted = await iptables.attempt(args);
    if (deleted.code === 0) continue;
    // Not there (any more): done. Not installed or not root: no rule of ours can be there either, but say so.
    const failed = iptables.failure(args, deleted);
    if (failed.unavailable) throw failed;
    break;
  }
  await iptables.attempt(['-F', chain]);
  await iptables.attempt(['-X', chain]);
}

/**
 * Removes the chains of every host of a cluster, found by their jumps' comments in DOCKER-USER:
 * what the local cluster does when it stops, with its containers and networks (the addresses in the
 * rules go back to Docker, and a later container on one of them must not inherit a rule). Does
 * nothing when iptables is missing or not allowed (then no agent could have written any).
 */
export async function removeClusterFilters(cluster: string, options: { iptables?: string; run?: CommandRunner } = {}): Promise<number> {
  const iptables = new IptablesCommand(options.iptables ?? 'iptables', ['-w'], options.run ?? runCommand);
  const listing = await iptables.attempt(['-S', DOCKER_USER_CHAIN]);
  if (listing.code !== 0) return 0;
  let removed = 0;
  for (const line of listing.stdout.split('\n')) {
    const m = /--comment "?skiff (\S+) ([^"\s]+)"? -j (SKIFF-[0-9a-f]{8})\b/.exec(line);
    if (!m || m[1] !== cluster) continue;
    await removeChain(iptables, m[3], jumpComment(m[1], m[2]));
    removed++;
  }
  return removed;
}

/** The in-memory fake: the rules last applied, and whether the chain is there. */
export class MemoryPacketFilter implements PacketFilter {
  rules: readonly FilterRule[] = [];
  installed = false;
  applies = 0;
  /** Set to make the next calls fail with it. */
  failWith: Error | undefined;

  async apply(rules: readonly FilterRule[]): Promise<void> {
    if (this.failWith) throw this.failWith;
    this.rules = [...rules];
    this.installed = true;
    this.applies++;
  }

  async remove(): Promise<void> {
    if (this.failWith) throw this.failWith;
    this.rules = [];
    this.installed = false;
  }
}
