/**
 * The scheduler pass alone, on the in-memory store (no dynalite, no SSM): what the pass's own
 * work costs, apart from the store's round trips, step by step.
 * `npx tsx bench/pass-memory.ts [hosts] [replicas] [services]` (services: default one per 100 replicas;
 * bench/scale.ts runs 10 replicas a service); with `node --expose-gc --import tsx` it also prints
 * the heap a pass allocates (before any collection: an upper bound of its working set) and keeps.
 */
import { passHarness } from '../test/pass-harness.ts';
import { aSpec } from '../test/builders.ts';
import { PASS_STEPS, type PassStep } from '../app/scheduler/pass.ts';

const hosts = Number(process.argv[2] ?? 50);
const replicas = Number(process.argv[3] ?? 1000);
const services = Number(process.argv[4] ?? Math.max(1, Math.round(replicas / 100)));
const h = await passHarness(Array.from({ length: hosts }, (_, i) => ({ id: `h${i}`, cpu: 64_000, memory: 256 * 1024 * 2 ** 20 })));
for (let s = 0; s < services; s++)
  await h.inner.putService(aSpec({ name: `s${s}`, replicas: Math.ceil(replicas / services), cpu: 100 }), '2026-01-01T00:00:00.000Z', 0);

/** The pass's steps, each timed. */
let times = new Map<string, number>();
const timed: PassStep[] = PASS_STEPS.map((step) => ({
  name: step.name,
  async run(ctx) {
    const t = performance.now();
    await step.run(ctx);
    times.set(step.name, performance.now() - t);
  },
}));
const steps = () => [...times].map(([name, ms]) => `${name} ${ms.toFixed(0)}`).join(', ');

console.log(`${hosts} hosts, ${replicas} replicas in ${services} services (in-memory store)`);
const gc = (globalThis as { gc?: () => void }).gc;
const MB = 2 ** 20;
for (const label of ['first pass', 'next pass, nothing to do', 'again']) {
  times = new Map();
  gc?.();
  const base = process.memoryUsage().heapUsed;
  const t = performance.now();
  const r = await h.pass('bench', {}, timed);
  const ms = performance.now() - t;
  const after = process.memoryUsage().heapUsed;
  gc?.();
  const kept = process.memoryUsage().heapUsed;
  const heap = gc ? `; heap +${((after - base) / MB).toFixed(0)} MB during the pass, +${((kept - base) / MB).toFixed(0)} MB kept (the store's new items)` : '';
  console.log(`  ${label}: ${ms.toFixed(0)} ms (${r.placed} placed, ${r.published.length} published)${heap}; ms per step: ${steps()}`);
}
