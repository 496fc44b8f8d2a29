/**
 * What each field of a service, job or cron job spec means, one line each (docs/spec.md has the
 * details), by its path with list levels left out (`spec.containers.image`). An init container's
 * fields read their container's line. `withDescriptions` sets them on the JSON Schema zod emits
 * from `ServiceSchema`, for `skiff explain` and the OpenAPI document; a test checks that every
 * field of the schema has one, so a field added to the schema is described too.
 *
 * A table beside the schema rather than `.describe()` calls inside it: the schema's code stays about
 * what is accepted and the messages for what is not.
 */
export const FIELD_DESCRIPTIONS: Readonly<Record<string, string>> = {
  kind: 'What the document is: Service (kept running), Job (runs to completion) or CronJob (a Job on a schedule).',
  metadata: 'The name, namespace and labels of the workload.',
  'metadata.name': 'The name, a DNS label of at most 40 characters; with the namespace, it names the workload and its DNS name <name>.<namespace>.<zone>.',
  'metadata.namespace': 'The namespace, a DNS label (default: default); tenants, quotas and tokens are per namespace.',
  'metadata.labels': 'A map of label names to string values, for people and tools; Skiff does not select on them.',
  spec: 'What to run and how.',
  'spec.replicas': 'How many replicas to keep running (0 to 1000; default 1). skiff scale and the autoscaler change the count without a new spec.',
  'spec.containers': 'The containers of each replica (1 to 10): they share one network namespace and the volumes.',
  'spec.containers.name': 'The container name, a DNS label unique in the pod.',
  'spec.containers.image': 'The image reference, such as skiff/busybox:latest or registry.example.com/app@sha256:...',
  'spec.containers.command': "Replaces the image's entrypoint: a list of strings.",
  'spec.containers.args': "Replaces the image's command (the entrypoint's arguments): a list of strings.",
  'spec.containers.env': 'Environment variables: name to string value, or to { secretKeyRef: { name, key } } for a key of a Secret of the namespace.',
  'spec.containers.ports': 'The ports the container listens on; each gets a host port, published to the load balancer and DNS SRV records.',
  'spec.containers.ports.containerPort': 'The port inside the container, 1 to 65535; unique per protocol within the pod.',
  'spec.containers.ports.name': 'A name for the port (such as http), which probes and the ingress may refer to.',
  'spec.containers.ports.protocol': 'tcp (default) or udp.',
  'spec.containers.ports.hostPort': 'A fixed host port (1 to 65535); default: an ephemeral one. A fixed port can be held by one task per host.',
  'spec.containers.resources': 'CPU and memory reserved for the container, and its limits; the scheduler places replicas by them.',
  'spec.containers.resources.cpu': 'CPU as cores or millicores: 0.5, "500m" (default 100m).',
  'spec.containers.resources.memory': 'Memory with a unit: "128Mi", "1Gi" (default 64Mi); the container is killed above it.',
  'spec.containers.health': 'A probe: one of http, tcp or exec, with its timing; a replica counts as healthy (and gets traffic) once it passes.',
  'spec.containers.health.http': 'An HTTP GET probe: healthy when the status is in the range.',
  'spec.containers.health.http.path': 'The path to GET, such as /healthz.',
  'spec.containers.health.http.port': 'The port: a number or the name of a container port.',
  'spec.containers.health.http.status': 'The healthy status range, [low, high] (default [200, 399]).',
  'spec.containers.health.tcp': 'A TCP probe: healthy when a connection opens.',
  'spec.containers.health.tcp.port': 'The port: a number or the name of a container port.',
  'spec.containers.health.exec': 'A command probe, run in the container: healthy when it exits 0.',
  'spec.containers.health.exec.command': 'The command and its arguments, a list of strings.',
  'spec.containers.health.intervalSeconds': 'Seconds between probes.',
  'spec.containers.health.timeoutSeconds': 'Seconds a probe may take before it counts as failed.',
  'spec.containers.health.startPeriodSeconds': 'Seconds after the start during which failures do not count.',
  'spec.containers.health.failureThreshold': 'Failures in a row that make the replica unhealthy.',
  'spec.containers.health.successThreshold': 'Successes in a row that make it healthy again.',
  'spec.containers.securityContext': 'The user, file system and capabilities the container runs with.',
  'spec.containers.securityContext.runAsUser': 'The user id the processes run as.',
  'spec.containers.securityContext.runAsGroup': 'The group id the processes run as.',
  'spec.containers.securityContext.runAsNonRoot': 'true: refuse to start if the user would be root.',
  'spec.containers.securityContext.readOnlyRootFilesystem': "true: the image's file system is read-only (volumes stay writable).",
  'spec.containers.securityContext.allowPrivilegeEscalation': 'false: processes cannot gain privileges (setuid binaries); default true.',
  'spec.containers.securityContext.capabilities': 'Linux capabilities added to or dropped from the default set.',
  'spec.containers.securityContext.capabilities.add': 'Capabilities to add, from the allowed list (such as NET_BIND_SERVICE).',
  'spec.containers.securityContext.capabilities.drop': 'Capabilities to drop, or ALL.',
  'spec.containers.stopSignal': 'The signal that asks the container to stop (default SIGTERM); SIGKILL follows after terminationGracePeriodSeconds.',
  'spec.containers.volumeMounts': 'Where the pod volumes appear in the container.',
  'spec.containers.volumeMounts.name': 'The name of a volume of spec.volumes.',
  'spec.containers.volumeMounts.mountPath': 'The absolute path in the container.',
  'spec.containers.volumeMounts.readOnly': 'true: mounted read-only.',
  'spec.initContainers': 'Containers run in order, each to completion, before the app containers start.',
  'spec.volumes': 'The volumes of the pod: emptyDir (scratch, lives with the pod) or persistent (one per replica slot, outlives the pod).',
  'spec.volumes.name': 'The volume name, a DNS label unique in the pod.',
  'spec.volumes.emptyDir': '{}: scratch space shared by the containers of the pod, gone with it.',
  'spec.volumes.persistent': '{}: data that outlives every incarnation of the replica (crashes, rollouts, drains).',
  'spec.restartPolicy': 'always (services), on-failure or never (jobs): what happens when a container exits.',
  'spec.placement': 'Where replicas go: the strategy and host label constraints.',
  'spec.placement.strategy': 'spread (default: replicas on as many hosts as possible) or binpack (fill hosts first).',
  'spec.placement.constraints': 'Host label rules, each "key == value" or "key != value"; every one must match.',
  'spec.ingress': 'Public HTTP traffic: requests for the host go to the port of the healthy replicas.',
  'spec.ingress.host': 'The host name served, such as shop.example.com, or a wildcard *.shop.example.com (one or more labels); one service per host and path.',
  'spec.ingress.path': 'A path prefix (default /): /api serves /api and /api/..., not /apis; the longest matching prefix of the host wins.',
  'spec.ingress.tls':
    "true: HTTPS (the local CA's certificate locally, the stack's certificate on AWS), HTTP redirected to it; or { certificateArn: <ACM ARN> }.",
  'spec.ingress.tls.certificateArn': 'The ARN of an ACM certificate for the host, served on AWS by SNI beside the stack certificate.',
  'spec.ingress.port': 'The container port traffic goes to: a number or a port name.',
  'spec.ingress.sessionAffinity': 'true: each client stays on one replica (a cookie) while it serves.',
  'spec.autoscaling': 'The replica count follows load between minReplicas and maxReplicas.',
  'spec.autoscaling.minReplicas': 'The fewest replicas the autoscaler keeps.',
  'spec.autoscaling.maxReplicas': 'The most replicas the autoscaler starts.',
  'spec.autoscaling.targetCPUUtilization': "Percent of the replicas' CPU request to aim for.",
  'spec.autoscaling.targetMemoryUtilization': "Percent of the replicas' memory request to aim for.",
  'spec.autoscaling.targetRequestsPerReplica': 'Requests per second per replica to aim for (ingress traffic).',
  'spec.autoscaling.scaleUpStabilizationSeconds': 'Seconds of proposals considered before scaling up (default 0).',
  'spec.autoscaling.scaleDownStabilizationSeconds': 'Seconds of proposals considered before scaling down (default 300).',
  'spec.pidsLimit': 'The most processes the pod may run (16 to 16384; default 512).',
  'spec.mode': 'replicated (default: spec.replicas of them) or global (one on every ready host matching the constraints).',
  'spec.completions': 'Jobs: tasks that must exit 0 for the job to succeed (default 1).',
  'spec.parallelism': 'Jobs: tasks running at once (default 1).',
  'spec.backoffLimit': 'Jobs: failed tasks tolerated before the job fails (default 6).',
  'spec.activeDeadlineSeconds': 'Jobs: seconds the job may run before it is stopped and failed.',
  'spec.schedule': 'CronJobs: when to start a job, five cron fields such as "*/5 * * * *".',
  'spec.timeZone': 'CronJobs: the IANA time zone of the schedule (default UTC).',
  'spec.concurrencyPolicy': 'CronJobs: allow, forbid (skip a run while one is active) or replace (stop the active one).',
  'spec.successfulJobsHistoryLimit': 'CronJobs: finished jobs kept (default 3).',
  'spec.failedJobsHistoryLimit': 'CronJobs: failed jobs kept (default 1).',
  'spec.update': 'How a changed pod rolls out: budgets, readiness and rollback.',
  'spec.update.maxSurge': 'Replicas above the desired count while updating: a count or a percentage such as "25%".',
  'spec.update.maxUnavailable': 'Replicas below the desired count while updating: a count or a percentage.',
  'spec.update.minReadySeconds': 'Seconds a new replica must run and pass its probe before it counts as available.',
  'spec.update.progressDeadlineSeconds': 'Seconds a rollout may go without a new replica becoming available before it fails.',
  'spec.update.autoRollback': 'true: a failed rollout returns to the last healthy revision.',
  'spec.update.revisionHistoryLimit': 'Pod templates kept for rollout history and undo.',
  'spec.terminationGracePeriodSeconds': 'Seconds between the stop signal and SIGKILL when a replica stops.',
  'spec.identity': "The replicas' workload identity: a signed token at /var/run/skiff/identity/token, and AWS credentials for a role (docs/identity.md).",
  'spec.network': "Who may connect to the replicas besides their own namespace's containers (docs/network.md).",
  'spec.network.allowFrom':
    "Namespaces whose containers may open connections to the replicas, and resolve <service>.<namespace>.<zone>; locally each replica also joins those namespaces' networks.",
  'spec.identity.awsRole':
    "An IAM role ARN: every replica gets temporary credentials for it through the container credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI); the role must trust the cluster's host role.",
};

/** The description of the field at `path`: an init container's field reads its container's line. */
export function describeField(path: string): string | undefined {
  return FIELD_DESCRIPTIONS[path] ?? FIELD_DESCRIPTIONS[path.replace(/^spec\.initContainers\./, 'spec.containers.')];
}

type Node = Record<string, unknown>;

/** A copy of `schema` (the JSON Schema of ServiceSchema) with each field's description set where zod gave none. */
export function withDescriptions<T>(schema: T): T {
  // `own`: the node is the field itself, not one of its items or alternatives.
  const visit = (node: unknown, path: string, own: boolean): unknown => {
    if (Array.isArray(node)) return node.map((n) => visit(n, path, false));
    if (typeof node !== 'object' || node === null) return node;
    const out: Node = {};
    for (const [k, v] of Object.entries(node as Node)) {
      if (k === 'properties' && typeof v === 'object' && v !== null)
        out[k] = Object.fromEntries(Object.entries(v as Node).map(([name, child]) => [name, visit(child, path ? `${path}.${name}` : name, true)]));
      else if (k === 'items' || k === 'anyOf' || k === 'oneOf' || k === 'allOf') out[k] = visit(v, path, false);
      else out[k] = v;
    }
    const text = own && path ? describeField(path) : undefined;
    if (text !== undefined && out.description === undefined) out.description = text;
    return out;
  };
  return visit(schema, '', true) as T;
}
