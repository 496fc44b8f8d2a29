/**
 * The host's NAT rules that bring 169.254.170.2:80 to the agent's credentials endpoint
 * (core/credentials-routes.ts decides which). One chain per agent, jumped to from nat PREROUTING for
 * that address and port. Adapters: iptables (agent/iptables-credentials-nat.ts) and in memory
 * (adapters/memory/credentials-nat.ts). Every method is idempotent.
 */
import type { CredentialRoute } from '../core/credentials-routes.ts';

export interface CredentialsNat {
  /**
   * Makes `chain` exist and the jump to it from PREROUTING (`-d 169.254.170.2/32 -p tcp --dport 80`,
   * commented `comment`) exist once; keeps the chain's rules. Fails when rules cannot be applied at all
   * (no iptables, not root): the error says so.
   */
  ensureChain(chain: string, comment: string): Promise<void>;
  /** The chain's rules; [] when it does not exist. */
  routes(chain: string): Promise<CredentialRoute[]>;
  add(chain: string, route: CredentialRoute): Promise<void>;
  /** Deletes one rule; an absent one is no error. */
  remove(chain: string, route: CredentialRoute): Promise<void>;
  /** Deletes the jumps whose comment `select` picks, and their chains with their rules. Returns the chains removed. */
  removeChains(select: (comment: string) => boolean): Promise<string[]>;
}
