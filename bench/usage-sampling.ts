/**
 * What sampling containers' CPU and memory costs the agent (agent/usage.ts): starts N idle
 * `skiff/busybox` containers (no network), reads their cgroup counters the way the agent does,
 * and prints the wall time and the agent's CPU time per sampling round, next to `docker stats
 * --no-stream` for the same containers. Removes its containers even on failure.
 *
 *     npx tsx bench/usage-sampling.ts [--containers 100] [--rounds 20]
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CgroupUsageSource } from '../agent/usage.ts';

const run = promisify(execFile);
const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const N = arg('containers', 100);
const ROUNDS = arg('rounds', 20);
const LABEL = `skiff.bench=usage-${process.pid}`;

async function main(): Promise<void> {
  const ids: string[] = [];
  try {
    const started = Date.now();
    for (let i = 0; i < N; i += 10) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(10, N - i) }, () =>
          run('docker', ['run', '-d', '--rm', '--network', 'none', '--label', LABEL, '--memory', '16m', 'skiff/busybox:latest', 'sleep', '600']).then((r) =>
            r.stdout.trim(),
          ),
        ),
      );
      ids.push(...batch);
    }
    console.log(`started ${ids.length} containers in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const source = new CgroupUsageSource();
    const t0 = performance.now();
    const first = await Promise.all(ids.map((id) => source.read(id)));
    console.log(`first round (finds each container's cgroup): ${(performance.now() - t0).toFixed(1)} ms, ${first.filter(Boolean).length}/${ids.length} read`);
    const walls: number[] = [];
    const cpu0 = process.cpuUsage();
    for (let r = 0; r < ROUNDS; r++) {
      const t = performance.now();
      // The agent reads one task after another; here every container is one task.
      for (const id of ids) await source.read(id);
      walls.push(performance.now() - t);
    }
    const cpu = process.cpuUsage(cpu0);
    walls.sort((a, b) => a - b);
    const cpuMs = (cpu.user + cpu.system) / 1000 / ROUNDS;
    console.log(`cgroup files, ${ids.length} containers: median ${walls[Math.floor(ROUNDS / 2)].toFixed(1)} ms wall, ${cpuMs.toFixed(1)} ms CPU per round`);
    console.log(`  at one round every 5 s: ${((cpuMs / 5000) * 100).toFixed(2)}% of one core`);
    const s = performance.now();
    await run('docker', ['stats', '--no-stream', '--format', '{{.ID}}', ...ids], { maxBuffer: 1 << 22 });
    console.log(
      `docker stats --no-stream, ${ids.length} containers: ${((performance.now() - s) / 1000).toFixed(1)} s wall (Docker samples each for about a second)`,
    );
  } finally {
    const left = (await run('docker', ['ps', '-aq', '--filter', `label=${LABEL}`])).stdout.split('\n').filter(Boolean);
    if (left.length > 0) await run('docker', ['rm', '-f', ...left]);
    console.log(`removed ${left.length} containers`);
  }
}

void main();
