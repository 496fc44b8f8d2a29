/**
 * Central logs without Docker (docs/logs.md): the agent's LogShipper fed by a synthetic source at
 * `--rate` lines per second over `--streams` streams for `--seconds`, shipping through the CloudWatch
 * Logs adapter to the stand-in (run in a child process, so its work is not counted), while a
 * follower reads through the API core with the cursor every `--poll-ms`, as `skiff logs -f` does.
 * Prints:
 *   shipper CPU      this process's CPU time (user + system) per 1,000 lines, the follower's reads
 *                    included; Docker's own cost of reading the lines (its logs API) is not in it
 *   puts             PutLogEvents calls, and lines per call
 *   written → shown  per line, from the source emitting it to the follower receiving it (median, p95, max)
 *   exactly once     lines shown once each, in order per stream (must be yes)
 * `--no-follow` leaves the follower out: the CPU figure is then the shipper's alone.
 * Asserts nothing.   npx tsx bench/log-shipping.ts [--rate 1000] [--streams 4] [--seconds 10] [--poll-ms 1000] [--no-follow]
 */
import './env.ts';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { numberFlag } from './args.ts';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { CloudWatchLogStore } from '../adapters/aws/cloudwatch-log-store.ts';
import { MemoryStore } from '../adapters/memory/store.ts';
import { LogShipper, type LogLine, type LogSource } from '../agent/log-shipper.ts';
import { createApi } from '../app/api.ts';
import type { ContainerInfo } from '../agent/executor.ts';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '1000' },
    streams: { type: 'string', default: '4' },
    seconds: { type: 'string', default: '10' },
    'poll-ms': { type: 'string', default: '1000' },
    'no-follow': { type: 'boolean', default: false },
  },
});
const rate = numberFlag('log-shipping', values, 'rate', { min: 1, max: 1_000_000 });
const streams = numberFlag('log-shipping', values, 'streams', { min: 1, max: 1000, integer: true });
const seconds = numberFlag('log-shipping', values, 'seconds', { min: 1, max: 3600 });
const pollMs = numberFlag('log-shipping', values, 'poll-ms', { min: 10, max: 60_000 });

// The stand-in in its own process: its CPU is CloudWatch's, not the host's.
const child = spawn(
  process.execPath,
  [
    '--import',
    'tsx',
    '--input-type=module',
    '-e',
    "const { startLogsServer } = await import('./local/logs-server.ts'); const s = await startLogsServer({ maxEventsPerStream: 1000000 }); console.log(s.endpoint);",
  ],
  { cwd: new URL('..', import.meta.url).pathname, stdio: ['ignore', 'pipe', 'inherit'] },
);
const [first] = (await once(child.stdout!, 'data')) as [Buffer];
const endpoint = first.toString().trim();
const client = new CloudWatchLogsClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
const logs = new CloudWatchLogStore(client, '/skiff/bench');
await logs.createGroup();
let puts = 0;
const put = logs.put.bind(logs);
logs.put = async (stream, events) => {
  puts++;
  return put(stream, events);
};

/** Lines of each container, emitted on a timer; `written` keeps when each was emitted. */
const written = new Map<string, number>();
const queues = new Map<string, { lines: LogLine[]; wake?: () => void; done: boolean }>();
const source: LogSource = {
  async *follow(id, _since, signal) {
    const q = queues.get(id)!;
    for (;;) {
      while (q.lines.length > 0) yield q.lines.shift()!;
      if (q.done || signal.aborted) return;
      await new Promise<void>((resolve) => {
        q.wake = resolve;
      });
    }
  },
};
const containers: ContainerInfo[] = Array.from({ length: streams }, (_, i) => ({
  id: `c${i}`,
  name: `c${i}`,
  taskId: `bench-${i + 1}-abcde`,
  container: 'app',
  specHash: 'h',
  state: 'running',
  startedAt: new Date().toISOString(),
  ports: [],
  namespace: 'default',
  service: 'bench',
}));
for (const c of containers) queues.set(c.id, { lines: [], done: false });

const shipper = new LogShipper({ store: logs, source });
shipper.sync(containers);
const api = createApi({ store: new MemoryStore(), now: () => new Date(), kickScheduler: async () => undefined, logs });

// The follower: what `skiff logs -f` does, in process.
const shown = new Map<string, number[]>();
const latencies: number[] = [];
let cursor: string | undefined;
let following = !values['no-follow'];
const follower = (async () => {
  while (following) {
    const out = await api({
      method: 'GET',
      path: '/v1/namespaces/default/services/bench/logs',
      query: cursor ? { cursor, limit: '5000' } : { limit: '5000' },
      headers: {},
    });
    const body = out.body as { lines: { stream: string; message: string }[]; cursor: string };
    const now = performance.now();
    for (const l of body.lines) {
      const n = Number(l.message.split(' ')[1]);
      shown.set(l.stream, [...(shown.get(l.stream) ?? []), n]);
      const at = written.get(l.message);
      if (at !== undefined) latencies.push(now - at);
    }
    cursor = body.cursor;
    if (body.lines.length < 5000) await new Promise((r) => setTimeout(r, pollMs));
  }
})();

const cpuBefore = process.cpuUsage();
const total = rate * seconds;
const perTick = Math.max(1, Math.round(rate / 100));
let emitted = 0;
const started = performance.now();
await new Promise<void>((resolve) => {
  const timer = setInterval(() => {
    // Catch up with the clock: `rate` lines per second in all, spread over the streams.
    const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * rate));
    while (emitted < due) {
      for (let k = 0; k < perTick && emitted < due; k++) {
        const c = containers[emitted % streams];
        const q = queues.get(c.id)!;
        const message = `${c.id} ${Math.floor(emitted / streams) + 1} ${'x'.repeat(60)}`;
        written.set(message, performance.now());
        q.lines.push({ at: Date.now(), text: message });
        q.wake?.();
        emitted++;
      }
    }
    if (emitted >= total) {
      clearInterval(timer);
      resolve();
    }
  }, 10);
});
for (const q of queues.values()) {
  q.done = true;
  q.wake?.();
}
const deadline = Date.now() + 30_000;
if (!following) await shipper.flush();
while (following && [...shown.values()].reduce((a, b) => a + b.length, 0) < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
const cpu = process.cpuUsage(cpuBefore);
following = false;
await follower;
await shipper.stop();
child.kill();

const sorted = [...latencies].sort((a, b) => a - b);
const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;
const inOrder = [...shown.values()].every((ns) => ns.every((n, i) => n === i + 1));
const count = [...shown.values()].reduce((a, b) => a + b.length, 0);
const cpuMs = (cpu.user + cpu.system) / 1000;
console.log(
  `lines: ${total} at ${rate}/s over ${streams} streams for ${seconds} s, ${values['no-follow'] ? 'no follower' : `follower polling every ${pollMs} ms`}`,
);
console.log(`shipper CPU: ${((cpuMs / total) * 1000).toFixed(0)} ms per 1,000 lines (${((cpuMs / 1000 / seconds) * 100).toFixed(1)}% of a core at this rate)`);
console.log(`puts: ${puts} (${(total / Math.max(1, puts)).toFixed(0)} lines per call)`);
if (!values['no-follow']) console.log(`written → shown: median ${pct(0.5).toFixed(0)} ms, p95 ${pct(0.95).toFixed(0)} ms, max ${sorted.at(-1)?.toFixed(0)} ms`);
if (!values['no-follow']) console.log(`exactly once, in order: ${count === total && inOrder ? 'yes' : `NO (${count} shown of ${total})`}`);
process.exit(0);
