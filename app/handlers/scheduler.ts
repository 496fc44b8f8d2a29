/**
 * The scheduler handler: one pass per invocation (on AWS on a schedule and after API writes; local
 * mode calls the same handler on a timer and after each API write).
 */
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { newPassState, runPass, type PassDeps, type PassResult } from '../scheduler/pass.ts';
import { runDiscoverySync, type DiscoveryDeps } from '../discovery.ts';
import { controlPlaneConfig } from '../env.ts';
import { awsControlPlane } from '../wiring.ts';
import { errorBoundary } from './middleware.ts';
import { componentLogger } from '../logger.ts';
import { emitMetric } from '../metrics.ts';
import { SSMClient } from '@aws-sdk/client-ssm';
import { SsmSigningKeyStore } from '../../adapters/aws/ssm-signing-keys.ts';
import { ENV } from '../env-names.ts';
import { rotateSigningKeys } from '../workload-tokens.ts';

export type SchedulerHandler = (event: unknown, context: Context) => Promise<PassResult>;

/**
 * `discovery`: on AWS the scheduler also keeps Route 53 and the ALB in step after each pass (local
 * mode runs that on its own faster loop instead).
 */
export function makeSchedulerHandler(
  deps: Omit<PassDeps, 'seed'>,
  discovery?: DiscoveryDeps,
  options: { metrics?: boolean; rotateSigningKeys?: () => Promise<unknown> } = {},
): SchedulerHandler {
  const log = componentLogger('scheduler', deps.cluster);
  // Workload token keys rotate here, the one writer (reserved concurrency 1): checked every 10 minutes at
  // most (one SSM read), far inside a week's rotation and an hour's token lifetime.
  let keysCheckedAt = Number.NEGATIVE_INFINITY;
  // What outlives a pass lives as long as the handler: one Lambda container, or local mode's process.
  const state = deps.state ?? newPassState();
  return middy<unknown, PassResult>()
    .use(errorBoundary('scheduler'))
    .handler(async (_event, context) => {
      const result = await runPass({
        ...deps,
        state,
        seed: `${deps.now().toISOString()}/${context?.awsRequestId ?? 'local'}`,
        log: deps.log ?? ((message, data) => log.debug(message, data ?? {})),
      });
      if (result.created || result.removed || result.placed || result.published.length) log.info('pass', { ...result });
      // The UnplaceableTasks alarm reads this (Embedded Metric Format); local mode has no CloudWatch.
      if (options.metrics) emitMetric('UnplaceableTasks', result.unplaceable, deps.cluster);
      // The HostsWithoutSubnet alarm: hosts the network step could not route (route quota, IAM, EC2).
      if (options.metrics && result.network) emitMetric('HostsWithoutSubnet', result.network.waiting, deps.cluster);
      // Store items skipped as invalid (a host writing what it may not): an alarm can watch it.
      if (options.metrics && result.badItems !== undefined) emitMetric('BadItems', result.badItems, deps.cluster);
      // Events the log refused (best-effort writes, the pass went on): logged as a warning too.
      if (result.eventsDropped) {
        log.warn('events dropped', { count: result.eventsDropped });
        if (options.metrics) emitMetric('EventsDropped', result.eventsDropped, deps.cluster);
      }
      if (options.rotateSigningKeys && deps.now().getTime() - keysCheckedAt >= 600_000) {
        try {
          await options.rotateSigningKeys();
          keysCheckedAt = deps.now().getTime();
        } catch (err) {
          log.warn('workload token signing key rotation failed; retried next pass', { error: (err as Error).message });
        }
      }
      if (discovery && (discovery.zone || discovery.loadBalancer)) {
        const d = await runDiscoverySync(discovery);
        // Sets and routes that failed alone (the rest was applied): capped, refused, past a quota.
        if (d.dnsFailed.length > 0 || d.routesFailed.length > 0) log.warn('discovery', { ...d });
        else if (d.dnsChanged || d.routesChanged) log.info('discovery', { ...d });
      }
      return result;
    });
}

/** The handler over the AWS adapters, configured from the environment, with its metrics. */
export function schedulerHandlerFromEnv(env: NodeJS.ProcessEnv): SchedulerHandler {
  const config = controlPlaneConfig(env);
  const cp = awsControlPlane(config);
  // Workload identity on (SKIFF_WORKLOAD_ISSUER): the scheduler keeps the signing keys rotated (docs/identity.md).
  const keys = env[ENV.workloadIssuer]?.trim()
    ? new SsmSigningKeyStore(
        new SSMClient({ ...(config.region ? { region: config.region } : {}), ...(config.ssmEndpoint ? { endpoint: config.ssmEndpoint } : {}) }),
        { prefix: config.paramPrefix },
      )
    : undefined;
  return makeSchedulerHandler(
    {
      store: cp.store,
      channel: cp.channel,
      waker: cp.waker,
      cluster: cp.cluster,
      now: () => new Date(),
      machines: cp.machines,
      ...(cp.network ? { network: cp.network } : {}),
      ...(cp.isolation ? { isolation: cp.isolation } : {}),
      ...(cp.volumes ? { volumes: cp.volumes } : {}),
    },
    cp.discovery,
    { metrics: true, ...(keys ? { rotateSigningKeys: () => rotateSigningKeys(keys, Date.now()) } : {}) },
  );
}
