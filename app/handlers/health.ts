/**
 * The health handler. EventBridge fires the Lambda at most once a minute; to judge heartbeats more
 * often it runs several checks per invocation (`SKIFF_HEALTH_CHECKS_PER_RUN` × `SKIFF_HEALTH_INTERVAL_SECONDS`,
 * default 4 × 15 s), which costs one ~60 s invocation a minute. Local mode calls the same handler
 * on a 1 s timer with one check per run.
 */
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { runHealthCheck, type HealthDeps, type HealthResult } from '../health.ts';
import { controlPlaneConfig, numberEnv } from '../env.ts';
import { ENV } from '../env-names.ts';
import { awsControlPlane } from '../wiring.ts';
import { errorBoundary } from './middleware.ts';
import { componentLogger } from '../logger.ts';
import { emitMetric } from '../metrics.ts';

export type HealthHandler = (event: unknown, context: Context) => Promise<HealthResult[]>;

/** `metricsCluster`: publish the StaleHosts metric (Embedded Metric Format) for this cluster, on AWS. */
export function makeHealthHandler(deps: HealthDeps, options: { checksPerRun: number; intervalMs: number; metricsCluster?: string }): HealthHandler {
  const log = componentLogger('health');
  return middy<unknown, HealthResult[]>()
    .use(errorBoundary('health'))
    .handler(async () => {
      const results: HealthResult[] = [];
      for (let i = 0; i < options.checksPerRun; i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, options.intervalMs));
        const r = await runHealthCheck(deps);
        if (r.down.length || r.up.length || r.suspect.length || r.resumed) log.info('host health changed', { ...r });
        if (options.metricsCluster) {
          emitMetric('StaleHosts', r.downHosts, options.metricsCluster);
          emitMetric('SuspectHosts', r.suspectHosts, options.metricsCluster);
          // 1 while too many hosts are silent at once and nothing is moved: worth an alarm of its own.
          emitMetric('EvictionsHeld', r.held ? 1 : 0, options.metricsCluster);
        }
        results.push(r);
      }
      return results;
    });
}

/** The handler over the AWS adapters, configured from the environment, with its metric. */
export function healthHandlerFromEnv(env: NodeJS.ProcessEnv): HealthHandler {
  const cp = awsControlPlane(controlPlaneConfig(env));
  return makeHealthHandler(
    {
      store: cp.store,
      now: () => new Date(),
      // Agents heartbeat every 15 s on AWS; 4 missed beats make a host down.
      policy: {
        graceMs: numberEnv(env, ENV.hostGraceSeconds, 60, { min: 1 }) * 1000,
        checkIntervalMs: numberEnv(env, ENV.healthIntervalSeconds, 15, { min: 1 }) * 1000,
      },
      kickScheduler: cp.kickScheduler,
      eventRetentionMs: numberEnv(env, ENV.eventRetentionDays, 7, { min: 1 }) * 86_400_000,
    },
    {
      checksPerRun: numberEnv(env, ENV.healthChecksPerRun, 4, { min: 1, max: 12 }),
      intervalMs: numberEnv(env, ENV.healthIntervalSeconds, 15, { min: 1 }) * 1000,
      metricsCluster: cp.cluster,
    },
  );
}
