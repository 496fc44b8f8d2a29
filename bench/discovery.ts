/**
 * How fast names and routes follow the replicas, and what the load balancer costs. On a local
 * cluster of 3 hosts with real Docker; every request goes to 127.0.0.0/8. Prints figures, asserts
 * nothing, cleans up after itself.
 *   death → gone from DNS     a replica killed (restartPolicy never) → its SRV answer gone
 *   death → gone from proxy   … → out of the load balancer's route table
 *   scale-up → serving        replicas 3 → 4 → the new replica answers through the proxy
 *   requests/s                wrk, 2 threads, 8 connections, 5 s (busybox httpd forks per connection: more connections measure its fork rate, not the proxy), median of 3 interleaved rounds:
 *                             through the cluster's proxy (3 replicas), direct (1), and, when haproxy is installed, through Skiff's HAProxy data plane
 *                             (`local up --ingress haproxy`, local/haproxy.ts, fed the cluster's route table) and a bare HAProxy to the same 3 replicas
 *   npx tsx bench/discovery.ts [--runs 5]
 * Docker Swarm here: DNS catches up 1.0–1.3 s after scaling.
 */
import './env.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { numberFlag } from './args.ts';
import { execFile, spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { promisify } from 'node:util';
import { request } from 'node:http';
import Docker from 'dockerode';
import { UDPClient } from 'dns2';
import { removeContainers, startLocalCluster } from '../local/cluster.ts';
import { type HaproxyServer, startHaproxy } from '../local/haproxy.ts';
import { LABELS } from '../agent/executor.ts';
import type { TaskView } from '../core/types.ts';
import { authedFetch } from '../test/helpers/local-api.ts';
import { type HaproxyChild, median, startBareHaproxy, wrk as wrkRun } from './ingress-peers.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' } } });
const runs = numberFlag('discovery', values, 'runs', { min: 1, max: 100, integer: true });
const cluster = `disc${randomBytes(3).toString('hex')}`;
const dataDir = mkdtempSync(join(tmpdir(), 'skiff-disc-'));
const docker = new Docker();
const HOST = 'web.example.test';

const local = await startLocalCluster({ cluster, dataDir, hosts: 3, log: () => {} });
const api = local.status.api;
const apiFetch = authedFetch(local.token);
const dnsPort = Number(local.status.dns.split(':')[1]);
const proxy = new URL(local.status.proxy);

const get = async <T>(path: string): Promise<T> => (await (await apiFetch(`${api}${path}`)).json()) as T;
const tasks = () => get<TaskView[]>('/v1/tasks?namespace=default&service=web');
const apply = async (replicas: number) => {
  const spec = {
    kind: 'Service',
    metadata: { name: 'web' },
    spec: {
      replicas,
      restartPolicy: 'never',
      containers: [
        {
          name: 'web',
          image: 'skiff/busybox:latest',
          command: ['sh', '-c', 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www'],
          ports: [{ containerPort: 8080, name: 'http' }],
          // Half a core each, not less: the agent caps a container at its cpu (Docker's NanoCpus), and
          // at 50m the replicas (busybox httpd forks per connection) served 13-16 requests/s, which
          // measured the cap, not the proxies.
          resources: { cpu: '500m', memory: '16Mi' },
        },
      ],
      ingress: { host: HOST, port: 8080 },
    },
  };
  const res = await apiFetch(`${api}/v1/services`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(spec) });
  if (!res.ok) throw new Error(`apply failed: ${await res.text()}`);
};
/** A fresh set of replicas: the service deleted, then applied. */
async function applyFresh(replicas: number): Promise<void> {
  await apiFetch(`${api}/v1/namespaces/default/services/web`, { method: 'DELETE' });
  await until('web deleted', async () => ((await apiFetch(`${api}/v1/namespaces/default/services/web`)).status === 404 ? true : undefined));
  await apply(replicas);
}
async function until<T>(what: string, check: () => Promise<T | undefined> | T | undefined, limitMs = 60_000, everyMs = 10): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() - t0 > limitMs) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
// The replicas' task ids in the SRV answer, by its targets (`<task id>.web.default.skiff.internal`):
// not by port, as the local hosts each have their own address and hand out host ports on their
// own, so a live replica on another host may hold the very port of the dead one.
const srvTasks = async (): Promise<string[]> => {
  const res = (await UDPClient({ dns: '127.0.0.1', port: dnsPort, timeout: 1000 })('_http._tcp.web.default.skiff.internal', 'SRV')) as unknown as {
    answers: { target: string }[];
  };
  return res.answers.map((a) => a.target.split('.')[0]).sort();
};
const viaProxy = (): Promise<string> =>
  new Promise((resolve, reject) => {
    const req = request({ host: proxy.hostname, port: Number(proxy.port || 80), path: '/', headers: { host: HOST }, agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(res.statusCode === 200 ? body.trim() : ''));
    });
    req.on('error', reject);
    req.end();
  });
const stats = (xs: number[]) => {
  const s = xs.slice().sort((a, b) => a - b);
  return `${median(s).toFixed(3)}\t${s[s.length - 1].toFixed(3)}\t${s.map((x) => x.toFixed(3)).join(' ')}`;
};

let haproxyPlane: HaproxyServer | undefined;
let bareHaproxy: HaproxyChild | undefined;

try {
  await until('hosts to register', async () => {
    const hosts = await get<{ heartbeatAt: string | null }[]>('/v1/hosts');
    return hosts.length === 3 && hosts.every((h) => h.heartbeatAt) ? true : undefined;
  });
  console.log(`discovery: 3 local hosts, cluster ${cluster}, ${runs} runs (seconds)`);
  console.log('scenario\t\t\tmedian\tmax\tall runs');

  const dnsGone: number[] = [];
  const proxyGone: number[] = [];
  const scaleUp: number[] = [];
  for (let r = 0; r < runs; r++) {
    await applyFresh(3);
    const ready = await until('3 replicas in DNS and the proxy', async () => {
      const t = (await tasks()).filter((x) => x.state === 'running');
      if (t.length !== 3) return undefined;
      const named = await srvTasks();
      const targets = local.routes().find((x) => x.host === HOST)?.targets.length ?? 0;
      return named.length === 3 && targets === 3 ? t : undefined;
    });
    // death
    const victim = ready[0];
    const [container] = await docker.listContainers({
      filters: { label: [`${LABELS.cluster}=${cluster}`, `${LABELS.task}=${victim.id}`, `${LABELS.container}=web`] },
    });
    const t0 = performance.now();
    await docker.getContainer(container.Id).kill();
    let dnsAt = 0;
    let proxyAt = 0;
    await until('the dead replica gone from DNS and the proxy', async () => {
      const now = performance.now();
      if (!proxyAt && !(local.routes().find((x) => x.host === HOST)?.targets ?? []).some((t) => t.taskId === victim.id)) proxyAt = now;
      if (!dnsAt && !(await srvTasks()).includes(victim.id)) dnsAt = performance.now();
      return dnsAt && proxyAt ? true : undefined;
    }).catch(async (err: Error) => {
      const state = (await tasks()).find((t) => t.id === victim.id)?.state ?? 'gone';
      throw new Error(
        `${err.message}: DNS ${dnsAt ? 'dropped it' : 'still lists it'}, the proxy ${proxyAt ? 'dropped it' : 'still routes to it'}; its task is ${state}`,
      );
    });
    dnsGone.push((dnsAt - t0) / 1000);
    proxyGone.push((proxyAt - t0) / 1000);
    // scale-up: slot 4 is new; time until it answers through the proxy
    const t1 = performance.now();
    await apply(4);
    const added = await until('the 4th replica', async () => (await tasks()).find((t) => t.slot === 4));
    await until('the new replica serving through the proxy', async () => ((await viaProxy()) === added.id ? true : undefined), 60_000, 0);
    scaleUp.push((performance.now() - t1) / 1000);
  }
  console.log(`death → gone from DNS\t\t${stats(dnsGone)}`);
  console.log(`death → gone from proxy\t\t${stats(proxyGone)}`);
  console.log(`scale-up → serving via proxy\t${stats(scaleUp)}`);

  // throughput: through the proxy to 3 replicas vs direct to one
  const wrk = spawnSync('wrk', ['--version']).error ? undefined : 'wrk';
  if (!wrk) {
    console.log('requests/s: skipped, wrk is not installed (apt-get install wrk)');
  } else {
    // A fresh set: after the runs the service holds the killed replica (restartPolicy never keeps it
    // failed) and a 4th, which apply(3) would stop in the middle of the rounds.
    await applyFresh(3);
    // The very replicas that run, not only as many: the bare HAProxy's configuration is written
    // once from the route table, and a target of it that is gone refuses every connection.
    const direct = await until('3 running, and the same 3 in the route table', async () => {
      const t = (await tasks()).filter((x) => x.state === 'running');
      const running = t.map((x) => `${x.ports[0]?.hostIp}:${x.ports[0]?.hostPort}`).sort();
      const routed = (local.routes().find((x) => x.host === HOST)?.targets ?? []).map((x) => `${x.ip}:${x.port}`).sort();
      return t.length === 3 && routed.join() === running.join() ? t[0] : undefined;
    });
    // wrk runs asynchronously: the proxy lives in this process, and a synchronous child would stop
    // its event loop for the whole run (0 requests served).
    const run = async (url: string, host?: string) => {
      const { rate, failed } = await wrkRun(url, { seconds: 5, host, timeoutMs: 30_000 });
      // A rate is only worth printing with what failed.
      if (failed > 0) failures.set(url, (failures.get(url) ?? 0) + failed);
      return rate;
    };
    const failures = new Map<string, number>();
    // HAProxy beside it, to the same 3 replicas (issue 17: Skiff's ingress against the proxies people
    // use, in the same run): Skiff's HAProxy data plane fed the cluster's route table, and a bare
    // HAProxy with one backend and no rules. Both stopped in the finally below.
    const route = local.routes().find((x) => x.host === HOST)!;
    // Every target answering by itself first: the proxies retry a refused connection on another
    // replica and would hide one that does not serve; a bare HAProxy would not.
    for (const t of route.targets) {
      const answer = await fetch(`http://${t.ip}:${t.port}/`, { signal: AbortSignal.timeout(2000) }).then(
        (r) => `${r.status}`,
        (err: Error) => (err.cause as Error | undefined)?.message ?? err.message,
      );
      console.log(`target ${t.taskId} ${t.ip}:${t.port}: ${answer}`);
    }
    const cases: [string, string, string?][] = [
      [`requests/s through the proxy (3 replicas)`, `${proxy.origin}/`, HOST],
      [`requests/s direct to one replica`, `http://${direct.ports[0].hostIp}:${direct.ports[0].hostPort}/`],
    ];
    if (spawnSync('haproxy', ['-v']).error) console.log('HAProxy figures: skipped, haproxy is not installed (apt-get install haproxy)');
    else {
      haproxyPlane = await startHaproxy({ runDir: join(dataDir, 'bench-haproxy-plane'), log: () => {}, debounceMs: 0 });
      await haproxyPlane.sync([route]);
      bareHaproxy = await startBareHaproxy({ file: join(dataDir, 'bench-haproxy.cfg'), servers: route.targets.map((t) => `${t.ip}:${t.port}`) });
      const port = bareHaproxy.plainPort;
      const listening = () =>
        new Promise<boolean>((resolve) => {
          const c = connect(port, '127.0.0.1', () => c.end(() => resolve(true)));
          c.on('error', () => resolve(false));
        });
      await until('bare haproxy to listen', async () => ((await listening()) ? true : undefined), 10_000, 100);
      cases.push(
        [`requests/s through Skiff's HAProxy data plane`, `${haproxyPlane.url}/`, HOST],
        [`requests/s through a bare HAProxy`, `http://127.0.0.1:${port}/`],
      );
    }
    // Interleaved rounds, so a busy moment of the machine falls on every case alike.
    const rates = cases.map(() => [] as number[]);
    for (let round = 0; round < 3; round++) for (const [i, [, url, host]] of cases.entries()) rates[i].push(await run(url, host));
    const medians = rates.map(median);
    for (const [i, [name, url]] of cases.entries())
      console.log(
        `${name.padEnd(46)}${medians[i].toFixed(0)}\t(${rates[i].map((x) => x.toFixed(0)).join(', ')})${failures.has(url) ? `, ${failures.get(url)} failed requests` : ''}`,
      );
    const [viaLb, oneReplica, viaPlane, viaHaproxy] = medians;
    console.log(`proxy cost\t\t\t\t\t${((1 - viaLb / oneReplica) * 100).toFixed(1)}% of direct throughput`);
    if (viaHaproxy !== undefined)
      console.log(`against the bare HAProxy: the proxy ${(viaLb / viaHaproxy).toFixed(2)}×, the HAProxy data plane ${(viaPlane / viaHaproxy).toFixed(2)}×`);

    // The proxy's own responsiveness while the control plane is busy: wrk for 8 s on 4 connections
    // to a host no service has (the proxy answers 404 itself, no replica involved) while 40 replicas
    // of another service are placed and started (scheduler passes, dynalite writes, discovery syncs).
    const latency = promisify(execFile)('wrk', ['-t1', '-c4', '-d8s', '--latency', '-H', 'Host: nobody.example.test', `${proxy.origin}/`], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    await new Promise((r) => setTimeout(r, 500));
    const busy = {
      kind: 'Service',
      metadata: { name: 'busy' },
      spec: {
        replicas: 40,
        restartPolicy: 'never',
        containers: [{ name: 'sleep', image: 'skiff/busybox:latest', command: ['sleep', '3600'], resources: { cpu: '10m', memory: '8Mi' } }],
      },
    };
    const put = await apiFetch(`${api}/v1/services`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(busy) });
    if (!put.ok) throw new Error(`apply failed: ${await put.text()}`);
    const { stdout } = await latency;
    // A percentile's own line of the latency distribution: its label also stands in the Thread Stats'
    // +/- Stdev column ("98.50%"), where a search for the first "50%" read the next figure as p50.
    const pick = (label: string) => new RegExp(`^\\s+${label}\\s+(\\S+)`, 'm').exec(stdout)?.[1] ?? '?';
    const max = /Latency\s+\S+\s+\S+\s+(\S+)/.exec(stdout)?.[1] ?? '?';
    const rps = /Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? '?';
    console.log(`proxy's own answers (404) during a 40-replica apply\tp50 ${pick('50%')}, p99 ${pick('99%')}, max ${max} (${rps} req/s)`);
    await apiFetch(`${api}/v1/namespaces/default/services/busy`, { method: 'DELETE' });
  }
} finally {
  bareHaproxy?.stop();
  await haproxyPlane?.close();
  await local.stop();
  await removeContainers(cluster);
  rmSync(dataDir, { recursive: true, force: true });
}
