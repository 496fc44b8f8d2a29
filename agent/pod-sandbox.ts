/**
 * The pod sandbox: a container that does nothing but hold the pod's network namespace (the role of
 * Kubernetes' pause container). The pod's address, hostname and published ports are the sandbox's;
 * every app and init container joins its namespace, so any of them can stop, crash and restart alone
 * while the pod keeps its address, its ports and its other containers.
 */
import type { ContainerSpec, HostDocumentTask, PublishedPort } from '../core/types.ts';

/**
 * The sandbox's name within its pod (the `skiff.container` label). Not a DNS label, so no container of
 * a spec can take it (spec container names are DNS labels).
 */
export const SANDBOX = '_sandbox';

/** The image of the sandbox when the agent's configuration names none: the one image every Skiff host has. */
export const DEFAULT_SANDBOX_IMAGE = 'skiff/busybox:latest';

/**
 * Memory limit of a sandbox: `sleep` under Docker's init uses well under 1 MiB; 8 MiB leaves room and is
 * above Docker's 6 MiB minimum. Not counted by the scheduler (a few hundred KiB per pod in practice).
 */
const SANDBOX_MEMORY = 8 * 1024 * 1024;
/** A tenth of a core at most: the sandbox only sleeps; the cap keeps a broken one from taking a host. */
const SANDBOX_CPU_MILLIS = 100;

/**
 * The sandbox's container spec: sleeps forever (2^31-1 seconds: 68 years) under Docker's init (the
 * executor sets Init on every container, so a stop's SIGTERM ends it at once), as nobody, with no
 * capability and a read-only root. It publishes every port of the pod.
 */
export function sandboxSpec(task: HostDocumentTask, image: string = DEFAULT_SANDBOX_IMAGE): ContainerSpec {
  return {
    name: SANDBOX,
    image,
    command: ['sleep', '2147483647'],
    env: {},
    ports: task.pod.containers.flatMap((c) => c.ports),
    resources: { cpu: SANDBOX_CPU_MILLIS, memory: SANDBOX_MEMORY },
    securityContext: { runAsUser: 65534, runAsGroup: 65534, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
  };
}

/**
 * The pod's published ports as reported: the sandbox publishes them, but each is reported under the app
 * container that declares it, as before sandboxes existed (the load balancer and DNS read `container`).
 */
export function podPorts(task: HostDocumentTask, sandboxPorts: readonly PublishedPort[]): PublishedPort[] {
  return sandboxPorts.map((p) => {
    const owner = task.pod.containers.find((c) => c.ports.some((q) => q.containerPort === p.containerPort && q.protocol === p.protocol));
    return { ...p, container: owner?.name ?? p.container };
  });
}
