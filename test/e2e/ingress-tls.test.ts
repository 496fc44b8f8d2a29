import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, json, skiff, startCluster, type RunningCluster } from '../helpers/cli.ts';
import { LocalIngress, writeWebService } from '../helpers/web-service.ts';
import { tearDownCluster, uniqueClusterName } from '../helpers/docker.ts';
import type { TaskView } from '../../core/types.ts';

const docker = new Docker();
const cluster = uniqueClusterName('tls');
const dir = mkdtempSync(join(tmpdir(), 'skiff-tls-'));
const HOST = 'shop.example.test';
let running: RunningCluster | undefined;
let ingress: LocalIngress;

const cli = (...args: string[]) => skiff(args, { cwd: dir });
const spec = (name: string, ingressYaml: string) => writeWebService(dir, name, { replicas: 1, ingress: ingressYaml });

beforeAll(async () => {
  running = await startCluster(dir, ['--cluster', cluster, '--hosts', '2', '--data', join(dir, 'data')]);
  ingress = await LocalIngress.of(dir, cli, HOST);
});

afterAll(() => tearDownCluster(running, cluster, dir, docker));

describe('ingress over TLS through the local load balancer', { timeout: 60_000 }, () => {
  it('shows the HTTPS listener and the local CA, whose key only its owner reads', () => {
    expect(ingress.httpsPort).toBeGreaterThan(0);
    expect(existsSync(ingress.ca)).toBe(true);
    expect(statSync(join(dir, 'data', 'ca', 'ca.key')).mode & 0o777).toBe(0o600);
    expect(running?.output()).toContain(ingress.ca);
  });

  it('serves HTTPS trusted through the local CA, keeps a client on its replica, redirects HTTP and negotiates h2', async () => {
    await ingress.expectShopOverHttps();
  });

  it('sends /api and / of one host to two services', async () => {
    await ingress.expectApiOnItsPath();
    expect((await cli('describe', 'service', 'api')).stdout).toContain(`Ingress:   ${HOST}/api → port 8080, tls`);
    expect((await cli('get', 'services')).stdout).toContain(`${HOST}/api`);
  });

  it('refuses at apply a certificate reference that is not an ACM ARN, and a host and path another service has', async () => {
    const bad = await cli('apply', '-f', spec('badcert', `{ host: other.example.test, port: http, tls: { certificateArn: my-cert } }`));
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('spec.ingress.tls.certificateArn');
    expect(bad.stderr).toContain('must be the ARN of an ACM certificate');
    const overlap = await cli('apply', '-f', spec('api2', `{ host: ${HOST}, port: http, path: /api }`));
    expect(overlap.code).not.toBe(0);
    expect(overlap.stderr).toContain(`ingress host ${HOST} and path /api`);
    expect(overlap.stderr).toContain('is already used by service default/api');
  });
});

const WS_HOST = 'ws.example.test';
/** One connection's handler: the handshake, then frames echoed (test/fixtures/ws-echo.sh). */
const WS_ECHO = readFileSync(join(import.meta.dirname, '..', 'fixtures', 'ws-echo.sh'), 'utf8');
/**
 * The container's main shell: `nc` runs the handler once per connection. On its stop signal it
 * stops listening and waits for the open connections to end (each handler holds /tmp/ws/<pid>), as
 * a graceful server does; the load balancer ends them after the drain.
 */
const WS_MAIN = `nc -ll -p 8080 -e sh -c "$WS_ECHO" & nc=$!; trap 'kill $nc; while [ -n "$(ls /tmp/ws 2>/dev/null)" ]; do sleep 0.2; done; exit 0' TERM; wait`;

function wsSpec(): string {
  const file = join(dir, 'ws.yaml');
  writeFileSync(
    file,
    `kind: Service
metadata: { name: ws }
spec:
  replicas: 1
  terminationGracePeriodSeconds: 20
  containers:
    - name: echo
      image: skiff/busybox:latest
      env: { WS_ECHO: ${JSON.stringify(WS_ECHO)} }
      command: ["sh", "-c", ${JSON.stringify(WS_MAIN)}]
      ports: [{ containerPort: 8080, name: http }]
      resources: { cpu: 50m, memory: 16Mi }
  ingress: { host: ${WS_HOST}, port: http }
`,
  );
  return file;
}

/** A WebSocket to the ws service through the plain listener (Host header set), once it is open. */
function openWs(): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${ingress.httpPort}/`, { headers: { host: WS_HOST }, handshakeTimeout: 5000 });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => {
      reject(new Error(`HTTP ${res.statusCode}`));
      ws.terminate();
    });
  });
}

/** Resolves with the first of `done`, or rejects naming `what` after `ms`. */
function within<T>(done: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    done.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    }),
  ]);
}

describe('WebSocket through the local load balancer', () => {
  it('keeps an echo connection to a busybox replica and closes it with a close frame when the replica is drained', { timeout: 120_000 }, async () => {
    expect((await cli('apply', '-f', wsSpec())).code).toBe(0);
    const ws = await eventually(() => openWs().catch(() => undefined), 'a WebSocket through the load balancer to the echo replica', 40_000, 500);
    const received: string[] = [];
    const errors: string[] = [];
    ws.on('message', (data) => received.push(data.toString()));
    ws.on('error', (err) => errors.push(err.message));
    const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    const echoed = (n: number) => eventually(async () => (received.length >= n ? received.slice() : undefined), `${n} echoes`, 20_000, 50);

    for (const m of ['one', 'two', `three ${'x'.repeat(100)}`]) ws.send(m);
    expect(await echoed(3)).toEqual(['one', 'two', `three ${'x'.repeat(100)}`]);

    const tasks = json<TaskView[]>(await cli('get', 'tasks', '--service', 'ws', '-o', 'json'));
    expect(tasks).toHaveLength(1);
    const [replica] = tasks;
    expect((await cli('drain', replica.host!)).code).toBe(0);
    try {
      // Until the drain ends it, the connection still carries messages both ways.
      ws.send('while draining');
      expect((await echoed(4))[3]).toBe('while draining');
      // The replacement starts on the other host, the replica leaves the routes, and after the
      // drain (5 s) the load balancer ends the tunnel between two of the replica's frames.
      const close = await within(closed, 60_000, 'the WebSocket to close');
      expect(close).toEqual({ code: 1001, reason: 'the replica is going away' });
      expect(errors).toEqual([]);
      expect(received).toEqual(['one', 'two', `three ${'x'.repeat(100)}`, 'while draining']);
      const now = json<TaskView[]>(await cli('get', 'tasks', '--service', 'ws', '-o', 'json'));
      expect(now.map((t) => t.id)).not.toContain(replica.id);
      // A new connection reaches the replacement.
      const again = await eventually(() => openWs().catch(() => undefined), 'a WebSocket to the replacement', 30_000, 500);
      const echo = new Promise<string>((resolve) => again.once('message', (data) => resolve(data.toString())));
      again.send('again');
      expect(await within(echo, 10_000, 'the echo from the replacement')).toBe('again');
      again.close(1000);
    } finally {
      await cli('uncordon', replica.host!);
    }
  });
});
