/**
 * SkiffHostAutoscaling: the host autoscaler function (functions/host-autoscaler), its one-minute
 * schedule and exactly the permissions it needs: the state table, the hosts' Auto Scaling group
 * (describe, set desired capacity, terminate with decrement, scale-in protection) and invoking the
 * scheduler after a drain. docs/aws.md, "Host autoscaling".
 */
import { Arn, ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { AutoScalingGroup } from 'aws-cdk-lib/aws-autoscaling';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Architecture, type IFunction, Tracing } from 'aws-cdk-lib/aws-lambda';
import { LogLevel, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ENV } from '../app/env-names.ts';
import { HOST_AUTOSCALER_ENV } from '../app/host-autoscaler-env.ts';
import { LAMBDA_RUNTIME, NODE_TARGET } from './control-functions.ts';
import { ESM_BANNER, ESM_DEFINE } from './esbuild-bundling.ts';

/** EventBridge's floor; a host takes a minute or more to boot, so a faster scan would gain little. */
const PERIOD = Duration.minutes(1);
/** A run reads the cluster once and makes a handful of Auto Scaling calls. */
const TIMEOUT = Duration.seconds(60);

export interface SkiffHostAutoscalingProps {
  readonly clusterName: string;
  readonly table: ITable;
  /** The hosts' group: the only group the function may change. */
  readonly group: AutoScalingGroup;
  /** Entry of the handler (exports `handler`). */
  readonly entry: string;
  /** Where the cluster's state is (names from app/env-names.ts). */
  readonly environment: Readonly<Record<string, string>>;
  /** Invoked after a drain so the host's tasks start moving at once. */
  readonly schedulerFunction: IFunction;
  /**
   * A host using less than this share of its CPU and memory (allocated, not measured) may be removed.
   * @default 0.5, cluster-autoscaler's default
   */
  readonly scaleInUtilization?: number;
  /**
   * How long a host must stay unneeded before it is drained.
   * @default 10 minutes, cluster-autoscaler's default
   */
  readonly scaleInUnneeded?: Duration;
  /** @default one month */
  readonly logRetention?: RetentionDays;
}

export class SkiffHostAutoscaling extends Construct {
  readonly function: NodejsFunction;

  constructor(scope: Construct, id: string, props: SkiffHostAutoscalingProps) {
    super(scope, id);
    const utilization = props.scaleInUtilization ?? 0.5;
    if (!(utilization >= 0 && utilization <= 1)) throw new Error(`SkiffHostAutoscaling: scaleInUtilization must be from 0 to 1, got ${utilization}`);
    const unneeded = props.scaleInUnneeded ?? Duration.minutes(10);

    const logGroup = new LogGroup(this, 'FunctionLogs', { retention: props.logRetention ?? RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY });
    this.function = new NodejsFunction(this, 'Function', {
      entry: props.entry,
      handler: 'handler',
      description: `Skiff host autoscaler (cluster ${props.clusterName})`,
      runtime: LAMBDA_RUNTIME,
      architecture: Architecture.ARM_64,
      memorySize: 512,
      timeout: TIMEOUT,
      // One run at a time: two would each see the same pending tasks and ask for hosts twice.
      reservedConcurrentExecutions: 1,
      tracing: Tracing.ACTIVE,
      logGroup,
      environment: {
        ...props.environment,
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        NODE_OPTIONS: '--enable-source-maps',
        [ENV.schedulerFunction]: props.schedulerFunction.functionName,
        [HOST_AUTOSCALER_ENV.group]: props.group.autoScalingGroupName,
        [HOST_AUTOSCALER_ENV.scaleInUtilization]: String(utilization),
        [HOST_AUTOSCALER_ENV.scaleInUnneededSeconds]: String(unneeded.toSeconds()),
      },
      bundling: {
        format: OutputFormat.ESM,
        target: NODE_TARGET,
        banner: ESM_BANNER,
        define: { ...ESM_DEFINE },
        externalModules: [],
        mainFields: ['module', 'main'],
        minify: true,
        sourceMap: true,
        forceDockerBundling: false,
        logLevel: LogLevel.WARNING,
      },
    });
    // A late run is made up by the next tick.
    this.function.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: PERIOD });

    // Reads hosts, tasks, services and events; writes host states, task notes and events.
    props.table.grantReadWriteData(this.function);
    props.schedulerFunction.grantInvoke(this.function);
    // DescribeAutoScalingGroups has no resource-level permissions.
    this.function.addToRolePolicy(new PolicyStatement({ actions: ['autoscaling:DescribeAutoScalingGroups'], resources: ['*'] }));
    this.function.addToRolePolicy(
      new PolicyStatement({
        actions: ['autoscaling:SetDesiredCapacity', 'autoscaling:TerminateInstanceInAutoScalingGroup', 'autoscaling:SetInstanceProtection'],
        resources: [
          Arn.format(
            {
              service: 'autoscaling',
              resource: 'autoScalingGroup',
              resourceName: `*:autoScalingGroupName/${props.group.autoScalingGroupName}`,
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            },
            Stack.of(this),
          ),
        ],
      }),
    );

    new Rule(this, 'Tick', {
      description: `Skiff host autoscaler (cluster ${props.clusterName})`,
      schedule: Schedule.rate(PERIOD),
      targets: [new LambdaFunction(this.function, { retryAttempts: 0, maxEventAge: PERIOD })],
    });
  }
}
