/**
 * The link-local credentials address (docs/identity.md, "How a container reaches it"): which DNAT rules
 * for which pods (core/credentials-routes.ts), the agent's chain over the in-memory NAT port
 * (agent/credentials-routes.ts), the iptables argv and listings (agent/iptables-credentials-nat.ts), and
 * the URI a container is given (agent/workload-identity.ts).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryCredentialsNat } from '../../adapters/memory/credentials-nat.ts';
import { CredentialsEndpoint, TaskTokens } from '../../agent/credentials-endpoint.ts';
import { CredentialsRoutes, removeCredentialRoutes } from '../../agent/credentials-routes.ts';
import { jumpArgs, parseJumps, parseRoutes, routeRuleArgs } from '../../agent/iptables-credentials-nat.ts';
import { CREDENTIALS_URI_ENV, WorkloadIdentity } from '../../agent/workload-identity.ts';
import {
  credentialsChainName,
  credentialsJumpComment,
  diffCredentialRoutes,
  ownsJumpComment,
  planCredentialRoutes,
  type CredentialRoute,
  type PodRoutes,
} from '../../core/credentials-routes.ts';
import { ValidationError } from '../../core/errors.ts';
import type { HostDocumentTask } from '../../core/types.ts';

const pod = (task: string, ip: string, port = 40000, bridge = 'br-0123456789ab', more: PodRoutes['addresses'] = []): PodRoutes => ({
  task,
  addresses: [{ bridge, ip }, ...more],
  listener: { address: '172.18.0.1', port },
});
const route = (task: string, source: string, to = '172.18.0.1:40000', bridge = 'br-0123456789ab'): CredentialRoute => ({ task, bridge, source, to });

describe('planCredentialRoutes', () => {
  it("routes every address of every pod, on its own bridge, to its own host's listener, in a stable order", () => {
    expect(
      planCredentialRoutes([
        pod('web-1-bbbbb', '172.18.0.7', 40001),
        pod('api-1-aaaaa', '172.18.0.5', 40000, 'br-0123456789ab', [{ bridge: 'br-ba9876543210', ip: '172.19.0.3' }]),
      ]),
    ).toEqual([
      route('api-1-aaaaa', '172.18.0.5'),
      route('api-1-aaaaa', '172.19.0.3', '172.18.0.1:40000', 'br-ba9876543210'),
      route('web-1-bbbbb', '172.18.0.7', '172.18.0.1:40001'),
    ]);
  });

  it('gives an address two pods claim to the later one (a new pod that got a gone one’s address)', () => {
    expect(planCredentialRoutes([pod('old-1-aaaaa', '172.18.0.5'), pod('new-1-bbbbb', '172.18.0.5')])).toEqual([route('new-1-bbbbb', '172.18.0.5')]);
  });

  it('refuses a bad pod, naming every wrong field', () => {
    const bad: PodRoutes = { task: 'Web!', addresses: [{ bridge: 'a-bridge-name-too-long', ip: '172.18.0.300' }], listener: { address: 'gw', port: 0 } };
    expect(() => planCredentialRoutes([bad])).toThrow(ValidationError);
    expect(() => planCredentialRoutes([bad])).toThrow(
      /pods\[0\]\.task: "Web!" is not a task id; pods\[0\]\.listener\.address: "gw" is not an IPv4 address.*pods\[0\]\.listener\.port: must be an integer 1-65535, got 0; pods\[0\]\.addresses\[0\]\.bridge: "a-bridge-name-too-long" is not a network interface name; pods\[0\]\.addresses\[0\]\.ip: "172\.18\.0\.300" is not an IPv4 address/,
    );
  });
});

describe('diffCredentialRoutes', () => {
  it('deletes what is stale or repeated, adds what is missing, and leaves the rest', () => {
    const keep = route('web-1-aaaaa', '172.18.0.5');
    const stale = route('gone-1-aaaaa', '172.18.0.9');
    const moved = route('api-1-aaaaa', '172.18.0.6', '172.18.0.1:40001');
    expect(diffCredentialRoutes([keep, stale, keep, moved], [keep, route('api-1-aaaaa', '172.18.0.6', '172.18.0.1:40002')])).toEqual({
      remove: [stale, keep, moved],
      add: [route('api-1-aaaaa', '172.18.0.6', '172.18.0.1:40002')],
    });
    expect(diffCredentialRoutes([keep], [keep])).toEqual({ remove: [], add: [] });
  });
});

describe('the chain of an agent', () => {
  it('is named per cluster and host, within iptables’ 28 characters, and its jump comment names both', () => {
    const names = new Set(['host-1', 'host-2', 'host-10'].flatMap((h) => ['a', 'a-very-long-cluster-name-for-a-test'].map((c) => credentialsChainName(c, h))));
    expect(names.size).toBe(6);
    for (const n of names) expect(n).toMatch(/^SKIFF-CRED-[0-9a-f]{8}$/);
    expect(credentialsChainName('a', 'host-1')).toBe(credentialsChainName('a', 'host-1'));
    expect(ownsJumpComment(credentialsJumpComment('dev', 'host-1'), 'dev')).toBe(true);
    expect(ownsJumpComment(credentialsJumpComment('dev', 'host-1'), 'dev', 'host-1')).toBe(true);
    expect(ownsJumpComment(credentialsJumpComment('dev', 'host-10'), 'dev', 'host-1')).toBe(false);
    expect(ownsJumpComment(credentialsJumpComment('dev-2', 'host-1'), 'dev')).toBe(false);
  });
});

describe('CredentialsRoutes over the NAT port', () => {
  const quiet = () => {};

  it('sends each pod to its own host’s agent when two local hosts share a bridge', async () => {
    const nat = new MemoryCredentialsNat();
    const one = new CredentialsRoutes({ nat, cluster: 'dev', host: 'host-1', log: quiet });
    const two = new CredentialsRoutes({ nat, cluster: 'dev', host: 'host-2', log: quiet });
    expect(await one.route(pod('web-1-aaaaa', '172.18.0.5', 40001))).toBe(true);
    expect(await two.route(pod('web-2-bbbbb', '172.18.0.6', 40002))).toBe(true);
    expect(nat.chains.get(one.chain)).toEqual({ comment: 'skiff-credentials:dev:host-1', rules: [route('web-1-aaaaa', '172.18.0.5', '172.18.0.1:40001')] });
    expect(nat.chains.get(two.chain)).toEqual({ comment: 'skiff-credentials:dev:host-2', rules: [route('web-2-bbbbb', '172.18.0.6', '172.18.0.1:40002')] });
  });

  it('drops the rules of tasks gone, replaces a pod made again, and changes nothing when nothing changed', async () => {
    const nat = new MemoryCredentialsNat();
    const routes = new CredentialsRoutes({ nat, cluster: 'dev', host: 'host-1', log: quiet });
    await routes.route(pod('web-1-aaaaa', '172.18.0.5'));
    await routes.route(pod('api-1-aaaaa', '172.18.0.6'));
    await routes.route(pod('web-1-aaaaa', '172.18.0.8'));
    await routes.sync(new Set(['web-1-aaaaa']));
    expect(nat.chains.get(routes.chain)?.rules).toEqual([route('web-1-aaaaa', '172.18.0.8')]);
    const before = nat.changes.length;
    await routes.sync(new Set(['web-1-aaaaa']));
    expect(nat.changes.length).toBe(before);
  });

  it('adopts the rules an earlier run left, keeps those of live tasks and puts back a flushed chain', async () => {
    const nat = new MemoryCredentialsNat();
    const first = new CredentialsRoutes({ nat, cluster: 'dev', host: 'host-1', log: quiet });
    await first.route(pod('web-1-aaaaa', '172.18.0.5', 40000, 'br-0123456789ab', [{ bridge: 'br-ba9876543210', ip: '172.19.0.3' }]));
    await first.route(pod('api-1-aaaaa', '172.18.0.6'));
    const rules = nat.chains.get(first.chain)?.rules;
    const restarted = new CredentialsRoutes({ nat, cluster: 'dev', host: 'host-1', log: quiet });
    await restarted.sync(new Set(['web-1-aaaaa']));
    expect(nat.chains.get(first.chain)?.rules).toEqual(rules?.filter((r) => r.task === 'web-1-aaaaa'));
    expect(restarted.tasks()).toEqual(['web-1-aaaaa']);
    nat.chains.delete(first.chain);
    await restarted.sync(new Set(['web-1-aaaaa']));
    expect(nat.chains.get(first.chain)?.rules).toEqual(rules?.filter((r) => r.task === 'web-1-aaaaa'));
  });

  it('says once, clearly, that it cannot apply rules, and routes nothing', async () => {
    const nat = new MemoryCredentialsNat();
    nat.failWith = new Error('iptables -t nat -N SKIFF-CRED-x failed (exit code 4): iptables: Permission denied (you must be root).');
    const logged: string[] = [];
    const routes = new CredentialsRoutes({
      nat,
      cluster: 'dev',
      host: 'host-1',
      log: (level, message, data) => logged.push(`${level} ${message} ${data?.error}`),
    });
    expect(await routes.route(pod('web-1-aaaaa', '172.18.0.5'))).toBe(false);
    expect(await routes.route(pod('api-1-aaaaa', '172.18.0.6'))).toBe(false);
    await routes.sync(new Set());
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatch(
      /^warn cannot apply the NAT rules that bring 169\.254\.170\.2 .*needs root and iptables.*AWS SDKs and CLI refuse.*Permission denied/,
    );
  });

  it('refuses a bad pod alone, and keeps routing the others', async () => {
    const nat = new MemoryCredentialsNat();
    const routes = new CredentialsRoutes({ nat, cluster: 'dev', host: 'host-1', log: quiet });
    await expect(routes.route(pod('web-1-aaaaa', '172.18.0.300'))).rejects.toThrow(/pods\[0\]\.addresses\[0\]\.ip: "172\.18\.0\.300" is not an IPv4 address/);
    expect(await routes.route(pod('api-1-aaaaa', '172.18.0.6'))).toBe(true);
    expect(nat.chains.get(routes.chain)?.rules).toEqual([route('api-1-aaaaa', '172.18.0.6')]);
  });

  it('fails a route whose rule cannot be added, so that the create is retried', async () => {
    const nat = new MemoryCredentialsNat();
    const routes = new CredentialsRoutes({ nat, cluster: 'dev', host: 'host-1', log: quiet });
    await routes.enabled();
    nat.failWith = new Error('iptables: Resource temporarily unavailable.');
    await expect(routes.route(pod('web-1-aaaaa', '172.18.0.5'))).rejects.toThrow(/Resource temporarily unavailable/);
    nat.failWith = undefined;
    await routes.sync(new Set(['web-1-aaaaa']));
    expect(nat.chains.get(routes.chain)?.rules).toEqual([route('web-1-aaaaa', '172.18.0.5')]);
  });

  it("removes a cluster's chains when it goes down, or one host's when it leaves, and nobody else's", async () => {
    const nat = new MemoryCredentialsNat();
    for (const [cluster, host] of [
      ['dev', 'host-1'],
      ['dev', 'host-10'],
      ['other', 'host-1'],
    ]) {
      await new CredentialsRoutes({ nat, cluster, host, log: quiet }).route(pod('web-1-aaaaa', '172.18.0.5'));
    }
    expect(await removeCredentialRoutes(nat, 'dev', 'host-1')).toEqual([credentialsChainName('dev', 'host-1')]);
    expect(await removeCredentialRoutes(nat, 'dev')).toEqual([credentialsChainName('dev', 'host-10')]);
    expect([...nat.chains.keys()]).toEqual([credentialsChainName('other', 'host-1')]);
  });
});

describe('the iptables rules', () => {
  it('reads back the rules and jumps as iptables -S prints them, ignoring lines it did not write', () => {
    const r = route('web-1-aaaaa', '172.18.0.5', '172.18.0.1:40123');
    const chain = credentialsChainName('dev', 'host-1');
    expect(routeRuleArgs(r).join(' ')).toBe(
      '-s 172.18.0.5/32 -d 169.254.170.2/32 -i br-0123456789ab -p tcp -m tcp --dport 80 -m comment --comment skiff-task=web-1-aaaaa -j DNAT --to-destination 172.18.0.1:40123',
    );
    const listing = [
      `-N ${chain}`,
      `-A ${chain} -s 172.18.0.5/32 -d 169.254.170.2/32 -i br-0123456789ab -p tcp -m tcp --dport 80 -m comment --comment skiff-task=web-1-aaaaa -j DNAT --to-destination 172.18.0.1:40123`,
      `-A ${chain} -s 10.0.0.1/32 -j RETURN`,
    ].join('\n');
    expect(parseRoutes(listing, chain)).toEqual([r]);
    const jump = `-A PREROUTING ${jumpArgs(chain, '"skiff-credentials:dev:host-1"').join(' ')}`;
    expect(parseJumps(['-P PREROUTING ACCEPT', '-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER', jump].join('\n'))).toEqual([
      { args: jumpArgs(chain, 'skiff-credentials:dev:host-1'), chain, comment: 'skiff-credentials:dev:host-1' },
    ]);
  });
});

describe('the URI a container is given', () => {
  const task: HostDocumentTask = {
    id: 'web-1-aaaaa',
    namespace: 'shop',
    service: 'web',
    slot: 1,
    specVersion: 1,
    pod: { containers: [], restartPolicy: 'always', identity: { awsRole: 'arn:aws:iam::123456789012:role/skiff/dev/web' } },
  };
  let dir: string | undefined;
  let endpoint: CredentialsEndpoint | undefined;
  afterEach(async () => {
    await endpoint?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function uriWith(linkLocal: ((sandbox: string, listener: { address: string; port: number }) => Promise<boolean>) | undefined, sandbox?: string) {
    dir = await mkdtemp(join(tmpdir(), 'skiff-routes-'));
    endpoint = new CredentialsEndpoint({
      tokens: new TaskTokens(new Uint8Array(32).fill(7)),
      assumeRole: async () => {
        throw new Error('not asked here');
      },
      tasks: () => new Map(),
      now: () => 0,
    });
    const identity = new WorkloadIdentity({
      dir,
      endpoint,
      endpointAddress: async () => '127.0.0.1',
      ...(linkLocal ? { linkLocal: (_t: HostDocumentTask, s: string, l: { address: string; port: number }) => linkLocal(s, l) } : {}),
      now: () => 0,
      log: () => {},
    });
    return (await identity.forContainer(task, sandbox)).env[CREDENTIALS_URI_ENV];
  }

  it('is http://169.254.170.2/... once the pod is routed to the listener', async () => {
    const asked: unknown[] = [];
    const uri = await uriWith(async (sandbox, listener) => {
      asked.push({ sandbox, listener });
      return true;
    }, 'sandbox-id');
    expect(uri).toBe('http://169.254.170.2/v1/tasks/web-1-aaaaa/credentials');
    expect(asked).toEqual([{ sandbox: 'sandbox-id', listener: { address: '127.0.0.1', port: expect.any(Number) } }]);
  });

  it('is the listener’s own address where the host cannot route', async () => {
    expect(await uriWith(async () => false, 'sandbox-id')).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1\/tasks\/web-1-aaaaa\/credentials$/);
    await endpoint?.close();
    expect(await uriWith(undefined, 'sandbox-id')).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1\/tasks\/web-1-aaaaa\/credentials$/);
  });
});
