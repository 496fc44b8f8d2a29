/**
 * SkiffStack: a thin Stack around one SkiffCluster, plus its outputs, and the typed reading of
 * the cluster's settings from CDK context (`cdk deploy -c clusterName=prod -c maxHosts=6`).
 */
import { CfnOutput, Stack, Token } from 'aws-cdk-lib';
import type { StackProps } from 'aws-cdk-lib';
import { InstanceType, SubnetFilter, Vpc } from 'aws-cdk-lib/aws-ec2';
import type { Construct, Node } from 'constructs';
import { SkiffCluster } from './skiff-cluster.ts';
import type { LoadBalancerScheme, SkiffClusterProps } from './skiff-cluster.ts';

export interface SkiffStackProps extends StackProps {
  /**
   * Settings of the cluster.
   * @default - the SkiffCluster defaults (cluster 'skiff')
   */
  readonly cluster?: SkiffClusterProps;
  /**
   * Run the cluster in this existing VPC, found by `Vpc.fromLookup`: the stack then needs `env`
   * (account and region). The first synthesis asks AWS (credentials needed) and caches the answer in
   * cdk.context.json; commit that file and later syntheses run offline. The VPC needs private
   * subnets with egress (the hosts) and, for an internet-facing load balancer, public ones.
   * @default - a new VPC (see SkiffClusterProps.vpc)
   */
  readonly vpcId?: string;
}

const VPC_ID = /^vpc-[0-9a-f]{8,17}$/;

/** One Skiff cluster per stack. */
export class SkiffStack extends Stack {
  readonly cluster: SkiffCluster;

  constructor(scope: Construct, id: string, props: SkiffStackProps = {}) {
    super(scope, id, props);
    let cluster = props.cluster;
    if (props.vpcId !== undefined) {
      if (!VPC_ID.test(props.vpcId))
        throw new Error(`vpcId '${props.vpcId}' is not a VPC id: expected vpc- and 8 or 17 hex digits, for example vpc-0123456789abcdef0`);
      if (cluster?.vpc !== undefined) throw new Error('give either vpcId or cluster.vpc, not both');
      if (Token.isUnresolved(this.account) || Token.isUnresolved(this.region)) {
        throw new Error(
          `vpcId ${props.vpcId} is looked up in the account and region the stack deploys to, and none is set: ` +
            'run cdk with AWS credentials (it sets CDK_DEFAULT_ACCOUNT and CDK_DEFAULT_REGION), or pass -c account=<12 digits> -c region=<region>',
        );
      }
      cluster = { ...cluster, vpc: Vpc.fromLookup(this, 'Vpc', { vpcId: props.vpcId }) };
    }
    this.cluster = new SkiffCluster(this, 'Cluster', cluster);

    new CfnOutput(this, 'ApiUrl', { value: this.cluster.httpApi.url!, description: 'Skiff API endpoint (SigV4, service execute-api)' });
    new CfnOutput(this, 'TableName', { value: this.cluster.table.tableName });
    new CfnOutput(this, 'UserPoolId', {
      value: this.cluster.api.userPool.userPoolId,
      description: 'Cognito user pool of the people who sign in (skiff login)',
    });
    new CfnOutput(this, 'UserPoolClientId', { value: this.cluster.api.cliClient.userPoolClientId, description: "the CLI's app client in the user pool" });
    new CfnOutput(this, 'ClusterName', { value: this.cluster.clusterName });
    new CfnOutput(this, 'ParameterPrefix', { value: this.cluster.parameterPrefix });
    new CfnOutput(this, 'HostAutoScalingGroupName', { value: this.cluster.hosts.autoScalingGroupName });
    new CfnOutput(this, 'LoadBalancerDnsName', {
      value: this.cluster.loadBalancer.loadBalancerDnsName,
      description: 'Point each ingress host name at this name (CNAME or alias)',
    });
    new CfnOutput(this, 'HostedZoneId', { value: this.cluster.dnsZone.hostedZoneId, description: 'Route 53 private hosted zone of service discovery' });
  }
}

/** Context keys the app reads, each mapped to the SkiffCluster prop it sets. */
export const CONTEXT_KEYS = [
  'clusterName',
  'hostInstanceType',
  'minHosts',
  'maxHosts',
  'desiredHosts',
  'hostHeartbeatSeconds',
  'hostGraceSeconds',
  'dnsZoneName',
  'loadBalancerScheme',
  'certificateArn',
  'clusterCidr',
  'hostSubnetPrefix',
  'routesPerRouteTable',
  'containerNetwork',
  'namespaceBlockPrefix',
  'hostSubnetId',
  'vpcCidr',
] as const;

/** Context keys of the stack itself: an existing VPC, and the account and region to look it up in. */
export const STACK_CONTEXT_KEYS = ['vpcId', 'account', 'region'] as const;

/** The stack id (and CloudFormation stack name) of a cluster: one stack per cluster and account/region. */
export function stackIdFor(clusterName: string): string {
  return `Skiff-${clusterName}`;
}

/**
 * Reads the cluster's settings from CDK context. `-c` values arrive as strings, cdk.json values
 * may be numbers; both are accepted, anything else fails with the key's name.
 */
export function clusterPropsFromContext(node: Node): SkiffClusterProps {
  const text = (key: string): string | undefined => {
    const value: unknown = node.tryGetContext(key);
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string' || value.trim() === '') {
      throw new Error(`context '${key}' must be a non-empty string, got ${JSON.stringify(value)}`);
    }
    return value.trim();
  };
  const count = (key: string): number | undefined => {
    const value: unknown = node.tryGetContext(key);
    if (value === undefined || value === null) return undefined;
    if (typeof value === 'number' && Number.isInteger(value)) return value;
    if (typeof value === 'string' && /^\d+$/.test(value.trim())) return Number(value.trim());
    throw new Error(`context '${key}' must be a whole number (for example -c ${key}=2), got ${JSON.stringify(value)}`);
  };
  const instanceType = text('hostInstanceType');
  const hostSubnetId = text('hostSubnetId');
  if (hostSubnetId !== undefined && !/^subnet-[0-9a-f]{8,17}$/.test(hostSubnetId)) {
    throw new Error(`context 'hostSubnetId' must be a subnet id (subnet-...), got '${hostSubnetId}'`);
  }
  return {
    clusterName: text('clusterName'),
    hostInstanceType: instanceType === undefined ? undefined : new InstanceType(instanceType),
    minHosts: count('minHosts'),
    maxHosts: count('maxHosts'),
    desiredHosts: count('desiredHosts'),
    hostHeartbeatSeconds: count('hostHeartbeatSeconds'),
    hostGraceSeconds: count('hostGraceSeconds'),
    dnsZoneName: text('dnsZoneName'),
    // Checked against the two schemes by validateSkiffClusterProps, with the message that lists them.
    loadBalancerScheme: text('loadBalancerScheme') as LoadBalancerScheme | undefined,
    certificateArn: text('certificateArn'),
    clusterCidr: text('clusterCidr'),
    hostSubnetPrefix: count('hostSubnetPrefix'),
    routesPerRouteTable: count('routesPerRouteTable'),
    // Checked against the two modes by validateSkiffClusterProps.
    containerNetwork: text('containerNetwork') as SkiffClusterProps['containerNetwork'],
    namespaceBlockPrefix: count('namespaceBlockPrefix'),
    ...(hostSubnetId === undefined ? {} : { hostSubnets: { subnetFilters: [SubnetFilter.byIds([hostSubnetId])] } }),
    vpcCidr: text('vpcCidr'),
  };
}

/**
 * Reads the stack's settings from CDK context: `-c vpcId=vpc-...` for an existing VPC, and where to
 * look it up (`-c account=... -c region=...`, else the CLI's CDK_DEFAULT_ACCOUNT and CDK_DEFAULT_REGION).
 */
export function stackSettingsFromContext(node: Node, env: NodeJS.ProcessEnv = process.env): Pick<SkiffStackProps, 'vpcId' | 'env'> {
  const text = (key: string): string | undefined => {
    const value: unknown = node.tryGetContext(key);
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string' || value.trim() === '') throw new Error(`context '${key}' must be a non-empty string, got ${JSON.stringify(value)}`);
    return value.trim();
  };
  const account = text('account');
  if (account !== undefined && !/^\d{12}$/.test(account)) throw new Error(`context 'account' must be a 12-digit AWS account id, got '${account}'`);
  const region = text('region');
  if (region !== undefined && !/^[a-z]{2}(-[a-z]+)+-\d$/.test(region))
    throw new Error(`context 'region' must be an AWS region such as eu-west-1, got '${region}'`);
  const vpcId = text('vpcId');
  // Without an existing VPC the stack stays environment-agnostic: synthesis needs nothing from AWS.
  if (vpcId === undefined) return {};
  const resolved = { account: account ?? env.CDK_DEFAULT_ACCOUNT, region: region ?? env.CDK_DEFAULT_REGION };
  return { vpcId, ...(resolved.account && resolved.region ? { env: resolved } : {}) };
}
