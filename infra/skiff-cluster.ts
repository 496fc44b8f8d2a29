/**
 * SkiffCluster: one Skiff cluster on AWS — state table, API, scheduler and health functions, the
 * HTTP API, the schedules, and the Auto Scaling group of container hosts running the agent.
 *
 * Construct ids below are a public contract: renaming one replaces the resource.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Aws, AssetHashType, BundlingOutput, CfnCondition, CfnMapping, DockerImage, Duration, Fn, RemovalPolicy, Stack, Tags, Token } from 'aws-cdk-lib';
import { HttpApi, HttpMethod } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { AutoScalingGroup } from 'aws-cdk-lib/aws-autoscaling';
import { AttributeType, BillingMode, ProjectionType, StreamViewType, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import {
  AmazonLinuxCpuType,
  Peer,
  Port,
  BlockDeviceVolume,
  EbsDeviceVolumeType,
  GatewayVpcEndpointAwsService,
  InstanceArchitecture,
  InstanceClass,
  InstanceSize,
  InstanceType,
  IpAddresses,
  LaunchTemplate,
  MachineImage,
  SecurityGroup,
  SubnetType,
  UserData,
  Vpc,
} from 'aws-cdk-lib/aws-ec2';
import type { IVpc, SubnetSelection } from 'aws-cdk-lib/aws-ec2';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import {
  ApplicationLoadBalancer,
  ApplicationProtocol,
  ListenerAction,
  ListenerCertificate,
  SslPolicy,
} from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import type { ApplicationListener } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { AccountPrincipal, Effect, ManagedPolicy, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, FilterCriteria, Runtime, StartingPosition, Tracing } from 'aws-cdk-lib/aws-lambda';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import { DynamoEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { LogLevel, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { PrivateHostedZone } from 'aws-cdk-lib/aws-route53';
import { Asset } from 'aws-cdk-lib/aws-s3-assets';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { RegionInfo } from 'aws-cdk-lib/region-info';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ESM_BANNER, ESM_DEFINE, EsbuildBundling } from './esbuild-bundling.ts';
import { hostPollSeconds, hostUserDataScript } from './host-user-data.ts';
import { suppressSkiffClusterFindings } from './nag.ts';
import { capacityError, overlaps, parseCidr } from '../core/cidr.ts';
import { ValidationError } from '../core/errors.ts';
import { SkiffObservability } from './observability.ts';

/** Default entry points, relative to the repository root. */
export const DEFAULT_ENTRIES = {
  api: fileURLToPath(new URL('../functions/api/handler.ts', import.meta.url)),
  scheduler: fileURLToPath(new URL('../functions/scheduler/handler.ts', import.meta.url)),
  health: fileURLToPath(new URL('../functions/health/handler.ts', import.meta.url)),
  agent: fileURLToPath(new URL('../agent/main.ts', import.meta.url)),
} as const;

/** The tag every Skiff resource carries; Run Command from the scheduler is limited to instances with it. */
export const CLUSTER_TAG_KEY = 'skiff:cluster';
/**
 * The tag each host parameter must carry, holding the ARN of the one instance allowed to read it
 * (see docs/aws.md, "Instance-scoped access"). The publisher sets it: `HOST_ARN_TAG_KEY` in
 * adapters/aws/ssm-channel.ts, kept equal by test/infra/skiff-cluster.test.ts.
 */
export const HOST_ARN_TAG_KEY = 'skiff:host-arn';
/**
 * The condition key for that tag. The Service Authorization Reference lists
 * `aws:ResourceTag/${TagKey}` for GetParameter and GetParameters on parameters;
 * `ssm:resourceTag/${TagKey}` is listed for documents and instances, not for parameters.
 */
const HOST_ARN_TAG_CONDITION = `aws:ResourceTag/${HOST_ARN_TAG_KEY}`;
/** The IAM policy variable holding the ARN of the EC2 instance that signed the request. */
export const SOURCE_INSTANCE_ARN = '${ec2:SourceInstanceARN}';

/** Lambda runtime of the control plane; esbuild targets the same Node.js major. */
const LAMBDA_RUNTIME = Runtime.NODEJS_22_X;
const NODE_TARGET = 'node22';
/** Node.js on the hosts: AL2023 ships namespaced `nodejs20`, `nodejs22`, `nodejs24`; 20 is past end of life. */
const HOST_NODE_MAJOR = 22;
/** API Gateway HTTP APIs cut integrations off at 30 s; the function stops first so the client gets its error. */
const API_TIMEOUT = Duration.seconds(29);
const SCHEDULER_TIMEOUT = Duration.seconds(60);
/** EventBridge rules fire at most once a minute: the floor for the periodic pass. */
const SCHEDULER_PERIOD = Duration.minutes(1);
/**
 * The health function's schedule has the same one-minute floor, so each invocation loops:
 * 4 checks 15 s apart, the last at about 45 s, so the next tick's first check comes ~15 s later.
 */
export const HEALTH_PERIOD = Duration.minutes(1);
export const HEALTH_CHECKS_PER_RUN = 4;
export const HEALTH_INTERVAL_SECONDS = 15;
/**
 * 45 s of waiting between the checks, plus 30 s for the four checks themselves and a cold start.
 * A run that overruns the minute only delays the next tick (reserved concurrency 1 queues it).
 */
const HEALTH_TIMEOUT = Duration.seconds((HEALTH_CHECKS_PER_RUN - 1) * HEALTH_INTERVAL_SECONDS + 30);
/**
 * The health function mostly waits, and is billed for the wait: 256 MB costs half of the 512 MB the
 * other functions get, and still gives a cold start and a scan of 2,000 hosts enough CPU (Lambda
 * allots CPU in proportion to memory). Cost in docs/aws.md.
 */
const HEALTH_MEMORY_MB = 256;
/** The agents' heartbeat interval when none is given. */
export const DEFAULT_HEARTBEAT_SECONDS = 15;
/** How long a host may stay silent before it is declared down, when none is given. */
export const DEFAULT_GRACE_SECONDS = 60;
/** The attribute DynamoDB's TTL deletes items by (epoch seconds); events carry it (adapters/aws/dynamo-store.ts). */
export const TTL_ATTRIBUTE = 'expiresAt';
/** The cluster name used when none is given. */
export const DEFAULT_CLUSTER_NAME = 'skiff';
const CLUSTER_NAME_PATTERN = /^[a-z][a-z0-9-]{0,30}[a-z0-9]$|^[a-z]$/;

/** The private DNS zone of the cluster when none is given (also SKIFF_DNS_ZONE's default in functions/env.ts). */
export const DEFAULT_DNS_ZONE_NAME = 'skiff.internal';
/** A DNS label: 1-63 lowercase letters, digits and hyphens, not starting or ending with a hyphen (RFC 1123). */
const DNS_LABEL_PATTERN = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** DNS names are at most 253 characters in text form (255 octets on the wire). */
const MAX_DNS_NAME_LENGTH = 253;
/** An ACM certificate ARN, any partition: `arn:aws:acm:<region>:<account>:certificate/<id>`. */
const CERTIFICATE_ARN_PATTERN = /^arn:aws[a-z-]*:acm:[a-z]{2}(-[a-z]+)+-\d:\d{12}:certificate\/[0-9a-f-]+$/;

/** The cluster CIDR when none is given: container subnets are carved from it (docs/network.md). */
export const DEFAULT_CLUSTER_CIDR = '10.200.0.0/16';
/** Each host's container subnet when none is given: a /24 holds 253 containers. */
export const DEFAULT_HOST_SUBNET_PREFIX = 24;
/** The CIDR of a VPC the construct creates, when none is given. */
export const DEFAULT_VPC_CIDR = '10.0.0.0/16';
/** The "Routes per route table" quota of Amazon VPC when not raised (adjustable to 1,000 in Service Quotas). */
export const DEFAULT_ROUTES_PER_ROUTE_TABLE = 50;
/**
 * Routes a host subnet's table holds before any host: the local route, the default route to the NAT
 * gateway, the S3 and DynamoDB gateway endpoints, and one to spare for whatever else an existing VPC has.
 */
export const RESERVED_ROUTES = 5;
/** Docker's default bridge (docker0) on every host: a route to a host subnet overlapping it would be shadowed. */
const DOCKER_BRIDGE_CIDR = '172.17.0.0/16';

/** Who may reach the load balancer. */
export type LoadBalancerScheme = 'internal' | 'internet-facing';
const LOAD_BALANCER_SCHEMES: readonly LoadBalancerScheme[] = ['internal', 'internet-facing'];

/**
 * The host ports Docker publishes a container port on when no `hostPort` is fixed: libnetwork's
 * port allocator (moby `libnetwork/portallocator`) reads `/proc/sys/net/ipv4/ip_local_port_range`,
 * whose Linux default is "32768 60999" (kernel `Documentation/networking/ip-sysctl.rst`); AL2023
 * keeps that default. Only if the file cannot be read does Docker fall back to 49153-65535.
 */
export const DOCKER_PUBLISHED_PORTS = { from: 32768, to: 60999 } as const;
/**
 * Target group names AlbLoadBalancer creates: `<namePrefix>-<12 hex>` (adapters/aws/alb.ts), the
 * prefix being the cluster name cut to 19 characters without trailing hyphens (functions/wiring.ts).
 */
const TARGET_GROUP_PREFIX_LENGTH = 19;
const TARGET_GROUP_HASH_LENGTH = 12;
/**
 * State-table items whose changes must not start a scheduler pass (keys in docs/state.md): host
 * statuses and heartbeats (`sk = STATUS`, `sk = BEAT`: every agent every 15 s, 133 writes a second
 * at 2,000 hosts), events (`pk = EVENTS`, written by every pass and deleted by TTL), the health
 * checkpoint (`pk = HEALTH`, 4 writes a minute), and what the scheduler pass writes for itself:
 * publication records (`sk = PUBLISHED`) and container subnets (`sk = SUBNET`, `SUBNETHOLDER`; the
 * pass that routes a subnet also places on its host).
 */
export const STREAM_IGNORED_PARTITIONS = ['EVENTS', 'HEALTH'] as const;
export const STREAM_IGNORED_SORT_KEYS = ['STATUS', 'BEAT', 'PUBLISHED', 'SUBNET', 'SUBNETHOLDER'] as const;
/** Stream records are gathered for up to 1 s: a burst of writes makes one pass, not one per write. */
const STREAM_BATCH_WINDOW = Duration.seconds(1);
/** Days the load balancer's access logs are kept. */
const ACCESS_LOG_DAYS = 90;
/** The value of the log-delivery mapping for regions where ELB writes as its service principal. */
const ELB_SERVICE_PRINCIPAL_REGION = 'service';
/** Key prefix of the access logs in their bucket; ELB writes under `<prefix>/AWSLogs/<account>/`. */
export const ACCESS_LOG_PREFIX = 'alb';
/** 14 days, SQS's longest retention: time to look at a failed invocation after a weekend. */
const FAILURE_RETENTION = Duration.days(14);

export interface SkiffClusterProps {
  /**
   * Name of the cluster: part of SSM parameter paths (`/skiff/<name>`), tags and resource names.
   * 1-32 lowercase letters, digits and hyphens, starting with a letter.
   * @default 'skiff'
   */
  readonly clusterName?: string;
  /**
   * VPC for the hosts; it needs private subnets with egress (the hosts pull images and call AWS APIs).
   * @default - a new VPC over 2 AZs with public and private subnets and a single NAT gateway
   *   (cheap; one AZ's NAT is a shared point of failure for egress, not for running containers)
   */
  readonly vpc?: IVpc;
  /**
   * CIDR of the VPC the construct creates; ignored when `vpc` is given.
   * @default '10.0.0.0/16'
   */
  readonly vpcCidr?: string;
  /**
   * Subnets the hosts run in.
   * @default - the private subnets with egress
   */
  readonly hostSubnets?: SubnetSelection;
  /**
   * The cluster CIDR: each host gets a container subnet of it (`hostSubnetPrefix`), routed to the host
   * in the route tables of the hosts' subnets, so containers on different hosts reach each other by
   * address, without encapsulation (docs/network.md). It must hold `maxHosts` subnets and must not
   * overlap the VPC, peered or on-premises networks, or Docker's `172.17.0.0/16`.
   * @default '10.200.0.0/16'
   */
  readonly clusterCidr?: string;
  /**
   * Prefix length of each host's container subnet: a /24 holds 253 containers, a /26 61.
   * @default 24
   */
  readonly hostSubnetPrefix?: number;
  /**
   * The account's "Routes per route table" quota (Amazon VPC, in Service Quotas): each host takes one
   * route in each route table of the hosts' subnets, so `maxHosts` plus the routes already there must
   * fit. Raise the quota first (up to 1,000), then this.
   * @default 50
   */
  readonly routesPerRouteTable?: number;
  /**
   * Instance type of the hosts. Graviton (arm64) types get the arm64 AMI; the agent bundle is
   * plain JavaScript and runs on either architecture.
   * @default t4g.small
   */
  readonly hostInstanceType?: InstanceType;
  /**
   * Size of each host's root volume (encrypted gp3), in GiB.
   * @default 30
   */
  readonly hostRootVolumeGiB?: number;
  /**
   * Fewest hosts the Auto Scaling group keeps.
   * @default 1
   */
  readonly minHosts?: number;
  /**
   * Most hosts the Auto Scaling group may run.
   * @default 3
   */
  readonly maxHosts?: number;
  /**
   * Hosts to run right after each deployment. Leave unset so a deployment does not undo the
   * host autoscaler's decisions; the group then starts at `minHosts`.
   * @default - not set
   */
  readonly desiredHosts?: number;
  /**
   * Entry of the API Lambda handler (exports `handler`).
   * @default functions/api/handler.ts
   */
  readonly apiEntry?: string;
  /**
   * Entry of the scheduler Lambda handler (exports `handler`).
   * @default functions/scheduler/handler.ts
   */
  readonly schedulerEntry?: string;
  /**
   * Entry of the health Lambda handler (exports `handler`).
   * @default functions/health/handler.ts
   */
  readonly healthEntry?: string;
  /**
   * Entry of the host agent, bundled into one ESM file.
   * @default agent/main.ts
   */
  readonly agentEntry?: string;
  /**
   * Seconds between an agent's heartbeats (one status write to the table each). 2,000 hosts at
   * 15 s make 133 writes a second. Must be less than half of `hostGraceSeconds`.
   * @default 15
   */
  readonly hostHeartbeatSeconds?: number;
  /**
   * Seconds without a heartbeat after which the health check declares a host down and its tasks
   * are replaced elsewhere. More than twice `hostHeartbeatSeconds`, so one slow or lost heartbeat
   * is no false alarm, and at least 30 (two health check intervals). A dead host is noticed within
   * grace + 15 s (docs/aws.md, "Host health timings").
   * @default 60
   */
  readonly hostGraceSeconds?: number;
  /**
   * Log retention of the functions' log groups.
   * @default one month
   */
  readonly logRetention?: RetentionDays;
  /**
   * What happens to the state table when the stack is deleted.
   * @default RemovalPolicy.RETAIN
   */
  readonly tableRemovalPolicy?: RemovalPolicy;
  /**
   * Name of the Route 53 private hosted zone for service discovery, on the cluster's VPC. Not
   * `.local` (reserved for multicast DNS, RFC 6762: resolvers send it to mDNS, not to Route 53).
   * @default 'skiff.internal'
   */
  readonly dnsZoneName?: string;
  /**
   * Who may reach the Application Load Balancer: `internal` (from inside the VPC) or
   * `internet-facing` (from anywhere, in the public subnets).
   * @default 'internal'
   */
  readonly loadBalancerScheme?: LoadBalancerScheme;
  /**
   * ACM certificate for the load balancer's listener. Given: HTTPS on 443 with this certificate;
   * not given: HTTP on 80.
   * @default - no certificate, plain HTTP on port 80
   */
  readonly certificateArn?: string;
}

/** One Skiff cluster: control plane, state and hosts. */
export class SkiffCluster extends Construct {
  /** The validated cluster name. */
  readonly clusterName: string;
  /** `/skiff/<clusterName>`: root of every SSM parameter of the cluster. */
  readonly parameterPrefix: string;
  /** `arn:<partition>:ec2:<region>:<account>:instance/`: a host's ARN is this plus its instance id. */
  readonly hostArnPrefix: string;
  /** The VPC the hosts run in (given or created). */
  readonly vpc: IVpc;
  /** The cluster CIDR the hosts' container subnets come from. */
  readonly clusterCidr: string;
  /** The route tables that get a route per host subnet (those of the hosts' subnets). */
  readonly hostRouteTableIds: string[];
  /** The state table (`pk`/`sk`, index `gsi1`). */
  readonly table: Table;
  readonly apiFunction: NodejsFunction;
  readonly schedulerFunction: NodejsFunction;
  /** Declares silent hosts down and lets fenced hosts rejoin; kicks the scheduler when one changes. */
  readonly healthFunction: NodejsFunction;
  readonly httpApi: HttpApi;
  readonly hostRole: Role;
  readonly hostSecurityGroup: SecurityGroup;
  readonly hostLaunchTemplate: LaunchTemplate;
  /** The Auto Scaling group of container hosts. */
  readonly hosts: AutoScalingGroup;
  /** The agent as one ESM file in S3, downloaded by each host at boot. */
  readonly agentBundle: Asset;
  /** The private hosted zone where the scheduler writes service and replica names. */
  readonly dnsZone: PrivateHostedZone;
  /** The ingress load balancer; the scheduler keeps its listener rules and target groups. */
  readonly loadBalancer: ApplicationLoadBalancer;
  /** Where the load balancer writes its access logs (SSE-S3, kept 90 days). */
  readonly accessLogs: Bucket;
  /** The listener whose rules route ingress hosts; unknown hosts get a 404. */
  readonly loadBalancerListener: ApplicationListener;
  readonly loadBalancerSecurityGroup: SecurityGroup;
  /** Asynchronous invocations of the scheduler and health functions that failed or expired (SSE-SQS). */
  readonly failedInvocations: Queue;
  /** Alarms, dashboard, alarm topic, API access logs and VPC flow log (infra/observability.ts). */
  readonly observability: SkiffObservability;

  constructor(scope: Construct, id: string, props: SkiffClusterProps = {}) {
    super(scope, id);
    const settings = validateSkiffClusterProps(props);
    const { clusterName } = settings;
    this.clusterName = clusterName;
    this.parameterPrefix = `/skiff/${clusterName}`;
    this.hostArnPrefix = `arn:${Aws.PARTITION}:ec2:${Aws.REGION}:${Aws.ACCOUNT_ID}:instance/`;
    const stack = Stack.of(this);
    const parameterArn = (name: string) =>
      stack.formatArn({ service: 'ssm', resource: 'parameter', resourceName: name.replace(/^\//, '') });

    Tags.of(this).add(CLUSTER_TAG_KEY, clusterName);

    // ---- state ----
    this.table = new Table(this, 'Table', {
      partitionKey: { name: 'pk', type: AttributeType.STRING },
      sortKey: { name: 'sk', type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: TableEncryption.AWS_MANAGED,
      // Starts a scheduler pass on state changes (the event source below); records are filtered by key.
      stream: StreamViewType.NEW_IMAGE,
      // Events carry an expiry (7 days); DynamoDB deletes them for free. Local mode (dynalite has
      // no TTL) prunes them from the health check instead, which also runs here as a backstop.
      timeToLiveAttribute: TTL_ATTRIBUTE,
      removalPolicy: props.tableRemovalPolicy ?? RemovalPolicy.RETAIN,
    });
    this.table.addGlobalSecondaryIndex({
      indexName: 'gsi1',
      partitionKey: { name: 'gsi1pk', type: AttributeType.STRING },
      sortKey: { name: 'gsi1sk', type: AttributeType.STRING },
      projectionType: ProjectionType.ALL,
    });

    // ---- control plane ----
    const commonEnv = {
      SKIFF_CLUSTER: clusterName,
      SKIFF_TABLE: this.table.tableName,
      SKIFF_PARAM_PREFIX: this.parameterPrefix,
      SKIFF_HOST_ARN_PREFIX: this.hostArnPrefix,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      // The bundles are minified; the source maps shipped with them make stack traces readable.
      NODE_OPTIONS: '--enable-source-maps',
    };
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;

    // Lambda sends here what it gives up on: an invocation that failed, or that waited in the async
    // queue past its maximum age (reserved concurrency 1 makes them wait). Passes are level-triggered,
    // so nothing is replayed from it: it is where a person looks for why a pass did not happen.
    this.failedInvocations = new Queue(this, 'FailedInvocations', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: FAILURE_RETENTION,
    });

    this.schedulerFunction = this.controlPlaneFunction('SchedulerFunction', {
      entry: props.schedulerEntry ?? DEFAULT_ENTRIES.scheduler,
      description: `Skiff scheduler (cluster ${clusterName})`,
      timeout: SCHEDULER_TIMEOUT,
      environment: commonEnv,
      logRetention,
      // One scheduler pass at a time keeps host document publication ordered (no older pass
      // overwriting a newer document). Placement correctness does not depend on it: conditional
      // writes already stop a task being placed twice or a host being over-committed.
      reservedConcurrentExecutions: 1,
    });
    // Passes are level-triggered: a dropped or stale invocation is made up by the next one, so
    // queued invocations older than a minute (the schedule's period) are discarded, not retried.
    this.schedulerFunction.configureAsyncInvoke({
      retryAttempts: 0,
      maxEventAge: SCHEDULER_PERIOD,
      onFailure: new SqsDestination(this.failedInvocations),
    });

    this.apiFunction = this.controlPlaneFunction('ApiFunction', {
      entry: props.apiEntry ?? DEFAULT_ENTRIES.api,
      description: `Skiff API (cluster ${clusterName})`,
      timeout: API_TIMEOUT,
      environment: { ...commonEnv, SKIFF_SCHEDULER_FUNCTION: this.schedulerFunction.functionName },
      logRetention,
    });

    this.healthFunction = this.controlPlaneFunction('HealthFunction', {
      entry: props.healthEntry ?? DEFAULT_ENTRIES.health,
      description: `Skiff health (cluster ${clusterName})`,
      timeout: HEALTH_TIMEOUT,
      memorySize: HEALTH_MEMORY_MB,
      environment: {
        ...commonEnv,
        SKIFF_SCHEDULER_FUNCTION: this.schedulerFunction.functionName,
        SKIFF_HOST_GRACE_SECONDS: String(settings.hostGraceSeconds),
        SKIFF_HEALTH_CHECKS_PER_RUN: String(HEALTH_CHECKS_PER_RUN),
        SKIFF_HEALTH_INTERVAL_SECONDS: String(HEALTH_INTERVAL_SECONDS),
      },
      logRetention,
      // One run at a time: two overlapping runs would each judge the same silence, each record a
      // host.down event and kick the scheduler for it (the state write itself is idempotent), and
      // each write the checkpoint, the older last, moving "last run" back in time.
      reservedConcurrentExecutions: 1,
    });
    // As for the scheduler: a late run is made up by the next tick, so it is dropped, not retried.
    this.healthFunction.configureAsyncInvoke({
      retryAttempts: 0,
      maxEventAge: HEALTH_PERIOD,
      onFailure: new SqsDestination(this.failedInvocations),
    });

    // The health check reads hosts, statuses, publication records and its checkpoint, and writes
    // host states, events (BatchWriteItem, to add and to prune) and the checkpoint: read/write data.
    this.table.grantReadWriteData(this.apiFunction);
    this.table.grantReadWriteData(this.schedulerFunction);
    this.table.grantReadWriteData(this.healthFunction);
    // API writes start a scheduler pass asynchronously (InvocationType Event) so changes apply
    // within seconds instead of waiting for the next tick; so does a host going down or rejoining.
    this.schedulerFunction.grantInvoke(this.apiFunction);
    this.schedulerFunction.grantInvoke(this.healthFunction);

    this.schedulerFunction.addToRolePolicy(
      new PolicyStatement({
        sid: 'HostDocuments',
        actions: ['ssm:PutParameter', 'ssm:GetParameter*', 'ssm:DeleteParameter*'],
        resources: [parameterArn(`${this.parameterPrefix}/*`)],
      }),
    );
    this.schedulerFunction.addToRolePolicy(
      new PolicyStatement({
        // Host documents are created with the owning instance's ARN as a tag (PutParameter with
        // Tags needs this action too); the hosts' read permission is conditioned on it.
        sid: 'TagHostDocuments',
        actions: ['ssm:AddTagsToResource'],
        resources: [parameterArn(`${this.parameterPrefix}/hosts/*`)],
      }),
    );
    this.schedulerFunction.addToRolePolicy(
      new PolicyStatement({
        sid: 'WakeHostsDocument',
        actions: ['ssm:SendCommand'],
        resources: [stack.formatArn({ service: 'ssm', account: '', resource: 'document', resourceName: 'AWS-RunShellScript' })],
      }),
    );
    this.schedulerFunction.addToRolePolicy(
      new PolicyStatement({
        // A separate statement: the tag condition must not apply to the document resource.
        sid: 'WakeHostsInstances',
        actions: ['ssm:SendCommand'],
        resources: [stack.formatArn({ service: 'ec2', resource: 'instance', resourceName: '*' })],
        conditions: { StringEquals: { [`ssm:resourceTag/${CLUSTER_TAG_KEY}`]: clusterName } },
      }),
    );

    this.httpApi = new HttpApi(this, 'Api', {
      description: `Skiff API (cluster ${clusterName})`,
      defaultAuthorizer: new HttpIamAuthorizer(),
    });
    const integration = new HttpLambdaIntegration('ApiIntegration', this.apiFunction);
    this.httpApi.addRoutes({ path: '/', methods: [HttpMethod.ANY], integration });
    this.httpApi.addRoutes({ path: '/{proxy+}', methods: [HttpMethod.ANY], integration });

    new Rule(this, 'SchedulerTick', {
      description: `Periodic Skiff scheduler pass (cluster ${clusterName})`,
      schedule: Schedule.rate(SCHEDULER_PERIOD),
      targets: [new LambdaFunction(this.schedulerFunction, { retryAttempts: 0, maxEventAge: SCHEDULER_PERIOD })],
    });

    new Rule(this, 'HealthTick', {
      description: `Skiff health checks, ${HEALTH_CHECKS_PER_RUN} per run ${HEALTH_INTERVAL_SECONDS} s apart (cluster ${clusterName})`,
      schedule: Schedule.rate(HEALTH_PERIOD),
      targets: [new LambdaFunction(this.healthFunction, { retryAttempts: 0, maxEventAge: HEALTH_PERIOD })],
    });

    // ---- hosts ----
    this.vpc =
      props.vpc ??
      new Vpc(this, 'Vpc', {
        ipAddresses: IpAddresses.cidr(settings.vpcCidr),
        maxAzs: 2,
        natGateways: 1,
        subnetConfiguration: [
          { name: 'public', subnetType: SubnetType.PUBLIC, cidrMask: 24 },
          { name: 'hosts', subnetType: SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 20 },
        ],
        // Free gateway endpoints keep state and agent downloads off the NAT gateway.
        gatewayEndpoints: {
          DynamoDb: { service: GatewayVpcEndpointAwsService.DYNAMODB },
          S3: { service: GatewayVpcEndpointAwsService.S3 },
        },
      });

    const agentEntry = props.agentEntry ?? DEFAULT_ENTRIES.agent;
    this.agentBundle = new Asset(this, 'AgentBundle', {
      path: path.dirname(agentEntry),
      assetHashType: AssetHashType.OUTPUT,
      bundling: {
        local: new EsbuildBundling({ entry: agentEntry, outfile: 'agent.mjs', target: `node${HOST_NODE_MAJOR}` }),
        // The asset is the .mjs file itself, so hosts download and run it without unzipping.
        outputType: BundlingOutput.SINGLE_FILE,
        // Required by the type; never used, because the local bundling above always succeeds or throws.
        image: DockerImage.fromRegistry('skiff/local-bundling-only'),
      },
    });

    this.hostRole = new Role(this, 'HostRole', {
      assumedBy: new ServicePrincipal('ec2.amazonaws.com'),
      description: `Skiff host (cluster ${clusterName})`,
      managedPolicies: [ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore')],
    });
    this.grantHostPermissions(parameterArn);

    this.hostSecurityGroup = new SecurityGroup(this, 'HostSecurityGroup', {
      vpc: this.vpc,
      description: `Skiff hosts (cluster ${clusterName}); inbound from the load balancer and the cluster containers; people use Session Manager`,
      allowAllOutbound: true,
    });

    // ---- the container network (docs/network.md) ----
    // Container addresses are routed, not translated: a packet from a container on another host
    // arrives with its container address, which is in the cluster CIDR, not in the VPC's.
    this.clusterCidr = settings.clusterCidr;
    this.hostSecurityGroup.addIngressRule(Peer.ipv4(settings.clusterCidr), Port.allTraffic(), 'Containers of the cluster, on any host');
    const hostSubnetSelection = props.hostSubnets ?? { subnetType: SubnetType.PRIVATE_WITH_EGRESS };
    const hostSubnetList = this.vpc.selectSubnets(hostSubnetSelection).subnets;
    const unknownTables = hostSubnetList.filter((subnet) => !subnet.routeTable?.routeTableId).map((subnet) => subnet.subnetId);
    if (unknownTables.length > 0) {
      // Each host subnet gets a route in these tables; an imported subnet without its table cannot.
      throw new Error(
        `the route tables of the hosts' subnets must be known, and ${unknownTables.join(', ')} ${unknownTables.length > 1 ? 'have' : 'has'} none: ` +
          'import the VPC with its route tables (Vpc.fromVpcAttributes({ ..., privateSubnetRouteTableIds }) or Subnet.fromSubnetAttributes({ subnetId, routeTableId })), ' +
          'or use -c vpcId=... so the stack looks them up',
      );
    }
    this.hostRouteTableIds = [...new Set(hostSubnetList.map((subnet) => subnet.routeTable.routeTableId))];
    this.schedulerFunction.addEnvironment('SKIFF_CLUSTER_CIDR', settings.clusterCidr);
    this.schedulerFunction.addEnvironment('SKIFF_HOST_SUBNET_PREFIX', String(settings.hostSubnetPrefix));
    this.schedulerFunction.addEnvironment('SKIFF_ROUTE_TABLE_IDS', this.hostRouteTableIds.join(','));
    this.grantHostRouting(clusterName);

    // ---- service discovery and load balancing ----
    // Kept together: the zone, the ALB and its security groups, and what the scheduler (which keeps
    // both in step with the replicas, functions/wiring.ts) needs to reach them.
    this.dnsZone = new PrivateHostedZone(this, 'DnsZone', {
      zoneName: settings.dnsZoneName,
      vpc: this.vpc,
      comment: `Skiff service discovery (cluster ${clusterName})`,
    });
    this.schedulerFunction.addEnvironment('SKIFF_HOSTED_ZONE_ID', this.dnsZone.hostedZoneId);
    this.schedulerFunction.addEnvironment('SKIFF_DNS_ZONE', settings.dnsZoneName);
    // Exactly the calls Route53Zone makes (adapters/aws/route53-zone.ts). It never waits for a
    // change to be INSYNC, so no route53:GetChange.
    this.schedulerFunction.addToRolePolicy(
      new PolicyStatement({
        sid: 'DnsRecords',
        actions: ['route53:ChangeResourceRecordSets', 'route53:ListResourceRecordSets'],
        resources: [this.dnsZone.hostedZoneArn],
      }),
    );

    const internetFacing = settings.loadBalancerScheme === 'internet-facing';
    const https = settings.certificateArn !== undefined;
    const listenerPort = https ? 443 : 80;
    this.loadBalancerSecurityGroup = new SecurityGroup(this, 'LoadBalancerSecurityGroup', {
      vpc: this.vpc,
      description: `Skiff load balancer (cluster ${clusterName}), ${settings.loadBalancerScheme}`,
      // Its only egress is to the hosts, on the published-port range (below).
      allowAllOutbound: false,
    });
    this.loadBalancerSecurityGroup.addIngressRule(
      internetFacing ? Peer.anyIpv4() : Peer.ipv4(this.vpc.vpcCidrBlock),
      Port.tcp(listenerPort),
      internetFacing ? `${https ? 'HTTPS' : 'HTTP'} from anywhere` : `${https ? 'HTTPS' : 'HTTP'} from the VPC`,
    );
    // Replicas publish their ingress port on a port Docker picks (DOCKER_PUBLISHED_PORTS); the
    // hosts accept that range from the ALB's security group (and, like every port, from the cluster CIDR).
    this.loadBalancerSecurityGroup.connections.allowTo(
      this.hostSecurityGroup,
      Port.tcpRange(DOCKER_PUBLISHED_PORTS.from, DOCKER_PUBLISHED_PORTS.to),
      'Ingress replicas on Docker published ports',
    );

    this.loadBalancer = new ApplicationLoadBalancer(this, 'LoadBalancer', {
      vpc: this.vpc,
      internetFacing,
      securityGroup: this.loadBalancerSecurityGroup,
      // Requests with header names that are not valid HTTP are dropped, not passed to replicas.
      dropInvalidHeaderFields: true,
    });
    this.accessLogs = this.loadBalancerAccessLogs();
    this.loadBalancerListener = this.loadBalancer.addListener('Listener', {
      port: listenerPort,
      protocol: https ? ApplicationProtocol.HTTPS : ApplicationProtocol.HTTP,
      ...(https ? { certificates: [ListenerCertificate.fromArn(settings.certificateArn!)], sslPolicy: SslPolicy.RECOMMENDED_TLS } : {}),
      // The scheduler adds one rule per ingress host; any other host has no service behind it.
      defaultAction: ListenerAction.fixedResponse(404, { contentType: 'text/plain', messageBody: 'skiff: no service for this host' }),
      // The security group's ingress above is the whole policy; CDK must not add 0.0.0.0/0 to it.
      open: false,
    });
    this.schedulerFunction.addEnvironment('SKIFF_ALB_LISTENER_ARN', this.loadBalancerListener.listenerArn);
    this.schedulerFunction.addEnvironment('SKIFF_VPC_ID', this.vpc.vpcId);
    this.grantLoadBalancerSync(clusterName);

    // Writes that change desired or observed state start a pass within about a second; the
    // one-minute tick stays as the safety net. The filter keeps heartbeats, events, the health
    // checkpoint and the scheduler's own publication records from invoking it (docs/aws.md).
    this.schedulerFunction.addEventSource(
      new DynamoEventSource(this.table, {
        startingPosition: StartingPosition.LATEST,
        maxBatchingWindow: STREAM_BATCH_WINDOW,
        // What changed does not matter to a level-triggered pass: one pass takes as many records as it can.
        batchSize: 1000,
        // A failed or throttled batch is made up by the next write or tick: retry briefly, then drop it.
        retryAttempts: 2,
        maxRecordAge: SCHEDULER_PERIOD,
        filters: [
          FilterCriteria.filter({
            dynamodb: {
              Keys: {
                pk: { S: [{ 'anything-but': [...STREAM_IGNORED_PARTITIONS] }] },
                sk: { S: [{ 'anything-but': [...STREAM_IGNORED_SORT_KEYS] }] },
              },
            },
          }),
        ],
      }),
    );

    const arm = settings.hostInstanceType.architecture === InstanceArchitecture.ARM_64;
    const userData = UserData.forLinux();
    userData.addCommands(
      hostUserDataScript({
        clusterName,
        tableName: this.table.tableName,
        parameterPrefix: this.parameterPrefix,
        region: Aws.REGION,
        hostArnPrefix: this.hostArnPrefix,
        agentBundleUrl: this.agentBundle.s3ObjectUrl,
        nodeMajorVersion: HOST_NODE_MAJOR,
        heartbeatSeconds: settings.hostHeartbeatSeconds,
        // Sized for the largest fleet the group may reach: polls stay within half the quota.
        pollSeconds: hostPollSeconds(settings.maxHosts),
      }),
    );

    this.hostLaunchTemplate = new LaunchTemplate(this, 'HostLaunchTemplate', {
      machineImage: MachineImage.latestAmazonLinux2023({ cpuType: arm ? AmazonLinuxCpuType.ARM_64 : AmazonLinuxCpuType.X86_64 }),
      instanceType: settings.hostInstanceType,
      role: this.hostRole,
      securityGroup: this.hostSecurityGroup,
      userData,
      requireImdsv2: true,
      // One hop: processes on the host reach IMDS, containers behind Docker's bridge (one more
      // hop) do not, so they cannot take the host role's credentials. AL2023 AMIs default to 2.
      httpPutResponseHopLimit: 1,
      blockDevices: [
        {
          deviceName: '/dev/xvda',
          volume: BlockDeviceVolume.ebs(settings.hostRootVolumeGiB, {
            volumeType: EbsDeviceVolumeType.GP3,
            encrypted: true,
            deleteOnTermination: true,
          }),
        },
      ],
    });

    this.hosts = new AutoScalingGroup(this, 'Hosts', {
      vpc: this.vpc,
      vpcSubnets: hostSubnetSelection,
      launchTemplate: this.hostLaunchTemplate,
      minCapacity: settings.minHosts,
      maxCapacity: settings.maxHosts,
      ...(settings.desiredHosts === undefined ? {} : { desiredCapacity: settings.desiredHosts }),
    });

    // ---- observability and the cdk-nag findings Skiff accepts (infra/observability.ts, infra/nag.ts) ----
    this.observability = new SkiffObservability(this, 'Observability', {
      clusterName,
      functions: { api: this.apiFunction, scheduler: this.schedulerFunction, health: this.healthFunction },
      table: this.table,
      httpApi: this.httpApi,
      vpc: this.vpc,
      logRetention,
    });
    suppressSkiffClusterFindings(this);
  }

  /**
   * The access-log bucket and its grant to ELB log delivery. CDK's `logAccessLogs` needs the region
   * at synthesis; this stack is environment-agnostic, so the grant is decided at deploy time. ELB
   * writes as its regional account in the regions that existed before August 2022, and as the
   * log-delivery service principal in newer ones (docs.aws.amazon.com, "Enable access logs for your
   * Application Load Balancer"). A mapping of every region this CDK version knows gives the account
   * or `service`; in a `service` region the account statement names this account instead, which
   * owns the bucket already. (`Fn::FindInMap` fails on a missing key even in the branch of an
   * `Fn::If` not taken, so every known region has a value; a region newer than the CDK version
   * fails the deployment with "Unable to get mapping": upgrade aws-cdk-lib.)
   */
  private loadBalancerAccessLogs(): Bucket {
    const bucket = new Bucket(this, 'LoadBalancerLogs', {
      // ELB writes access logs only to buckets encrypted with SSE-S3 (not SSE-KMS).
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(ACCESS_LOG_DAYS) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const accounts = new CfnMapping(this, 'ElbLogDeliveryAccounts', {
      mapping: Object.fromEntries(RegionInfo.regions.map((r) => [r.name, { account: r.elbv2Account ?? ELB_SERVICE_PRINCIPAL_REGION }])),
    });
    const byAccount = new CfnCondition(this, 'ElbLogsByAccount', {
      expression: Fn.conditionNot(Fn.conditionEquals(accounts.findInMap(Aws.REGION, 'account'), ELB_SERVICE_PRINCIPAL_REGION)),
    });
    const objects = bucket.arnForObjects(`${ACCESS_LOG_PREFIX}/AWSLogs/${Aws.ACCOUNT_ID}/*`);
    bucket.addToResourcePolicy(
      new PolicyStatement({
        sid: 'ElbAccountLogDelivery',
        actions: ['s3:PutObject'],
        principals: [new AccountPrincipal(Fn.conditionIf(byAccount.logicalId, accounts.findInMap(Aws.REGION, 'account'), Aws.ACCOUNT_ID).toString())],
        resources: [objects],
      }),
    );
    bucket.addToResourcePolicy(
      new PolicyStatement({
        sid: 'ElbServiceLogDelivery',
        actions: ['s3:PutObject'],
        principals: [new ServicePrincipal('logdelivery.elasticloadbalancing.amazonaws.com')],
        resources: [objects],
      }),
    );
    this.loadBalancer.setAttribute('access_logs.s3.enabled', 'true');
    this.loadBalancer.setAttribute('access_logs.s3.bucket', bucket.bucketName);
    this.loadBalancer.setAttribute('access_logs.s3.prefix', ACCESS_LOG_PREFIX);
    // ELB checks that it may write (a test object) when the attribute is set: the grant must exist first.
    if (bucket.policy) this.loadBalancer.node.addDependency(bucket.policy);
    return bucket;
  }

  /**
   * IAM for exactly the EC2 calls of the network step (adapters/aws/vpc-routes.ts, ec2-machines.ts):
   * routes only in the hosts' route tables, the source/destination check only of this cluster's
   * instances (by the tag the Auto Scaling group gives them at launch).
   */
  private grantHostRouting(clusterName: string): void {
    const stack = Stack.of(this);
    this.schedulerFunction.addToRolePolicy(
      new PolicyStatement({
        sid: 'HostSubnetRoutes',
        actions: ['ec2:CreateRoute', 'ec2:DeleteRoute', 'ec2:ReplaceRoute'],
        resources: this.hostRouteTableIds.map((id) => stack.formatArn({ service: 'ec2', resource: 'route-table', resourceName: id })),
      }),
    );
    this.schedulerFunction.addToRolePolicy(
      new PolicyStatement({
        // CreateRoute and ReplaceRoute with InstanceId are also authorized on the instance; the
        // instance's own attribute change (source/destination check off) is ModifyInstanceAttribute.
        sid: 'HostForwarding',
        actions: ['ec2:ModifyInstanceAttribute', 'ec2:CreateRoute', 'ec2:ReplaceRoute'],
        resources: [stack.formatArn({ service: 'ec2', resource: 'instance', resourceName: '*' })],
        conditions: { StringEquals: { [`aws:ResourceTag/${CLUSTER_TAG_KEY}`]: clusterName } },
      }),
    );
    this.schedulerFunction.addToRolePolicy(
      new PolicyStatement({
        // The Service Authorization Reference lists no resource type for these Describe calls: '*' only.
        // DescribeInstances: which instances are gone; DescribeRouteTables: route drift to repair.
        sid: 'HostInstanceStates',
        actions: ['ec2:DescribeInstances', 'ec2:DescribeRouteTables'],
        resources: ['*'],
      }),
    );
  }

  /**
   * IAM for exactly the ELBv2 calls AlbLoadBalancer makes (adapters/aws/alb.ts). Mutations are
   * scoped to this cluster's target groups (by name) and this load balancer's listener and rules.
   */
  private grantLoadBalancerSync(clusterName: string): void {
    const stack = Stack.of(this);
    const elb = (resource: string, resourceName: string) => stack.formatArn({ service: 'elasticloadbalancing', resource, resourceName });
    // `?` matches exactly one character in IAM, so `skiff-????????????` matches the 12-hex names of
    // cluster `skiff` and not those of a cluster `skiff-a` (`skiff-a-<12 hex>`), as `skiff-*` would.
    const namePrefix = clusterName.slice(0, TARGET_GROUP_PREFIX_LENGTH).replace(/-+$/, '');
    const targetGroups = elb('targetgroup', `${namePrefix}-${'?'.repeat(TARGET_GROUP_HASH_LENGTH)}/*`);
    const rules = elb('listener-rule', `${this.loadBalancer.loadBalancerFullName}/*`);
    const add = (statement: PolicyStatement) => this.schedulerFunction.addToRolePolicy(statement);
    add(
      new PolicyStatement({
        // The Service Authorization Reference lists no resource type for these four Describe
        // calls: they can only be granted on '*'.
        sid: 'LoadBalancerRead',
        actions: [
          'elasticloadbalancing:DescribeRules',
          'elasticloadbalancing:DescribeTargetGroupAttributes',
          'elasticloadbalancing:DescribeTargetGroups',
          'elasticloadbalancing:DescribeTargetHealth',
        ],
        resources: ['*'],
      }),
    );
    add(
      new PolicyStatement({
        sid: 'LoadBalancerTargetGroups',
        actions: [
          'elasticloadbalancing:CreateTargetGroup',
          'elasticloadbalancing:DeleteTargetGroup',
          'elasticloadbalancing:DeregisterTargets',
          'elasticloadbalancing:ModifyTargetGroupAttributes',
          'elasticloadbalancing:RegisterTargets',
        ],
        resources: [targetGroups],
      }),
    );
    add(
      new PolicyStatement({
        sid: 'LoadBalancerRules',
        actions: ['elasticloadbalancing:CreateRule', 'elasticloadbalancing:DeleteRule', 'elasticloadbalancing:ModifyRule'],
        // CreateRule is authorized on the listener, the other two on the rule.
        resources: [this.loadBalancerListener.listenerArn, rules],
      }),
    );
    add(
      new PolicyStatement({
        // CreateTargetGroup and CreateRule pass Tags, which ELBv2 also authorizes as AddTags; the
        // condition allows that tagging on create only, never retagging an existing resource.
        sid: 'LoadBalancerTagOnCreate',
        actions: ['elasticloadbalancing:AddTags'],
        resources: [targetGroups, rules],
        conditions: { StringEquals: { 'elasticloadbalancing:CreateAction': ['CreateTargetGroup', 'CreateRule'] } },
      }),
    );
  }

  /** A control-plane Lambda function: ESM, arm64, traced, with its own log group. */
  private controlPlaneFunction(
    id: string,
    o: {
      entry: string;
      description: string;
      timeout: Duration;
      environment: Record<string, string>;
      logRetention: RetentionDays;
      reservedConcurrentExecutions?: number;
      /** @default 512 */
      memorySize?: number;
    },
  ): NodejsFunction {
    const logGroup = new LogGroup(this, `${id}Logs`, { retention: o.logRetention, removalPolicy: RemovalPolicy.DESTROY });
    return new NodejsFunction(this, id, {
      entry: o.entry,
      handler: 'handler',
      description: o.description,
      runtime: LAMBDA_RUNTIME,
      architecture: Architecture.ARM_64,
      memorySize: o.memorySize ?? 512,
      timeout: o.timeout,
      reservedConcurrentExecutions: o.reservedConcurrentExecutions,
      tracing: Tracing.ACTIVE,
      logGroup,
      environment: o.environment,
      bundling: {
        format: OutputFormat.ESM,
        target: NODE_TARGET,
        banner: ESM_BANNER,
        define: { ...ESM_DEFINE },
        // Bundle the AWS SDK too: the deployed code runs the versions the tests ran.
        externalModules: [],
        mainFields: ['module', 'main'],
        minify: true,
        sourceMap: true,
        forceDockerBundling: false,
        logLevel: LogLevel.WARNING,
      },
    });
  }

  /**
   * The host role reaches only its own instance's data. `${ec2:SourceInstanceARN}` is the ARN of
   * the instance whose role credentials signed the request, so one role serves every host while
   * each host reads and writes only what carries its own ARN.
   */
  private grantHostPermissions(parameterArn: (name: string) => string): void {
    const hostsPath = `${this.parameterPrefix}/hosts/*`;
    this.hostRole.addToPolicy(
      new PolicyStatement({
        sid: 'ReadOwnHostDocument',
        actions: ['ssm:GetParameter', 'ssm:GetParameters'],
        resources: [parameterArn(hostsPath)],
        conditions: { StringEquals: { [HOST_ARN_TAG_CONDITION]: SOURCE_INSTANCE_ARN } },
      }),
    );
    // AmazonSSMManagedInstanceCore allows ssm:GetParameter(s) on every parameter; this deny keeps
    // a host out of every Skiff parameter that is not tagged with its own ARN. A parameter that
    // does not exist has no tag either, so reading it is denied too (AccessDeniedException, not
    // ParameterNotFound): the agent sees that until its first document is published.
    this.hostRole.addToPolicy(
      new PolicyStatement({
        sid: 'DenyOtherSkiffParameters',
        effect: Effect.DENY,
        actions: ['ssm:GetParameter*'],
        resources: [parameterArn('/skiff/*')],
        conditions: { StringNotEquals: { [HOST_ARN_TAG_CONDITION]: SOURCE_INSTANCE_ARN } },
      }),
    );
    this.hostRole.addToPolicy(
      new PolicyStatement({
        // These three actions always name one item, so LeadingKeys is never an empty set (for
        // which ForAllValues would be vacuously true); Query, Scan and batch calls stay denied.
        sid: 'OwnHostItems',
        actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
        resources: [this.table.tableArn],
        conditions: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [`HOST#${SOURCE_INSTANCE_ARN}`] } },
      }),
    );
    this.hostRole.addToPolicy(
      new PolicyStatement({
        sid: 'DownloadAgentBundle',
        actions: ['s3:GetObject'],
        resources: [
          Stack.of(this).formatArn({
            service: 's3',
            region: '',
            account: '',
            resource: this.agentBundle.s3BucketName,
            resourceName: this.agentBundle.s3ObjectKey,
          }),
        ],
      }),
    );
  }
}

interface ValidatedSettings {
  readonly clusterName: string;
  readonly hostInstanceType: InstanceType;
  readonly hostRootVolumeGiB: number;
  readonly minHosts: number;
  readonly maxHosts: number;
  readonly desiredHosts: number | undefined;
  readonly hostHeartbeatSeconds: number;
  readonly hostGraceSeconds: number;
  readonly dnsZoneName: string;
  readonly loadBalancerScheme: LoadBalancerScheme;
  readonly certificateArn: string | undefined;
  readonly vpcCidr: string;
  readonly clusterCidr: string;
  readonly hostSubnetPrefix: number;
  readonly routesPerRouteTable: number;
}

/** Checks props before any resource exists, with messages that say what to change. */
export function validateSkiffClusterProps(props: SkiffClusterProps): ValidatedSettings {
  const clusterName = props.clusterName ?? DEFAULT_CLUSTER_NAME;
  if (Token.isUnresolved(clusterName)) {
    throw new Error('clusterName must be a literal string, not a token: it is part of parameter paths and IAM policies');
  }
  if (!CLUSTER_NAME_PATTERN.test(clusterName)) {
    throw new Error(
      `clusterName '${clusterName}' is invalid: use 1-32 lowercase letters, digits and hyphens, starting with a letter ` +
        'and not ending with a hyphen (it becomes part of SSM parameter paths, tags and the stack name)',
    );
  }
  const minHosts = props.minHosts ?? 1;
  const maxHosts = props.maxHosts ?? 3;
  const desiredHosts = props.desiredHosts;
  const hostRootVolumeGiB = props.hostRootVolumeGiB ?? 30;
  const hostHeartbeatSeconds = props.hostHeartbeatSeconds ?? DEFAULT_HEARTBEAT_SECONDS;
  const hostGraceSeconds = props.hostGraceSeconds ?? DEFAULT_GRACE_SECONDS;
  for (const [name, value] of [
    ['minHosts', minHosts],
    ['maxHosts', maxHosts],
    ['desiredHosts', desiredHosts],
    ['hostRootVolumeGiB', hostRootVolumeGiB],
    ['hostHeartbeatSeconds', hostHeartbeatSeconds],
    ['hostGraceSeconds', hostGraceSeconds],
  ] as const) {
    if (value !== undefined && (!Number.isInteger(value) || value < 0)) {
      throw new Error(`${name} must be a whole number of 0 or more, got ${value}`);
    }
  }
  if (maxHosts < 1) {
    throw new Error(`maxHosts must be at least 1, got ${maxHosts}: a cluster without hosts cannot run anything`);
  }
  if (minHosts > maxHosts) {
    throw new Error(`minHosts (${minHosts}) is greater than maxHosts (${maxHosts}): lower minHosts or raise maxHosts`);
  }
  if (desiredHosts !== undefined && (desiredHosts < minHosts || desiredHosts > maxHosts)) {
    throw new Error(
      `desiredHosts (${desiredHosts}) is outside minHosts..maxHosts (${minHosts}..${maxHosts}): ` +
        'pick a value in that range or leave desiredHosts unset',
    );
  }
  // The AL2023 AMI needs about 2 GiB; Docker images and container logs need the rest.
  if (hostRootVolumeGiB < 8) {
    throw new Error(`hostRootVolumeGiB must be at least 8 (room for the OS, Docker images and logs), got ${hostRootVolumeGiB}`);
  }
  if (hostHeartbeatSeconds < 1) {
    throw new Error(`hostHeartbeatSeconds must be at least 1, got ${hostHeartbeatSeconds}`);
  }
  // The health check takes a gap between its own checks longer than the grace for a control-plane
  // outage and gives every host a fresh grace period (core/health.ts). Checks come 15 s apart, a
  // little more across invocations: a grace near that would make every check a "resume", and no
  // host would ever be declared down.
  const minGrace = 2 * HEALTH_INTERVAL_SECONDS;
  if (hostGraceSeconds < minGrace) {
    throw new Error(
      `hostGraceSeconds (${hostGraceSeconds}) must be at least ${minGrace}, twice the ${HEALTH_INTERVAL_SECONDS} s between health checks: ` +
        'a gap between checks longer than the grace counts as a control-plane outage and restarts every grace period, ' +
        `so no host would ever be declared down. Raise hostGraceSeconds to ${minGrace} or more`,
    );
  }
  // A host silent for two heartbeat intervals has missed one beat: a slow write or a lost round, no failure.
  if (hostGraceSeconds <= 2 * hostHeartbeatSeconds) {
    throw new Error(
      `hostGraceSeconds (${hostGraceSeconds}) must be more than twice hostHeartbeatSeconds (${hostHeartbeatSeconds}), ` +
        'so that one late heartbeat does not declare a healthy host down: ' +
        `raise hostGraceSeconds to at least ${2 * hostHeartbeatSeconds + 1} or lower hostHeartbeatSeconds to at most ${Math.ceil(hostGraceSeconds / 2) - 1}`,
    );
  }
  return {
    clusterName,
    ...validateIngressProps(props),
    ...validateNetworkProps(props, maxHosts),
    hostInstanceType: props.hostInstanceType ?? InstanceType.of(InstanceClass.T4G, InstanceSize.SMALL),
    hostRootVolumeGiB,
    minHosts,
    maxHosts,
    desiredHosts,
    hostHeartbeatSeconds,
    hostGraceSeconds,
  };
}


/** Checks the container network: the cluster CIDR holds `maxHosts` subnets, the route tables hold their routes, nothing overlaps. */
function validateNetworkProps(
  props: SkiffClusterProps,
  maxHosts: number,
): Pick<ValidatedSettings, 'vpcCidr' | 'clusterCidr' | 'hostSubnetPrefix' | 'routesPerRouteTable'> {
  const clusterCidr = props.clusterCidr ?? DEFAULT_CLUSTER_CIDR;
  const hostSubnetPrefix = props.hostSubnetPrefix ?? DEFAULT_HOST_SUBNET_PREFIX;
  const routesPerRouteTable = props.routesPerRouteTable ?? DEFAULT_ROUTES_PER_ROUTE_TABLE;
  const vpcCidr = props.vpcCidr ?? DEFAULT_VPC_CIDR;
  const cidrOf = (name: string, value: string) => {
    if (Token.isUnresolved(value)) throw new Error(`${name} must be a literal CIDR, not a token: it is checked at synthesis and given to the scheduler`);
    try {
      parseCidr(value, name);
    } catch (err) {
      if (err instanceof ValidationError) throw new Error(`${name} '${value}' is invalid: ${err.issues.map((i) => i.message).join('; ')}`);
      throw err;
    }
  };
  cidrOf('clusterCidr', clusterCidr);
  if (props.vpc === undefined) cidrOf('vpcCidr', vpcCidr);
  try {
    const problem = capacityError(clusterCidr, hostSubnetPrefix, maxHosts);
    if (problem) throw new Error(`clusterCidr is too small for maxHosts: ${problem}`);
  } catch (err) {
    if (err instanceof ValidationError) {
      throw new Error(`hostSubnetPrefix ${hostSubnetPrefix} is invalid for clusterCidr ${clusterCidr}: ${err.issues.map((i) => i.message).join('; ')}`);
    }
    throw err;
  }
  if (!Number.isInteger(routesPerRouteTable) || routesPerRouteTable < RESERVED_ROUTES + 1 || routesPerRouteTable > 1000) {
    throw new Error(`routesPerRouteTable must be a whole number from ${RESERVED_ROUTES + 1} to 1000 (the quota's maximum), got ${routesPerRouteTable}`);
  }
  const routeRoom = routesPerRouteTable - RESERVED_ROUTES;
  if (maxHosts > routeRoom) {
    throw new Error(
      `maxHosts (${maxHosts}) needs ${maxHosts} routes in each route table of the hosts' subnets, one per host's container subnet, ` +
        `plus about ${RESERVED_ROUTES} already there (local, NAT gateway, S3 and DynamoDB endpoints), more than routesPerRouteTable (${routesPerRouteTable}). ` +
        `Lower maxHosts to ${routeRoom}, or raise the "Routes per route table" quota of Amazon VPC in Service Quotas (up to 1,000) ` +
        `and set routesPerRouteTable to the new quota (${maxHosts + RESERVED_ROUTES} or more)`,
    );
  }
  if (overlaps(clusterCidr, DOCKER_BRIDGE_CIDR)) {
    throw new Error(
      `clusterCidr ${clusterCidr} overlaps ${DOCKER_BRIDGE_CIDR}, the network of Docker's default bridge on every host: ` +
        `use a range outside it, for example ${DEFAULT_CLUSTER_CIDR}`,
    );
  }
  // A VPC made elsewhere may have its CIDR only as a token (resolved at deploy time), or, during the
  // first pass of a lookup, as CDK's placeholder (1.2.3.4/5, not a network address): neither is checked.
  let givenVpcCidr: string | undefined;
  try {
    givenVpcCidr = props.vpc?.vpcCidrBlock;
  } catch {
    // Vpc.fromVpcAttributes without vpcCidrBlock throws on reading it.
    throw new Error(
      "the given vpc has no CIDR: import it with vpcCidrBlock (Vpc.fromVpcAttributes({ ..., vpcCidrBlock })), or use -c vpcId=... so the stack looks it up. " +
        'The internal load balancer admits the VPC CIDR, and the cluster CIDR is checked against it',
    );
  }
  const knownVpcCidr = props.vpc === undefined ? vpcCidr : literalCidr(givenVpcCidr!);
  if (knownVpcCidr !== undefined && overlaps(clusterCidr, knownVpcCidr)) {
    throw new Error(
      `clusterCidr ${clusterCidr} overlaps the VPC's CIDR ${knownVpcCidr}: container routes would shadow the VPC's own addresses. ` +
        'Use a range outside the VPC (and outside peered and on-premises networks)',
    );
  }
  return { vpcCidr, clusterCidr, hostSubnetPrefix, routesPerRouteTable };
}

/** `text` when it is a literal, canonical CIDR; undefined for a token or anything unparsable. */
function literalCidr(text: string): string | undefined {
  if (Token.isUnresolved(text)) return undefined;
  try {
    parseCidr(text);
    return text;
  } catch {
    return undefined;
  }
}

/** Checks the DNS zone name, the load balancer scheme and the certificate ARN. */
function validateIngressProps(props: SkiffClusterProps): Pick<ValidatedSettings, 'dnsZoneName' | 'loadBalancerScheme' | 'certificateArn'> {
  const dnsZoneName = props.dnsZoneName ?? DEFAULT_DNS_ZONE_NAME;
  if (Token.isUnresolved(dnsZoneName)) {
    throw new Error('dnsZoneName must be a literal string, not a token: the scheduler gets it as SKIFF_DNS_ZONE and checks names against it');
  }
  const labels = dnsZoneName.split('.');
  if (dnsZoneName.length > MAX_DNS_NAME_LENGTH || !labels.every((label) => DNS_LABEL_PATTERN.test(label))) {
    throw new Error(
      `dnsZoneName '${dnsZoneName}' is invalid: use dot-separated labels of 1-63 lowercase letters, digits and hyphens ` +
        `(not starting or ending with a hyphen), ${MAX_DNS_NAME_LENGTH} characters at most, without a trailing dot, for example 'skiff.internal'`,
    );
  }
  if (labels[labels.length - 1] === 'local') {
    throw new Error(
      `dnsZoneName '${dnsZoneName}' ends in .local, which is reserved for multicast DNS (RFC 6762): resolvers send those names ` +
        `to mDNS, not to Route 53. Use another suffix, for example '${[...labels.slice(0, -1), 'internal'].join('.') || DEFAULT_DNS_ZONE_NAME}'`,
    );
  }
  const loadBalancerScheme = props.loadBalancerScheme ?? 'internal';
  if (!LOAD_BALANCER_SCHEMES.includes(loadBalancerScheme)) {
    throw new Error(`loadBalancerScheme '${String(loadBalancerScheme)}' is invalid: use 'internal' or 'internet-facing'`);
  }
  const certificateArn = props.certificateArn;
  // A token (a Certificate made in the same app) is checked by CloudFormation at deploy time.
  if (certificateArn !== undefined && !Token.isUnresolved(certificateArn) && !CERTIFICATE_ARN_PATTERN.test(certificateArn)) {
    throw new Error(
      `certificateArn '${certificateArn}' is not an ACM certificate ARN: expected arn:aws:acm:<region>:<12-digit account>:certificate/<id>, ` +
        'for example arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789 (the certificate must be in the stack\'s region), ' +
        'or leave certificateArn unset for HTTP on port 80',
    );
  }
  return { dnsZoneName, loadBalancerScheme, certificateArn };
}
