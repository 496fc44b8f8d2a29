/**
 * Placements per second of the core scheduler: 100, 1,000 and 10,000 hosts with 10x as many tasks
 * (services of 10 replicas each). Prints figures; asserts nothing.
 *   npx tsx bench/scheduler.ts [--runs 5]
 */
import { schedule, type PlacementRequest } from '../core/scheduler.ts';
import type { Host } from '../core/types.ts';

const MiB = 1024 * 1024;
const runsArg = process.argv.indexOf('--runs');
const runs = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 5;

function fleet(n: number): Host[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `host-${i}`,
    address: `10.0.${i >> 8}.${i & 255}`,
    capacity: { cpu: 16_000, memory: 64 * 1024 * MiB },
    labels: { zone: ['a', 'b', 'c'][i % 3] },
    state: 'ready' as const,
    registeredAt: '2026-01-01T00:00:00.000Z',
    version: 1,
    allocations: {},
  }));
}

function tasks(n: number): PlacementRequest[] {
  return Array.from({ length: n }, (_, i) => ({
    taskId: `svc${Math.floor(i / 10)}-${i % 10}-xxxxx`,
    namespace: 'default',
    service: `svc${Math.floor(i / 10)}`,
    slot: (i % 10) + 1,
    resources: { cpu: 250 + (i % 4) * 250, memory: (128 + (i % 8) * 64) * MiB },
    hostPorts: [],
    constraints: i % 5 === 0 ? ['zone != c'] : [],
    strategy: i % 2 === 0 ? 'spread' : 'binpack',
  }));
}

console.log(`scheduler: placements/s, median of ${runs} runs (node ${process.version})`);
console.log('hosts\ttasks\tplaced\tmedian ms\tplacements/s\tmost replicas of one service on one host');
// One untimed run first, so the JIT has compiled the hot loop before timing starts.
schedule(fleet(100), tasks(1000), { seed: 'warm-up' });
for (const n of [100, 1_000, 10_000]) {
  const hosts = fleet(n);
  const reqs = tasks(n * 10);
  const times: number[] = [];
  let placed = 0;
  let worstStack = 0;
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    const result = schedule(hosts, reqs, { seed: `run-${r}` });
    times.push(performance.now() - t0);
    placed = result.placements.length;
    // spread quality: the most replicas of one service that share a host
    const perHost = new Map<string, number>();
    for (const p of result.placements) {
      const k = `${p.allocation.service}@${p.hostId}`;
      perHost.set(k, (perHost.get(k) ?? 0) + 1);
    }
    worstStack = Math.max(...perHost.values());
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  console.log(`${n}\t${reqs.length}\t${placed}\t${median.toFixed(1)}\t\t${Math.round(placed / (median / 1000)).toLocaleString('en-US')}\t\t${worstStack}`);
}
