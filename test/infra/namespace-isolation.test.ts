/**
 * Namespace isolation's setting (docs/network.md, "Isolation rules"): the `namespaceBlockPrefix` prop
 * and context key, checked before synthesis, and given to the scheduler as SKIFF_NAMESPACE_BLOCK_PREFIX
 * by the container network construct (no whole synthesis needed).
 */
import { App, Stack } from 'aws-cdk-lib';
import { SubnetType, Vpc } from 'aws-cdk-lib/aws-ec2';
import { describe, expect, it } from 'vitest';
import { validateSkiffClusterProps } from '../../infra/cluster-props.ts';
import { SkiffContainerNetwork, type SkiffContainerNetworkProps } from '../../infra/container-network.ts';
import { clusterPropsFromContext } from '../../infra/skiff-stack.ts';
import { SkiffCluster } from '../../infra/skiff-cluster.ts';
import { FIXTURE_ENTRIES } from './helpers.ts';

describe('namespaceBlockPrefix', () => {
  it('is off by default, and accepted longer than the host prefix up to /30', () => {
    expect(validateSkiffClusterProps({}).namespaceBlockPrefix).toBeUndefined();
    expect(validateSkiffClusterProps({ namespaceBlockPrefix: 27 }).namespaceBlockPrefix).toBe(27);
    expect(validateSkiffClusterProps({ hostSubnetPrefix: 26, namespaceBlockPrefix: 30 }).namespaceBlockPrefix).toBe(30);
    // Prefix mode: inside its /26 host subnets by default.
    expect(validateSkiffClusterProps({ containerNetwork: 'prefixes', clusterCidr: '10.0.24.0/21', namespaceBlockPrefix: 28 }).namespaceBlockPrefix).toBe(28);
  });

  it.each([
    [24, {}, 'namespaceBlockPrefix 24 is invalid: it must be a whole number from 25 to 30, longer than hostSubnetPrefix (24)'],
    [31, {}, 'namespaceBlockPrefix 31 is invalid: it must be a whole number from 25 to 30'],
    [27.5, {}, 'namespaceBlockPrefix 27.5 is invalid'],
    [26, { containerNetwork: 'prefixes' as const, clusterCidr: '10.0.24.0/21' }, 'namespaceBlockPrefix 26 is invalid: it must be a whole number from 27 to 30'],
  ])('refuses %s with what to change', (namespaceBlockPrefix, more, message) => {
    expect(() => validateSkiffClusterProps({ ...more, namespaceBlockPrefix })).toThrow(message);
  });

  it('is read from context', () => {
    const app = new App({ context: { namespaceBlockPrefix: '27' } });
    expect(clusterPropsFromContext(app.node).namespaceBlockPrefix).toBe(27);
    expect(clusterPropsFromContext(new App().node).namespaceBlockPrefix).toBeUndefined();
  });

  function network(more: Partial<SkiffContainerNetworkProps>): SkiffContainerNetwork {
    const stack = new Stack(new App(), 'Net', { env: { account: '123456789012', region: 'eu-west-1' } });
    const vpc = Vpc.fromVpcAttributes(stack, 'Vpc', {
      vpcId: 'vpc-00000000000000001',
      vpcCidrBlock: '10.0.0.0/16',
      availabilityZones: ['eu-west-1a'],
      privateSubnetIds: ['subnet-0000000000000000a'],
      privateSubnetIpv4CidrBlocks: ['10.0.0.0/20'],
      privateSubnetRouteTableIds: ['rtb-0000000000000000a'],
    });
    return new SkiffContainerNetwork(stack, 'Network', {
      clusterName: 'iso',
      vpc,
      hostSubnets: { subnetType: SubnetType.PRIVATE_WITH_EGRESS },
      clusterCidr: '10.200.0.0/16',
      hostSubnetPrefix: 24,
      ...more,
    });
  }

  it('reaches the scheduler as SKIFF_NAMESPACE_BLOCK_PREFIX, and is absent without it', () => {
    expect(network({ namespaceBlockPrefix: 27 }).schedulerEnvironment).toEqual({
      SKIFF_CLUSTER_CIDR: '10.200.0.0/16',
      SKIFF_HOST_SUBNET_PREFIX: '24',
      SKIFF_ROUTE_TABLE_IDS: 'rtb-0000000000000000a',
      SKIFF_NAMESPACE_BLOCK_PREFIX: '27',
    });
    expect(network({}).schedulerEnvironment).not.toHaveProperty('SKIFF_NAMESPACE_BLOCK_PREFIX');
  });

  it('is passed by SkiffCluster to its network, whose environment the scheduler function gets', () => {
    const build = (namespaceBlockPrefix?: number) =>
      new SkiffCluster(new Stack(new App(), 'Iso'), 'Cluster', { ...FIXTURE_ENTRIES, ...(namespaceBlockPrefix ? { namespaceBlockPrefix } : {}) }).network
        .schedulerEnvironment;
    expect(build(27)).toMatchObject({ SKIFF_NAMESPACE_BLOCK_PREFIX: '27' });
    expect(build()).not.toHaveProperty('SKIFF_NAMESPACE_BLOCK_PREFIX');
  });
});
