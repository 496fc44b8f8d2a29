/**
 * SkiffState: the cluster's state table (keys in docs/state.md), and the grant that lets each host
 * touch only its own items.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, ProjectionType, StreamViewType, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IGrantable } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

/** The attribute DynamoDB's TTL deletes items by (epoch seconds); events carry it (adapters/aws/dynamo-store.ts). */
export const TTL_ATTRIBUTE = 'expiresAt';

/** The IAM policy variable holding the ARN of the EC2 instance that signed the request. */
export const SOURCE_INSTANCE_ARN = '${ec2:SourceInstanceARN}';

export interface SkiffStateProps {
  /**
   * What happens to the table when the stack is deleted.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** The state table: `pk`/`sk`, index `gsi1`, a stream of new images, TTL on `expiresAt`. */
export class SkiffState extends Construct {
  readonly table: Table;

  constructor(scope: Construct, id: string, props: SkiffStateProps = {}) {
    super(scope, id);
    this.table = new Table(this, 'Table', {
      partitionKey: { name: 'pk', type: AttributeType.STRING },
      sortKey: { name: 'sk', type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: TableEncryption.AWS_MANAGED,
      // Starts a scheduler pass on state changes (SkiffControlFunctions); records are filtered by key.
      stream: StreamViewType.NEW_IMAGE,
      // Events carry an expiry (7 days); DynamoDB deletes them for free. Local mode (dynalite has
      // no TTL) prunes them from the health check instead, which also runs here as a backstop.
      timeToLiveAttribute: TTL_ATTRIBUTE,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    this.table.addGlobalSecondaryIndex({
      indexName: 'gsi1',
      partitionKey: { name: 'gsi1pk', type: AttributeType.STRING },
      sortKey: { name: 'gsi1sk', type: AttributeType.STRING },
      projectionType: ProjectionType.ALL,
    });
  }

  /**
   * Lets a host role read and write the items of the one instance that signed the request (`HOST#<its ARN>`),
   * so one role serves every host and none reaches another's items.
   */
  grantOwnHostItems(grantee: IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        // These three actions always name one item, so LeadingKeys is never an empty set (for
        // which ForAllValues would be vacuously true); Query, Scan and batch calls stay denied.
        sid: 'OwnHostItems',
        actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
        resources: [this.table.tableArn],
        conditions: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [`HOST#${SOURCE_INSTANCE_ARN}`] } },
      }),
    );
  }
}
