/**
 * Environment, read once at a function's entry point through typed getters that fail with a
 * message naming the variable.
 */
import { ENV } from '../app/env-names.ts';
import { DRAIN_SECONDS, MAX_DRAIN_SECONDS } from '../core/stopping.ts';
import { hostChannelConfig, type HostChannelConfig } from './host-channel-config.ts';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export function requireEnv(env: NodeJS.ProcessEnv, name: string): string {
  const v = env[name];
  if (v === undefined || v.trim() === '') throw new ConfigError(`environment variable ${name} is required`);
  return v.trim();
}

export function optionalEnv(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name]?.trim();
  return v ? v : undefined;
}

export function numberEnv(env: NodeJS.ProcessEnv, name: string, fallback: number, { min = 0, max = Number.MAX_SAFE_INTEGER } = {}): number {
  const raw = optionalEnv(env, name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max) throw new ConfigError(`environment variable ${name} must be a number from ${min} to ${max}, got "${raw}"`);
  return n;
}

/** What every control-plane function needs to find the cluster's state. */
export interface ControlPlaneConfig {
  readonly cluster: string;
  readonly table: string;
  readonly paramPrefix: string;
  /** `arn:<partition>:ec2:<region>:<account>:instance/` on AWS, '' locally: see DynamoStoreOptions.hostArnPrefix. */
  readonly hostArnPrefix?: string;
  /** Which host channel carries the host documents; absent: SSM (app/host-channel-config.ts). */
  readonly hostChannel?: HostChannelConfig;
  readonly region?: string;
  /** Local mode only: the stand-ins' endpoints. */
  readonly dynamodbEndpoint?: string;
  readonly ssmEndpoint?: string;
  /** The scheduler function to invoke after API writes (AWS). */
  readonly schedulerFunction?: string;
  /** The SSM document that wakes hosts (AWS; the scheduler's only). Absent: hosts are not woken, they poll. */
  readonly wakeDocument?: string;
  /** The cluster's EFS file system (AWS): persistent volumes are shared by every host, so none pins a replica. */
  readonly efsFileSystemId?: string;
  /** Service discovery on AWS: the Route 53 private hosted zone and its name (default skiff.internal). */
  readonly hostedZoneId?: string;
  readonly dnsZone: string;
  readonly dnsTtl: number;
  /** Ingress on AWS: the ALB listener whose rules route ingress hosts, and the hosts' VPC. */
  readonly albListenerArn?: string;
  /** The listener speaks HTTPS (the stack has a certificate), so tls ingress routes can be served. */
  readonly albHttps: boolean;
  readonly vpcId?: string;
  /** The target groups' deregistration delay, seconds: the agents' drain delay is the same (core/stopping.ts). */
  readonly deregistrationDelaySeconds: number;
  /** The routed container network on AWS (docs/network.md); absent: no per-host subnets. */
  readonly network?: {
    readonly clusterCidr: string;
    readonly hostPrefixLength: number;
    /** Namespace isolation: each host subnet cut into blocks of this prefix, one per namespace slot. Absent: none. */
    readonly namespaceBlockPrefix?: number;
  } & (
    | {
        readonly mode: 'routes';
        /** Route tables of the hosts' subnets, where each host subnet gets its route. */
        readonly routeTableIds: readonly string[];
      }
    | {
        /** Host subnets delegated to the hosts' interfaces as /28 prefixes (docs/network.md, "Prefix mode"). */
        readonly mode: 'prefixes';
        /** The VPC subnet the hosts run in, which holds the cluster CIDR. */
        readonly subnetId: string;
      }
  );
}

export function controlPlaneConfig(env: NodeJS.ProcessEnv): ControlPlaneConfig {
  const cluster = requireEnv(env, ENV.cluster);
  return {
    cluster,
    table: requireEnv(env, ENV.table),
    paramPrefix: optionalEnv(env, ENV.paramPrefix) ?? `/skiff/${cluster}`,
    hostArnPrefix: optionalEnv(env, ENV.hostArnPrefix) ?? '',
    hostChannel: hostChannelConfig(env),
    region: optionalEnv(env, 'AWS_REGION') ?? optionalEnv(env, ENV.region),
    dynamodbEndpoint: optionalEnv(env, ENV.dynamodbEndpoint),
    ssmEndpoint: optionalEnv(env, ENV.ssmEndpoint),
    schedulerFunction: optionalEnv(env, ENV.schedulerFunction),
    wakeDocument: optionalEnv(env, ENV.wakeDocument),
    efsFileSystemId: optionalEnv(env, ENV.efsFileSystemId),
    hostedZoneId: optionalEnv(env, ENV.hostedZoneId),
    dnsZone: optionalEnv(env, ENV.dnsZone) ?? 'skiff.internal',
    dnsTtl: numberEnv(env, ENV.dnsTtlSeconds, 10, { min: 1, max: 86_400 }),
    albListenerArn: optionalEnv(env, ENV.albListenerArn),
    albHttps: optionalEnv(env, ENV.albHttps) === 'true',
    vpcId: optionalEnv(env, ENV.vpcId),
    deregistrationDelaySeconds: numberEnv(env, ENV.deregistrationDelaySeconds, DRAIN_SECONDS.aws, { min: 0, max: MAX_DRAIN_SECONDS }),
    ...networkConfig(env),
  };
}

function networkConfig(env: NodeJS.ProcessEnv): Pick<ControlPlaneConfig, 'network'> {
  const clusterCidr = optionalEnv(env, ENV.clusterCidr);
  if (clusterCidr === undefined) return {};
  const mode = optionalEnv(env, ENV.containerNetwork) ?? 'routes';
  if (mode === 'prefixes') {
    const subnetId = optionalEnv(env, ENV.hostSubnetId);
    if (subnetId === undefined) {
      throw new ConfigError(
        `environment variable ${ENV.hostSubnetId} is required when ${ENV.containerNetwork} is prefixes: the subnet (subnet-...) the hosts run in, which holds ${ENV.clusterCidr}`,
      );
    }
    // Whole /28 prefixes only: EC2 delegates nothing smaller.
    const hostPrefixLength = numberEnv(env, ENV.hostSubnetPrefix, 26, { min: 16, max: 28 });
    return { network: { mode, clusterCidr, hostPrefixLength, ...blockPrefixConfig(env, hostPrefixLength), subnetId } };
  }
  if (mode !== 'routes') throw new ConfigError(`environment variable ${ENV.containerNetwork} must be routes or prefixes, got ${JSON.stringify(mode)}`);
  const routeTableIds = (optionalEnv(env, ENV.routeTableIds) ?? '')
    .split(',')
    .map((id) => id.trim())
    .filter((id) => id !== '');
  if (routeTableIds.length === 0) {
    throw new ConfigError(
      `environment variable ${ENV.routeTableIds} is required with ${ENV.clusterCidr}: the route tables (rtb-..., comma-separated) that get each host subnet`,
    );
  }
  const hostPrefixLength = numberEnv(env, ENV.hostSubnetPrefix, 24, { min: 1, max: 30 });
  return { network: { mode, clusterCidr, hostPrefixLength, ...blockPrefixConfig(env, hostPrefixLength), routeTableIds } };
}

/** Namespace isolation's block prefix, when set: longer than the host prefix, a whole number, /30 at most (one container). */
function blockPrefixConfig(env: NodeJS.ProcessEnv, hostPrefixLength: number): { namespaceBlockPrefix?: number } {
  if (optionalEnv(env, ENV.namespaceBlockPrefix) === undefined) return {};
  const min = Math.min(hostPrefixLength + 1, 30);
  const prefix = numberEnv(env, ENV.namespaceBlockPrefix, 0, { min, max: 30 });
  if (!Number.isInteger(prefix) || prefix <= hostPrefixLength) {
    throw new ConfigError(
      `environment variable ${ENV.namespaceBlockPrefix} must be a whole number from ${hostPrefixLength + 1} to 30 (longer than the host subnets' /${hostPrefixLength}), got "${prefix}"`,
    );
  }
  return { namespaceBlockPrefix: prefix };
}
