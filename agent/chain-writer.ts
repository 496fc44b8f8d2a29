/**
 * How the agent keeps its packet filter chain (agent/packet-filter.ts) holding the rules it wants: the
 * one discipline behind the namespace isolation of local guests (agent/guest-isolation.ts) and of AWS
 * hosts (agent/host-isolation.ts), which differ only in how they derive their rules.
 *
 * - `write` applies rules when they changed, and again at least every `recheckMs` when asked to
 *   re-check (a chain flushed behind the agent's back is repaired);
 * - `clear` removes the chain: the first time of a run quietly (an agent without iptables that has no
 *   rules has nothing to say), which also clears a chain an earlier run left;
 * - `guard` runs a round: a failure is logged once per distinct error and the next round tries again;
 *   iptables unavailable here (`IptablesError.unavailable`) is said once and stops every later round.
 */
import type { FilterRule } from '../core/packet-filter.ts';
import { IptablesError } from './iptables.ts';
import type { PacketFilter } from './packet-filter.ts';

export interface ChainWriterDeps {
  readonly filter: PacketFilter;
  readonly log: (level: 'info' | 'warn' | 'error', message: string, data?: Record<string, unknown>) => void;
  readonly now: () => number;
  /** Rules applied less than this long ago are not written again unless they changed. @default 60_000 */
  readonly recheckMs?: number;
  /** What the host goes without when the rules cannot be written at all, for the warning that says so. */
  readonly unavailableMeans: string;
}

export class ChainWriter {
  private applied: string | undefined;
  /** Whether this agent's chain is there: undefined until the first write of this run. */
  private written: boolean | undefined;
  private appliedAt = 0;
  private warned: string | undefined;
  private stopped = false;

  constructor(private readonly deps: ChainWriterDeps) {}

  /** True once iptables was found unavailable here: nothing is written any more. */
  get unavailable(): boolean {
    return this.stopped;
  }

  /** Runs one round of work that writes the chain; never throws (see the module's comment). */
  async guard(work: () => Promise<void>): Promise<void> {
    if (this.stopped) return;
    try {
      await work();
    } catch (err) {
      this.failed(err);
    }
  }

  /** Makes the chain hold `rules`: written when they changed, or when `recheck` and `recheckMs` passed since the last write. Throws. */
  async write(rules: readonly FilterRule[], recheck: boolean): Promise<void> {
    const key = JSON.stringify(rules);
    if (key === this.applied && !(recheck && this.deps.now() - this.appliedAt >= (this.deps.recheckMs ?? 60_000))) return;
    await this.deps.filter.apply(rules);
    this.written = true;
    if (this.warned !== undefined) this.deps.log('info', 'namespace isolation rules written again', { rules: rules.length });
    this.applied = key;
    this.appliedAt = this.deps.now();
    this.warned = undefined;
  }

  /** No rules wanted: no chain. Throws, except the first time of a run. */
  async clear(): Promise<void> {
    if (this.written === undefined) await this.deps.filter.remove().catch(() => undefined);
    else if (this.written) await this.deps.filter.remove();
    this.written = false;
    this.applied = undefined;
  }

  private failed(err: unknown): void {
    const message = (err as Error).message;
    if (err instanceof IptablesError && err.unavailable) {
      this.stopped = true;
      this.deps.log('warn', `namespace isolation rules cannot be written: ${message}. ${this.deps.unavailableMeans}`);
      return;
    }
    // Once per distinct failure: the next round tries again.
    if (message !== this.warned) this.deps.log('warn', 'writing namespace isolation rules failed; retrying next round', { error: message });
    this.warned = message;
    this.applied = undefined;
  }
}
