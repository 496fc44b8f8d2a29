import { Match, type Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { actionsOf, bySid, functionId, functionRoleId, list, render, roleStatements, synthFixtureStack, type Synthesized } from './helpers.ts';

describe('SkiffAutoscaler in the cluster stack', () => {
  let synth: Synthesized;
  let template: Template;
  let fnId: string;

  beforeAll(() => {
    synth = synthFixtureStack({ clusterName: 'prod' });
    template = synth.template;
    fnId = functionId(template, 'Skiff horizontal autoscaler (cluster prod)');
  }, 120_000);
  afterAll(() => synth?.cleanup());

  it('runs one evaluation at a time, told the table, the load balancer and its alarm prefix', () => {
    const fn = template.findResources('AWS::Lambda::Function')[fnId] as { Properties: Record<string, any> };
    expect(fn.Properties.ReservedConcurrentExecutions).toBe(1);
    const env = fn.Properties.Environment.Variables;
    expect(env.SKIFF_AUTOSCALER_ALARM_PREFIX).toBe('skiff-prod-autoscale-');
    expect(env.SKIFF_CLUSTER).toBe('prod');
    expect(render(env.SKIFF_TABLE)).toMatch(/^\$\{.+\}$/);
    expect(render(env.SKIFF_ALB_LISTENER_ARN)).toMatch(/^\$\{.+\}$/);
  });

  it('is invoked every minute and when one of its alarms goes into ALARM', () => {
    const rules = Object.values(template.findResources('AWS::Events::Rule')) as { Properties: Record<string, any> }[];
    const targeting = rules.filter((r) => list(r.Properties.Targets).some((t: { Arn: unknown }) => render(t.Arn) === `\${${fnId}.Arn}`));
    expect(targeting.map((r) => r.Properties.ScheduleExpression ?? r.Properties.EventPattern).sort()).toEqual(
      [
        'rate(1 minute)',
        {
          source: ['aws.cloudwatch'],
          'detail-type': ['CloudWatch Alarm State Change'],
          detail: { alarmName: [{ prefix: 'skiff-prod-autoscale-' }], state: { value: ['ALARM'] } },
        },
      ].sort(),
    );
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Principal: 'events.amazonaws.com',
      FunctionName: Match.objectLike({ 'Fn::GetAtt': [fnId, 'Arn'] }),
    });
  });

  it('may change only its own alarms, and read metrics, alarms and target groups', () => {
    const statements = roleStatements(template, functionRoleId(template, fnId));
    const alarms = bySid(statements, 'AutoscalerAlarms');
    expect(list(alarms.Action).sort()).toEqual(['cloudwatch:DeleteAlarms', 'cloudwatch:PutMetricAlarm']);
    expect(list(alarms.Resource).map(render)).toEqual(['arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:skiff-prod-autoscale-*']);
    expect(list(bySid(statements, 'AutoscalerReads').Action).sort()).toEqual([
      'cloudwatch:DescribeAlarms',
      'cloudwatch:GetMetricData',
      'elasticloadbalancing:DescribeTargetGroups',
    ]);
    expect(actionsOf(statements)).not.toContain('cloudwatch:PutMetricData');
    expect(actionsOf(statements)).toContain('dynamodb:UpdateItem');
  });
});
