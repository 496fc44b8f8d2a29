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
import { execFile } from 'node:child_process';
import { LINK_LOCAL_CREDENTIALS_ADDRESS, LINK_LOCAL_CREDENTIALS_PORT, type CredentialRoute } from '../core/credentials-routes.ts';
import { SkiffError } from '../core/errors.ts';
import type { CredentialsNat } from '../ports/credentials-nat.ts';

// One iptables call, which may wait for the xtables lock (`-w`) while dockerd programs its rules.
const IPTABLES_TIMEOUT_MS = 10_000;
/** Seconds iptables waits for the xtables lock (`-w 5`) instead of failing at once when dockerd holds it. */
const LOCK_WAIT_SECONDS = '5';

/** An iptables call failed; `unavailable` when iptables cannot be used here at all (absent, or not root). */
export class IptablesError extends SkiffError {
  override readonly retryable = true;
  constructor(
    message: string,
    readonly unavailable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'IptablesError';
  }
}

/** The iptables argv of one rule of the chain (without the `-t nat -A|-D <chain>` before it). */
export function routeRuleArgs(route: CredentialRoute): string[] {
  return [
    '-s',
    `${route.source}/32`,
    '-d',
    `${LINK_LOCAL_CREDENTIALS_ADDRESS}/32`,
    '-i',
    route.bridge,
    '-p',
    'tcp',
    '-m',
    'tcp',
    '--dport',
    String(LINK_LOCAL_CREDENTIALS_PORT),
    '-m',
    'comment',
    '--comment',
    `skiff-task=${route.task}`,
    '-j',
    'DNAT',
    '--to-destination',
    route.to,
  ];
}

/** The jump's argv (without `-t nat -I|-C|-D PREROUTING`). */
export function jumpArgs(chain: string, comment: string): string[] {
  return [
    '-d',
    `${LINK_LOCAL_CREDENTIALS_ADDRESS}/32`,
    '-p',
    'tcp',
    '-m',
    'tcp',
    '--dport',
    String(LINK_LOCAL_CREDENTIALS_PORT),
    '-m',
    'comment',
    '--comment',
    comment,
    '-j',
    chain,
  ];
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
  /** @param iptables the executable (SKIFF_IPTABLES; tests point it at a recording fake). */
  constructor(private readonly iptables = 'iptables') {}

  async ensureChain(chain: string, comment: string): Promise<void> {
    // -N fails with "Chain already exists" (exit 1) when a previous run made it: its rules are kept.
    const made = await this.run(['-N', chain], true);
    if (made.code !== 0 && !/already exists/i.test(made.stderr)) throw this.failure(['-N', chain], made);
    if ((await this.run(['-C', 'PREROUTING', ...jumpArgs(chain, comment)], true)).code === 0) return;
    await this.run(['-I', 'PREROUTING', '1', ...jumpArgs(chain, comment)]);
  }

  async routes(chain: string): Promise<CredentialRoute[]> {
    const listed = await this.run(['-S', chain], true);
    if (listed.code !== 0) {
      // An absent chain: legacy says "No chain/target/match by that name", nft "... is incompatible": look.
      const all = await this.run(['-S']);
      if (!all.stdout.split('\n').some((line) => line.trim() === `-N ${chain}`)) return [];
      throw this.failure(['-S', chain], listed);
    }
    return parseRoutes(listed.stdout, chain);
  }

  async add(chain: string, route: CredentialRoute): Promise<void> {
    await this.run(['-A', chain, ...routeRuleArgs(route)]);
  }

  async remove(chain: string, route: CredentialRoute): Promise<void> {
    // Exit 1 "does a matching rule exist": gone already.
    const r = await this.run(['-D', chain, ...routeRuleArgs(route)], true);
    if (r.code !== 0 && r.code !== 1) throw this.failure(['-D', chain], r);
  }

  async removeChains(select: (comment: string) => boolean): Promise<string[]> {
    const jumps = parseJumps((await this.run(['-S', 'PREROUTING'])).stdout).filter((j) => select(j.comment));
    const chains = [...new Set(jumps.map((j) => j.chain))];
    for (const j of jumps) await this.run(['-D', 'PREROUTING', ...j.args], true);
    for (const chain of chains) {
      await this.run(['-F', chain], true);
      await this.run(['-X', chain], true);
    }
    return chains;
  }

  private failure(args: readonly string[], r: { code: number; stderr: string }): IptablesError {
    // Exit 4 with "Permission denied (you must be root)": iptables-legacy and -nft both say so.
    const unavailable = /permission denied|must be root|operation not permitted/i.test(r.stderr);
    return new IptablesError(`${this.iptables} -t nat ${args.join(' ')} failed (exit code ${r.code}): ${r.stderr.trim() || 'no output'}`, unavailable);
  }

  /** Runs `iptables -w 5 -t nat <args>`; a non-zero exit is an error unless `allowFailure` (then its code and stderr are returned). */
  private run(args: readonly string[], allowFailure = false): Promise<{ code: number; stdout: string; stderr: string }> {
    const argv = ['-w', LOCK_WAIT_SECONDS, '-t', 'nat', ...args];
    return new Promise((resolve, reject) => {
      execFile(this.iptables, argv, { timeout: IPTABLES_TIMEOUT_MS, encoding: 'utf8' }, (err, stdout, stderr) => {
        if (!err) return resolve({ code: 0, stdout, stderr });
        const code = typeof err.code === 'number' ? err.code : undefined;
        if (code === undefined) {
          // ENOENT (no iptables on this machine), EACCES, or the timeout.
          const why = err.killed ? `timed out after ${IPTABLES_TIMEOUT_MS} ms` : err.message;
          return reject(new IptablesError(`${this.iptables} -t nat ${args.join(' ')} failed: ${why}`, !err.killed, { cause: err }));
        }
        if (allowFailure) return resolve({ code, stdout, stderr });
        reject(this.failure(args, { code, stderr }));
      });
    });
  }
}

function unquote(token: string): string {
  return token.length >= 2 && token.startsWith('"') && token.endsWith('"') ? token.slice(1, -1) : token;
}
