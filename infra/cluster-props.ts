/**
 * The settings of a SkiffCluster: its props with their defaults, and their validation, which runs
 * before any resource exists and says what to change.
 */
import { fileURLToPath } from 'node:url';
import { Token } from 'aws-cdk-lib';
import type { RemovalPolicy } from 'aws-cdk-lib';
import { InstanceClass, InstanceSize, InstanceType } from 'aws-cdk-lib/aws-ec2';
import type { IVpc, SubnetSelection } from 'aws-cdk-lib/aws-ec2';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { ENV } from '../app/env-names.ts';
import { capacityError, contains, overlaps, parseCidr } from '../core/cidr.ts';
import { ValidationError } from '../core/errors.ts';
import { HEALTH_INTERVAL_SECONDS } from './control-functions.ts';
import type { IngressCertificateProps } from './ingress.ts';

/** Default entry points, relative to the repository root. */
export const DEFAULT_ENTRIES = {
  api: fileURLToPath(new URL('../functions/api/handler.ts', import.meta.url)),
  scheduler: fileURLToPath(new URL('../functions/scheduler/handler.ts', import.meta.url)),
  health: fileURLToPath(new URL('../functions/health/handler.ts', import.meta.url)),
  hostAutoscaler: fileURLToPath(new URL('../functions/host-autoscaler/handler.ts', import.meta.url)),
  autoscaler: fileURLToPath(new URL('../functions/autoscaler/handler.ts', import.meta.url)),
  agent: fileURLToPath(new URL('../agent/main.ts', import.meta.url)),
} as const;

/** The agents' heartbeat interval when none is given. */
export const DEFAULT_HEARTBEAT_SECONDS = 15;
/** How long a host may stay silent before it is declared down, when none is given. */
export const DEFAULT_GRACE_SECONDS = 60;
/** The cluster name used when none is given. */
export const DEFAULT_CLUSTER_NAME = 'skiff';
const CLUSTER_NAME_PATTERN = /^[a-z][a-z0-9-]{0,30}[a-z0-9]$|^[a-z]$/;

/** The private DNS zone of the cluster when none is given (also SKIFF_DNS_ZONE's default in app/env.ts). */
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
   * How each host's container subnet reaches its host (docs/network.md):
   * - `routes`: a VPC route per host in the hosts' route tables; the cluster CIDR lies outside the
   *   VPC. The route-table quota caps the hosts (about 45 by default, 995 at most).
   * - `prefixes`: the host subnet is delegated to the host's network interface as /28 IPv4 prefixes,
   *   no routes at all; the cluster CIDR is a block of the hosts' one subnet (reserved for prefixes),
   *   `clusterCidr` must then be given, and `hostSubnets` must select exactly one subnet.
   * @default 'routes'
   */
  readonly containerNetwork?: 'routes' | 'prefixes';
  /**
   * Isolates namespaces' containers from each other (docs/network.md, "Isolation rules"): each host's
   * container subnet is cut into blocks of this prefix length, one per namespace, and each host's
   * agent lets a block's containers be reached only from its own namespace and the namespaces its
   * services allow (`spec.network.allowFrom`). The cluster then holds at most
   * 2^(namespaceBlockPrefix − hostSubnetPrefix) namespaces with services, each with at most
   * 2^(32 − namespaceBlockPrefix) − 3 pods per host: 27 in a /24 is 8 namespaces of 29 pods a host.
   * @default - no isolation: namespaces share each host's subnet
   */
  readonly namespaceBlockPrefix?: number;
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
   * Entry of the host autoscaler Lambda handler (exports `handler`).
   * @default functions/host-autoscaler/handler.ts
   */
  readonly hostAutoscalerEntry?: string;
  /**
   * Entry of the horizontal autoscaler Lambda handler (exports `handler`).
   * @default functions/autoscaler/handler.ts
   */
  readonly autoscalerEntry?: string;
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
   * Retention of the cluster's log group: containers' output and the agents' own logs (docs/logs.md).
   * @default one month
   */
  readonly clusterLogRetention?: RetentionDays;
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
  /**
   * A certificate the stack requests from ACM instead, validated by DNS in a public hosted zone you
   * own (its id and name): HTTPS on 443 with it, port 80 redirecting to 443. Not with certificateArn.
   * @default - none
   */
  readonly certificate?: IngressCertificateProps;
  /**
   * Where the scheduler publishes each host's document (docs/host-channel.md): `ssm`, Parameter
   * Store (free; 3 writes a second, so a change touching every host of a large fleet takes minutes),
   * or `dynamodb`, a table of host documents (on-demand reads and writes; no shared write rate):
   * recommended from about 150 hosts (docs/scale.md). Choose it when the cluster is created:
   * switching a running cluster is not automated (hosts launched before keep reading the old
   * channel, and a host whose tasks do not change gets no document in the new one).
   * @default 'ssm'
   */
  readonly hostChannel?: HostChannelKind;
}

/** The host channels `hostChannel` takes. */
export type HostChannelKind = 'ssm' | 'dynamodb';

/** The props with their defaults filled in, checked. */
export interface SkiffClusterSettings {
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
  readonly certificate: IngressCertificateProps | undefined;
  readonly vpcCidr: string;
  readonly clusterCidr: string;
  readonly hostSubnetPrefix: number;
  readonly routesPerRouteTable: number;
  readonly containerNetwork: 'routes' | 'prefixes';
  readonly namespaceBlockPrefix: number | undefined;
  readonly hostChannel: HostChannelKind;
}

/** Checks props before any resource exists, with messages that say what to change. */
export function validateSkiffClusterProps(props: SkiffClusterProps): SkiffClusterSettings {
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
      `desiredHosts (${desiredHosts}) is outside minHosts..maxHosts (${minHosts}..${maxHosts}): pick a value in that range or leave desiredHosts unset`,
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
  const hostChannel = props.hostChannel ?? 'ssm';
  if (hostChannel !== 'ssm' && hostChannel !== 'dynamodb') {
    throw new Error(`hostChannel must be 'ssm' or 'dynamodb', got ${JSON.stringify(hostChannel)}`);
  }
  return {
    clusterName,
    hostChannel,
    ...validateIngressProps(props),
    ...validateNetworkProps(props, maxHosts),
    namespaceBlockPrefix: validateNamespaceBlockPrefix(props),
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
): Pick<SkiffClusterSettings, 'vpcCidr' | 'clusterCidr' | 'hostSubnetPrefix' | 'routesPerRouteTable' | 'containerNetwork'> {
  const containerNetwork = props.containerNetwork ?? 'routes';
  if (containerNetwork === 'prefixes') return validatePrefixNetworkProps(props, maxHosts);
  if (containerNetwork !== 'routes') throw new Error(`containerNetwork must be 'routes' or 'prefixes', got ${JSON.stringify(containerNetwork)}`);
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
      'the given vpc has no CIDR: import it with vpcCidrBlock (Vpc.fromVpcAttributes({ ..., vpcCidrBlock })), or use -c vpcId=... so the stack looks it up. ' +
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
  return { vpcCidr, clusterCidr, hostSubnetPrefix, routesPerRouteTable, containerNetwork };
}

/** Namespace isolation's block prefix, when given: a whole number longer than the host subnets' prefix, /30 at most. */
function validateNamespaceBlockPrefix(props: SkiffClusterProps): number | undefined {
  const prefix = props.namespaceBlockPrefix;
  if (prefix === undefined) return undefined;
  const hostPrefix = props.hostSubnetPrefix ?? (props.containerNetwork === 'prefixes' ? DEFAULT_PREFIX_HOST_SUBNET_PREFIX : DEFAULT_HOST_SUBNET_PREFIX);
  if (!Number.isInteger(prefix) || prefix <= hostPrefix || prefix > 30) {
    throw new Error(
      `namespaceBlockPrefix ${prefix} is invalid: it must be a whole number from ${hostPrefix + 1} to 30, longer than hostSubnetPrefix (${hostPrefix}); ` +
        `a longer prefix gives more namespaces (2^(namespaceBlockPrefix - ${hostPrefix})) of fewer pods per host each`,
    );
  }
  return prefix;
}

/** The host subnet's size in prefix mode when none is given: four /28 prefixes, 61 containers. */
export const DEFAULT_PREFIX_HOST_SUBNET_PREFIX = 26;

/**
 * Prefix mode: the cluster CIDR is a block of the VPC (of the hosts' one subnet, checked by the
 * network construct when the subnet's CIDR is known), each host's subnet whole /28 prefixes, and no
 * route-table limit: the block's size is the only cap on hosts.
 */
function validatePrefixNetworkProps(
  props: SkiffClusterProps,
  maxHosts: number,
): Pick<SkiffClusterSettings, 'vpcCidr' | 'clusterCidr' | 'hostSubnetPrefix' | 'routesPerRouteTable' | 'containerNetwork'> {
  const vpcCidr = props.vpcCidr ?? DEFAULT_VPC_CIDR;
  const clusterCidr = props.clusterCidr;
  if (clusterCidr === undefined) {
    throw new Error(
      "containerNetwork 'prefixes' needs clusterCidr: a block of the hosts' subnet, not used by anything else, from which each host's /28 prefixes are delegated " +
        '(for example the upper half of a /20 hosts subnet: 10.0.24.0/21 in 10.0.16.0/20)',
    );
  }
  if (Token.isUnresolved(clusterCidr))
    throw new Error('clusterCidr must be a literal CIDR, not a token: it is checked at synthesis and given to the scheduler');
  const hostSubnetPrefix = props.hostSubnetPrefix ?? DEFAULT_PREFIX_HOST_SUBNET_PREFIX;
  if (!Number.isInteger(hostSubnetPrefix) || hostSubnetPrefix < 16 || hostSubnetPrefix > 28) {
    throw new Error(
      `hostSubnetPrefix ${hostSubnetPrefix} is invalid in prefix mode: it must be 16 to 28, whole /28 prefixes (EC2 delegates nothing smaller); ` +
        "mind that each /28 takes one of the interface's addresses, which the instance type limits (a /26 is 4)",
    );
  }
  try {
    parseCidr(clusterCidr, 'clusterCidr');
    const problem = capacityError(clusterCidr, hostSubnetPrefix, maxHosts);
    if (problem) throw new Error(`clusterCidr is too small for maxHosts: ${problem}`);
  } catch (err) {
    if (err instanceof ValidationError) throw new Error(`clusterCidr '${clusterCidr}' is invalid: ${err.issues.map((i) => i.message).join('; ')}`);
    throw err;
  }
  if (props.vpc === undefined && !contains(vpcCidr, clusterCidr)) {
    throw new Error(`clusterCidr ${clusterCidr} must lie inside the VPC (${vpcCidr}) in prefix mode: container addresses are the VPC's own`);
  }
  return {
    vpcCidr,
    clusterCidr,
    hostSubnetPrefix,
    routesPerRouteTable: props.routesPerRouteTable ?? DEFAULT_ROUTES_PER_ROUTE_TABLE,
    containerNetwork: 'prefixes',
  };
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
function validateIngressProps(props: SkiffClusterProps): Pick<SkiffClusterSettings, 'dnsZoneName' | 'loadBalancerScheme' | 'certificateArn' | 'certificate'> {
  const dnsZoneName = props.dnsZoneName ?? DEFAULT_DNS_ZONE_NAME;
  if (Token.isUnresolved(dnsZoneName)) {
    throw new Error(`dnsZoneName must be a literal string, not a token: the scheduler gets it as ${ENV.dnsZone} and checks names against it`);
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
        "for example arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789 (the certificate must be in the stack's region), " +
        'or leave certificateArn unset for HTTP on port 80',
    );
  }
  if (certificateArn !== undefined && props.certificate !== undefined) {
    throw new Error('give certificateArn (an existing ACM certificate) or certificate (one the stack requests with DNS validation), not both');
  }
  return { dnsZoneName, loadBalancerScheme, certificateArn, certificate: props.certificate };
}
