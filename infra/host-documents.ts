/**
 * SkiffHostDocuments: the host document table of a cluster deployed with `hostChannel: 'dynamodb'`
 * (adapters/aws/dynamo-host-channel.ts, docs/host-channel.md): one item per host, keyed
 * `HOST#<instance ARN>`, and the grants around it. A table of its own rather than items in the state
 * table: the scheduler's full Scan and the state table's stream never see the documents, and the
 * host role gets exactly one action here, GetItem on its own key, with nothing it may write.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { HOST_DOCUMENT_KEY, HOST_DOCUMENT_KEY_PREFIX } from '../adapters/aws/dynamo-host-channel.ts';
import { ENV } from '../app/env-names.ts';
import { SOURCE_INSTANCE_ARN } from './state.ts';

export interface SkiffHostDocumentsProps {
  /**
   * What happens to the table when the stack is deleted. Its items are derived (the scheduler
   * republishes a host's document when its tasks change), but hosts read them while they run.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

export class SkiffHostDocuments extends Construct {
  readonly table: Table;

  constructor(scope: Construct, id: string, props: SkiffHostDocumentsProps = {}) {
    super(scope, id);
    // The shape of hostDocumentTableDefinition (local mode): partition key only, on demand.
    this.table = new Table(this, 'Table', {
      partitionKey: { name: HOST_DOCUMENT_KEY, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      encryption: TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
  }

  /** What the control-plane functions and the agents are told: the channel and its table. */
  get environment(): Record<string, string> {
    return { [ENV.hostChannel]: 'dynamodb', [ENV.hostDocumentTable]: this.table.tableName };
  }

  /** The scheduler: publish (a conditional PutItem), read back a refused one, and forget a gone host's. */
  grantPublish(grantee: IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'PublishHostDocuments',
        actions: ['dynamodb:PutItem', 'dynamodb:GetItem', 'dynamodb:DeleteItem'],
        resources: [this.table.tableArn],
      }),
    );
  }

  /** The host autoscaler: forget the document of a host it terminated. */
  grantRemove(grantee: IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({ sid: 'RemoveHostDocuments', actions: ['dynamodb:DeleteItem'], resources: [this.table.tableArn] }),
    );
  }

  /**
   * The host role: GetItem of the one item keyed `HOST#<the ARN of the instance that signed the
   * request>`, so one role serves every host and none reads another's document (its tasks' env and
   * secret references). GetItem always names one key, so `ForAllValues` is never vacuously true.
   */
  grantReadOwnDocument(grantee: IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'ReadOwnHostDocumentItem',
        actions: ['dynamodb:GetItem'],
        resources: [this.table.tableArn],
        conditions: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [`${HOST_DOCUMENT_KEY_PREFIX}${SOURCE_INSTANCE_ARN}`] } },
      }),
    );
  }
}
