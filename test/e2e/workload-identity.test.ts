/**
 * Workload identity end to end (issue 19): a local cluster of two hosts, real Docker, the STS stand-in.
 * A busybox container of service web (on host-1) fetches its role's credentials from the agent's
 * endpoint with its own token (`wget` with the two env vars the AWS SDKs read); a container of service
 * api presenting its own token on web's URI is refused; web's workload token file verifies against the
 * JWKS the API serves without a token. A container of service sdk (on host-2: the hosts share their
 * bridges, and it must reach its own host's agent) runs the real AWS SDK's default credential chain
 * (image skiff/node-sdk:test, test/helpers/sdk-image.ts), which accepts `http://169.254.170.2/...` and
 * gets its role's credentials; the STS stand-in accepts them as that task's session. The wgets and the
 * SDK run inside containers (docker exec): the host itself sends nothing beyond 127.0.0.0/8 (the JWKS
 * comes from the API on 127.0.0.1, GetCallerIdentity goes to the stand-in there).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LABELS } from '../../agent/executor.ts';
import { verifyWorkloadToken } from '../../app/workload-tokens.ts';
import { eventually, skiff, startCluster, type RunningCluster } from '../helpers/cli.ts';
import { execIn, tearDownCluster, uniqueClusterName } from '../helpers/docker.ts';
import { ensureSdkImage, SDK_IMAGE } from '../helpers/sdk-image.ts';

const docker = new Docker();
const cluster = uniqueClusterName('wid');
const dir = mkdtempSync(join(tmpdir(), 'skiff-wid-'));
let running: RunningCluster | undefined;
const roleOf = (service: string) => `arn:aws:iam::123456789012:role/skiff/${cluster}/${service}`;

const cli = (...args: string[]) => skiff(args, { cwd: dir, timeoutMs: 60_000 });

/**
 * The agents give containers 169.254.170.2 only where they can DNAT it (root and iptables, as in CI);
 * elsewhere they say so and keep the gateway URI, which the SDK refuses: its case cannot run there.
 */
function canRoute(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync('iptables', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const routable = canRoute();

async function apply(name: string, host: 1 | 2 = 1, image = 'skiff/busybox:latest', memory = '16Mi'): Promise<void> {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    `kind: Service
metadata: { name: ${name} }
spec:
  replicas: 1
  identity: { awsRole: ${roleOf(name)} }
  placement: { constraints: ["index == ${host}"] }
  containers:
    - name: main
      image: ${image}
      command: ["sleep", "3600"]
      env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" }
      resources: { cpu: 50m, memory: ${memory} }
`,
  );
  const res = await cli('apply', '-f', file, '--timeout', '40');
  expect(res.code, res.stderr).toBe(0);
}

/** The running app container of a service (not its sandbox). */
async function containerOf(service: string): Promise<Docker.ContainerInfo> {
  return eventually(
    async () =>
      (
        await docker.listContainers({
          filters: { label: [`${LABELS.cluster}=${cluster}`, `${LABELS.service}=${service}`, `${LABELS.container}=main`], status: ['running'] },
        })
      )[0],
    `the running container of ${service}`,
    30_000,
  );
}

/** Runs `sh -c script` in a container: its exit code and output. Busybox's `timeout` bounds the wget. */
async function run(container: Docker.ContainerInfo, script: string): Promise<{ code: number; output: string }> {
  const r = await execIn(docker, container.Id, ['sh', '-c', script]);
  return { code: r.exitCode, output: r.stdout + r.stderr };
}

const FETCH = 'timeout 10 wget -qO- --header "Authorization: $AWS_CONTAINER_AUTHORIZATION_TOKEN" "$AWS_CONTAINER_CREDENTIALS_FULL_URI"';

beforeAll(async () => {
  if (routable) {
    // Cached: a build only when node, the script or the Dockerfile changed (figures in docs/identity.md).
    const image = await ensureSdkImage();
    console.log(`${SDK_IMAGE}: ${image.built ? 'built' : 'up to date'} in ${image.ms} ms, ${(image.bytes / 1e6).toFixed(1)} MB`);
  }
  running = await startCluster(dir, ['--cluster', cluster, '--hosts', '2', '--data', join(dir, 'data')], 40_000);
}, 150_000);

afterAll(() => tearDownCluster(running, cluster, dir, docker), 60_000);

describe('workload identity', { timeout: 60_000 }, () => {
  it("serves a container its service role's credentials with its token, refuses another service's token, and mounts a verifiable workload token", async () => {
    await Promise.all([apply('web'), apply('api')]);
    const [web, api] = await Promise.all([containerOf('web'), containerOf('api')]);

    const got = await run(web, FETCH);
    expect(got.code, got.output).toBe(0);
    const credentials = JSON.parse(got.output) as Record<string, string>;
    expect(credentials).toMatchObject({ AccessKeyId: expect.stringMatching(/^ASIA/), RoleArn: roleOf('web') });
    expect(credentials.SecretAccessKey && credentials.Token && Date.parse(credentials.Expiration) > Date.now()).toBeTruthy();

    // api's container, with its own token, on web's URI: refused (403), no credentials in the answer.
    const webUri = ((await docker.getContainer(web.Id).inspect()).Config.Env ?? [])
      .find((e) => e.startsWith('AWS_CONTAINER_CREDENTIALS_FULL_URI='))
      ?.split('=')[1];
    // 169.254.170.2 (DNATed by the agent) where it can apply rules, else the gateway's listener; wget takes either.
    expect(webUri).toMatch(
      routable ? /^http:\/\/169\.254\.170\.2\/v1\/tasks\/web-1-[a-z0-9]{5}\/credentials$/ : /\/v1\/tasks\/web-1-[a-z0-9]{5}\/credentials$/,
    );
    const stolen = await run(api, `timeout 10 wget -qO- --header "Authorization: $AWS_CONTAINER_AUTHORIZATION_TOKEN" "${webUri}"`);
    expect(stolen.code).not.toBe(0);
    expect(stolen.output).not.toContain('AccessKeyId');
    // Without a token at all: refused too.
    expect((await run(web, 'timeout 10 wget -qO- "$AWS_CONTAINER_CREDENTIALS_FULL_URI"')).code).not.toBe(0);

    // The workload token file names web, and verifies against the JWKS the API serves without a token.
    const file = await run(web, 'cat /var/run/skiff/identity/token');
    const token = /[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/.exec(file.output)?.[0];
    expect(token, file.output).toBeTruthy();
    const jwks = await (await fetch(`${running!.api}/.well-known/jwks.json`)).json();
    const claims = await verifyWorkloadToken(token!, jwks as never, { issuer: running!.api, audience: 'skiff', now: Date.now(), skewSeconds: 60 });
    expect(claims).toMatchObject({ cluster, namespace: 'default', service: 'web' });
  });

  it.skipIf(!routable)(
    "gives a real AWS SDK's default credential chain its role's credentials at http://169.254.170.2/, from its own host's agent",
    async () => {
      // On host-2, beside host-1's pods on the same bridge: host-1's agent would refuse its token.
      await apply('sdk', 2, SDK_IMAGE, '128Mi');
      const sdk = await containerOf('sdk');
      const env = (await docker.getContainer(sdk.Id).inspect()).Config.Env ?? [];
      const uri = env.find((e) => e.startsWith('AWS_CONTAINER_CREDENTIALS_FULL_URI='))?.split('=')[1];
      expect(uri).toMatch(/^http:\/\/169\.254\.170\.2\/v1\/tasks\/sdk-1-[a-z0-9]{5}\/credentials$/);
      const task = /tasks\/([^/]+)\//.exec(uri!)![1];

      const r = await execIn(docker, sdk.Id, ['node', '/app/whoami.cjs']);
      expect(r.exitCode, r.stdout + r.stderr).toBe(0);
      const got = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
      // CREDENTIALS_HTTP: the chain's container credentials provider answered (not the env, not IMDS).
      expect(got).toMatchObject({ accessKeyId: expect.stringMatching(/^ASIA/), source: { CREDENTIALS_HTTP: 'z' } });

      // The STS stand-in (on the host's 127.0.0.1) takes them for the role's session of this very task.
      const { stsPort } = JSON.parse(readFileSync(join(dir, 'data', 'endpoints.json'), 'utf8')) as { stsPort: number };
      const sts = new STSClient({
        endpoint: `http://127.0.0.1:${stsPort}`,
        region: 'us-east-1',
        credentials: { accessKeyId: got.accessKeyId as string, secretAccessKey: got.secretAccessKey as string, sessionToken: got.sessionToken as string },
      });
      const who = await sts.send(new GetCallerIdentityCommand({}));
      expect(who.Arn).toBe(`arn:aws:sts::123456789012:assumed-role/sdk/skiff.default.${task}`);
    },
  );
});
