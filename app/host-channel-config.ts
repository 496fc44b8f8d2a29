/**
 * Which host channel a cluster uses (docs/host-channel.md): SSM Parameter Store, the default (free,
 * the design's shape, sized for a few hundred hosts by its 3 writes/s), or DynamoDB (a table of
 * host documents, for large clusters). Read from the environment by the control-plane functions
 * and the agent alike, so both sides of a cluster always pick the same one.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { DynamoHostChannel } from '../adapters/aws/dynamo-host-channel.ts';
import { SsmHostChannel } from '../adapters/aws/ssm-channel.ts';
import type { HostChannel } from '../ports/index.ts';
import { ENV } from './env-names.ts';
import { ConfigError, optionalEnv } from './env.ts';

/** The host channels a cluster may choose (`hostChannel` stack prop, `SKIFF_HOST_CHANNEL`, `skiff local up --host-channel`). */
export const HOST_CHANNELS = ['ssm', 'dynamodb'] as const;
export type HostChannelKind = (typeof HOST_CHANNELS)[number];

export type HostChannelConfig = { readonly kind: 'ssm' } | { readonly kind: 'dynamodb'; readonly table: string };

/** `ssm` unless `SKIFF_HOST_CHANNEL=dynamodb`, which needs `SKIFF_HOST_DOCUMENT_TABLE`. */
export function hostChannelConfig(env: NodeJS.ProcessEnv): HostChannelConfig {
  const kind = optionalEnv(env, ENV.hostChannel) ?? 'ssm';
  if (kind === 'ssm') return { kind };
  if (kind === 'dynamodb') {
    const table = optionalEnv(env, ENV.hostDocumentTable);
    if (!table) throw new ConfigError(`${ENV.hostChannel}=dynamodb needs ${ENV.hostDocumentTable}, the host document table's name`);
    return { kind, table };
  }
  throw new ConfigError(`${ENV.hostChannel} must be one of ${HOST_CHANNELS.join(', ')}, got "${kind}"`);
}

export interface HostChannelClients {
  /** Built only when the channel needs it. */
  readonly dynamo: () => DynamoDBClient;
  readonly ssm: () => SSMClient;
  /** `/skiff/<cluster>`: the SSM channel's root. */
  readonly paramPrefix: string;
  /** `arn:<partition>:ec2:<region>:<account>:instance/` on AWS, '' locally: both channels key a host's document by its ARN. */
  readonly hostArnPrefix: string;
}

export function makeHostChannel(config: HostChannelConfig, clients: HostChannelClients): HostChannel {
  return config.kind === 'dynamodb'
    ? new DynamoHostChannel(clients.dynamo(), { tableName: config.table, hostArnPrefix: clients.hostArnPrefix })
    : new SsmHostChannel(clients.ssm(), { prefix: clients.paramPrefix, hostArnPrefix: clients.hostArnPrefix });
}
