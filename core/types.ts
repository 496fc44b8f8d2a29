/**
 * The domain model shared by the control plane, the agent and the CLI.
 * Pure data: no classes, no I/O. Every shape here is also what goes over the wire.
 */

/** Resources in integer units: CPU in millicores, memory in bytes. */
export interface Resources {
  readonly cpu: number;
  readonly memory: number;
}

export interface PortSpec {
  readonly containerPort: number;
  readonly name?: string;
  readonly protocol: 'tcp' | 'udp';
  /** A fixed host port; absent means Docker picks an ephemeral one. */
  readonly hostPort?: number;
}

export interface ContainerSpec {
  readonly name: string;
  readonly image: string;
  readonly command?: readonly string[];
  readonly args?: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /**
   * Env values taken from Secrets (`env: { NAME: { secretKeyRef } }` in the spec): references only,
   * each with the secret's version hash so that a changed secret changes the pod (core/secrets.ts).
   * The agent fetches the values on its host; they are never stored or published.
   */
  readonly secretEnv?: Readonly<Record<string, SecretKeyRef>>;
  readonly ports: readonly PortSpec[];
  readonly resources: Resources;
  /** A probe run by the agent; absent means the container is judged by its process alone. */
  readonly health?: HealthCheck;
  /** Who the container runs as and what it may do beyond the locked-down default (docs/spec.md). */
  readonly securityContext?: SecurityContext;
  /** The signal that asks the container to stop (core/stopping.ts STOP_SIGNALS); absent: SIGTERM. */
  readonly stopSignal?: string;
  /** Volumes of the pod (spec.volumes) mounted in this container; absent: none. */
  readonly volumeMounts?: readonly VolumeMount[];
}

/** One key of a Secret of the pod's namespace; `version` is filled by the API from the stored secret. */
export interface SecretKeyRef {
  readonly name: string;
  readonly key: string;
  readonly version?: string;
}

/**
 * A volume of a pod. `emptyDir` lives with the pod and is shared by its containers; `persistent` outlives
 * the pod: one per replica slot, named `<namespace>-<service>-<volume>-<slot>` (core/volumes.ts), kept
 * on the host that first held it (locally) or on EFS (AWS). Exactly one of the two is set.
 */
export interface VolumeSpec {
  readonly name: string;
  readonly emptyDir?: Record<string, never>;
  readonly persistent?: Record<string, never>;
}

export interface VolumeMount {
  /** A volume of spec.volumes. */
  readonly name: string;
  /** An absolute path in the container. */
  readonly mountPath: string;
  readonly readOnly?: boolean;
}

/** Kubernetes' names. Capabilities are added to, or dropped from, the agent's default set. */
export interface SecurityContext {
  readonly runAsUser?: number;
  readonly runAsGroup?: number;
  /** The agent refuses to start the container as uid 0, the image's user included. */
  readonly runAsNonRoot?: boolean;
  readonly readOnlyRootFilesystem?: boolean;
  /** Always false in effect: every container runs with no-new-privileges. */
  readonly allowPrivilegeEscalation?: false;
  readonly capabilities?: { readonly add?: readonly string[]; readonly drop?: readonly string[] };
}

/** Exactly one of `http`, `tcp`, `exec`; timings in seconds (defaults in docs/spec.md). */
export interface HealthCheck {
  readonly http?: { readonly path: string; readonly port: number /** Inclusive range of healthy statuses. */; readonly status: readonly [number, number] };
  readonly tcp?: { readonly port: number };
  readonly exec?: { readonly command: readonly string[] };
  readonly intervalSeconds: number;
  readonly timeoutSeconds: number;
  /** Failures during the start period do not count; the first success ends it. */
  readonly startPeriodSeconds: number;
  readonly failureThreshold: number;
  readonly successThreshold: number;
}

export type Health = 'starting' | 'healthy' | 'unhealthy';

export type RestartPolicy = 'always' | 'on-failure' | 'never';

/** A pod: containers that run together on one host. The unit of scheduling. */
export interface PodSpec {
  readonly containers: readonly ContainerSpec[];
  readonly restartPolicy: RestartPolicy;
  /** Processes each container may run; absent in pods stored before it existed: the default then. */
  readonly pidsLimit?: number;
  /** Seconds from the stop signal to the kill; absent in pods stored before it existed: 30 then. */
  readonly terminationGracePeriodSeconds?: number;
  /** Absent when the spec declares none (pods stored before volumes existed compare equal). */
  readonly volumes?: readonly VolumeSpec[];
  /** Run in order, each to completion, before the app containers start; absent when none. */
  readonly initContainers?: readonly ContainerSpec[];
  /** The service's `spec.identity`; absent when none (pods stored before it existed compare equal). */
  readonly identity?: WorkloadIdentitySpec;
  /** The service's `spec.network`; absent when none (pods stored before it existed compare equal). */
  readonly network?: PodNetworkSpec;
}

/** `spec.network`: the other namespaces whose containers may connect to the replicas (docs/network.md). */
export interface PodNetworkSpec {
  readonly allowFrom?: readonly string[];
}

/** `spec.identity`: the IAM role whose credentials each replica is served (docs/identity.md). */
export interface WorkloadIdentitySpec {
  /** `arn:aws:iam::<account>:role/<path/><name>`. */
  readonly awsRole: string;
}

export interface PlacementSpec {
  readonly strategy: 'spread' | 'binpack';
  /** Host label constraints, each `key == value` or `key != value`. */
  readonly constraints: readonly string[];
}

export interface ServiceMetadata {
  readonly name: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** A validated, defaulted service spec: what `skiff apply` stores. */
export interface ServiceSpec {
  /** Service: long-running replicas. Job: tasks run to completion (core/jobs.ts). CronJob: a Job made on a schedule (core/cron.ts). */
  readonly kind: 'Service' | 'Job' | 'CronJob';
  readonly metadata: ServiceMetadata;
  readonly spec: {
    readonly replicas: number;
    readonly containers: readonly ContainerSpec[];
    readonly restartPolicy: RestartPolicy;
    /** Processes (threads included) each container of the pod may run; parsing fills the default, specs stored before it existed lack it. */
    readonly pidsLimit?: number;
    /** Seconds each replica gets between its stop signal and the kill; parsing fills the default (30), specs stored before it existed lack it. */
    readonly terminationGracePeriodSeconds?: number;
    /** The pod's volumes (docs/spec.md); absent when none. */
    readonly volumes?: readonly VolumeSpec[];
    /** Containers run in order to completion before `containers` start; absent when none. */
    readonly initContainers?: readonly ContainerSpec[];
    readonly placement: PlacementSpec;
    /** HTTP requests for `host` (and `path`) go to the healthy replicas' `port` (a declared containerPort). */
    readonly ingress?: IngressSpec;
    /** Horizontal autoscaling: the autoscaler moves the service's replica count between the bounds (docs/spec.md). */
    readonly autoscaling?: AutoscalingSpec;
    /** Workload identity: the AWS role every replica gets credentials for (docs/identity.md); absent: none. */
    readonly identity?: WorkloadIdentitySpec;
    /** Which other namespaces' containers may connect to the replicas (docs/network.md); absent: only its own. */
    readonly network?: PodNetworkSpec;
    /** `global`: one replica on every host that matches the constraints (core/global.ts); absent: replicated. */
    readonly mode?: 'global';
    /** Kind Job and CronJob: how the tasks run to completion. */
    readonly job?: JobSpec;
    /** Kind CronJob: when to make a Job. */
    readonly cron?: CronSpec;
    /** How a changed pod is rolled out; parsing fills it, specs stored before it existed lack it (core/rollout.ts `updatePolicy`). */
    readonly update?: UpdateSpec;
  };
}

/** Kubernetes Job's names (docs/spec.md). */
export interface JobSpec {
  /** Tasks that must exit 0; each completion is a slot 1..completions. */
  readonly completions: number;
  /** Tasks running at once, at most. */
  readonly parallelism: number;
  /** Failed tasks tolerated before the job fails: the job fails at failure backoffLimit + 1. */
  readonly backoffLimit: number;
  /** The job fails once it has run this long. */
  readonly activeDeadlineSeconds?: number;
}

/** Kubernetes CronJob's names (docs/spec.md). */
export interface CronSpec {
  /** Five fields: minute hour day-of-month month day-of-week. */
  readonly schedule: string;
  /** An IANA time zone the schedule is read in; absent: UTC. */
  readonly timeZone?: string;
  readonly concurrencyPolicy: 'allow' | 'forbid' | 'replace';
  readonly successfulJobsHistoryLimit: number;
  readonly failedJobsHistoryLimit: number;
}

/** Where a Job is, kept on its service item by the scheduler (store.setJobStatus). */
export interface JobStatus {
  readonly state: 'running' | 'succeeded' | 'failed';
  /** Slots that exited 0, ascending. */
  readonly succeeded: readonly number[];
  /** Task ids that failed (each counted once), oldest first. */
  readonly failed: readonly string[];
  readonly startedAt: string;
  readonly completedAt?: string;
  /** Why the job failed: BackoffLimitExceeded, DeadlineExceeded. */
  readonly reason?: string;
  readonly message?: string;
}

/** A count of replicas, or a percentage of the desired count (`25%`). */
export type ReplicaBudget = number | `${number}%`;

/** Kubernetes Deployment's rolling-update names, plus ECS's and Nomad's automatic rollback (docs/spec.md). */
export interface UpdateSpec {
  /** Replicas above the desired count while updating; a percentage is rounded up. */
  readonly maxSurge: ReplicaBudget;
  /** Replicas below the desired count while updating; a percentage is rounded down. */
  readonly maxUnavailable: ReplicaBudget;
  /** A new replica counts as available once it has run (and passed its probe) this long. */
  readonly minReadySeconds: number;
  /** A rollout that makes no progress this long has failed. */
  readonly progressDeadlineSeconds: number;
  /** On failure, return to the last revision that rolled out healthy. */
  readonly autoRollback: boolean;
  /** Pod templates kept for `skiff rollout history` and `undo`. */
  readonly revisionHistoryLimit: number;
}

/** Kubernetes HorizontalPodAutoscaler's names; at least one target. Percentages are of the pod's reserved resources. */
export interface AutoscalingSpec {
  readonly minReplicas: number;
  readonly maxReplicas: number;
  readonly targetCPUUtilization?: number;
  readonly targetMemoryUtilization?: number;
  readonly targetRequestsPerReplica?: number;
  readonly scaleUpStabilizationSeconds: number;
  readonly scaleDownStabilizationSeconds: number;
}

/**
 * A replica count chosen after the spec was applied, by `skiff scale` or by the autoscaler. It
 * survives applies that leave `spec.replicas` unchanged (as `kubectl apply` keeps a `kubectl scale`),
 * and every apply of an autoscaled service; it is never a new specVersion, so it never rolls tasks.
 */
export interface ServiceScale {
  readonly replicas: number;
  readonly source: 'cli' | 'autoscaler';
  readonly at: string;
  /** Why, for events and `describe`: `cpu 91% of 60% target`. */
  readonly reason?: string;
}

/** A stored service: the spec plus bookkeeping. */
export interface Service {
  readonly namespace: string;
  readonly name: string;
  readonly spec: ServiceSpec;
  /** Increments on every accepted change of the spec; tasks record the version they run. */
  readonly specVersion: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** Set by delete: the scheduler stops every task, then removes the service. */
  readonly deleting: boolean;
  /** The replica count chosen since the spec was applied; absent: `spec.replicas` (core/replicas.ts). */
  readonly scale?: ServiceScale;
  /** Kind Job: its progress, written by the scheduler. */
  readonly job?: JobStatus;
  /** The rollout of the current spec and the revision history, written by the scheduler pass (core/rollout.ts). */
  readonly rollout?: RolloutState;
}

/** The pod template of a revision: what a rollout changes, and what `rollout undo` puts back: the whole pod. */
export type PodTemplate = PodSpec;

/** A pod template that rolled out healthy (or the one running when history began). */
export interface Revision {
  /** The specVersion that brought this template. */
  readonly version: number;
  readonly template: PodTemplate;
  /** When it finished rolling out. */
  readonly at: string;
  /** Why it was rolled out: `apply`, `rollback of version 4`, `undo to version 2`, `restart`. */
  readonly cause?: string;
}

export type RolloutPhase = 'progressing' | 'complete' | 'rolledBack' | 'failed';

/**
 * Where the rollout of a service's spec stands. `specVersion` is the spec it rolls out; a new
 * spec (or a restart) starts a new rollout. Written only with `setServiceRollout`, conditional on
 * the service's specVersion, so a rollout state never lands on a newer spec.
 */
export interface RolloutState {
  readonly specVersion: number;
  readonly phase: RolloutPhase;
  readonly startedAt: string;
  /** The last time a new replica became available (or the start): the progress deadline counts from here. */
  readonly progressAt: string;
  /** New replicas available at `progressAt`. */
  readonly updated: number;
  /** Why it stopped (rolledBack, failed), or what it rolls back. */
  readonly message?: string;
  /** This rollout returns to an earlier template after version `rollbackOf` failed. */
  readonly rollbackOf?: number;
  /** `skiff rollout restart`: tasks created before this time are replaced, the spec unchanged. */
  readonly restartedAt?: string;
  /** Healthy revisions, oldest first, at most the spec's revisionHistoryLimit. */
  readonly revisions: readonly Revision[];
}

/**
 * Written by the control plane only. `suspect`: silent for a moment, `degraded`: its Docker does not
 * answer; both take no new task and keep theirs. `down`: its tasks are replaced elsewhere.
 */
export type HostState = 'ready' | 'suspect' | 'degraded' | 'draining' | 'down';

export interface Host {
  readonly id: string;
  /** The address the host publishes container ports on (127.0.1.i locally, private IP on EC2). */
  readonly address: string;
  readonly capacity: Resources;
  readonly labels: Readonly<Record<string, string>>;
  readonly state: HostState;
  /** When `state` last changed (absent: since registration). */
  readonly stateSince?: string;
  readonly registeredAt: string;
  /** Optimistic-concurrency version of the host item; every allocation change bumps it. */
  readonly version: number;
  /** What the control plane has committed to this host, by task id. The source of truth for capacity. */
  readonly allocations: Readonly<Record<string, Allocation>>;
}

export interface Allocation {
  readonly taskId: string;
  readonly namespace: string;
  readonly service: string;
  readonly slot: number;
  readonly resources: Resources;
  /** Fixed host ports the task holds on the host. */
  readonly hostPorts: readonly number[];
}

/** Desired state of a task, written by the control plane only. */
export type TaskDesired = 'running' | 'shutdown';

/**
 * A task is one incarnation of one slot of a service. The control plane writes it; only the
 * agent reports what actually happens to it (in its host status).
 */
export interface Task {
  readonly id: string;
  readonly namespace: string;
  readonly service: string;
  readonly slot: number;
  /** Bumps each time the slot gets a new task; guards against two schedulers replacing it at once. */
  readonly incarnation: number;
  readonly specVersion: number;
  readonly pod: PodSpec;
  readonly desired: TaskDesired;
  /** The host the task is placed on; absent while pending. */
  readonly host?: string;
  readonly createdAt: string;
  /** Why the scheduler could not place the task, when it could not. */
  readonly unplaceable?: Unplaceable;
  /**
   * The incarnation this task replaces, kept running on its host until this one runs (draining:
   * new first, then the old stopped). Cleared by the scheduler once this task is running.
   */
  readonly previous?: PreviousTask;
  /** A host to keep this task off when another fits (it kept failing there). */
  readonly avoidHost?: string;
  /** The only host this task may run on: a replica of a global service (core/global.ts). */
  readonly pinnedHost?: string;
  /** Why this incarnation was created, for events and `describe`. */
  readonly reason?: string;
}

export interface PreviousTask {
  readonly id: string;
  readonly host: string;
  readonly specVersion: number;
  readonly pod: PodSpec;
}

export interface Unplaceable {
  readonly at: string;
  readonly message: string;
  /** Hosts rejected, by reason: `{ "insufficient memory": 3 }`. */
  readonly rejected: Readonly<Record<string, number>>;
  readonly hosts: number;
  /** The host autoscaler's note, shown after the message: `waiting for a new host (2 requested)`. */
  readonly waiting?: string;
}

/** What the agent observes of one task's containers. */
/** `creating`: the agent has the task and is creating its containers (a burst is paced). */
export type TaskState = 'pending' | 'assigned' | 'creating' | 'starting' | 'running' | 'exited' | 'failed' | 'stopped' | 'lost';

export interface PublishedPort {
  readonly container: string;
  readonly containerPort: number;
  readonly protocol: 'tcp' | 'udp';
  readonly hostIp: string;
  readonly hostPort: number;
}

export interface TaskStatus {
  readonly taskId: string;
  readonly namespace: string;
  readonly service: string;
  readonly state: TaskState;
  /** Worst health over the pod's probed containers; absent when no probe is declared. */
  readonly health?: Health;
  /** Restarts of this task's containers by the agent (crashes and failed probes). */
  readonly restarts?: number;
  /** Exit code of the last container exit, kept across restarts. */
  readonly lastExitCode?: number;
  readonly exitCode?: number;
  readonly message?: string;
  readonly ports: readonly PublishedPort[];
  /**
   * The pod's address on its container network (the host's container subnet on AWS, the cluster's
   * Docker network locally); absent while no container of the pod runs.
   */
  readonly address?: string;
  readonly containers: readonly { readonly name: string; readonly id: string; readonly state: string }[];
  /** When the state last changed, as seen by the agent. */
  readonly since: string;
  /** What the pod's running containers use, sampled by the agent (agent/usage.ts); absent until measured. */
  readonly usage?: TaskUsage;
}

/** A pod's use of CPU and memory, summed over its containers: the autoscaler's input (core/autoscale.ts). */
export interface TaskUsage {
  /** Millicores: the rate over the agent's last sampling interval. */
  readonly cpu: number;
  /** Bytes: the working set (in use, minus the page cache the kernel can drop). */
  readonly memory: number;
}

/** What an agent reports about its host, written only by that host. */
export interface HostStatus {
  readonly hostId: string;
  readonly heartbeatAt: string;
  /** The document generation the agent has applied. */
  readonly generation: number;
  readonly tasks: readonly TaskStatus[];
  readonly agentVersion: string;
  /** The agent's most recent events (a bounded ring); the scheduler copies them into the event log. */
  readonly events?: readonly ClusterEvent[];
  /** Present when the host's container runtime does not answer: the host is degraded, not dead. */
  readonly runtime?: RuntimeTrouble;
  /**
   * What the agent says its host is. The agent never writes its host record: the control plane
   * registers or refreshes it from this claim, within what it knows of the machine
   * (app/scheduler/steps/register-hosts.ts). Absent: the record is left as it is.
   */
  readonly claim?: HostClaim;
  /**
   * The volumes of its document's `removeVolumes` it has deleted, by volumeKeyString
   * (`<namespace>/<service>/<volume>/<slot>`): the scheduler forgets each once its holder says so.
   * Only those still in the document are listed, so the list is bounded by it.
   */
  readonly removedVolumes?: readonly string[];
}

/**
 * An agent's registration claim, carried in its report. Only a claim: the capacity is capped by the
 * machine's (on EC2 its instance type's), the address checked against the machine's where the
 * control plane can tell, and the state is never the host's to say.
 */
export interface HostClaim {
  readonly address: string;
  readonly capacity: Resources;
  readonly labels: Readonly<Record<string, string>>;
  /** The EC2 instance type as the instance's metadata says (informational: EC2 itself is asked). */
  readonly instanceType?: string;
}

/** The agent's word that Docker does not answer (its calls time out or hang), while the agent itself lives. */
export interface RuntimeTrouble {
  readonly state: 'unresponsive';
  /** Since when no Docker call has been answered. */
  readonly since: string;
  readonly message: string;
}

/**
 * The host document: the complete desired set for one host, published on the host channel.
 * Level-triggered: applying the same document twice, or missing one, changes nothing.
 */
export interface HostDocument {
  readonly cluster: string;
  readonly hostId: string;
  /** Monotonic per host; an agent never applies a lower generation than one it has applied. */
  readonly generation: number;
  readonly tasks: readonly HostDocumentTask[];
  /**
   * The host's container network, when the cluster routes container subnets (AWS, docs/network.md):
   * the agent runs every pod on a bridge over `subnet`. Absent: pods use the agent's configured
   * network (local mode's shared Docker network).
   */
  readonly network?: HostNetwork;
  /**
   * Persistent volumes whose removal was asked and whose data this host holds (core/volume-removal.ts):
   * the agent deletes each once no container uses it and reports it in `HostStatus.removedVolumes`.
   * Absent when none (documents compare equal to those from before it existed).
   */
  readonly removeVolumes?: readonly VolumeRemoval[];
}

/** A persistent volume a host is to delete: its parts (the Docker volume name and EFS access point come from them) and id. */
export interface VolumeRemoval {
  /** `<namespace>-<service>-<volume>-<slot>` (core/volumes.ts volumeId). */
  readonly id: string;
  readonly namespace: string;
  readonly service: string;
  readonly volume: string;
  readonly slot: number;
}

/** A host's share of the cluster's container network (docs/network.md). */
export interface HostNetwork {
  /** The host's container subnet, carved from `clusterCidr` and routed to the host: `10.200.7.0/24`. */
  readonly subnet: string;
  /** The whole cluster CIDR: traffic from the subnet to it keeps its container source address (not masqueraded). */
  readonly clusterCidr: string;
  /**
   * Namespace isolation (written by the scheduler with `namespaceBlockPrefix`; docs/network.md "Isolation rules"):
   * the prefix of each namespace's block in `subnet`. Absent: namespaces share the subnet, unisolated.
   */
  readonly blockPrefix?: number;
}

export interface HostDocumentTask {
  readonly id: string;
  readonly namespace: string;
  readonly service: string;
  readonly slot: number;
  readonly specVersion: number;
  readonly pod: PodSpec;
  /** With `network.blockPrefix`: its namespace's slot and the slots its service lets in (core/packet-filter.ts). */
  readonly isolation?: { readonly slot: number; readonly allowSlots: readonly number[] };
}

/** A task as the API shows it: the control plane's record joined with the agent's report. */
export interface TaskView {
  readonly id: string;
  readonly namespace: string;
  readonly service: string;
  readonly slot: number;
  readonly host: string | null;
  readonly desired: TaskDesired;
  readonly state: TaskState;
  readonly health?: Health;
  readonly restarts?: number;
  readonly lastExitCode?: number;
  readonly exitCode?: number;
  readonly message?: string;
  readonly ports: readonly {
    readonly containerPort: number;
    readonly hostIp: string;
    readonly hostPort: number;
    readonly protocol: 'tcp' | 'udp';
    readonly container: string;
  }[];
  /** The replica's address on the container network, as its agent reports it. */
  readonly address?: string;
  readonly specVersion: number;
  readonly createdAt: string;
  readonly since?: string;
  /** What the pod reserves on its host (millicores, bytes): the sum of its containers' resources (`skiff top`). */
  readonly reserved?: Resources;
  /** What its running containers use, as its agent last reported it (agent/usage.ts); absent until measured. */
  readonly usage?: TaskUsage;
}

export interface HostView {
  readonly id: string;
  readonly address: string;
  readonly state: HostState;
  readonly labels: Readonly<Record<string, string>>;
  readonly capacity: Resources;
  readonly allocated: Resources;
  readonly tasks: number;
  readonly heartbeatAt: string | null;
  readonly registeredAt: string;
}

/** Something worth knowing that happened: newest last in `skiff events`. */
export interface ClusterEvent {
  /** Unique and stable: re-recording the same event overwrites it instead of duplicating it. */
  readonly id: string;
  readonly at: string;
  /** e.g. task.placed, task.started, task.exited, task.unhealthy, task.restarted, task.replaced, host.down, host.up, host.fenced, host.drained */
  readonly type: string;
  readonly message: string;
  readonly namespace?: string;
  readonly service?: string;
  readonly task?: string;
  readonly host?: string;
  /** Who made the change, on events of API writes (the audit trail): an identity's subject (core/authz.ts). */
  readonly actor?: string;
}

/** A service's ingress (docs/spec.md#specingress); `path` and `tls` are stored only when set. */
export interface IngressSpec {
  /** A host name, or a wildcard `*.shop.example.com` (core/ingress-match.ts). */
  readonly host: string;
  readonly port: number;
  readonly sessionAffinity: boolean;
  /** A path prefix; absent means `/`. */
  readonly path?: string;
  /** `true`: the local CA locally, the stack's certificate on AWS; or an ACM certificate of its own. */
  readonly tls?: true | { readonly certificateArn: string };
}
