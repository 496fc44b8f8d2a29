/** Builds the AWS adapters from a function's configuration. Local mode swaps in its own preset. */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SSMClient } from '@aws-sdk/client-ssm';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { DynamoStore } from '../adapters/aws/dynamo-store.ts';
import { SsmHostChannel } from '../adapters/aws/ssm-channel.ts';
import { RunCommandWaker } from '../adapters/aws/run-command-waker.ts';
import { LambdaSchedulerTrigger } from '../adapters/aws/lambda-trigger.ts';
import type { ControlPlaneConfig } from './env.ts';
import type { HostChannel, HostWaker, Store } from '../ports/index.ts';

export interface ControlPlane {
  readonly cluster: string;
  readonly store: Store;
  readonly channel: HostChannel;
  readonly waker: HostWaker;
  readonly kickScheduler: () => Promise<void>;
}

export function awsControlPlane(config: ControlPlaneConfig): ControlPlane {
  const common = config.region ? { region: config.region } : {};
  const dynamo = new DynamoDBClient({ ...common, ...(config.dynamodbEndpoint ? { endpoint: config.dynamodbEndpoint } : {}) });
  const ssm = new SSMClient({ ...common, ...(config.ssmEndpoint ? { endpoint: config.ssmEndpoint } : {}) });
  const trigger = config.schedulerFunction ? new LambdaSchedulerTrigger(new LambdaClient(common), config.schedulerFunction) : undefined;
  return {
    cluster: config.cluster,
    store: new DynamoStore(dynamo, { tableName: config.table, hostArnPrefix: config.hostArnPrefix }),
    channel: new SsmHostChannel(ssm, { prefix: config.paramPrefix, hostArnPrefix: config.hostArnPrefix }),
    waker: new RunCommandWaker(ssm),
    kickScheduler: trigger ? () => trigger.kick() : async () => {},
  };
}
