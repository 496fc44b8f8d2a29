/**
 * The autoscaler handler. On AWS it is invoked by an EventBridge schedule (every minute: the
 * periodic evaluation that catches what alarms miss) and by the CloudWatch alarm state changes of
 * the load balancer's request metrics (docs/autoscaling.md). Every invocation evaluates every
 * autoscaled service, whatever woke it: the event only says "look now". Local mode calls the same
 * handler on a timer.
 */
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { AutoscalerMemory, runAutoscaler, type AutoscalerDeps, type AutoscalerResult } from '../autoscaler.ts';
import { errorBoundary } from './middleware.ts';
import { componentLogger } from '../logger.ts';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DescribeTargetGroupsCommand, ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { AlbLoadBalancer } from '../../adapters/aws/alb.ts';
import { CloudWatchAutoscaling } from '../../adapters/aws/cloudwatch-autoscaling.ts';
import { controlPlaneConfig, optionalEnv } from '../env.ts';
import { ENV } from '../env-names.ts';
import { awsControlPlane } from '../wiring.ts';

export type AutoscalerHandler = (event: unknown, context: Context) => Promise<AutoscalerResult>;

/** What woke the autoscaler, for the log: an alarm's name, the schedule, or a local timer. */
function trigger(event: unknown): string {
  const e = event as { 'detail-type'?: string; detail?: { alarmName?: string } } | undefined;
  if (e?.['detail-type'] === 'CloudWatch Alarm State Change') return `alarm ${e.detail?.alarmName ?? '?'}`;
  if (e?.['detail-type'] === 'Scheduled Event') return 'schedule';
  return 'timer';
}

/** `onAlarm`: called before a run an alarm started (the CloudWatch adapter reads afresh). */
export function makeAutoscalerHandler(deps: Omit<AutoscalerDeps, 'log'>, onAlarm?: () => void): AutoscalerHandler {
  const log = componentLogger('autoscaler');
  const full: AutoscalerDeps = { ...deps, log: (level, message, data) => log[level](message, data ?? {}) };
  return middy<unknown, AutoscalerResult>()
    .use(errorBoundary('autoscaler'))
    .handler(async (event) => {
      if (trigger(event).startsWith('alarm')) onAlarm?.();
      const result = await runAutoscaler(full);
      if (result.scaled.length || result.conflicts.length)
        log.info('autoscaler run', { trigger: trigger(event), scaled: result.scaled, conflicts: result.conflicts });
      return result;
    });
}

/** The memory of a Lambda container: kept while it stays warm (reserved concurrency 1 keeps one). */
export const lambdaMemory = new AutoscalerMemory();

/** On AWS, request rates are read every 10 minutes and whenever an alarm wakes the function (docs/cost.md). */
const CLOUDWATCH_REFRESH_MS = 10 * 60_000;

/** The handler over the AWS adapters, configured from the environment. */
export function autoscalerHandlerFromEnv(env: NodeJS.ProcessEnv): AutoscalerHandler {
  const config = controlPlaneConfig(env);
  const cp = awsControlPlane(config);
  const prefix = optionalEnv(env, ENV.autoscalerAlarmPrefix);
  const cloudwatch =
    prefix && config.albListenerArn && config.vpcId
      ? new CloudWatchAutoscaling(new CloudWatchClient({}), {
          alarmPrefix: prefix,
          targetGroupOf: targetGroups(config.cluster, config.albListenerArn, config.vpcId),
          refreshMs: CLOUDWATCH_REFRESH_MS,
        })
      : undefined;
  // No scheduler kick: setServiceScale writes the service item, whose stream record triggers a pass.
  return makeAutoscalerHandler(
    {
      store: cp.store,
      namespaces: cp.tenancy,
      memory: lambdaMemory,
      now: () => new Date(),
      ...(cloudwatch ? { requests: cloudwatch, alarms: cloudwatch } : {}),
    },
    () => cloudwatch?.refresh(),
  );
}

/**
 * A service's target group as CloudWatch names it (`targetgroup/<name>/<id>`): the name is the ALB
 * adapter's, the id comes from DescribeTargetGroups; found ones are kept (a target group keeps its
 * id while it lives), missing ones asked again next run.
 */
function targetGroups(cluster: string, listenerArn: string, vpcId: string): (namespace: string, name: string) => Promise<string | undefined> {
  const elb = new ElasticLoadBalancingV2Client({});
  const naming = new AlbLoadBalancer(elb, { listenerArn, vpcId, namePrefix: cluster.slice(0, 19).replace(/-+$/, ''), resolveInstance: async () => undefined });
  const known = new Map<string, string>();
  return async (namespace, name) => {
    const tgName = naming.targetGroupName(namespace, name);
    const hit = known.get(tgName);
    if (hit) return hit;
    try {
      const out = await elb.send(new DescribeTargetGroupsCommand({ Names: [tgName] }));
      const arn = out.TargetGroups?.[0]?.TargetGroupArn;
      const dimension = arn?.slice(arn.indexOf('targetgroup/'));
      if (dimension) known.set(tgName, dimension);
      return dimension;
    } catch {
      // TargetGroupNotFound: the service has no route yet.
      return undefined;
    }
  };
}
