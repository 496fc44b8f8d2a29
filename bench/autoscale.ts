/**
 * How fast the horizontal autoscaler reacts, on a local cluster of 2 hosts with real Docker: a
 * service with `targetCPUUtilization: 30` (min 1, max 3, scale-down window 15 s) whose one replica
 * burns its whole reservation while /tmp/burn exists (`yes`, held by its CPU cap to 50m). Prints, for one run:
 *   first decision   load start → the first service.scaled-up event
 *   first replica    load start → a second replica running
 *   max              load start → 3 replicas running
 *   scale-in         load end   → back to 1 replica
 * and counts direction changes within a scale-down window (flapping; expected 0). Asserts nothing;
 * cleans up after itself. Goal (issue 12): first decision ≤ 15 s (HPA's sync period).
 * With `--soak SECONDS` (300 for the 5-minute run), it then flips the load on and off every
 * 10 s (less than the scale-down window) for that long and counts the scale events and the direction
 * changes within a window (expected: scale-ups only, no scale-down while the load comes back within
 * the window), and the replica counts seen.
 *   npx tsx bench/autoscale.ts [--soak 300]
 */
import './env.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Docker from 'dockerode';
import { removeContainers, startLocalCluster } from '../local/cluster.ts';
import { LABELS } from '../agent/executor.ts';
import type { ClusterEvent, TaskView } from '../core/types.ts';
import { authedFetch } from '../test/helpers/local-api.ts';
import { execIn } from '../test/helpers/docker.ts';

const WINDOW_S = 15;
const soakArg = process.argv.indexOf('--soak');
const SOAK_S = soakArg > 0 ? Number(process.argv[soakArg + 1]) : 0;
if (!Number.isInteger(SOAK_S) || SOAK_S < 0 || SOAK_S > 1800) throw new Error('--soak takes a number of seconds from 0 to 1800');
const cluster = `hpa${randomBytes(3).toString('hex')}`;
const dataDir = mkdtempSync(join(tmpdir(), 'skiff-hpa-bench-'));
const docker = new Docker();

const local = await startLocalCluster({ cluster, dataDir, hosts: 2, log: () => {} });
const api = local.status.api;
const apiFetch = authedFetch(local.token);
const get = async <T>(path: string): Promise<T> => (await (await apiFetch(`${api}${path}`)).json()) as T;
const running = async () =>
  (await get<TaskView[]>('/v1/tasks?namespace=default&service=burner')).filter((t) => t.desired === 'running' && t.state === 'running');
const events = () => get<ClusterEvent[]>('/v1/events?service=burner');
async function until<T>(what: string, check: () => Promise<T | undefined>, limitMs = 180_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() - t0 > limitMs) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
const seconds = (t0: number) => ((performance.now() - t0) / 1000).toFixed(1);

try {
  const res = await apiFetch(`${api}/v1/services`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      kind: 'Service',
      metadata: { name: 'burner' },
      spec: {
        replicas: 1,
        containers: [
          {
            name: 'app',
            image: 'skiff/busybox:latest',
            command: ['sh', '-c', 'mkdir -p /tmp; while true; do if [ -f /tmp/burn ]; then yes > /dev/null & p=$!; sleep 1; kill $p; else sleep 1; fi; done'],
            resources: { cpu: '50m', memory: '16Mi' },
          },
        ],
        autoscaling: { minReplicas: 1, maxReplicas: 3, targetCPUUtilization: 30, scaleDownStabilizationSeconds: WINDOW_S },
      },
    }),
  });
  if (!res.ok) throw new Error(`apply failed: ${await res.text()}`);
  const [first] = await until('one replica', async () => ((await running()).length === 1 ? running() : undefined));
  const [container] = await docker.listContainers({ filters: { label: [`${LABELS.cluster}=${cluster}`, `${LABELS.task}=${first.id}`] } });
  // Let the first usage figures arrive, so the load start is the only change.
  await new Promise((r) => setTimeout(r, 12_000));

  const start = performance.now();
  await execIn(docker, container.Id, ['touch', '/tmp/burn']);
  const decided = until('a scale-up event', async () => ((await events()).some((e) => e.type === 'service.scaled-up') ? seconds(start) : undefined));
  const second = until('a second replica', async () => ((await running()).length >= 2 ? seconds(start) : undefined));
  const max = until('three replicas', async () => ((await running()).length === 3 ? seconds(start) : undefined));
  console.log(`first decision   ${await decided} s after the load started`);
  console.log(`first replica    ${await second} s`);
  console.log(`max (3)          ${await max} s`);

  const end = performance.now();
  await execIn(docker, container.Id, ['rm', '-f', '/tmp/burn']);
  console.log(
    `scale-in (to 1)  ${await until('one replica again', async () => ((await running()).length === 1 ? seconds(end) : undefined))} s after the load ended (window ${WINDOW_S} s)`,
  );

  const scaleEvents = async (since = 0) =>
    (await events())
      .filter((e) => (e.type === 'service.scaled-up' || e.type === 'service.scaled-down') && Date.parse(e.at) >= since)
      .map((e) => ({ at: Date.parse(e.at), up: e.type === 'service.scaled-up' }))
      .sort((a, b) => a.at - b.at);
  /** Scale-downs that follow a scale-up within the window: the direction changes a stabilization window forbids. */
  const flapsOf = (changes: { at: number; up: boolean }[]) =>
    changes.filter((c, i) => i > 0 && !c.up && changes[i - 1].up && c.at - changes[i - 1].at < WINDOW_S * 1000).length;
  const changes = await scaleEvents();
  console.log(`direction changes within the scale-down window: ${flapsOf(changes)} (of ${changes.length} scale events)`);

  if (SOAK_S > 0) {
    // Containers come and go as it scales: the flag goes to every running replica's container.
    const setLoad = async (on: boolean) => {
      const ids = new Set((await running()).map((t) => t.id));
      const all = await docker.listContainers({ filters: { label: [`${LABELS.cluster}=${cluster}`, `${LABELS.service}=burner`] } });
      await Promise.all(
        all
          .filter((c) => ids.has(c.Labels[LABELS.task] ?? '') && c.Labels[LABELS.container] === 'app')
          .map((c) => execIn(docker, c.Id, on ? ['touch', '/tmp/burn'] : ['rm', '-f', '/tmp/burn']).catch(() => undefined)),
      );
    };
    const soakStart = Date.now();
    const seen = new Set<number>();
    let on = false;
    while (Date.now() - soakStart < SOAK_S * 1000) {
      on = !on;
      await setLoad(on);
      for (let i = 0; i < 10; i++) {
        seen.add((await running()).length);
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    await setLoad(false);
    const soak = await scaleEvents(soakStart);
    console.log(
      `soak ${SOAK_S} s, load flipped every 10 s: ${soak.filter((c) => c.up).length} scale-ups, ${soak.filter((c) => !c.up).length} scale-downs, ` +
        `${flapsOf(soak)} direction changes within the ${WINDOW_S} s window; replicas running seen: ${[...seen].sort().join(', ')}`,
    );
  }
} finally {
  await local.stop();
  await removeContainers(cluster);
  rmSync(dataDir, { recursive: true, force: true });
}
