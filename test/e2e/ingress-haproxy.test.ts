/**
 * `skiff local up --ingress haproxy`, end to end: a local cluster whose load balancer is HAProxy,
 * busybox httpd replicas, and curl trusting the local CA (hosts resolved to 127.0.0.1 with
 * --resolve): HTTPS with affinity, HTTP redirected to HTTPS, h2, and `/api` and `/` of one host
 * going to two services. Skipped, saying why, when haproxy is not installed (CI installs it).
 * The data plane's details (retries, drain on reload, WebSocket) are covered with node replicas
 * in test/integration/haproxy.test.ts.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, json, skiff, startCluster, type RunningCluster } from '../helpers/cli.ts';
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

const run = promisify(execFile);
const docker = new Docker();
const cluster = uniqueClusterName('hap');
const dir = mkdtempSync(join(tmpdir(), 'skiff-hap-'));
const HOST = 'shop.example.test';
let running: RunningCluster | undefined;
let httpPort = 0;
let httpsPort = 0;
let ca = '';

const cli = (...args: string[]) => skiff(args, { cwd: dir });

/** A busybox httpd serving its hostname at `/`, and `api <hostname>` under /api/. */
function spec(name: string, ingress: string, replicas = 2): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    `kind: Service
metadata: { name: ${name} }
spec:
  replicas: ${replicas}
  containers:
    - name: web
      image: skiff/busybox:latest
      command: ["sh", "-c", "mkdir -p /www/api && hostname > /www/index.html && echo ${name} $(hostname) > /www/api/index.html && exec httpd -f -p 8080 -h /www"]
      ports: [{ containerPort: 8080, name: http }]
      resources: { cpu: 50m, memory: 16Mi }
  ingress: ${ingress}
`,
  );
  return file;
}

async function curl(url: string, ...flags: string[]): Promise<string> {
  const { stdout } = await run('curl', [
    '-sS',
    '--max-time',
    '10',
    '--cacert',
    ca,
    '--resolve',
    `${HOST}:${httpsPort}:127.0.0.1`,
    '--resolve',
    `${HOST}:${httpPort}:127.0.0.1`,
    ...flags,
    url,
  ]);
  return stdout.trim();
}

const https = (path = '/') => `https://${HOST}:${httpsPort}${path}`;
const portOf = (url: string) => {
  const u = new URL(url);
  return Number(u.port || (u.protocol === 'https:' ? 443 : 80));
};

beforeAll(async () => {
  if (!installed) return;
  running = await startCluster(dir, ['--cluster', cluster, '--hosts', '1', '--ingress', 'haproxy', '--data', join(dir, 'data')]);
  const status = json<{ proxy: string; proxyHttps: string; ca: string }>(await cli('local', 'status', '-o', 'json'));
  httpPort = portOf(status.proxy);
  httpsPort = portOf(status.proxyHttps);
  ca = status.ca;
});

afterAll(() => (installed ? tearDownCluster(running, cluster, dir, docker) : undefined));

describe.skipIf(!installed)('ingress through the HAProxy data plane (local up --ingress haproxy)', { timeout: 60_000 }, () => {
  it('serves HTTPS with affinity, redirects HTTP, negotiates h2, and routes /api to another service', async () => {
    expect(running?.output()).toContain('(HAProxy data plane)');
    expect((await cli('apply', '-f', spec('shop', `{ host: ${HOST}, port: http, sessionAffinity: true, tls: true }`))).code).toBe(0);
    const first = await eventually(
      async () => {
        const body = await curl(https('/'), '-c', join(dir, 'jar'), '-w', ' %{http_code}').catch(() => '');
        return body.endsWith(' 200') ? body.slice(0, -4).trim() : undefined;
      },
      'an HTTPS answer from a replica',
      40_000,
      500,
    );
    for (let i = 0; i < 4; i++) expect(await curl(https('/'), '-b', join(dir, 'jar'))).toBe(first);
    const location = httpsPort === 443 ? `https://${HOST}/cart?x=1` : https('/cart?x=1');
    expect(await curl(`http://${HOST}:${httpPort}/cart?x=1`, '-o', '/dev/null', '-w', '%{http_code} %{redirect_url}')).toBe(`308 ${location}`);
    expect(await curl(https('/'), '--http2', '-o', '/dev/null', '-w', '%{http_version}')).toBe('2');

    expect((await cli('apply', '-f', spec('api', `{ host: ${HOST}, port: http, path: /api, tls: true }`, 1))).code).toBe(0);
    const api = await eventually(
      async () => {
        const body = (await curl(https('/api/'), '-w', ' %{http_code}').catch(() => '')).replace(/\s+/g, ' ');
        return body.startsWith('api ') && body.endsWith(' 200') ? body : undefined;
      },
      'the api service behind /api',
      40_000,
      500,
    );
    expect(api).toMatch(/^api \S+ 200$/);
    expect(await curl(https('/'))).not.toMatch(/^api /);
  });
});
