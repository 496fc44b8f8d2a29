/**
 * `skiff logs` and `skiff top` against the real API over HTTP on 127.0.0.1, the API reading the
 * CloudWatch Logs stand-in through the adapter (in-memory cluster state, bearer tokens; no Docker).
 */
import { randomBytes } from 'node:crypto';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../adapters/memory/store.ts';
import { CloudWatchLogStore } from '../../adapters/aws/cloudwatch-log-store.ts';
import { makeApiHandler } from '../../app/handlers/api.ts';
import { localAuthenticator, TokenSigner } from '../../app/tokens.ts';
import { ApiClient } from '../../cli/client.ts';
import { logsTarget, printLogs, readable } from '../../cli/commands/logs.ts';
import { main, type Out } from '../../cli/main.ts';
import { startApiServer, type LocalApiServer } from '../../local/api-server.ts';
import { startLogsServer, type LogsServer } from '../../local/logs-server.ts';
import { aHost, aService, aTask, anAllocation, MiB } from '../builders.ts';

const TOKEN = randomBytes(32).toString('base64url');
const signer = new TokenSigner(new Uint8Array(randomBytes(32)));
let server: LocalApiServer;
let logsServer: LogsServer;
let logs: CloudWatchLogStore;
let shopToken: string;
const store = new MemoryStore();
const T = Date.now() - 60_000;

function capture(): Out & { lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return { lines, errors, log: (s) => lines.push(s), err: (s) => errors.push(s), isTTY: false };
}

async function skiff(token: string, ...args: string[]) {
  const out = capture();
  const code = await main([...args, '--api', server.url, '--token', token], out);
  return { code, lines: out.lines, errors: out.errors.join('\n') };
}

beforeAll(async () => {
  logsServer = await startLogsServer({});
  logs = new CloudWatchLogStore(
    new CloudWatchLogsClient({
      endpoint: logsServer.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: 1,
    }),
    '/skiff/cli-test',
  );
  await logs.createGroup();
  const handler = makeApiHandler({ store, now: () => new Date(), kickScheduler: async () => {}, logs });
  server = await startApiServer(handler, {
    authenticate: localAuthenticator({ adminToken: TOKEN, signer, revocations: { isTokenRevoked: async () => false }, now: () => new Date() }),
  });
  shopToken = (await signer.issue({ namespace: 'shop', role: 'view', ttlSeconds: 3600 }, new Date())).token;

  await logs.put('default/web-1-aaaaa/app', [
    { at: T + 1000, message: 'web 1 first' },
    { at: T + 3000, message: 'web 1 second' },
  ]);
  // A replica that died: its lines stay.
  await logs.put('default/web-2-bbbbb/app', [{ at: T + 2000, message: 'web 2 before it died' }]);
  await logs.put('shop/cart-1-ccccc/app', [{ at: T + 1500, message: 'cart line' }]);
  await logs.put('host/host-2', [
    { at: T, message: JSON.stringify({ time: 'x', level: 'info', component: 'agent', message: 'agent starting', host: 'host-2' }) },
  ]);
  await logs.put('control/scheduler', [{ at: T, message: JSON.stringify({ level: 'warn', message: 'pass took long', ms: 1200 }) }]);
});

afterAll(async () => {
  await server?.close();
  await logsServer?.close();
});

describe('skiff logs', () => {
  it("merges a service's replicas in time order with a task prefix, the dead one's included", async () => {
    const got = await skiff(TOKEN, 'logs', 'web');
    expect(got.code).toBe(0);
    expect(got.lines).toEqual(['web-1-aaaaa/app | web 1 first', 'web-2-bbbbb/app | web 2 before it died', 'web-1-aaaaa/app | web 1 second']);
    const tail = await skiff(TOKEN, 'logs', 'web', '--tail', '1', '--timestamps', '--container', 'app');
    expect(tail.lines).toEqual([`${new Date(T + 3000).toISOString()} web-1-aaaaa | web 1 second`]);
  });

  it("reads one task's lines, and -o json gives one object a line", async () => {
    const got = await skiff(TOKEN, 'logs', 'web-2-bbbbb');
    expect(got.lines).toEqual(['app | web 2 before it died']);
    const json = await skiff(TOKEN, 'logs', 'web-2-bbbbb', '-o', 'json');
    expect(json.lines.map((l) => JSON.parse(l))).toEqual([
      { at: new Date(T + 2000).toISOString(), stream: 'default/web-2-bbbbb/app', message: 'web 2 before it died', task: 'web-2-bbbbb', container: 'app' },
    ]);
  });

  it('follows: new lines and a new replica, each once, until stopped', async () => {
    const client = new ApiClient({ url: server.url, source: 'flag', token: TOKEN });
    const out = capture();
    const stop = new AbortController();
    const following = printLogs(client, logsTarget('web', {}), { follow: true, signal: stop.signal, pollMs: 20 }, out);
    const waitFor = async (n: number) => {
      const deadline = Date.now() + 10_000;
      while (out.lines.length < n) {
        if (Date.now() > deadline) throw new Error(`waited for ${n} lines, have ${JSON.stringify(out.lines)}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    await waitFor(3);
    await logs.put('default/web-1-aaaaa/app', [{ at: T + 4000, message: 'web 1 third' }]);
    await logs.put('default/web-3-ddddd/app', [{ at: T + 4500, message: 'replacement replica' }]);
    await waitFor(5);
    // A few more polls: nothing is shown twice.
    await new Promise((r) => setTimeout(r, 100));
    stop.abort();
    expect(await following).toBe(5);
    expect(out.lines.slice(3)).toEqual(['web-1-aaaaa/app | web 1 third', 'web-3-ddddd/app | replacement replica']);
  });

  it("shows a host's and the control plane's own logs readable, to the cluster admin alone", async () => {
    const host = await skiff(TOKEN, 'logs', '--host', 'host-2');
    expect(host.code).toBe(0);
    expect(host.lines).toEqual(['INFO  agent starting component=agent host=host-2']);
    const cp = await skiff(TOKEN, 'logs', '--control-plane');
    expect(cp.lines).toEqual(['scheduler | WARN  pass took long ms=1200']);
    const refused = await skiff(shopToken, 'logs', '--host', 'host-2');
    expect(refused.code).toBe(1);
    expect(refused.errors).toMatch(/hosts:read/);
  });

  it("lets a tenant read its namespace's logs and no other's", async () => {
    expect((await skiff(shopToken, 'logs', 'cart', '-n', 'shop')).lines).toEqual(['cart-1-ccccc/app | cart line']);
    const other = await skiff(shopToken, 'logs', 'web');
    expect(other.code).toBe(1);
    expect(other.errors).toMatch(/services:read/);
  });

  it('refuses unclear requests with a usage error', async () => {
    expect((await skiff(TOKEN, 'logs')).code).toBe(2);
    expect((await skiff(TOKEN, 'logs', 'web', '--host', 'host-1')).code).toBe(2);
    expect((await skiff(TOKEN, 'logs', 'web', '--tail', 'ten')).code).toBe(2);
    const since = await skiff(TOKEN, 'logs', 'web', '--since', 'yesterday');
    expect(since.code).toBe(1);
    expect(since.errors).toMatch(/since/);
  });

  it('renders structured lines readable and leaves others as they are', () => {
    expect(readable('{"level":"error","message":"boom","code":3}')).toBe('ERROR boom code=3');
    expect(readable('plain {not json')).toBe('plain {not json');
  });
});

describe('skiff top', () => {
  it('shows used versus reserved per task and per host, from the reported usage', async () => {
    const svc = await store.putService(aService({ name: 'api', replicas: 1, cpu: 500, memory: 256 * MiB }).spec, new Date().toISOString());
    const task = aTask(svc, 1, { host: 'host-1' });
    await store.putTask(task, undefined);
    const host = await store.registerHost(aHost({ id: 'host-1', cpu: 2000, memory: 1024 * MiB }), new Date().toISOString());
    await store.updateAllocations(host, { [task.id]: anAllocation(task.id, { service: 'api', resources: { cpu: 500, memory: 256 * MiB } }) });
    await store.putHostStatus({
      hostId: 'host-1',
      heartbeatAt: new Date().toISOString(),
      generation: 1,
      agentVersion: 'test',
      tasks: [
        {
          taskId: task.id,
          namespace: 'default',
          service: 'api',
          state: 'running',
          ports: [],
          containers: [{ name: 'app', id: 'c1', state: 'running' }],
          since: new Date().toISOString(),
          usage: { cpu: 125, memory: 64 * MiB },
        },
      ],
    });
    const tasks = await skiff(TOKEN, 'top', 'tasks');
    expect(tasks.code).toBe(0);
    expect(tasks.lines[0]).toMatch(/TASK\s+HOST\s+CPU USED\s+CPU RESERVED\s+CPU%\s+MEMORY USED\s+MEMORY RESERVED\s+MEMORY%/);
    expect(tasks.lines[0].split('\n')[1]).toMatch(/default\/api-1-aaaaa\s+host-1\s+125m\s+500m\s+25%\s+64Mi\s+256Mi\s+25%/);
    const hosts = await skiff(TOKEN, 'top', 'hosts');
    expect(hosts.lines[0].split('\n')[1]).toMatch(/host-1\s+ready\s+125m\s+500m\s+2\s+6%\s+64Mi\s+256Mi\s+1Gi\s+6%/);
    const json = JSON.parse((await skiff(TOKEN, 'top', 'tasks', '-o', 'json')).lines[0]);
    expect(json).toEqual([
      { namespace: 'default', id: 'api-1-aaaaa', host: 'host-1', reserved: { cpu: 500, memory: 256 * MiB }, usage: { cpu: 125, memory: 64 * MiB } },
    ]);
    expect((await skiff(TOKEN, 'top', 'pods')).code).toBe(2);
  });
});
