import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { InstanceType } from 'aws-cdk-lib/aws-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { Match } from 'aws-cdk-lib/assertions';
import type { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { actionsOf, bySid, functionId, functionRoleId, list, managedPolicies, onlyResource, render, roleStatements, synthFixtureStack } from './helpers.ts';
import type { Statement, Synthesized } from './helpers.ts';
import { DOCKER_PUBLISHED_PORTS, HOST_ARN_TAG_KEY, TTL_ATTRIBUTE } from '../../infra/skiff-cluster.ts';
import { DynamoStore, hostPartitionKey } from '../../adapters/aws/dynamo-store.ts';
import { HOST_ARN_TAG_KEY as ADAPTER_TAG_KEY } from '../../adapters/aws/ssm-channel.ts';
import { SECRET_TAG_KEY as VAULT_TAG_KEY } from '../../adapters/aws/ssm-secrets.ts';
import { SECRET_TAG_KEY } from '../../infra/hosts.ts';
import { HOST_WRITABLE_ATTRIBUTES } from '../../adapters/aws/dynamo/host-attributes.ts';
import { EVENT_LOG_KEYS, EVENT_LOG_SHARDS, eventIndexKey, HEALTH_KEY, publishedKey, serviceKey, taskKey } from '../../adapters/aws/dynamo/keys.ts';
import { startsPass, type StreamKeyFilter } from '../../infra/stream-filter.ts';

const TABLE_ACTIONS = [
  'dynamodb:BatchGetItem',
  'dynamodb:BatchWriteItem',
  'dynamodb:ConditionCheckItem',
  'dynamodb:DeleteItem',
  'dynamodb:DescribeTable',
  'dynamodb:GetItem',
  'dynamodb:GetRecords',
  'dynamodb:GetShardIterator',
  'dynamodb:PutItem',
  'dynamodb:Query',
  'dynamodb:Scan',
  'dynamodb:UpdateItem',
];
const XRAY_ACTIONS = ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'];
/** What SqsDestination grants a function on the failed-invocations queue. */
const QUEUE_ACTIONS = ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'];
/** The calls AlbLoadBalancer makes that have no resource type, so are granted on '*'. */
const ELB_DESCRIBE_ACTIONS = [
  'elasticloadbalancing:DescribeListenerCertificates',
  'elasticloadbalancing:DescribeRules',
  'elasticloadbalancing:DescribeTargetGroupAttributes',
  'elasticloadbalancing:DescribeTargetGroups',
  'elasticloadbalancing:DescribeTargetHealth',
];
const ELB_TARGET_GROUP_ACTIONS = [
  'elasticloadbalancing:CreateTargetGroup',
  'elasticloadbalancing:DeleteTargetGroup',
  'elasticloadbalancing:DeregisterTargets',
  'elasticloadbalancing:ModifyTargetGroupAttributes',
  'elasticloadbalancing:RegisterTargets',
];
const ELB_RULE_ACTIONS = [
  'elasticloadbalancing:AddListenerCertificates',
  'elasticloadbalancing:CreateRule',
  'elasticloadbalancing:DeleteRule',
  'elasticloadbalancing:ModifyRule',
  'elasticloadbalancing:RemoveListenerCertificates',
  'elasticloadbalancing:SetRulePriorities',
];
const EC2_ROUTE_ACTIONS = [
  'ec2:CreateRoute',
  'ec2:DeleteRoute',
  'ec2:DescribeInstances',
  'ec2:DescribeRouteTables',
  'ec2:ModifyInstanceAttribute',
  'ec2:ReplaceRoute',
];
const STREAM_ACTIONS = ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator', 'dynamodb:ListStreams'];
const CERTIFICATE_ARN = 'arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789';
const ACCOUNT_ARN = '${AWS::Partition}:%s:${AWS::Region}:${AWS::AccountId}';
const arn = (service: string, rest: string) => `arn:${ACCOUNT_ARN.replace('%s', service)}:${rest}`;

let synth: Synthesized;
let template: Template;
let tableId: string;
let apiFnId: string;
let schedulerFnId: string;
let healthFnId: string;
let vpcId: string;
let zoneId: string;
let albId: string;
let listenerId: string;
let albSgId: string;
let hostSgId: string;
let queueId: string;

/** Logical ids of the route tables of the hosts' (private) subnets. */
function hostRouteTables(): string[] {
  const privateSubnets = new Set(
    Object.entries(template.findResources('AWS::EC2::Subnet'))
      .filter(([, s]) => (s as { Properties: { MapPublicIpOnLaunch: boolean } }).Properties.MapPublicIpOnLaunch === false)
      .map(([id]) => id),
  );
  return Object.values(template.findResources('AWS::EC2::SubnetRouteTableAssociation'))
    .map((a) => (a as { Properties: { SubnetId: { Ref: string }; RouteTableId: { Ref: string } } }).Properties)
    .filter((p) => privateSubnets.has(p.SubnetId.Ref))
    .map((p) => p.RouteTableId.Ref)
    .sort();
}

beforeAll(() => {
  // Non-default heartbeat and grace, and a fleet big enough to stretch the poll interval past its floor.
  // Also the non-default ingress: a custom zone, an internet-facing ALB and HTTPS (the defaults stack has the rest).
  synth = synthFixtureStack({
    clusterName: 'test',
    minHosts: 1,
    maxHosts: 250,
    // 250 hosts need 250 routes per route table: a raised quota.
    routesPerRouteTable: 300,
    desiredHosts: 2,
    hostHeartbeatSeconds: 10,
    hostGraceSeconds: 45,
    dnsZoneName: 'apps.test.internal',
    loadBalancerScheme: 'internet-facing',
    certificateArn: CERTIFICATE_ARN,
  });
  template = synth.template;
  tableId = onlyResource(template, 'AWS::DynamoDB::Table');
  apiFnId = functionId(template, 'Skiff API (cluster test)');
  schedulerFnId = functionId(template, 'Skiff scheduler (cluster test)');
  healthFnId = functionId(template, 'Skiff health (cluster test)');
  vpcId = onlyResource(template, 'AWS::EC2::VPC');
  zoneId = onlyResource(template, 'AWS::Route53::HostedZone');
  albId = onlyResource(template, 'AWS::ElasticLoadBalancingV2::LoadBalancer');
  // With a certificate there are two: HTTPS on 443 (the rules) and HTTP on 80 (a redirect).
  listenerId = onlyResource(template, 'AWS::ElasticLoadBalancingV2::Listener', (p) => p.Port === 443);
  albSgId = onlyResource(template, 'AWS::EC2::SecurityGroup', (p) => String(p.GroupDescription).startsWith('Skiff load balancer'));
  hostSgId = onlyResource(template, 'AWS::EC2::SecurityGroup', (p) => String(p.GroupDescription).startsWith('Skiff hosts'));
  queueId = onlyResource(template, 'AWS::SQS::Queue');
});

afterAll(() => synth?.cleanup());

/** Statements that grant read/write on the table: every table action, on the table and its indexes. */
function expectTableGrant(statements: Statement[]): void {
  const dynamo = statements.filter((s) => list(s.Action).some((a) => a.startsWith('dynamodb:')));
  expect(dynamo).toHaveLength(1);
  expect(list(dynamo[0]!.Action).sort()).toEqual(TABLE_ACTIONS);
  expect(list(dynamo[0]!.Resource).map(render).sort()).toEqual([`\${${tableId}.Arn}`, `\${${tableId}.Arn}/index/*`]);
}

/**
 * No statement allows a wildcard action, and only actions without a resource type get Resource '*':
 * X-Ray, plus `allowedOnStar`.
 */
function expectNoWildcards(statements: Statement[], allowedOnStar: readonly string[] = []): void {
  const allowed = new Set([...XRAY_ACTIONS, ...allowedOnStar]);
  for (const s of statements) {
    for (const action of list(s.Action)) expect(action).not.toMatch(/^\*$|:\*$/);
    if (list(s.Resource).includes('*')) for (const action of list(s.Action)) expect(allowed, action).toContain(action);
  }
}

describe('state table', () => {
  it('has pk/sk string keys, the gsi1 index projecting all attributes, on-demand billing, PITR, AWS-managed encryption and a NEW_IMAGE stream', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: Match.arrayEquals([
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
        { AttributeName: 'gsi1pk', AttributeType: 'S' },
        { AttributeName: 'gsi1sk', AttributeType: 'S' },
      ]),
      GlobalSecondaryIndexes: [
        {
          IndexName: 'gsi1',
          KeySchema: [
            { AttributeName: 'gsi1pk', KeyType: 'HASH' },
            { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      // SSEEnabled without a key id = KMS with the AWS-managed key (aws/dynamodb).
      SSESpecification: { SSEEnabled: true, KMSMasterKeyId: Match.absent() },
      StreamSpecification: { StreamViewType: 'NEW_IMAGE' },
    });
  });

  it('is retained when the stack is deleted', () => {
    template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
  });

  it('expires items by their expiresAt attribute (DynamoDB TTL)', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    });
  });

  it('watches the attribute the store writes on every event, in epoch seconds as TTL requires', async () => {
    const dynamo = mockClient(DynamoDBDocumentClient);
    try {
      dynamo.on(BatchWriteCommand).resolves({ UnprocessedItems: {} });
      const store = new DynamoStore(new DynamoDBClient({ region: 'eu-west-1' }), { tableName: 'T' });
      const at = '2030-01-01T00:00:00.000Z';
      await store.putEvents([{ id: 'e1', at, type: 'host.down', host: 'h1', message: 'host h1 is down' }]);
      const calls = dynamo.commandCalls(BatchWriteCommand);
      expect(calls).toHaveLength(1);
      const put = calls[0]!.args[0].input.RequestItems!.T![0]!.PutRequest!;
      const expiry: unknown = put.Item![TTL_ATTRIBUTE];
      expect(Number.isInteger(expiry)).toBe(true);
      // Seconds, not milliseconds: a millisecond value reads as a date far in the future and never expires.
      expect(expiry as number).toBeGreaterThan(Date.parse(at) / 1000);
      expect(expiry as number).toBeLessThan(Date.parse(at) / 1000 + 366 * 86_400);
    } finally {
      dynamo.restore();
    }
  });
});

describe('control-plane functions', () => {
  const sharedEnv = (): Record<string, unknown> => ({
    SKIFF_CLUSTER: 'test',
    SKIFF_TABLE: { Ref: tableId },
    SKIFF_PARAM_PREFIX: '/skiff/test',
    SKIFF_HOST_ARN_PREFIX: Match.anyValue(),
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    NODE_OPTIONS: '--enable-source-maps',
  });

  it('runs the API on Node.js 22, arm64, ESM bundle, 29 s timeout, tracing on, with the scheduler name in its environment', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'Skiff API (cluster test)',
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      Timeout: 29,
      TracingConfig: { Mode: 'Active' },
      ReservedConcurrentExecutions: Match.absent(),
      Environment: {
        Variables: Match.objectEquals({
          ...sharedEnv(),
          SKIFF_SCHEDULER_FUNCTION: { Ref: schedulerFnId },
          // Workload identity (test/infra/workload-identity.test.ts).
          SKIFF_HOST_ROLE_ARN: Match.anyValue(),
          SKIFF_WORKLOAD_ISSUER: Match.anyValue(),
          // Central logs: the API reads the cluster's log group (test/infra/logs.test.ts).
          SKIFF_LOG_GROUP: '/skiff/test',
          SKIFF_CONTROL_LOG_GROUPS: Match.anyValue(),
          // The web console's sign-in (test/infra/console.test.ts).
          SKIFF_COGNITO_CLIENT_ID: Match.anyValue(),
        }),
      },
    });
  });

  it('runs the scheduler with a 300 s timeout and a reserved concurrency of 1, and tells it the DNS zone, the listener, the VPC and the wake-up document', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'Skiff scheduler (cluster test)',
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      Timeout: 300,
      ReservedConcurrentExecutions: 1,
      TracingConfig: { Mode: 'Active' },
      Environment: {
        Variables: Match.objectEquals({
          ...sharedEnv(),
          SKIFF_HOSTED_ZONE_ID: { Ref: zoneId },
          SKIFF_DNS_ZONE: 'apps.test.internal',
          SKIFF_ALB_LISTENER_ARN: { Ref: listenerId },
          SKIFF_ALB_HTTPS: 'true',
          SKIFF_VPC_ID: { Ref: vpcId },
          SKIFF_DEREGISTRATION_DELAY_SECONDS: '30',
          SKIFF_CLUSTER_CIDR: '10.200.0.0/16',
          SKIFF_HOST_SUBNET_PREFIX: '24',
          SKIFF_ROUTE_TABLE_IDS: Match.anyValue(),
          SKIFF_WAKE_DOCUMENT: { Ref: onlyResource(template, 'AWS::SSM::Document') },
          // Persistent volumes on EFS: the scheduler pins no replica to a host.
          SKIFF_EFS_FILE_SYSTEM_ID: { Ref: onlyResource(template, 'AWS::EFS::FileSystem') },
          // Workload identity: the scheduler rotates the token signing keys (test/infra/workload-identity.test.ts).
          SKIFF_WORKLOAD_ISSUER: Match.anyValue(),
        }),
      },
    });
    const fn = template.findResources('AWS::Lambda::Function')[schedulerFnId] as { Properties: { Environment: { Variables: Record<string, unknown> } } };
    expect(render(fn.Properties.Environment.Variables.SKIFF_ROUTE_TABLE_IDS)).toBe(
      hostRouteTables()
        .map((id) => `\${${id}}`)
        .join(','),
    );
  });

  it('runs the health function on Node.js 22, arm64, 256 MB, 75 s timeout (4 checks 15 s apart), reserved concurrency 1', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'Skiff health (cluster test)',
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      MemorySize: 256,
      Timeout: 75,
      ReservedConcurrentExecutions: 1,
      TracingConfig: { Mode: 'Active' },
      Environment: {
        Variables: Match.objectEquals({
          ...sharedEnv(),
          SKIFF_SCHEDULER_FUNCTION: { Ref: schedulerFnId },
          SKIFF_HOST_GRACE_SECONDS: '45',
          SKIFF_HEALTH_CHECKS_PER_RUN: '4',
          SKIFF_HEALTH_INTERVAL_SECONDS: '15',
        }),
      },
    });
  });

  it('gives every function the host ARN prefix of this account and region', () => {
    for (const id of [apiFnId, schedulerFnId, healthFnId]) {
      const fn = template.findResources('AWS::Lambda::Function')[id] as { Properties: { Environment: { Variables: Record<string, unknown> } } };
      expect(render(fn.Properties.Environment.Variables.SKIFF_HOST_ARN_PREFIX)).toBe(arn('ec2', 'instance/'));
    }
  });

  it('keeps each function log for one month', () => {
    for (const id of [apiFnId, schedulerFnId, healthFnId]) {
      const fn = template.findResources('AWS::Lambda::Function')[id] as { Properties: { LoggingConfig: { LogGroup: { Ref: string } } } };
      const logGroup = template.findResources('AWS::Logs::LogGroup')[fn.Properties.LoggingConfig.LogGroup.Ref] as {
        Properties: { RetentionInDays: number };
      };
      expect(logGroup.Properties.RetentionInDays).toBe(30);
    }
  });

  it('stages each function as an ESM index.mjs whose handler export Lambda can call', async () => {
    for (const [id, expected] of [
      [apiFnId, { statusCode: 200, body: JSON.stringify({ cluster: null }) }],
      [schedulerFnId, { cluster: null }],
      [healthFnId, { cluster: null, checksPerRun: null }],
    ] as const) {
      const fn = template.findResources('AWS::Lambda::Function')[id] as { Properties: { Code: { S3Key: string } } };
      const assetDir = path.join(synth.outdir, `asset.${fn.Properties.Code.S3Key.replace(/\.zip$/, '')}`);
      // The API function's asset also holds the web console's files (test/infra/console.test.ts).
      expect(fs.readdirSync(assetDir).sort()).toEqual(id === apiFnId ? ['console', 'index.mjs', 'index.mjs.map'] : ['index.mjs', 'index.mjs.map']);
      const module = (await import(pathToFileURL(path.join(assetDir, 'index.mjs')).href)) as { handler: () => Promise<unknown> };
      const saved = process.env.SKIFF_CLUSTER;
      delete process.env.SKIFF_CLUSTER;
      try {
        expect(await module.handler()).toEqual(expected);
      } finally {
        if (saved !== undefined) process.env.SKIFF_CLUSTER = saved;
      }
    }
  });

  it('drops scheduler and health invocations that wait longer than a minute instead of retrying them', () => {
    for (const id of [schedulerFnId, healthFnId]) {
      template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
        FunctionName: { Ref: id },
        MaximumRetryAttempts: 0,
        MaximumEventAgeInSeconds: 60,
      });
    }
  });
});

describe('IAM', () => {
  it("lets the API read and write the table, invoke the scheduler and manage the cluster's secret parameters, and nothing else", () => {
    const roleId = functionRoleId(template, apiFnId);
    const statements = roleStatements(template, roleId);
    const secrets = ['ssm:AddTagsToResource', 'ssm:DeleteParameter', 'ssm:GetParameter', 'ssm:PutParameter'];
    // Central logs: reading the cluster's log group (test/infra/logs.test.ts has the resource).
    const logs = ['logs:DescribeLogStreams', 'logs:FilterLogEvents', 'logs:GetLogEvents'];
    expect(actionsOf(statements)).toEqual([...TABLE_ACTIONS, 'lambda:InvokeFunction', ...XRAY_ACTIONS, ...secrets, ...logs].sort());
    expectTableGrant(statements);
    const invoke = statements.find((s) => list(s.Action).includes('lambda:InvokeFunction'))!;
    expect(list(invoke.Resource).map(render).sort()).toEqual([`\${${schedulerFnId}.Arn}`, `\${${schedulerFnId}.Arn}:*`]);
    expectNoWildcards(statements);
    expect(managedPolicies(template, roleId)).toEqual(['arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole']);
  });

  it('lets the health function read and write the table, invoke the scheduler and report failures, and nothing else (no SSM)', () => {
    const roleId = functionRoleId(template, healthFnId);
    const statements = roleStatements(template, roleId);
    expect(actionsOf(statements)).toEqual([...TABLE_ACTIONS, 'lambda:InvokeFunction', ...QUEUE_ACTIONS, ...XRAY_ACTIONS].sort());
    expectTableGrant(statements);
    const invoke = statements.filter((s) => list(s.Action).includes('lambda:InvokeFunction'));
    expect(invoke).toHaveLength(1);
    expect(list(invoke[0]!.Action)).toEqual(['lambda:InvokeFunction']);
    expect(list(invoke[0]!.Resource).map(render).sort()).toEqual([`\${${schedulerFnId}.Arn}`, `\${${schedulerFnId}.Arn}:*`]);
    expectNoWildcards(statements);
    expect(managedPolicies(template, roleId)).toEqual(['arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole']);
  });

  it('lets the scheduler manage parameters under /skiff/<cluster> only', () => {
    const statements = roleStatements(template, functionRoleId(template, schedulerFnId));
    expect(actionsOf(statements)).toEqual(
      [
        ...new Set([
          ...TABLE_ACTIONS,
          ...STREAM_ACTIONS,
          ...XRAY_ACTIONS,
          ...QUEUE_ACTIONS,
          'route53:ChangeResourceRecordSets',
          'route53:ListResourceRecordSets',
          ...ELB_DESCRIBE_ACTIONS,
          ...ELB_TARGET_GROUP_ACTIONS,
          ...ELB_RULE_ACTIONS,
          'elasticloadbalancing:AddTags',
          'ssm:AddTagsToResource',
          'ssm:DeleteParameter*',
          'ssm:GetParameter*',
          'ssm:PutParameter',
          'ssm:SendCommand',
          ...EC2_ROUTE_ACTIONS,
          'ec2:DescribeInstanceTypes',
        ]),
      ].sort(),
    );
    expectTableGrant(statements.filter((s) => !list(s.Resource).some((r) => render(r).includes('StreamArn') || r === '*')));
    expectNoWildcards(statements, [
      'dynamodb:ListStreams',
      ...ELB_DESCRIBE_ACTIONS,
      'ec2:DescribeInstances',
      'ec2:DescribeInstanceTypes',
      'ec2:DescribeRouteTables',
    ]);
    // What EC2 says a host's instance is (type, private IP): the bound on its agent's claim.
    expect(list(bySid(statements, 'HostMachineFacts').Action).sort()).toEqual(['ec2:DescribeInstanceTypes', 'ec2:DescribeInstances']);
    const documents = bySid(statements, 'HostDocuments');
    expect(list(documents.Action).sort()).toEqual(['ssm:DeleteParameter*', 'ssm:GetParameter*', 'ssm:PutParameter']);
    expect(list(documents.Resource).map(render)).toEqual([arn('ssm', 'parameter/skiff/test/*')]);
    const tagging = bySid(statements, 'TagHostDocuments');
    expect(list(tagging.Resource).map(render)).toEqual([arn('ssm', 'parameter/skiff/test/hosts/*')]);
  });

  it('creates a Run Command document whose one fixed command signals the agent, and takes no parameters', () => {
    template.hasResourceProperties('AWS::SSM::Document', {
      DocumentType: 'Command',
      Content: {
        schemaVersion: '2.2',
        description: Match.stringLikeRegexp('Skiff'),
        mainSteps: [
          {
            action: 'aws:runShellScript',
            name: Match.anyValue(),
            inputs: { runCommand: ['systemctl kill -s USR1 skiff-agent'], timeoutSeconds: Match.anyValue() },
          },
        ],
      },
    });
    const doc = template.findResources('AWS::SSM::Document');
    expect(Object.keys(doc)).toHaveLength(1);
    const content = (Object.values(doc)[0] as { Properties: { Content: Record<string, unknown> } }).Properties.Content;
    // Nothing the sender passes can change what runs: no parameters, no {{ }} interpolation.
    expect(content.parameters).toBeUndefined();
    expect(JSON.stringify(content)).not.toContain('{{');
  });

  it('tells the scheduler, and only the scheduler, the name of the wake-up document', () => {
    const docId = onlyResource(template, 'AWS::SSM::Document');
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'Skiff scheduler (cluster test)',
      Environment: { Variables: Match.objectLike({ SKIFF_WAKE_DOCUMENT: { Ref: docId } }) },
    });
    for (const fnId of [apiFnId, healthFnId]) {
      const fn = template.findResources('AWS::Lambda::Function')[fnId] as { Properties: { Environment: { Variables: Record<string, unknown> } } };
      expect(fn.Properties.Environment.Variables.SKIFF_WAKE_DOCUMENT).toBeUndefined();
    }
  });

  it('lets the scheduler send only the wake-up document, and only to instances tagged skiff:cluster=<cluster>', () => {
    const docId = onlyResource(template, 'AWS::SSM::Document');
    const statements = roleStatements(template, functionRoleId(template, schedulerFnId));
    const sendCommand = statements.filter((s) => list(s.Action).includes('ssm:SendCommand'));
    expect(sendCommand.every((s) => list(s.Action).length === 1 && s.Effect === 'Allow')).toBe(true);
    expect(sendCommand.map((s) => ({ resources: list(s.Resource).map(render), condition: s.Condition }))).toEqual(
      expect.arrayContaining([
        { resources: [arn('ssm', `document/\${${docId}}`)], condition: undefined },
        {
          resources: [arn('ec2', 'instance/*')],
          condition: { StringEquals: { 'ssm:resourceTag/skiff:cluster': 'test' } },
        },
      ]),
    );
    expect(sendCommand).toHaveLength(2);
    // AWS-RunShellScript (any command as root on every host) appears nowhere in the template.
    expect(JSON.stringify(template.toJSON())).not.toContain('AWS-RunShellScript');
  });

  it('lets the scheduler route host subnets only in the route tables of the host subnets, and change only instances tagged skiff:cluster=<cluster>', () => {
    const statements = roleStatements(template, functionRoleId(template, schedulerFnId));
    const routes = bySid(statements, 'HostSubnetRoutes');
    expect(list(routes.Action).sort()).toEqual(['ec2:CreateRoute', 'ec2:DeleteRoute', 'ec2:ReplaceRoute']);
    expect(list(routes.Resource).map(render).sort()).toEqual(
      hostRouteTables()
        .map((id) => arn('ec2', `route-table/\${${id}}`))
        .sort(),
    );
    expect(routes.Condition).toBeUndefined();
    const forwarding = bySid(statements, 'HostForwarding');
    expect(list(forwarding.Action).sort()).toEqual(['ec2:CreateRoute', 'ec2:ModifyInstanceAttribute', 'ec2:ReplaceRoute']);
    expect(list(forwarding.Resource).map(render)).toEqual([arn('ec2', 'instance/*')]);
    expect(forwarding.Condition).toEqual({ StringEquals: { 'aws:ResourceTag/skiff:cluster': 'test' } });
    const states = bySid(statements, 'HostInstanceStates');
    expect(list(states.Action)).toEqual(['ec2:DescribeInstances', 'ec2:DescribeRouteTables']);
  });

  describe('host role', () => {
    let roleId: string;
    let statements: Statement[];
    beforeAll(() => {
      roleId = onlyResource(template, 'AWS::IAM::Role', (p) => JSON.stringify(p.AssumeRolePolicyDocument).includes('ec2.amazonaws.com'));
      statements = roleStatements(template, roleId);
    });

    it('is assumable by EC2 and carries AmazonSSMManagedInstanceCore for Session Manager and Run Command', () => {
      expect(managedPolicies(template, roleId)).toEqual(['arn:${AWS::Partition}:iam::aws:policy/AmazonSSMManagedInstanceCore']);
      const profile = onlyResource(template, 'AWS::IAM::InstanceProfile');
      template.hasResourceProperties('AWS::IAM::InstanceProfile', { Roles: [{ Ref: roleId }] });
      expect(profile).toBeTruthy();
    });

    it('reads only host parameters tagged with its own instance ARN', () => {
      const read = bySid(statements, 'ReadOwnHostDocument');
      expect(read.Effect).toBe('Allow');
      expect(list(read.Action).sort()).toEqual(['ssm:GetParameter', 'ssm:GetParameters']);
      expect(list(read.Resource).map(render)).toEqual([arn('ssm', 'parameter/skiff/test/hosts/*')]);
      expect(read.Condition).toEqual({ StringEquals: { 'aws:ResourceTag/skiff:host-arn': '${ec2:SourceInstanceARN}' } });
    });

    it('is denied every Skiff parameter not tagged with its own ARN, overriding the managed policy', () => {
      const deny = bySid(statements, 'DenyOtherSkiffParameters');
      expect(deny.Effect).toBe('Deny');
      expect(list(deny.Action)).toEqual(['ssm:GetParameter*']);
      expect(list(deny.Resource).map(render)).toEqual([arn('ssm', 'parameter/skiff/*')]);
      expect(deny.Condition).toEqual({
        StringNotEquals: { 'aws:ResourceTag/skiff:host-arn': '${ec2:SourceInstanceARN}', 'aws:ResourceTag/skiff:cluster-secret': 'test' },
      });
    });

    it("reads only its own cluster's secret parameters, by path and tag; the API alone writes them", () => {
      const read = bySid(statements, 'ReadClusterSecrets');
      expect(read.Effect).toBe('Allow');
      expect(list(read.Action)).toEqual(['ssm:GetParameter']);
      expect(list(read.Resource).map(render)).toEqual([arn('ssm', 'parameter/skiff/test/secrets/*')]);
      expect(read.Condition).toEqual({ StringEquals: { 'aws:ResourceTag/skiff:cluster-secret': 'test' } });
      expect(SECRET_TAG_KEY).toBe(VAULT_TAG_KEY);
      const manage = bySid(roleStatements(template, functionRoleId(template, apiFnId)), 'ManageClusterSecrets');
      expect(list(manage.Action).sort()).toEqual(['ssm:AddTagsToResource', 'ssm:DeleteParameter', 'ssm:GetParameter', 'ssm:PutParameter']);
      expect(list(manage.Resource).map(render)).toEqual([arn('ssm', 'parameter/skiff/test/secrets/*')]);
      for (const fn of [schedulerFnId]) {
        expect(JSON.stringify(roleStatements(template, functionRoleId(template, fn)))).not.toContain('/secrets/');
      }
    });

    it('reads no table item: the agent reads nothing from the table, and its host record is not its own to read back', () => {
      expect(statements.some((st) => st.Sid === 'ReadOwnHostItems')).toBe(false);
      expect(actionsOf(statements).filter((a) => a.startsWith('dynamodb:'))).toEqual(['dynamodb:PutItem']);
    });

    it('puts only its own items, naming only the attributes of its report and heartbeat (none of its host record), and reads nothing back', () => {
      const write = bySid(statements, 'WriteOwnHostItems');
      expect(list(write.Action)).toEqual(['dynamodb:PutItem']);
      expect(list(write.Resource).map(render)).toEqual([`\${${tableId}.Arn}`]);
      expect(write.Condition).toEqual({
        'ForAllValues:StringEquals': {
          'dynamodb:LeadingKeys': ['HOST#${ec2:SourceInstanceARN}'],
          'dynamodb:Attributes': [...HOST_WRITABLE_ATTRIBUTES],
        },
        StringEqualsIfExists: { 'dynamodb:ReturnValues': ['NONE'] },
      });
      // The host record is the control plane's (registered from the claim in the report): a host
      // cannot move itself between ready, down and drained, nor rewrite its capacity or address.
      for (const attribute of ['state', 'stateSince', 'capacity', 'address', 'labels', 'version', 'allocations', 'registeredAt', 'id'])
        expect(HOST_WRITABLE_ATTRIBUTES).not.toContain(attribute);
      // The key attributes are named by every write, so a list without them would refuse every call.
      expect(HOST_WRITABLE_ATTRIBUTES).toEqual(expect.arrayContaining(['pk', 'sk']));
      // Attributes only the control plane writes stay out of reach: the events' TTL, a host's state
      // change time, a subnet's route flag, a publication's hash, a service's deletion, a task's desired state.
      for (const attribute of ['expiresAt', 'since', 'routed', 'hash', 'deleting', 'desired']) expect(HOST_WRITABLE_ATTRIBUTES).not.toContain(attribute);
    });

    it('checks the very keys and tags the adapters write for a host, given the prefix the functions and hosts get', () => {
      // What ${ec2:SourceInstanceARN} becomes for instance i-0abc in account 123456789012, eu-west-1.
      const prefix = 'arn:aws:ec2:eu-west-1:123456789012:instance/';
      const sourceArn = `${prefix}i-0abc`;
      const resolve = (value: string) => value.replaceAll('${ec2:SourceInstanceARN}', sourceArn);
      const rendered = (v: unknown) =>
        render(v).replace('${AWS::Partition}', 'aws').replace('${AWS::Region}', 'eu-west-1').replace('${AWS::AccountId}', '123456789012');

      const items = bySid(statements, 'WriteOwnHostItems');
      const leadingKeys = list(items.Condition!['ForAllValues:StringEquals']!['dynamodb:LeadingKeys'] as string | string[]);
      expect(leadingKeys.map(resolve)).toEqual([hostPartitionKey(prefix, 'i-0abc')]);

      const read = bySid(statements, 'ReadOwnHostDocument');
      expect(read.Condition).toEqual({ StringEquals: { [`aws:ResourceTag/${ADAPTER_TAG_KEY}`]: '${ec2:SourceInstanceARN}' } });
      expect(HOST_ARN_TAG_KEY).toBe(ADAPTER_TAG_KEY);

      const fn = template.findResources('AWS::Lambda::Function')[schedulerFnId] as { Properties: { Environment: { Variables: Record<string, unknown> } } };
      expect(rendered(fn.Properties.Environment.Variables.SKIFF_HOST_ARN_PREFIX)).toBe(prefix);
      expect(hostPartitionKey(prefix, 'i-0abc')).toBe(`HOST#${sourceArn}`);
    });

    it('downloads only the agent bundle object, and has no other permission', () => {
      const download = bySid(statements, 'DownloadAgentBundle');
      expect(list(download.Action)).toEqual(['s3:GetObject']);
      expect(list(download.Resource).map(render)[0]).toMatch(
        /^arn:\$\{AWS::Partition\}:s3:::cdk-[a-z0-9]+-assets-\$\{AWS::AccountId\}-\$\{AWS::Region\}\/[0-9a-f]{64}\.mjs$/,
      );
      expect(actionsOf(statements)).toEqual(
        [
          'dynamodb:PutItem',
          // Persistent volumes: the cluster's EFS access points (test/infra/volumes.test.ts has their conditions).
          'elasticfilesystem:ClientMount',
          'elasticfilesystem:ClientWrite',
          'elasticfilesystem:CreateAccessPoint',
          'elasticfilesystem:DeleteAccessPoint',
          'elasticfilesystem:DescribeAccessPoints',
          'elasticfilesystem:TagResource',
          // Central logs: its streams in the cluster's log group (test/infra/logs.test.ts).
          'logs:CreateLogStream',
          'logs:GetLogEvents',
          'logs:PutLogEvents',
          's3:GetObject',
          'ssm:GetParameter',
          'ssm:GetParameter*',
          'ssm:GetParameters',
          // Workload identity (test/infra/workload-identity.test.ts has their resources).
          'sts:AssumeRole',
          'execute-api:Invoke',
        ].sort(),
      );
      expectNoWildcards(statements);
    });
  });
});

describe('HTTP API', () => {
  it('routes ANY / and ANY /{proxy+} to the API function with IAM authorization, and /user/... with the user pool JWT', () => {
    const integrations = template.findResources('AWS::ApiGatewayV2::Integration');
    const integrationIds = Object.keys(integrations);
    expect(integrationIds).toHaveLength(1);
    template.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
      IntegrationType: 'AWS_PROXY',
      PayloadFormatVersion: '2.0',
      IntegrationUri: { 'Fn::GetAtt': [apiFnId, 'Arn'] },
    });
    const routes = Object.values(template.findResources('AWS::ApiGatewayV2::Route')).map(
      (r) => (r as { Properties: { RouteKey: string; AuthorizationType: string; Target: unknown } }).Properties,
    );
    expect(routes.map((r) => r.RouteKey).sort()).toEqual([
      'ANY /',
      'ANY /user',
      'ANY /user/{proxy+}',
      'ANY /{proxy+}',
      'GET /.well-known/jwks.json',
      'GET /.well-known/openid-configuration',
      'GET /console',
      'GET /console/console.css',
      'GET /console/console.js',
    ]);
    for (const route of routes) {
      expect(route.AuthorizationType).toBe(
        route.RouteKey.startsWith('ANY /user') ? 'JWT' : /^GET \/(\.well-known|console)(\/|$)/.test(route.RouteKey) ? 'NONE' : 'AWS_IAM',
      );
      expect(render(route.Target)).toBe(`integrations/\${${integrationIds[0]}}`);
    }
  });

  it('alarms on the errors and throttles of every control function, the two autoscalers included', () => {
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')) as { Properties: { AlarmName: string; MetricName?: string } }[];
    const names = alarms.map((a) => a.Properties.AlarmName);
    for (const fn of ['Api', 'Scheduler', 'Health', 'Autoscaler', 'HostAutoscaler']) {
      expect(names).toContain(`skiff-test-${fn}Errors`);
      expect(names).toContain(`skiff-test-${fn}Throttles`);
    }
  });

  it('outputs the alarm topic, API URL, table, cluster name, parameter prefix, host group name, load balancer DNS name and hosted zone', () => {
    const apiId = onlyResource(template, 'AWS::ApiGatewayV2::Api');
    const outputs = template.findOutputs('*') as Record<string, { Value: unknown }>;
    expect(Object.keys(outputs).sort()).toEqual([
      'AlarmTopicArn',
      'ApiUrl',
      'ClusterName',
      'HostAutoScalingGroupName',
      'HostedZoneId',
      'LoadBalancerDnsName',
      'ParameterPrefix',
      'TableName',
      'UserPoolClientId',
      'UserPoolId',
    ]);
    expect(outputs.LoadBalancerDnsName!.Value).toEqual({ 'Fn::GetAtt': [albId, 'DNSName'] });
    expect(outputs.HostedZoneId!.Value).toEqual({ Ref: zoneId });
    expect(render(outputs.ApiUrl!.Value)).toBe(`https://\${${apiId}}.execute-api.\${AWS::Region}.\${AWS::URLSuffix}/`);
    expect(outputs.TableName!.Value).toEqual({ Ref: tableId });
    expect(outputs.ClusterName!.Value).toBe('test');
    expect(outputs.ParameterPrefix!.Value).toBe('/skiff/test');
    expect(outputs.HostAutoScalingGroupName!.Value).toEqual({ Ref: onlyResource(template, 'AWS::AutoScaling::AutoScalingGroup') });
  });
});

describe('schedule', () => {
  it('runs the scheduler every minute, without retries', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      State: 'ENABLED',
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [schedulerFnId, 'Arn'] },
          RetryPolicy: { MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 60 },
        }),
      ],
    });
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: 'events.amazonaws.com',
      FunctionName: { 'Fn::GetAtt': [schedulerFnId, 'Arn'] },
    });
  });

  it('runs the health function every minute, without retries, and nothing else may invoke it', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      State: 'ENABLED',
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [healthFnId, 'Arn'] },
          RetryPolicy: { MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 60 },
        }),
      ],
    });
    const permissions = Object.values(template.findResources('AWS::Lambda::Permission'))
      .map((r) => (r as { Properties: { FunctionName: unknown; Principal: string } }).Properties)
      .filter((p) => render(p.FunctionName) === `\${${healthFnId}.Arn}`);
    expect(permissions.map((p) => p.Principal)).toEqual(['events.amazonaws.com']);
  });
});

describe('hosts', () => {
  it('launches Graviton hosts from the latest arm64 Amazon Linux 2023 AMI', () => {
    template.hasParameter('*', {
      Type: 'AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>',
      Default: Match.stringLikeRegexp('^/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-.*-arm64$'),
    });
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({ InstanceType: 't4g.small' }),
    });
  });

  it('requires IMDSv2 with a hop limit of 1, encrypts a gp3 root volume and sets no key pair', () => {
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({
        MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 1 },
        BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { Encrypted: true, VolumeType: 'gp3', VolumeSize: 30, DeleteOnTermination: true } }],
        KeyName: Match.absent(),
      }),
    });
  });

  it('opens the published-port range only to the load balancer, and the hosts only to the cluster CIDR (no SSH)', () => {
    template.hasResourceProperties('AWS::EC2::SecurityGroup', {
      GroupDescription: Match.stringLikeRegexp('^Skiff hosts'),
      // Containers on other hosts arrive with their own addresses (routed, not translated).
      SecurityGroupIngress: [{ CidrIp: '10.200.0.0/16', IpProtocol: '-1', Description: 'Containers of the cluster, on any host' }],
    });
    // Two ingress rules: the load balancer to the hosts, and the hosts to the EFS mount targets (NFS).
    expect(Object.keys(template.findResources('AWS::EC2::SecurityGroupIngress'))).toHaveLength(2);
    template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      SourceSecurityGroupId: { 'Fn::GetAtt': [hostSgId, 'GroupId'] },
      IpProtocol: 'tcp',
      FromPort: 2049,
      ToPort: 2049,
    });
    template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      GroupId: { 'Fn::GetAtt': [hostSgId, 'GroupId'] },
      SourceSecurityGroupId: { 'Fn::GetAtt': [albSgId, 'GroupId'] },
      IpProtocol: 'tcp',
      FromPort: 32768,
      ToPort: 60999,
      CidrIp: Match.absent(),
    });
  });

  it('sizes the Auto Scaling group from the props and tags its instances skiff:cluster=<cluster>', () => {
    template.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', {
      MinSize: '1',
      MaxSize: '250',
      DesiredCapacity: '2',
      Tags: Match.arrayWith([{ Key: 'skiff:cluster', Value: 'test', PropagateAtLaunch: true }]),
    });
  });

  it('places hosts in the private subnets of a two-AZ VPC with one NAT gateway', () => {
    expect(Object.keys(template.findResources('AWS::EC2::NatGateway'))).toHaveLength(1);
    const subnets = Object.entries(template.findResources('AWS::EC2::Subnet')).filter(
      ([, s]) => (s as { Properties: { MapPublicIpOnLaunch: boolean } }).Properties.MapPublicIpOnLaunch === false,
    );
    expect(subnets).toHaveLength(2);
    template.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', {
      VPCZoneIdentifier: Match.arrayEquals(subnets.map(([id]) => ({ Ref: id }))),
    });
  });

  describe('user data', () => {
    let script: string;
    beforeAll(() => {
      const lt = Object.values(template.findResources('AWS::EC2::LaunchTemplate'))[0] as {
        Properties: { LaunchTemplateData: { UserData: unknown } };
      };
      script = render(lt.Properties.LaunchTemplateData.UserData);
    });

    it('installs Docker and Node.js 22 from the AL2023 repositories', () => {
      expect(script.startsWith('#!/bin/bash\n')).toBe(true);
      expect(script).toContain('dnf install -y docker iptables-nft nodejs22');
      expect(script).toContain('systemctl enable --now docker');
    });

    it('takes an IMDSv2 token before reading the instance id and private address', () => {
      const tokenAt = script.indexOf('-X PUT "http://169.254.169.254/latest/api/token" -H "X-aws-ec2-metadata-token-ttl-seconds: 300"');
      expect(tokenAt).toBeGreaterThan(0);
      expect(script.indexOf('meta-data/instance-id')).toBeGreaterThan(tokenAt);
      expect(script).toContain('-H "X-aws-ec2-metadata-token: $TOKEN" "http://169.254.169.254/latest/meta-data/local-ipv4"');
    });

    it('downloads the agent bundle asset and writes the agent environment with the deploy-time names', () => {
      expect(script).toMatch(/aws s3 cp "s3:\/\/cdk-[a-z0-9]+-assets-\$\{AWS::AccountId\}-\$\{AWS::Region\}\/[0-9a-f]{64}\.mjs" \/opt\/skiff\/agent\.mjs/);
      for (const line of [
        'SKIFF_CLUSTER=test',
        `SKIFF_TABLE=\${${tableId}}`,
        'SKIFF_PARAM_PREFIX=/skiff/test',
        'SKIFF_REGION=${AWS::Region}',
        'SKIFF_HOST_ID=${HOST_ID}',
        'SKIFF_HOST_ADDRESS=${HOST_ADDRESS}',
        `SKIFF_HOST_ARN_PREFIX=${arn('ec2', 'instance/')}`,
      ]) {
        expect(script).toContain(`\n${line}\n`);
      }
    });

    it('gives the agents the configured heartbeat and a poll interval sized for maxHosts (250 hosts: 13 s)', () => {
      expect(script).toContain('\nSKIFF_HEARTBEAT_SECONDS=10\n');
      expect(script).toContain('\nSKIFF_POLL_SECONDS=13\n');
    });

    it("gives the agents a drain delay equal to the scheduler's ALB deregistration delay, so both count the same drain", () => {
      const fn = template.findResources('AWS::Lambda::Function')[schedulerFnId] as { Properties: { Environment: { Variables: Record<string, unknown> } } };
      const delay = render(fn.Properties.Environment.Variables.SKIFF_DEREGISTRATION_DELAY_SECONDS);
      expect(delay).toBe('30');
      expect(script).toContain(`\nSKIFF_DRAIN_SECONDS=${delay}\n`);
    });

    it('runs the agent as the skiff-agent systemd service that always restarts and records its pid', () => {
      expect(script).toContain("cat > /etc/systemd/system/skiff-agent.service <<'EOF'\n[Unit]");
      expect(script).toContain('ExecStart=/usr/bin/node-22 /opt/skiff/agent.mjs');
      expect(script).toContain('Restart=always\nRestartSec=2');
      expect(script).toContain("ExecStartPost=/bin/sh -c 'echo $MAINPID > /run/skiff-agent.pid'");
      expect(script.trimEnd().endsWith('systemctl enable --now skiff-agent')).toBe(true);
    });
  });
});

describe('service discovery', () => {
  it('creates the private hosted zone named by dnsZoneName on the cluster VPC', () => {
    template.hasResourceProperties('AWS::Route53::HostedZone', {
      Name: 'apps.test.internal.',
      VPCs: [{ VPCId: { Ref: vpcId }, VPCRegion: { Ref: 'AWS::Region' } }],
    });
  });

  it('lets the scheduler change and list records of that zone only, and nothing else in Route 53', () => {
    const statements = roleStatements(template, functionRoleId(template, schedulerFnId));
    const dns = statements.filter((s) => list(s.Action).some((a) => a.startsWith('route53:')));
    expect(dns).toHaveLength(1);
    expect(list(dns[0]!.Action).sort()).toEqual(['route53:ChangeResourceRecordSets', 'route53:ListResourceRecordSets']);
    expect(list(dns[0]!.Resource).map(render)).toEqual([`arn:\${AWS::Partition}:route53:::hostedzone/\${${zoneId}}`]);
  });
});

describe('load balancer', () => {
  it('is an internet-facing application load balancer in the public subnets, behind its own security group', () => {
    const publicSubnets = Object.entries(template.findResources('AWS::EC2::Subnet'))
      .filter(([, r]) => (r as { Properties: { MapPublicIpOnLaunch: boolean } }).Properties.MapPublicIpOnLaunch)
      .map(([id]) => ({ Ref: id }));
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      Type: 'application',
      Scheme: 'internet-facing',
      Subnets: Match.arrayEquals(publicSubnets),
      SecurityGroups: [{ 'Fn::GetAtt': [albSgId, 'GroupId'] }],
    });
  });

  it('writes access logs to a private SSE-S3 bucket kept 90 days, once the bucket grants ELB the writes', () => {
    const bucketId = onlyResource(template, 'AWS::S3::Bucket', (p) => JSON.stringify(p).includes('expire-access-logs'));
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      LifecycleConfiguration: { Rules: [Match.objectLike({ Id: 'expire-access-logs', ExpirationInDays: 90, Status: 'Enabled' })] },
    });
    template.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Retain' });
    const policyId = onlyResource(template, 'AWS::S3::BucketPolicy', (p) => (p.Bucket as { Ref: string }).Ref === bucketId);
    const lb = template.findResources('AWS::ElasticLoadBalancingV2::LoadBalancer')[albId] as {
      DependsOn: string[];
      Properties: { LoadBalancerAttributes: { Key: string; Value: unknown }[] };
    };
    expect(lb.Properties.LoadBalancerAttributes).toEqual(
      expect.arrayContaining([
        { Key: 'access_logs.s3.enabled', Value: 'true' },
        { Key: 'access_logs.s3.bucket', Value: { Ref: bucketId } },
        { Key: 'access_logs.s3.prefix', Value: 'alb' },
      ]),
    );
    expect(lb.DependsOn).toContain(policyId);
  });

  it('lets ELB write logs as its regional account (older regions) or its log-delivery service (newer ones), only under alb/AWSLogs/<account>/', () => {
    const policy = Object.values(template.findResources('AWS::S3::BucketPolicy')).find((r) => JSON.stringify(r).includes('ElbAccountLogDelivery')) as {
      Properties: { PolicyDocument: { Statement: { Sid?: string; Principal: Record<string, unknown>; Resource: unknown; Action: string }[] } };
    };
    const statements = policy.Properties.PolicyDocument.Statement;
    const account = statements.find((st) => st.Sid === 'ElbAccountLogDelivery')!;
    const service = statements.find((st) => st.Sid === 'ElbServiceLogDelivery')!;
    expect(service.Principal).toEqual({ Service: 'logdelivery.elasticloadbalancing.amazonaws.com' });
    for (const st of [account, service]) {
      expect(st.Action).toBe('s3:PutObject');
      expect(render(st.Resource)).toMatch(/^\$\{\w+\.Arn\}\/alb\/AWSLogs\/\$\{AWS::AccountId\}\/\*$/);
    }
    // arn:<partition>:iam::<If ElbLogsByAccount then the mapped account else this account>:root
    const json = template.toJSON() as { Mappings: Record<string, Record<string, { account: string }>>; Conditions: Record<string, unknown> };
    const [mapId] = Object.keys(json.Mappings).filter((id) => id.startsWith('ClusterElbLogDeliveryAccounts'));
    const [conditionId] = Object.keys(json.Conditions).filter((id) => id.startsWith('ClusterElbLogsByAccount'));
    const principal = JSON.stringify(account.Principal);
    expect(principal).toContain(`"Fn::If":["${conditionId}",{"Fn::FindInMap":["${mapId}",{"Ref":"AWS::Region"},"account"]},{"Ref":"AWS::AccountId"}]`);
    const mapping = json.Mappings[mapId];
    expect(mapping['eu-west-1']).toEqual({ account: '156460612806' });
    expect(mapping['us-east-1']).toEqual({ account: '127311923021' });
    expect(mapping['il-central-1']).toEqual({ account: 'service' });
    expect(json.Conditions[conditionId]).toEqual({
      'Fn::Not': [{ 'Fn::Equals': [{ 'Fn::FindInMap': [mapId, { Ref: 'AWS::Region' }, 'account'] }, 'service'] }],
    });
  });

  it('listens with HTTPS on 443 with the given certificate and answers unknown hosts with a fixed 404', () => {
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      LoadBalancerArn: { Ref: albId },
      Port: 443,
      Protocol: 'HTTPS',
      Certificates: [{ CertificateArn: CERTIFICATE_ARN }],
      SslPolicy: 'ELBSecurityPolicy-TLS13-1-2-2021-06',
      DefaultActions: [{ Type: 'fixed-response', FixedResponseConfig: Match.objectLike({ StatusCode: '404' }) }],
    });
  });

  it('accepts HTTPS (and HTTP, redirected) from anywhere and sends only to the hosts, on the published-port range', () => {
    template.hasResourceProperties('AWS::EC2::SecurityGroup', {
      GroupDescription: Match.stringLikeRegexp('^Skiff load balancer'),
      SecurityGroupIngress: [
        Match.objectLike({ CidrIp: '0.0.0.0/0', IpProtocol: 'tcp', FromPort: 443, ToPort: 443 }),
        Match.objectLike({ CidrIp: '0.0.0.0/0', IpProtocol: 'tcp', FromPort: 80, ToPort: 80 }),
      ],
    });
    const albSg = template.findResources('AWS::EC2::SecurityGroup')[albSgId] as { Properties: { SecurityGroupEgress?: unknown[] } };
    // No inline allow-all rule (allowAllOutbound is off): the one egress rule is the one below.
    expect(JSON.stringify(albSg.Properties.SecurityGroupEgress ?? [])).not.toContain('0.0.0.0/0');
    expect(Object.keys(template.findResources('AWS::EC2::SecurityGroupEgress'))).toHaveLength(1);
    template.hasResourceProperties('AWS::EC2::SecurityGroupEgress', {
      GroupId: { 'Fn::GetAtt': [albSgId, 'GroupId'] },
      DestinationSecurityGroupId: { 'Fn::GetAtt': [hostSgId, 'GroupId'] },
      IpProtocol: 'tcp',
      FromPort: DOCKER_PUBLISHED_PORTS.from,
      ToPort: DOCKER_PUBLISHED_PORTS.to,
    });
  });

  describe('scheduler IAM for AlbLoadBalancer', () => {
    let statements: Statement[];
    beforeAll(() => {
      statements = roleStatements(template, functionRoleId(template, schedulerFnId));
    });
    const elbArn = (rest: string) => arn('elasticloadbalancing', rest);

    it('grants the four Describe calls on * (they have no resource type)', () => {
      const read = bySid(statements, 'LoadBalancerRead');
      expect(list(read.Action).sort()).toEqual(ELB_DESCRIBE_ACTIONS);
      expect(read.Resource).toBe('*');
    });

    it("scopes target-group changes to this cluster's names: the prefix, a hyphen and exactly 12 characters", () => {
      const groups = bySid(statements, 'LoadBalancerTargetGroups');
      expect(list(groups.Action).sort()).toEqual(ELB_TARGET_GROUP_ACTIONS);
      expect(list(groups.Resource).map(render)).toEqual([elbArn('targetgroup/test-????????????/*')]);
    });

    it("scopes rule changes to this load balancer's listener and rules", () => {
      const rules = bySid(statements, 'LoadBalancerRules');
      expect(list(rules.Action).sort()).toEqual(ELB_RULE_ACTIONS);
      expect(list(rules.Resource).map(render).sort()).toEqual([`\${${listenerId}}`, elbArn(`listener-rule/\${${albId}.LoadBalancerFullName}/*`)].sort());
    });

    it('allows AddTags only as part of CreateTargetGroup and CreateRule', () => {
      const tags = bySid(statements, 'LoadBalancerTagOnCreate');
      expect(list(tags.Action)).toEqual(['elasticloadbalancing:AddTags']);
      expect(tags.Condition).toEqual({ StringEquals: { 'elasticloadbalancing:CreateAction': ['CreateTargetGroup', 'CreateRule'] } });
      expect(list(tags.Resource).map(render).sort()).toEqual(
        [elbArn('targetgroup/test-????????????/*'), elbArn(`listener-rule/\${${albId}.LoadBalancerFullName}/*`)].sort(),
      );
    });
  });
});

describe('scheduler triggers', () => {
  it('runs the scheduler from the table stream, batching 1 s, for the writes its filters list', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: schedulerFnId },
      EventSourceArn: { 'Fn::GetAtt': [tableId, 'StreamArn'] },
      StartingPosition: 'LATEST',
      MaximumBatchingWindowInSeconds: 1,
      MaximumRecordAgeInSeconds: 60,
    });
    const mapping = Object.values(template.findResources('AWS::Lambda::EventSourceMapping'))[0] as {
      Properties: { FilterCriteria: { Filters: { Pattern: string }[] } };
    };
    expect(mapping.Properties.FilterCriteria.Filters.map((f) => JSON.parse(f.Pattern) as unknown)).toEqual([
      { dynamodb: { Keys: { pk: { S: [{ prefix: 'SVC#' }, { prefix: 'SECRET#' }, 'VOLUMES', 'NAMESPACES'] } } } },
      { dynamodb: { Keys: { pk: { S: [{ prefix: 'HOST#' }] }, sk: { S: ['#HOST'] } } } },
    ]);
    expect(Object.keys(template.findResources('AWS::Lambda::EventSourceMapping'))).toHaveLength(1);
  });

  it('starts a pass for exactly the writes of services, tasks, host records, volumes, secrets and namespaces: never an event, a status or a heartbeat', () => {
    // The synthesized patterns, evaluated as Lambda does, against the keys the store writes (docs/state.md).
    const mapping = Object.values(template.findResources('AWS::Lambda::EventSourceMapping'))[0] as {
      Properties: { FilterCriteria: { Filters: { Pattern: string }[] } };
    };
    const filters = mapping.Properties.FilterCriteria.Filters.map((f) => JSON.parse(f.Pattern) as StreamKeyFilter);
    const passes = (key: { pk: string; sk: string }) => startsPass(key, filters);
    const prefix = 'arn:aws:ec2:eu-west-1:123456789012:instance/';
    const host = hostPartitionKey(prefix, 'i-0abc');
    const event = '2030-01-01T00:00:00.000Z#2030-01-01T00:00:00.000Z-task.created-web-1-abcde';
    const starting = {
      service: serviceKey('default', 'web'),
      task: taskKey('default', 'web', 3),
      'host record': { pk: host, sk: '#HOST' },
      'host record, local keys': { pk: 'HOST#h1', sk: '#HOST' },
      'volume record': { pk: 'VOLUMES', sk: 'default#db#data#000000' },
      secret: { pk: 'SECRET#default#token', sk: '#SECRET' },
      namespace: { pk: 'NAMESPACES', sk: 'team-a' },
    };
    const quiet = {
      'host status': { pk: host, sk: 'STATUS' },
      heartbeat: { pk: host, sk: 'BEAT' },
      'publication record': publishedKey('i-0abc'),
      'event, old log': { pk: 'EVENTS', sk: event },
      ...Object.fromEntries(Array.from({ length: EVENT_LOG_SHARDS }, (_, i) => [`event, log shard ${i}`, { pk: EVENT_LOG_KEYS[i + 1]!, sk: event }])),
      'event, service index': { pk: eventIndexKey('service', 'web'), sk: event },
      'event, namespace index': { pk: eventIndexKey('namespace', 'default'), sk: event },
      'event, host index': { pk: eventIndexKey('host', 'i-0abc'), sk: event },
      'health checkpoint': HEALTH_KEY,
      subnet: { pk: 'SUBNET#10.200.7.0/24', sk: 'SUBNET' },
      'subnet holder': { pk: 'SUBNETHOLDER#i-0abc', sk: 'SUBNETHOLDER' },
      'revoked token': { pk: 'REVOKED#abc', sk: 'TOKEN' },
    };
    expect(Object.entries(starting).filter(([, k]) => !passes(k))).toEqual([]);
    expect(Object.entries(quiet).filter(([, k]) => passes(k))).toEqual([]);
    // The pure rule the stack takes its filters from agrees with the template.
    for (const k of [...Object.values(starting), ...Object.values(quiet)]) expect(startsPass(k)).toBe(passes(k));
  });
});

describe('failure destinations', () => {
  it('keeps failed asynchronous invocations in an SSE-encrypted queue for 14 days, reachable over TLS only', () => {
    template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 86_400 });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: queueId }],
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
      },
    });
  });

  it('sends failed scheduler and health invocations to that queue', () => {
    for (const id of [schedulerFnId, healthFnId]) {
      template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
        FunctionName: { Ref: id },
        DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [queueId, 'Arn'] } } },
      });
    }
  });
});

describe('tags', () => {
  it('tags every taggable Skiff resource with skiff:cluster=<cluster>', () => {
    for (const type of ['AWS::DynamoDB::Table', 'AWS::Lambda::Function', 'AWS::IAM::Role', 'AWS::EC2::VPC', 'AWS::Events::Rule']) {
      for (const [id, resource] of Object.entries(template.findResources(type))) {
        if (id.startsWith('Custom')) continue; // CDK's own provider functions live outside the construct.
        expect((resource as { Properties: { Tags?: unknown[] } }).Properties.Tags, `${type} ${id}`).toEqual(
          expect.arrayContaining([{ Key: 'skiff:cluster', Value: 'test' }]),
        );
      }
    }
  });
});

describe('defaults', () => {
  let defaults: Synthesized;
  beforeAll(() => {
    defaults = synthFixtureStack({ hostInstanceType: new InstanceType('m7i.large') }, 'Skiff-defaults');
  });
  afterAll(() => defaults?.cleanup());

  it('names the cluster skiff, runs 1 to 3 hosts and leaves the desired count to the autoscaler', () => {
    defaults.template.hasOutput('ClusterName', { Value: 'skiff' });
    defaults.template.hasOutput('ParameterPrefix', { Value: '/skiff/skiff' });
    defaults.template.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', {
      MinSize: '1',
      MaxSize: '3',
      DesiredCapacity: Match.absent(),
    });
  });

  it('checks hosts against a 60 s grace, and has agents heartbeat every 15 s and poll every 5 s', () => {
    defaults.template.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'Skiff health (cluster skiff)',
      Environment: { Variables: Match.objectLike({ SKIFF_HOST_GRACE_SECONDS: '60' }) },
    });
    const lt = Object.values(defaults.template.findResources('AWS::EC2::LaunchTemplate'))[0] as {
      Properties: { LaunchTemplateData: { UserData: unknown } };
    };
    const script = render(lt.Properties.LaunchTemplateData.UserData);
    expect(script).toContain('\nSKIFF_HEARTBEAT_SECONDS=15\n');
    expect(script).toContain('\nSKIFF_POLL_SECONDS=5\n');
  });

  it('names the zone skiff.internal and gives the scheduler that name', () => {
    defaults.template.hasResourceProperties('AWS::Route53::HostedZone', { Name: 'skiff.internal.' });
    defaults.template.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'Skiff scheduler (cluster skiff)',
      Environment: { Variables: Match.objectLike({ SKIFF_DNS_ZONE: 'skiff.internal' }) },
    });
  });

  it('makes an internal load balancer in the private subnets, listening with HTTP on 80, reachable from the VPC only', () => {
    const t = defaults.template;
    const privateSubnets = Object.entries(t.findResources('AWS::EC2::Subnet'))
      .filter(([, r]) => !(r as { Properties: { MapPublicIpOnLaunch: boolean } }).Properties.MapPublicIpOnLaunch)
      .map(([id]) => ({ Ref: id }));
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', { Scheme: 'internal', Subnets: Match.arrayEquals(privateSubnets) });
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 80,
      Protocol: 'HTTP',
      Certificates: Match.absent(),
      DefaultActions: [{ Type: 'fixed-response', FixedResponseConfig: Match.objectLike({ StatusCode: '404' }) }],
    });
    const vpc = onlyResource(t, 'AWS::EC2::VPC');
    t.hasResourceProperties('AWS::EC2::SecurityGroup', {
      GroupDescription: Match.stringLikeRegexp('^Skiff load balancer'),
      SecurityGroupIngress: [Match.objectLike({ CidrIp: { 'Fn::GetAtt': [vpc, 'CidrBlock'] }, IpProtocol: 'tcp', FromPort: 80, ToPort: 80 })],
    });
  });

  it('scopes target groups of cluster skiff to skiff- and 12 characters, so a cluster skiff-a is out of reach', () => {
    const fnId = functionId(defaults.template, 'Skiff scheduler (cluster skiff)');
    const groups = bySid(roleStatements(defaults.template, functionRoleId(defaults.template, fnId)), 'LoadBalancerTargetGroups');
    const pattern = list(groups.Resource)
      .map(render)[0]!
      .replace(/^.*:targetgroup\//, '');
    expect(pattern).toBe('skiff-????????????/*');
    // IAM's `?` is one character, `*` any run of them.
    const iam = new RegExp(`^${pattern.replaceAll('?', '.').replace('*', '.*')}$`);
    expect(iam.test('skiff-0123456789ab/50dc6c495c0c9188')).toBe(true);
    expect(iam.test('skiff-a-0123456789ab/50dc6c495c0c9188')).toBe(false);
  });

  it('picks the x86_64 AMI for an Intel instance type', () => {
    defaults.template.hasParameter('*', {
      Type: 'AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>',
      Default: Match.stringLikeRegexp('^/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-.*-x86_64$'),
    });
    defaults.template.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({ InstanceType: 'm7i.large' }),
    });
  });
});
