import { describe, expect, it } from 'vitest';
import { parseServiceSpec, parseServiceYaml } from '../../core/spec.ts';
import { ValidationError, type FieldIssue } from '../../core/errors.ts';

type Raw = Record<string, any>;

/** A web service with an http port; `autoscaling` and `ingress` as given. */
function aSpec(autoscaling: unknown, ingress: unknown = undefined): Raw {
  return {
    kind: 'Service',
    metadata: { name: 'web' },
    spec: {
      replicas: 2,
      containers: [{ name: 'app', image: 'skiff/busybox:latest', ports: [{ containerPort: 8080, name: 'http' }] }],
      ...(ingress === undefined ? {} : { ingress }),
      autoscaling,
    },
  };
}

function issuesOf(fn: () => unknown): readonly FieldIssue[] {
  try {
    fn();
  } catch (error) {
    if (error instanceof ValidationError) return error.issues;
    throw error;
  }
  throw new Error('expected a ValidationError');
}

describe('spec.autoscaling', () => {
  it('fills HPA defaults: minReplicas 1, scale up at once, scale down over 300 s', () => {
    const spec = parseServiceSpec(aSpec({ maxReplicas: 5, targetCPUUtilization: 60 }));
    expect(spec.spec.autoscaling).toEqual({
      minReplicas: 1,
      maxReplicas: 5,
      targetCPUUtilization: 60,
      scaleUpStabilizationSeconds: 0,
      scaleDownStabilizationSeconds: 300,
    });
    expect(spec.spec.replicas).toBe(2);
  });

  it('accepts every target together, and a request-rate target with an ingress', () => {
    const spec = parseServiceYaml(`
kind: Service
metadata: { name: web }
spec:
  containers: [{ name: app, image: skiff/busybox:latest, ports: [{ containerPort: 8080, name: http }] }]
  ingress: { host: shop.example.com, port: http }
  autoscaling:
    minReplicas: 2
    maxReplicas: 10
    targetCPUUtilization: 60
    targetMemoryUtilization: 80
    targetRequestsPerReplica: 12.5
    scaleUpStabilizationSeconds: 10
    scaleDownStabilizationSeconds: 20
`);
    expect(spec.spec.autoscaling).toEqual({
      minReplicas: 2,
      maxReplicas: 10,
      targetCPUUtilization: 60,
      targetMemoryUtilization: 80,
      targetRequestsPerReplica: 12.5,
      scaleUpStabilizationSeconds: 10,
      scaleDownStabilizationSeconds: 20,
    });
  });

  it.each<[string, unknown, unknown, FieldIssue[]]>([
    [
      'min above max',
      { minReplicas: 5, maxReplicas: 2, targetCPUUtilization: 60 },
      undefined,
      [{ path: 'spec.autoscaling.minReplicas', message: 'must not be above maxReplicas: got minReplicas 5 and maxReplicas 2' }],
    ],
    [
      'no target',
      { minReplicas: 1, maxReplicas: 3 },
      undefined,
      [
        {
          path: 'spec.autoscaling',
          message:
            'needs at least one target: targetCPUUtilization, targetMemoryUtilization, targetRequestsPerReplica (such as targetCPUUtilization: 60); the autoscaler would have nothing to follow',
        },
      ],
    ],
    [
      'a request-rate target without ingress',
      { maxReplicas: 3, targetRequestsPerReplica: 10 },
      undefined,
      [
        {
          path: 'spec.autoscaling.targetRequestsPerReplica',
          message:
            'needs spec.ingress: requests per replica are counted by the load balancer, which only serves services with an ingress; add spec.ingress or use targetCPUUtilization',
        },
      ],
    ],
    [
      'an unknown metric',
      { maxReplicas: 3, targetGPUUtilization: 50 },
      undefined,
      [
        { path: 'spec.autoscaling.targetGPUUtilization', message: 'unknown field "targetGPUUtilization" (did you mean "targetCPUUtilization"?)' },
        {
          path: 'spec.autoscaling',
          message:
            'needs at least one target: targetCPUUtilization, targetMemoryUtilization, targetRequestsPerReplica (such as targetCPUUtilization: 60); the autoscaler would have nothing to follow',
        },
      ],
    ],
    [
      "HPA v1's name",
      { maxReplicas: 3, targetCPUUtilizationPercentage: 50 },
      undefined,
      [
        {
          path: 'spec.autoscaling.targetCPUUtilizationPercentage',
          message: 'unknown field "targetCPUUtilizationPercentage" (did you mean "targetCPUUtilization"?)',
        },
        {
          path: 'spec.autoscaling',
          message:
            'needs at least one target: targetCPUUtilization, targetMemoryUtilization, targetRequestsPerReplica (such as targetCPUUtilization: 60); the autoscaler would have nothing to follow',
        },
      ],
    ],
    ['a missing maxReplicas', { targetCPUUtilization: 60 }, undefined, [{ path: 'spec.autoscaling.maxReplicas', message: 'is required' }]],
    [
      'a zero CPU target',
      { maxReplicas: 3, targetCPUUtilization: 0 },
      undefined,
      [
        {
          path: 'spec.autoscaling.targetCPUUtilization',
          message: "must be an integer from 1 to 1000 (percent of the pod's reserved CPU, averaged over its ready replicas); got 0",
        },
      ],
    ],
    [
      'a negative request target',
      { maxReplicas: 3, targetRequestsPerReplica: -1 },
      { host: 'shop.example.com', port: 'http' },
      [
        {
          path: 'spec.autoscaling.targetRequestsPerReplica',
          message: 'must be a number of requests per second per replica, more than 0 and at most 1000000; got -1',
        },
      ],
    ],
    [
      'a window over an hour',
      { maxReplicas: 3, targetCPUUtilization: 60, scaleDownStabilizationSeconds: 7200 },
      undefined,
      [
        {
          path: 'spec.autoscaling.scaleDownStabilizationSeconds',
          message: 'must be an integer from 0 to 3600 (scale down to the highest recommendation of this window); got 7200',
        },
      ],
    ],
    [
      'a minReplicas of 0',
      { minReplicas: 0, maxReplicas: 3, targetCPUUtilization: 60 },
      undefined,
      [{ path: 'spec.autoscaling.minReplicas', message: 'must be an integer from 1 to 1000 (the fewest replicas the autoscaler keeps); got 0' }],
    ],
    [
      'not a map',
      'yes',
      undefined,
      [{ path: 'spec.autoscaling', message: 'must be a map such as { minReplicas: 2, maxReplicas: 10, targetCPUUtilization: 60 }; got "yes"' }],
    ],
  ])('refuses %s with a clear error', (_name, autoscaling, ingress, expected) => {
    expect(issuesOf(() => parseServiceSpec(aSpec(autoscaling, ingress)))).toEqual(expected);
  });
});
