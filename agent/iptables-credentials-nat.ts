/**
 * The credentials NAT rules in the host's iptables nat table (ports/credentials-nat.ts). A rule:
 *
 *   -A SKIFF-CRED-<hash> -s <pod ip>/32 -d 169.254.170.2/32 -i <bridge> -p tcp -m tcp --dport 80
 *      -m comment --comment skiff-task=<task> -j DNAT --to-destination <gateway>:<port>
 *
 * and the chain's jump, inserted at the top of PREROUTING (ahead of any other DNAT of that address a
 * machine may have, which our bridges' pods must not reach):
 *
 *   -A PREROUTING -d 169.254.170.2/32 -p tcp -m tcp --dport 80 -m comment --comment skiff-credentials:<cluster>:<host> -j SKIFF-CRED-<hash>
 *
 * DNAT to the gateway, an address of the host, needs no sysctl (ECS DNATs to 127.0.0.1, which needs
 * `route_localnet`). Comments hold no spaces; `-S` prints them quoted (iptables-nft) or not (legacy).
 */
import { LINK_LOCAL_CREDENTIALS_ADDRESS, LINK_LOCAL_CREDENTIALS_PORT, type CredentialRoute } from '../core/credentials-routes.ts';
import type { CredentialsNat } from '../ports/credentials-nat.ts';
import { type CommandRunner, IptablesCommand, unquote } from './iptables.ts';

/** Seconds iptables waits for the xtables lock (`-w 5`) instead of failing at once when dockerd holds it. */
const LOCK_WAIT_SECONDS = '5';

// What both the rules and the jump match: TCP to the credentials address and port. A rule names its bridge
// between the two, where `iptables -S` prints it, so that a rule reads back as it was written.
const TO_CREDENTIALS_ADDRESS = ['-d', `${LINK_LOCAL_CREDENTIALS_ADDRESS}/32`];
const TO_CREDENTIALS_PORT = ['-p', 'tcp', '-m', 'tcp', '--dport', String(LINK_LOCAL_CREDENTIALS_PORT)];

/** The iptables argv of one rule of the chain (without the `-t nat -A|-D <chain>` before it). */
export function routeRuleArgs(route: CredentialRoute): string[] {
  const source = ['-s', `${route.source}/32`];
  const comment = ['-m', 'comment', '--comment', `skiff-task=${route.task}`];
  return [...source, ...TO_CREDENTIALS_ADDRESS, '-i', route.bridge, ...TO_CREDENTIALS_PORT, ...comment, '-j', 'DNAT', '--to-destination', route.to];
}

/** The jump's argv (without `-t nat -I|-C|-D PREROUTING`). */
export function jumpArgs(chain: string, comment: string): string[] {
  return [...TO_CREDENTIALS_ADDRESS, ...TO_CREDENTIALS_PORT, '-m', 'comment', '--comment', comment, '-j', chain];
}

/** The rules of a `-S <chain>` listing that this adapter wrote; other lines are left out. */
export function parseRoutes(listing: string, chain: string): CredentialRoute[] {
  const out: CredentialRoute[] = [];
  for (const line of listing.split('\n')) {
    const t = line.trim().split(/\s+/).map(unquote);
    if (t[0] !== '-A' || t[1] !== chain) continue;
    const value = (flag: string) => {
      const i = t.indexOf(flag);
      return i >= 0 ? t[i + 1] : undefined;
    };
    const source = value('-s')?.replace(/\/32$/, '');
    const bridge = value('-i');
    const to = value('--to-destination');
    const task = value('--comment')?.replace(/^skiff-task=/, '');
    if (source && bridge && to && task && value('--comment')?.startsWith('skiff-task=')) out.push({ task, bridge, source, to });
  }
  return out;
}

/** The jumps of a `-S PREROUTING` listing to `SKIFF-CRED-` chains: each one's argv (after `-A PREROUTING`), chain and comment. */
export function parseJumps(listing: string): { args: string[]; chain: string; comment: string }[] {
  const out: { args: string[]; chain: string; comment: string }[] = [];
  for (const line of listing.split('\n')) {
    const t = line.trim().split(/\s+/).map(unquote);
    if (t[0] !== '-A' || t[1] !== 'PREROUTING') continue;
    const chain = t[t.indexOf('-j') + 1];
    const comment = t[t.indexOf('--comment') + 1];
    if (t.includes('-j') && chain?.startsWith('SKIFF-CRED-') && t.includes('--comment') && comment) out.push({ args: t.slice(2), chain, comment });
  }
  return out;
}

export class IptablesCredentialsNat implements CredentialsNat {
  private readonly iptables: IptablesCommand;

  /** @param iptables the executable (SKIFF_IPTABLES; tests point it at a recording fake). */
  constructor(iptables = 'iptables', run?: CommandRunner) {
    this.iptables = new IptablesCommand(iptables, ['-w', LOCK_WAIT_SECONDS, '-t', 'nat'], run);
  }

  async ensureChain(chain: string, comment: string): Promise<void> {
    // -N fails with "Chain already exists" (exit 1) when a previous run made it: its rules are kept.
    const made = await this.iptables.attempt(['-N', chain]);
    if (made.code !== 0 && !/already exists/i.test(made.stderr)) throw this.iptables.failure(['-N', chain], made);
    if ((await this.iptables.attempt(['-C', 'PREROUTING', ...jumpArgs(chain, comment)])).code === 0) return;
    await this.iptables.must(['-I', 'PREROUTING', '1', ...jumpArgs(chain, comment)]);
  }

  async routes(chain: string): Promise<CredentialRoute[]> {
    const listed = await this.iptables.attempt(['-S', chain]);
    if (listed.code !== 0) {
      // An absent chain: legacy says "No chain/target/match by that name", nft "... is incompatible": look.
      const all = await this.iptables.must(['-S']);
      if (!all.stdout.split('\n').some((line) => line.trim() === `-N ${chain}`)) return [];
      throw this.iptables.failure(['-S', chain], listed);
    }
    return parseRoutes(listed.stdout, chain);
  }

  async add(chain: string, route: CredentialRoute): Promise<void> {
    await this.iptables.must(['-A', chain, ...routeRuleArgs(route)]);
  }

  async remove(chain: string, route: CredentialRoute): Promise<void> {
    // Exit 1 "does a matching rule exist": gone already.
    const r = await this.iptables.attempt(['-D', chain, ...routeRuleArgs(route)]);
    if (r.code !== 0 && r.code !== 1) throw this.iptables.failure(['-D', chain], r);
  }

  async removeChains(select: (comment: string) => boolean): Promise<string[]> {
    const jumps = parseJumps((await this.iptables.must(['-S', 'PREROUTING'])).stdout).filter((j) => select(j.comment));
    const chains = [...new Set(jumps.map((j) => j.chain))];
    for (const j of jumps) await this.iptables.attempt(['-D', 'PREROUTING', ...j.args]);
    for (const chain of chains) {
      await this.iptables.attempt(['-F', chain]);
      await this.iptables.attempt(['-X', chain]);
    }
    return chains;
  }
}
