/**
 * The scheduler handler: passes within the invocation's time (on AWS on a schedule and after API
 * writes; local mode calls the same handler on a timer and after each API write).
 *
 * Each pass gets a deadline (app/scheduler/budget.ts): on AWS the Lambda's remaining time less
 * `PASS_MARGIN_MS` (the discovery sync and slack after the passes), locally a budget of the same
 * size. A pass that ran out of budget (`result.more`) is followed at once by the next, back to back
 * in the same invocation while at least `MIN_PASS_MS` of budget is left: one invocation at a time
 * (reserved concurrency 1) keeps publications ordered. What is still left when the invocation ends
 * starts the next invocation by itself: the pass's own task writes are on the table's stream, which
 * invokes the function again (docs/scale.md, "A pass within its budget"); the one-minute tick is the
 * safety net. Local mode's loop runs again at once instead (local/cluster.ts).
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
import { MIN_PASS_MS, PASS_MARGIN_MS, SCHEDULER_TIMEOUT_MS } from '../scheduler/budget.ts';

export type SchedulerHandler = (event: unknown, context: Context) => Promise<PassResult>;

/**
 * `discovery`: on AWS the scheduler also keeps Route 53 and the ALB in step after each pass (local
 * mode runs that on its own faster loop instead).
 */
export function makeSchedulerHandler(
  deps: Omit<PassDeps, 'seed'>,
  discovery?: DiscoveryDeps,
  options: {
    metrics?: boolean;
    rotateSigningKeys?: () => Promise<unknown>;
    /**
     * The time an invocation without a Lambda context (local mode, tests) may take, as the function's
     * timeout does on AWS; its passes get it less `PASS_MARGIN_MS`. @default SCHEDULER_TIMEOUT_MS
     */
    budgetMs?: number;
  } = {},
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
      // The invocation's end: Lambda's remaining time, or (no context) a budget of the function's size.
      const remaining =
        typeof context?.getRemainingTimeInMillis === 'function' ? context.getRemainingTimeInMillis() : (options.budgetMs ?? SCHEDULER_TIMEOUT_MS);
      const deadline = deps.now().getTime() + remaining - PASS_MARGIN_MS;
      let result: PassResult | undefined;
      for (let n = 1; ; n++) {
        const pass = await runPass({
          ...deps,
          state,
          seed: `${deps.now().toISOString()}/${context?.awsRequestId ?? 'local'}${n > 1 ? `/${n}` : ''}`,
          log: deps.log ?? ((message, data) => log.debug(message, data ?? {})),
          deadline,
        });
        if (pass.more) log.info('pass out of budget: the next pass goes on', { pass: n, ...pass.more });
        result = result ? combine(result, pass) : pass;
        if (!pass.more || deadline - deps.now().getTime() < MIN_PASS_MS) break;
      }
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

/** The passes of one invocation as one result: counts summed, lists joined, the rest as the last pass left it. */
export function combine(a: PassResult, b: PassResult): PassResult {
  const union = (x: readonly string[] = [], y: readonly string[] = []) => [...new Set([...x, ...y])].sort();
  const out: PassResult = {
    ...b,
    created: a.created + b.created,
    released: a.released + b.released,
    removed: a.removed + b.removed,
    placed: a.placed + b.placed,
    conflicts: a.conflicts + b.conflicts,
    published: union(a.published, b.published),
  };
  if (a.registered || b.registered) out.registered = union(a.registered, b.registered);
  if (a.forgotten || b.forgotten) out.forgotten = union(a.forgotten, b.forgotten);
  if (a.eventsDropped || b.eventsDropped) out.eventsDropped = (a.eventsDropped ?? 0) + (b.eventsDropped ?? 0);
  return out;
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
