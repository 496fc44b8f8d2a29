/**
 * `spec.autoscaling`: Kubernetes HorizontalPodAutoscaler's bounds and targets under Skiff's names
 * (scripts use them: keep them). The schema checks each field; `autoscalingIssues` the rules across
 * fields and across the spec (min <= max, at least one target, a request-rate target needs an ingress).
 */
import { z } from 'zod';
import type { FieldIssue } from '../errors.ts';
import { MAX_REPLICAS } from './defaults.ts';
import { got, isRecord, rule } from './messages.ts';

/** HPA's defaults: scale up at once, scale down on the highest recommendation of the last 5 minutes. */
export const AUTOSCALING_DEFAULTS = { scaleUpStabilizationSeconds: 0, scaleDownStabilizationSeconds: 300 } as const;
/** HPA's bound on a stabilization window (one hour). */
export const MAX_STABILIZATION_SECONDS = 3600;
/** A utilization target is a percent of the pod's reserved CPU or memory; above 100 is allowed (HPA allows it: usage may exceed the reservation). */
export const MAX_UTILIZATION_TARGET = 1000;
/** Requests per second per replica: far above what one replica serves. */
export const MAX_REQUESTS_TARGET = 1_000_000;

/** The targets, in the order the decision and `describe` list them. */
export const TARGET_FIELDS = ['targetCPUUtilization', 'targetMemoryUtilization', 'targetRequestsPerReplica'] as const;

function integer(min: number, max: number, meaning: string) {
  const error = rule(`must be an integer from ${min} to ${max} (${meaning})`);
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
}

function percent(resource: string) {
  return integer(1, MAX_UTILIZATION_TARGET, `percent of the pod's reserved ${resource}, averaged over its ready replicas`);
}

const requestsRule = rule(`must be a number of requests per second per replica, more than 0 and at most ${MAX_REQUESTS_TARGET}`);

export const AutoscalingSchema = z.strictObject(
  {
    minReplicas: integer(1, MAX_REPLICAS, 'the fewest replicas the autoscaler keeps').default(1),
    maxReplicas: integer(1, MAX_REPLICAS, 'the most replicas the autoscaler starts'),
    targetCPUUtilization: percent('CPU').optional(),
    targetMemoryUtilization: percent('memory').optional(),
    targetRequestsPerReplica: z.number({ error: requestsRule }).gt(0, { error: requestsRule }).max(MAX_REQUESTS_TARGET, { error: requestsRule }).optional(),
    scaleUpStabilizationSeconds: integer(0, MAX_STABILIZATION_SECONDS, 'scale up to the lowest recommendation of this window').default(
      AUTOSCALING_DEFAULTS.scaleUpStabilizationSeconds,
    ),
    scaleDownStabilizationSeconds: integer(0, MAX_STABILIZATION_SECONDS, 'scale down to the highest recommendation of this window').default(
      AUTOSCALING_DEFAULTS.scaleDownStabilizationSeconds,
    ),
  },
  { error: rule('must be a map such as { minReplicas: 2, maxReplicas: 10, targetCPUUtilization: 60 }') },
);

/** What other tools call these fields (HPA v1, ECS, the names Skiff's docs once planned). */
export const AUTOSCALING_ALIASES: Readonly<Record<string, string>> = {
  min: 'minReplicas',
  max: 'maxReplicas',
  minCapacity: 'minReplicas',
  maxCapacity: 'maxReplicas',
  targetCPUUtilizationPercentage: 'targetCPUUtilization',
  targetCpuPercent: 'targetCPUUtilization',
  targetCpuUtilization: 'targetCPUUtilization',
  targetMemoryUtilizationPercentage: 'targetMemoryUtilization',
  targetMemoryPercent: 'targetMemoryUtilization',
  targetRequestsPerSecond: 'targetRequestsPerReplica',
  scaleUpCooldown: 'scaleUpStabilizationSeconds',
  scaleDownCooldown: 'scaleDownStabilizationSeconds',
};

/**
 * Rules across fields, read from the raw input like podIssues so they are reported with every
 * other issue (zod skips a refinement of an object that has an issue inside it). A value of the
 * wrong type is skipped here: the schema reports it.
 */
export function autoscalingIssues(input: unknown): FieldIssue[] {
  if (!isRecord(input) || !isRecord(input.spec) || !isRecord(input.spec.autoscaling)) return [];
  const a = input.spec.autoscaling;
  const at = 'spec.autoscaling';
  const issues: FieldIssue[] = [];
  const min = a.minReplicas === undefined ? 1 : a.minReplicas;
  if (Number.isInteger(min) && Number.isInteger(a.maxReplicas) && (min as number) > (a.maxReplicas as number)) {
    issues.push({
      path: `${at}.minReplicas`,
      message: `must not be above maxReplicas: got minReplicas ${got(min)} and maxReplicas ${got(a.maxReplicas)}`,
    });
  }
  if (TARGET_FIELDS.every((f) => a[f] === undefined)) {
    issues.push({
      path: at,
      message: `needs at least one target: ${TARGET_FIELDS.join(', ')} (such as targetCPUUtilization: 60); the autoscaler would have nothing to follow`,
    });
  }
  if (a.targetRequestsPerReplica !== undefined && input.spec.ingress === undefined) {
    issues.push({
      path: `${at}.targetRequestsPerReplica`,
      message:
        'needs spec.ingress: requests per replica are counted by the load balancer, which only serves services with an ingress; add spec.ingress or use targetCPUUtilization',
    });
  }
  return issues;
}
