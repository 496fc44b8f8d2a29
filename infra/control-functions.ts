/**
 * SkiffControlFunctions: the control plane's Lambda functions (API, scheduler, health), what
 * starts them (the one-minute schedules and the state table's stream) and where their failed
 * asynchronous invocations go.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { Architecture, FilterCriteria, Runtime, StartingPosition, Tracing } from 'aws-cdk-lib/aws-lambda';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import { DynamoEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { LogLevel, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ENV } from '../app/env-names.ts';
import { SCHEDULER_TIMEOUT_MS } from '../app/scheduler/budget.ts';
import { ESM_BANNER, ESM_DEFINE } from './esbuild-bundling.ts';
import { SCHEDULER_STREAM_FILTERS } from './stream-filter.ts';

/** Lambda runtime of the control plane; esbuild targets the same Node.js major. */
export const LAMBDA_RUNTIME = Runtime.NODEJS_22_X;
export const NODE_TARGET = 'node22';
/** API Gateway HTTP APIs cut integrations off at 30 s; the function stops first so the client gets its error. */
const API_TIMEOUT = Duration.seconds(29);
/** The scheduler's passes fit it: each gets the invocation's remaining time less a margin (app/scheduler/budget.ts). */
const SCHEDULER_TIMEOUT = Duration.millis(SCHEDULER_TIMEOUT_MS);
/** EventBridge rules fire at most once a minute: the floor for the periodic pass. */
const SCHEDULER_PERIOD = Duration.minutes(1);
/**
 * The health function's schedule has the same one-minute floor, so each invocation loops:
 * 4 checks 15 s apart, the last at about 45 s, so the next tick's first check comes ~15 s later.
 */
export const HEALTH_PERIOD = Duration.minutes(1);
export const HEALTH_CHECKS_PER_RUN = 4;
export const HEALTH_INTERVAL_SECONDS = 15;
/**
 * 45 s of waiting between the checks, plus 30 s for the four checks themselves and a cold start.
 * A run that overruns the minute only delays the next tick (reserved concurrency 1 queues it).
 */
const HEALTH_TIMEOUT = Duration.seconds((HEALTH_CHECKS_PER_RUN - 1) * HEALTH_INTERVAL_SECONDS + 30);
/**
 * The health function mostly waits, and is billed for the wait: 256 MB costs half of the 512 MB the
 * other functions get, and still gives a cold start and a scan of 2,000 hosts enough CPU (Lambda
 * allots CPU in proportion to memory). Cost in docs/aws.md.
 */
const HEALTH_MEMORY_MB = 256;
/** Stream records are gathered for up to 1 s: a burst of writes makes one pass, not one per write. */
const STREAM_BATCH_WINDOW = Duration.seconds(1);
/** 14 days, SQS's longest retention: time to look at a failed invocation after a weekend. */
const FAILURE_RETENTION = Duration.days(14);

export interface SkiffControlFunctionsProps {
  /** The cluster name, in the functions' descriptions. */
  readonly clusterName: string;
  /** The state table: every function reads and writes it; its stream starts scheduler passes. */
  readonly table: ITable;
  /** Entry points (each exports `handler`). */
  readonly entries: { readonly api: string; readonly scheduler: string; readonly health: string };
  /** Environment of every function: where the cluster's state is (names from app/env-names.ts). */
  readonly environment: Readonly<Record<string, string>>;
  /**
   * More environment for the scheduler: the container network and ingress it keeps in step.
   * @default - none
   */
  readonly schedulerEnvironment?: Readonly<Record<string, string>>;
  /** Seconds without a heartbeat after which the health function declares a host down. */
  readonly hostGraceSeconds: number;
  /**
   * Log retention of the functions' log groups.
   * @default one month
   */
  readonly logRetention?: RetentionDays;
}

/** The API, scheduler and health functions of one cluster, and their triggers. */
export class SkiffControlFunctions extends Construct {
  readonly apiFunction: NodejsFunction;
  readonly schedulerFunction: NodejsFunction;
  /** Declares silent hosts down and lets fenced hosts rejoin; kicks the scheduler when one changes. */
  readonly healthFunction: NodejsFunction;
  /** Asynchronous invocations of the scheduler and health functions that failed or expired (SSE-SQS). */
  readonly failedInvocations: Queue;

  constructor(scope: Construct, id: string, props: SkiffControlFunctionsProps) {
    super(scope, id);
    const { clusterName } = props;
    const environment = {
      ...props.environment,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      // The bundles are minified; the source maps shipped with them make stack traces readable.
      NODE_OPTIONS: '--enable-source-maps',
    };
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;

    // Lambda sends here what it gives up on: an invocation that failed, or that waited in the async
    // queue past its maximum age (reserved concurrency 1 makes them wait). Passes are level-triggered,
    // so nothing is replayed from it: it is where a person looks for why a pass did not happen.
    this.failedInvocations = new Queue(this, 'FailedInvocations', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: FAILURE_RETENTION,
    });

    this.schedulerFunction = this.controlPlaneFunction('SchedulerFunction', {
      entry: props.entries.scheduler,
      description: `Skiff scheduler (cluster ${clusterName})`,
      timeout: SCHEDULER_TIMEOUT,
      environment: { ...environment, ...props.schedulerEnvironment },
      logRetention,
      // One scheduler pass at a time keeps host document publication ordered (no older pass
      // overwriting a newer document). Placement correctness does not depend on it: conditional
      // writes already stop a task being placed twice or a host being over-committed.
      reservedConcurrentExecutions: 1,
    });
    // Passes are level-triggered: a dropped or stale invocation is made up by the next one, so
    // queued invocations older than a minute (the schedule's period) are discarded, not retried.
    this.schedulerFunction.configureAsyncInvoke({
      retryAttempts: 0,
      maxEventAge: SCHEDULER_PERIOD,
      onFailure: new SqsDestination(this.failedInvocations),
    });

    this.apiFunction = this.controlPlaneFunction('ApiFunction', {
      entry: props.entries.api,
      description: `Skiff API (cluster ${clusterName})`,
      timeout: API_TIMEOUT,
      environment: { ...environment, [ENV.schedulerFunction]: this.schedulerFunction.functionName },
      logRetention,
      // The web console (docs/console.md) is served by this function: its files are built into the
      // asset beside the handler (functions/api/handler.ts reads ./console/).
      afterBundling: (inputDir, outputDir) => [`node "${inputDir}/scripts/build-console.mjs" --out "${outputDir}/console"`],
    });

    this.healthFunction = this.controlPlaneFunction('HealthFunction', {
      entry: props.entries.health,
      description: `Skiff health (cluster ${clusterName})`,
      timeout: HEALTH_TIMEOUT,
      memorySize: HEALTH_MEMORY_MB,
      environment: {
        ...environment,
        [ENV.schedulerFunction]: this.schedulerFunction.functionName,
        [ENV.hostGraceSeconds]: String(props.hostGraceSeconds),
        [ENV.healthChecksPerRun]: String(HEALTH_CHECKS_PER_RUN),
        [ENV.healthIntervalSeconds]: String(HEALTH_INTERVAL_SECONDS),
      },
      logRetention,
      // One run at a time: two overlapping runs would each judge the same silence, each record a
      // host.down event and kick the scheduler for it (the state write itself is idempotent), and
      // each write the checkpoint, the older last, moving "last run" back in time.
      reservedConcurrentExecutions: 1,
    });
    // As for the scheduler: a late run is made up by the next tick, so it is dropped, not retried.
    this.healthFunction.configureAsyncInvoke({
      retryAttempts: 0,
      maxEventAge: HEALTH_PERIOD,
      onFailure: new SqsDestination(this.failedInvocations),
    });

    // The health check reads hosts, statuses, publication records and its checkpoint, and writes
    // host states, events (BatchWriteItem, to add and to prune) and the checkpoint: read/write data.
    props.table.grantReadWriteData(this.apiFunction);
    props.table.grantReadWriteData(this.schedulerFunction);
    props.table.grantReadWriteData(this.healthFunction);
    // API writes start a scheduler pass asynchronously (InvocationType Event) so changes apply
    // within seconds instead of waiting for the next tick; so does a host going down or rejoining.
    this.schedulerFunction.grantInvoke(this.apiFunction);
    this.schedulerFunction.grantInvoke(this.healthFunction);

    this.addSchedules(clusterName);
    this.startSchedulerOnStateChanges(props.table);
  }

  /** The periodic scheduler pass and health run: the safety net under every other trigger. */
  private addSchedules(clusterName: string): void {
    new Rule(this, 'SchedulerTick', {
      description: `Periodic Skiff scheduler pass (cluster ${clusterName})`,
      schedule: Schedule.rate(SCHEDULER_PERIOD),
      targets: [new LambdaFunction(this.schedulerFunction, { retryAttempts: 0, maxEventAge: SCHEDULER_PERIOD })],
    });
    new Rule(this, 'HealthTick', {
      description: `Skiff health checks, ${HEALTH_CHECKS_PER_RUN} per run ${HEALTH_INTERVAL_SECONDS} s apart (cluster ${clusterName})`,
      schedule: Schedule.rate(HEALTH_PERIOD),
      targets: [new LambdaFunction(this.healthFunction, { retryAttempts: 0, maxEventAge: HEALTH_PERIOD })],
    });
  }

  /**
   * Writes that change desired state or a host record start a pass within about a second; the
   * one-minute tick stays as the safety net. The filter lists what starts one (infra/stream-filter.ts):
   * heartbeats, statuses, events, the health checkpoint and the scheduler's own records start none.
   */
  private startSchedulerOnStateChanges(table: ITable): void {
    this.schedulerFunction.addEventSource(
      new DynamoEventSource(table, {
        startingPosition: StartingPosition.LATEST,
        maxBatchingWindow: STREAM_BATCH_WINDOW,
        // What changed does not matter to a level-triggered pass: one pass takes as many records as it can.
        batchSize: 1000,
        // A failed or throttled batch is made up by the next write or tick: retry briefly, then drop it.
        retryAttempts: 2,
        maxRecordAge: SCHEDULER_PERIOD,
        filters: SCHEDULER_STREAM_FILTERS.map((f) => FilterCriteria.filter(structuredClone(f) as unknown as Record<string, unknown>)),
      }),
    );
  }

  /** A control-plane Lambda function: ESM, arm64, traced, with its own log group. */
  private controlPlaneFunction(
    id: string,
    o: {
      entry: string;
      description: string;
      timeout: Duration;
      environment: Record<string, string>;
      logRetention: RetentionDays;
      reservedConcurrentExecutions?: number;
      /** @default 512 */
      memorySize?: number;
      /** Commands run after esbuild, locally, to add files to the asset. @default none */
      afterBundling?: (inputDir: string, outputDir: string) => string[];
    },
  ): NodejsFunction {
    const logGroup = new LogGroup(this, `${id}Logs`, { retention: o.logRetention, removalPolicy: RemovalPolicy.DESTROY });
    return new NodejsFunction(this, id, {
      entry: o.entry,
      handler: 'handler',
      description: o.description,
      runtime: LAMBDA_RUNTIME,
      architecture: Architecture.ARM_64,
      memorySize: o.memorySize ?? 512,
      timeout: o.timeout,
      reservedConcurrentExecutions: o.reservedConcurrentExecutions,
      tracing: Tracing.ACTIVE,
      logGroup,
      environment: o.environment,
      bundling: {
        format: OutputFormat.ESM,
        target: NODE_TARGET,
        banner: ESM_BANNER,
        define: { ...ESM_DEFINE },
        // Bundle the AWS SDK too: the deployed code runs the versions the tests ran.
        externalModules: [],
        mainFields: ['module', 'main'],
        minify: true,
        sourceMap: true,
        forceDockerBundling: false,
        logLevel: LogLevel.WARNING,
        ...(o.afterBundling ? { commandHooks: { beforeBundling: () => [], beforeInstall: () => [], afterBundling: o.afterBundling } } : {}),
      },
    });
  }
}
