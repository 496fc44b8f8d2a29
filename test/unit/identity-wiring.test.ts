import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Dockerode from 'dockerode';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemoryCredentialsNat } from '../../adapters/memory/credentials-nat.ts';
import { identityFromEnv, ROUTES_PRUNE_MS } from '../../agent/identity-wiring.ts';
import { credentialsChainName } from '../../core/credentials-routes.ts';
import { CREDENTIALS_TOKEN_ENV, CREDENTIALS_URI_ENV } from '../../agent/workload-identity.ts';
import type { HostDocumentTask } from '../../core/types.ts';

const task: HostDocumentTask = {
  id: 'web-1-aaaaa',
  namespace: 'shop',
  service: 'web',
  slot: 1,
  specVersion: 1,
  pod: { containers: [], restartPolicy: 'always', identity: { awsRole: 'arn:aws:iam::123456789012:role/skiff/local/web' } },
};
const noDocker = {} as Dockerode;
let dir: string | undefined;
const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const s of stops.splice(0)) await s();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function wire(env: NodeJS.ProcessEnv, stateDir: string, hostId = 'host-1') {
  return identityFromEnv(env, {
    docker: noDocker,
    stateDir,
    hostId,
    region: 'us-east-1',
    network: 'skiff-local',
    log: () => {},
    note: () => {},
    tasks: () => [task],
  });
}

describe('the agent’s workload identity from its environment', () => {
  it('serves credentials on SKIFF_CREDENTIALS_ADDRESS with a per-host 0600 secret, and the same URI and token after a restart', async () => {
    dir = await mkdtemp(join(tmpdir(), 'skiff-wiring-'));
    const env = { SKIFF_STS_ENDPOINT: 'http://127.0.0.1:1', SKIFF_CREDENTIALS_ADDRESS: '127.0.0.1' };
    const first = wire(env, dir);
    stops.push(first.start(() => [task]));
    const a = await first.identity!.forContainer(task);
    expect(a.env[CREDENTIALS_URI_ENV]).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1\/tasks\/web-1-aaaaa\/credentials$/);
    expect(a.mounts).toEqual([]);
    expect((await stat(join(dir, 'host-1.task-token-secret'))).mode & 0o777).toBe(0o600);
    await stops.pop()!();
    const second = wire(env, dir);
    stops.push(second.start(() => [task]));
    expect((await second.identity!.forContainer(task)).env).toEqual(a.env);
    // Another host on the same state directory has its own secret: its tokens differ.
    const other = wire(env, dir, 'host-2');
    stops.push(other.start(() => [task]));
    expect((await other.identity!.forContainer(task)).env[CREDENTIALS_TOKEN_ENV]).not.toBe(a.env[CREDENTIALS_TOKEN_ENV]);
  });

  it('is off without STS nor an API, and refuses an API it cannot prove its host to', () => {
    expect(
      identityFromEnv(
        {},
        { docker: noDocker, stateDir: '/nonexistent', hostId: 'h', region: undefined, network: undefined, log: () => {}, note: () => {}, tasks: () => [] },
      ).identity,
    ).toBeUndefined();
    expect(() =>
      identityFromEnv(
        { SKIFF_API_URL: 'http://127.0.0.1:1' },
        { docker: noDocker, stateDir: '/nonexistent', hostId: 'h', region: undefined, network: undefined, log: () => {}, note: () => {}, tasks: () => [] },
      ),
    ).toThrow(/SKIFF_API_URL is set but the agent can prove its host neither with SKIFF_HOST_TOKEN nor by signing/);
  });

  it('keeps the credentials routes an earlier run left until the agent holds a document, then drops those of tasks gone', async () => {
    dir = await mkdtemp(join(tmpdir(), 'skiff-wiring-'));
    const nat = new MemoryCredentialsNat();
    const chain = credentialsChainName('dev', 'host-1');
    const kept = { task: 'web-1-aaaaa', bridge: 'br-0123456789ab', source: '172.18.0.5', to: '172.18.0.1:40000' };
    const gone = { ...kept, task: 'old-1-bbbbb', source: '172.18.0.6' };
    nat.chains.set(chain, { comment: 'skiff-credentials:dev:host-1', rules: [kept, gone] });
    let tasks: HostDocumentTask[] = [];
    let hasDocument = false;
    vi.useFakeTimers();
    try {
      const wiring = identityFromEnv(
        { SKIFF_STS_ENDPOINT: 'http://127.0.0.1:1' },
        {
          docker: noDocker,
          stateDir: dir,
          hostId: 'host-1',
          cluster: 'dev',
          nat,
          region: 'us-east-1',
          network: 'skiff-dev',
          log: () => {},
          note: () => {},
          tasks: () => tasks,
        },
      );
      stops.push(
        wiring.start(
          () => tasks,
          () => hasDocument,
        ),
      );
      // A restarted agent before its saved document is loaded: no task listed, none gone.
      await vi.advanceTimersByTimeAsync(ROUTES_PRUNE_MS * 3);
      expect(nat.chains.get(chain)?.rules).toEqual([kept, gone]);
      tasks = [task];
      hasDocument = true;
      await vi.advanceTimersByTimeAsync(ROUTES_PRUNE_MS * 2);
      expect(nat.chains.get(chain)?.rules).toEqual([kept]);
    } finally {
      vi.useRealTimers();
    }
  });
});
