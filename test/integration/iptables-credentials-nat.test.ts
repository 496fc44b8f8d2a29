/**
 * The iptables adapter of the credentials NAT rules against the real iptables, inside a network
 * namespace of its own (`ip netns add`): the host's nat table is never touched. Needs root and
 * iptables (CI runs as root); elsewhere only the missing-iptables case runs.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CredentialsRoutes, removeCredentialRoutes } from '../../agent/credentials-routes.ts';
import { IptablesCredentialsNat } from '../../agent/iptables-credentials-nat.ts';
import { IptablesError } from '../../agent/iptables.ts';
import { credentialsChainName } from '../../core/credentials-routes.ts';

const ns = `skiff-cred-${process.pid}`;
const dir = mkdtempSync(join(tmpdir(), 'skiff-iptables-'));
const wrapper = join(dir, 'iptables');
const inNs = (...args: string[]) => execFileSync('ip', ['netns', 'exec', ns, 'iptables', ...args], { encoding: 'utf8' });

/** Makes the test's network namespace: false without root, `ip`, iptables, or the right to make one (a container without CAP_SYS_ADMIN). */
function usable(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync('iptables', ['--version'], { stdio: 'ignore' });
    execFileSync('ip', ['netns', 'add', ns], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const root = usable();

beforeAll(() => {
  if (!root) return;
  writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec '${ns}' iptables "$@"\n`);
  chmodSync(wrapper, 0o755);
});

afterAll(() => {
  if (root) execFileSync('ip', ['netns', 'delete', ns]);
  rmSync(dir, { recursive: true, force: true });
});

describe('IptablesCredentialsNat', () => {
  it.skipIf(!root)('makes the chain and one jump however often asked, reads its rules back, and removes them', async () => {
    const nat = new IptablesCredentialsNat(wrapper);
    const routes = new CredentialsRoutes({ nat, cluster: 'dev', host: 'host-1', log: () => {} });
    const chain = credentialsChainName('dev', 'host-1');
    const pod = {
      task: 'web-1-aaaaa',
      addresses: [
        { bridge: 'br-0123456789ab', ip: '172.18.0.5' },
        { bridge: 'br-ba9876543210', ip: '172.19.0.3' },
      ],
      listener: { address: '172.18.0.1', port: 40123 },
    };
    expect(await routes.route(pod)).toBe(true);
    await nat.ensureChain(chain, 'skiff-credentials:dev:host-1');
    const prerouting = inNs('-t', 'nat', '-S', 'PREROUTING');
    // iptables-nft quotes every comment, iptables-legacy none without a space.
    expect(prerouting.split('\n').filter((l) => l.includes(`-j ${chain}`))).toEqual([
      expect.stringMatching(
        new RegExp(`^-A PREROUTING -d 169\\.254\\.170\\.2/32 -p tcp -m tcp --dport 80 -m comment --comment "?skiff-credentials:dev:host-1"? -j ${chain}$`),
      ),
    ]);
    expect(await nat.routes(chain)).toEqual([
      { task: 'web-1-aaaaa', bridge: 'br-0123456789ab', source: '172.18.0.5', to: '172.18.0.1:40123' },
      { task: 'web-1-aaaaa', bridge: 'br-ba9876543210', source: '172.19.0.3', to: '172.18.0.1:40123' },
    ]);
    // A restarted agent adopts the rules; the task gone, they go.
    const restarted = new CredentialsRoutes({ nat, cluster: 'dev', host: 'host-1', log: () => {} });
    await restarted.sync(new Set(['web-1-aaaaa']));
    expect(await nat.routes(chain)).toHaveLength(2);
    await restarted.sync(new Set());
    expect(await nat.routes(chain)).toEqual([]);
    expect(await removeCredentialRoutes(nat, 'dev')).toEqual([chain]);
    expect(inNs('-t', 'nat', '-S')).not.toContain('SKIFF-CRED');
    expect(await nat.routes(chain)).toEqual([]);
  });

  it('says iptables cannot be used where it is missing', async () => {
    const err = await new IptablesCredentialsNat(join(dir, 'no-such-iptables')).ensureChain('SKIFF-CRED-00000000', 'x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IptablesError);
    expect((err as IptablesError).unavailable).toBe(true);
    expect((err as Error).message).toMatch(/no-such-iptables -w 5 -t nat -N SKIFF-CRED-00000000 failed: .*no-such-iptables is not installed \(.*ENOENT/);
  });
});
