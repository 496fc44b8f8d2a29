/**
 * How the agent calls iptables and iptables-restore: one runner, one error, for the three adapters
 * that keep rules of their own in the host's tables (host-network.ts: the masquerade exception;
 * packet-filter.ts: namespace isolation; iptables-credentials-nat.ts: the credentials address).
 *
 * Every call waits for the xtables lock (`-w`) rather than failing while dockerd holds it, and is
 * bounded: a call that has not returned in IPTABLES_TIMEOUT_MS is killed and reported.
 */
import { execFile } from 'node:child_process';
import { SkiffError } from '../core/errors.ts';

/** One iptables call, which may wait for the xtables lock while dockerd programs its own rules. */
export const IPTABLES_TIMEOUT_MS = 10_000;

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command with optional stdin; resolves with its exit code and output, and never rejects. */
export type CommandRunner = (file: string, args: readonly string[], input?: string) => Promise<CommandResult>;

/** Exit codes the runner gives a command that did not run to its end: the shell's 127 and timeout(1)'s 124. */
export const NOT_FOUND = 127;
export const TIMED_OUT = 124;

/** The real runner: execFile with a timeout; a missing binary and a kill have exit codes of their own. */
export const runCommand: CommandRunner = (file, args, input) =>
  new Promise((resolve) => {
    const child = execFile(file, [...args], { timeout: IPTABLES_TIMEOUT_MS, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (!err) return resolve({ code: 0, stdout, stderr });
      if (err.killed) return resolve({ code: TIMED_OUT, stdout: stdout ?? '', stderr: `timed out after ${IPTABLES_TIMEOUT_MS} ms` });
      const code = typeof err.code === 'number' ? err.code : err.code === 'ENOENT' ? NOT_FOUND : 1;
      resolve({ code, stdout: stdout ?? '', stderr: (stderr ?? '') || err.message });
    });
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input ?? '');
  });

/**
 * An iptables call failed. `unavailable` when iptables cannot be used here at all (not installed, or
 * this user may not): retrying will not help. Otherwise (the lock busy too long, a chain missing) the
 * next round tries again.
 */
export class IptablesError extends SkiffError {
  override readonly retryable: boolean;
  constructor(
    message: string,
    readonly unavailable: boolean,
  ) {
    super(message);
    this.name = 'IptablesError';
    this.retryable = !unavailable;
  }
}

/** The error for a failed call: names the command, its exit code and what it printed. */
export function iptablesFailure(file: string, args: readonly string[], result: CommandResult): IptablesError {
  const command = `${file} ${args.join(' ')}`;
  const said = result.stderr.trim() || 'no output';
  if (result.code === NOT_FOUND || /\bENOENT\b/.test(result.stderr)) return new IptablesError(`${command} failed: ${file} is not installed (${said})`, true);
  // iptables-legacy and -nft both say "Permission denied (you must be root)", with exit code 4.
  if (/permission denied|must be root|operation not permitted/i.test(result.stderr)) {
    return new IptablesError(`${command} failed: this user may not use ${file} (${said}); the agent must run as root to write its rules`, true);
  }
  return new IptablesError(`${command} failed (exit code ${result.code}): ${said}`, false);
}

/** One executable (iptables or iptables-restore) with the arguments every call of an adapter starts with. */
export class IptablesCommand {
  /**
   * @param file the executable (SKIFF_IPTABLES; tests point it at a recording fake)
   * @param leading arguments before every call's own, e.g. `['-w', '-t', 'nat']`
   */
  constructor(
    readonly file: string,
    private readonly leading: readonly string[] = ['-w'],
    private readonly run: CommandRunner = runCommand,
  ) {}

  /** Runs it; a non-zero exit is returned, not thrown (a `-C` check, a `-D` of what may be gone). */
  attempt(args: readonly string[], input?: string): Promise<CommandResult> {
    return this.run(this.file, [...this.leading, ...args], input);
  }

  /** Runs it; a non-zero exit throws IptablesError naming the call. */
  async must(args: readonly string[], input?: string): Promise<CommandResult> {
    const result = await this.attempt(args, input);
    if (result.code !== 0) throw this.failure(args, result);
    return result;
  }

  failure(args: readonly string[], result: CommandResult): IptablesError {
    return iptablesFailure(this.file, [...this.leading, ...args], result);
  }
}

/** A token of an `iptables -S` line without the quotes iptables-nft puts around a comment (legacy prints none). */
export function unquote(token: string): string {
  return token.length >= 2 && token.startsWith('"') && token.endsWith('"') ? token.slice(1, -1) : token;
}
