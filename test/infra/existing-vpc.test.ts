/**
 * A cluster in an existing VPC, found by id (`-c vpcId=...`). The lookup's answer is given as CDK
 * context, exactly as cdk.context.json holds it after the first synthesis with credentials, so the
 * test runs offline.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Vpc } from 'aws-cdk-lib/aws-ec2';
import { SkiffCluster } from '../../infra/skiff-cluster.ts';
import { Match } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stackSettingsFromContext } from '../../infra/skiff-stack.ts';
import { FIXTURE_ENTRIES, functionId, functionRoleId, bySid, list, render, roleStatements, synthFixtureStack } from './helpers.ts';
import type { Synthesized } from './helpers.ts';
import { ACCOUNT, LOOKUP_KEY, lookupAnswer, REGION, VPC_ID } from './vpc-lookup.ts';

// Each synth takes seconds, tens of them on a loaded machine.
describe('SkiffStack in an existing VPC', { timeout: 120_000 }, () => {
  let synth: Synthesized;
  beforeAll(() => {
    synth = synthFixtureStack(
      { clusterName: 'edge' },
      'Skiff-edge',
      { vpcId: VPC_ID, env: { account: ACCOUNT, region: REGION } },
      { [LOOKUP_KEY]: lookupAnswer() },
    );
  });
  afterAll(() => synth?.cleanup());

  it('creates no VPC and runs the hosts in the VPC’s private subnets', () => {
    synth.template.resourceCountIs('AWS::EC2::VPC', 0);
    synth.template.resourceCountIs('AWS::EC2::NatGateway', 0);
    synth.template.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', {
      VPCZoneIdentifier: ['subnet-0000000000000000a', 'subnet-0000000000000000b'],
    });
    synth.template.hasResourceProperties('AWS::Route53::HostedZone', { VPCs: [{ VPCId: VPC_ID, VPCRegion: REGION }] });
  });

  it('routes host subnets in the route tables of the private subnets, and the scheduler may touch only those', () => {
    const scheduler = functionId(synth.template, 'Skiff scheduler (cluster edge)');
    synth.template.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'Skiff scheduler (cluster edge)',
      Environment: { Variables: Match.objectLike({ SKIFF_ROUTE_TABLE_IDS: 'rtb-0000000000000000a,rtb-0000000000000000b', SKIFF_VPC_ID: VPC_ID }) },
    });
    const routes = bySid(roleStatements(synth.template, functionRoleId(synth.template, scheduler)), 'HostSubnetRoutes');
    expect(list(routes.Resource).map(render)).toEqual([
      `arn:aws:ec2:${REGION}:${ACCOUNT}:route-table/rtb-0000000000000000a`,
      `arn:aws:ec2:${REGION}:${ACCOUNT}:route-table/rtb-0000000000000000b`,
    ]);
  });

  it('refuses a cluster CIDR that overlaps the looked-up VPC', () => {
    expect(() =>
      synthFixtureStack(
        { clusterName: 'edge', clusterCidr: '10.50.128.0/17', hostSubnetPrefix: 24 },
        'Skiff-edge2',
        { vpcId: VPC_ID, env: { account: ACCOUNT, region: REGION } },
        { [LOOKUP_KEY]: lookupAnswer() },
      ),
    ).toThrow("clusterCidr 10.50.128.0/17 overlaps the VPC's CIDR 10.50.0.0/16");
  });

  it('survives the first pass of a lookup, before the answer is in context (CDK’s placeholder VPC)', () => {
    const first = synthFixtureStack({ clusterName: 'edge' }, 'Skiff-edge3', { vpcId: VPC_ID, env: { account: ACCOUNT, region: REGION } });
    try {
      first.template.resourceCountIs('AWS::EC2::VPC', 0);
    } finally {
      first.cleanup();
    }
  });

  it('says what to do when there is no account or region to look the VPC up in', () => {
    expect(() => synthFixtureStack({ clusterName: 'edge' }, 'Skiff-edge4', { vpcId: VPC_ID })).toThrow(
      /vpcId vpc-0123456789abcdef0 is looked up in the account and region the stack deploys to, and none is set: run cdk with AWS credentials .* or pass -c account=<12 digits> -c region=<region>/,
    );
    expect(() => synthFixtureStack({ clusterName: 'edge' }, 'Skiff-edge5', { vpcId: 'vpc-xyz', env: { account: ACCOUNT, region: REGION } })).toThrow(
      "vpcId 'vpc-xyz' is not a VPC id",
    );
  });
});

describe('stack settings from CDK context', () => {
  const settings = (context: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) => stackSettingsFromContext(new App({ context }).node, env);

  it('keeps the stack environment-agnostic without a vpcId, whatever the CLI environment says', () => {
    expect(settings({}, { CDK_DEFAULT_ACCOUNT: ACCOUNT, CDK_DEFAULT_REGION: REGION })).toEqual({});
  });

  it('takes the account and region from context, else from the CLI', () => {
    expect(settings({ vpcId: VPC_ID, account: ACCOUNT, region: REGION })).toEqual({ vpcId: VPC_ID, env: { account: ACCOUNT, region: REGION } });
    expect(settings({ vpcId: VPC_ID }, { CDK_DEFAULT_ACCOUNT: ACCOUNT, CDK_DEFAULT_REGION: 'us-east-2' })).toEqual({
      vpcId: VPC_ID,
      env: { account: ACCOUNT, region: 'us-east-2' },
    });
    expect(settings({ vpcId: VPC_ID })).toEqual({ vpcId: VPC_ID });
  });

  it('names a malformed account or region', () => {
    expect(() => settings({ vpcId: VPC_ID, account: '1234' })).toThrow("context 'account' must be a 12-digit AWS account id, got '1234'");
    expect(() => settings({ vpcId: VPC_ID, region: 'Ireland' })).toThrow("context 'region' must be an AWS region such as eu-west-1, got 'Ireland'");
  });
});

describe('SkiffCluster in a VPC given as attributes', () => {
  it('needs the VPC CIDR, and says how to give it', () => {
    const stack = new Stack(new App(), 'Attrs');
    const vpc = Vpc.fromVpcAttributes(stack, 'Vpc', { vpcId: VPC_ID, availabilityZones: ['eu-west-1a'], privateSubnetIds: ['subnet-0000000000000000a'] });
    expect(() => new SkiffCluster(stack, 'Cluster', { ...FIXTURE_ENTRIES, vpc })).toThrow(/the given vpc has no CIDR: import it with vpcCidrBlock/);
  });

  it('needs the route tables of the host subnets, and says how to give them', () => {
    const stack = new Stack(new App(), 'Attrs');
    const vpc = Vpc.fromVpcAttributes(stack, 'Vpc', {
      vpcId: VPC_ID,
      vpcCidrBlock: '10.50.0.0/16',
      availabilityZones: ['eu-west-1a', 'eu-west-1b'],
      privateSubnetIds: ['subnet-0000000000000000a', 'subnet-0000000000000000b'],
    });
    expect(() => new SkiffCluster(stack, 'Cluster', { ...FIXTURE_ENTRIES, vpc })).toThrow(
      /the route tables of the hosts' subnets must be known, and subnet-0000000000000000a, subnet-0000000000000000b have none: import the VPC with its route tables/,
    );
  });
});
