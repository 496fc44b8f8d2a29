/**
 * A Compose file deployed as it is (issue 16), end to end: a local cluster of one host, real Docker,
 * `skiff apply -f compose.yaml` on test/fixtures/compose/busybox-pair (project `pair`: a web server
 * and a client, both skiff/busybox). The client reaches the web server by its short name, `web`, as
 * under docker compose: the pod's resolver searches `pair.skiff.internal` (agent/docker.ts). The
 * wget runs inside the client's container (docker exec): the host sends nothing beyond 127.0.0.0/8.
 * Then test/fixtures/compose/busybox-stack (project `stack`): two healthchecked web replicas behind
 * the load balancer (x-skiff-ingress, its host from .env, the greeting a default of an
 * interpolation) and a store keeping its data in a named volume.
 */
import { copyFileSync, mkdirSync, mkdtempSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LABELS } from '../../agent/executor.ts';
import { eventually, ROOT, skiff, startCluster, type RunningCluster } from '../helpers/cli.ts';
import { execIn, tearDownCluster, uniqueClusterName } from '../helpers/docker.ts';

const docker = new Docker();
const cluster = uniqueClusterName('compose');
const dir = mkdtempSync(join(tmpdir(), 'skiff-compose-'));
let running: RunningCluster | undefined;

const cli = (...args: string[]) => skiff(args, { cwd: dir, timeoutMs: 90_000 });

/** The app container (not the pod's sandbox) of a service of namespace pair. */
async function containerOf(service: string): Promise<Docker.ContainerInfo> {
  return eventually(
    async () =>
      (
        await docker.listContainers({
          filters: { label: [`${LABELS.cluster}=${cluster}`, `${LABELS.namespace}=pair`, `${LABELS.service}=${service}`, `${LABELS.container}=${service}`] },
        })
      )[0],
    `the container of pair/${service}`,
    30_000,
  );
}

/** Runs `wget -qO- url` in the container; its output when it fetched the page, else undefined. */
async function wgetFrom(container: Docker.ContainerInfo, url: string): Promise<string | undefined> {
  // Busybox's own timeout bounds it (its wget crashes with -T in this image).
  const r = await execIn(docker, container.Id, ['timeout', '10', 'wget', '-qO-', url]);
  return r.exitCode === 0 ? r.stdout : undefined;
}

beforeAll(async () => {
  copyFileSync(join(ROOT, 'test', 'fixtures', 'compose', 'busybox-pair', 'compose.yaml'), join(dir, 'compose.yaml'));
  const stack = join(ROOT, 'test', 'fixtures', 'compose', 'busybox-stack');
  mkdirSync(join(dir, 'stack'));
  for (const f of ['compose.yaml', '.env']) copyFileSync(join(stack, f), join(dir, 'stack', f));
  running = await startCluster(dir, ['--cluster', cluster, '--hosts', '1', '--data', join(dir, 'data')], 60_000);
}, 90_000);

afterAll(() => tearDownCluster(running, cluster, dir, docker), 90_000);

describe('a Compose file deployed as it is', { timeout: 120_000 }, () => {
  it('runs both services in the project namespace, and the client reaches web by its short name', async () => {
    const res = await cli('apply', '-f', 'compose.yaml', '--timeout', '60');
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain('service pair/web created');
    expect(res.stdout).toContain('service pair/client created');
    // depends_on is named: Skiff keeps no start order.
    expect(res.stderr).toContain('warning: services.client.depends_on');
    const client = await containerOf('client');
    // web may take a moment to listen, and its name to resolve.
    const page = await eventually(async () => wgetFrom(client, 'http://web:8080/'), 'pair/client fetching http://web:8080/', 45_000, 1000);
    // Without a TTY, Docker frames the output with 8-byte headers: look for the page within it.
    expect(page).toContain('pair-web');
  });

  it('deploys a web tier behind the load balancer and a store on a named volume, from .env and defaults', async () => {
    const res = await skiff(['apply', '-f', 'compose.yaml', '--timeout', '90'], { cwd: join(dir, 'stack'), timeoutMs: 120_000 });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain('service stack/web created');
    // apply waits for the replicas to run; their probes pass a moment later (a loaded machine fails a first probe or two).
    const states = await eventually(
      async () => {
        const tasks = JSON.parse((await cli('get', 'tasks', '-n', 'stack', '-o', 'json')).stdout) as { service: string; state: string; health?: string }[];
        const web = tasks.filter((t) => t.service === 'web').map((t) => [t.state, t.health]);
        return web.every(([state, health]) => state === 'running' && health === 'healthy') ? web : undefined;
      },
      'both web replicas running and healthy',
      60_000,
      500,
    );
    expect(states).toEqual([
      ['running', 'healthy'],
      ['running', 'healthy'],
    ]);
    const volumes = await cli('get', 'volumes', '-n', 'stack', '-o', 'json');
    expect(volumes.stdout).toContain('store-data');
    // Through the load balancer by the host .env names: both replicas answer with the default greeting.
    const proxy = new URL((JSON.parse((await cli('local', 'status', '-o', 'json')).stdout) as { proxy: string }).proxy);
    const get = () =>
      new Promise<string>((resolve, reject) => {
        const req = request({ host: proxy.hostname, port: Number(proxy.port || 80), path: '/', headers: { host: 'stack.compose.test' }, agent: false }, (r) => {
          let body = '';
          r.on('data', (d) => (body += d));
          r.on('end', () => (r.statusCode === 200 ? resolve(body.trim()) : reject(new Error(`HTTP ${r.statusCode}: ${body}`))));
        });
        req.on('error', reject);
        req.setTimeout(5000, () => req.destroy(new Error('timeout')));
        req.end();
      });
    const seen = new Set<string>();
    await eventually(
      async () => {
        seen.add(await get());
        return seen.size >= 2 ? true : undefined;
      },
      'both web replicas answering through the load balancer',
      30_000,
      100,
    );
    for (const body of seen) expect(body).toMatch(/^hello from web-[12]-[a-z0-9]{5}$/);
  });
});
