/**
 * A container runtime in memory, for simulated hosts (bench/scale.ts) and tests: the agent's real
 * loop drives it through the `Executor` port exactly as it drives Docker. A container "starts" after
 * a configurable delay (Docker's create and start take seconds on a busy host), publishes its pod's
 * ports on the host's address from an ephemeral range, and can be made to crash. Nothing runs.
 */
import type { ContainerSpec, HostDocumentTask, PublishedPort } from '../../core/types.ts';
import type { ContainerInfo, CreateOptions, Executor, StopResult } from '../../agent/executor.ts';

export interface MemoryExecutorOptions {
  /** The agent's hash of a container spec (agent/docker.ts `containerSpecHash`): a container carries it, as Docker's label. */
  readonly hashOf: (spec: ContainerSpec) => string;
  /** How long `start` takes before the container runs (ms). @default 0 */
  readonly startDelayMs?: number;
  /** Wall clock (ms). @default Date.now */
  readonly now?: () => number;
  /** First host port handed out for a port without a fixed one (Docker's ephemeral range starts at 32768). @default 32768 */
  readonly firstHostPort?: number;
}

interface Stored {
  info: ContainerInfo;
  /** The ports it would publish once created (a joining container publishes none). */
  readonly ports: readonly PublishedPort[];
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class MemoryExecutor implements Executor {
  private readonly containers = new Map<string, Stored>();
  private readonly watchers = new Set<(id: string) => void>();
  private readonly now: () => number;
  private nextPort: number;
  private seq = 0;
  /** Containers started, in this executor's lifetime (restarts included). */
  starts = 0;

  constructor(private readonly options: MemoryExecutorOptions) {
    if (typeof options.hashOf !== 'function') throw new TypeError('MemoryExecutor: hashOf must be a function');
    const delay = options.startDelayMs ?? 0;
    if (!Number.isFinite(delay) || delay < 0) throw new TypeError(`MemoryExecutor: startDelayMs must be a number of milliseconds >= 0, got ${String(delay)}`);
    this.now = options.now ?? Date.now;
    this.nextPort = options.firstHostPort ?? 32768;
  }

  async list(): Promise<ContainerInfo[]> {
    return [...this.containers.values()].map((c) => c.info);
  }

  async inspect(id: string): Promise<ContainerInfo | undefined> {
    return this.containers.get(id)?.info;
  }

  async create(task: HostDocumentTask, container: ContainerSpec, options: CreateOptions): Promise<string> {
    const name = `${task.id}.${container.name}`;
    // Docker refuses a second container of the same name; the agent must never ask for one.
    for (const c of this.containers.values())
      if (c.info.name === name) throw Object.assign(new Error(`docker create: name ${name} is already in use`), { statusCode: 409 });
    const id = `mem${(++this.seq).toString(16).padStart(12, '0')}`;
    const specs = options.joinNetworkOf ? [] : (options.podPorts ?? container.ports);
    const ports = specs.map((p) => ({
      container: container.name,
      containerPort: p.containerPort,
      protocol: p.protocol,
      hostIp: options.hostAddress,
      hostPort: p.hostPort ?? this.nextPort++,
    }));
    const info: ContainerInfo = {
      id,
      name,
      taskId: task.id,
      container: container.name,
      specHash: this.options.hashOf(container),
      state: 'created',
      ports: [],
      namespace: task.namespace,
      service: task.service,
      stopGraceSeconds: task.pod.terminationGracePeriodSeconds ?? 30,
    };
    this.containers.set(id, { info, ports });
    return id;
  }

  async start(id: string): Promise<void> {
    if (!this.containers.has(id)) throw Object.assign(new Error(`docker start: no such container: ${id}`), { statusCode: 404 });
    const delay = this.options.startDelayMs ?? 0;
    if (delay > 0) await sleep(delay);
    const c = this.containers.get(id);
    // Removed while it was starting: Docker answers 404 too.
    if (!c) throw Object.assign(new Error(`docker start: no such container: ${id}`), { statusCode: 404 });
    this.starts++;
    const { exitCode: _e, finishedAt: _f, oomKilled: _o, ...rest } = c.info;
    c.info = { ...rest, state: 'running', startedAt: new Date(this.now()).toISOString(), ports: c.ports };
  }

  async stopAndRemove(id: string): Promise<StopResult> {
    const c = this.containers.get(id);
    if (!c) return {};
    this.containers.delete(id);
    return c.info.state === 'running' ? { exitCode: 143 } : c.info.exitCode !== undefined ? { exitCode: c.info.exitCode } : {};
  }

  async hasImage(): Promise<boolean> {
    return true;
  }

  async pull(): Promise<void> {}

  watchExits(onExit: (containerId: string) => void, onReady?: () => void): () => void {
    this.watchers.add(onExit);
    onReady?.();
    return () => this.watchers.delete(onExit);
  }

  async exec(id: string): Promise<{ exitCode: number; output: string }> {
    const c = this.containers.get(id);
    if (c?.info.state !== 'running') throw Object.assign(new Error(`docker exec: container ${id} is not running`), { statusCode: 409 });
    return { exitCode: 0, output: '' };
  }

  /** Makes a running container exit with `exitCode` (a crash), and tells the watchers. False when it was not running. */
  crash(id: string, exitCode = 1): boolean {
    const c = this.containers.get(id);
    if (c?.info.state !== 'running') return false;
    c.info = { ...c.info, state: 'exited', exitCode, finishedAt: new Date(this.now()).toISOString(), ports: [] };
    for (const w of this.watchers) w(id);
    return true;
  }

  /** The running containers, sandboxes included. */
  running(): ContainerInfo[] {
    return [...this.containers.values()].map((c) => c.info).filter((c) => c.state === 'running');
  }
}
