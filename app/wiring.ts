/** Builds the AWS adapters from a function's configuration. Local mode swaps in its own preset. */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SSMClient } from '@aws-sdk/client-ssm';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { Route53Client } from '@aws-sdk/client-route-53';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { EC2Client } from '@aws-sdk/client-ec2';
import { DynamoSubnetStore } from '../adapters/aws/subnet-store.ts';
import { VpcRoutes } from '../adapters/aws/vpc-routes.ts';
import { EniPrefixes } from '../adapters/aws/eni-prefixes.ts';
import { Ec2Machines } from '../adapters/aws/ec2-machines.ts';
import { Ec2MachineCatalog } from '../adapters/aws/ec2-machine-catalog.ts';
import type { MachineCatalog } from '../ports/machines.ts';
import type { NetworkDeps } from './network.ts';
import type { PassDeps } from './scheduler/context.ts';
import { DynamoNamespaceSlots } from '../adapters/aws/namespace-slots.ts';
import { slotCount } from '../core/packet-filter.ts';
import { Route53Zone } from '../adapters/aws/route53-zone.ts';
import { AlbLoadBalancer } from '../adapters/aws/alb.ts';
import { DNS_SYNC_BUDGET_MS, type DiscoveryDeps } from './discovery.ts';
import { DynamoTenancyStore } from '../adapters/aws/dynamo/tenancy.ts';
import type { TenancyStore } from '../ports/tenancy.ts';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoStore } from '../adapters/aws/dynamo-store.ts';
import { makeHostChannel } from './host-channel-config.ts';
import { RunCommandWaker } from '../adapters/aws/run-command-waker.ts';
import { LambdaSchedulerTrigger } from '../adapters/aws/lambda-trigger.ts';
import type { ControlPlaneConfig } from './env.ts';
import type { SecretDeps } from './apply.ts';
import { DynamoSecretMetas } from '../adapters/aws/dynamo/secrets.ts';
import { SsmSecretVault } from '../adapters/aws/ssm-secrets.ts';
import type { HostChannel, HostWaker, Store } from '../ports/index.ts';

export interface ControlPlane {
  readonly cluster: string;
  /** DNS and load balancer to keep in step with the replicas; absent parts are not configured. */
  readonly discovery: DiscoveryDeps;
  readonly store: Store;
  readonly channel: HostChannel;
  readonly waker: HostWaker;
  readonly kickScheduler: () => Promise<void>;
  /** The routed container network, when configured (AWS). */
  readonly network?: NetworkDeps;
  /** Namespace isolation (docs/network.md, "Isolation rules"), when configured with the network: slots in the table. */
  readonly isolation?: PassDeps['isolation'];
  /** What EC2 says each host's instance is: bounds the agents' claims when the scheduler registers hosts. */
  readonly machines: MachineCatalog;
  /** Secrets: keys and versions in the table, values as SSM SecureString parameters under `<paramPrefix>/secrets/`. */
  readonly secrets?: SecretDeps;
  /** `shared` when persistent volumes are on EFS (PassDeps.volumes). */
  readonly volumes?: 'shared';
  /** Namespaces (quotas, ingress hosts) and token revocations, in the same table. */
  readonly tenancy: TenancyStore;
}

export function awsControlPlane(config: ControlPlaneConfig): ControlPlane {
  const common = config.region ? { region: config.region } : {};
  const dynamo = new DynamoDBClient({ ...common, ...(config.dynamodbEndpoint ? { endpoint: config.dynamodbEndpoint } : {}) });
  const ssm = new SSMClient({ ...common, ...(config.ssmEndpoint ? { endpoint: config.ssmEndpoint } : {}) });
  const trigger = config.schedulerFunction ? new LambdaSchedulerTrigger(new LambdaClient(common), config.schedulerFunction) : undefined;
  const store = new DynamoStore(dynamo, { tableName: config.table, hostArnPrefix: config.hostArnPrefix });
  const ec2 = new EC2Client(common);
  let network: NetworkDeps | undefined;
  if (config.network) {
    network = {
      clusterCidr: config.network.clusterCidr,
      allocator: new DynamoSubnetStore(dynamo, {
        tableName: config.table,
        clusterCidr: config.network.clusterCidr,
        hostPrefixLength: config.network.hostPrefixLength,
      }),
      routes:
        config.network.mode === 'prefixes'
          ? new EniPrefixes(ec2, { subnetId: config.network.subnetId, hostPrefix: config.network.hostPrefixLength })
          : new VpcRoutes(ec2, { routeTableIds: config.network.routeTableIds }),
      machines: new Ec2Machines(ec2),
      now: () => Date.now(),
    };
  }
  const blockPrefix = config.network?.namespaceBlockPrefix;
  let isolation: PassDeps['isolation'];
  if (config.network && blockPrefix !== undefined) {
    // Refuse blocks that do not fit the host subnets now, not at the first pass.
    slotCount({ clusterCidr: config.network.clusterCidr, hostPrefix: config.network.hostPrefixLength, blockPrefix });
    isolation = { blockPrefix, hostPrefix: config.network.hostPrefixLength, slots: new DynamoNamespaceSlots(dynamo, { tableName: config.table }) };
  }
  const discovery: DiscoveryDeps = {
    store,
    // Routed subnets make container addresses reachable across hosts: names resolve to them.
    ...(network ? { addressing: 'container' as const } : {}),
    ...(config.hostedZoneId
      ? {
          zone: {
            name: config.dnsZone,
            ttl: config.dnsTtl,
            // The adapter paces and retries itself; SDK retries on top would bypass its pacing.
            // Bounded in time: the sync runs after each pass and must not hold the next one (DNS_SYNC_BUDGET_MS).
            port: new Route53Zone(new Route53Client({ ...common, maxAttempts: 1 }), {
              hostedZoneId: config.hostedZoneId,
              zone: config.dnsZone,
              maxSyncMs: DNS_SYNC_BUDGET_MS,
            }),
          },
        }
      : {}),
    ...(config.albListenerArn && config.vpcId
      ? {
          loadBalancer: new AlbLoadBalancer(new ElasticLoadBalancingV2Client(common), {
            listenerArn: config.albListenerArn,
            https: config.albHttps,
            vpcId: config.vpcId,
            namePrefix: config.cluster.slice(0, 19).replace(/-+$/, ''),
            resolveInstance: instanceByAddress(store),
            deregistrationDelaySeconds: config.deregistrationDelaySeconds,
          }),
        }
      : {}),
  };
  return {
    cluster: config.cluster,
    discovery,
    store,
    channel: makeHostChannel(config.hostChannel ?? { kind: 'ssm' }, {
      dynamo: () => dynamo,
      ssm: () => ssm,
      paramPrefix: config.paramPrefix,
      hostArnPrefix: config.hostArnPrefix ?? '',
    }),
    // Only the scheduler wakes hosts, and only it is told the document (and may send it); the
    // other functions, and a deployment without it, leave changes to the hosts' polls.
    waker: config.wakeDocument ? new RunCommandWaker(ssm, { documentName: config.wakeDocument }) : { wake: async () => {} },
    kickScheduler: trigger ? () => trigger.kick() : async () => {},
    ...(network ? { network } : {}),
    ...(isolation ? { isolation } : {}),
    machines: new Ec2MachineCatalog(ec2, { cluster: config.cluster }),
    secrets: {
      metas: new DynamoSecretMetas(dynamo, { tableName: config.table }),
      vault: new SsmSecretVault(ssm, { prefix: config.paramPrefix, cluster: config.cluster }),
    },
    // On EFS a persistent volume follows its replica to any host; without it (local) a replica stays by its data.
    ...(config.efsFileSystemId ? { volumes: 'shared' as const } : {}),
    tenancy: new DynamoTenancyStore(DynamoDBDocumentClient.from(dynamo, { marshallOptions: { removeUndefinedValues: true } }), config.table),
  };
}

/**
 * A route target's ip is its host's private address and the host id its instance id. The ALB
 * adapter asks once per address in a sync: the hosts are read once and kept for a second.
 */
function instanceByAddress(store: Store): (ip: string) => Promise<string | undefined> {
  let cached: { at: number; byAddress: Map<string, string> } | undefined;
  return async (ip) => {
    if (!cached || Date.now() - cached.at > 1000) cached = { at: Date.now(), byAddress: new Map((await store.listHosts()).map((h) => [h.address, h.id])) };
    return cached.byAddress.get(ip);
  };
}
