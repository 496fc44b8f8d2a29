/**
 * SkiffContainerNetwork: the VPC the hosts run in, and the routed container network on top of it
 * (docs/network.md): each host gets a subnet of the cluster CIDR, routed to it in the route tables
 * of the hosts' subnets, so containers on different hosts reach each other by address.
 */
import { Stack, Token } from 'aws-cdk-lib';
import { CfnSubnetCidrReservation, GatewayVpcEndpointAwsService, IpAddresses, Peer, Port, SubnetType, Vpc } from 'aws-cdk-lib/aws-ec2';
import type { ISecurityGroup, ISubnet, IVpc, SubnetSelection } from 'aws-cdk-lib/aws-ec2';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IGrantable } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { ENV } from '../app/env-names.ts';
import { cidrSize, contains, parseCidr } from '../core/cidr.ts';
import { DEFAULT_VPC_CIDR } from './cluster-props.ts';
import { CLUSTER_TAG_KEY } from './hosts.ts';

export interface SkiffContainerNetworkProps {
  /** The cluster name: routing is granted only on instances tagged with it. */
  readonly clusterName: string;
  /**
   * VPC for the hosts; it needs private subnets with egress.
   * @default - a new VPC over 2 AZs with public and private subnets and a single NAT gateway
   */
  readonly vpc?: IVpc;
  /**
   * CIDR of the VPC created when none is given.
   * @default '10.0.0.0/16'
   */
  readonly vpcCidr?: string;
  /**
   * Subnets the hosts run in; each of their route tables gets a route per host.
   * @default - the private subnets with egress
   */
  readonly hostSubnets?: SubnetSelection;
  /** The cluster CIDR (validated by validateSkiffClusterProps). */
  readonly clusterCidr: string;
  /** Prefix length of each host's container subnet. */
  readonly hostSubnetPrefix: number;
  /**
   * `routes` (VPC routes per host) or `prefixes` (/28 prefixes delegated to each host's interface;
   * docs/network.md, "Prefix mode").
   * @default 'routes'
   */
  readonly containerNetwork?: 'routes' | 'prefixes';
  /**
   * Namespace isolation: the prefix of each namespace's block in a host's subnet (validated by validateSkiffClusterProps).
   * @default - no isolation
   */
  readonly namespaceBlockPrefix?: number;
}

/** The scheduler's setting of namespace isolation, when it is on. */
function isolationEnvironment(props: SkiffContainerNetworkProps): Record<string, string> {
  return props.namespaceBlockPrefix === undefined ? {} : { [ENV.namespaceBlockPrefix]: String(props.namespaceBlockPrefix) };
}

/** The hosts' VPC and the routes of their container subnets. */
export class SkiffContainerNetwork extends Construct {
  /** The VPC the hosts run in (given or created). */
  readonly vpc: IVpc;
  /** The subnets the hosts run in. */
  readonly hostSubnets: SubnetSelection;
  /** The cluster CIDR the hosts' container subnets come from. */
  readonly clusterCidr: string;
  /** The route tables that get a route per host subnet (those of the hosts' subnets); none in prefix mode. */
  readonly hostRouteTableIds: string[];
  /** How host subnets reach their hosts. */
  readonly mode: 'routes' | 'prefixes';
  /** Prefix mode: the one subnet the hosts run in, which holds the cluster CIDR. */
  readonly prefixSubnet?: ISubnet;
  /** What the scheduler needs to route host subnets (app/env.ts). */
  readonly schedulerEnvironment: Readonly<Record<string, string>>;
  private readonly clusterName: string;

  constructor(scope: Construct, id: string, props: SkiffContainerNetworkProps) {
    super(scope, id);
    this.clusterName = props.clusterName;
    this.clusterCidr = props.clusterCidr;
    this.vpc = props.vpc ?? this.newVpc(props.vpcCidr ?? DEFAULT_VPC_CIDR);
    this.hostSubnets = props.hostSubnets ?? { subnetType: SubnetType.PRIVATE_WITH_EGRESS };
    const subnets = this.vpc.selectSubnets(this.hostSubnets).subnets;
    this.mode = props.containerNetwork ?? 'routes';
    if (this.mode === 'prefixes') {
      const subnet = this.prefixSubnetOf(subnets, props.clusterCidr);
      this.prefixSubnet = subnet;
      this.hostRouteTableIds = [];
      // EC2 hands the block to nothing but explicit prefix assignments: no instance's own address,
      // no other interface's, lands in a host's container subnet.
      new CfnSubnetCidrReservation(this, 'PrefixReservation', {
        subnetId: subnet.subnetId,
        cidr: props.clusterCidr,
        reservationType: 'prefix',
        description: `Skiff ${props.clusterName}: container subnets of the hosts, delegated as /28 prefixes`,
      });
      this.schedulerEnvironment = {
        [ENV.clusterCidr]: props.clusterCidr,
        [ENV.hostSubnetPrefix]: String(props.hostSubnetPrefix),
        [ENV.containerNetwork]: 'prefixes',
        [ENV.hostSubnetId]: subnet.subnetId,
        ...isolationEnvironment(props),
      };
      return;
    }
    const unknownTables = subnets.filter((subnet) => !subnet.routeTable?.routeTableId).map((subnet) => subnet.subnetId);
    if (unknownTables.length > 0) {
      // Each host subnet gets a route in these tables; an imported subnet without its table cannot.
      throw new Error(
        `the route tables of the hosts' subnets must be known, and ${unknownTables.join(', ')} ${unknownTables.length > 1 ? 'have' : 'has'} none: ` +
          'import the VPC with its route tables (Vpc.fromVpcAttributes({ ..., privateSubnetRouteTableIds }) or Subnet.fromSubnetAttributes({ subnetId, routeTableId })), ' +
          'or use -c vpcId=... so the stack looks them up',
      );
    }
    this.hostRouteTableIds = [...new Set(subnets.map((subnet) => subnet.routeTable.routeTableId))];
    this.schedulerEnvironment = {
      [ENV.clusterCidr]: props.clusterCidr,
      [ENV.hostSubnetPrefix]: String(props.hostSubnetPrefix),
      [ENV.routeTableIds]: this.hostRouteTableIds.join(','),
      ...isolationEnvironment(props),
    };
  }

  /**
   * Prefix mode: the one subnet selected, which must hold the cluster CIDR away from the five
   * addresses AWS reserves in every subnet (checked when its CIDR is known at synthesis).
   */
  private prefixSubnetOf(subnets: ISubnet[], clusterCidr: string): ISubnet {
    if (subnets.length !== 1) {
      throw new Error(
        `containerNetwork 'prefixes' needs the hosts in exactly one subnet, the one that holds clusterCidr, and hostSubnets selects ${subnets.length}: ` +
          "select one (for example hostSubnets: { subnets: [subnet] }), or use containerNetwork 'routes'",
      );
    }
    const [subnet] = subnets;
    let block: string | undefined;
    try {
      block = subnet.ipv4CidrBlock;
    } catch {
      block = undefined; // an imported subnet without its CIDR: EC2 refuses a reservation outside it at deploy time
    }
    if (block !== undefined && !Token.isUnresolved(block)) {
      if (!contains(block, clusterCidr)) {
        throw new Error(
          `clusterCidr ${clusterCidr} must lie inside the hosts' subnet ${block} in prefix mode: prefixes are delegated from the interface's own subnet`,
        );
      }
      const outer = parseCidr(block);
      const inner = parseCidr(clusterCidr);
      const lastOfSubnet = outer.address + cidrSize(outer) - 1;
      if (inner.address < outer.address + 4 || inner.address + cidrSize(inner) - 1 >= lastOfSubnet) {
        throw new Error(
          `clusterCidr ${clusterCidr} takes in addresses AWS reserves in ${block} (its first four and its last): use a block that starts 16 or more addresses in and ends before the last /28`,
        );
      }
    }
    return subnet;
  }

  /**
   * Lets traffic from the cluster's containers into the hosts. Container addresses are routed, not
   * translated: a packet from a container on another host arrives with its container address,
   * which is in the cluster CIDR, not in the VPC's.
   */
  admitContainers(hostSecurityGroup: ISecurityGroup): void {
    hostSecurityGroup.addIngressRule(Peer.ipv4(this.clusterCidr), Port.allTraffic(), 'Containers of the cluster, on any host');
  }

  /**
   * Grants exactly the EC2 calls of the network step (adapters/aws/vpc-routes.ts, ec2-machines.ts):
   * routes only in the hosts' route tables, the source/destination check only of this cluster's
   * instances (by the tag the Auto Scaling group gives them at launch).
   */
  grantRouting(grantee: IGrantable): void {
    const stack = Stack.of(this);
    const add = (statement: PolicyStatement) => grantee.grantPrincipal.addToPrincipalPolicy(statement);
    if (this.mode === 'prefixes') {
      add(
        new PolicyStatement({
          // adapters/aws/eni-prefixes.ts: delegate and take back prefixes, only on interfaces in the hosts' subnet.
          sid: 'HostSubnetPrefixes',
          actions: ['ec2:AssignPrivateIpAddresses', 'ec2:UnassignPrivateIpAddresses'],
          resources: [stack.formatArn({ service: 'ec2', resource: 'network-interface', resourceName: '*' })],
          conditions: {
            StringEquals: { 'ec2:Subnet': stack.formatArn({ service: 'ec2', resource: 'subnet', resourceName: this.prefixSubnet!.subnetId }) },
          },
        }),
      );
      add(
        new PolicyStatement({
          // No resource type for these Describe calls: '*' only. DescribeInstances: which instances
          // are gone; DescribeNetworkInterfaces: each host's interface and the prefixes it holds.
          sid: 'HostInstanceStates',
          actions: ['ec2:DescribeInstances', 'ec2:DescribeNetworkInterfaces'],
          resources: ['*'],
        }),
      );
      return;
    }
    add(
      new PolicyStatement({
        sid: 'HostSubnetRoutes',
        actions: ['ec2:CreateRoute', 'ec2:DeleteRoute', 'ec2:ReplaceRoute'],
        resources: this.hostRouteTableIds.map((id) => stack.formatArn({ service: 'ec2', resource: 'route-table', resourceName: id })),
      }),
    );
    add(
      new PolicyStatement({
        // CreateRoute and ReplaceRoute with InstanceId are also authorized on the instance; the
        // instance's own attribute change (source/destination check off) is ModifyInstanceAttribute.
        sid: 'HostForwarding',
        actions: ['ec2:ModifyInstanceAttribute', 'ec2:CreateRoute', 'ec2:ReplaceRoute'],
        resources: [stack.formatArn({ service: 'ec2', resource: 'instance', resourceName: '*' })],
        conditions: { StringEquals: { [`aws:ResourceTag/${CLUSTER_TAG_KEY}`]: this.clusterName } },
      }),
    );
    add(
      new PolicyStatement({
        // The Service Authorization Reference lists no resource type for these Describe calls: '*' only.
        // DescribeInstances: which instances are gone; DescribeRouteTables: route drift to repair.
        sid: 'HostInstanceStates',
        actions: ['ec2:DescribeInstances', 'ec2:DescribeRouteTables'],
        resources: ['*'],
      }),
    );
  }

  /** Two AZs, public subnets (an internet-facing load balancer) and private ones with egress (the hosts). */
  private newVpc(cidr: string): Vpc {
    return new Vpc(this, 'Vpc', {
      ipAddresses: IpAddresses.cidr(cidr),
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
  }
}
