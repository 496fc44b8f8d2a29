/**
 * The container runtime as the agent sees it. The Docker implementation is `agent/docker.ts`;
 * the agent's decisions never touch Docker types.
 */
import type { ContainerSpec, HostDocumentTask, PublishedPort } from '../core/types.ts';

/** Labels every Skiff container carries; adoption after an agent restart relies on them. */
export const LABELS = {
  cluster: 'skiff.cluster',
  host: 'skiff.host',
  task: 'skiff.task',
  namespace: 'skiff.namespace',
  service: 'skiff.service',
  slot: 'skiff.slot',
  container: 'skiff.container',
  /** Hash of the container's spec; a container whose hash differs from the desired one is replaced. */
  specHash: 'skiff.spec-hash',
  /**
   * The pod's grace period in seconds: a task that left the document is no longer described
   * anywhere else, and its containers still get the grace period their pod asked for.
   */
  stopGrace: 'skiff.stop-grace',
} as const;

export type ContainerRunState = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

export interface ContainerInfo {
  readonly id: string;
  /** Docker's container name, without the leading slash. */
  readonly name: string;
  readonly taskId: string;
  /** The container's name within its pod (spec.containers[].name). */
  readonly container: string;
  readonly specHash: string;
  readonly state: ContainerRunState;
  readonly exitCode?: number;
  /** True when the kernel killed the container for going over its memory limit (Docker's State.OOMKilled). */
  readonly oomKilled?: boolean;
  readonly startedAt?: string;
  readonly finishedAt?: string;
  readonly ports: readonly PublishedPort[];
  /** The container's IP address on its Docker network; absent when it has none (stopped, or sharing another container's network). */
  readonly address?: string;
  /** Seconds its pod allows between the stop signal and the kill (its `skiff.stop-grace` label); absent on containers created before the label. */
  readonly stopGraceSeconds?: number;
  /** The task's namespace and service, from its labels: what a leaving task's events name. */
  readonly namespace?: string;
  readonly service?: string;
}

/** How a stop ended. */
export interface StopResult {
  /** The container's exit code; absent when it was already gone or never ran. */
  readonly exitCode?: number;
}

export interface CreateOptions {
  /** Publish container ports on this address (127.0.1.i locally, the private IP on EC2). */
  readonly hostAddress: string;
  /** For a pod's 2nd..nth container: join the network namespace of this container id. */
  readonly joinNetworkOf?: string;
  /** Ports of the whole pod, published on its first container (the others share its network). */
  readonly podPorts?: ContainerSpec['ports'];
  /** Hostname of the pod's first container; the task id. */
  readonly hostname?: string;
  /** Docker network of the pod's first container; default: the executor's configured one. */
  readonly network?: string;
  /**
   * More networks the pod's first container joins, with the same service and task aliases: the networks
   * of the namespaces its spec lets in (`spec.network.allowFrom`), so their containers reach it by name.
   */
  readonly alsoOn?: readonly string[];
  /** Values of the container's secret references (agent/secrets.ts): added to its env, never to its spec or labels. */
  readonly secretEnv?: Readonly<Record<string, string>>;
  /** Volumes to mount (agent/volumes.ts resolves a pod's volumeMounts into these). */
  readonly mounts?: readonly Mount[];
}

/** A mount of a container: a Docker volume by name, or a host directory the agent prepared (an EFS mount). */
export interface Mount {
  readonly type: 'volume' | 'bind';
  readonly source: string;
  readonly target: string;
  readonly readOnly: boolean;
}

export interface Executor {
  /** Every container of this cluster on this host, running or not. */
  list(): Promise<ContainerInfo[]>;
  inspect(id: string): Promise<ContainerInfo | undefined>;
  /** Create (not start) a container of a task. Returns its id. */
  create(task: HostDocumentTask, container: ContainerSpec, options: CreateOptions): Promise<string>;
  start(id: string): Promise<void>;
  /**
   * Stop (the container's stop signal, then SIGKILL after `graceSeconds`), then remove. Absent
   * containers are not an error.
   */
  stopAndRemove(id: string, graceSeconds: number): Promise<StopResult>;
  /** True when the image is present locally; the agent never references an absent image in tests. */
  hasImage(image: string): Promise<boolean>;
  /** Pull an image that is absent (production only; never in tests). */
  pull(image: string): Promise<void>;
  /**
   * Calls `onExit` when a container of this cluster and host dies, so the agent reacts at once
   * instead of at its next round. Best effort: the agent's periodic round remains the safety net.
   * Returns a function that stops watching.
   */
  watchExits(onExit: (containerId: string) => void, onReady?: () => void): () => void;
  /**
   * Run a command in a running container (like `docker exec`, no shell) and wait for it, at most
   * `timeoutMs`. Resolves with its exit code and the tail of its output, stdout and stderr together
   * (their relative order is not kept: Docker reads the two pipes separately).
   */
  exec(id: string, command: readonly string[], timeoutMs: number): Promise<{ exitCode: number; output: string }>;
}
