/**
 * SkiffWorkloadIdentity: what AWS needs for workload identity (docs/identity.md).
 * - The host role may `sts:AssumeRole` only roles under the path `/skiff/<cluster>/` (the convention a
 *   user follows when making a role for a service: `iam create-role --path /skiff/prod/ ...`), and only
 *   those whose trust policy names the host role (`workloadRoleTrustPolicy`): both sides must agree.
 * - The host role may call one API route, `POST /v1/namespaces/*\/tasks/*\/identity-token`; the API
 *   function then gives a host tokens for its own tasks only (it knows the host role:
 *   SKIFF_HOST_ROLE_ARN, and a session of it named by an instance id is that host).
 * - The token signing keys live in one SecureString parameter, `<prefix>/control/signing-keys`:
 *   the API function reads it, the scheduler (the one rotator: reserved concurrency 1) reads and
 *   writes it. The hosts' deny on every other `/skiff/` parameter keeps them out of it.
 * - Both functions learn the issuer (the API's URL, SKIFF_WORKLOAD_ISSUER).
 */
import { Aws, Stack } from 'aws-cdk-lib';
import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import { ArnPrincipal, type IRole, PolicyDocument, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { ENV } from '../app/env-names.ts';

/** The address containers reach the credentials endpoint at: ECS's, which every AWS SDK accepts over plain HTTP. */
export const CREDENTIALS_ADDRESS = '169.254.170.2';

/** The IAM path of the roles a cluster's tasks may be given (`spec.identity.awsRole`). */
export function workloadRolePath(clusterName: string): string {
  return `/skiff/${clusterName}/`;
}

/** The trust policy a user puts on a service's role: the cluster's host role may assume it. */
export function workloadRoleTrustPolicy(hostRoleArn: string): PolicyDocument {
  return new PolicyDocument({
    statements: [new PolicyStatement({ sid: 'SkiffHostsAssumeForTasks', actions: ['sts:AssumeRole'], principals: [new ArnPrincipal(hostRoleArn)] })],
  });
}

export interface SkiffWorkloadIdentityProps {
  readonly clusterName: string;
  /** `/skiff/<clusterName>`. */
  readonly parameterPrefix: string;
  readonly hostRole: IRole;
  readonly apiFunction: LambdaFunction;
  readonly schedulerFunction: LambdaFunction;
  readonly httpApi: HttpApi;
}

export class SkiffWorkloadIdentity extends Construct {
  constructor(scope: Construct, id: string, props: SkiffWorkloadIdentityProps) {
    super(scope, id);
    const stack = Stack.of(this);
    props.hostRole.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'AssumeWorkloadRoles',
        actions: ['sts:AssumeRole'],
        resources: [`arn:${Aws.PARTITION}:iam::${Aws.ACCOUNT_ID}:role${workloadRolePath(props.clusterName)}*`],
      }),
    );
    props.hostRole.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'RequestWorkloadTokens',
        actions: ['execute-api:Invoke'],
        resources: [stack.formatArn({ service: 'execute-api', resource: props.httpApi.apiId, resourceName: '*/POST/v1/namespaces/*/tasks/*/identity-token' })],
      }),
    );
    const keys = stack.formatArn({ service: 'ssm', resource: 'parameter', resourceName: `${props.parameterPrefix.replace(/^\//, '')}/control/signing-keys` });
    props.apiFunction.addToRolePolicy(new PolicyStatement({ sid: 'ReadWorkloadSigningKeys', actions: ['ssm:GetParameter'], resources: [keys] }));
    // The same actions as the scheduler's grant on the cluster's parameters (infra/hosts.ts HostDocuments), which covers this one already.
    props.schedulerFunction.addToRolePolicy(
      new PolicyStatement({ sid: 'RotateWorkloadSigningKeys', actions: ['ssm:GetParameter*', 'ssm:PutParameter'], resources: [keys] }),
    );
    props.apiFunction.addEnvironment(ENV.hostRoleArn, props.hostRole.roleArn);
    props.apiFunction.addEnvironment(ENV.workloadIssuer, props.httpApi.apiEndpoint);
    props.schedulerFunction.addEnvironment(ENV.workloadIssuer, props.httpApi.apiEndpoint);
  }
}
