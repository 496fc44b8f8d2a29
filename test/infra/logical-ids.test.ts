/**
 * Logical ids are the contract between a deployed cluster and the next template: a changed id makes
 * CloudFormation create a new resource and delete the old one. This is the one infra test that
 * names hashed logical ids, because they are what it checks: those of every resource whose
 * replacement would lose data or break a running cluster, as they were when SkiffCluster was one
 * construct, before its parts moved into sub-constructs (infra/logical-ids.ts).
 */
import { App, CfnElement, CfnResource, Names, Stack } from 'aws-cdk-lib';
import { InstanceType } from 'aws-cdk-lib/aws-ec2';
import { Construct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hideFromLogicalIds } from '../../infra/logical-ids.ts';
import { synthFixtureStack } from './helpers.ts';
import type { Synthesized } from './helpers.ts';

/** Logical id → resource type, for the stack `Skiff-defaults` (the ids of rules between security groups embed the stack id). */
const PINNED: Record<string, string> = {
  // State: replacing these loses it.
  ClusterTable12397C59: 'AWS::DynamoDB::Table',
  ClusterLoadBalancerLogsB17E86D8: 'AWS::S3::Bucket',
  ClusterDnsZoneF7232EE9: 'AWS::Route53::HostedZone',
  ClusterFailedInvocationsDBA6F8E1: 'AWS::SQS::Queue',
  ClusterApiFunctionLogsE79895AC: 'AWS::Logs::LogGroup',
  ClusterSchedulerFunctionLogs3DCB5E7C: 'AWS::Logs::LogGroup',
  ClusterHealthFunctionLogs1B666118: 'AWS::Logs::LogGroup',
  // Route tables hold the scheduler's routes to the host subnets.
  ClusterVpchostsSubnet1RouteTable207C4821: 'AWS::EC2::RouteTable',
  ClusterVpchostsSubnet2RouteTable0DDCADCA: 'AWS::EC2::RouteTable',
  // Names and addresses others point at: the API URL, the load balancer's DNS name and listener
  // (the scheduler's rules hang on it), the NAT gateway's public address.
  ClusterApiA5E4BB3C: 'AWS::ApiGatewayV2::Api',
  ClusterApiDefaultStage98AE12CD: 'AWS::ApiGatewayV2::Stage',
  ClusterLoadBalancer47C87DEB: 'AWS::ElasticLoadBalancingV2::LoadBalancer',
  ClusterLoadBalancerListenerC9ABC8DA: 'AWS::ElasticLoadBalancingV2::Listener',
  ClusterVpcpublicSubnet1EIP70C09FB2: 'AWS::EC2::EIP',
  ClusterVpcpublicSubnet1NATGatewayD207D50D: 'AWS::EC2::NatGateway',
  // What the running hosts stand on: replacing any of these replaces or strands every host.
  ClusterVpcFAA3CEDF: 'AWS::EC2::VPC',
  ClusterVpchostsSubnet1Subnet9B60AF81: 'AWS::EC2::Subnet',
  ClusterVpchostsSubnet2Subnet8BC5D6F1: 'AWS::EC2::Subnet',
  ClusterHostsASGAC31CFCB: 'AWS::AutoScaling::AutoScalingGroup',
  ClusterHostLaunchTemplate03132613: 'AWS::EC2::LaunchTemplate',
  ClusterHostRole299C2C46: 'AWS::IAM::Role',
  ClusterHostLaunchTemplateProfileFAE3EC51: 'AWS::IAM::InstanceProfile',
  ClusterHostSecurityGroup9841C5DF: 'AWS::EC2::SecurityGroup',
  ClusterLoadBalancerSecurityGroup468ACE1B: 'AWS::EC2::SecurityGroup',
  // CloudFormation creates the new resource before deleting the old, and AWS refuses a second
  // identical security group rule or a second mapping of the same stream to the same function.
  ClusterHostSecurityGroupfromSkiffdefaultsClusterLoadBalancerSecurityGroupC1A9501C32768609998584DBA8: 'AWS::EC2::SecurityGroupIngress',
  ClusterLoadBalancerSecurityGrouptoSkiffdefaultsClusterHostSecurityGroupAEE771BD3276860999C555D659: 'AWS::EC2::SecurityGroupEgress',
  ClusterSchedulerFunctionDynamoDBEventSourceSkiffdefaultsClusterTable9DF150850A3FEC15: 'AWS::Lambda::EventSourceMapping',
};

describe('logical ids of a SkiffCluster', () => {
  let synth: Synthesized;
  beforeAll(() => {
    synth = synthFixtureStack({ hostInstanceType: new InstanceType('m7i.large') }, 'Skiff-defaults');
  });
  afterAll(() => synth?.cleanup());

  it('keep the ids of every resource holding state or standing under running hosts', () => {
    const resources = synth.template.toJSON().Resources as Record<string, { Type: string }>;
    const found = Object.fromEntries(Object.keys(PINNED).map((id) => [id, resources[id]?.Type]));
    expect(found).toEqual(PINNED);
  });

  it('do not name the sub-constructs the cluster is made of', () => {
    const ids = Object.keys(synth.template.toJSON().Resources as object);
    for (const part of ['State', 'Network', 'HostFleet', 'Ingress', 'ControlPlane', 'HttpApi']) {
      expect(ids.filter((id) => id.includes(`Cluster${part}`))).toEqual([]);
    }
  });
});

describe('hideFromLogicalIds', () => {
  /** The logical ids in a stack `S` with a construct `Parent` that `build` adds to (resolved without synthesizing the app). */
  function idsWith(build: (parent: Construct) => void): string[] {
    const stack = new Stack(new App(), 'S');
    build(new Construct(stack, 'Parent'));
    return stack.node
      .findAll()
      .filter((c): c is CfnElement => CfnElement.isCfnElement(c))
      .map((e) => stack.resolve(e.logicalId) as string)
      .sort();
  }
  const thing = (scope: Construct, id: string) => new CfnResource(scope, id, { type: 'Test::Thing' });

  it('gives a resource in a group the id it has without the group', () => {
    const direct = idsWith((parent) => thing(parent, 'Thing'));
    const grouped = idsWith((parent) => {
      thing(new Construct(parent, 'Group'), 'Thing');
      hideFromLogicalIds(parent, [parent.node.findChild('Group') as Construct]);
    });
    expect(grouped).toEqual(direct);
  });

  it('rewrites construct ids that embed the unique id of a construct in a group', () => {
    // As a security group rule is named after its peer: `from <peer unique id>:<ports>`.
    const direct = idsWith((parent) => {
      const peer = thing(parent, 'Peer');
      thing(parent, `from ${Names.uniqueId(peer)}:80`);
    });
    const grouped = idsWith((parent) => {
      const group = new Construct(parent, 'Group');
      const peer = thing(group, 'Peer');
      thing(parent, `from ${Names.uniqueId(peer)}:80`);
      hideFromLogicalIds(parent, [group]);
    });
    expect(grouped).toEqual(direct);
  });

  it('leaves a logical id that was overridden on purpose', () => {
    const ids = idsWith((parent) => {
      const group = new Construct(parent, 'Group');
      thing(group, 'Thing').overrideLogicalId('Chosen');
      hideFromLogicalIds(parent, [group]);
    });
    expect(ids).toEqual(['Chosen']);
  });

  it('hides only direct children', () => {
    const stack = new Stack(new App(), 'S');
    const parent = new Construct(stack, 'Parent');
    const grandchild = new Construct(new Construct(parent, 'Child'), 'Grandchild');
    expect(() => hideFromLogicalIds(parent, [grandchild])).toThrow(/S\/Parent\/Child\/Grandchild is not a child of S\/Parent/);
  });
});
