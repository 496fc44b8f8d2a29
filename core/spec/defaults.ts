/**
 * The spec's defaults and value ranges: what a field gets when it is absent, and the bounds that
 * docs/spec.md states. Shared by the schemas, the pod-wide rules and callers (the agent's probes).
 */

/** Service and namespace names are DNS labels of at most this length (see NAME_LENGTH_REASON). */
export const MAX_NAME_LENGTH = 40;
export const NAME_LENGTH_REASON = 'task ids append "-<slot>-<5 characters>" to the service name and must stay within the 63-character limit of a hostname';

/** A DNS label (RFC 1123) may have at most 63 characters. */
export const DNS_LABEL_MAX = 63;
export const MAX_REPLICAS = 1000;
export const MAX_CONTAINERS = 10;

/** CPU a container gets when its spec names none: 100m (a tenth of a core). */
export const DEFAULT_CPU_MILLIS = 100;
/** Memory a container gets when its spec names none: 64Mi. */
export const DEFAULT_MEMORY_BYTES = 64 * 1024 * 1024;
/**
 * The smallest memory limit Docker accepts since Engine 20.10: the daemon refuses anything below
 * 6291456 bytes ("Minimum memory limit allowed is 6MB"; it was 4MB before 20.10, but a limit that
 * some supported Docker rejects would fail only at run time, on the host).
 */
export const MIN_MEMORY_BYTES = 6 * 1024 * 1024;

/** Health check timing defaults, in seconds (docs/spec.md explains each). */
export const HEALTH_DEFAULTS = {
  intervalSeconds: 10,
  /** Or intervalSeconds when that is shorter: a probe may not outlast the interval (see healthIssues). */
  timeoutSeconds: 1,
  startPeriodSeconds: 0,
  failureThreshold: 3,
  successThreshold: 1,
} as const;
/** Healthy HTTP statuses when a check names none: Kubernetes' rule, 2xx and 3xx (redirects are not followed). */
export const DEFAULT_HEALTHY_STATUS: readonly [number, number] = [200, 399];
/** The shortest interval and timeout: probes are timers and connections on the host, not a busy loop. */
export const MIN_PROBE_SECONDS = 0.1;
/** Interval and timeout at most an hour: a rarer probe no longer watches health, and the agent's timers stay far below Node's 24.8-day limit. */
export const MAX_PROBE_SECONDS = 3600;
/** A start period of at most a day (a slow database recovery), for the same timer limit. */
export const MAX_START_PERIOD_SECONDS = 86_400;

/**
 * Processes (threads included: the kernel counts each as a pid) each container of a pod may run when
 * the spec names no `pidsLimit`. A fork bomb stops here instead of exhausting the host's pid space:
 * 512 is far above a web server or a JVM's few hundred threads, and 64 such containers together stay
 * within 32768, the kernel's default pid_max.
 */
export const DEFAULT_PIDS_LIMIT = 512;
/** init, a shell and the program it starts, plus room: fewer makes ordinary containers fail to start. */
export const MIN_PIDS_LIMIT = 16;
/** Half of the kernel's default pid_max (32768): one pod cannot take the pid space of all the others. */
export const MAX_PIDS_LIMIT = 16_384;

/**
 * Capabilities every container keeps by default (Docker's own default set gives 14; every other is
 * dropped). These are what ordinary images use while starting as root: chown their files (CHOWN,
 * FOWNER), read and write files whatever their mode (DAC_OVERRIDE), switch to an unprivileged user
 * (SETUID, SETGID), bind ports below 1024 (NET_BIND_SERVICE) and signal their own children (KILL).
 * Left out of Docker's set: NET_RAW (raw sockets: ARP and IP spoofing on the shared bridge), MKNOD,
 * AUDIT_WRITE, SETFCAP, SETPCAP, FSETID and SYS_CHROOT, which an ordinary service does not need.
 */
export const DEFAULT_CAPABILITIES = ['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'KILL', 'NET_BIND_SERVICE', 'SETGID', 'SETUID'] as const;
/**
 * Capabilities a spec may add back (`securityContext.capabilities.add`): the defaults plus the rest of
 * Kubernetes' "baseline" Pod Security Standard set, minus NET_RAW. None of them reaches beyond the
 * container: no raw network access, no mounts, no kernel modules, no other process' memory.
 */
export const ALLOWED_CAPABILITIES = [...DEFAULT_CAPABILITIES, 'AUDIT_WRITE', 'FSETID', 'MKNOD', 'SETFCAP', 'SETPCAP', 'SYS_CHROOT'] as const;
/** The largest uid and gid a spec may name: Kubernetes' limit (2^31 - 1). */
export const MAX_UID = 2_147_483_647;

/**
 * `spec.update` defaults: Kubernetes Deployment's (surge 25%, unavailable 0 keeps full capacity
 * while updating; a 600 s progress deadline; 10 revisions), plus ECS's and Nomad's rollback on.
 */
export const UPDATE_DEFAULTS = {
  maxSurge: '25%' as const,
  maxUnavailable: 0,
  minReadySeconds: 0,
  progressDeadlineSeconds: 600,
  autoRollback: true,
  revisionHistoryLimit: 10,
};
/** A replica must prove itself within an hour; longer belongs to a canary, not a rollout. */
export const MAX_MIN_READY_SECONDS = 3600;
/** A day: the longest a rollout may sit without progress before it is called failed. */
export const MAX_PROGRESS_DEADLINE_SECONDS = 86_400;
/** Pod templates kept per service: all of them live on the service item (docs/spec.md). */
export const MAX_REVISION_HISTORY = 50;
