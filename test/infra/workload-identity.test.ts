import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { describe, expect, it } from 'vitest';
import { ENV } from '../../app/env-names.ts';
import { PUBLIC_ROUTES } from '../../app/public-routes.ts';
import { SkiffApi } from '../../infra/api.ts';
import { hostUserDataScript } from '../../infra/host-user-data.ts';
import { CREDENTIALS_ADDRESS, SkiffWorkloadIdentity, workloadRolePath, workloadRoleTrustPolicy } from '../../infra/workload-identity.ts';
import { render, roleStatements, type Statement } from './helpers.ts';

/** The construct alone, with a host role, the two functions and an HTTP API as the cluster gives them. */
function build(): { template: Template; stack: Stack } {
  process.env.CDK_VALIDATION = 'false';
  const stack = new Stack(new App(), 'Identity', { env: { account: '123456789012', region: 'eu-west-1' } });
  const hostRole = new Role(stack, 'HostRole', { assumedBy: new ServicePrincipal('ec2.amazonaws.com') });
  const fn = (id: string) =>
    new LambdaFunction(stack, id, { runtime: Runtime.NODEJS_20_X, handler: 'index.handler', code: Code.fromInline('exports.handler=1') });
  const apiFunction = fn('ApiFunction');
  const schedulerFunction = fn('SchedulerFunction');
  const api = new SkiffApi(stack, 'HttpApi', { clusterName: 'prod', handler: apiFunction });
  new SkiffWorkloadIdentity(stack, 'WorkloadIdentity', {
    clusterName: 'prod',
    parameterPrefix: '/skiff/prod',
    hostRole,
    apiFunction,
    schedulerFunction,
    httpApi: api.httpApi as HttpApi,
  });
  return { template: Template.fromStack(stack), stack };
}

const idOf = (template: Template, type: string, prefix: string) => {
  const ids = Object.keys(template.findResources(type)).filter((id) => id.startsWith(prefix));
  expect(ids).toHaveLength(1);
  return ids[0];
};

function statementsOfRole(template: Template, prefix: string): Statement[] {
  return roleStatements(template, idOf(template, 'AWS::IAM::Role', prefix));
}

describe('workload identity on AWS', () => {
  const { template } = build();

  it('lets the host role assume only roles under /skiff/<cluster>/, with no other STS action', () => {
    const statements = statementsOfRole(template, 'HostRole');
    const sts = statements.filter((s) => [s.Action].flat().some((a) => String(a).startsWith('sts:')));
    expect(sts).toHaveLength(1);
    expect(sts[0]).toMatchObject({ Sid: 'AssumeWorkloadRoles', Effect: 'Allow', Action: 'sts:AssumeRole' });
    expect(render(sts[0].Resource as never)).toBe('arn:${AWS::Partition}:iam::${AWS::AccountId}:role/skiff/prod/*');
    expect(sts[0]).not.toHaveProperty('NotResource');
  });

  it('lets the host role call only the identity-token route of the API', () => {
    const invoke = statementsOfRole(template, 'HostRole').filter((s) => [s.Action].flat().includes('execute-api:Invoke'));
    expect(invoke).toHaveLength(1);
    expect(render(invoke[0].Resource as never)).toMatch(
      /^arn:\$\{AWS::Partition\}:execute-api:eu-west-1:123456789012:\$\{HttpApi\w+\}\/\*\/POST\/v1\/namespaces\/\*\/tasks\/\*\/identity-token$/,
    );
  });

  it('lets the API read and the scheduler rotate the signing keys parameter, and nothing else of SSM', () => {
    const keys = 'arn:${AWS::Partition}:ssm:eu-west-1:123456789012:parameter/skiff/prod/control/signing-keys';
    const api = statementsOfRole(template, 'ApiFunctionServiceRole').filter((s) => [s.Action].flat().some((a) => String(a).startsWith('ssm:')));
    expect(api.map((s) => [s.Sid, s.Action, render(s.Resource as never)])).toEqual([['ReadWorkloadSigningKeys', 'ssm:GetParameter', keys]]);
    const scheduler = statementsOfRole(template, 'SchedulerFunctionServiceRole').filter((s) => [s.Action].flat().some((a) => String(a).startsWith('ssm:')));
    expect(scheduler.map((s) => [s.Sid, s.Action, render(s.Resource as never)])).toEqual([
      ['RotateWorkloadSigningKeys', ['ssm:GetParameter*', 'ssm:PutParameter'], keys],
    ]);
  });

  it('tells the API the host role and the issuer, and the scheduler the issuer', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ [ENV.hostRoleArn]: { 'Fn::GetAtt': [Match.stringLikeRegexp('^HostRole'), 'Arn'] } }) },
    });
    const functions = template.findResources('AWS::Lambda::Function');
    for (const [id, fn] of Object.entries(functions)) {
      const vars = (fn.Properties as { Environment: { Variables: Record<string, unknown> } }).Environment.Variables;
      expect(render(vars[ENV.workloadIssuer] as never), id).toMatch(/^\$\{HttpApi\w+\.ApiEndpoint\}$/);
    }
  });

  it('serves the discovery document and the JWKS without an authorizer, and every other route with IAM', () => {
    const routes = template.findResources('AWS::ApiGatewayV2::Route');
    const byKey = Object.fromEntries(
      Object.values(routes).map((r) => [(r.Properties as { RouteKey: string }).RouteKey, r.Properties as { AuthorizationType?: string }]),
    );
    for (const [method, path] of PUBLIC_ROUTES) expect(byKey[`${method} ${path}`]?.AuthorizationType).toBe('NONE');
    expect(byKey['ANY /{proxy+}'].AuthorizationType).toBe('AWS_IAM');
    expect(Object.entries(byKey).filter(([, r]) => r.AuthorizationType === 'NONE')).toHaveLength(PUBLIC_ROUTES.length);
  });

  it('documents the trust policy a user puts on a service role: the host role may assume it, nothing more', () => {
    const stack = new Stack(new App(), 'Doc');
    const doc = stack.resolve(workloadRoleTrustPolicy('arn:aws:iam::123456789012:role/Skiff-prod-HostRole')) as unknown;
    expect(doc).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'SkiffHostsAssumeForTasks',
          Effect: 'Allow',
          Action: 'sts:AssumeRole',
          Principal: { AWS: 'arn:aws:iam::123456789012:role/Skiff-prod-HostRole' },
        },
      ],
    });
    expect(workloadRolePath('prod')).toBe('/skiff/prod/');
  });

  it('gives the agent the API URL and the credentials address, and puts that address on the host', () => {
    const script = hostUserDataScript({
      clusterName: 'prod',
      tableName: 't',
      parameterPrefix: '/skiff/prod',
      region: 'eu-west-1',
      hostArnPrefix: 'arn:aws:ec2:eu-west-1:123456789012:instance/',
      agentBundleUrl: 's3://b/k',
      nodeMajorVersion: 20,
      heartbeatSeconds: 15,
      pollSeconds: 100,
      workloadIdentity: { apiUrl: 'https://abc.execute-api.eu-west-1.amazonaws.com', credentialsAddress: CREDENTIALS_ADDRESS },
    });
    expect(script).toContain(`${ENV.apiUrl}=https://abc.execute-api.eu-west-1.amazonaws.com`);
    expect(script).toContain(`${ENV.credentialsAddress}=169.254.170.2`);
    // Before every start of the agent (a reboot drops the address), in its unit.
    expect(script).toContain('ExecStartPre=-/usr/sbin/ip addr add 169.254.170.2/32 dev lo');
    expect(script.indexOf('ExecStartPre=-/usr/sbin/ip addr add')).toBeLessThan(script.indexOf('ExecStart=/usr/bin/node'));
  });
});
