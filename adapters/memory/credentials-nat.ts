/** The credentials NAT rules in memory (ports/credentials-nat.ts): the fake the agent's tests use. */
import type { CredentialRoute } from '../../core/credentials-routes.ts';
import type { CredentialsNat } from '../../ports/credentials-nat.ts';

export class MemoryCredentialsNat implements CredentialsNat {
  /** Chains by name, with their jump's comment and their rules in order. */
  readonly chains = new Map<string, { comment: string; rules: CredentialRoute[] }>();
  /** Set to make every call fail as iptables does without root. */
  failWith: Error | undefined;
  /** Calls that changed something, in order (`add <chain> <task> <bridge> <source> <to>`...). */
  readonly changes: string[] = [];

  async ensureChain(chain: string, comment: string): Promise<void> {
    this.check();
    if (!this.chains.has(chain)) {
      this.chains.set(chain, { comment, rules: [] });
      this.changes.push(`chain ${chain}`);
    }
  }

  async routes(chain: string): Promise<CredentialRoute[]> {
    this.check();
    return [...(this.chains.get(chain)?.rules ?? [])];
  }

  async add(chain: string, route: CredentialRoute): Promise<void> {
    this.check();
    const c = this.chains.get(chain);
    if (!c) throw new Error(`iptables: No chain/target/match by that name (${chain})`);
    c.rules.push(route);
    this.changes.push(`add ${chain} ${describe(route)}`);
  }

  async remove(chain: string, route: CredentialRoute): Promise<void> {
    this.check();
    const c = this.chains.get(chain);
    const i = c?.rules.findIndex((r) => describe(r) === describe(route)) ?? -1;
    if (c && i >= 0) {
      c.rules.splice(i, 1);
      this.changes.push(`remove ${chain} ${describe(route)}`);
    }
  }

  async removeChains(select: (comment: string) => boolean): Promise<string[]> {
    this.check();
    const gone = [...this.chains].filter(([, c]) => select(c.comment)).map(([name]) => name);
    for (const name of gone) {
      this.chains.delete(name);
      this.changes.push(`drop ${name}`);
    }
    return gone;
  }

  private check(): void {
    if (this.failWith) throw this.failWith;
  }
}

function describe(r: CredentialRoute): string {
  return `${r.task} ${r.bridge} ${r.source} ${r.to}`;
}
