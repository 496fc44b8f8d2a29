/**
 * CPU and memory used by each task's containers, for the horizontal autoscaler (docs/autoscaling.md).
 *
 * Read from the kernel's cgroup files, not from Docker: `docker stats` (one-shot) costs an API call
 * per container that Docker answers after sampling for about a second, while the cgroup files are
 * two or three small reads each (the cost of sampling 100 containers is in docs/autoscaling.md).
 * Both cgroup v1 and v2 are read, under Docker's cgroupfs and systemd drivers.
 *
 * What a task reports is held until it moves by a step (USAGE_STEP of the pod's reservation): the
 * report is rewritten only when it changes, and an idle host's report must not change every round
 * (docs/cost.md: a heartbeat is 1 write unit, a whole report several).
 */
import { readFile, access } from 'node:fs/promises';
import type { HostDocumentTask, TaskUsage } from '../core/types.ts';
import type { ContainerInfo } from './executor.ts';

/** A container's counters as the kernel keeps them. */
export interface ContainerCounters {
  /** CPU time used since the container started, in nanoseconds. */
  readonly cpuNanos: number;
  /** The working set: memory in use minus the page cache the kernel can drop (what `docker stats` and the kubelet show). */
  readonly memoryBytes: number;
}

/** Where counters come from (the cgroup files; a fake in tests). */
export interface UsageSource {
  /** The container's counters, or undefined when they cannot be read (it is gone, or not in a known place). */
  read(containerId: string): Promise<ContainerCounters | undefined>;
}

/** A reported value changes when it moves by 5% of the pod's reservation: small enough for a 10% tolerance, large enough to ignore noise. */
export const USAGE_STEP = 0.05;
/**
 * A move of 20% of the reservation or more is reported at once (a load the autoscaler acts on); a
 * smaller one at most once per SMALL_MOVE_MS per task. Each change rewrites the host's whole report
 * (8 write units at 10 tasks, docs/cost.md), so a wobbling load must not rewrite it every sample.
 */
export const LARGE_MOVE = 0.2;
export const SMALL_MOVE_MS = 5 * 60_000;
/** Counters are read this often by default: CPU is a rate, so shorter intervals are noisier (HPA's metrics-server scrapes every 15 s). */
export const DEFAULT_USAGE_SAMPLE_MS = 5000;

function field(text: string, name: string): number | undefined {
  const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** Docker's containers' cgroup files under `root` (`/sys/fs/cgroup`). */
export class CgroupUsageSource implements UsageSource {
  private version: Promise<1 | 2> | undefined;
  /** Where each container's files were found, so a path is probed once. */
  private readonly dirs = new Map<string, { cpu: string; memory: string }>();

  constructor(private readonly root = '/sys/fs/cgroup') {}

  private async dirsOf(id: string): Promise<{ cpu: string; memory: string } | undefined> {
    const known = this.dirs.get(id);
    if (known) return known;
    this.version ??= exists(`${this.root}/cgroup.controllers`).then((v2) => (v2 ? 2 : 1));
    const r = this.root;
    // cgroupfs driver first (Docker's default outside systemd hosts), then the systemd driver's scope.
    const candidates =
      (await this.version) === 2
        ? [`${r}/docker/${id}`, `${r}/system.slice/docker-${id}.scope`].map((d) => ({ cpu: d, memory: d }))
        : ['cpuacct', 'cpu,cpuacct'].flatMap((cpu) =>
            [`docker/${id}`, `system.slice/docker-${id}.scope`].map((d) => ({ cpu: `${r}/${cpu}/${d}`, memory: `${r}/memory/${d}` })),
          );
    for (const c of candidates) {
      if (await exists(c.cpu)) {
        this.dirs.set(id, c);
        return c;
      }
    }
    return undefined;
  }

  async read(id: string): Promise<ContainerCounters | undefined> {
    const dirs = await this.dirsOf(id);
    if (!dirs) return undefined;
    try {
      if ((await this.version) === 2) {
        const [cpu, current, stat] = await Promise.all([
          readFile(`${dirs.cpu}/cpu.stat`, 'utf8'),
          readFile(`${dirs.memory}/memory.current`, 'utf8'),
          readFile(`${dirs.memory}/memory.stat`, 'utf8'),
        ]);
        const usec = field(cpu, 'usage_usec');
        if (usec === undefined) return undefined;
        return { cpuNanos: usec * 1000, memoryBytes: Math.max(0, Number(current.trim()) - (field(stat, 'inactive_file') ?? 0)) };
      }
      const [cpu, usage, stat] = await Promise.all([
        readFile(`${dirs.cpu}/cpuacct.usage`, 'utf8'),
        readFile(`${dirs.memory}/memory.usage_in_bytes`, 'utf8'),
        readFile(`${dirs.memory}/memory.stat`, 'utf8'),
      ]);
      return { cpuNanos: Number(cpu.trim()), memoryBytes: Math.max(0, Number(usage.trim()) - (field(stat, 'total_inactive_file') ?? 0)) };
    } catch {
      // The container went away between the listing and the read: no figure, not an error.
      this.dirs.delete(id);
      return undefined;
    }
  }
}

interface Tracked {
  readonly task: HostDocumentTask;
  readonly containers: readonly string[];
}

/**
 * Samples the running containers of each task on a timer and keeps, per task, the usage to report:
 * CPU in millicores (the rate over the last interval) and memory in bytes, summed over the pod.
 */
export class UsageSampler {
  private tracked = new Map<string, Tracked>();
  private readonly previous = new Map<string, { at: number; cpuNanos: number }>();
  private readonly reported = new Map<string, TaskUsage>();
  private readonly reportedAt = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private sampling: Promise<unknown> | undefined;

  constructor(
    private readonly source: UsageSource,
    private readonly options: {
      readonly now: () => number;
      readonly intervalMs?: number;
      /** @default SMALL_MOVE_MS */
      readonly smallMoveMs?: number;
      readonly onChange?: () => void;
    },
  ) {}

  /** The tasks of the host and their containers, as of the agent's latest round. */
  track(tasks: readonly HostDocumentTask[], containers: readonly ContainerInfo[]): void {
    const next = new Map<string, Tracked>();
    for (const task of tasks) {
      const ids = containers.filter((c) => c.taskId === task.id && c.state === 'running').map((c) => c.id);
      if (ids.length > 0) next.set(task.id, { task, containers: ids });
    }
    this.tracked = next;
    for (const id of this.reported.keys()) if (!next.has(id)) this.reported.delete(id);
    for (const id of this.reportedAt.keys()) if (!next.has(id)) this.reportedAt.delete(id);
  }

  /** What to report for the task now; undefined until two samples of its containers were taken. */
  usageOf(taskId: string): TaskUsage | undefined {
    return this.reported.get(taskId);
  }

  start(): void {
    const tick = (): void => {
      this.sampling = this.sample().finally(() => (this.sampling = undefined));
      this.timer = setTimeout(tick, this.options.intervalMs ?? DEFAULT_USAGE_SAMPLE_MS);
      this.timer.unref?.();
    };
    tick();
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.sampling;
  }

  /** One sample of every tracked container. Returns whether any task's reported usage changed. */
  async sample(): Promise<boolean> {
    const now = this.options.now();
    const live = new Set<string>();
    let changed = false;
    for (const [taskId, t] of this.tracked) {
      let cpu = 0;
      let memory = 0;
      let complete = true;
      const counters = await Promise.all(t.containers.map((id) => this.source.read(id)));
      t.containers.forEach((id, i) => {
        live.add(id);
        const c = counters[i];
        const before = this.previous.get(id);
        if (!c) {
          complete = false;
          return;
        }
        this.previous.set(id, { at: now, cpuNanos: c.cpuNanos });
        memory += c.memoryBytes;
        // A rate needs two readings; a counter that went back is a new container under the same id.
        if (!before || now <= before.at || c.cpuNanos < before.cpuNanos) complete = false;
        else cpu += (c.cpuNanos - before.cpuNanos) / ((now - before.at) * 1000);
      });
      if (!complete) continue;
      const next: TaskUsage = { cpu: Math.round(cpu), memory: Math.round(memory / 1024) * 1024 };
      const held = this.reported.get(taskId);
      const reservation = t.task.pod.containers.reduce((sum, c) => ({ cpu: sum.cpu + c.resources.cpu, memory: sum.memory + c.resources.memory }), {
        cpu: 0,
        memory: 0,
      });
      const move = held ? Math.max(Math.abs(next.cpu - held.cpu) / reservation.cpu, Math.abs(next.memory - held.memory) / reservation.memory) : Infinity;
      const due = now - (this.reportedAt.get(taskId) ?? Number.NEGATIVE_INFINITY) >= (this.options.smallMoveMs ?? SMALL_MOVE_MS);
      if (move >= LARGE_MOVE || (move >= USAGE_STEP && due)) {
        this.reported.set(taskId, next);
        this.reportedAt.set(taskId, now);
        changed = true;
      }
    }
    for (const id of this.previous.keys()) if (!live.has(id)) this.previous.delete(id);
    if (changed) this.options.onChange?.();
    return changed;
  }
}
