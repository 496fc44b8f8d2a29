import { App, Stack } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { SkiffCluster, validateSkiffClusterProps } from '../../infra/skiff-cluster.ts';
import type { SkiffClusterProps } from '../../infra/skiff-cluster.ts';
import { clusterPropsFromContext } from '../../infra/skiff-stack.ts';
import { FIXTURE_ENTRIES } from './helpers.ts';

/** Builds the construct; validation runs before any resource or asset is created, so no synthesis is needed. */
function build(props: SkiffClusterProps): void {
  new SkiffCluster(new Stack(new App(), 'Validation'), 'Cluster', { ...FIXTURE_ENTRIES, ...props });
}

describe('SkiffCluster prop validation', () => {
  it.each([
    ['uppercase letters', 'Prod'],
    ['an underscore', 'my_cluster'],
    ['a leading digit', '1cluster'],
    ['a trailing hyphen', 'cluster-'],
    ['a slash', 'a/b'],
    ['more than 32 characters', 'a'.repeat(33)],
    ['nothing', ''],
  ])('rejects a cluster name with %s and says which characters are allowed', (_, clusterName) => {
    expect(() => build({ clusterName })).toThrow(
      `clusterName '${clusterName}' is invalid: use 1-32 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen`,
    );
  });

  it.each(['a', 'prod', 'team-7-east', 'a'.repeat(32)])('accepts the cluster name %s', (clusterName) => {
    expect(validateSkiffClusterProps({ clusterName }).clusterName).toBe(clusterName);
  });

  it('rejects minHosts greater than maxHosts and says to lower one or raise the other', () => {
    expect(() => build({ minHosts: 4, maxHosts: 2 })).toThrow('minHosts (4) is greater than maxHosts (2): lower minHosts or raise maxHosts');
  });

  it.each([
    [0, 1, 3],
    [4, 1, 3],
  ])('rejects desiredHosts %i outside minHosts %i..maxHosts %i', (desiredHosts, minHosts, maxHosts) => {
    expect(() => build({ desiredHosts, minHosts, maxHosts })).toThrow(
      `desiredHosts (${desiredHosts}) is outside minHosts..maxHosts (${minHosts}..${maxHosts}): pick a value in that range or leave desiredHosts unset`,
    );
  });

  it('rejects a cluster that can never have a host', () => {
    expect(() => build({ minHosts: 0, maxHosts: 0 })).toThrow('maxHosts must be at least 1, got 0');
  });

  it.each([
    ['minHosts', { minHosts: 1.5 }, '1.5'],
    ['maxHosts', { maxHosts: -1 }, '-1'],
    ['desiredHosts', { desiredHosts: Number.NaN }, 'NaN'],
  ])('rejects a %s that is not a whole number', (name, props, shown) => {
    expect(() => build(props)).toThrow(`${name} must be a whole number of 0 or more, got ${shown}`);
  });

  it('rejects a root volume too small for Docker images', () => {
    expect(() => build({ hostRootVolumeGiB: 4 })).toThrow('hostRootVolumeGiB must be at least 8');
  });

  it('rejects a grace period that is not more than twice the heartbeat and says what to change', () => {
    expect(() => build({ hostHeartbeatSeconds: 20, hostGraceSeconds: 40 })).toThrow(
      'hostGraceSeconds (40) must be more than twice hostHeartbeatSeconds (20), so that one late heartbeat does not declare a healthy host down: ' +
        'raise hostGraceSeconds to at least 41 or lower hostHeartbeatSeconds to at most 19',
    );
  });

  it('rejects a grace period shorter than two health check intervals, which would never declare a host down', () => {
    expect(() => build({ hostHeartbeatSeconds: 5, hostGraceSeconds: 20 })).toThrow(
      'hostGraceSeconds (20) must be at least 30, twice the 15 s between health checks',
    );
  });

  it.each([
    [{ hostHeartbeatSeconds: 0 }, 'hostHeartbeatSeconds must be at least 1, got 0'],
    [{ hostHeartbeatSeconds: 7.5 }, 'hostHeartbeatSeconds must be a whole number of 0 or more, got 7.5'],
    [{ hostGraceSeconds: -60 }, 'hostGraceSeconds must be a whole number of 0 or more, got -60'],
  ])('rejects heartbeat and grace settings that are not whole seconds: %o', (props, message) => {
    expect(() => build(props)).toThrow(message);
  });

  it('accepts a grace just over twice the heartbeat', () => {
    expect(validateSkiffClusterProps({ hostHeartbeatSeconds: 20, hostGraceSeconds: 41 })).toMatchObject({ hostHeartbeatSeconds: 20, hostGraceSeconds: 41 });
  });

  it('applies the documented defaults', () => {
    const settings = validateSkiffClusterProps({});
    expect(settings).toMatchObject({
      clusterName: 'skiff',
      minHosts: 1,
      maxHosts: 3,
      desiredHosts: undefined,
      hostRootVolumeGiB: 30,
      hostHeartbeatSeconds: 15,
      hostGraceSeconds: 60,
    });
    expect(settings.hostInstanceType.toString()).toBe('t4g.small');
  });
});

describe('container network prop validation', () => {
  it('rejects a cluster CIDR too small for maxHosts and says how large it must be', () => {
    expect(() => build({ clusterCidr: '10.200.0.0/20', maxHosts: 40, routesPerRouteTable: 100 })).toThrow(
      'clusterCidr is too small for maxHosts: cluster CIDR 10.200.0.0/20 holds 16 host subnets of /24, fewer than maxHosts 40: use a /18 or larger, or a longer host prefix (/26 gives 64 subnets of 61 containers)',
    );
  });

  it('accepts a small cluster CIDR with a longer host prefix', () => {
    expect(validateSkiffClusterProps({ clusterCidr: '10.200.0.0/20', hostSubnetPrefix: 26, maxHosts: 40 })).toMatchObject({
      clusterCidr: '10.200.0.0/20',
      hostSubnetPrefix: 26,
    });
  });

  it.each([
    ['10.200.0.0', /clusterCidr '10.200.0.0' is invalid: .*expected address\/prefix/],
    ['10.200.1.0/16', /clusterCidr '10.200.1.0\/16' is invalid: .*host bits set: the \/16 network holding 10.200.1.0 is 10.200.0.0\/16/],
    ['300.1.0.0/16', /clusterCidr '300.1.0.0\/16' is invalid/],
  ])('rejects the cluster CIDR %s with what is wrong', (clusterCidr, message) => {
    expect(() => build({ clusterCidr })).toThrow(message);
  });

  it('rejects a host prefix that leaves no room for a container, or is shorter than the cluster CIDR', () => {
    expect(() => build({ hostSubnetPrefix: 31 })).toThrow(
      /hostSubnetPrefix 31 is invalid for clusterCidr 10.200.0.0\/16: must be a whole number from 16 to 30/,
    );
    expect(() => build({ hostSubnetPrefix: 12 })).toThrow(/hostSubnetPrefix 12 is invalid/);
  });

  it('rejects more hosts than the route tables can route, naming the quota and both ways out', () => {
    expect(() => build({ maxHosts: 46 })).toThrow(
      /maxHosts \(46\) needs 46 routes in each route table .* more than routesPerRouteTable \(50\)\. Lower maxHosts to 45, or raise the "Routes per route table" quota .* set routesPerRouteTable to the new quota \(51 or more\)/,
    );
    expect(validateSkiffClusterProps({ maxHosts: 45 }).maxHosts).toBe(45);
    expect(validateSkiffClusterProps({ maxHosts: 200, routesPerRouteTable: 205 }).routesPerRouteTable).toBe(205);
    expect(() => build({ routesPerRouteTable: 1001 })).toThrow('routesPerRouteTable must be a whole number from 6 to 1000');
  });

  it("rejects a cluster CIDR that overlaps the VPC or Docker's default bridge", () => {
    expect(() => build({ clusterCidr: '10.0.0.0/12' })).toThrow(
      "clusterCidr 10.0.0.0/12 overlaps the VPC's CIDR 10.0.0.0/16: container routes would shadow the VPC's own addresses",
    );
    expect(() => build({ clusterCidr: '10.200.0.0/16', vpcCidr: '10.200.0.0/20' })).toThrow(/overlaps the VPC's CIDR 10.200.0.0\/20/);
    expect(() => build({ clusterCidr: '172.16.0.0/12' })).toThrow(
      "clusterCidr 172.16.0.0/12 overlaps 172.17.0.0/16, the network of Docker's default bridge on every host",
    );
  });

  it('defaults to 10.200.0.0/16 in /24 host subnets, a new VPC of 10.0.0.0/16 and the default route quota of 50', () => {
    expect(validateSkiffClusterProps({})).toMatchObject({
      clusterCidr: '10.200.0.0/16',
      hostSubnetPrefix: 24,
      vpcCidr: '10.0.0.0/16',
      routesPerRouteTable: 50,
    });
  });
});

describe('ingress prop validation', () => {
  it.each([
    ['uppercase letters', 'Skiff.Internal'],
    ['a trailing dot', 'skiff.internal.'],
    ['an empty label', 'skiff..internal'],
    ['a label starting with a hyphen', '-skiff.internal'],
    ['an underscore', 'my_zone.internal'],
    ['a label over 63 characters', `${'a'.repeat(64)}.internal`],
    ['nothing', ''],
  ])('rejects a DNS zone name with %s and says what a valid one looks like', (_, dnsZoneName) => {
    expect(() => build({ dnsZoneName })).toThrow(
      `dnsZoneName '${dnsZoneName}' is invalid: use dot-separated labels of 1-63 lowercase letters, digits and hyphens`,
    );
  });

  it('rejects a name longer than 253 characters', () => {
    const dnsZoneName = Array.from({ length: 5 }, () => 'a'.repeat(60)).join('.');
    expect(() => build({ dnsZoneName })).toThrow(`dnsZoneName '${dnsZoneName}' is invalid`);
  });

  it.each([
    ['cluster.local', 'cluster.internal'],
    ['local', 'internal'],
  ])('rejects %s, reserved for multicast DNS, and suggests %s', (dnsZoneName, suggestion) => {
    expect(() => build({ dnsZoneName })).toThrow(
      `dnsZoneName '${dnsZoneName}' ends in .local, which is reserved for multicast DNS (RFC 6762): resolvers send those names to mDNS, not to Route 53. ` +
        `Use another suffix, for example '${suggestion}'`,
    );
  });

  it.each(['skiff.internal', 'apps.corp.example.com', 'localhost.internal', 'local.internal', 'x1-y.internal'])('accepts the zone name %s', (dnsZoneName) => {
    expect(validateSkiffClusterProps({ dnsZoneName }).dnsZoneName).toBe(dnsZoneName);
  });

  it('rejects a load balancer scheme other than internal and internet-facing', () => {
    expect(() => build({ loadBalancerScheme: 'public' as never })).toThrow("loadBalancerScheme 'public' is invalid: use 'internal' or 'internet-facing'");
  });

  it.each([
    ['an IAM server certificate', 'arn:aws:iam::123456789012:server-certificate/web'],
    ['a certificate id alone', '0a1b2c3d-4e5f-6789-abcd-ef0123456789'],
    ['a short account', 'arn:aws:acm:eu-west-1:12345:certificate/0a1b2c3d'],
    ['no region', 'arn:aws:acm::123456789012:certificate/0a1b2c3d'],
  ])('rejects a certificate ARN that is %s and says what shape is expected', (_, certificateArn) => {
    expect(() => build({ certificateArn })).toThrow(
      `certificateArn '${certificateArn}' is not an ACM certificate ARN: expected arn:aws:acm:<region>:<12-digit account>:certificate/<id>`,
    );
  });

  it.each([
    'arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789',
    'arn:aws-us-gov:acm:us-gov-west-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789',
    'arn:aws-cn:acm:cn-north-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789',
  ])('accepts the certificate ARN %s', (certificateArn) => {
    expect(validateSkiffClusterProps({ certificateArn }).certificateArn).toBe(certificateArn);
  });

  it('defaults to the zone skiff.internal, an internal load balancer and no certificate', () => {
    expect(validateSkiffClusterProps({})).toMatchObject({ dnsZoneName: 'skiff.internal', loadBalancerScheme: 'internal', certificateArn: undefined });
  });
});

describe('settings from CDK context', () => {
  const fromContext = (context: Record<string, unknown>) => clusterPropsFromContext(new App({ context }).node);

  it('reads -c strings as cluster props, numbers included', () => {
    const props = fromContext({
      clusterName: 'prod',
      hostInstanceType: 'c7g.large',
      minHosts: '2',
      maxHosts: '6',
      desiredHosts: '3',
      hostHeartbeatSeconds: '10',
      hostGraceSeconds: '45',
      dnsZoneName: 'prod.internal',
      loadBalancerScheme: 'internet-facing',
      certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/abc',
    });
    expect(props).toMatchObject({
      clusterName: 'prod',
      minHosts: 2,
      maxHosts: 6,
      desiredHosts: 3,
      hostHeartbeatSeconds: 10,
      hostGraceSeconds: 45,
      dnsZoneName: 'prod.internal',
      loadBalancerScheme: 'internet-facing',
      certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/abc',
    });
    expect(props.hostInstanceType?.toString()).toBe('c7g.large');
  });

  it('accepts numbers written in cdk.json and leaves absent keys to the defaults', () => {
    expect(fromContext({ maxHosts: 5 })).toEqual({
      clusterName: undefined,
      hostInstanceType: undefined,
      minHosts: undefined,
      maxHosts: 5,
      desiredHosts: undefined,
      hostHeartbeatSeconds: undefined,
      hostGraceSeconds: undefined,
      dnsZoneName: undefined,
      loadBalancerScheme: undefined,
      certificateArn: undefined,
      clusterCidr: undefined,
      hostSubnetPrefix: undefined,
      routesPerRouteTable: undefined,
      containerNetwork: undefined,
      vpcCidr: undefined,
    });
  });

  it("reads prefix mode and the hosts' one subnet", () => {
    const props = fromContext({ containerNetwork: 'prefixes', hostSubnetId: 'subnet-0123456789abcdef0', clusterCidr: '10.0.24.0/21' });
    expect(props).toMatchObject({ containerNetwork: 'prefixes', clusterCidr: '10.0.24.0/21' });
    expect(props.hostSubnets?.subnetFilters).toHaveLength(1);
    expect(() => fromContext({ hostSubnetId: 'sn-1' })).toThrow("context 'hostSubnetId' must be a subnet id (subnet-...), got 'sn-1'");
  });

  it('reads the container network settings', () => {
    expect(fromContext({ clusterCidr: '10.128.0.0/14', hostSubnetPrefix: '25', routesPerRouteTable: 200, vpcCidr: '10.1.0.0/16' })).toMatchObject({
      clusterCidr: '10.128.0.0/14',
      hostSubnetPrefix: 25,
      routesPerRouteTable: 200,
      vpcCidr: '10.1.0.0/16',
    });
  });

  it('leaves a bad scheme from context to the prop validation, which lists the two schemes', () => {
    const props = fromContext({ loadBalancerScheme: 'external' });
    expect(() => validateSkiffClusterProps(props)).toThrow("loadBalancerScheme 'external' is invalid: use 'internal' or 'internet-facing'");
  });

  it('names the context key and shows an example when a count is not a whole number', () => {
    expect(() => fromContext({ maxHosts: 'many' })).toThrow(`context 'maxHosts' must be a whole number (for example -c maxHosts=2), got "many"`);
  });

  it('rejects an empty cluster name from context', () => {
    expect(() => fromContext({ clusterName: ' ' })).toThrow(`context 'clusterName' must be a non-empty string, got " "`);
  });
});
