import { App, Stack } from 'aws-cdk-lib';
import { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AttributeType, BillingMode, Table } from 'aws-cdk-lib/aws-dynamodb';
import { Vpc } from 'aws-cdk-lib/aws-ec2';
import { Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import { metricLine } from '../../app/metrics.ts';
import { SkiffObservability } from '../../infra/observability.ts';
import { render } from './helpers.ts';

interface Alarm {
  Properties: Record<string, unknown> & {
    Metrics?: { Id: string; Expression?: string; MetricStat?: { Metric: { MetricName: string; Dimensions: { Name: string; Value: unknown }[] } } }[];
  };
}

/** The construct alone, over plain inline functions: no bundling, so synthesis takes well under a second. */
function build(clusterName = 'prod'): { template: Template; observability: SkiffObservability } {
  process.env.CDK_VALIDATION = 'false';
  const stack = new Stack(new App(), 'Observability');
  const fn = (id: string) =>
    new LambdaFunction(stack, id, { runtime: Runtime.NODEJS_22_X, handler: 'index.handler', code: Code.fromInline('exports.handler = async () => {}') });
  const table = new Table(stack, 'Table', { partitionKey: { name: 'pk', type: AttributeType.STRING }, billingMode: BillingMode.PAY_PER_REQUEST });
  const observability = new SkiffObservability(stack, 'Observability', {
    clusterName,
    functions: { api: fn('Api'), scheduler: fn('Scheduler'), health: fn('Health') },
    table,
    httpApi: new HttpApi(stack, 'HttpApi'),
    vpc: new Vpc(stack, 'Vpc', { maxAzs: 1, natGateways: 0 }),
  });
  return { template: Template.fromStack(stack), observability };
}

describe('SkiffObservability', () => {
  let template: Template;
  let alarms: Record<string, Alarm>;
  let topicId: string;
  const alarmNamed = (name: string): Alarm => {
    const found = Object.values(alarms).filter((a) => a.Properties.AlarmName === `skiff-prod-${name}`);
    expect(found, `alarm ${name}`).toHaveLength(1);
    return found[0]!;
  };
  const functionRef = (id: string) => ({ Ref: Object.keys(template.findResources('AWS::Lambda::Function')).find((k) => k.startsWith(id))! });

  beforeAll(() => {
    template = build().template;
    alarms = template.findResources('AWS::CloudWatch::Alarm') as Record<string, Alarm>;
    topicId = Object.keys(template.findResources('AWS::SNS::Topic'))[0]!;
  });

  it('alarms on Errors (1 in 5 minutes) and sustained Throttles (3 periods of 5 minutes) of each function', () => {
    for (const [key, id] of [
      ['Api', 'Api'],
      ['Scheduler', 'Scheduler'],
      ['Health', 'Health'],
    ] as const) {
      expect(alarmNamed(`${key}Errors`).Properties).toMatchObject({
        Namespace: 'AWS/Lambda',
        MetricName: 'Errors',
        Statistic: 'Sum',
        Period: 300,
        Threshold: 1,
        EvaluationPeriods: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
        Dimensions: [{ Name: 'FunctionName', Value: functionRef(id) }],
      });
      expect(alarmNamed(`${key}Throttles`).Properties).toMatchObject({
        Namespace: 'AWS/Lambda',
        MetricName: 'Throttles',
        Statistic: 'Sum',
        Period: 300,
        Threshold: 1,
        EvaluationPeriods: 3,
        Dimensions: [{ Name: 'FunctionName', Value: functionRef(id) }],
      });
    }
    expect(Object.keys(alarms)).toHaveLength(10);
  });

  it("alarms on the table's read plus write throttle events in 2 consecutive periods", () => {
    const alarm = alarmNamed('TableThrottles').Properties;
    expect(alarm).toMatchObject({ Threshold: 1, EvaluationPeriods: 2, ComparisonOperator: 'GreaterThanOrEqualToThreshold' });
    const metrics = alarm.Metrics!;
    expect(metrics.find((m) => m.Expression)?.Expression).toBe('reads + writes');
    const names = metrics.flatMap((m) => (m.MetricStat ? [m.MetricStat.Metric.MetricName] : [])).sort();
    expect(names).toEqual(['ReadThrottleEvents', 'WriteThrottleEvents']);
    for (const m of metrics.filter((x) => x.MetricStat)) {
      expect(m.MetricStat!.Metric.Dimensions).toEqual([{ Name: 'TableName', Value: { Ref: expect.stringMatching(/^Table/) } }]);
    }
  });

  it('alarms on the custom metrics exactly as app/metrics.ts publishes them', () => {
    for (const [name, evaluationPeriods] of [
      ['StaleHosts', 3],
      ['UnplaceableTasks', 5],
      ['HostsWithoutSubnet', 5],
    ] as const) {
      const emf = JSON.parse(metricLine(name, 1, 'prod', 0));
      const declared = emf._aws.CloudWatchMetrics[0];
      expect(alarmNamed(name).Properties).toMatchObject({
        Namespace: declared.Namespace,
        MetricName: declared.Metrics[0].Name,
        Dimensions: [{ Name: declared.Dimensions[0][0], Value: emf.Cluster }],
        Statistic: 'Maximum',
        Period: 60,
        Threshold: 1,
        EvaluationPeriods: evaluationPeriods,
      });
    }
  });

  it('notifies the topic on alarm and on recovery, for every alarm', () => {
    for (const alarm of Object.values(alarms)) {
      expect(alarm.Properties.AlarmActions).toEqual([{ Ref: topicId }]);
      expect(alarm.Properties.OKActions).toEqual([{ Ref: topicId }]);
    }
  });

  it('encrypts the topic with a rotated customer-managed key that CloudWatch may use, and outputs its ARN', () => {
    const keyId = Object.keys(template.findResources('AWS::KMS::Key'))[0]!;
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } });
    template.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([Match.objectLike({ Principal: { Service: 'cloudwatch.amazonaws.com' }, Action: ['kms:Decrypt', 'kms:GenerateDataKey*'] })]),
      },
    });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({ Effect: 'Allow', Principal: { Service: 'cloudwatch.amazonaws.com' }, Action: 'sns:Publish' }),
        ]),
      },
    });
    template.hasOutput('AlarmTopicArn', { Value: { Ref: topicId } });
  });

  it('puts the custom metrics, invocations and duration of each function on a dashboard', () => {
    const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
    expect(dashboards).toHaveLength(1);
    const body = JSON.parse(render(dashboards[0]!.Properties.DashboardBody).replace(/\$\{[^}]+\}/g, 'X')) as {
      widgets: { properties: { title?: string; metrics?: unknown[][] } }[];
    };
    const titles = body.widgets.map((w) => w.properties.title);
    expect(titles).toEqual(expect.arrayContaining(['Alarms', 'Stale hosts', 'Unplaceable tasks', 'Invocations', 'Duration (p99)', 'Table throttle events']));
    const metricsOf = (title: string) => body.widgets.find((w) => w.properties.title === title)!.properties.metrics!;
    expect(metricsOf('Stale hosts')[0]!.slice(0, 4)).toEqual(['Skiff', 'StaleHosts', 'Cluster', 'prod']);
    expect(metricsOf('Unplaceable tasks')[0]!.slice(0, 4)).toEqual(['Skiff', 'UnplaceableTasks', 'Cluster', 'prod']);
    expect(metricsOf('Hosts without a container subnet')[0]!.slice(0, 4)).toEqual(['Skiff', 'HostsWithoutSubnet', 'Cluster', 'prod']);
    expect(metricsOf('Invocations').map((m) => m[1])).toEqual(['Invocations', 'Invocations', 'Invocations']);
    expect(metricsOf('Duration (p99)').map((m) => m[1])).toEqual(['Duration', 'Duration', 'Duration']);
  });

  it('gives the API default stage JSON access logs and the VPC a flow log of rejected traffic', () => {
    const stage = Object.values(template.findResources('AWS::ApiGatewayV2::Stage'))[0]!.Properties;
    expect(render(stage.AccessLogSettings.DestinationArn)).toMatch(/^\$\{ObservabilityApiAccessLogs[0-9A-F]+\.Arn\}$/);
    expect(JSON.parse(stage.AccessLogSettings.Format)).toMatchObject({ requestId: '$context.requestId', status: '$context.status' });
    template.hasResourceProperties('AWS::EC2::FlowLog', { ResourceType: 'VPC', TrafficType: 'REJECT', ResourceId: { Ref: Match.stringLikeRegexp('^Vpc') } });
  });

  it('refuses an HTTP API without a default stage, naming the setting', () => {
    const stack = new Stack(new App(), 'NoStage');
    const table = new Table(stack, 'Table', { partitionKey: { name: 'pk', type: AttributeType.STRING } });
    expect(
      () =>
        new SkiffObservability(stack, 'Observability', {
          clusterName: 'x',
          functions: {},
          table,
          httpApi: new HttpApi(stack, 'Api', { createDefaultStage: false }),
        }),
    ).toThrow('the HTTP API needs its default stage to get access logs (createDefaultStage must not be false)');
  });
});
