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
   * Lets a host role put the items of the one instance that signed the request (`HOST#<its ARN>`),
   * so one role serves every host and none reaches another's items; and name in them only the
   * attributes of its report and heartbeat (`HOST_WRITABLE_ATTRIBUTES`). No read, no update: the
   * agent reads nothing from the table, and its host record is the control plane's (registered from
   * the claim in its report, app/scheduler/steps/register-hosts.ts).
   */
  grantOwnHostItems(grantee: IGrantable): void {
    // PutItem always names one item, so LeadingKeys is never an empty set (for which ForAllValues
    // would be vacuously true); GetItem, UpdateItem, Query, Scan, DeleteItem and batch calls stay denied.
    const ownPartition = { 'dynamodb:LeadingKeys': [`HOST#${SOURCE_INSTANCE_ARN}`] };
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        // dynamodb:Attributes is every attribute a write names (the item's, the key's, and those of
        // its condition expression), never empty for a put, so ForAllValues holds it to the list: the
        // host record's attributes (state, capacity, address, version) are not on it. ReturnValues:
        // NONE only (absent is NONE), so a put returns nothing of the item it replaced.
        sid: 'WriteOwnHostItems',
        actions: ['dynamodb:PutItem'],
        resources: [this.table.tableArn],
        conditions: {
          'ForAllValues:StringEquals': { ...ownPartition, 'dynamodb:Attributes': [...HOST_WRITABLE_ATTRIBUTES] },
          StringEqualsIfExists: { 'dynamodb:ReturnValues': ['NONE'] },
        },
      }),
    );
  }
}
