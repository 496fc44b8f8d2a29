/**
 * SkiffIngress: service discovery and load balancing. The Route 53 private hosted zone where the
 * scheduler writes service and replica names, and the Application Load Balancer whose listener
 * rules and target groups the scheduler keeps for the ingress services; its security group, its
 * access logs, and the grant that lets the scheduler do that.
 */
import { Aws, CfnCondition, CfnMapping, Duration, Fn, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Peer, Port, SecurityGroup } from 'aws-cdk-lib/aws-ec2';
import type { ISecurityGroup, IVpc } from 'aws-cdk-lib/aws-ec2';
import { ApplicationLoadBalancer, ApplicationProtocol, ListenerAction, ListenerCertificate, SslPolicy } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import type { ApplicationListener } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { AccountPrincipal, PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IGrantable } from 'aws-cdk-lib/aws-iam';
import { Certificate, CertificateValidation } from 'aws-cdk-lib/aws-certificatemanager';
import { HostedZone, PrivateHostedZone } from 'aws-cdk-lib/aws-route53';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { RegionInfo } from 'aws-cdk-lib/region-info';
import { Construct } from 'constructs';
import { ENV } from '../app/env-names.ts';
import type { LoadBalancerScheme } from './cluster-props.ts';
import { DRAIN_SECONDS, MAX_DRAIN_SECONDS } from '../core/stopping.ts';

/**
 * The host ports Docker publishes a container port on when no `hostPort` is fixed: libnetwork's
 * port allocator (moby `libnetwork/portallocator`) reads `/proc/sys/net/ipv4/ip_local_port_range`,
 * whose Linux default is "32768 60999" (kernel `Documentation/networking/ip-sysctl.rst`); AL2023
 * keeps that default. Only if the file cannot be read does Docker fall back to 49153-65535.
 */
export const DOCKER_PUBLISHED_PORTS = { from: 32768, to: 60999 } as const;
/**
 * Target group names AlbLoadBalancer creates: `<namePrefix>-<12 hex>` (adapters/aws/alb.ts), the
 * prefix being the cluster name cut to 19 characters without trailing hyphens (app/wiring.ts).
 */
const TARGET_GROUP_PREFIX_LENGTH = 19;
const TARGET_GROUP_HASH_LENGTH = 12;
/** Days the load balancer's access logs are kept. */
const ACCESS_LOG_DAYS = 90;
/** The value of the log-delivery mapping for regions where ELB writes as its service principal. */
const ELB_SERVICE_PRINCIPAL_REGION = 'service';
/** Key prefix of the access logs in their bucket; ELB writes under `<prefix>/AWSLogs/<account>/`. */
export const ACCESS_LOG_PREFIX = 'alb';

export interface SkiffIngressProps {
  /** The cluster name: in descriptions, and the prefix of the target groups the scheduler may manage. */
  readonly clusterName: string;
  /** The hosts' VPC: the zone is associated with it and the load balancer runs in it. */
  readonly vpc: IVpc;
  /** The hosts' security group: the load balancer reaches them on the Docker published ports. */
  readonly hostSecurityGroup: ISecurityGroup;
  /** Name of the private hosted zone (validated by validateSkiffClusterProps). */
  readonly dnsZoneName: string;
  /** Who may reach the load balancer. */
  readonly loadBalancerScheme: LoadBalancerScheme;
  /**
   * ACM certificate of the listener: HTTPS on 443 with it, and port 80 redirecting to 443.
   * @default - plain HTTP on port 80 (unless `certificate` asks for one)
   */
  readonly certificateArn?: string;
  /**
   * A certificate the stack requests from ACM, validated by DNS records it adds to a public hosted
   * zone you own: HTTPS on 443 with it, and port 80 redirecting to 443. Not with `certificateArn`.
   * @default - none
   */
  readonly certificate?: IngressCertificateProps;
  /**
   * Seconds a target removed from the load balancer keeps its requests in flight (the target groups'
   * deregistration delay, which the scheduler sets on each one it creates). The hosts' agents wait
   * as long before a leaving replica's stop signal (`SkiffHosts` drainSeconds): give both the same value.
   * @default DRAIN_SECONDS.aws (30; ELBv2's own 300 would hold every step of a rolling update for 5 minutes)
   */
  readonly deregistrationDelaySeconds?: number;
}

/** A certificate requested by the stack (DNS validation in a public hosted zone). */
export interface IngressCertificateProps {
  /** The names it covers, such as ['shop.example.com', '*.shop.example.com']; the first is its subject. */
  readonly domainNames: readonly string[];
  /** The public hosted zone where ACM's validation records go: its id (Z...) and name (example.com). */
  readonly publicHostedZoneId: string;
  readonly publicHostedZoneName: string;
}

/** The deregistration delay, checked early with ELBv2's range. */
function deregistrationDelay(seconds: number | undefined): number {
  const value = seconds ?? DRAIN_SECONDS.aws;
  if (!Number.isInteger(value) || value < 0 || value > MAX_DRAIN_SECONDS) {
    throw new Error(`SkiffIngress: deregistrationDelaySeconds must be an integer from 0 to ${MAX_DRAIN_SECONDS} (ELBv2's range); got ${value}`);
  }
  return value;
}

/** The private DNS zone and the ingress load balancer of one cluster. */
export class SkiffIngress extends Construct {
  /** The private hosted zone where the scheduler writes service and replica names. */
  readonly dnsZone: PrivateHostedZone;
  /** The ingress load balancer; the scheduler keeps its listener rules and target groups. */
  readonly loadBalancer: ApplicationLoadBalancer;
  readonly loadBalancerSecurityGroup: SecurityGroup;
  /** The listener whose rules route ingress hosts (HTTPS on 443 with a certificate, else HTTP on 80); unknown hosts get a 404. */
  readonly listener: ApplicationListener;
  /** With a certificate: HTTP on 80, every request redirected to HTTPS on 443. */
  readonly redirectListener?: ApplicationListener;
  /** The certificate the stack requested, when `certificate` asked for one. */
  readonly certificate?: Certificate;
  /** Where the load balancer writes its access logs (SSE-S3, kept 90 days). */
  readonly accessLogs: Bucket;
  /** What the scheduler needs to keep the zone and the load balancer (app/env.ts). */
  readonly schedulerEnvironment: Readonly<Record<string, string>>;
  private readonly clusterName: string;

  constructor(scope: Construct, id: string, props: SkiffIngressProps) {
    super(scope, id);
    const { clusterName, vpc } = props;
    this.clusterName = clusterName;
    this.dnsZone = new PrivateHostedZone(this, 'DnsZone', {
      zoneName: props.dnsZoneName,
      vpc,
      comment: `Skiff service discovery (cluster ${clusterName})`,
    });

    const internetFacing = props.loadBalancerScheme === 'internet-facing';
    if (props.certificateArn !== undefined && props.certificate !== undefined) {
      throw new Error('SkiffIngress: give certificateArn (an existing ACM certificate) or certificate (one the stack requests), not both');
    }
    if (props.certificate !== undefined) this.certificate = this.requestCertificate(props.certificate);
    const certificateArn = props.certificateArn ?? this.certificate?.certificateArn;
    const https = certificateArn !== undefined;
    const listenerPort = https ? 443 : 80;
    this.loadBalancerSecurityGroup = new SecurityGroup(this, 'LoadBalancerSecurityGroup', {
      vpc,
      description: `Skiff load balancer (cluster ${clusterName}), ${props.loadBalancerScheme}`,
      // Its only egress is to the hosts, on the published-port range (below).
      allowAllOutbound: false,
    });
    this.loadBalancerSecurityGroup.addIngressRule(
      internetFacing ? Peer.anyIpv4() : Peer.ipv4(vpc.vpcCidrBlock),
      Port.tcp(listenerPort),
      internetFacing ? `${https ? 'HTTPS' : 'HTTP'} from anywhere` : `${https ? 'HTTPS' : 'HTTP'} from the VPC`,
    );
    if (https) {
      // Port 80 only redirects to 443, so that http:// links and typed names still arrive.
      this.loadBalancerSecurityGroup.addIngressRule(
        internetFacing ? Peer.anyIpv4() : Peer.ipv4(vpc.vpcCidrBlock),
        Port.tcp(80),
        internetFacing ? 'HTTP from anywhere (redirected to HTTPS)' : 'HTTP from the VPC (redirected to HTTPS)',
      );
    }
    // Replicas publish their ingress port on a port Docker picks (DOCKER_PUBLISHED_PORTS); the
    // hosts accept that range from the ALB's security group (and, like every port, from the cluster CIDR).
    this.loadBalancerSecurityGroup.connections.allowTo(
      props.hostSecurityGroup,
      Port.tcpRange(DOCKER_PUBLISHED_PORTS.from, DOCKER_PUBLISHED_PORTS.to),
      'Ingress replicas on Docker published ports',
    );

    this.loadBalancer = new ApplicationLoadBalancer(this, 'LoadBalancer', {
      vpc,
      internetFacing,
      securityGroup: this.loadBalancerSecurityGroup,
      // Requests with header names that are not valid HTTP are dropped, not passed to replicas.
      dropInvalidHeaderFields: true,
    });
    this.accessLogs = this.accessLogsBucket();
    this.listener = this.loadBalancer.addListener('Listener', {
      port: listenerPort,
      protocol: https ? ApplicationProtocol.HTTPS : ApplicationProtocol.HTTP,
      // TLS 1.3 and 1.2 with forward-secret AEAD ciphers only (ELBSecurityPolicy-TLS13-1-2-2021-06). An ALB
      // negotiates h2 with clients by ALPN on an HTTPS listener, and passes WebSocket upgrades, by default.
      ...(https ? { certificates: [ListenerCertificate.fromArn(certificateArn)], sslPolicy: SslPolicy.RECOMMENDED_TLS } : {}),
      // The scheduler adds one rule per ingress host; any other host has no service behind it.
      defaultAction: ListenerAction.fixedResponse(404, { contentType: 'text/plain', messageBody: 'skiff: no service for this host' }),
      // The security group's ingress above is the whole policy; CDK must not add 0.0.0.0/0 to it.
      open: false,
    });
    if (https) {
      this.redirectListener = this.loadBalancer.addListener('HttpRedirectListener', {
        port: 80,
        protocol: ApplicationProtocol.HTTP,
        // 301 keeps the host, path and query (#{host}, #{path}, #{query} are the ALB's defaults).
        defaultAction: ListenerAction.redirect({ protocol: 'HTTPS', port: '443', permanent: true }),
        open: false,
      });
    }
    this.schedulerEnvironment = {
      [ENV.hostedZoneId]: this.dnsZone.hostedZoneId,
      [ENV.dnsZone]: props.dnsZoneName,
      [ENV.albListenerArn]: this.listener.listenerArn,
      // Tells the scheduler's AlbLoadBalancer that its listener speaks HTTPS, so tls routes can be served.
      [ENV.albHttps]: String(https),
      [ENV.vpcId]: vpc.vpcId,
      [ENV.deregistrationDelaySeconds]: String(deregistrationDelay(props.deregistrationDelaySeconds)),
    };
  }

  /**
   * Lets the grantee keep service discovery and the load balancer in step with the replicas
   * (app/wiring.ts): exactly the Route 53 calls of Route53Zone (adapters/aws/route53-zone.ts;
   * it never waits for a change to be INSYNC, so no route53:GetChange) and the ELBv2 calls of
   * AlbLoadBalancer (adapters/aws/alb.ts). Mutations are scoped to this cluster's target groups
   * (by name) and this load balancer's listener and rules.
   */
  grantSync(grantee: IGrantable): void {
    const add = (statement: PolicyStatement) => grantee.grantPrincipal.addToPrincipalPolicy(statement);
    add(
      new PolicyStatement({
        sid: 'DnsRecords',
        actions: ['route53:ChangeResourceRecordSets', 'route53:ListResourceRecordSets'],
        resources: [this.dnsZone.hostedZoneArn],
      }),
    );
    const stack = Stack.of(this);
    const elb = (resource: string, resourceName: string) => stack.formatArn({ service: 'elasticloadbalancing', resource, resourceName });
    // `?` matches exactly one character in IAM, so `skiff-????????????` matches the 12-hex names of
    // cluster `skiff` and not those of a cluster `skiff-a` (`skiff-a-<12 hex>`), as `skiff-*` would.
    const namePrefix = this.clusterName.slice(0, TARGET_GROUP_PREFIX_LENGTH).replace(/-+$/, '');
    const targetGroups = elb('targetgroup', `${namePrefix}-${'?'.repeat(TARGET_GROUP_HASH_LENGTH)}/*`);
    const rules = elb('listener-rule', `${this.loadBalancer.loadBalancerFullName}/*`);
    add(
      new PolicyStatement({
        // The Service Authorization Reference lists no resource type for these Describe calls:
        // they can only be granted on '*'.
        sid: 'LoadBalancerRead',
        actions: [
          'elasticloadbalancing:DescribeListenerCertificates',
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
        actions: [
          'elasticloadbalancing:CreateRule',
          'elasticloadbalancing:DeleteRule',
          'elasticloadbalancing:ModifyRule',
          'elasticloadbalancing:SetRulePriorities',
          'elasticloadbalancing:AddListenerCertificates',
          'elasticloadbalancing:RemoveListenerCertificates',
        ],
        // CreateRule and Add/RemoveListenerCertificates are authorized on the listener, the others on the rules.
        resources: [this.listener.listenerArn, rules],
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

  /** An ACM certificate for `props.domainNames`, validated by DNS in the public hosted zone named. */
  private requestCertificate(props: IngressCertificateProps): Certificate {
    const [domainName, ...alternatives] = props.domainNames;
    if (domainName === undefined) throw new Error('SkiffIngress: certificate.domainNames must list at least one name, such as shop.example.com');
    const zone = props.publicHostedZoneName;
    for (const name of props.domainNames) {
      const bare = name.replace(/^\*\./, '');
      if (bare !== zone && !bare.endsWith(`.${zone}`)) {
        throw new Error(`SkiffIngress: certificate name ${name} is not in the public hosted zone ${zone}: ACM validates each name with a record in that zone`);
      }
    }
    return new Certificate(this, 'Certificate', {
      domainName,
      ...(alternatives.length > 0 ? { subjectAlternativeNames: alternatives } : {}),
      validation: CertificateValidation.fromDns(
        HostedZone.fromHostedZoneAttributes(this, 'PublicZone', { hostedZoneId: props.publicHostedZoneId, zoneName: zone }),
      ),
    });
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
  private accessLogsBucket(): Bucket {
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
}
