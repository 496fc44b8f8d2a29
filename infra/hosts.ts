/**
 * SkiffHosts: the container hosts: an Auto Scaling group of Amazon Linux 2023 instances that
 * download the agent bundle at boot and run it (infra/host-user-data.ts), with a role that
 * reaches only each host's own document and items; the Run Command document that wakes an agent;
 * and the grants that let the scheduler publish host documents and wake hosts with that document.
 */
import path from 'node:path';
import { AssetHashType, Aws, BundlingOutput, DockerImage, Stack } from 'aws-cdk-lib';
import { AutoScalingGroup } from 'aws-cdk-lib/aws-autoscaling';
import {
  AmazonLinuxCpuType,
  BlockDeviceVolume,
  EbsDeviceVolumeType,
  InstanceArchitecture,
  LaunchTemplate,
  MachineImage,
  SecurityGroup,
  UserData,
} from 'aws-cdk-lib/aws-ec2';
import type { InstanceType, IVpc, SubnetSelection } from 'aws-cdk-lib/aws-ec2';
import { Effect, ManagedPolicy, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IGrantable } from 'aws-cdk-lib/aws-iam';
import { Asset } from 'aws-cdk-lib/aws-s3-assets';
import { CfnDocument } from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { EsbuildBundling } from './esbuild-bundling.ts';
import { AGENT_SERVICE_NAME, hostPollSeconds, hostUserDataScript } from './host-user-data.ts';
import { SOURCE_INSTANCE_ARN } from './state.ts';
import type { SkiffState } from './state.ts';

/** The tag every Skiff resource carries; Run Command from the scheduler is limited to instances with it. */
export const CLUSTER_TAG_KEY = 'skiff:cluster';
/**
 * The tag each host parameter must carry, holding the ARN of the one instance allowed to read it
 * (see docs/aws.md, "Instance-scoped access"). The publisher sets it: `HOST_ARN_TAG_KEY` in
 * adapters/aws/ssm-channel.ts, kept equal by test/infra/skiff-cluster.test.ts.
 */
export const HOST_ARN_TAG_KEY = 'skiff:host-arn';
/**
 * The condition key for that tag. The Service Authorization Reference lists
 * `aws:ResourceTag/${TagKey}` for GetParameter and GetParameters on parameters;
 * `ssm:resourceTag/${TagKey}` is listed for documents and instances, not for parameters.
 */
const HOST_ARN_TAG_CONDITION = `aws:ResourceTag/${HOST_ARN_TAG_KEY}`;
/** The tag of a secret parameter, valued with its cluster's name (adapters/aws/ssm-secrets.ts SECRET_TAG_KEY). */
export const SECRET_TAG_KEY = 'skiff:cluster-secret';
const SECRET_TAG_CONDITION = `aws:ResourceTag/${SECRET_TAG_KEY}`;
/**
 * The one command the scheduler may run on a host: signal the agent to read its document now
 * (docs/host-channel.md). Fixed in the document, so the sender passes nothing that runs.
 */
export const WAKE_COMMAND = `systemctl kill -s USR1 ${AGENT_SERVICE_NAME}`;
/** Node.js on the hosts: AL2023 ships namespaced `nodejs20`, `nodejs22`, `nodejs24`; 20 is past end of life. */
const HOST_NODE_MAJOR = 22;

export interface SkiffHostsProps {
  /** The cluster name, in descriptions and the host role's tag conditions. */
  readonly clusterName: string;
  /** `/skiff/<clusterName>`: root of the cluster's SSM parameters; host documents are under `<prefix>/hosts/`. */
  readonly parameterPrefix: string;
  /** `arn:<partition>:ec2:<region>:<account>:instance/`: a host's ARN is this plus its instance id. */
  readonly hostArnPrefix: string;
  /** The VPC the hosts run in. */
  readonly vpc: IVpc;
  /** The subnets of `vpc` the hosts run in. */
  readonly vpcSubnets: SubnetSelection;
  /** The state table: each host writes its status and heartbeats there, and only its own items. */
  readonly state: SkiffState;
  /** Entry of the host agent, bundled into one ESM file. */
  readonly agentEntry: string;
  /** Instance type; Graviton (arm64) types get the arm64 AMI. */
  readonly instanceType: InstanceType;
  /** Size of the encrypted gp3 root volume, in GiB. */
  readonly rootVolumeGiB: number;
  readonly minHosts: number;
  readonly maxHosts: number;
  /**
   * Hosts to run right after each deployment.
   * @default - not set: the group starts at minHosts and a deployment does not undo the autoscaler
   */
  readonly desiredHosts?: number;
  /** Seconds between an agent's heartbeats. */
  readonly heartbeatSeconds: number;
  /**
   * Seconds a leaving replica keeps serving before its stop signal: the ingress load balancer's
   * deregistration delay, so both count the same drain. @default - the agent's default (DRAIN_SECONDS.aws)
   */
  readonly drainSeconds?: number;
  /** With the DynamoDB host channel: the host document table (infra/host-documents.ts). @default - the SSM channel */
  readonly hostDocumentTable?: string;
  /** The cluster's EFS file system, whose access points the agents mount for persistent volumes. */
  readonly efsFileSystemId?: string;
  /** The cluster's log group, where the agents ship containers' output (infra/logs.ts). */
  readonly logGroup?: string;
  /** Workload identity: the API URL and the credentials endpoint's address, for the agent (infra/workload-identity.ts). */
  readonly workloadIdentity?: { readonly apiUrl: string; readonly credentialsAddress: string };
}

/** The hosts of one cluster and what they may do. */
export class SkiffHosts extends Construct {
  /** The agent as one ESM file in S3, downloaded by each host at boot. */
  readonly agentBundle: Asset;
  readonly role: Role;
  readonly securityGroup: SecurityGroup;
  readonly launchTemplate: LaunchTemplate;
  /** The Auto Scaling group of container hosts. */
  readonly autoScalingGroup: AutoScalingGroup;
  /** The Run Command document that wakes an agent: `WAKE_COMMAND`, no parameters. */
  readonly wakeDocument: CfnDocument;
  private readonly parameterPrefix: string;
  private readonly clusterName: string;

  constructor(scope: Construct, id: string, props: SkiffHostsProps) {
    super(scope, id);
    const { clusterName } = props;
    this.clusterName = clusterName;
    this.parameterPrefix = props.parameterPrefix;

    this.agentBundle = new Asset(this, 'AgentBundle', {
      path: path.dirname(props.agentEntry),
      assetHashType: AssetHashType.OUTPUT,
      bundling: {
        local: new EsbuildBundling({ entry: props.agentEntry, outfile: 'agent.mjs', target: `node${HOST_NODE_MAJOR}` }),
        // The asset is the .mjs file itself, so hosts download and run it without unzipping.
        outputType: BundlingOutput.SINGLE_FILE,
        // Required by the type; never used, because the local bundling above always succeeds or throws.
        image: DockerImage.fromRegistry('skiff/local-bundling-only'),
      },
    });

    this.role = new Role(this, 'HostRole', {
      assumedBy: new ServicePrincipal('ec2.amazonaws.com'),
      description: `Skiff host (cluster ${clusterName})`,
      managedPolicies: [ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore')],
    });
    this.grantHostPermissions(props.state);

    this.securityGroup = new SecurityGroup(this, 'HostSecurityGroup', {
      vpc: props.vpc,
      description: `Skiff hosts (cluster ${clusterName}); inbound from the load balancer and the cluster containers; people use Session Manager`,
      allowAllOutbound: true,
    });

    const arm = props.instanceType.architecture === InstanceArchitecture.ARM_64;
    const userData = UserData.forLinux();
    userData.addCommands(
      hostUserDataScript({
        clusterName,
        tableName: props.state.table.tableName,
        parameterPrefix: props.parameterPrefix,
        region: Aws.REGION,
        hostArnPrefix: props.hostArnPrefix,
        agentBundleUrl: this.agentBundle.s3ObjectUrl,
        nodeMajorVersion: HOST_NODE_MAJOR,
        heartbeatSeconds: props.heartbeatSeconds,
        // Sized for the largest fleet the group may reach: polls stay within half the quota (SSM).
        pollSeconds: hostPollSeconds(props.maxHosts, props.hostDocumentTable ? 'dynamodb' : 'ssm'),
        ...(props.hostDocumentTable ? { hostDocumentTable: props.hostDocumentTable } : {}),
        ...(props.drainSeconds === undefined ? {} : { drainSeconds: props.drainSeconds }),
        ...(props.efsFileSystemId ? { efsFileSystemId: props.efsFileSystemId } : {}),
        ...(props.logGroup ? { logGroup: props.logGroup } : {}),
        ...(props.workloadIdentity ? { workloadIdentity: props.workloadIdentity } : {}),
      }),
    );

    this.launchTemplate = new LaunchTemplate(this, 'HostLaunchTemplate', {
      machineImage: MachineImage.latestAmazonLinux2023({ cpuType: arm ? AmazonLinuxCpuType.ARM_64 : AmazonLinuxCpuType.X86_64 }),
      instanceType: props.instanceType,
      role: this.role,
      securityGroup: this.securityGroup,
      userData,
      requireImdsv2: true,
      // One hop: processes on the host reach IMDS, containers behind Docker's bridge (one more
      // hop) do not, so they cannot take the host role's credentials. AL2023 AMIs default to 2.
      httpPutResponseHopLimit: 1,
      blockDevices: [
        {
          deviceName: '/dev/xvda',
          volume: BlockDeviceVolume.ebs(props.rootVolumeGiB, {
            volumeType: EbsDeviceVolumeType.GP3,
            encrypted: true,
            deleteOnTermination: true,
          }),
        },
      ],
    });

    this.autoScalingGroup = new AutoScalingGroup(this, 'Hosts', {
      vpc: props.vpc,
      vpcSubnets: props.vpcSubnets,
      launchTemplate: this.launchTemplate,
      minCapacity: props.minHosts,
      maxCapacity: props.maxHosts,
      ...(props.desiredHosts === undefined ? {} : { desiredCapacity: props.desiredHosts }),
    });

    // Replaces AWS-RunShellScript, with which the scheduler's role could run any command as root on
    // every host. No Name: CloudFormation names it, so a content change replaces it without the new
    // document clashing with the old one's name, and the scheduler's environment and grant follow the Ref.
    this.wakeDocument = new CfnDocument(this, 'WakeDocument', {
      documentType: 'Command',
      content: {
        schemaVersion: '2.2',
        description: `Skiff: wake the host agent so it reads its host document now (cluster ${clusterName})`,
        mainSteps: [
          {
            action: 'aws:runShellScript',
            name: 'signalAgent',
            inputs: { runCommand: [WAKE_COMMAND], timeoutSeconds: 30 },
          },
        ],
      },
    });
  }

  /** The wake-up document's name, for the scheduler's environment (`SKIFF_WAKE_DOCUMENT`). */
  get wakeDocumentName(): string {
    return this.wakeDocument.ref;
  }

  /** Lets the grantee publish, read and delete host documents, and tag each with its host's ARN. */
  grantPublishDocuments(grantee: IGrantable): void {
    const add = (statement: PolicyStatement) => grantee.grantPrincipal.addToPrincipalPolicy(statement);
    add(
      new PolicyStatement({
        sid: 'HostDocuments',
        actions: ['ssm:PutParameter', 'ssm:GetParameter*', 'ssm:DeleteParameter*'],
        resources: [this.parameterArn(`${this.parameterPrefix}/*`)],
      }),
    );
    add(
      new PolicyStatement({
        // Host documents are created with the owning instance's ARN as a tag (PutParameter with
        // Tags needs this action too); the hosts' read permission is conditioned on it.
        sid: 'TagHostDocuments',
        actions: ['ssm:AddTagsToResource'],
        resources: [this.parameterArn(`${this.parameterPrefix}/hosts/*`)],
      }),
    );
  }

  /**
   * Lets the grantee remove host documents and nothing else of them: list a host's parameters and
   * delete them (`SsmHostChannel.remove`). The host autoscaler forgets the hosts it terminated.
   */
  grantRemoveDocuments(grantee: IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'RemoveHostDocuments',
        actions: ['ssm:GetParametersByPath', 'ssm:DeleteParameter*'],
        resources: [this.parameterArn(`${this.parameterPrefix}/hosts/*`)],
      }),
    );
  }

  /** Lets the grantee (the API) store, read, tag and delete the cluster's secret parameters. */
  grantManageSecrets(grantee: IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'ManageClusterSecrets',
        actions: ['ssm:PutParameter', 'ssm:GetParameter', 'ssm:DeleteParameter', 'ssm:AddTagsToResource'],
        resources: [this.parameterArn(`${this.parameterPrefix}/secrets/*`)],
      }),
    );
  }

  /** Lets the grantee wake this cluster's hosts: Run Command with the wake-up document only, on instances with the cluster tag. */
  grantWake(grantee: IGrantable): void {
    const stack = Stack.of(this);
    const add = (statement: PolicyStatement) => grantee.grantPrincipal.addToPrincipalPolicy(statement);
    add(
      new PolicyStatement({
        sid: 'WakeHostsDocument',
        actions: ['ssm:SendCommand'],
        resources: [stack.formatArn({ service: 'ssm', resource: 'document', resourceName: this.wakeDocumentName })],
      }),
    );
    add(
      new PolicyStatement({
        // A separate statement: the tag condition must not apply to the document resource.
        sid: 'WakeHostsInstances',
        actions: ['ssm:SendCommand'],
        resources: [stack.formatArn({ service: 'ec2', resource: 'instance', resourceName: '*' })],
        conditions: { StringEquals: { [`ssm:resourceTag/${CLUSTER_TAG_KEY}`]: this.clusterName } },
      }),
    );
  }

  /**
   * Lets the scheduler ask EC2 what each host's instance is (its type's size, its private IP), to
   * bound the agent's claim when it registers the host (adapters/aws/ec2-machine-catalog.ts).
   */
  grantDescribeMachines(grantee: IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        // The Service Authorization Reference lists no resource type for these Describe calls: '*' only.
        sid: 'HostMachineFacts',
        actions: ['ec2:DescribeInstances', 'ec2:DescribeInstanceTypes'],
        resources: ['*'],
      }),
    );
  }

  private parameterArn(name: string): string {
    return Stack.of(this).formatArn({ service: 'ssm', resource: 'parameter', resourceName: name.replace(/^\//, '') });
  }

  /**
   * The host role reaches only its own instance's data. `${ec2:SourceInstanceARN}` is the ARN of
   * the instance whose role credentials signed the request, so one role serves every host while
   * each host reads and writes only what carries its own ARN.
   */
  private grantHostPermissions(state: SkiffState): void {
    const hostsPath = `${this.parameterPrefix}/hosts/*`;
    this.role.addToPolicy(
      new PolicyStatement({
        sid: 'ReadOwnHostDocument',
        actions: ['ssm:GetParameter', 'ssm:GetParameters'],
        resources: [this.parameterArn(hostsPath)],
        conditions: { StringEquals: { [HOST_ARN_TAG_CONDITION]: SOURCE_INSTANCE_ARN } },
      }),
    );
    // AmazonSSMManagedInstanceCore allows ssm:GetParameter(s) on every parameter; this deny keeps
    // a host out of every Skiff parameter that is not tagged with its own ARN. A parameter that
    // does not exist has no tag either, so reading it is denied too (AccessDeniedException, not
    // ParameterNotFound): the agent sees that until its first document is published.
    this.role.addToPolicy(
      new PolicyStatement({
        sid: 'DenyOtherSkiffParameters',
        effect: Effect.DENY,
        actions: ['ssm:GetParameter*'],
        resources: [this.parameterArn('/skiff/*')],
        // Keys of one operator are ANDed: denied unless it is this host's document or a secret of this cluster.
        conditions: { StringNotEquals: { [HOST_ARN_TAG_CONDITION]: SOURCE_INSTANCE_ARN, [SECRET_TAG_CONDITION]: this.clusterName } },
      }),
    );
    // Secrets: the agent reads (and decrypts, with the account's aws/ssm key through SSM) the cluster's
    // secret parameters for the tasks it starts; only those under the cluster's path with its tag.
    this.role.addToPolicy(
      new PolicyStatement({
        sid: 'ReadClusterSecrets',
        actions: ['ssm:GetParameter'],
        resources: [this.parameterArn(`${this.parameterPrefix}/secrets/*`)],
        conditions: { StringEquals: { [SECRET_TAG_CONDITION]: this.clusterName } },
      }),
    );
    state.grantOwnHostItems(this.role);
    this.role.addToPolicy(
      new PolicyStatement({
        sid: 'DownloadAgentBundle',
        actions: ['s3:GetObject'],
        resources: [
          Stack.of(this).formatArn({
            service: 's3',
            region: '',
            account: '',
            resource: this.agentBundle.s3BucketName,
            resourceName: this.agentBundle.s3ObjectKey,
          }),
        ],
      }),
    );
  }
}
