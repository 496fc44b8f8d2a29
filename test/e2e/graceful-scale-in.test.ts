/**
 * Scaling in under load, end to end: a local cluster, real containers, bounded HTTP load through the
 * local load balancer. The replicas that go leave the load balancer first, drain, and only then get
 * their stop signal: not one request fails. The requests are POSTs to a CGI that takes 4 s, so a
 * replica stopped with requests in flight would cut them, and the proxy never retries a POST whose
 * body it has sent. Host traffic stays on 127.0.0.0/8.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import Docker from 'dockerode';
import { eventually, json, skiff, startCluster, type RunningCluster } from '../helpers/cli.ts';
import { tearDownCluster, uniqueClusterName } from '../helpers/docker.ts';
import { LABELS } from '../../agent/executor.ts';
import { SANDBOX } from '../../agent/pod-sandbox.ts';
import type { ClusterEvent } from '../../core/types.ts';

const docker = new Docker();
const cluster = uniqueClusterName('drain');
const dir = mkdtempSync(join(tmpdir(), 'skiff-drain-'));
const HOST = 'drain.example.com';
let running: RunningCluster | undefined;
let proxy: URL;

const cli = (...args: string[]) => skiff(args, { cwd: dir });

/**
 * A CGI that reads the body, takes 4 s, and answers with the replica's hostname (its task id).
 * Its header ends in CRLF, as HTTP wants (Node's parser refuses bare LF); the YAML turns `\n` into
 * newlines, and the container's printf turns `\r\n` into CR LF.
 */
// biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion for the container, not a template
const CGI = "#!/bin/sh\\nprintf 'Content-Type: text/plain\\\\r\\\\n\\\\r\\\\n'\\nread -n ${CONTENT_LENGTH:-0} body\\nsleep 4\\nhostname\\n";

function apply(replicas: number) {
  const file = join(dir, `drain-${replicas}.yaml`);
  writeFileSync(
    file,
    `kind: Service
metadata: { name: drain }
spec:
  replicas: ${replicas}
  terminationGracePeriodSeconds: 10
  ingress: { host: ${HOST}, port: http }
  containers:
    - name: web
      image: skiff/busybox:latest
      env: { CGI: "${CGI}" }
      command: ["sh", "-c", "mkdir -p /www/cgi-bin && printf \\"$CGI\\" > /www/cgi-bin/slow && chmod +x /www/cgi-bin/slow && exec httpd -f -p 8080 -h /www"]
      ports: [{ containerPort: 8080, name: http }]
      resources: { cpu: 50m, memory: 16Mi }
`,
  );
  return cli('apply', '-f', file);
}

/** One POST through the load balancer on a fresh connection; a failure is any error or non-200. */
function post(): Promise<{ ok: boolean; body: string; error?: string }> {
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: proxy.hostname,
        port: Number(proxy.port || 80),
        method: 'POST',
        path: '/cgi-bin/slow',
        headers: { host: HOST, 'content-type': 'text/plain', 'content-length': 4 },
        agent: false,
      },
      (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () =>
          resolve({ ok: res.statusCode === 200, body: body.trim(), ...(res.statusCode === 200 ? {} : { error: `HTTP ${res.statusCode}: ${body.trim()}` }) }),
        );
        res.on('error', (err) => resolve({ ok: false, body, error: err.message }));
      },
    );
    req.on('error', (err) => resolve({ ok: false, body: '', error: err.message }));
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.end('ping');
  });
}

/** The service's app containers (a pod's sandbox goes with them, and is not counted). */
const containersOfService = async () =>
  (await docker.listContainers({ all: true, filters: { label: [`${LABELS.cluster}=${cluster}`, `${LABELS.service}=drain`] } })).filter(
    (c) => c.Labels[LABELS.container] !== SANDBOX,
  );

beforeAll(async () => {
  running = await startCluster(dir, ['--cluster', cluster, '--hosts', '2', '--data', join(dir, 'data')]);
  proxy = new URL(json<{ proxy: string }>(await cli('local', 'status', '-o', 'json')).proxy);
}, 120_000);

afterAll(() => tearDownCluster(running, cluster, dir, docker));

describe('scaling in under load', { timeout: 240_000 }, () => {
  it('drains the replicas that go: zero failed requests while 4 replicas become 1', async () => {
    expect((await apply(4)).code).toBe(0);
    // Every replica takes traffic before the load starts.
    const seen = new Set<string>();
    await eventually(
      async () => {
        const r = await post();
        if (!r.ok) throw new Error(r.error);
        seen.add(r.body);
        if (seen.size < 4) throw new Error(`answered by ${seen.size} replicas so far`);
        return true;
      },
      'all 4 replicas answering through the load balancer',
      60_000,
      50,
    );

    // Bounded load: 8 clients in a loop, at most 90 s and 4,000 requests. Each request takes 4 s, so every
    // replica has requests in flight at any moment, the ones that go included.
    const results: { ok: boolean; body: string; error?: string; at: number }[] = [];
    let stop = false;
    const deadline = Date.now() + 90_000;
    const clients = Array.from({ length: 8 }, async () => {
      while (!stop && Date.now() < deadline && results.length < 4000) results.push({ ...(await post()), at: Date.now() });
    });
    await new Promise((r) => setTimeout(r, 3000));
    const scaledAt = Date.now();
    expect((await apply(1)).code).toBe(0);
    // The three that go are stopped and removed; the load runs on throughout.
    await eventually(async () => ((await containersOfService()).length === 1 ? true : undefined), 'the 3 replicas removed', 90_000, 100);
    const goneAt = Date.now();
    const goneMs = goneAt - scaledAt;
    // Two more rounds of the 8 clients, all on the replica left: a request is recorded when it ends.
    await eventually(
      async () => (results.filter((r) => r.at > goneAt).length >= 16 || Date.now() > deadline ? true : undefined),
      '16 requests after',
      60_000,
      100,
    );
    stop = true;
    await Promise.all(clients);

    const failed = results.filter((r) => !r.ok);
    const after = new Set(results.filter((r) => r.at > goneAt).map((r) => r.body));
    // When the replicas that went answered their last request: they had left the load balancer by then.
    const lastFromLeaving = Math.max(...results.filter((r) => r.ok && !after.has(r.body)).map((r) => r.at)) - scaledAt;
    console.log(
      `graceful scale-in: ${results.length} requests, ${failed.length} failed; 4 → 1 replicas; last answer from a leaving replica ${lastFromLeaving} ms after the apply started, old containers gone after ${goneMs} ms${failed.length ? `; failures: ${[...new Set(failed.map((f) => f.error))].join('; ')}` : ''}`,
    );
    expect(failed.map((f) => f.error)).toEqual([]);
    expect(results.length).toBeGreaterThan(20);
    // The load ran to the end, on the one replica left.
    expect(after.size).toBe(1);

    const events = await eventually(
      async () => {
        const list = json<ClusterEvent[]>(await cli('events', '--service', 'drain', '-o', 'json')).filter((e) => e.type === 'task.stopped');
        return list.length === 3 ? list : undefined;
      },
      'three task.stopped events',
      30_000,
    );
    for (const e of events) {
      console.log(`graceful scale-in: ${e.message}`);
      // httpd takes SIGTERM's default action at once: no kill, no wait for the grace period.
      expect(e.message).toMatch(/stopped after a \d+\.\ds drain: exited within its grace period of 10s/);
      expect(Number(/after a (\d+\.\d)s drain/.exec(e.message)![1])).toBeGreaterThanOrEqual(5);
    }
  });
});
