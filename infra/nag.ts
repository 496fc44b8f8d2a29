/**
 * cdk-nag for the Skiff stack: the AwsSolutions checks, and every finding Skiff accepts, each
 * with the reason next to it. Suppressions name the exact finding (`appliesTo`), so a new
 * wildcard or managed policy is reported rather than swallowed by an older suppression.
 *
 * cdk-nag 2.37 (Aspects): cdk-nag 3 needs constructs ^10.5.1, this repository pins 10.5.0.
 */
import { Aspects } from 'aws-cdk-lib';
import type { CfnLoadBalancer } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import type { IConstruct } from 'constructs';
import { AwsSolutionsChecks, NagSuppressions } from 'cdk-nag';
import type { INagLogger, NagPackSuppression } from 'cdk-nag';
import type { SkiffCluster } from './skiff-cluster.ts';

export interface SkiffNagOptions {
  /**
   * Write the compliance report (CSV) into the cloud assembly.
   * @default true
   */
  readonly reports?: boolean;
  /**
   * More loggers for the findings (tests collect them with one).
   * @default - none
   */
  readonly additionalLoggers?: INagLogger[];
}

/** Runs the AwsSolutions checks on everything under `scope` at synthesis; an unsuppressed finding fails it. */
export function addSkiffNagChecks(scope: IConstruct, options: SkiffNagOptions = {}): void {
  Aspects.of(scope).add(new AwsSolutionsChecks({ reports: options.reports ?? true, additionalLoggers: options.additionalLoggers }));
}

/** cdk-nag's rendering of a resource ARN in the account and region of the stack. */
const arnIn = (service: string, resource: string) => `Resource::arn:<AWS::Partition>:${service}:<AWS::Region>:<AWS::AccountId>:${resource}`;

const LAMBDA_BASIC_EXECUTION = 'Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole';
const SSM_MANAGED_INSTANCE_CORE = 'Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore';

/** The findings Skiff accepts on a cluster's resources, each with its reason. */
export function suppressSkiffClusterFindings(cluster: SkiffCluster): void {
  const prefix = cluster.parameterPrefix;
  const tableIndexes = { regex: '/^Resource::<.*Table[0-9A-F]{8}\\.Arn>\\/index\\/\\*$/g' };
  const schedulerVersions = { regex: '/^Resource::<.*SchedulerFunction[0-9A-F]{8}\\.Arn>:\\*$/g' };
  const xray = 'X-Ray tracing (xray:PutTraceSegments, xray:PutTelemetryRecords) has no resource-level permissions';

  /** What every control-plane function needs; `resourceStar` says why that function has Resource "*". */
  const functionSuppressions = (resourceStar: string): NagPackSuppression[] => [
    {
      id: 'AwsSolutions-IAM4',
      reason:
        'AWSLambdaBasicExecutionRole only lets the function write its own logs (logs:CreateLogStream/PutLogEvents); ' +
        'AWS keeps it in step with what the Lambda runtime needs.',
      appliesTo: [LAMBDA_BASIC_EXECUTION],
    },
    { id: 'AwsSolutions-IAM5', reason: `Resource "*": ${resourceStar}.`, appliesTo: ['Resource::*'] },
    {
      id: 'AwsSolutions-IAM5',
      reason: 'Table.grantReadWriteData adds <table>/index/*: the indexes of this one table (the API and scheduler query gsi1).',
      appliesTo: [tableIndexes],
    },
    {
      id: 'AwsSolutions-L1',
      reason:
        'Node.js 22 is chosen on purpose: the bundles target node22 and the hosts run the same major (AL2023 nodejs22). ' +
        'It is supported until April 2027; moving to a newer runtime is a tested change of its own.',
    },
  ];
  const invokesScheduler: NagPackSuppression = {
    id: 'AwsSolutions-IAM5',
    reason: 'Function.grantInvoke on the scheduler: ":*" covers the versions and aliases of that one function.',
    appliesTo: [schedulerVersions],
  };

  // The execution role is a child of the function, so each of these reaches the role and its policy too.
  const secretsPath = arnIn('ssm', `parameter${prefix}/secrets/*`);
  NagSuppressions.addResourceSuppressions(
    cluster.apiFunction,
    [
      ...functionSuppressions(xray),
      invokesScheduler,
      {
        id: 'AwsSolutions-IAM5',
        reason: `The API stores each Secret as one SecureString parameter under ${prefix}/secrets/<namespace>/<name>, names chosen by users after deployment; nothing outside that path.`,
        appliesTo: [secretsPath],
      },
    ],
    true,
  );
  NagSuppressions.addResourceSuppressions(cluster.healthFunction, [...functionSuppressions(xray), invokesScheduler], true);
  NagSuppressions.addResourceSuppressions(
    cluster.hostAutoscaling.function,
    [
      ...functionSuppressions(`${xray}; nor does autoscaling:DescribeAutoScalingGroups (Service Authorization Reference)`),
      invokesScheduler,
      {
        id: 'AwsSolutions-IAM5',
        reason:
          "An Auto Scaling group's ARN holds a UUID that is unknown until the group exists; the ARN is pinned to this cluster's " +
          'group by its name, and only SetDesiredCapacity, TerminateInstanceInAutoScalingGroup and SetInstanceProtection are allowed on it.',
        appliesTo: [
          { regex: '/^Resource::arn:<AWS::Partition>:autoscaling:<AWS::Region>:<AWS::AccountId>:autoScalingGroup:\\*:autoScalingGroupName\\/<.*Hosts.*>$/g' },
        ],
      },
      {
        id: 'AwsSolutions-IAM5',
        reason:
          `It removes the documents of the hosts it terminated, whose names are instance ids unknown at deploy time: list and delete only, under ${prefix}/hosts/* ` +
          '(ssm:DeleteParameter* is the single and batch form of the same call).',
        appliesTo: ['Action::ssm:DeleteParameter*', arnIn('ssm', `parameter${prefix}/hosts/*`)],
      },
    ],
    true,
  );
  NagSuppressions.addResourceSuppressions(
    cluster.autoscaler.function,
    [
      ...functionSuppressions(`${xray}; nor do cloudwatch:GetMetricData, cloudwatch:DescribeAlarms and elasticloadbalancing:DescribeTargetGroups (read-only)`),
      {
        id: 'AwsSolutions-IAM5',
        reason: "PutMetricAlarm and DeleteAlarms on the autoscaler's own alarms only: their names start with its prefix (infra/autoscaler.ts).",
        appliesTo: [arnIn('cloudwatch', `alarm:${cluster.autoscaler.alarmPrefix}*`)],
      },
    ],
    true,
  );
  NagSuppressions.addResourceSuppressions(
    cluster.schedulerFunction,
    [
      ...functionSuppressions(
        `${xray}; nor do elasticloadbalancing:DescribeRules, DescribeTargetGroups, DescribeTargetGroupAttributes and ` +
          'DescribeTargetHealth (Service Authorization Reference), dynamodb:ListStreams, which the table stream trigger needs, or ' +
          "ec2:DescribeInstances and DescribeInstanceTypes, with which it bounds each host agent's claim by its instance's type and private IP",
      ),
      {
        id: 'AwsSolutions-IAM5',
        reason:
          `The scheduler owns the host documents under ${prefix}: it publishes, reads and deletes them one per host, ` +
          'whose names are instance ids unknown at deploy time. ssm:GetParameter* and ssm:DeleteParameter* are the single and batch forms ' +
          `of the same calls, on ${prefix}/* only; tagging is limited to ${prefix}/hosts/*. ssm:SendCommand reaches instance/* only with the ` +
          `condition ssm:resourceTag/skiff:cluster = ${cluster.clusterName}: instance ids are not known at deploy time.`,
        appliesTo: [
          'Action::ssm:GetParameter*',
          'Action::ssm:DeleteParameter*',
          arnIn('ssm', `parameter${prefix}/*`),
          arnIn('ssm', `parameter${prefix}/hosts/*`),
          arnIn('ec2', 'instance/*'),
        ],
      },
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'The scheduler creates a target group per ingress service and a listener rule per host name at run time, so their names ' +
          "are not known at deploy time: target groups are limited to this cluster's name prefix followed by exactly 12 characters " +
          '(one "?" each), rules to those of this load balancer.',
        appliesTo: [
          { regex: '/^Resource::arn:<AWS::Partition>:elasticloadbalancing:<AWS::Region>:<AWS::AccountId>:targetgroup\\/[a-z0-9-]+-\\?{12}\\/\\*$/g' },
          {
            regex:
              '/^Resource::arn:<AWS::Partition>:elasticloadbalancing:<AWS::Region>:<AWS::AccountId>:listener-rule\\/<.*LoadBalancer[0-9A-F]{8}\\.LoadBalancerFullName>\\/\\*$/g',
          },
        ],
      },
    ],
    true,
  );

  NagSuppressions.addResourceSuppressions(
    cluster.hostRole,
    [
      {
        id: 'AwsSolutions-IAM4',
        reason:
          'AmazonSSMManagedInstanceCore is what the SSM Agent needs for Session Manager (no SSH, no inbound rules) and Run Command ' +
          '(the scheduler wakes hosts with it); AWS maintains it as the agent changes. Its ssm:GetParameter(s) on every parameter is ' +
          'cut back by the DenyOtherSkiffParameters statement.',
        appliesTo: [SSM_MANAGED_INSTANCE_CORE],
      },
      {
        id: 'AwsSolutions-IAM5',
        reason:
          `Each host reads its own document under ${prefix}/hosts/*, named by its instance id (unknown at deploy time); ` +
          'the condition aws:ResourceTag/skiff:host-arn = ${ec2:SourceInstanceARN} limits it to the one parameter tagged with its ARN.',
        appliesTo: [arnIn('ssm', `parameter${prefix}/hosts/*`)],
      },
      {
        id: 'AwsSolutions-IAM5',
        reason:
          `Each host's agent reads the secrets of the tasks it starts, under ${prefix}/secrets/* (names chosen by users after deployment); ` +
          `the condition aws:ResourceTag/skiff:cluster-secret = ${cluster.clusterName} limits it to this cluster's secret parameters.`,
        appliesTo: [arnIn('ssm', `parameter${prefix}/secrets/*`)],
      },
      {
        id: 'AwsSolutions-IAM5',
        reason:
          "A host tags the EFS access point of a persistent volume as it creates it (infra/volumes.ts); access points are made at run time, so their ids are unknown at deploy time. The condition limits TagResource to CreateAccessPoint calls that carry this cluster's tag.",
        appliesTo: [arnIn('elasticfilesystem', 'access-point/*')],
      },
      {
        id: 'AwsSolutions-IAM5',
        reason:
          `Workload identity (infra/workload-identity.ts): the agent assumes the role of each task's spec.identity.awsRole, roles users make ` +
          `after deployment; only those under the path /skiff/${cluster.clusterName}/, and each must also trust the host role in its own trust policy.`,
        appliesTo: [`Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:role/skiff/${cluster.clusterName}/*`],
      },
      {
        id: 'AwsSolutions-IAM5',
        reason:
          "Workload identity: the agent asks the API for its own tasks' tokens on the one route POST /v1/namespaces/{ns}/tasks/{id}/identity-token; " +
          'the stage and the namespace and task are path parameters (the API checks the task is on the calling host).',
        appliesTo: [
          {
            regex:
              '/^Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<.*>\\/\\*\\/POST\\/v1\\/namespaces\\/\\*\\/tasks\\/\\*\\/identity-token$/g',
          },
        ],
      },
    ],
    true,
  );

  for (const route of cluster.api.publicRoutes) {
    NagSuppressions.addResourceSuppressions(
      route,
      [
        {
          id: 'AwsSolutions-APIG4',
          reason:
            'The OIDC discovery document and the JWKS of workload tokens are public by design (OpenID Connect Discovery): verifiers, AWS IAM OIDC ' +
            'providers among them, hold no credential. They serve public keys only, GET only (app/public-routes.ts).',
        },
      ],
      true,
    );
  }

  NagSuppressions.addResourceSuppressions(
    cluster.hosts,
    [
      {
        id: 'AwsSolutions-AS3',
        reason:
          "Hosts are launched and terminated by Skiff's host autoscaler (infra/host-autoscaling.ts) as routine; a notification per event would drown " +
          'the alarm topic. A group that cannot supply hosts shows as the UnplaceableTasks and StaleHosts alarms, and each activity ' +
          "is in the group's activity history.",
      },
    ],
    true,
  );

  NagSuppressions.addResourceSuppressions(
    cluster.api.userPool,
    [
      {
        id: 'AwsSolutions-COG3',
        reason:
          "Cognito's threat protection (advanced security) is a paid feature plan; the pool has no self sign-up, MFA required and " +
          'a 12-character password policy. A cluster that wants adaptive authentication turns the Plus plan on.',
      },
    ],
    true,
  );

  NagSuppressions.addResourceSuppressions(
    cluster.failedInvocations,
    [
      {
        id: 'AwsSolutions-SQS3',
        reason:
          'This queue is itself the dead-letter destination of the scheduler and health functions (Lambda on-failure destination), ' +
          'which cdk-nag cannot see; a dead-letter queue of a dead-letter queue would never be read.',
      },
    ],
    true,
  );

  NagSuppressions.addResourceSuppressions(
    cluster.accessLogs,
    [
      {
        id: 'AwsSolutions-S1',
        reason:
          "This bucket holds the load balancer's access logs; S3 server access logs of it would record ELB's log writes " +
          'in yet another bucket that would need logs of its own. CloudTrail data events are the way to audit it if needed.',
      },
    ],
    true,
  );

  const internetFacing = (cluster.loadBalancer.node.defaultChild as CfnLoadBalancer).scheme === 'internet-facing';
  NagSuppressions.addResourceSuppressions(cluster.loadBalancerSecurityGroup, [
    internetFacing
      ? {
          id: 'AwsSolutions-EC23',
          reason:
            'loadBalancerScheme internet-facing was chosen explicitly: the listener port, and only it, is open to 0.0.0.0/0 ' +
            'because the load balancer is the public entry point of the ingress services.',
        }
      : {
          id: 'CdkNagValidationFailure',
          reason: 'Internal load balancer: the only ingress is the VPC CIDR (a deploy-time token cdk-nag cannot resolve), never 0.0.0.0/0.',
          appliesTo: ['AwsSolutions-EC23'],
        },
  ]);
}
