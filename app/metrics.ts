/**
 * Custom metrics as CloudWatch Embedded Metric Format (EMF) log lines: CloudWatch Logs extracts the
 * metric from the function's log group, so publishing needs no API call, no permission and no
 * latency in the handler. infra/observability.ts alarms on these names, namespace and dimension.
 */

/** CloudWatch namespace of Skiff's own metrics. */
export const METRIC_NAMESPACE = 'Skiff';
/** The one dimension of every Skiff metric: the cluster name. */
export const CLUSTER_DIMENSION = 'Cluster';

/** The custom metrics: who publishes each and what it counts. */
export const SKIFF_METRICS = {
  /** Health function, each check: hosts whose last heartbeat is older than the grace period. */
  StaleHosts: 'StaleHosts',
  /** Health function, each check: hosts suspect (silent a moment) or degraded (Docker not answering): no new tasks there. */
  SuspectHosts: 'SuspectHosts',
  /** Health function, each check: 1 while evictions are held because too many hosts are silent at once, else 0. */
  EvictionsHeld: 'EvictionsHeld',
  /** Scheduler, each pass: tasks that no host could take. */
  UnplaceableTasks: 'UnplaceableTasks',
  /** Scheduler, each pass on AWS: ready hosts still without a routed container subnet (they take no pods). */
  HostsWithoutSubnet: 'HostsWithoutSubnet',
  /** Scheduler, each pass: store items skipped because they failed their schema or key check (core/items.ts). */
  BadItems: 'BadItems',
  /** Scheduler, on a pass whose event writes failed: events not saved (best-effort, the pass went on). */
  EventsDropped: 'EventsDropped',
} as const;
export type SkiffMetricName = (typeof SKIFF_METRICS)[keyof typeof SKIFF_METRICS];

/** The EMF document of one count, as one line of JSON (no newline). */
export function metricLine(name: SkiffMetricName, value: number, cluster: string, timestampMs: number): string {
  if (!Number.isFinite(value) || value < 0) throw new Error(`metric ${name} must be a finite count of 0 or more, got ${value}`);
  if (cluster === '') throw new Error(`metric ${name} needs a cluster name for its ${CLUSTER_DIMENSION} dimension`);
  return JSON.stringify({
    _aws: {
      Timestamp: timestampMs,
      CloudWatchMetrics: [{ Namespace: METRIC_NAMESPACE, Dimensions: [[CLUSTER_DIMENSION]], Metrics: [{ Name: name, Unit: 'Count' }] }],
    },
    [CLUSTER_DIMENSION]: cluster,
    [name]: value,
  });
}

/**
 * Publishes one count of the cluster by printing its EMF line. It writes to process.stdout, not
 * console.log: Lambda's console prefixes each line with a timestamp and request id, and CloudWatch
 * only extracts metrics from log events that are a JSON document alone.
 */
export function emitMetric(
  name: SkiffMetricName,
  value: number,
  cluster: string,
  now: () => number = Date.now,
  write: (line: string) => void = (line) => void process.stdout.write(line),
): void {
  write(`${metricLine(name, value, cluster, now())}\n`);
}
