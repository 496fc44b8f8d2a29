/**
 * Local mode's stand-in for what the ALB publishes to CloudWatch by itself: every few seconds the
 * requests the embedded proxy routed to each service, divided by its targets, go into the
 * CloudWatch stand-in as `AWS/ApplicationELB RequestCountPerTarget` of the service's target group
 * (summed over a minute, that is the ALB's figure). The autoscaler then reads them, and its alarms
 * fire, through the same CloudWatch calls as on AWS.
 */
import type { ProxyServer } from './proxy.ts';
import type { CloudWatchServer } from './cloudwatch-server.ts';
import { REQUEST_METRIC } from '../adapters/aws/cloudwatch-autoscaling.ts';

/** The `TargetGroup` dimension of a service's (stand-in) target group. */
export const localTargetGroup = (namespace: string, name: string): string => `targetgroup/${namespace}-${name}/local`;

/** Starts recording every `everyMs`; returns its stop. */
export function startRequestMeter(
  proxy: Pick<ProxyServer, 'routes' | 'requestCounts'>,
  cloudwatch: Pick<CloudWatchServer, 'record'>,
  everyMs = 5000,
): () => void {
  const last = new Map<string, number>();
  const tick = (): void => {
    const counts = proxy.requestCounts();
    for (const r of proxy.routes()) {
      const key = `${r.namespace}/${r.service}`;
      const total = counts[key] ?? 0;
      const delta = total - (last.get(key) ?? total);
      last.set(key, total);
      if (r.targets.length === 0) continue;
      cloudwatch.record(
        REQUEST_METRIC.namespace,
        REQUEST_METRIC.name,
        [{ Name: 'TargetGroup', Value: localTargetGroup(r.namespace, r.service) }],
        delta / r.targets.length,
      );
    }
  };
  const timer = setInterval(tick, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
