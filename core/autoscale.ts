/**
 * The horizontal autoscaler's decision, pure: Kubernetes HorizontalPodAutoscaler's rule
 * (pkg/controller/podautoscaler/replica_calculator.go and horizontal.go), step by step:
 *
 * 1. Per target, desired = ceil(current × metric / target), where the ratio is computed over the
 *    ready replicas that report the metric; within a 10% tolerance of the target nothing changes.
 * 2. Replicas without a measurement count as using 0% when the ratio says "up" and 100% (or the
 *    target, if above 100%) when it says "down"; for CPU, replicas not yet ready count as 0% on a
 *    scale-up and are otherwise left out. If that reverses the direction or lands in the
 *    tolerance, nothing changes. This is what keeps a rollout or a crash loop (replicas starting,
 *    their first burst of CPU) from reading as load and starting a scale-up storm.
 * 3. With several targets, the highest proposal wins; a scale-down needs every target measured.
 * 4. The min/max bounds.
 * 5. Stabilization: a scale-up goes to the lowest recommendation of the scale-up window, a
 *    scale-down to the highest of the scale-down window (HPA's recommendation history).
 * 6. HPA's default rate limit on a scale-up (at most double, or 4 more, per decision).
 *
 * No clock, no I/O: `now` and the history come in, the new history goes out.
 */
import type { AutoscalingSpec } from './types.ts';

/** HPA's `--horizontal-pod-autoscaler-tolerance`: a ratio within 10% of 1 changes nothing. */
export const TOLERANCE = 0.1;
/** HPA's default scale-up policies (100% or 4 pods per period, the larger): at most double, or 4 more. */
export const SCALE_UP_LIMIT = { factor: 2, pods: 4 } as const;
/** HPA's `--horizontal-pod-autoscaler-cpu-initialization-period`: CPU of a replica younger than this that is not ready is not trusted. */
export const CPU_INITIALIZATION_MS = 5 * 60_000;

export type MetricName = 'cpu' | 'memory' | 'requests';

/** One replica (task) of the service as the autoscaler sees it. */
export interface ReplicaSample {
  readonly taskId: string;
  /** Running and, when probed, healthy: counted as serving. */
  readonly ready: boolean;
  /** When it started running (ms since the epoch), if it runs. */
  readonly startedAt?: number;
  /** CPU used, in percent of the pod's reserved CPU; absent when not measured. */
  readonly cpu?: number;
  /** Memory used, in percent of the pod's reserved memory; absent when not measured. */
  readonly memory?: number;
}

/** One recommendation of an earlier evaluation: HPA's stabilization history. */
export interface Recommendation {
  readonly at: number;
  readonly replicas: number;
}

export interface AutoscaleInput {
  /** The service's name, for the reason (`web 3 → 6: ...`). */
  readonly name: string;
  readonly autoscaling: AutoscalingSpec;
  /** The replica count now (core/replicas.ts desiredReplicas). */
  readonly current: number;
  /** Every task of the service that should run, placed or not. */
  readonly replicas: readonly ReplicaSample[];
  /** Requests per second per serving replica, as the load balancer counts them (the ALB's RequestCountPerTarget); absent: not known. */
  readonly requestsPerReplica?: number;
  /** Earlier recommendations (any order); those outside both windows are dropped. */
  readonly history: readonly Recommendation[];
  /**
   * Since when the history is complete (ms): when this autoscaler started watching. A scale-down
   * waits until the whole scale-down window was watched, so a restarted autoscaler (a cold Lambda)
   * never scales down on a window it did not see.
   */
  readonly watchedSince: number;
  readonly now: number;
}

/** One target, measured: what `describe` shows and the reason quotes. */
export interface MetricReading {
  readonly metric: MetricName;
  readonly target: number;
  /** The average over ready replicas that report it (cpu, memory: percent; requests: per second per replica); absent when not measured. */
  readonly value?: number;
  /** The replica count this target asks for; absent when it could not be computed. */
  readonly proposal?: number;
  /** Why there is no proposal, or what was assumed. */
  readonly note?: string;
}

export interface AutoscaleDecision {
  /** The replica count to run. */
  readonly replicas: number;
  readonly changed: boolean;
  /** This evaluation's own recommendation, before stabilization: what the history records. */
  readonly recommendation: number;
  /** The history to keep for the next evaluation. */
  readonly history: readonly Recommendation[];
  readonly readings: readonly MetricReading[];
  /** Why, without the name and counts: `cpu 91% of 60% target`. */
  readonly reason: string;
  /** The event message when `changed`: `web 3 → 6: cpu 91% of 60% target`. */
  readonly message: string;
}

/** HPA's per-pod ratio rule for one utilization metric (resource metrics). */
function utilizationProposal(metric: 'cpu' | 'memory', target: number, current: number, replicas: readonly ReplicaSample[], now: number): MetricReading {
  const ready: number[] = [];
  const unready: number[] = [];
  let missing = 0;
  for (const r of replicas) {
    const value = r[metric];
    if (value === undefined) {
      missing++;
      continue;
    }
    // Only CPU is distrusted while a replica starts: its start-up burst is not load (HPA does the same).
    const starting = r.startedAt === undefined || now - r.startedAt < CPU_INITIALIZATION_MS;
    if (metric === 'cpu' && !r.ready && starting) unready.push(value);
    else ready.push(value);
  }
  if (ready.length === 0) return { metric, target, note: `no ready replica reports ${metric} yet` };
  const average = ready.reduce((a, b) => a + b, 0) / ready.length;
  const ratio = average / target;
  const scaleUpWithUnready = unready.length > 0 && ratio > 1;
  if (!scaleUpWithUnready && missing === 0) {
    if (Math.abs(1 - ratio) <= TOLERANCE) return { metric, target, value: average, proposal: current };
    return { metric, target, value: average, proposal: Math.ceil(ratio * ready.length) };
  }
  // Fill in the unknown: the direction the known replicas point to is only taken if it survives
  // the most pessimistic assumption about the others.
  const fallback = ratio < 1 ? Math.max(100, target) : 0;
  const values = [...ready, ...Array<number>(missing).fill(fallback), ...(scaleUpWithUnready ? Array<number>(unready.length).fill(0) : [])];
  const assumed = values.reduce((a, b) => a + b, 0) / values.length / target;
  const note = `assumed ${fallback}% for ${missing} unmeasured${scaleUpWithUnready ? ` and 0% for ${unready.length} not ready` : ''}`;
  if (Math.abs(1 - assumed) <= TOLERANCE || (ratio < 1 && assumed > 1) || (ratio > 1 && assumed < 1)) {
    return { metric, target, value: average, proposal: current, note };
  }
  const proposal = Math.ceil(assumed * values.length);
  if ((assumed < 1 && proposal > current) || (assumed > 1 && proposal < current)) return { metric, target, value: average, proposal: current, note };
  return { metric, target, value: average, proposal, note };
}

/** HPA's rule for a per-replica average of a load-balancer metric (an external metric with an AverageValue target). */
function requestsProposal(target: number, current: number, replicas: readonly ReplicaSample[], perReplica: number | undefined): MetricReading {
  if (perReplica === undefined) return { metric: 'requests', target, note: 'no request count from the load balancer yet' };
  const serving = replicas.filter((r) => r.ready).length;
  if (serving === 0) return { metric: 'requests', target, note: 'no ready replica serves requests' };
  const ratio = perReplica / target;
  if (Math.abs(1 - ratio) <= TOLERANCE) return { metric: 'requests', target, value: perReplica, proposal: current };
  return { metric: 'requests', target, value: perReplica, proposal: Math.ceil((perReplica * serving) / target) };
}

function round(n: number): string {
  return n >= 10 ? String(Math.round(n)) : String(Math.round(n * 10) / 10);
}

/** `cpu 91% of 60% target`, `requests 12/s per replica of 10/s target`, `cpu not measured`. */
export function describeReading(r: MetricReading): string {
  if (r.value === undefined) return `${r.metric} not measured (${r.note ?? 'no data'})`;
  if (r.metric === 'requests') return `requests ${round(r.value)}/s per replica of ${round(r.target)}/s target`;
  return `${r.metric} ${Math.round(r.value)}% of ${r.target}% target`;
}

/** The readings of the spec's targets, in the spec's order. */
export function measure(input: Omit<AutoscaleInput, 'history' | 'watchedSince' | 'name'>): MetricReading[] {
  const a = input.autoscaling;
  const readings: MetricReading[] = [];
  if (a.targetCPUUtilization !== undefined) readings.push(utilizationProposal('cpu', a.targetCPUUtilization, input.current, input.replicas, input.now));
  if (a.targetMemoryUtilization !== undefined)
    readings.push(utilizationProposal('memory', a.targetMemoryUtilization, input.current, input.replicas, input.now));
  if (a.targetRequestsPerReplica !== undefined)
    readings.push(requestsProposal(a.targetRequestsPerReplica, input.current, input.replicas, input.requestsPerReplica));
  return readings;
}

/** One evaluation of one service: the replica count to run and why. */
export function decideReplicas(input: AutoscaleInput): AutoscaleDecision {
  const { autoscaling: a, current, now } = input;
  const readings = measure(input);
  const valid = readings.filter((r) => r.proposal !== undefined);
  const highest = valid.reduce<MetricReading | undefined>((best, r) => (best === undefined || r.proposal! > best.proposal! ? r : best), undefined);
  let recommendation = highest?.proposal ?? current;
  let why = highest ? describeReading(highest) : readings.map(describeReading).join(', ');
  // HPA: a scale-down needs every target measured; one unknown target could be the one that is hot.
  if (recommendation < current && valid.length < readings.length) {
    recommendation = current;
    why = `${why}; not scaling down while ${readings
      .filter((r) => r.proposal === undefined)
      .map(describeReading)
      .join(', ')}`;
  }

  // The bounds first, so that the history and the windows speak of counts the service may have.
  if (recommendation > a.maxReplicas) {
    recommendation = a.maxReplicas;
    why = `${why}, capped at maxReplicas ${a.maxReplicas}`;
  } else if (recommendation < a.minReplicas) {
    recommendation = a.minReplicas;
    why = `${why}, kept at minReplicas ${a.minReplicas}`;
  }

  // Stabilization over the windows, this recommendation included (HPA stabilizeRecommendationWithBehaviors).
  const upCutoff = now - a.scaleUpStabilizationSeconds * 1000;
  const downCutoff = now - a.scaleDownStabilizationSeconds * 1000;
  let up = recommendation;
  let down = recommendation;
  for (const h of input.history) {
    if (h.at > upCutoff) up = Math.min(up, h.replicas);
    if (h.at > downCutoff) down = Math.max(down, h.replicas);
  }
  let replicas = Math.min(Math.max(current, up), down);
  if (replicas > recommendation && recommendation < current)
    why = `${why}; held at ${replicas}, the highest recommendation of the last ${a.scaleDownStabilizationSeconds} s`;
  if (replicas < recommendation && recommendation > current)
    why = `${why}; ${replicas}, the lowest recommendation of the last ${a.scaleUpStabilizationSeconds} s`;
  if (replicas < current && input.watchedSince > downCutoff) {
    replicas = current;
    why = `${why}; not scaling down before ${a.scaleDownStabilizationSeconds} s of recommendations are known`;
  }

  // HPA's default scale-up rate.
  const limit = Math.max(current * SCALE_UP_LIMIT.factor, current + SCALE_UP_LIMIT.pods);
  if (replicas > limit) {
    replicas = limit;
    why = `${why}; at most ${limit} in one step`;
  }

  const keepFrom = Math.min(upCutoff, downCutoff);
  const history = [...input.history.filter((h) => h.at > keepFrom), { at: now, replicas: recommendation }];
  return {
    replicas,
    changed: replicas !== current,
    recommendation,
    history,
    readings,
    reason: why,
    message: `${input.name} ${current} → ${replicas}: ${why}`,
  };
}
