/**
 * Names and routes follow the replicas, end to end: a local cluster, real DNS queries to its DNS
 * server, real HTTP through its load balancer, real Docker. Host traffic stays on 127.0.0.0/8.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import Docker from 'dockerode';
import { UDPClient } from 'dns2';
import { eventually, json, skiff, startCluster, type RunningCluster } from '../helpers/cli.ts';
import { type WebServiceOptions, writeWebService } from '../helpers/web-service.ts';
import { tearDownCluster, uniqueClusterName } from '../helpers/docker.ts';
import { LABELS } from '../../agent/executor.ts';
import type { TaskView } from '../../core/types.ts';

const docker = new Docker();
const cluster = uniqueClusterName('disc');
const dir = mkdtempSync(join(tmpdir(), 'skiff-disc-'));
let running: RunningCluster | undefined;
let dnsPort = 0;
let proxyUrl = '';

const cli = (...args: string[]) => skiff(args, { cwd: dir });
const tasksOf = async (service: string) => json<TaskView[]>(await cli('get', 'tasks', '--service', service, '-o', 'json'));

function apply(name: string, replicas: number, o: Omit<WebServiceOptions, 'replicas'> = {}) {
  return cli('apply', '-f', writeWebService(dir, name, { replicas, ...o }));
}

async function query(name: string, type: 'A' | 'SRV'): Promise<{ answers: { address?: string; port?: number; target?: string }[]; rcode: number }> {
  const resolve = UDPClient({ dns: '127.0.0.1', port: dnsPort, timeout: 2000 });
  const res = (await resolve(name, type)) as unknown as { answers: { address?: string; port?: number; target?: string }[]; header: { rcode: number } };
  return { answers: res.answers, rcode: res.header.rcode };
}

/** One HTTP GET through the load balancer with a Host header; loopback only. */
function viaProxy(host: string, cookie?: string): Promise<{ status: number; body: string; setCookie?: string }> {
  const url = new URL(proxyUrl);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: Number(url.port || 80), path: '/', headers: { host, ...(cookie ? { cookie } : {}) }, agent: false },
      (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: body.trim(), setCookie: res.headers['set-cookie']?.[0] }));
      },
    );
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.end();
  });
}

beforeAll(async () => {
  running = await startCluster(dir, ['--cluster', cluster, '--hosts', '3', '--data', join(dir, 'data')]);
  const status = json<{ dns: string; proxy: string }>(await cli('local', 'status', '-o', 'json'));
  dnsPort = Number(status.dns.split(':')[1]);
  proxyUrl = status.proxy;
});

afterAll(() => tearDownCluster(running, cluster, dir, docker));

describe('service discovery and load balancing', { timeout: 120_000 }, () => {
  it('shows where the DNS server and the load balancer listen', async () => {
    expect(dnsPort).toBeGreaterThan(0);
    expect(proxyUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('names a service by DNS: A records for its replicas, SRV with their published ports, NXDOMAIN for unknown names', async () => {
    expect((await apply('hello', 3)).code).toBe(0);
    const tasks = await tasksOf('hello');
    const expectedPorts = tasks.map((t) => t.ports[0].hostPort).sort();
    const srv = await eventually(
      async () => {
        const r = await query('_http._tcp.hello.default.skiff.internal', 'SRV');
        return r.answers.length === 3 ? r : undefined;
      },
      'SRV answers for 3 replicas',
      10_000,
    );
    expect(srv.answers.map((a) => a.port).sort()).toEqual(expectedPorts);
    const a = await query('hello.default.skiff.internal', 'A');
    expect(a.answers.map((x) => x.address).sort()).toEqual([...new Set(tasks.map((t) => t.ports[0].hostIp))].sort());
    const one = await query(`${tasks[0].id}.hello.default.skiff.internal`, 'A');
    expect(one.answers.map((x) => x.address)).toEqual([tasks[0].ports[0].hostIp]);
    expect((await query('nope.default.skiff.internal', 'A')).rcode).toBe(3); // NXDOMAIN
  });

  it('follows scaling: 3 → 5 → 2 replicas', async () => {
    for (const n of [5, 2]) {
      expect((await apply('hello', n)).code).toBe(0);
      const ports = (await tasksOf('hello')).map((t) => t.ports[0].hostPort).sort();
      await eventually(
        async () => {
          const r = await query('_http._tcp.hello.default.skiff.internal', 'SRV');
          const got = r.answers.map((x) => x.port).sort();
          return JSON.stringify(got) === JSON.stringify(ports) ? true : undefined;
        },
        `SRV answers for ${n} replicas`,
        10_000,
      );
    }
  });

  it('drops a replica that dies from DNS', async () => {
    expect((await apply('once', 2, { restartPolicy: 'never' })).code).toBe(0);
    const [victim] = await docker.listContainers({ filters: { label: [`${LABELS.cluster}=${cluster}`, `${LABELS.service}=once`, `${LABELS.container}=web`] } });
    await eventually(
      async () => ((await query('_http._tcp.once.default.skiff.internal', 'SRV')).answers.length === 2 ? true : undefined),
      'both replicas in DNS',
      10_000,
    );
    await docker.getContainer(victim.Id).kill();
    await eventually(
      async () => ((await query('_http._tcp.once.default.skiff.internal', 'SRV')).answers.length === 1 ? true : undefined),
      'the dead replica gone from DNS',
      10_000,
    );
  });

  it('balances ingress traffic over every replica, and keeps a client on one with session affinity', async () => {
    expect((await apply('web', 3, { ingress: '{ host: web.example.test, port: 8080 }' })).code).toBe(0);
    const ids = (await tasksOf('web')).map((t) => t.id).sort();
    await eventually(async () => ((await viaProxy('web.example.test')).status === 200 ? true : undefined), 'the route', 10_000);
    const seen = new Set<string>();
    for (let i = 0; i < 30; i++) {
      const r = await viaProxy('web.example.test');
      expect(r.status).toBe(200);
      seen.add(r.body);
    }
    expect([...seen].sort()).toEqual(ids);

    expect((await apply('web', 3, { ingress: '{ host: web.example.test, port: 8080, sessionAffinity: true }' })).code).toBe(0);
    const first = await eventually(
      async () => {
        const r = await viaProxy('web.example.test');
        return r.setCookie ? r : undefined;
      },
      'an affinity cookie',
      10_000,
    );
    const cookie = first.setCookie!.split(';')[0];
    for (let i = 0; i < 10; i++) expect((await viaProxy('web.example.test', cookie)).body).toBe(first.body);

    expect((await viaProxy('nobody.example.test')).status).toBe(404);
  });

  it('loses no idempotent request when a replica is killed mid-stream', async () => {
    expect((await apply('web', 3, { ingress: '{ host: web.example.test, port: 8080 }' })).code).toBe(0);
    await eventually(async () => ((await viaProxy('web.example.test')).status === 200 ? true : undefined), 'the route', 10_000);
    const [victim] = await docker.listContainers({ filters: { label: [`${LABELS.cluster}=${cluster}`, `${LABELS.service}=web`, `${LABELS.container}=web`] } });
    const statuses: number[] = [];
    for (let i = 0; i < 60; i++) {
      if (i === 10) await docker.getContainer(victim.Id).kill();
      statuses.push((await viaProxy('web.example.test')).status);
    }
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
  });

  it('answers 503 naming the service when it has no healthy replica', async () => {
    expect((await apply('web', 0, { ingress: '{ host: web.example.test, port: 8080 }' })).code).toBe(0);
    const r = await eventually(
      async () => {
        const x = await viaProxy('web.example.test');
        return x.status === 503 ? x : undefined;
      },
      'a 503',
      10_000,
    );
    expect(r.body).toContain('web');
  });

  it('lists services with their DNS name, ingress host and healthy/desired counts', async () => {
    const table = await cli('get', 'services');
    expect(table.stdout.split('\n')[0]).toMatch(/NAMESPACE\s+NAME\s+HEALTHY\s+AUTOSCALE\s+DNS\s+INGRESS/);
    expect(table.stdout).toMatch(/default\s+hello\s+2\/2\s+-\s+hello\.default\.skiff\.internal\s+-/);
    expect(table.stdout).toMatch(/default\s+web\s+0\/0\s+-\s+web\.default\.skiff\.internal\s+web\.example\.test/);
    const described = await cli('describe', 'service', 'hello');
    expect(described.stdout).toContain('DNS:       hello.default.skiff.internal');
    expect(described.stdout).toMatch(/127\.0\.1\.\d:\d+->8080/);
    // Each replica's own address on the cluster's Docker network, as its agent reports it.
    expect(described.stdout).toMatch(/TASK\s+HOST\s+ADDRESS\s+ENDPOINT/);
    expect(described.stdout).toMatch(/hello-\S+\s+\S+\s+\d+\.\d+\.\d+\.\d+\s+127\.0\.1\.\d:\d+->8080/);
  });
});
