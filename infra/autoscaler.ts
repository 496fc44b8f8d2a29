/**
 * SkiffAutoscaler: the horizontal autoscaler's Lambda function and what starts it
 * (docs/autoscaling.md): an EventBridge schedule every minute (the periodic evaluation, which
 * reads the agents' CPU and memory reports from the state table) and the state changes of the
 * CloudWatch alarms it keeps on the load balancer's request metrics (one per service with a
 * request-rate target, named `<alarmPrefix><namespace>-<service>-requests`).
 */
import { ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { LogLevel, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ENV } from '../app/env-names.ts';
import { ESM_BANNER, ESM_DEFINE } from './esbuild-bundling.ts';

/** EventBridge's floor; HPA evaluates every 15 s, the request alarms wake the function in between. */
export const AUTOSCALER_PERIOD = Duration.minutes(1);
/** One run reads services, tasks and host statuses and writes a few scales: seconds even at 2,000 hosts. */
const AUTOSCALER_TIMEOUT = Duration.seconds(50);
/** Reading and deciding is light; 256 MB is the health function's size for the same kind of scan. */
const AUTOSCALER_MEMORY_MB = 256;

export interface SkiffAutoscalerProps {
  readonly clusterName: string;
  /** The state table: the autoscaler reads services, tasks and statuses, and writes scales and events. */
  readonly table: ITable;
  /** Entry of the autoscaler handler (exports `handler`). */
  readonly entry: string;
  /** The control plane's common environment (cluster, table, ...). */
  readonly environment: Readonly<Record<string, string>>;
  /**
   * The ingress load balancer's listener and VPC: request-rate targets read its target groups' metrics.
   * @default - none: request-rate targets are never measured
   */
  readonly ingressEnvironment?: Readonly<Record<string, string>>;
  /** @default one month */
  readonly logRetention?: RetentionDays;
}

export class SkiffAutoscaler extends Construct {
  readonly function: NodejsFunction;
  /** Every alarm the autoscaler makes is named with this prefix; its policy and the rule are scoped to it. */
  readonly alarmPrefix: string;

  constructor(scope: Construct, id: string, props: SkiffAutoscalerProps) {
    super(scope, id);
    this.alarmPrefix = `skiff-${props.clusterName}-autoscale-`;
    const logGroup = new LogGroup(this, 'FunctionLogs', { retention: props.logRetention ?? RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY });
    this.function = new NodejsFunction(this, 'Function', {
      entry: props.entry,
      handler: 'handler',
      description: `Skiff horizontal autoscaler (cluster ${props.clusterName})`,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: AUTOSCALER_MEMORY_MB,
      timeout: AUTOSCALER_TIMEOUT,
      // One run at a time: its recommendation history lives in the warm container (app/autoscaler.ts),
      // and an alarm that fires during a run waits for it instead of racing it.
      reservedConcurrentExecutions: 1,
      tracing: Tracing.ACTIVE,
      logGroup,
      environment: {
        ...props.environment,
        ...props.ingressEnvironment,
        [ENV.autoscalerAlarmPrefix]: this.alarmPrefix,
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        NODE_OPTIONS: '--enable-source-maps',
      },
      bundling: {
        format: OutputFormat.ESM,
        target: 'node22',
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
    props.table.grantReadWriteData(this.function);
    this.grantCloudWatch();

    new Rule(this, 'Tick', {
      description: `Periodic Skiff autoscaler evaluation (cluster ${props.clusterName})`,
      schedule: Schedule.rate(AUTOSCALER_PERIOD),
      targets: [new LambdaFunction(this.function, { retryAttempts: 0, maxEventAge: AUTOSCALER_PERIOD })],
    });
    new Rule(this, 'AlarmStateChanges', {
      description: `A Skiff request-rate alarm went off: evaluate now (cluster ${props.clusterName})`,
      eventPattern: {
        source: ['aws.cloudwatch'],
        detailType: ['CloudWatch Alarm State Change'],
        detail: { alarmName: [{ prefix: this.alarmPrefix }], state: { value: ['ALARM'] } },
      },
      targets: [new LambdaFunction(this.function, { retryAttempts: 0, maxEventAge: AUTOSCALER_PERIOD })],
    });
  }

  /** The CloudWatch and ELB calls of adapters/aws/cloudwatch-autoscaling.ts and the handler's target-group lookup. */
  private grantCloudWatch(): void {
    const alarms = Stack.of(this).formatArn({
      service: 'cloudwatch',
      resource: 'alarm',
      resourceName: `${this.alarmPrefix}*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    const add = (s: PolicyStatement) => this.function.addToRolePolicy(s);
    add(new PolicyStatement({ sid: 'AutoscalerAlarms', actions: ['cloudwatch:PutMetricAlarm', 'cloudwatch:DeleteAlarms'], resources: [alarms] }));
    // These three have no resource-level permissions (Service Authorization Reference).
    add(
      new PolicyStatement({
        sid: 'AutoscalerReads',
        actions: ['cloudwatch:GetMetricData', 'cloudwatch:DescribeAlarms', 'elasticloadbalancing:DescribeTargetGroups'],
        resources: ['*'],
      }),
    );
  }
}
