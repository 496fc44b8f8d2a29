/**
 * The Docker implementation of the agent's Executor, over dockerode.
 *
 * Every Docker call carries an explicit timeout (`dockerCall`; the values and their reasons are in
 * `DEFAULT_TIMEOUTS`, agent/docker-calls.ts):
 * a wedged daemon must never freeze the agent's loop, because the agent also heartbeats and reports
 * status, and a host whose agent goes silent gets fenced by the control plane.
 */
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import Dockerode from 'dockerode';
import { ValidationError } from '../core/errors.ts';
import { DEFAULT_TIMEOUTS, DockerError, DockerTimeoutError, type DockerTimeouts, dockerCall, statusOf } from './docker-calls.ts';
import { DEFAULT_CAPABILITIES, DEFAULT_PIDS_LIMIT } from '../core/spec/defaults.ts';
import type { ContainerSpec, HostDocumentTask, PortSpec, PublishedPort, SecurityContext } from '../core/types.ts';
import { LABELS } from './executor.ts';
import type { ContainerInfo, ContainerRunState, CreateOptions, Executor, StopResult } from './executor.ts';
import { DEFAULT_STOP_SIGNAL, terminationGraceOf } from '../core/stopping.ts';

export interface DockerExecutorOptions {
  /** The Docker client; default: one from DOCKER_HOST or the default socket. */
  readonly docker?: Dockerode;
  /** Cluster name; part of every container's name and label set. */
  readonly cluster: string;
  readonly hostId: string;
  /** Docker network of the pods' first containers when a create names none; default: Docker's bridge network. */
  readonly network?: string;
  /**
   * DNS zone for network aliases: on `network`, a pod answers to `<service>.<namespace>.<zone>` (shared
   * by the service's replicas: Docker's embedded DNS returns them all, in rotating order) and to
   * `<taskId>.<service>.<namespace>.<zone>`. @default 'skiff.internal'
   */
  readonly zone?: string;
  /** Overrides of `DEFAULT_TIMEOUTS` (tests, unusually slow hosts). */
  readonly timeouts?: Partial<DockerTimeouts>;
}

const OPTION_KEYS = new Set(['docker', 'cluster', 'hostId', 'network', 'zone', 'timeouts']);
// The cluster is one dot-separated segment of a Docker container name, so it cannot hold a dot.
const CLUSTER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_-]*$/;
// Docker reports unset times as the zero time of Go.
const ZERO_TIME = '0001-01-01T00:00:00Z';
const RUN_STATES: ReadonlySet<string> = new Set<ContainerRunState>(['created', 'running', 'paused', 'restarting', 'removing', 'exited', 'dead']);
// Inspects issued at once by list(); keeps a host with many containers from flooding the daemon.
const INSPECT_CONCURRENCY = 8;
/** Output kept of an exec'd command: its last 4096 bytes, as Docker keeps of a health check's output. */
const EXEC_OUTPUT_MAX = 4096;
/** Between exec inspects while the daemon has not yet recorded an exit code (normally it already has). */
const EXEC_EXIT_POLL_MS = 10;

/** The search domain of a namespace's pods: `<namespace>.<zone>`, where its services' names live (core/discovery.ts). */
export function dnsSearchDomain(namespace: string, zone: string): string {
  return `${namespace}.${zone}`;
}

/** Docker's name of a task's container: `skiff.<cluster>.<namespace>.<taskId>.<container>`. */
export function containerName(cluster: string, namespace: string, taskId: string, container: string): string {
  return `skiff.${cluster}.${namespace}.${taskId}.${container}`;
}

/** A stable hash of a container spec: equal specs hash equally whatever their key order. */
export function containerSpecHash(spec: ContainerSpec): string {
  return createHash('sha256')
    .update(JSON.stringify(canonical(spec)))
    .digest('hex')
    .slice(0, 16);
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      // An absent optional field and one set to undefined are the same spec.
      if (v !== undefined) out[key] = canonical(v);
    }
    return out;
  }
  return value;
}

/** CPU shares for millicores: 1000m = 1024 shares, at least the kernel's minimum of 2. */
export function cpuShares(millicores: number): number {
  return Math.max(2, Math.round((millicores * 1024) / 1000));
}

/** Docker's NanoCpus for millicores: 1000m = 1e9, one core of CPU time per second. */
export function nanoCpus(millicores: number): number {
  return Math.round(millicores * 1_000_000);
}

/**
 * Log rotation of every container: Docker's default json-file driver never rotates, so one chatty
 * container fills the host's disk and takes every pod on it down. 3 files of 10 MB keep the last
 * ~30 MB of each container (what `docker logs` shows after a crash) and bound 60 containers to under
 * 2 GB; the same values as the daemon-wide setting on EC2 hosts, which this repeats so that a host
 * whose daemon was configured otherwise (the local cluster's) rotates too.
 */
export const LOG_CONFIG = { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '3' } } as const;

/**
 * The capabilities of a container: every one dropped, then the default set (see DEFAULT_CAPABILITIES:
 * what ordinary images use, without NET_RAW) minus the spec's drops, plus its adds (the spec allows
 * only its allow-list). `drop: [ALL]` drops the whole default set.
 */
export function capabilitiesOf(context: SecurityContext | undefined): { CapDrop: string[]; CapAdd: string[] } {
  const drop = new Set(context?.capabilities?.drop ?? []);
  const kept = drop.has('ALL') ? [] : DEFAULT_CAPABILITIES.filter((c) => !drop.has(c));
  const add = new Set<string>([...kept, ...(context?.capabilities?.add ?? [])]);
  return { CapDrop: ['ALL'], CapAdd: [...add].sort() };
}

/**
 * Why an image's user (Config.User: `name`, `uid`, `uid:gid`, empty for root) is not surely non-root, if
 * it is not. A name is refused like Kubernetes does: only the image's /etc/passwd knows its uid.
 */
function rootUserProblem(user: string): string | undefined {
  const name = user.split(':')[0];
  if (name === '' || name === 'root' || name === '0') return `runs as root (its user is ${user === '' ? 'unset, so root' : JSON.stringify(user)})`;
  if (!/^\d+$/.test(name)) return `runs as the user ${JSON.stringify(name)}, a name whose uid cannot be checked to be non-zero; give a numeric runAsUser`;
  return undefined;
}

/** Runs a task's containers with Docker; see `Executor`. */
export class DockerExecutor implements Executor {
  private readonly docker: Dockerode;
  private readonly cluster: string;
  private readonly hostId: string;
  private readonly network?: string;
  private readonly zone: string;
  private readonly timeouts: DockerTimeouts;

  constructor(options: DockerExecutorOptions) {
    const issues = Object.keys(options)
      .filter((key) => !OPTION_KEYS.has(key))
      .map((key) => ({ path: `DockerExecutor.${key}`, message: `unknown option; expected one of ${[...OPTION_KEYS].join(', ')}` }));
    if (typeof options.cluster !== 'string' || !CLUSTER_NAME.test(options.cluster)) {
      issues.push({
        path: 'DockerExecutor.cluster',
        message: `must be letters, digits, '_' or '-' (it is part of container names), got ${JSON.stringify(options.cluster)}`,
      });
    }
    if (typeof options.hostId !== 'string' || options.hostId === '') {
      issues.push({ path: 'DockerExecutor.hostId', message: 'must be a non-empty string' });
    }
    if (issues.length > 0) throw new ValidationError(issues);
    this.docker = options.docker ?? new Dockerode();
    this.cluster = options.cluster;
    this.hostId = options.hostId;
    this.network = options.network;
    this.zone = options.zone ?? 'skiff.internal';
    this.timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
  }

  async list(): Promise<ContainerInfo[]> {
    const summaries = await this.call(`list containers of cluster ${this.cluster} host ${this.hostId}`, this.timeouts.list, (abortSignal) =>
      this.docker.listContainers({
        all: true,
        filters: { label: [`${LABELS.cluster}=${this.cluster}`, `${LABELS.host}=${this.hostId}`] },
        abortSignal,
      }),
    );
    // A running container's summary says all the agent needs. The others are inspected: a summary has
    // no exit code nor start/finish times (only a human-readable status). Inspecting every container
    // each round would put tens of calls a second on dockerd and slow the container starts it serves.
    const infos: ContainerInfo[] = [];
    const needInspect: string[] = [];
    for (const s of summaries) {
      if (s.State === 'running') infos.push(fromSummary(s));
      else needInspect.push(s.Id);
    }
    for (let i = 0; i < needInspect.length; i += INSPECT_CONCURRENCY) {
      const batch = await Promise.all(needInspect.slice(i, i + INSPECT_CONCURRENCY).map((id) => this.inspect(id)));
      // A container removed between the list and its inspect is simply gone.
      for (const info of batch) if (info) infos.push(info);
    }
    return infos.sort((a, b) => a.name.localeCompare(b.name));
  }

  async inspect(id: string): Promise<ContainerInfo | undefined> {
    const data = await this.call(`inspect ${short(id)}`, this.timeouts.inspect, async (abortSignal) => {
      try {
        return await this.docker.getContainer(id).inspect({ abortSignal });
      } catch (err) {
        if (statusOf(err) === 404) return undefined;
        throw err;
      }
    });
    return data && toContainerInfo(data);
  }

  async create(task: HostDocumentTask, container: ContainerSpec, options: CreateOptions): Promise<string> {
    const name = containerName(this.cluster, task.namespace, task.id, container.name);
    const joining = options.joinNetworkOf !== undefined;
    const network = options.network ?? this.network;
    // Docker refuses port bindings and a hostname on a container that joins another's network namespace:
    // the pod's ports and hostname live on its first container.
    const ports = joining ? [] : (options.podPorts ?? container.ports);
    const security = container.securityContext;
    const user = await this.userOf(container);
    const body: Dockerode.ContainerCreateOptions = {
      name,
      Image: container.image,
      // Kubernetes semantics: command replaces the image's entrypoint, args its cmd.
      Entrypoint: container.command ? [...container.command] : undefined,
      Cmd: container.args ? [...container.args] : undefined,
      Env: Object.entries({ ...container.env, ...options.secretEnv }).map(([key, value]) => `${key}=${value}`),
      Labels: {
        [LABELS.cluster]: this.cluster,
        [LABELS.host]: this.hostId,
        [LABELS.task]: task.id,
        [LABELS.namespace]: task.namespace,
        [LABELS.service]: task.service,
        [LABELS.slot]: String(task.slot),
        [LABELS.container]: container.name,
        [LABELS.specHash]: containerSpecHash(container),
        [LABELS.stopGrace]: String(terminationGraceOf(task.pod)),
      },
      // Docker's own stop (the agent's, a daemon shutdown, `docker stop` by hand) sends the spec's
      // signal and waits the pod's grace period; the init below forwards the signal to the process.
      StopSignal: container.stopSignal ?? DEFAULT_STOP_SIGNAL,
      StopTimeout: terminationGraceOf(task.pod),
      Hostname: joining ? undefined : options.hostname,
      User: user,
      ExposedPorts: ports.length > 0 ? Object.fromEntries(ports.map((p) => [portKey(p), {}])) : undefined,
      HostConfig: {
        // An init as PID 1 forwards SIGTERM to the process, which then gets the default action (exit);
        // as PID 1 itself it would ignore SIGTERM and every stop would wait out the whole grace period.
        Init: true,
        // The agent owns restarts (it applies the pod's restartPolicy and reports each one).
        RestartPolicy: { Name: 'no' },
        Memory: container.resources.memory > 0 ? container.resources.memory : undefined,
        // Equal to Memory: no swap on top, so the limit is the hard limit the scheduler counted.
        MemorySwap: container.resources.memory > 0 ? container.resources.memory : undefined,
        CpuShares: cpuShares(container.resources.cpu),
        // A cap too, not only a weight: the container gets at most the CPU the scheduler reserved for it,
        // so one busy pod cannot take the cores its neighbours were promised (issue 13).
        NanoCpus: nanoCpus(container.resources.cpu),
        Mounts: options.mounts?.map((m) => ({ Type: m.type, Source: m.source, Target: m.target, ReadOnly: m.readOnly })),
        PortBindings: ports.length > 0 ? portBindings(ports, options.hostAddress) : undefined,
        NetworkMode: joining ? `container:${options.joinNetworkOf}` : network,
        // The pod's resolver completes short names in its namespace: `db` is `db.<namespace>.<zone>`, so
        // the services of one namespace (a Compose project) reach each other as under docker compose.
        // Containers that join the sandbox's network share its resolv.conf (Docker refuses DNS options on them).
        DnsSearch: joining ? undefined : [dnsSearchDomain(task.namespace, this.zone)],
        // Locked down by default (issue 10): the capabilities of capabilitiesOf, no privilege gained
        // through setuid programs or file capabilities, a bounded number of processes (a fork bomb
        // stays in its container), rotated logs. Privileged mode, host namespaces, devices and host
        // paths are never set: the spec refuses them.
        ...capabilitiesOf(security),
        SecurityOpt: ['no-new-privileges:true'],
        PidsLimit: task.pod.pidsLimit ?? DEFAULT_PIDS_LIMIT,
        ReadonlyRootfs: security?.readOnlyRootFilesystem === true,
        LogConfig: { Type: LOG_CONFIG.Type, Config: { ...LOG_CONFIG.Config } },
      },
      ...(network && !joining
        ? {
            NetworkingConfig: {
              EndpointsConfig: {
                [network]: { Aliases: [`${task.service}.${task.namespace}.${this.zone}`, `${task.id}.${task.service}.${task.namespace}.${this.zone}`] },
              },
            },
          }
        : {}),
    };
    const created = await this.call(`create ${name}`, this.timeouts.create, (abortSignal) => this.docker.createContainer({ ...body, abortSignal }));
    if (!joining && options.alsoOn?.length) await this.connectAlso(created.id, name, task, options.alsoOn);
    return created.id;
  }

  /**
   * Joins a created pod's first container to the networks of the namespaces its spec lets in, with its
   * aliases there too: Docker's resolver on each of those networks then answers its service and task
   * names with its address on that network. Connected before the start, one network at a time (a
   * connect works on a created container with any API version, where several networks at create need
   * API 1.44). A failed connect removes the container: a half-joined pod would be reachable from fewer
   * namespaces than its spec says, and the next round creates it again.
   */
  private async connectAlso(id: string, name: string, task: HostDocumentTask, networks: readonly string[]): Promise<void> {
    const aliases = [`${task.service}.${task.namespace}.${this.zone}`, `${task.id}.${task.service}.${task.namespace}.${this.zone}`];
    try {
      for (const network of networks) {
        // A connect sets up an endpoint, as a start does for the first network: the start's bound.
        await this.call(`connect ${name} to ${network}`, this.timeouts.start, (abortSignal) =>
          // Dockerode takes the signal here as in its other calls; its types leave it out of this one.
          this.docker.getNetwork(network).connect({ Container: id, EndpointConfig: { Aliases: aliases }, abortSignal } as Dockerode.NetworkConnectOptions),
        );
      }
    } catch (err) {
      await this.stopAndRemove(id, 0).catch(() => {});
      throw err;
    }
  }

  /**
   * Docker's `User` of a container: runAsUser[:runAsGroup], the image's user with runAsGroup, or
   * undefined for the image's own. With runAsNonRoot and no runAsUser, the image's user must be a
   * non-zero uid, else the container is refused (a DockerError that will not pass by retrying).
   */
  private async userOf(container: ContainerSpec): Promise<string | undefined> {
    const sc = container.securityContext;
    if (sc?.runAsUser !== undefined) return sc.runAsGroup === undefined ? String(sc.runAsUser) : `${sc.runAsUser}:${sc.runAsGroup}`;
    if (sc?.runAsNonRoot !== true && sc?.runAsGroup === undefined) return undefined;
    const imageUser = await this.imageUser(container.image);
    if (sc.runAsNonRoot === true) {
      const problem = rootUserProblem(imageUser);
      if (problem !== undefined) {
        throw new DockerError(
          `create ${container.name}`,
          `refused: runAsNonRoot is true but the image ${container.image} ${problem}; set securityContext.runAsUser to a non-zero uid`,
          { retryable: false },
        );
      }
    }
    if (sc.runAsGroup === undefined) return undefined;
    return `${imageUser.split(':')[0] || '0'}:${sc.runAsGroup}`;
  }

  /** The image's Config.User ('' when unset: root). */
  private imageUser(image: string): Promise<string> {
    return this.call(`inspect image ${image}`, this.timeouts.imageInspect, async () => {
      const data = await this.docker.getImage(image).inspect();
      return data.Config?.User ?? '';
    });
  }

  async start(id: string): Promise<void> {
    await this.call(`start ${short(id)}`, this.timeouts.start, async (abortSignal) => {
      try {
        await this.docker.getContainer(id).start({ abortSignal });
      } catch (err) {
        // 304: already running; starting is idempotent.
        if (statusOf(err) !== 304) throw err;
      }
    });
  }

  async stopAndRemove(id: string, graceSeconds: number): Promise<StopResult> {
    const grace = Math.max(0, Math.ceil(graceSeconds));
    // Docker sends the container's StopSignal (set at create), then SIGKILL once `t` seconds have passed.
    const gone = await this.call(`stop ${short(id)}`, grace * 1000 + this.timeouts.stopMargin, async (abortSignal) => {
      try {
        await this.docker.getContainer(id).stop({ t: grace, abortSignal });
        return false;
      } catch (err) {
        const status = statusOf(err);
        // 304: not running (never started, or exited): nothing to stop. 404: already gone.
        if (status === 304) return false;
        if (status === 404) return true;
        throw err;
      }
    });
    if (gone) return {};
    // How it ended, for the agent's event: an exit code of 137 after the full grace period is the kill.
    const exitCode = (await this.inspect(id))?.exitCode;
    await this.call(`remove ${short(id)}`, this.timeouts.remove, async (abortSignal) => {
      try {
        await this.docker.getContainer(id).remove({ force: true, v: true, abortSignal });
      } catch (err) {
        // 409: a removal is already in progress (a concurrent call); it ends in the same place.
        const status = statusOf(err);
        if (status !== 404 && status !== 409) throw err;
      }
    });
    return exitCode === undefined ? {} : { exitCode };
  }

  watchExits(onExit: (containerId: string) => void, onReady?: () => void): () => void {
    let stopped = false;
    let stream: NodeJS.ReadableStream | undefined;
    let retry: NodeJS.Timeout | undefined;
    let delay = 500;
    const connect = () => {
      if (stopped) return;
      // The event stream stays open; no timeout applies to it. A broken stream is reopened with back-off.
      this.docker.getEvents(
        { filters: { type: ['container'], event: ['die'], label: [`${LABELS.cluster}=${this.cluster}`, `${LABELS.host}=${this.hostId}`] } },
        (err, s) => {
          if (stopped) {
            (s as unknown as { destroy?: () => void } | undefined)?.destroy?.();
            return;
          }
          if (err || !s) return reconnect();
          stream = s;
          delay = 500;
          onReady?.();
          let buffer = '';
          s.on('data', (chunk: Buffer) => {
            buffer += chunk.toString('utf8');
            for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
              const line = buffer.slice(0, nl).trim();
              buffer = buffer.slice(nl + 1);
              if (!line) continue;
              try {
                const e = JSON.parse(line) as { id?: string; Actor?: { ID?: string } };
                const id = e.id ?? e.Actor?.ID;
                if (id) onExit(id);
              } catch {
                // a malformed line: ignore it, the periodic round still sees the exit
              }
            }
          });
          s.on('error', reconnect);
          s.on('end', reconnect);
        },
      );
    };
    const reconnect = () => {
      if (stopped || retry) return;
      stream = undefined;
      retry = setTimeout(() => {
        retry = undefined;
        connect();
      }, delay);
      delay = Math.min(delay * 2, 30_000);
    };
    connect();
    return () => {
      stopped = true;
      if (retry) clearTimeout(retry);
      (stream as unknown as { destroy?: () => void } | undefined)?.destroy?.();
    };
  }

  async hasImage(image: string): Promise<boolean> {
    return this.call(`inspect image ${image}`, this.timeouts.imageInspect, async () => {
      try {
        // dockerode's image inspect takes no abort signal: on timeout the request is left to finish on its
        // own, but the agent stops waiting for it all the same.
        await this.docker.getImage(image).inspect();
        return true;
      } catch (err) {
        if (statusOf(err) === 404) return false;
        throw err;
      }
    });
  }

  async pull(image: string): Promise<void> {
    const call = `pull ${image}`;
    await this.call(call, this.timeouts.pullTotal, async (abortSignal) => {
      const stream = (await this.docker.pull(image, { abortSignal })) as NodeJS.ReadableStream & { destroy(): void };
      await new Promise<void>((resolve, reject) => {
        const idle = setTimeout(() => {
          stream.destroy();
          reject(new DockerTimeoutError(`${call} (no progress)`, this.timeouts.pullIdle));
        }, this.timeouts.pullIdle);
        // The overall timeout aborts the stream, which may end without a final callback.
        abortSignal.addEventListener('abort', () => clearTimeout(idle), { once: true });
        // The pull's outcome, errors included, arrives in the progress stream, not as an HTTP status.
        this.docker.modem.followProgress(
          stream,
          (err: unknown) => {
            clearTimeout(idle);
            if (err) reject(err);
            else resolve();
          },
          () => idle.refresh(),
        );
      });
    });
  }

  async exec(id: string, command: readonly string[], timeoutMs: number): Promise<{ exitCode: number; output: string }> {
    const shown = command.join(' ');
    const call = `exec ${short(id)} ${shown.length > 60 ? `${shown.slice(0, 57)}...` : shown}`;
    // The caller's timeout bounds the whole exchange (create, run, exit code): it is the probe's own
    // timeout, which the spec states. On timeout Docker offers no way to kill the process it started;
    // like Docker's own health checks, it is left to finish inside the container.
    return this.call(call, timeoutMs, async (abortSignal) => {
      const exec = await this.docker.getContainer(id).exec({ Cmd: [...command], AttachStdout: true, AttachStderr: true, abortSignal });
      const stream = await exec.start({ hijack: true, stdin: false, abortSignal });
      const output = new OutputTail(EXEC_OUTPUT_MAX);
      const sink = new Writable({
        write(chunk: Buffer, _encoding, done) {
          output.add(chunk);
          done();
        },
      });
      this.docker.modem.demuxStream(stream, sink, sink);
      await new Promise<void>((resolve, reject) => {
        stream.on('end', resolve);
        stream.on('close', resolve);
        stream.on('error', reject);
        abortSignal.addEventListener('abort', () => stream.destroy(), { once: true });
      });
      // The output can close a moment before the daemon records the exit code; the call's timeout bounds the wait.
      let info = await exec.inspect({ abortSignal });
      while (info.Running) {
        await delay(EXEC_EXIT_POLL_MS, undefined, { signal: abortSignal });
        info = await exec.inspect({ abortSignal });
      }
      return { exitCode: info.ExitCode ?? -1, output: output.text() };
    });
  }

  private call<T>(call: string, timeoutMs: number, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
    return dockerCall(call, timeoutMs, run);
  }
}

/** The end of a stream's output, at most `max` bytes: the last lines say why a command failed. */
class OutputTail {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly max: number) {}
  add(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size - this.chunks[0].length >= this.max) this.size -= this.chunks.shift()!.length;
  }
  text(): string {
    const all = Buffer.concat(this.chunks);
    // Cutting mid-character leaves a replacement character at the start, which is harmless here.
    return all.subarray(Math.max(0, all.length - this.max)).toString('utf8');
  }
}

function short(id: string): string {
  return /^[0-9a-f]{64}$/.test(id) ? id.slice(0, 12) : id;
}

function portKey(port: Pick<PortSpec, 'containerPort' | 'protocol'>): string {
  return `${port.containerPort}/${port.protocol}`;
}

function portBindings(ports: readonly PortSpec[], hostAddress: string): Record<string, { HostIp: string; HostPort: string }[]> {
  const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const port of ports) {
    // HostPort '' lets Docker pick an ephemeral port; the agent reports the one it got.
    const key = portKey(port);
    bindings[key] ??= [];
    bindings[key].push({ HostIp: hostAddress, HostPort: port.hostPort ? String(port.hostPort) : '' });
  }
  return bindings;
}

function toContainerInfo(data: Dockerode.ContainerInspectInfo): ContainerInfo {
  const labels = data.Config.Labels ?? {};
  const container = labels[LABELS.container] ?? '';
  const state = data.State.Status;
  const stopped = state === 'exited' || state === 'dead';
  const ports: PublishedPort[] = [];
  for (const [key, bindings] of Object.entries(data.NetworkSettings?.Ports ?? {})) {
    const [port, protocol] = key.split('/');
    if (!bindings || (protocol !== 'tcp' && protocol !== 'udp')) continue;
    for (const binding of bindings) {
      ports.push({ container, containerPort: Number(port), protocol, hostIp: binding.HostIp, hostPort: Number(binding.HostPort) });
    }
  }
  ports.sort((a, b) => a.containerPort - b.containerPort || a.protocol.localeCompare(b.protocol) || a.hostIp.localeCompare(b.hostIp));
  return {
    id: data.Id,
    name: data.Name.replace(/^\//, ''),
    taskId: labels[LABELS.task] ?? '',
    container,
    specHash: labels[LABELS.specHash] ?? '',
    // Docker's states are exactly ContainerRunState; anything else would be a newer daemon's addition.
    state: RUN_STATES.has(state) ? (state as ContainerRunState) : 'dead',
    exitCode: stopped ? data.State.ExitCode : undefined,
    ...(stopped && data.State.OOMKilled ? { oomKilled: true } : {}),
    startedAt: dockerTime(data.State.StartedAt),
    finishedAt: stopped ? dockerTime(data.State.FinishedAt) : undefined,
    ports,
    ...optional('address', addressOf(data.HostConfig?.NetworkMode, data.NetworkSettings?.Networks)),
    ...optional('stopGraceSeconds', graceLabel(labels)),
    ...optional('namespace', labels[LABELS.namespace]),
    ...optional('service', labels[LABELS.service]),
  };
}

/** ContainerInfo of a running container from its list summary. */
function fromSummary(s: Dockerode.ContainerInfo): ContainerInfo {
  const labels = s.Labels ?? {};
  const container = labels[LABELS.container] ?? '';
  const ports: PublishedPort[] = [];
  for (const p of s.Ports ?? []) {
    if (p.PublicPort === undefined || (p.Type !== 'tcp' && p.Type !== 'udp')) continue;
    ports.push({ container, containerPort: p.PrivatePort, protocol: p.Type, hostIp: p.IP, hostPort: p.PublicPort });
  }
  ports.sort((a, b) => a.containerPort - b.containerPort || a.protocol.localeCompare(b.protocol) || a.hostIp.localeCompare(b.hostIp));
  return {
    id: s.Id,
    name: (s.Names?.[0] ?? '').replace(/^\//, ''),
    taskId: labels[LABELS.task] ?? '',
    container,
    specHash: labels[LABELS.specHash] ?? '',
    state: 'running',
    ports,
    ...optional('address', addressOf(s.HostConfig?.NetworkMode, s.NetworkSettings?.Networks)),
    ...optional('stopGraceSeconds', graceLabel(labels)),
    ...optional('namespace', labels[LABELS.namespace]),
    ...optional('service', labels[LABELS.service]),
  };
}

/** The grace period a container's label carries; undefined when it has none or it is not a whole number of seconds. */
function graceLabel(labels: Record<string, string>): number | undefined {
  const text = labels[LABELS.stopGrace];
  return text !== undefined && /^\d{1,6}$/.test(text) ? Number(text) : undefined;
}

function optional<K extends string, V>(key: K, value: V | undefined): { [k in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [k in K]?: V };
}

function dockerTime(value: string | undefined): string | undefined {
  return value && value !== ZERO_TIME ? value : undefined;
}

/**
 * The container's address on the network it was created on (`NetworkMode`), else on any network it
 * has one; undefined for a container that shares another's network namespace, or is not running.
 */
function addressOf(networkMode: string | undefined, networks: Record<string, { IPAddress?: string }> | undefined): string | undefined {
  if (!networks) return undefined;
  const own = networkMode ? networks[networkMode]?.IPAddress : undefined;
  if (own) return own;
  for (const n of Object.values(networks)) if (n?.IPAddress) return n.IPAddress;
  return undefined;
}
