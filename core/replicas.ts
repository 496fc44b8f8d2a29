/**
 * How many replicas a service should run. Three writers have a say, and this is where they agree:
 * the user's apply (`spec.replicas`), `skiff scale` and the autoscaler (both write `Service.scale`).
 * A scale is not a spec change: it never bumps specVersion, so it never rolls tasks, and a rollout
 * never resets it. Pure: the stores call `scaleAfterApply` inside their putService.
 */
import type { Service, ServiceScale, ServiceSpec } from './types.ts';

/** The replica count the reconciler converges to: the chosen scale, else the spec's, kept within the autoscaling bounds. */
export function desiredReplicas(service: Pick<Service, 'spec' | 'scale'>): number {
  return clampToBounds(service.spec, service.scale?.replicas ?? service.spec.spec.replicas);
}

/** `replicas` within the spec's autoscaling bounds, when it has them. */
export function clampToBounds(spec: ServiceSpec, replicas: number): number {
  const a = spec.spec.autoscaling;
  return a ? Math.min(a.maxReplicas, Math.max(a.minReplicas, replicas)) : replicas;
}

/**
 * The scale a service keeps after `next` is applied over `current`. An autoscaled service keeps
 * what the autoscaler (or a user) chose; otherwise a changed `spec.replicas` wins, and an apply that
 * leaves it unchanged keeps the chosen scale (Kubernetes' three-way merge does the same).
 */
export function scaleAfterApply(current: Pick<Service, 'spec' | 'scale'> | undefined, next: ServiceSpec): ServiceScale | undefined {
  if (!current?.scale) return undefined;
  if (next.spec.autoscaling) return current.scale;
  return next.spec.replicas === current.spec.spec.replicas ? current.scale : undefined;
}
