/**
 * SkiffPersistentVolumes: the cluster's EFS file system, where persistent volumes live on AWS
 * (docs/spec.md, "Volumes"). One file system per cluster, encrypted, with a mount target in each
 * host subnet; each volume is an access point of it (`/skiff/<volume id>`), created by the agent
 * of the host that first runs the volume's replica, tagged with the cluster. Hosts mount access
 * points with TLS and IAM (amazon-efs-utils): the file system policy refuses any client that uses
 * neither, and the host role may mount, write, create and delete only this cluster's access points. Since
 * every host reaches every volume, replicas are not pinned to a host: their data follows them.
 */
import { Aws, RemovalPolicy } from 'aws-cdk-lib';
import type { ISecurityGroup, IVpc, SubnetSelection } from 'aws-cdk-lib/aws-ec2';
import { FileSystem, LifecyclePolicy, ThroughputMode } from 'aws-cdk-lib/aws-efs';
import { AnyPrincipal, Effect, PolicyDocument, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IGrantable } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

/** The tag of the cluster on each access point; the host role may create and use only those that carry it. */
const CLUSTER_TAG_KEY = 'skiff:cluster';

export interface SkiffPersistentVolumesProps {
  readonly clusterName: string;
  readonly vpc: IVpc;
  /** The host subnets: a mount target in each, so every host mounts within its own zone. */
  readonly vpcSubnets: SubnetSelection;
  /**
   * What happens to the file system (the volumes' data) when the stack is deleted.
   * @default RemovalPolicy.RETAIN: data outlives the stack, as `skiff delete service` keeps volumes
   *   (unless `--delete-volumes`)
   */
  readonly removalPolicy?: RemovalPolicy;
}

export class SkiffPersistentVolumes extends Construct {
  readonly fileSystem: FileSystem;
  private readonly clusterName: string;

  constructor(scope: Construct, id: string, props: SkiffPersistentVolumesProps) {
    super(scope, id);
    this.clusterName = props.clusterName;
    this.fileSystem = new FileSystem(this, 'FileSystem', {
      vpc: props.vpc,
      vpcSubnets: props.vpcSubnets,
      encrypted: true,
      // Elastic: throughput follows use; a few small volumes cost no provisioned throughput.
      throughputMode: ThroughputMode.ELASTIC,
      lifecyclePolicy: LifecyclePolicy.AFTER_30_DAYS,
      enableAutomaticBackups: true,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      fileSystemPolicy: new PolicyDocument({
        statements: [
          // Data in transit is encrypted: a mount without TLS is refused, whoever asks.
          new PolicyStatement({
            effect: Effect.DENY,
            principals: [new AnyPrincipal()],
            actions: ['*'],
            conditions: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ],
      }),
      // Only IAM-authorized clients (the host role) may mount: no anonymous NFS client.
      allowAnonymousAccess: false,
    });
  }

  /** Lets the hosts (their security group) reach the mount targets over NFS. */
  admitHosts(hostSecurityGroup: ISecurityGroup): void {
    this.fileSystem.connections.allowDefaultPortFrom(hostSecurityGroup, 'Skiff hosts mount persistent volumes');
  }

  /**
   * Lets the host role mount and write through this cluster's access points (with TLS and IAM), and
   * create and find them: an access point may be created only with the cluster tag, and used only when
   * it carries it.
   */
  grantHosts(grantee: IGrantable): void {
    const add = (statement: PolicyStatement) => grantee.grantPrincipal.addToPrincipalPolicy(statement);
    add(
      new PolicyStatement({
        actions: ['elasticfilesystem:ClientMount', 'elasticfilesystem:ClientWrite'],
        resources: [this.fileSystem.fileSystemArn],
        conditions: {
          Bool: { 'elasticfilesystem:AccessedViaMountTarget': 'true' },
          // Through an access point only (each volume's own root), never the file system's root.
          Null: { 'elasticfilesystem:AccessPointArn': 'false' },
        },
      }),
    );
    add(
      new PolicyStatement({
        actions: ['elasticfilesystem:CreateAccessPoint'],
        resources: [this.fileSystem.fileSystemArn],
        conditions: { StringEquals: { [`aws:RequestTag/${CLUSTER_TAG_KEY}`]: this.clusterName } },
      }),
    );
    add(
      new PolicyStatement({
        actions: ['elasticfilesystem:TagResource'],
        // Access points only, and only as part of their creation (the condition below).
        resources: [`arn:${Aws.PARTITION}:elasticfilesystem:${Aws.REGION}:${Aws.ACCOUNT_ID}:access-point/*`],
        conditions: { StringEquals: { 'elasticfilesystem:CreateAction': 'CreateAccessPoint', [`aws:RequestTag/${CLUSTER_TAG_KEY}`]: this.clusterName } },
      }),
    );
    add(new PolicyStatement({ actions: ['elasticfilesystem:DescribeAccessPoints'], resources: [this.fileSystem.fileSystemArn] }));
    // `skiff delete service --delete-volumes`: the agent of a host deletes the volume's access point,
    // only one that carries this cluster's tag.
    add(
      new PolicyStatement({
        actions: ['elasticfilesystem:DeleteAccessPoint'],
        resources: [`arn:${Aws.PARTITION}:elasticfilesystem:${Aws.REGION}:${Aws.ACCOUNT_ID}:access-point/*`],
        conditions: { StringEquals: { [`aws:ResourceTag/${CLUSTER_TAG_KEY}`]: this.clusterName } },
      }),
    );
  }
}
