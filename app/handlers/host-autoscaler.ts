/**
 * The host autoscaler handler: one run of app/host-autoscaler.ts per invocation. On AWS an
 * EventBridge rule fires it once a minute (cluster-autoscaler scans every 10 s; a host takes a
 * minute or more to boot, so a one-minute scan adds little); locally the same handler runs on a timer.
 */
import middy from '@middy/core';
import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import type { Context } from 'aws-lambda';
import { AutoScalingHostGroup } from '../../adapters/aws/auto-scaling-group.ts';
import { newHostAutoscalerState, runHostAutoscaler, type HostAutoscalerDeps, type HostAutoscalerResult, type HostAutoscalerState } from '../host-autoscaler.ts';
import { controlPlaneConfig, numberEnv, optionalEnv, requireEnv, ConfigError } from '../env.ts';
import { HOST_AUTOSCALER_ENV } from '../host-autoscaler-env.ts';
import { awsControlPlane } from '../wiring.ts';
import { errorBoundary } from './middleware.ts';
import { componentLogger } from '../logger.ts';

export type HostAutoscalerHandler = (event: unknown, context: Context) => Promise<HostAutoscalerResult>;

/** `state` lives as long as the handler (a warm Lambda container, the local process). */
export function makeHostAutoscalerHandler(deps: HostAutoscalerDeps, state: HostAutoscalerState = newHostAutoscalerState()): HostAutoscalerHandler {
  const log = componentLogger('host-autoscaler');
  return middy<unknown, HostAutoscalerResult>()
    .use(errorBoundary('host-autoscaler'))
    .handler(async () => {
      const r = await runHostAutoscaler({ ...deps, log: deps.log ?? ((m, d) => log.info(m, d ?? {})) }, state);
      if (r.action !== 'none') log.info('host scaling', { ...r });
      return r;
    });
}

/** The policy and fallback shape from the environment (names in app/host-autoscaler-env.ts). */
export function hostAutoscalerSettings(env: NodeJS.ProcessEnv): Pick<HostAutoscalerDeps, 'policy' | 'fallbackTemplate'> {
  const E = HOST_AUTOSCALER_ENV;
  const cpu = optionalEnv(env, E.templateCpu);
  const memory = optionalEnv(env, E.templateMemoryMiB);
  if ((cpu === undefined) !== (memory === undefined))
    throw new ConfigError(`environment variables ${E.templateCpu} and ${E.templateMemoryMiB} go together: set both or neither`);
  return {
    policy: {
      utilizationThreshold: numberEnv(env, E.scaleInUtilization, 0.5, { min: 0, max: 1 }),
      unneededMs: numberEnv(env, E.scaleInUnneededSeconds, 600, { min: 0 }) * 1000,
    },
    ...(cpu !== undefined
      ? {
          fallbackTemplate: {
            capacity: { cpu: numberEnv(env, E.templateCpu, 0, { min: 1 }), memory: numberEnv(env, E.templateMemoryMiB, 0, { min: 1 }) * 1024 * 1024 },
            labels: {},
          },
        }
      : {}),
  };
}

/** The handler over the AWS adapters, configured from the environment. */
export function hostAutoscalerHandlerFromEnv(env: NodeJS.ProcessEnv): HostAutoscalerHandler {
  const config = controlPlaneConfig(env);
  const cp = awsControlPlane(config);
  const client = new AutoScalingClient(config.region ? { region: config.region } : {});
  return makeHostAutoscalerHandler({
    store: cp.store,
    group: new AutoScalingHostGroup(client, requireEnv(env, HOST_AUTOSCALER_ENV.group)),
    now: () => new Date(),
    kickScheduler: cp.kickScheduler,
    channel: cp.channel,
    ...hostAutoscalerSettings(env),
  });
}
