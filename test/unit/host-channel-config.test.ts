/** The cluster's choice of host channel, read from the environment by the functions and the agent alike. */
import { describe, expect, it } from 'vitest';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SSMClient } from '@aws-sdk/client-ssm';
import { hostChannelConfig, makeHostChannel } from '../../app/host-channel-config.ts';
import { controlPlaneConfig } from '../../app/env.ts';
import { DynamoHostChannel } from '../../adapters/aws/dynamo-host-channel.ts';
import { SsmHostChannel } from '../../adapters/aws/ssm-channel.ts';

const clients = {
  dynamo: () => new DynamoDBClient({ region: 'us-east-1' }),
  ssm: () => new SSMClient({ region: 'us-east-1' }),
  paramPrefix: '/skiff/c',
  hostArnPrefix: '',
};

describe('hostChannelConfig', () => {
  it('is SSM unless told otherwise', () => {
    expect(hostChannelConfig({})).toEqual({ kind: 'ssm' });
    expect(hostChannelConfig({ SKIFF_HOST_CHANNEL: 'ssm' })).toEqual({ kind: 'ssm' });
    expect(makeHostChannel(hostChannelConfig({}), clients)).toBeInstanceOf(SsmHostChannel);
    expect(controlPlaneConfig({ SKIFF_CLUSTER: 'c', SKIFF_TABLE: 't' }).hostChannel).toEqual({ kind: 'ssm' });
  });

  it('is DynamoDB with its table', () => {
    const env = { SKIFF_HOST_CHANNEL: 'dynamodb', SKIFF_HOST_DOCUMENT_TABLE: 'docs' };
    expect(hostChannelConfig(env)).toEqual({ kind: 'dynamodb', table: 'docs' });
    expect(makeHostChannel(hostChannelConfig(env), clients)).toBeInstanceOf(DynamoHostChannel);
    expect(controlPlaneConfig({ SKIFF_CLUSTER: 'c', SKIFF_TABLE: 't', ...env }).hostChannel).toEqual({ kind: 'dynamodb', table: 'docs' });
  });

  it('names what is wrong', () => {
    expect(() => hostChannelConfig({ SKIFF_HOST_CHANNEL: 'dynamodb' })).toThrow(/SKIFF_HOST_CHANNEL=dynamodb needs SKIFF_HOST_DOCUMENT_TABLE/);
    expect(() => hostChannelConfig({ SKIFF_HOST_CHANNEL: 's3' })).toThrow(/SKIFF_HOST_CHANNEL must be one of ssm, dynamodb, got "s3"/);
  });
});

describe('the local cluster', () => {
  it('refuses a host channel it does not know before it starts anything', async () => {
    const { startLocalCluster } = await import('../../local/cluster.ts');
    await expect(startLocalCluster({ hostChannel: 's3' as never, dataDir: '/nonexistent/skiff-never-created' })).rejects.toThrow(
      /hostChannel must be one of ssm, dynamodb, got "s3"/,
    );
  });
});
