import { Match, type Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { actionsOf, bySid, functionId, functionRoleId, list, onlyResource, render, roleStatements, synthFixtureStack, type Synthesized } from './helpers.ts';

let synth: Synthesized;
let template: Template;
let fnId: string;
let groupId: string;

beforeAll(() => {
  synth = synthFixtureStack({ clusterName: 'test', minHosts: 1, maxHosts: 5 }, 'Skiff-hostscale');
  template = synth.template;
  fnId = functionId(template, 'Skiff host autoscaler (cluster test)');
  groupId = onlyResource(template, 'AWS::AutoScaling::AutoScalingGroup');
}, 120_000);
afterAll(() => synth?.cleanup());

describe('the host autoscaler in the template', () => {
  it('runs once a minute, one run at a time, told its group and scale-in settings', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'Skiff host autoscaler (cluster test)',
      ReservedConcurrentExecutions: 1,
      Environment: {
        Variables: Match.objectLike({
          SKIFF_HOST_GROUP: { Ref: groupId },
          SKIFF_HOST_SCALE_IN_UTILIZATION: '0.5',
          SKIFF_HOST_SCALE_IN_UNNEEDED_SECONDS: '600',
          SKIFF_CLUSTER: 'test',
        }),
      },
    });
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [fnId, 'Arn'] } })],
    });
  });

  it('may change only its own group, and describe groups (which has no resource-level permission)', () => {
    const statements = roleStatements(template, functionRoleId(template, fnId));
    // Action → resources, over every statement (CDK merges statements that share their resources).
    const grants = new Map<string, string[]>();
    for (const st of statements)
      for (const a of list(st.Action)) if (a.startsWith('autoscaling:')) grants.set(a, [...(grants.get(a) ?? []), ...list(st.Resource).map(render)]);
    const groupArn = `arn:\${AWS::Partition}:autoscaling:\${AWS::Region}:\${AWS::AccountId}:autoScalingGroup:*:autoScalingGroupName/\${${groupId}}`;
    expect(Object.fromEntries(grants)).toEqual({
      'autoscaling:DescribeAutoScalingGroups': ['*'],
      'autoscaling:SetDesiredCapacity': [groupArn],
      'autoscaling:SetInstanceProtection': [groupArn],
      'autoscaling:TerminateInstanceInAutoScalingGroup': [groupArn],
    });
    // Nothing else of AWS beyond the table, invoking the scheduler, tracing, and removing the host documents of the hosts it terminated.
    const others = actionsOf(statements).filter((a) => !a.startsWith('autoscaling:') && !a.startsWith('dynamodb:') && !a.startsWith('xray:'));
    expect(others.sort()).toEqual(['lambda:InvokeFunction', 'ssm:DeleteParameter*', 'ssm:GetParametersByPath']);
  });

  it("may remove host documents only under the cluster's hosts path (forgetting the hosts it terminated)", () => {
    const removal = bySid(roleStatements(template, functionRoleId(template, fnId)), 'RemoveHostDocuments');
    expect(list(removal.Action).sort()).toEqual(['ssm:DeleteParameter*', 'ssm:GetParametersByPath']);
    expect(list(removal.Resource).map(render)).toEqual([`arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter/skiff/test/hosts/*`]);
  });
});
