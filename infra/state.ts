/**
 * SkiffState: the cluster's state table (keys in docs/state.md), and the grant that lets each host
 * touch only its own items.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, ProjectionType, StreamViewType, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IGrantable } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { HOST_WRITABLE_ATTRIBUTES } from '../adapters/aws/dynamo/host-attributes.ts';

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
   * so one role serves every host and none reaches another's items; and write in them only the
   * attributes the agent's own writes name (`HOST_WRITABLE_ATTRIBUTES`).
   */
  grantOwnHostItems(grantee: IGrantable): void {
    // These three actions always name one item, so LeadingKeys is never an empty set (for which
    // ForAllValues would be vacuously true); Query, Scan, DeleteItem and batch calls stay denied.
    const ownPartition = { 'dynamodb:LeadingKeys': [`HOST#${SOURCE_INSTANCE_ARN}`] };
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        // Whole items: registration reads the host record to keep its state and version. Reading
        // its own items shows a host nothing it did not write or is not about itself, so there is
        // no attribute list and no dynamodb:Select condition here.
        sid: 'ReadOwnHostItems',
        actions: ['dynamodb:GetItem'],
        resources: [this.table.tableArn],
        conditions: { 'ForAllValues:StringEquals': ownPartition },
      }),
    );
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        // dynamodb:Attributes is every attribute a write names (the item's, the key's, and those of
        // its update and condition expressions), never empty for a write, so ForAllValues holds it
        // to the list. ReturnValues: the values the agent asks for (absent is NONE); ALL_NEW
        // returns only the host's own item, which it may read anyway. dynamodb:Select applies to
        // reads only, so it has no place in a write-only statement.
        sid: 'WriteOwnHostItems',
        actions: ['dynamodb:PutItem', 'dynamodb:UpdateItem'],
        resources: [this.table.tableArn],
        conditions: {
          'ForAllValues:StringEquals': { ...ownPartition, 'dynamodb:Attributes': [...HOST_WRITABLE_ATTRIBUTES] },
          StringEqualsIfExists: { 'dynamodb:ReturnValues': ['NONE', 'ALL_NEW'] },
        },
      }),
    );
  }
}
