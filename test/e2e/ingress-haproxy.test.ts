/**
 * `skiff local up --ingress haproxy`, end to end: a local cluster whose load balancer is HAProxy,
 * busybox httpd replicas, and curl trusting the local CA (hosts resolved to 127.0.0.1 with
 * --resolve): HTTPS with affinity, HTTP redirected to HTTPS, h2, and `/api` and `/` of one host
 * going to two services. Skipped, saying why, when haproxy is not installed (CI installs it).
 * The data plane's details (retries, drain on reload, WebSocket) are covered with node replicas
 * in test/integration/haproxy.test.ts.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skiff, startCluster, type RunningCluster } from '../helpers/cli.ts';
import { LocalIngress } from '../helpers/web-service.ts';
import { tearDownCluster, uniqueClusterName } from '../helpers/docker.ts';

const installed = (() => {
  try {
    execFileSync('haproxy', ['-v']);
    return true;
  } catch {
    return false;
  }
})();
if (!installed) console.warn('test/e2e/ingress-haproxy.test.ts skipped: haproxy is not installed (apt-get install haproxy)');

const docker = new Docker();
const cluster = uniqueClusterName('hap');
const dir = mkdtempSync(join(tmpdir(), 'skiff-hap-'));
let running: RunningCluster | undefined;
let ingress: LocalIngress;

const cli = (...args: string[]) => skiff(args, { cwd: dir });

beforeAll(async () => {
  if (!installed) return;
  running = await startCluster(dir, ['--cluster', cluster, '--hosts', '1', '--ingress', 'haproxy', '--data', join(dir, 'data')]);
  ingress = await LocalIngress.of(dir, cli, 'shop.example.test');
});

afterAll(() => (installed ? tearDownCluster(running, cluster, dir, docker) : undefined));

describe.skipIf(!installed)('ingress through the HAProxy data plane (local up --ingress haproxy)', { timeout: 60_000 }, () => {
  it('serves HTTPS with affinity, redirects HTTP, negotiates h2, and routes /api to another service', async () => {
    expect(running?.output()).toContain('(HAProxy data plane)');
    await ingress.expectShopOverHttps();
    await ingress.expectApiOnItsPath();
  });
});
