/**
 * The agent's side of the link-local credentials address (core/credentials-routes.ts): keeps its own
 * chain of DNAT rules, one per address of each pod it gave `http://169.254.170.2/...`, in step with the
 * tasks it runs.
 *
 * - `enabled()` makes the chain and its jump once, and adopts the rules an earlier run of this agent
 *   left (their comments name the tasks): containers keep working across agent restarts. Where rules
 *   cannot be applied (no iptables, not root) it says so once, and the agent keeps giving containers
 *   the gateway URI (which `wget` and `curl` use; the SDKs do not).
 * - `route` adds a pod's rules before its first app container is created; `sync` drops the rules of
 *   tasks gone, and puts back any removed behind the agent's back (a flushed table). One change at a time.
 * - Nothing here removes the chain: the host leaving does (`local down`, scale-in: removeCredentialRoutes).
 */
import {
  credentialsChainName,
  credentialsJumpComment,
  diffCredentialRoutes,
  ownsJumpComment,
  planCredentialRoutes,
  type CredentialRoute,
  type PodRoutes,
} from '../core/credentials-routes.ts';
import type { CredentialsNat } from '../ports/credentials-nat.ts';

type Log = (level: 'info' | 'warn' | 'error', message: string, data?: Record<string, unknown>) => void;

export interface CredentialsRoutesOptions {
  readonly nat: CredentialsNat;
  readonly cluster: string;
  readonly host: string;
  readonly log: Log;
}

export class CredentialsRoutes {
  readonly chain: string;
  /** The routed pods, oldest first (a newer pod wins an address two claim: planCredentialRoutes). */
  private readonly pods = new Map<string, PodRoutes>();
  private ready: Promise<boolean> | undefined;
  /** One change of the chain at a time: a create and a sync may overlap. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: CredentialsRoutesOptions) {
    this.chain = credentialsChainName(options.cluster, options.host);
  }

  /** True when the rules can be applied here; probed once, and a refusal is logged once. */
  enabled(): Promise<boolean> {
    this.ready ??= this.probe();
    return this.ready;
  }

  /** The tasks routed now. */
  tasks(): string[] {
    return [...this.pods.keys()];
  }

  /**
   * Routes the pod of `pod.task` (its addresses now; a pod made again replaces its old ones) to its
   * listener. False when rules cannot be applied here; throws when applying them failed (the caller's
   * create fails and is retried).
   */
  async route(pod: PodRoutes): Promise<boolean> {
    if (!(await this.enabled())) return false;
    // A bad pod is refused here, alone: kept, it would fail every later change of the chain.
    planCredentialRoutes([pod]);
    this.pods.delete(pod.task);
    this.pods.set(pod.task, pod);
    await this.apply();
    return true;
  }

  /** Drops the routes of tasks not in `live`, and makes the chain hold exactly the rest. */
  async sync(live: ReadonlySet<string>): Promise<void> {
    if (!(await this.enabled())) return;
    for (const task of [...this.pods.keys()]) if (!live.has(task)) this.pods.delete(task);
    await this.apply();
  }

  private apply(): Promise<void> {
    const run = this.queue.then(async () => {
      const desired = planCredentialRoutes([...this.pods.values()]);
      const { remove, add } = diffCredentialRoutes(await this.options.nat.routes(this.chain), desired);
      // Removals first: a stale rule for an address a new pod took would match before the new one.
      for (const r of remove) await this.options.nat.remove(this.chain, r);
      // The chain again (cheap when present): a flushed table would fail every add.
      if (add.length > 0) await this.options.nat.ensureChain(this.chain, credentialsJumpComment(this.options.cluster, this.options.host));
      for (const r of add) await this.options.nat.add(this.chain, r);
      if (remove.length + add.length > 0)
        this.options.log('info', 'credentials routes updated', { chain: this.chain, added: add.length, removed: remove.length });
    });
    this.queue = run.catch(() => {});
    return run;
  }

  private async probe(): Promise<boolean> {
    try {
      await this.options.nat.ensureChain(this.chain, credentialsJumpComment(this.options.cluster, this.options.host));
      adopt(this.pods, await this.options.nat.routes(this.chain));
      return true;
    } catch (err) {
      this.options.log(
        'warn',
        'cannot apply the NAT rules that bring 169.254.170.2 to the credentials endpoint (needs root and iptables): containers get the pod network gateway URI, which wget and curl use but the AWS SDKs and CLI refuse over plain HTTP (docs/identity.md)',
        { error: (err as Error).message },
      );
      return false;
    }
  }
}

/** The pods of an earlier run's rules: their addresses and listener, by task. */
function adopt(pods: Map<string, PodRoutes>, rules: readonly CredentialRoute[]): void {
  for (const r of rules) {
    const [address, port] = splitHostPort(r.to);
    if (address === undefined) continue;
    const pod = pods.get(r.task);
    const next = { task: r.task, addresses: [...(pod?.addresses ?? []), { bridge: r.bridge, ip: r.source }], listener: { address, port } };
    try {
      planCredentialRoutes([next]);
    } catch {
      // Not a rule this code would write (edited by hand): left out, so the next change deletes it.
      continue;
    }
    pods.set(r.task, next);
  }
}

/**
 * Removes the chains of `cluster`'s agents (of its `host` alone, when given) with their jumps: the host
 * left (`skiff local down`, a local scale-in). Where iptables cannot be used there is nothing to remove.
 */
export async function removeCredentialRoutes(nat: CredentialsNat, cluster: string, host?: string): Promise<string[]> {
  try {
    return await nat.removeChains((comment) => ownsJumpComment(comment, cluster, host));
  } catch {
    return [];
  }
}

function splitHostPort(to: string): [string, number] | [undefined] {
  const m = /^(\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(to);
  return m ? [m[1], Number(m[2])] : [undefined];
}
