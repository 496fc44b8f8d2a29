/**
 * SkiffApi's two ways in (infra/api.ts): SigV4 on every path, and a Cognito user pool's JWT on
 * /user/... (issue 14). The construct alone in a bare stack: quick, and the whole stack's test
 * (skiff-cluster.test.ts) checks the routes in place.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import { SkiffApi } from '../../infra/api.ts';

let template: Template;

beforeAll(() => {
  const stack = new Stack(new App(), 'ApiOnly');
  const handler = new LambdaFunction(stack, 'Fn', {
    runtime: Runtime.NODEJS_20_X,
    handler: 'index.handler',
    code: Code.fromInline('exports.handler=async()=>({})'),
  });
  new SkiffApi(stack, 'HttpApi', { clusterName: 'test', handler });
  template = Template.fromStack(stack);
}, 120_000);

describe('the user pool and its JWT authorizer', () => {
  it('deploys a user pool without self sign-up, kept when the stack goes, and a secretless CLI client', () => {
    template.hasResource('AWS::Cognito::UserPool', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({ UserPoolName: 'skiff-test', AdminCreateUserConfig: { AllowAdminCreateUserOnly: true } }),
    });
    template.hasResourceProperties('AWS::Cognito::UserPoolClient', {
      GenerateSecret: false,
      ExplicitAuthFlows: Match.arrayWith(['ALLOW_USER_PASSWORD_AUTH', 'ALLOW_USER_SRP_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH']),
    });
    template.hasResourceProperties('AWS::Cognito::UserPoolGroup', { GroupName: 'skiff:cluster-admin' });
  });

  it('puts a JWT authorizer for that pool and client on /user and /user/{proxy+}, and IAM on the rest', () => {
    const authorizers = template.findResources('AWS::ApiGatewayV2::Authorizer');
    const [authorizerId, authorizer] = Object.entries(authorizers)[0] as [string, { Properties: Record<string, unknown> }];
    expect(Object.keys(authorizers)).toHaveLength(1);
    expect(authorizer.Properties).toMatchObject({
      AuthorizerType: 'JWT',
      IdentitySource: ['$request.header.Authorization'],
    });
    const jwt = authorizer.Properties.JwtConfiguration as { Audience: { Ref: string }[]; Issuer: unknown };
    expect(jwt.Audience).toHaveLength(1);
    expect(jwt.Audience[0].Ref).toMatch(/CliClient/);
    expect(JSON.stringify(jwt.Issuer)).toContain('cognito-idp');
    const routes = Object.values(template.findResources('AWS::ApiGatewayV2::Route')).map((r) => (r as { Properties: Record<string, unknown> }).Properties);
    const byKey = Object.fromEntries(routes.map((r) => [r.RouteKey, r]));
    expect(Object.keys(byKey).sort()).toEqual([
      'ANY /',
      'ANY /user',
      'ANY /user/{proxy+}',
      'ANY /{proxy+}',
      // Workload identity's public routes (test/infra/workload-identity.test.ts).
      'GET /.well-known/jwks.json',
      'GET /.well-known/openid-configuration',
      // The web console's files (test/infra/console.test.ts).
      'GET /console',
      'GET /console/console.css',
      'GET /console/console.js',
    ]);
    for (const key of ['ANY /user', 'ANY /user/{proxy+}']) expect(byKey[key]).toMatchObject({ AuthorizationType: 'JWT', AuthorizerId: { Ref: authorizerId } });
    for (const key of ['ANY /', 'ANY /{proxy+}']) expect(byKey[key]).toMatchObject({ AuthorizationType: 'AWS_IAM' });
  });
});
