import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { describe, expect, it } from 'vitest';
import { ENV } from '../../app/env-names.ts';
import { hostUserDataScript } from '../../infra/host-user-data.ts';
import { SkiffClusterLogs } from '../../infra/logs.ts';

/** The construct alone, with a host role and an API role as the cluster gives them. */
function build(retention?: RetentionDays): Template {
  process.env.CDK_VALIDATION = 'false';
  const stack = new Stack(new App(), 'Logs', { env: { account: '123456789012', region: 'eu-west-1' } });
  const hostRole = new Role(stack, 'HostRole', { assumedBy: new ServicePrincipal('ec2.amazonaws.com') });
  const apiRole = new Role(stack, 'ApiRole', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
  const logs = new SkiffClusterLogs(stack, 'Logs', { clusterName: 'prod', ...(retention ? { retention } : {}) });
  logs.grantShip(hostRole);
  logs.grantRead(apiRole);
  return Template.fromStack(stack);
}

/** The statements of the policies attached to a role whose logical id starts with `role`. */
function statementsOf(template: Template, role: string): { Action: string | string[]; Resource: unknown; Effect: string }[] {
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((p) => JSON.stringify(p.Properties.Roles).includes(role))
    .flatMap((p) => p.Properties.PolicyDocument.Statement);
}

const GROUP_ARN = { 'Fn::GetAtt': [Match.stringLikeRegexp('^LogsGroup'), 'Arn'] };

describe("the cluster's log group", () => {
  it('is one group named after the cluster, with the retention asked for (a month by default)', () => {
    const template = build();
    template.resourceCountIs('AWS::Logs::LogGroup', 1);
    template.hasResourceProperties('AWS::Logs::LogGroup', { LogGroupName: '/skiff/prod', RetentionInDays: 30 });
    build(RetentionDays.ONE_WEEK).hasResourceProperties('AWS::Logs::LogGroup', { LogGroupName: '/skiff/prod', RetentionInDays: 7 });
  });

  it("lets the hosts create and write streams (and read a stream's end to resume) in that group only", () => {
    const template = build();
    const statements = statementsOf(template, 'HostRole');
    expect(statements).toHaveLength(1);
    expect(statements[0].Effect).toBe('Allow');
    expect([statements[0].Action].flat().sort()).toEqual(['logs:CreateLogStream', 'logs:GetLogEvents', 'logs:PutLogEvents']);
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: Match.stringLikeRegexp('^HostRole') }],
      PolicyDocument: { Statement: [Match.objectLike({ Resource: GROUP_ARN })] },
    });
  });

  it('lets the API read it, and nothing else: no write, no other group', () => {
    const template = build();
    const statements = statementsOf(template, 'ApiRole');
    expect(statements).toHaveLength(1);
    expect([statements[0].Action].flat().sort()).toEqual(['logs:DescribeLogStreams', 'logs:FilterLogEvents', 'logs:GetLogEvents']);
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: Match.stringLikeRegexp('^ApiRole') }],
      PolicyDocument: { Statement: [Match.objectLike({ Resource: GROUP_ARN })] },
    });
  });

  it("lets the API read the control functions' own groups too, when given", () => {
    process.env.CDK_VALIDATION = 'false';
    const stack = new Stack(new App(), 'Logs', { env: { account: '123456789012', region: 'eu-west-1' } });
    const apiRole = new Role(stack, 'ApiRole', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
    const fnLogs = new LogGroup(stack, 'SchedulerLogs');
    new SkiffClusterLogs(stack, 'Logs', { clusterName: 'prod' }).grantRead(apiRole, [fnLogs]);
    Template.fromStack(stack).hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: [
          Match.objectLike({
            Action: ['logs:FilterLogEvents', 'logs:GetLogEvents', 'logs:DescribeLogStreams'],
            Resource: [GROUP_ARN, { 'Fn::GetAtt': [Match.stringLikeRegexp('^SchedulerLogs'), 'Arn'] }],
          }),
        ],
      },
    });
  });

  it("tells the agents the group in the hosts' boot script", () => {
    const script = hostUserDataScript({
      clusterName: 'prod',
      tableName: 't',
      parameterPrefix: '/skiff/prod',
      region: 'eu-west-1',
      hostArnPrefix: 'arn:aws:ec2:eu-west-1:123456789012:instance/',
      agentBundleUrl: 's3://b/k',
      nodeMajorVersion: 22,
      heartbeatSeconds: 15,
      pollSeconds: 100,
      logGroup: '/skiff/prod',
    });
    expect(script).toContain(`${ENV.logGroup}=/skiff/prod`);
  });
});
