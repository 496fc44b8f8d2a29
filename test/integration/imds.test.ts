/**
 * The IMDSv2 client against the IMDS stand-in, and the agent's bootstrap on "EC2": agent/main.ts
 * as a child process that learns its id, address, region and zone from the stand-in and registers
 * itself in dynalite. Nothing here contacts 169.254.169.254: every endpoint is on 127.0.0.1.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { removeCredentialRoutes } from '../../agent/credentials-routes.ts';
import { IptablesCredentialsNat } from '../../agent/iptables-credentials-nat.ts';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ec2Identity, ImdsClient, ImdsError, imdsEndpoint, IMDS_IPV4_ENDPOINT, IMDS_IPV6_ENDPOINT, IMDS_PATHS } from '../../agent/imds.ts';
import { startImdsServer, type ImdsServer } from '../../local/imds-server.ts';
import { DynamoStore } from '../../adapters/aws/dynamo-store.ts';
import { dynaliteClient, ensureTable, startDynalite, type DynaliteServer } from '../../local/dynalite.ts';
import { startSsmServer, type SsmServer } from '../../local/ssm-server.ts';
import { eventually, ROOT } from '../helpers/cli.ts';
import { removeClusterContainers, uniqueClusterName } from '../helpers/docker.ts';

const servers: { close(): Promise<void> }[] = [];

async function imds(opts: Parameters<typeof startImdsServer>[0] = {}): Promise<ImdsServer> {
  const s = await startImdsServer(opts);
  servers.push(s);
  return s;
}

/** A port on 127.0.0.1 that nothing listens on: taken, then released. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok));
  const { port } = s.address() as { port: number };
  await new Promise<void>((ok) => s.close(() => ok()));
  return port;
}

/** A listener that accepts connections and never answers: an IMDS that hangs. */
async function silentServer(): Promise<{ endpoint: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const s: Server = createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
  });
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok));
  const silent = {
    endpoint: `http://127.0.0.1:${(s.address() as { port: number }).port}`,
    close: () =>
      new Promise<void>((ok) => {
        for (const sock of sockets) sock.destroy();
        s.close(() => ok());
      }),
  };
  servers.push(silent);
  return silent;
}

afterEach(async () => {
  await Promise.allSettled(servers.splice(0).map((s) => s.close()));
});

describe('the IMDSv2 client', () => {
  it('takes a session token first, then sends it with every read', async () => {
    const server = await imds();
    const client = new ImdsClient({ endpoint: server.endpoint });
    expect(await client.get(IMDS_PATHS.instanceId)).toBe('i-0123456789abcdef0');
    expect(await client.get(IMDS_PATHS.localIpv4)).toBe('10.0.1.23');
    expect(server.requests()).toEqual([
      { method: 'PUT', path: '/latest/api/token', status: 200 },
      { method: 'GET', path: IMDS_PATHS.instanceId, status: 200 },
      { method: 'GET', path: IMDS_PATHS.localIpv4, status: 200 },
    ]);
  });

  it('reads the identity through a stand-in that refuses IMDSv1, with one token for all reads', async () => {
    const server = await imds({
      identity: { instanceId: 'i-0aaaabbbbccccdddd', privateIp: '10.1.2.3', region: 'ap-southeast-2', availabilityZone: 'ap-southeast-2c' },
    });
    const v1 = await fetch(`${server.endpoint}${IMDS_PATHS.instanceId}`);
    expect(v1.status).toBe(401);
    await v1.body?.cancel();

    expect(await ec2Identity({ endpoint: server.endpoint })).toEqual({
      hostId: 'i-0aaaabbbbccccdddd',
      address: '10.1.2.3',
      region: 'ap-southeast-2',
      zone: 'ap-southeast-2c',
      // From the identity document: claimed with the rest, checked by the control plane against EC2.
      instanceType: 't4g.small',
    });
    const after = server.requests().slice(1);
    expect(after.filter((r) => r.method === 'PUT')).toHaveLength(1);
    expect(after.every((r) => r.status === 200)).toBe(true);
  });

  it('answers IMDSv1 reads when the stand-in allows them, and 401s an unknown token either way', async () => {
    const server = await imds({ requireTokens: false });
    expect(await (await fetch(`${server.endpoint}${IMDS_PATHS.region}`)).text()).toBe('eu-west-1');
    const forged = await fetch(`${server.endpoint}${IMDS_PATHS.region}`, { headers: { 'x-aws-ec2-metadata-token': 'forged' } });
    expect(forged.status).toBe(401);
    await forged.body?.cancel();
  });

  it('refuses a token request without a valid TTL or with X-Forwarded-For, like IMDS', async () => {
    const server = await imds();
    const put = async (headers: Record<string, string>) => {
      const res = await fetch(`${server.endpoint}/latest/api/token`, { method: 'PUT', headers });
      await res.body?.cancel();
      return res.status;
    };
    expect(await put({})).toBe(400);
    expect(await put({ 'x-aws-ec2-metadata-token-ttl-seconds': '21601' })).toBe(400);
    expect(await put({ 'x-aws-ec2-metadata-token-ttl-seconds': '60', 'x-forwarded-for': '10.0.0.1' })).toBe(403);
    expect(await put({ 'x-aws-ec2-metadata-token-ttl-seconds': '60' })).toBe(200);
  });

  it('takes a new token and retries once when IMDS says the token expired (401)', async () => {
    let serverNow = 1_000_000;
    const server = await imds({ now: () => serverNow });
    // The client's clock stands still, so it believes its token is good; only the server's moves.
    const client = new ImdsClient({ endpoint: server.endpoint, tokenTtlSeconds: 120, now: () => 0 });
    expect(await client.get(IMDS_PATHS.availabilityZone)).toBe('eu-west-1a');
    serverNow += 121_000;
    expect(await client.get(IMDS_PATHS.availabilityZone)).toBe('eu-west-1a');
    expect(server.requests().map((r) => `${r.method} ${r.status}`)).toEqual(['PUT 200', 'GET 200', 'GET 401', 'PUT 200', 'GET 200']);
  });

  it('takes a new token by itself once its own clock says the TTL has passed', async () => {
    const server = await imds();
    let clientNow = 0;
    const client = new ImdsClient({ endpoint: server.endpoint, tokenTtlSeconds: 21_600, now: () => clientNow });
    await client.get(IMDS_PATHS.instanceId);
    clientNow += 21_600 * 1000;
    await client.get(IMDS_PATHS.instanceId);
    expect(server.requests().map((r) => r.method)).toEqual(['PUT', 'GET', 'PUT', 'GET']);
  });

  it('fails fast with the path and endpoint named when nothing listens', async () => {
    const endpoint = `http://127.0.0.1:${await closedPort()}`;
    const err = await ec2Identity({ endpoint, timeoutMs: 500 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImdsError);
    expect((err as ImdsError).path).toBe('/latest/api/token');
    expect((err as Error).message).toContain(`instance metadata /latest/api/token: cannot reach ${endpoint}`);
  });

  it('gives up after its timeout when IMDS accepts the connection but never answers', async () => {
    const silent = await silentServer();
    const err = await new ImdsClient({ endpoint: silent.endpoint, timeoutMs: 150 }).get(IMDS_PATHS.instanceId).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImdsError);
    expect((err as Error).message).toBe(`instance metadata /latest/api/token: no answer from ${silent.endpoint} within 150 ms (is this an EC2 instance?)`);
  });

  it('names the path whose answer is not what EC2 would send', async () => {
    const server = await imds({ identity: { privateIp: 'not-an-ip' } });
    await expect(ec2Identity({ endpoint: server.endpoint })).rejects.toThrow(
      'instance metadata /latest/meta-data/local-ipv4: expected an IPv4 address, got "not-an-ip"',
    );
  });

  it('names the path IMDS does not serve', async () => {
    const server = await imds();
    const err = await new ImdsClient({ endpoint: server.endpoint }).get('/latest/meta-data/ipv6').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImdsError);
    expect((err as ImdsError).httpStatus).toBe(404);
    expect((err as Error).message).toBe('instance metadata /latest/meta-data/ipv6: answered 404: not available on this instance');
  });

  it('chooses its endpoint from the environment as the AWS SDK does', () => {
    expect(imdsEndpoint({})).toBe(IMDS_IPV4_ENDPOINT);
    expect(imdsEndpoint({ AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE: 'IPv6' })).toBe(IMDS_IPV6_ENDPOINT);
    expect(imdsEndpoint({ AWS_EC2_METADATA_SERVICE_ENDPOINT: 'http://127.0.0.1:9/', AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE: 'IPv6' })).toBe(
      'http://127.0.0.1:9',
    );
    expect(() => imdsEndpoint({ AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE: 'ipx' })).toThrow(
      'AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE must be IPv4 or IPv6, got "ipx"',
    );
    expect(() => imdsEndpoint({ AWS_EC2_METADATA_SERVICE_ENDPOINT: 'nope' })).toThrow('AWS_EC2_METADATA_SERVICE_ENDPOINT is not a URL: "nope"');
    expect(() => new ImdsClient({ endpoint: 'http://127.0.0.1:9', retries: 3 } as never)).toThrow('ImdsClient: unknown option "retries"');
  });
});

describe('the agent on EC2', () => {
  const docker = new Docker();
  const cluster = uniqueClusterName('imds');
  const dir = mkdtempSync(join(tmpdir(), 'skiff-imds-'));
  let dynamo: DynaliteServer;
  let ssm: SsmServer;
  let client: DynamoDBClient;
  let store: DynamoStore;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    dynamo = await startDynalite();
    client = dynaliteClient(dynamo.endpoint);
    await ensureTable(client, 'skiff');
    store = new DynamoStore(client, { tableName: 'skiff' });
    ssm = await startSsmServer({ limits: false });
  });

  afterAll(async () => {
    try {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      client?.destroy();
      await ssm?.close();
      await dynamo?.close();
    } finally {
      await removeClusterContainers(docker, cluster);
      // A SIGKILLed agent leaves its credentials NAT chains (agent/credentials-routes.ts): they are the cluster's to remove.
      await removeCredentialRoutes(new IptablesCredentialsNat(), cluster);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  /** agent/main.ts with only what the test gives it: no inherited AWS or Skiff settings. */
  function startAgent(env: Record<string, string>): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_') && !k.startsWith('SKIFF_')));
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'agent', 'main.ts')], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...base,
        SKIFF_CLUSTER: cluster,
        SKIFF_TABLE: 'skiff',
        SKIFF_DYNAMODB_ENDPOINT: dynamo.endpoint,
        SKIFF_SSM_ENDPOINT: ssm.endpoint,
        SKIFF_STATE_DIR: dir,
        SKIFF_POLL_SECONDS: '1',
        SKIFF_HEARTBEAT_SECONDS: '1',
        // The stand-ins check no signature; credentials in the environment end the SDK's provider
        // chain before it would ask IMDS for the instance profile's.
        AWS_ACCESS_KEY_ID: 'local',
        AWS_SECRET_ACCESS_KEY: 'local',
        AWS_CONFIG_FILE: join(dir, 'no-config'),
        AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-credentials'),
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        ...env,
      },
    });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    return { child, output: () => out, exited };
  }

  async function stop(run: ReturnType<typeof startAgent>): Promise<number | null> {
    if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGTERM');
    const timer = setTimeout(() => run.child.kill('SIGKILL'), 15_000);
    try {
      return await run.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  it('claims its instance id, private IP, instance type and zone in its report when SKIFF_HOST_ID is absent, and registers nothing itself', async () => {
    const server = await imds({
      identity: { instanceId: 'i-0fedcba9876543210', privateIp: '127.0.1.201', region: 'us-west-2', availabilityZone: 'us-west-2b' },
    });
    const run = startAgent({ AWS_EC2_METADATA_SERVICE_ENDPOINT: server.endpoint, SKIFF_HOST_LABELS: 'disk=ssd' });
    try {
      const status = await eventually(
        () => store.getHostStatus('i-0fedcba9876543210'),
        `host i-0fedcba9876543210 reported (agent output: ${run.output()})`,
        20_000,
      );
      expect(status.claim).toMatchObject({ address: '127.0.1.201', labels: { zone: 'us-west-2b', disk: 'ssd' }, instanceType: 't4g.small' });
      expect(status.claim!.capacity.cpu).toBeGreaterThan(0);
      // The host record is the control plane's to write (the register-hosts pass step).
      expect(await store.getHost('i-0fedcba9876543210')).toBeUndefined();
      expect(server.requests()[0]).toEqual({ method: 'PUT', path: '/latest/api/token', status: 200 });
      expect(server.requests().every((r) => r.status === 200)).toBe(true);
    } finally {
      expect(await stop(run)).toBe(0);
    }
  });

  it('lets environment values win over instance metadata under SKIFF_IDENTITY=ec2', async () => {
    const server = await imds({ identity: { instanceId: 'i-0123412341234abcd', privateIp: '127.0.1.202', availabilityZone: 'eu-west-1c' } });
    const run = startAgent({
      AWS_EC2_METADATA_SERVICE_ENDPOINT: server.endpoint,
      SKIFF_IDENTITY: 'ec2',
      SKIFF_HOST_ID: 'named-by-env',
      SKIFF_HOST_LABELS: 'zone=override',
    });
    try {
      const status = await eventually(() => store.getHostStatus('named-by-env'), `host named-by-env reported (agent output: ${run.output()})`, 20_000);
      expect(status.claim).toMatchObject({ address: '127.0.1.202', labels: { zone: 'override' } });
      expect(await store.getHostStatus('i-0123412341234abcd')).toBeUndefined();
    } finally {
      expect(await stop(run)).toBe(0);
    }
  });

  it('stops with a message naming SKIFF_HOST_ID when it is not set and instance metadata is unreachable', async () => {
    const run = startAgent({ AWS_EC2_METADATA_SERVICE_ENDPOINT: `http://127.0.0.1:${await closedPort()}` });
    try {
      expect(await run.exited).toBe(1);
      expect(run.output()).toContain("cannot read this host's identity from EC2 instance metadata");
      expect(run.output()).toContain('set SKIFF_HOST_ID and SKIFF_HOST_ADDRESS');
    } finally {
      await stop(run);
    }
  });
});
