/**
 * Prefix mode (docs/network.md, "Prefix mode"): host subnets delegated to the hosts' interfaces as
 * /28 prefixes from a reservation in the hosts' one subnet, no route per host. The whole stack is
 * synthesized once, in an existing VPC given as lookup context (offline); the checks of the
 * construct and of the props run without a synthesis.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { SubnetType, Vpc } from 'aws-cdk-lib/aws-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateSkiffClusterProps } from '../../infra/cluster-props.ts';
import { SkiffContainerNetwork } from '../../infra/container-network.ts';
import { ACCOUNT, LOOKUP_KEY, lookupAnswer, REGION, VPC_ID } from './vpc-lookup.ts';
import { bySid, functionId, functionRoleId, list, render, roleStatements, synthFixtureStack, type Synthesized } from './helpers.ts';

const HOSTS_SUBNET = 'subnet-0000000000000000a';

describe('prefix mode, synthesized', { timeout: 120_000 }, () => {
  let synth: Synthesized;
  beforeAll(() => {
    synth = synthFixtureStack(
      {
        clusterName: 'wide',
        containerNetwork: 'prefixes',
        clusterCidr: '10.50.8.0/22',
        hostSubnets: { subnetType: SubnetType.PRIVATE_WITH_EGRESS, availabilityZones: ['eu-west-1a'] },
        maxHosts: 16,
      },
      'Skiff-wide',
      { vpcId: VPC_ID, env: { account: ACCOUNT, region: REGION } },
      { [LOOKUP_KEY]: lookupAnswer() },
    );
  });
  afterAll(() => synth?.cleanup());

  it('reserves the cluster CIDR in the hosts’ subnet for prefixes, runs the hosts there, and adds no route per host', () => {
    synth.template.hasResourceProperties('AWS::EC2::SubnetCidrReservation', { SubnetId: HOSTS_SUBNET, Cidr: '10.50.8.0/22', ReservationType: 'prefix' });
    synth.template.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', { VPCZoneIdentifier: [HOSTS_SUBNET] });
    synth.template.hasResourceProperties('AWS::EC2::SecurityGroup', {
      SecurityGroupIngress: Match.arrayWith([Match.objectLike({ CidrIp: '10.50.8.0/22', IpProtocol: '-1' })]),
    });
  });

  it('tells the scheduler the mode and the subnet, and lets it delegate prefixes only on interfaces in that subnet', () => {
    const scheduler = functionId(synth.template, 'Skiff scheduler (cluster wide)');
    synth.template.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'Skiff scheduler (cluster wide)',
      Environment: {
        Variables: Match.objectLike({
          SKIFF_CLUSTER_CIDR: '10.50.8.0/22',
          SKIFF_HOST_SUBNET_PREFIX: '26',
          SKIFF_CONTAINER_NETWORK: 'prefixes',
          SKIFF_HOST_SUBNET_ID: HOSTS_SUBNET,
        }),
      },
    });
    const statements = roleStatements(synth.template, functionRoleId(synth.template, scheduler));
    const prefixes = bySid(statements, 'HostSubnetPrefixes');
    expect(list(prefixes.Action).sort()).toEqual(['ec2:AssignPrivateIpAddresses', 'ec2:UnassignPrivateIpAddresses']);
    expect(list(prefixes.Resource).map(render)).toEqual([`arn:aws:ec2:${REGION}:${ACCOUNT}:network-interface/*`]);
    expect(prefixes.Condition).toEqual({ StringEquals: { 'ec2:Subnet': `arn:aws:ec2:${REGION}:${ACCOUNT}:subnet/${HOSTS_SUBNET}` } });
    expect(list(bySid(statements, 'HostInstanceStates').Action)).toEqual(['ec2:DescribeInstances', 'ec2:DescribeNetworkInterfaces']);
    expect(statements.some((s) => s.Sid === 'HostSubnetRoutes' || s.Sid === 'HostForwarding')).toBe(false);
  });
});

describe('prefix mode, checked before synthesis', () => {
  const props = { containerNetwork: 'prefixes' as const, clusterCidr: '10.0.24.0/21' };

  it('needs a cluster CIDR inside the VPC, whole /28 host subnets, and room for maxHosts; no route quota applies', () => {
    expect(validateSkiffClusterProps({ ...props, maxHosts: 32 })).toMatchObject({
      containerNetwork: 'prefixes',
      clusterCidr: '10.0.24.0/21',
      hostSubnetPrefix: 26,
    });
    // 2,000 hosts of a /28 fit a /17's prefixes; routes mode refuses anything past routesPerRouteTable.
    expect(
      validateSkiffClusterProps({ containerNetwork: 'prefixes', vpcCidr: '10.0.0.0/16', clusterCidr: '10.0.128.0/17', hostSubnetPrefix: 28, maxHosts: 2000 }),
    ).toMatchObject({
      hostSubnetPrefix: 28,
    });
    expect(() => validateSkiffClusterProps({ containerNetwork: 'prefixes' })).toThrow(/containerNetwork 'prefixes' needs clusterCidr/);
    expect(() => validateSkiffClusterProps({ ...props, hostSubnetPrefix: 29 })).toThrow(/hostSubnetPrefix 29 is invalid in prefix mode: it must be 16 to 28/);
    expect(() => validateSkiffClusterProps({ ...props, clusterCidr: '10.200.0.0/21' })).toThrow(/must lie inside the VPC \(10.0.0.0\/16\) in prefix mode/);
    expect(() => validateSkiffClusterProps({ ...props, maxHosts: 33 })).toThrow(/clusterCidr is too small for maxHosts/);
    expect(() => validateSkiffClusterProps({ ...props, containerNetwork: 'overlay' as 'routes' })).toThrow(/containerNetwork must be 'routes' or 'prefixes'/);
  });

  function network(clusterCidr: string, zones: string[] = ['eu-west-1a']) {
    const stack = new Stack(new App(), 'Net', { env: { account: ACCOUNT, region: REGION } });
    const vpc = Vpc.fromVpcAttributes(stack, 'Vpc', {
      vpcId: VPC_ID,
      vpcCidrBlock: '10.50.0.0/16',
      availabilityZones: ['eu-west-1a', 'eu-west-1b'],
      privateSubnetIds: [HOSTS_SUBNET, 'subnet-0000000000000000b'],
      privateSubnetIpv4CidrBlocks: ['10.50.0.0/20', '10.50.16.0/20'],
      privateSubnetRouteTableIds: ['rtb-0000000000000000a', 'rtb-0000000000000000b'],
    });
    return new SkiffContainerNetwork(stack, 'Network', {
      clusterName: 'wide',
      vpc,
      hostSubnets: { subnetType: SubnetType.PRIVATE_WITH_EGRESS, availabilityZones: zones },
      clusterCidr,
      hostSubnetPrefix: 26,
      containerNetwork: 'prefixes',
    });
  }

  it('needs the hosts in one subnet that holds the cluster CIDR, away from the addresses AWS reserves', () => {
    expect(network('10.50.8.0/22').prefixSubnet?.subnetId).toBe(HOSTS_SUBNET);
    expect(() => network('10.50.8.0/22', ['eu-west-1a', 'eu-west-1b'])).toThrow(/needs the hosts in exactly one subnet.*selects 2/);
    expect(() => network('10.50.16.0/21')).toThrow(/must lie inside the hosts' subnet 10.50.0.0\/20/);
    expect(() => network('10.50.0.0/21')).toThrow(/takes in addresses AWS reserves in 10.50.0.0\/20/);
    expect(() => network('10.50.8.0/21')).toThrow(/AWS reserves/); // ends on the subnet's last address
    expect(() => network('10.50.15.192/26')).toThrow(/AWS reserves/); // holds the subnet's last address
  });
});
