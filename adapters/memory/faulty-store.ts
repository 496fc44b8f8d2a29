/**
 * Fault injection for chaos tests: wraps any `Store` (the in-memory one, or DynamoDB's) and makes
 * chosen calls fail, lose their reply, vanish, or meet a concurrent writer at an exact point.
 *
 *   const { store, faults } = withFaults(new MemoryStore());
 *   faults.failNext('putTask');                         // throws a retryable UnavailableError, nothing written
 *   faults.loseReply('updateAllocations');              // written, then throws: the caller cannot tell
 *   faults.dropNext('setPublished');                    // resolves as if written, nothing written (lost write)
 *   faults.beforeNext('updateAllocations', () => store.setHostState('h1', 'down', now)); // a rival write first
 *   faults.interleave('seed-1');                        // concurrent callers interleave as the seed says
 *   ...run the use case on `store`...
 *   expect(faults.unfired()).toEqual([]);               // every fault met its call
 *
 * Each rule fires once unless `times` says otherwise, and only on calls whose arguments pass
 * `when`. The `before` hooks of a call run first; then the first matching fail/lose/drop rule, if
 * any, applies. A hook that writes through the wrapper is a call like any other (recorded, and
 * subject to the rules left); one that writes through the inner store is not. Calls the store
 * makes to itself (DynamoStore.putService reads the service first) are not faulted: the faults
 * are at the port, where a use case meets them.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { UnavailableError } from '../../core/errors.ts';
import { rng } from '../../core/random.ts';
import type { Store } from '../../ports/index.ts';

/** Every method of the store. */
export type StoreMethod = keyof Store;
/** The methods whose promise carries no value: only they can be dropped (a dropped call has nothing to return). */
export type VoidStoreMethod = { [K in StoreMethod]: Awaited<ReturnType<Store[K]>> extends void ? K : never }[StoreMethod];

type Args<M extends StoreMethod> = Parameters<Store[M]>;

export interface FaultOptions<M extends StoreMethod> {
  /** Only calls whose arguments pass this (default: every call of the method). */
  readonly when?: (...args: Args<M>) => boolean;
  /** How many matching calls the rule affects. @default 1 */
  readonly times?: number;
}

/** A recorded call: the method and its arguments as the caller passed them. */
export interface StoreCall {
  readonly method: StoreMethod;
  readonly args: readonly unknown[];
}

type Kind = 'fail' | 'lose' | 'drop' | 'before';

interface Rule {
  readonly kind: Kind;
  readonly method: StoreMethod;
  readonly when?: (...args: never[]) => boolean;
  remaining: number;
  readonly error?: () => Error;
  readonly hook?: (...args: never[]) => unknown;
}

/** The rules of one wrapped store, and the calls it saw. */
export class Faults {
  private readonly rules: Rule[] = [];
  private turns: (() => number) | undefined;
  /** Every call made through the wrapper, in order (faulted ones included). */
  readonly calls: StoreCall[] = [];

  /** The call throws `error` (default: a retryable `UnavailableError`, as throttling is) and never reaches the store. */
  failNext<M extends StoreMethod>(method: M, options: FaultOptions<M> & { error?: Error } = {}): this {
    return this.add('fail', method, options, { error: () => options.error ?? new UnavailableError(`injected fault: ${method} failed`) });
  }

  /**
   * The call reaches the store (its write is done), then throws `error` (default: a retryable
   * `UnavailableError`): the reply was lost, as in a timeout after DynamoDB committed.
   */
  loseReply<M extends StoreMethod>(method: M, options: FaultOptions<M> & { error?: Error } = {}): this {
    return this.add('lose', method, options, { error: () => options.error ?? new UnavailableError(`injected fault: the reply of ${method} was lost`) });
  }

  /** The call resolves as if it succeeded, and nothing is written: a lost write. */
  dropNext<M extends VoidStoreMethod>(method: M, options: FaultOptions<M> = {}): this {
    return this.add('drop', method, options, {});
  }

  /**
   * Run `hook` just before the call reaches the store: a rival writer (another pass, the health
   * check, a host that vanishes) slipping in at a chosen point. The hook gets the call's arguments.
   */
  beforeNext<M extends StoreMethod>(method: M, hook: (...args: Args<M>) => unknown, options: FaultOptions<M> = {}): this {
    return this.add('before', method, options, { hook: hook as (...args: never[]) => unknown });
  }

  /**
   * Make concurrent callers interleave: every call waits a seeded random number (0 to `maxTurns`)
   * of event-loop turns before it reaches the store and again before its reply comes back, as
   * network latency would. The in-memory store answers in one microtask, so without this two use
   * cases run side by side meet only at a few points; with it, each seed is another schedule, the
   * same one every run (turns, not time: nothing here waits on a clock).
   */
  interleave(seed: string | number, maxTurns = 5): this {
    const random = rng(seed);
    this.turns = () => Math.floor(random() * (maxTurns + 1));
    return this;
  }

  /** The rules that have not fired as often as they were told to, described; empty when all did. */
  unfired(): string[] {
    return this.rules.filter((r) => r.remaining > 0).map((r) => `${r.kind} ${r.method} (${r.remaining} left)`);
  }

  /** Drop every rule that has not fired yet (the call log stays). */
  clear(): void {
    this.rules.length = 0;
  }

  /** @internal The wrapper's path for one call. */
  async run(method: StoreMethod, args: unknown[], call: () => Promise<unknown>): Promise<unknown> {
    this.calls.push({ method, args });
    await this.pause();
    for (const rule of this.take(method, args, (k) => k === 'before', Infinity)) await rule.hook!(...(args as never[]));
    const [rule] = this.take(method, args, (k) => k !== 'before', 1);
    if (rule?.kind === 'fail') throw rule.error!();
    if (rule?.kind === 'drop') return undefined;
    const result = await call();
    await this.pause();
    if (rule?.kind === 'lose') throw rule.error!();
    return result;
  }

  private async pause(): Promise<void> {
    for (let n = this.turns?.() ?? 0; n > 0; n--) await nextTurn();
  }

  private add<M extends StoreMethod>(kind: Kind, method: M, options: FaultOptions<M>, extra: Pick<Rule, 'error' | 'hook'>): this {
    const times = options.times ?? 1;
    if (!Number.isInteger(times) || times < 1) throw new RangeError(`times must be a positive integer, got ${times}`);
    this.rules.push({ kind, method, when: options.when as Rule['when'], remaining: times, ...extra });
    return this;
  }

  /** Up to `max` live rules of `method` whose kind passes `kinds` and whose `when` accepts the call; each loses one firing. */
  private take(method: StoreMethod, args: unknown[], kinds: (k: Kind) => boolean, max: number): Rule[] {
    const taken: Rule[] = [];
    for (const rule of this.rules) {
      if (taken.length >= max) break;
      if (rule.method !== method || rule.remaining <= 0 || !kinds(rule.kind)) continue;
      if (rule.when && !rule.when(...(args as never[]))) continue;
      rule.remaining--;
      taken.push(rule);
    }
    return taken;
  }
}

/**
 * `store` behaves as `inner` except where `faults` says otherwise. Hooks and tests that need the
 * unfaulted store use `inner` directly.
 */
export function withFaults(inner: Store): { store: Store; faults: Faults } {
  const faults = new Faults();
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function' || typeof prop !== 'string') return value;
      return (...args: unknown[]) => faults.run(prop as StoreMethod, args, () => (value as (...a: unknown[]) => Promise<unknown>).apply(target, args));
    },
  });
  return { store, faults };
}
