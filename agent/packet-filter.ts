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
import { execFile } from 'node:child_process';
import { SkiffError } from '../core/errors.ts';
import { DOCKER_USER_CHAIN, type FilterRule, filterChainName, jumpComment, restoreInput } from '../core/packet-filter.ts';

export interface PacketFilter {
  /** Makes this agent's chain hold exactly these rules, and DOCKER-USER jump to it. Idempotent. */
  apply(rules: readonly FilterRule[]): Promise<void>;
  /** Removes this agent's jump and chain; nothing else. A no-op when they are gone. */
  remove(): Promise<void>;
}

/** The packet filter cannot be written at all: no iptables, or not allowed to (not root). Retrying will not help. */
export class PacketFilterUnavailableError extends SkiffError {
  override readonly retryable = false;
  constructor(message: string, cause?: unknown) {
    super(message, { cause });
    this.name = 'PacketFilterUnavailableError';
  }
}

/** One iptables call failed (the lock was busy for too long, DOCKER-USER missing); the next round tries again. */
export class PacketFilterError extends SkiffError {
  override readonly retryable = true;
  constructor(message: string, cause?: unknown) {
    super(message, { cause });
    this.name = 'PacketFilterError';
  }
}

/** Runs a command with optional stdin; resolves with its exit code and output (never rejects on an exit code). */
export type CommandRunner = (file: string, args: readonly string[], input?: string) => Promise<{ code: number; stdout: string; stderr: string }>;

// One call may wait for the xtables lock (`-w`) while dockerd programs its own rules.
const TIMEOUT_MS = 10_000;

/** The real runner: execFile with a timeout; a missing binary or a kill is an exit code of its own (127, 124). */
export const runCommand: CommandRunner = (file, args, input) =>
  new Promise((resolve) => {
    const child = execFile(file, [...args], { timeout: TIMEOUT_MS, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (!err) return resolve({ code: 0, stdout, stderr });
      const code = typeof err.code === 'number' ? err.code : err.code === 'ENOENT' ? 127 : err.killed ? 124 : 1;
      resolve({ code, stdout: stdout ?? '', stderr: (stderr ?? '') || err.message });
    });
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input ?? '');
  });

export interface IptablesFilterOptions {
  readonly cluster: string;
  readonly hostId: string;
  /** @default 'iptables' (SKIFF_IPTABLES) */
  readonly iptables?: string;
  /** @default 'iptables-restore', or the `-restore` sibling of `iptables` when that is a path */
  readonly iptablesRestore?: string;
  readonly run?: CommandRunner;
}

export class IptablesFilter implements PacketFilter {
  readonly chain: string;
  private readonly comment: string;
  private readonly iptables: string;
  private readonly restore: string;
  private readonly run: CommandRunner;

  constructor(options: IptablesFilterOptions) {
    this.chain = filterChainName(options.cluster, options.hostId);
    this.comment = jumpComment(options.cluster, options.hostId);
    this.iptables = options.iptables ?? 'iptables';
    this.restore = options.iptablesRestore ?? `${this.iptables}-restore`;
    this.run = options.run ?? runCommand;
  }

  async apply(rules: readonly FilterRule[]): Promise<void> {
    // The chain first (declaring it creates or flushes it, with its new rules, in one transaction), then the jump to it.
    await this.call(this.restore, ['-w', '--noflush'], restoreInput(this.chain, rules));
    const jump = ['-m', 'comment', '--comment', this.comment, '-j', this.chain];
    const check = await this.run(this.iptables, ['-w', '-C', DOCKER_USER_CHAIN, ...jump]);
    if (check.code === 0) return;
    unavailable(this.iptables, check);
    // At the top: Docker appends `-j RETURN` to DOCKER-USER, and other agents' jumps only ever drop.
    await this.call(this.iptables, ['-w', '-I', DOCKER_USER_CHAIN, '1', ...jump]);
  }

  async remove(): Promise<void> {
    await removeChain(this.run, this.iptables, this.chain, this.comment);
  }

  private async call(file: string, args: readonly string[], input?: string): Promise<void> {
    const result = await this.run(file, args, input);
    if (result.code === 0) return;
    unavailable(file, result);
    throw new PacketFilterError(`${file} ${args.join(' ')} failed (exit code ${result.code}): ${result.stderr.trim() || 'no output'}`);
  }
}

/** Throws PacketFilterUnavailableError when a result says iptables is missing or not ours to use. */
function unavailable(file: string, result: { code: number; stderr: string }): void {
  if (result.code === 127 || /ENOENT|not found/i.test(result.stderr)) {
    throw new PacketFilterUnavailableError(`${file} is not installed (${result.stderr.trim()})`);
  }
  if (/permission denied|must be root|Operation not permitted/i.test(result.stderr)) {
    throw new PacketFilterUnavailableError(
      `${file} may not be used by this user (${result.stderr.trim()}): the agent must run as root to write packet filter rules`,
    );
  }
}

/** Deletes every jump to `chain` with this comment from DOCKER-USER, then the chain. Missing ones are fine. */
async function removeChain(run: CommandRunner, iptables: string, chain: string, comment: string): Promise<void> {
  const jump = ['-m', 'comment', '--comment', comment, '-j', chain];
  // A jump inserted twice (two agents of one host id racing) is deleted twice; bounded all the same.
  for (let i = 0; i < 8; i++) {
    const deleted = await run(iptables, ['-w', '-D', DOCKER_USER_CHAIN, ...jump]);
    if (deleted.code !== 0) {
      unavailable(iptables, deleted);
      break;
    }
  }
  await run(iptables, ['-w', '-F', chain]);
  await run(iptables, ['-w', '-X', chain]);
}

/**
 * Removes the chains of every host of a cluster, found by their jumps' comments in DOCKER-USER:
 * what the local cluster does when it stops, with its containers and networks (the addresses in the
 * rules go back to Docker, and a later container on one of them must not inherit a rule). Does
 * nothing when iptables is missing or not allowed (then no agent could have written any).
 */
export async function removeClusterFilters(cluster: string, options: { iptables?: string; run?: CommandRunner } = {}): Promise<number> {
  const run = options.run ?? runCommand;
  const iptables = options.iptables ?? 'iptables';
  const listing = await run(iptables, ['-w', '-S', DOCKER_USER_CHAIN]);
  if (listing.code !== 0) return 0;
  let removed = 0;
  for (const line of listing.stdout.split('\n')) {
    const m = /--comment "?skiff (\S+) ([^"\s]+)"? -j (SKIFF-[0-9a-f]{8})\b/.exec(line);
    if (!m || m[1] !== cluster) continue;
    await removeChain(run, iptables, m[3], jumpComment(m[1], m[2]));
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
