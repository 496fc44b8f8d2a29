/**
 * SkiffCluster: one Skiff cluster on AWS, made of parts in their own files: the state table
 * (state.ts), the hosts' VPC and container network (container-network.ts), the hosts
 * (hosts.ts), service discovery and the ingress load balancer (ingress.ts), the control-plane
 * functions and their triggers (control-functions.ts), the HTTP API (api.ts) and the alarms and
 * logs (observability.ts). Props, defaults and their validation are in cluster-props.ts.
 *
 * Construct ids are a public contract: renaming one replaces the resource. The parts are hidden
 * from logical ids (logical-ids.ts), so every resource keeps the id it had when the cluster was one
 * construct; test/infra/logical-ids.test.ts pins them.
 */
import { Aws, Lazy, Stack, Tags } from 'aws-cdk-lib';
import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import type { AutoScalingGroup } from 'aws-cdk-lib/aws-autoscaling';
import type { Table } from 'aws-cdk-lib/aws-dynamodb';
import type { IVpc, LaunchTemplate, SecurityGroup } from 'aws-cdk-lib/aws-ec2';
import type { ApplicationListener, ApplicationLoadBalancer } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import type { Role } from 'aws-cdk-lib/aws-iam';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { PrivateHostedZone } from 'aws-cdk-lib/aws-route53';
import type { Asset } from 'aws-cdk-lib/aws-s3-assets';
import type { Bucket } from 'aws-cdk-lib/aws-s3';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ENV } from '../app/env-names.ts';
import { SkiffApi } from './api.ts';
import { CREDENTIALS_ADDRESS, SkiffWorkloadIdentity } from './workload-identity.ts';
import { SkiffAutoscaler } from './autoscaler.ts';
import { DEFAULT_ENTRIES, validateSkiffClusterProps } from './cluster-props.ts';
import type { SkiffClusterProps, SkiffClusterSettings } from './cluster-props.ts';
import { SkiffContainerNetwork } from './container-network.ts';
import { SkiffControlFunctions } from './control-functions.ts';
import { CLUSTER_TAG_KEY, SkiffHosts } from './hosts.ts';
import { SkiffHostAutoscaling } from './host-autoscaling.ts';
import { SkiffIngress } from './ingress.ts';
import { hideFromLogicalIds } from './logical-ids.ts';
import { suppressSkiffClusterFindings } from './nag.ts';
import { SkiffObservability } from './observability.ts';
import { SkiffState } from './state.ts';
import { SkiffHostDocuments } from './host-documents.ts';
import { DRAIN_SECONDS } from '../core/stopping.ts';
import { SkiffPersistentVolumes } from './volumes.ts';
import { SkiffClusterLogs } from './logs.ts';

export {
  DEFAULT_CLUSTER_CIDR,
  DEFAULT_CLUSTER_NAME,
  DEFAULT_DNS_ZONE_NAME,
  DEFAULT_ENTRIES,
  DEFAULT_GRACE_SECONDS,
  DEFAULT_HEARTBEAT_SECONDS,
  DEFAULT_HOST_SUBNET_PREFIX,
  DEFAULT_ROUTES_PER_ROUTE_TABLE,
  DEFAULT_VPC_CIDR,
  RESERVED_ROUTES,
  validateSkiffClusterProps,
} from './cluster-props.ts';
export type { LoadBalancerScheme, SkiffClusterProps, SkiffClusterSettings } from './cluster-props.ts';
export { HEALTH_CHECKS_PER_RUN, HEALTH_INTERVAL_SECONDS, HEALTH_PERIOD } from './control-functions.ts';
export { SCHEDULER_STREAM_FILTERS } from './stream-filter.ts';
export { CLUSTER_TAG_KEY, HOST_ARN_TAG_KEY, WAKE_COMMAND } from './hosts.ts';
export { ACCESS_LOG_PREFIX, DOCKER_PUBLISHED_PORTS } from './ingress.ts';
export { SOURCE_INSTANCE_ARN, TTL_ATTRIBUTE } from './state.ts';

/** One Skiff cluster: control plane, state and hosts. */
export class SkiffCluster extends Construct {
  /** The validated cluster name. */
  readonly clusterName: string;
  /** `/skiff/<clusterName>`: root of every SSM parameter of the cluster. */
  readonly parameterPrefix: string;
  /** `arn:<partition>:ec2:<region>:<account>:instance/`: a host's ARN is this plus its instance id. */
  readonly hostArnPrefix: string;

  /** The state table (construct id `State`). */
  readonly state: SkiffState;
  /** The host document table, with `hostChannel: 'dynamodb'` (infra/host-documents.ts); absent on SSM. */
  readonly hostDocuments?: SkiffHostDocuments;
  /** The hosts' VPC and the routes of their container subnets (`Network`). */
  readonly network: SkiffContainerNetwork;
  /** The hosts, their role, security group and launch template (`HostFleet`). */
  readonly hostFleet: SkiffHosts;
  /** The EFS file system of persistent volumes (infra/volumes.ts). */
  readonly volumes: SkiffPersistentVolumes;
  /** The private DNS zone and the ingress load balancer (`Ingress`). */
  readonly ingress: SkiffIngress;
  /** The API, scheduler and health functions and their triggers (`ControlPlane`). */
  readonly controlPlane: SkiffControlFunctions;
  /** The horizontal autoscaler: its function, schedule and alarm rule (`Autoscaler`). */
  readonly autoscaler: SkiffAutoscaler;
  /** The HTTP API (`HttpApi`). */
  readonly api: SkiffApi;
  /** Alarms, dashboard, alarm topic, API access logs and VPC flow log (`Observability`). */
  readonly observability: SkiffObservability;
  /** The cluster's log group: containers' output and the agents' own logs (docs/logs.md). */
  readonly logs: SkiffClusterLogs;

  // The members below are the parts' resources, named as before the parts existed.
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
  /** The host autoscaler: its function and schedule (infra/host-autoscaling.ts). */
  readonly hostAutoscaling: SkiffHostAutoscaling;
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

  constructor(scope: Construct, id: string, props: SkiffClusterProps = {}) {
    super(scope, id);
    const settings = validateSkiffClusterProps(props);
    const { clusterName } = settings;
    this.clusterName = clusterName;
    this.parameterPrefix = `/skiff/${clusterName}`;
    this.hostArnPrefix = `arn:${Aws.PARTITION}:ec2:${Aws.REGION}:${Aws.ACCOUNT_ID}:instance/`;
    Tags.of(this).add(CLUSTER_TAG_KEY, clusterName);

    this.state = new SkiffState(this, 'State', { removalPolicy: props.tableRemovalPolicy });
    if (settings.hostChannel === 'dynamodb') {
      this.hostDocuments = new SkiffHostDocuments(this, 'HostDocuments', { removalPolicy: props.tableRemovalPolicy });
    }
    this.network = new SkiffContainerNetwork(this, 'Network', {
      clusterName,
      vpc: props.vpc,
      vpcCidr: settings.vpcCidr,
      hostSubnets: props.hostSubnets,
      clusterCidr: settings.clusterCidr,
      hostSubnetPrefix: settings.hostSubnetPrefix,
      containerNetwork: settings.containerNetwork,
      ...(settings.namespaceBlockPrefix === undefined ? {} : { namespaceBlockPrefix: settings.namespaceBlockPrefix }),
    });
    this.logs = new SkiffClusterLogs(this, 'Logs', { clusterName, retention: props.clusterLogRetention });
    this.volumes = new SkiffPersistentVolumes(this, 'Volumes', { clusterName, vpc: this.network.vpc, vpcSubnets: this.network.hostSubnets });
    this.hostFleet = this.addHosts(props, settings);
    this.hostDocuments?.grantReadOwnDocument(this.hostFleet.role);
    this.logs.grantShip(this.hostFleet.role);
    this.network.admitContainers(this.hostFleet.securityGroup);
    this.volumes.admitHosts(this.hostFleet.securityGroup);
    this.volumes.grantHosts(this.hostFleet.role);
    this.ingress = new SkiffIngress(this, 'Ingress', {
      clusterName,
      vpc: this.network.vpc,
      hostSecurityGroup: this.hostFleet.securityGroup,
      dnsZoneName: settings.dnsZoneName,
      loadBalancerScheme: settings.loadBalancerScheme,
      certificateArn: settings.certificateArn,
      ...(settings.certificate ? { certificate: settings.certificate } : {}),
      deregistrationDelaySeconds: DRAIN_SECONDS.aws,
    });
    this.controlPlane = this.addControlPlane(props, settings);
    this.api = new SkiffApi(this, 'HttpApi', { clusterName, handler: this.controlPlane.apiFunction });
    // The web console signs people in with the CLI's app client (docs/console.md).
    this.controlPlane.apiFunction.addEnvironment(ENV.cognitoClientId, this.api.cliClient.userPoolClientId);
    new SkiffWorkloadIdentity(this, 'WorkloadIdentity', {
      clusterName,
      parameterPrefix: this.parameterPrefix,
      hostRole: this.hostFleet.role,
      apiFunction: this.controlPlane.apiFunction,
      schedulerFunction: this.controlPlane.schedulerFunction,
      httpApi: this.api.httpApi,
    });
    this.hostAutoscaling = new SkiffHostAutoscaling(this, 'HostAutoscaling', {
      clusterName,
      table: this.state.table,
      group: this.hostFleet.autoScalingGroup,
      entry: props.hostAutoscalerEntry ?? DEFAULT_ENTRIES.hostAutoscaler,
      environment: this.controlPlaneEnvironment(),
      schedulerFunction: this.controlPlane.schedulerFunction,
      logRetention: props.logRetention,
    });
    // It forgets the hosts it terminated, their documents first (app/host-autoscaler.ts), on the channel in use.
    if (this.hostDocuments) this.hostDocuments.grantRemove(this.hostAutoscaling.function);
    else this.hostFleet.grantRemoveDocuments(this.hostAutoscaling.function);
    this.autoscaler = new SkiffAutoscaler(this, 'Autoscaler', {
      clusterName,
      table: this.state.table,
      entry: props.autoscalerEntry ?? DEFAULT_ENTRIES.autoscaler,
      environment: this.controlPlaneEnvironment(),
      ingressEnvironment: { [ENV.albListenerArn]: this.ingress.listener.listenerArn, [ENV.vpcId]: this.network.vpc.vpcId },
      logRetention: props.logRetention,
    });

    // The API serves the log routes (app/log-routes.ts): it alone reads the cluster's logs, and the
    // control functions' own groups for `skiff logs --control-plane` (Lambda writes those, docs/logs.md).
    const controlLogGroups = {
      api: this.controlPlane.apiFunction.logGroup,
      scheduler: this.controlPlane.schedulerFunction.logGroup,
      health: this.controlPlane.healthFunction.logGroup,
      autoscaler: this.autoscaler.function.logGroup,
      'host-autoscaler': this.hostAutoscaling.function.logGroup,
    };
    this.logs.grantRead(this.controlPlane.apiFunction, Object.values(controlLogGroups));
    this.controlPlane.apiFunction.addEnvironment(ENV.logGroup, this.logs.logGroupName);
    this.controlPlane.apiFunction.addEnvironment(
      ENV.controlLogGroups,
      Stack.of(this).toJsonString(Object.fromEntries(Object.entries(controlLogGroups).map(([fn, group]) => [fn, group.logGroupName]))),
    );

    this.vpc = this.network.vpc;
    this.clusterCidr = this.network.clusterCidr;
    this.hostRouteTableIds = this.network.hostRouteTableIds;
    this.table = this.state.table;
    this.apiFunction = this.controlPlane.apiFunction;
    this.schedulerFunction = this.controlPlane.schedulerFunction;
    this.healthFunction = this.controlPlane.healthFunction;
    this.failedInvocations = this.controlPlane.failedInvocations;
    this.httpApi = this.api.httpApi;
    this.hostRole = this.hostFleet.role;
    this.hostSecurityGroup = this.hostFleet.securityGroup;
    this.hostLaunchTemplate = this.hostFleet.launchTemplate;
    this.hosts = this.hostFleet.autoScalingGroup;
    this.agentBundle = this.hostFleet.agentBundle;
    this.dnsZone = this.ingress.dnsZone;
    this.loadBalancer = this.ingress.loadBalancer;
    this.accessLogs = this.ingress.accessLogs;
    this.loadBalancerListener = this.ingress.listener;
    this.loadBalancerSecurityGroup = this.ingress.loadBalancerSecurityGroup;

    this.observability = new SkiffObservability(this, 'Observability', {
      clusterName,
      functions: {
        api: this.apiFunction,
        scheduler: this.schedulerFunction,
        health: this.healthFunction,
        autoscaler: this.autoscaler.function,
        hostAutoscaler: this.hostAutoscaling.function,
      },
      table: this.table,
      httpApi: this.httpApi,
      vpc: this.vpc,
      logRetention: props.logRetention,
    });
    // Last: every resource of the parts exists now. Observability was a sub-construct from the start.
    hideFromLogicalIds(this, [this.state, this.network, this.hostFleet, this.ingress, this.controlPlane, this.api]);
    // The cdk-nag findings Skiff accepts, each with its reason (infra/nag.ts).
    suppressSkiffClusterFindings(this);
  }

  /** Where every control-plane function finds the cluster's state. */
  private controlPlaneEnvironment(): Record<string, string> {
    return {
      [ENV.cluster]: this.clusterName,
      [ENV.table]: this.state.table.tableName,
      [ENV.paramPrefix]: this.parameterPrefix,
      [ENV.hostArnPrefix]: this.hostArnPrefix,
      // Absent: the SSM host channel.
      ...this.hostDocuments?.environment,
    };
  }

  /** The container hosts, with their role's access to their own items in the state table. */
  private addHosts(props: SkiffClusterProps, settings: SkiffClusterSettings): SkiffHosts {
    return new SkiffHosts(this, 'HostFleet', {
      clusterName: settings.clusterName,
      parameterPrefix: this.parameterPrefix,
      hostArnPrefix: this.hostArnPrefix,
      vpc: this.network.vpc,
      vpcSubnets: this.network.hostSubnets,
      state: this.state,
      agentEntry: props.agentEntry ?? DEFAULT_ENTRIES.agent,
      instanceType: settings.hostInstanceType,
      rootVolumeGiB: settings.hostRootVolumeGiB,
      minHosts: settings.minHosts,
      maxHosts: settings.maxHosts,
      desiredHosts: settings.desiredHosts,
      heartbeatSeconds: settings.hostHeartbeatSeconds,
      // The same drain as the load balancer's deregistration delay (SkiffIngress): see core/stopping.ts.
      drainSeconds: DRAIN_SECONDS.aws,
      efsFileSystemId: this.volumes.fileSystem.fileSystemId,
      ...(this.hostDocuments ? { hostDocumentTable: this.hostDocuments.table.tableName } : {}),
      logGroup: this.logs.logGroupName,
      // The API is made after the hosts (its function's grants need them): its URL is resolved at synthesis.
      workloadIdentity: { apiUrl: Lazy.string({ produce: () => this.api.httpApi.apiEndpoint }), credentialsAddress: CREDENTIALS_ADDRESS },
    });
  }

  /**
   * The control-plane functions, told where the state is, and the scheduler given what it keeps
   * in step with the tasks: the host documents and wake-ups, the container routes, the DNS records
   * and the load balancer.
   */
  private addControlPlane(props: SkiffClusterProps, settings: SkiffClusterSettings): SkiffControlFunctions {
    const controlPlane = new SkiffControlFunctions(this, 'ControlPlane', {
      clusterName: settings.clusterName,
      table: this.state.table,
      entries: {
        api: props.apiEntry ?? DEFAULT_ENTRIES.api,
        scheduler: props.schedulerEntry ?? DEFAULT_ENTRIES.scheduler,
        health: props.healthEntry ?? DEFAULT_ENTRIES.health,
      },
      environment: this.controlPlaneEnvironment(),
      schedulerEnvironment: {
        ...this.network.schedulerEnvironment,
        ...this.ingress.schedulerEnvironment,
        // Only the scheduler wakes hosts; the others are neither told the document nor allowed to send it.
        [ENV.wakeDocument]: this.hostFleet.wakeDocumentName,
        // Volumes on EFS follow a replica to any host: the scheduler pins none.
        [ENV.efsFileSystemId]: this.volumes.fileSystem.fileSystemId,
      },
      hostGraceSeconds: settings.hostGraceSeconds,
      logRetention: props.logRetention,
    });
    const scheduler = controlPlane.schedulerFunction;
    this.hostFleet.grantPublishDocuments(scheduler);
    this.hostDocuments?.grantPublish(scheduler);
    this.hostFleet.grantManageSecrets(controlPlane.apiFunction);
    this.hostFleet.grantWake(scheduler);
    this.hostFleet.grantDescribeMachines(scheduler);
    this.network.grantRouting(scheduler);
    this.ingress.grantSync(scheduler);
    return controlPlane;
  }
}
