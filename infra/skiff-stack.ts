/**
 * SkiffStack: a thin Stack around one SkiffCluster, plus its outputs, and the typed reading of
 * the cluster's settings from CDK context (`cdk deploy -c clusterName=prod -c maxHosts=6`).
 */
import { CfnOutput, Stack } from 'aws-cdk-lib';
import type { StackProps } from 'aws-cdk-lib';
import { InstanceType } from 'aws-cdk-lib/aws-ec2';
import type { Construct, Node } from 'constructs';
import { SkiffCluster } from './skiff-cluster.ts';
import type { LoadBalancerScheme, SkiffClusterProps } from './skiff-cluster.ts';

export interface SkiffStackProps extends StackProps {
  /**
   * Settings of the cluster.
   * @default - the SkiffCluster defaults (cluster 'skiff')
   */
  readonly cluster?: SkiffClusterProps;
}

/** One Skiff cluster per stack. */
export class SkiffStack extends Stack {
  readonly cluster: SkiffCluster;

  constructor(scope: Construct, id: string, props: SkiffStackProps = {}) {
    super(scope, id, props);
    this.cluster = new SkiffCluster(this, 'Cluster', props.cluster);

    new CfnOutput(this, 'ApiUrl', { value: this.cluster.httpApi.url!, description: 'Skiff API endpoint (SigV4, service execute-api)' });
    new CfnOutput(this, 'TableName', { value: this.cluster.table.tableName });
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
] as const;

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
  };
}
