/**
 * SkiffObservability: the alarms, dashboard and logs that tell an operator a Skiff cluster is
 * unwell. It takes the cluster's parts as props, so it can be built and tested on its own.
 *
 * Alarms: each function's Errors and Throttles, the table's throttle events, and Skiff's own
 * metrics StaleHosts, UnplaceableTasks and HostsWithoutSubnet (EMF lines from app/metrics.ts). Every alarm
 * notifies one SNS topic, encrypted with a customer-managed key that CloudWatch may use.
 * Construct ids below are a public contract: renaming one replaces the resource.
 */
import { Aws, CfnOutput, Duration, RemovalPolicy } from 'aws-cdk-lib';
import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import { CfnStage } from 'aws-cdk-lib/aws-apigatewayv2';
import { Alarm, AlarmStatusWidget, ComparisonOperator, Dashboard, GraphWidget, MathExpression, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import type { IMetric } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { FlowLog, FlowLogDestination, FlowLogResourceType, FlowLogTrafficType } from 'aws-cdk-lib/aws-ec2';
import type { IVpc } from 'aws-cdk-lib/aws-ec2';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { CLUSTER_DIMENSION, METRIC_NAMESPACE, SKIFF_METRICS } from '../app/metrics.ts';

/** How each alarm judges its metric; exported so the tests and docs/aws.md state the same numbers. */
export const ALARM_RULES = {
  /** One failed invocation in 5 minutes: the control plane should never fail (errors are caught and logged). */
  functionErrors: { period: Duration.minutes(5), threshold: 1, evaluationPeriods: 1 },
  /**
   * Throttling in 3 consecutive 5-minute periods. The scheduler and health functions have
   * reserved concurrency 1, so a run that overruns its minute throttles the next tick once; that
   * is expected and retried. Throttling that persists means the work no longer fits.
   */
  functionThrottles: { period: Duration.minutes(5), threshold: 1, evaluationPeriods: 3 },
  /** Read plus write throttle events in 2 consecutive 5-minute periods (the SDK retries a single burst). */
  tableThrottles: { period: Duration.minutes(5), threshold: 1, evaluationPeriods: 2 },
  /**
   * A host silent past its grace for 3 consecutive minutes. The health check replaces its tasks
   * at once; the alarm is for the host itself, which the Auto Scaling group has not replaced.
   */
  staleHosts: { period: Duration.minutes(1), threshold: 1, evaluationPeriods: 3 },
  /** A task no host could take for 5 consecutive scheduler passes: the cluster is out of capacity. */
  unplaceableTasks: { period: Duration.minutes(1), threshold: 1, evaluationPeriods: 5 },
  /**
   * A ready host without a routed container subnet for 5 consecutive minutes: a new host is routed
   * in its first pass, so this is the route quota, the cluster CIDR or EC2 permissions failing.
   */
  hostsWithoutSubnet: { period: Duration.minutes(1), threshold: 1, evaluationPeriods: 5 },
} as const;

export interface SkiffObservabilityProps {
  /** The cluster name: the `Cluster` dimension of the custom metrics and part of alarm names. */
  readonly clusterName: string;
  /** The control-plane functions by short name (for example `api`, `scheduler`, `health`). */
  readonly functions: Readonly<Record<string, IFunction>>;
  /** The state table. */
  readonly table: ITable;
  /**
   * The HTTP API: its default stage gets JSON access logs.
   * @default - no access logs
   */
  readonly httpApi?: HttpApi;
  /**
   * The VPC of the hosts: it gets a flow log of rejected traffic.
   * @default - no flow log
   */
  readonly vpc?: IVpc;
  /**
   * Retention of the access and flow logs.
   * @default one month
   */
  readonly logRetention?: RetentionDays;
}

/** Alarms, dashboard, alarm topic and access/flow logs of one Skiff cluster. */
export class SkiffObservability extends Construct {
  /** Every alarm notifies this topic; subscribe to it to be told. */
  readonly alarmTopic: Topic;
  /** The key the topic is encrypted with. */
  readonly topicKey: Key;
  readonly dashboard: Dashboard;
  /** Every alarm, by construct id. */
  readonly alarms: Record<string, Alarm> = {};
  /** Hosts with stale heartbeats, published by the health function. */
  readonly staleHosts: Metric;
  /** Tasks no host could take, published by the scheduler. */
  readonly unplaceableTasks: Metric;
  /** Ready hosts without a routed container subnet, published by the scheduler on AWS. */
  readonly hostsWithoutSubnet: Metric;

  constructor(scope: Construct, id: string, props: SkiffObservabilityProps) {
    super(scope, id);
    const { clusterName } = props;
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;

    // The AWS-managed key aws/sns cannot be used: its policy cannot grant CloudWatch the
    // kms:GenerateDataKey* and kms:Decrypt it needs to publish an alarm to the topic.
    this.topicKey = new Key(this, 'AlarmTopicKey', {
      description: `Skiff alarm topic (cluster ${clusterName})`,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const cloudWatch = new ServicePrincipal('cloudwatch.amazonaws.com');
    this.topicKey.addToResourcePolicy(
      new PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [cloudWatch],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
    );
    this.alarmTopic = new Topic(this, 'AlarmTopic', {
      displayName: `Skiff alarms (cluster ${clusterName})`,
      masterKey: this.topicKey,
      enforceSSL: true,
    });
    // enforceSSL gives the topic an explicit policy, which replaces SNS's default one: CloudWatch
    // needs its own grant, limited to this account's alarms.
    this.alarmTopic.addToResourcePolicy(
      new PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [cloudWatch],
        actions: ['sns:Publish'],
        resources: [this.alarmTopic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
          ArnLike: { 'aws:SourceArn': `arn:${Aws.PARTITION}:cloudwatch:${Aws.REGION}:${Aws.ACCOUNT_ID}:alarm:*` },
        },
      }),
    );
    const output = new CfnOutput(this, 'AlarmTopicArn', {
      value: this.alarmTopic.topicArn,
      description: 'SNS topic every Skiff alarm notifies; subscribe to it',
    });
    output.overrideLogicalId('AlarmTopicArn');
    const action = new SnsAction(this.alarmTopic);

    const alarm = (alarmId: string, description: string, metric: IMetric, rule: { threshold: number; evaluationPeriods: number }) => {
      const a = new Alarm(this, alarmId, {
        alarmName: `skiff-${clusterName}-${alarmId}`,
        alarmDescription: description,
        metric,
        threshold: rule.threshold,
        evaluationPeriods: rule.evaluationPeriods,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        // No data means no invocation, no throttle or no publication: never an alarm by itself
        // (a health or scheduler function that stops running shows up in its Errors alarm).
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      a.addAlarmAction(action);
      a.addOkAction(action);
      this.alarms[alarmId] = a;
      return a;
    };

    const fns = Object.entries(props.functions);
    for (const [name, fn] of fns) {
      const key = name.charAt(0).toUpperCase() + name.slice(1);
      alarm(
        `${key}Errors`,
        `Skiff ${name} function (cluster ${clusterName}) failed at least once in 5 minutes`,
        fn.metricErrors({ period: ALARM_RULES.functionErrors.period, statistic: 'Sum' }),
        ALARM_RULES.functionErrors,
      );
      alarm(
        `${key}Throttles`,
        `Skiff ${name} function (cluster ${clusterName}) throttled in 3 consecutive 5-minute periods`,
        fn.metricThrottles({ period: ALARM_RULES.functionThrottles.period, statistic: 'Sum' }),
        ALARM_RULES.functionThrottles,
      );
    }

    const tablePeriod = ALARM_RULES.tableThrottles.period;
    const tableThrottles = new MathExpression({
      expression: 'reads + writes',
      label: 'Throttle events',
      period: tablePeriod,
      usingMetrics: {
        reads: props.table.metric('ReadThrottleEvents', { statistic: 'Sum', period: tablePeriod }),
        writes: props.table.metric('WriteThrottleEvents', { statistic: 'Sum', period: tablePeriod }),
      },
    });
    alarm(
      'TableThrottles',
      `Skiff state table (cluster ${clusterName}) throttled requests in 2 consecutive 5-minute periods`,
      tableThrottles,
      ALARM_RULES.tableThrottles,
    );

    const custom = (metricName: string, period: Duration) =>
      new Metric({ namespace: METRIC_NAMESPACE, metricName, dimensionsMap: { [CLUSTER_DIMENSION]: clusterName }, statistic: 'Maximum', period });
    this.staleHosts = custom(SKIFF_METRICS.StaleHosts, ALARM_RULES.staleHosts.period);
    this.unplaceableTasks = custom(SKIFF_METRICS.UnplaceableTasks, ALARM_RULES.unplaceableTasks.period);
    alarm('StaleHosts', `Skiff hosts (cluster ${clusterName}) silent past their grace for 3 minutes`, this.staleHosts, ALARM_RULES.staleHosts);
    alarm('UnplaceableTasks', `Skiff tasks (cluster ${clusterName}) unplaceable for 5 scheduler passes`, this.unplaceableTasks, ALARM_RULES.unplaceableTasks);
    this.hostsWithoutSubnet = custom(SKIFF_METRICS.HostsWithoutSubnet, ALARM_RULES.hostsWithoutSubnet.period);
    alarm(
      'HostsWithoutSubnet',
      `Skiff hosts (cluster ${clusterName}) ready but without a routed container subnet for 5 minutes: check the route quota, the cluster CIDR and the scheduler's EC2 errors`,
      this.hostsWithoutSubnet,
      ALARM_RULES.hostsWithoutSubnet,
    );

    const byFunction = (f: (fn: IFunction) => IMetric) => fns.map(([, fn]) => f(fn));
    const minute = Duration.minutes(1);
    this.dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName: `skiff-${clusterName}`,
      widgets: [
        [new AlarmStatusWidget({ title: 'Alarms', alarms: Object.values(this.alarms), width: 24 })],
        [
          new GraphWidget({ title: 'Stale hosts', left: [this.staleHosts], width: 12 }),
          new GraphWidget({ title: 'Unplaceable tasks', left: [this.unplaceableTasks], width: 12 }),
        ],
        [new GraphWidget({ title: 'Hosts without a container subnet', left: [this.hostsWithoutSubnet], width: 12 })],
        [
          new GraphWidget({
            title: 'Invocations',
            left: fns.map(([name, fn]) => fn.metricInvocations({ period: minute, statistic: 'Sum', label: name })),
            width: 12,
          }),
          new GraphWidget({
            title: 'Duration (p99)',
            left: fns.map(([name, fn]) => fn.metricDuration({ period: minute, statistic: 'p99', label: name })),
            width: 12,
          }),
        ],
        [
          new GraphWidget({
            title: 'Errors and throttles',
            left: byFunction((fn) => fn.metricErrors({ period: minute, statistic: 'Sum' })),
            right: byFunction((fn) => fn.metricThrottles({ period: minute, statistic: 'Sum' })),
            width: 12,
          }),
          new GraphWidget({ title: 'Table throttle events', left: [tableThrottles], width: 12 }),
        ],
      ],
    });

    if (props.httpApi) this.addAccessLogs(props.httpApi, logRetention);
    if (props.vpc) {
      // Rejected traffic only: the hosts have no inbound rules, so rejections are the signal;
      // logging all traffic would bill for every byte the containers send.
      new FlowLog(this, 'VpcFlowLog', {
        resourceType: FlowLogResourceType.fromVpc(props.vpc),
        trafficType: FlowLogTrafficType.REJECT,
        destination: FlowLogDestination.toCloudWatchLogs(new LogGroup(this, 'VpcFlowLogs', { retention: logRetention, removalPolicy: RemovalPolicy.DESTROY })),
      });
    }
  }

  /** JSON access logs of the API's default stage: who called what, and how it ended. */
  private addAccessLogs(httpApi: HttpApi, retention: RetentionDays): void {
    const stage = httpApi.defaultStage?.node.defaultChild;
    if (!(stage instanceof CfnStage)) throw new Error('the HTTP API needs its default stage to get access logs (createDefaultStage must not be false)');
    const logGroup = new LogGroup(this, 'ApiAccessLogs', { retention, removalPolicy: RemovalPolicy.DESTROY });
    stage.accessLogSettings = {
      destinationArn: logGroup.logGroupArn,
      format: JSON.stringify({
        requestId: '$context.requestId',
        requestTime: '$context.requestTime',
        caller: '$context.identity.caller',
        userArn: '$context.identity.userArn',
        sourceIp: '$context.identity.sourceIp',
        method: '$context.httpMethod',
        path: '$context.path',
        status: '$context.status',
        latencyMs: '$context.responseLatency',
        integrationError: '$context.integrationErrorMessage',
      }),
    };
  }
}
