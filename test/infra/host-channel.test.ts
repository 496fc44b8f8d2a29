/**
 * The cluster's host channel in the template (docs/host-channel.md): SSM by default, with nothing
 * added; with `hostChannel: 'dynamodb'`, a host document table, every function and every host told
 * about it, the scheduler allowed to publish, the host autoscaler to forget, and each host to read
 * only the item keyed with its own instance ARN.
 */
import type { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateSkiffClusterProps } from '../../infra/cluster-props.ts';
import { functionId, functionRoleId, list, onlyResource, render, roleStatements, type Statement, synthFixtureStack, type Synthesized } from './helpers.ts';

const FUNCTIONS = ['Skiff API (cluster test)', 'Skiff scheduler (cluster test)', 'Skiff health (cluster test)', 'Skiff host autoscaler (cluster test)'];

const environmentOf = (template: Template, description: string) =>
  (
    template.findResources('AWS::Lambda::Function')[functionId(template, description)] as {
      Properties: { Environment: { Variables: Record<string, unknown> } };
    }
  ).Properties.Environment.Variables;
const userDataOf = (template: Template) =>
  render(
    (Object.values(template.findResources('AWS::EC2::LaunchTemplate'))[0] as { Properties: { LaunchTemplateData: { UserData: unknown } } }).Properties
      .LaunchTemplateData.UserData,
  );
const hostRoleStatements = (template: Template) =>
  roleStatements(
    template,
    onlyResource(template, 'AWS::IAM::Role', (p) => JSON.stringify(p.AssumeRolePolicyDocument).includes('ec2.amazonaws.com')),
  );
/** Statements naming a resource of the table (its ARN is rendered `${<id>.Arn}`). */
const onTable = (statements: Statement[], tableId: string) => statements.filter((s) => list(s.Resource).some((r) => render(r).includes(`\${${tableId}.Arn}`)));

describe('hostChannel: dynamodb', () => {
  let synth: Synthesized;
  let template: Template;
  let tableId: string;
  beforeAll(() => {
    synth = synthFixtureStack({ clusterName: 'test', maxHosts: 5, hostChannel: 'dynamodb' }, 'Skiff-channel');
    template = synth.template;
    tableId = onlyResource(template, 'AWS::DynamoDB::Table', (p) => (p.KeySchema as unknown[]).length === 1);
  }, 180_000);
  afterAll(() => synth?.cleanup());

  it('adds a host document table: one partition key, on demand, encrypted, beside the state table', () => {
    expect(Object.keys(template.findResources('AWS::DynamoDB::Table'))).toHaveLength(2);
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
      SSESpecification: { SSEEnabled: true },
    });
  });

  it('tells every control-plane function the channel and the table', () => {
    for (const fn of FUNCTIONS) {
      const env = environmentOf(template, fn);
      expect(env.SKIFF_HOST_CHANNEL, fn).toBe('dynamodb');
      expect(env.SKIFF_HOST_DOCUMENT_TABLE, fn).toEqual({ Ref: tableId });
    }
  });

  it('tells every host, and polls every 30 s (no shared read quota)', () => {
    const script = userDataOf(template);
    expect(script).toContain('SKIFF_HOST_CHANNEL=dynamodb');
    expect(script).toContain(`SKIFF_HOST_DOCUMENT_TABLE=\${${tableId}}`);
    expect(script).toContain('SKIFF_POLL_SECONDS=30');
  });

  it('lets the scheduler publish, read back and delete documents, and the host autoscaler delete them', () => {
    const scheduler = onTable(roleStatements(template, functionRoleId(template, functionId(template, 'Skiff scheduler (cluster test)'))), tableId);
    expect(scheduler.flatMap((s) => list(s.Action)).sort()).toEqual(['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem']);
    const autoscaler = onTable(roleStatements(template, functionRoleId(template, functionId(template, 'Skiff host autoscaler (cluster test)'))), tableId);
    expect(autoscaler.flatMap((s) => list(s.Action))).toEqual(['dynamodb:DeleteItem']);
    // The API and health functions never touch documents.
    for (const fn of ['Skiff API (cluster test)', 'Skiff health (cluster test)']) {
      expect(onTable(roleStatements(template, functionRoleId(template, functionId(template, fn))), tableId)).toEqual([]);
    }
  });

  it('lets a host GetItem only the item keyed HOST#<its own instance ARN>, and nothing else of the table', () => {
    const statements = onTable(hostRoleStatements(template), tableId);
    expect(statements).toHaveLength(1);
    const read = statements[0]!;
    expect(read.Effect).toBe('Allow');
    expect(list(read.Action)).toEqual(['dynamodb:GetItem']);
    expect(list(read.Resource).map(render)).toEqual([`\${${tableId}.Arn}`]);
    expect(read.Condition).toEqual({ 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['HOST#${ec2:SourceInstanceARN}'] } });
  });
});

describe('hostChannel: ssm (the default)', () => {
  let synth: Synthesized;
  beforeAll(() => {
    synth = synthFixtureStack({ clusterName: 'test', maxHosts: 5 }, 'Skiff-channel-ssm');
  }, 180_000);
  afterAll(() => synth?.cleanup());

  it('adds no table and tells no one: the agents and functions default to SSM', () => {
    expect(Object.keys(synth.template.findResources('AWS::DynamoDB::Table'))).toHaveLength(1);
    for (const fn of FUNCTIONS) expect(environmentOf(synth.template, fn).SKIFF_HOST_CHANNEL, fn).toBeUndefined();
    expect(userDataOf(synth.template)).not.toContain('SKIFF_HOST_CHANNEL');
    expect(userDataOf(synth.template)).toContain('SKIFF_POLL_SECONDS=5');
  });

  it('refuses another channel, naming the prop', () => {
    expect(() => validateSkiffClusterProps({ hostChannel: 's3' as never })).toThrow(/hostChannel must be 'ssm' or 'dynamodb', got "s3"/);
  });
});
