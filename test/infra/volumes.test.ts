import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { SecurityGroup, SubnetType, Vpc } from 'aws-cdk-lib/aws-ec2';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { describe, expect, it } from 'vitest';
import { ENV } from '../../app/env-names.ts';
import { hostUserDataScript } from '../../infra/host-user-data.ts';
import { SkiffPersistentVolumes } from '../../infra/volumes.ts';

/** The construct alone, in a two-zone VPC, with a host security group and role as the cluster gives it. */
function build(): Template {
  process.env.CDK_VALIDATION = 'false';
  const stack = new Stack(new App(), 'Volumes', { env: { account: '123456789012', region: 'eu-west-1' } });
  const vpc = new Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 0, subnetConfiguration: [{ name: 'hosts', subnetType: SubnetType.PRIVATE_ISOLATED }] });
  const hostSecurityGroup = new SecurityGroup(stack, 'HostSg', { vpc });
  const hostRole = new Role(stack, 'HostRole', { assumedBy: new ServicePrincipal('ec2.amazonaws.com') });
  const volumes = new SkiffPersistentVolumes(stack, 'Volumes', { clusterName: 'prod', vpc, vpcSubnets: { subnetType: SubnetType.PRIVATE_ISOLATED } });
  volumes.admitHosts(hostSecurityGroup);
  volumes.grantHosts(hostRole);
  return Template.fromStack(stack);
}

describe('persistent volumes on EFS', () => {
  const template = build();

  it('is one encrypted, elastic, backed-up file system per cluster, kept when the stack is deleted', () => {
    template.resourceCountIs('AWS::EFS::FileSystem', 1);
    template.hasResource('AWS::EFS::FileSystem', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({ Encrypted: true, ThroughputMode: 'elastic', BackupPolicy: { Status: 'ENABLED' } }),
    });
  });

  it('has a mount target in each host subnet, reachable over NFS from the hosts only', () => {
    template.resourceCountIs('AWS::EFS::MountTarget', 2);
    template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      IpProtocol: 'tcp',
      FromPort: 2049,
      ToPort: 2049,
      SourceSecurityGroupId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^HostSg'), 'GroupId'] },
    });
  });

  it('refuses every client that does not use TLS, and anonymous NFS clients', () => {
    const [fs] = Object.values(template.findResources('AWS::EFS::FileSystem')) as { Properties: { FileSystemPolicy: { Statement: unknown[] } } }[];
    expect(fs.Properties.FileSystemPolicy.Statement).toEqual(
      expect.arrayContaining([expect.objectContaining({ Effect: 'Deny', Action: '*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
    );
    // Without allowAnonymousAccess the construct grants no mount to a principal without IAM.
    expect(JSON.stringify(fs.Properties.FileSystemPolicy)).not.toContain('"AWS":"*","Action":"elasticfilesystem:ClientMount"');
  });

  it('lets the host role mount and write through access points only, and create them only tagged with its cluster', () => {
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: ['elasticfilesystem:ClientMount', 'elasticfilesystem:ClientWrite'],
            Condition: { Bool: { 'elasticfilesystem:AccessedViaMountTarget': 'true' }, Null: { 'elasticfilesystem:AccessPointArn': 'false' } },
          }),
          Match.objectLike({ Action: 'elasticfilesystem:CreateAccessPoint', Condition: { StringEquals: { 'aws:RequestTag/skiff:cluster': 'prod' } } }),
          Match.objectLike({
            Action: 'elasticfilesystem:TagResource',
            Condition: { StringEquals: { 'elasticfilesystem:CreateAction': 'CreateAccessPoint', 'aws:RequestTag/skiff:cluster': 'prod' } },
          }),
          Match.objectLike({ Action: 'elasticfilesystem:DescribeAccessPoints' }),
          // Deleted (`--delete-volumes`) only when it carries the cluster's tag.
          Match.objectLike({ Action: 'elasticfilesystem:DeleteAccessPoint', Condition: { StringEquals: { 'aws:ResourceTag/skiff:cluster': 'prod' } } }),
        ]),
      },
    });
    // Never the file system's own root, nor root access.
    expect(JSON.stringify(template.findResources('AWS::IAM::Policy'))).not.toContain('ClientRootAccess');
  });

  it('installs the EFS mount helper on hosts and tells the agent the file system', () => {
    const script = hostUserDataScript({
      clusterName: 'prod',
      tableName: 't',
      parameterPrefix: '/skiff/prod',
      region: 'eu-west-1',
      hostArnPrefix: 'arn:aws:ec2:eu-west-1:123456789012:instance/',
      agentBundleUrl: 's3://b/k',
      nodeMajorVersion: 22,
      heartbeatSeconds: 15,
      pollSeconds: 100,
      efsFileSystemId: 'fs-0123',
    });
    expect(script).toMatch(/dnf install -y docker iptables-nft nodejs22 amazon-efs-utils/);
    expect(script).toContain(`${ENV.efsFileSystemId}=fs-0123`);
  });
});
