/**
 * The scheduler Lambda: on a schedule and after API writes, runs one pass. Local mode calls the
 * same handler on a timer.
 */
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { runPass, type PassDeps, type PassResult } from './pass.ts';
import { controlPlaneConfig } from '../env.ts';
import { awsControlPlane } from '../wiring.ts';
import { errorBoundary } from '../middleware.ts';

export type SchedulerHandler = (event: unknown, context: Context) => Promise<PassResult>;

export function makeSchedulerHandler(deps: Omit<PassDeps, 'seed'>): SchedulerHandler {
  return middy<unknown, PassResult>()
    .use(errorBoundary('scheduler'))
    .handler(async (_event, context) => {
      const result = await runPass({ ...deps, seed: `${deps.now().toISOString()}/${context?.awsRequestId ?? 'local'}` });
      if (result.created || result.removed || result.placed || result.published.length) {
        console.log(JSON.stringify({ level: 'INFO', component: 'scheduler', message: 'pass', ...result }));
      }
      return result;
    });
}

let fromEnv: SchedulerHandler | undefined;

export const handler: SchedulerHandler = (event, context) => {
  if (!fromEnv) {
    const cp = awsControlPlane(controlPlaneConfig(process.env));
    fromEnv = makeSchedulerHandler({ store: cp.store, channel: cp.channel, waker: cp.waker, cluster: cp.cluster, now: () => new Date() });
  }
  return fromEnv(event, context);
};
