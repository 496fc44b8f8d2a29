/**
 * Shared setup for the infra tests: synthesizing a SkiffStack with fixture entries, offline and
 * without Docker, and reading IAM policies and joined strings out of the template.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { SkiffClusterProps } from '../../infra/skiff-cluster.ts';
import { SkiffStack } from '../../infra/skiff-stack.ts';
import type { SkiffStackProps } from '../../infra/skiff-stack.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Absolute path of a file in test/infra/fixtures. */
export function fixture(name: string): string {
  return fileURLToPath(new URL(`fixtures/${name}`, import.meta.url));
}

export const FIXTURE_ENTRIES = {
  apiEntry: fixture('api-handler.ts'),
  schedulerEntry: fixture('scheduler-handler.ts'),
  healthEntry: fixture('health-handler.ts'),
  hostAutoscalerEntry: fixture('host-autoscaler-handler.ts'),
  autoscalerEntry: fixture('autoscaler-handler.ts'),
  agentEntry: fixture('agent-main.ts'),
} as const;

/** A docker binary that does not exist: any attempt to bundle with Docker fails the synthesis. */
export const NO_DOCKER = '/nonexistent/skiff-tests-must-not-use-docker';

/** The context of cdk.json, so the tests synthesize what `cdk synth` would. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'cdk.json'), 'utf8')) as { context?: Record<string, unknown> };
  return cdkJson.context ?? {};
}

export interface Synthesized {
  readonly stack: SkiffStack;
  readonly template: Template;
  /** The cloud assembly directory (assets are staged here). */
  readonly outdir: string;
  /** Removes the cloud assembly directory. */
  readonly cleanup: () => void;
}

/** Synthesizes a SkiffStack with the fixture entries into a temporary directory. */
export function synthFixtureStack(
  cluster: SkiffClusterProps,
  stackId = 'Skiff-test',
  stackProps: Omit<SkiffStackProps, 'cluster'> = {},
  context: Record<string, unknown> = {},
): Synthesized {
  process.env.CDK_DOCKER = NO_DOCKER;
  // CDK's built-in template validation roughly doubles synthesis time; the CLI test keeps it on.
  process.env.CDK_VALIDATION = 'false';
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-infra-'));
  try {
    const app = new App({ context: { ...cdkJsonContext(), ...context }, outdir });
    const stack = new SkiffStack(app, stackId, { ...stackProps, cluster: { ...FIXTURE_ENTRIES, ...cluster } });
    const template = Template.fromStack(stack);
    return { stack, template, outdir, cleanup: () => fs.rmSync(outdir, { recursive: true, force: true }) };
  } catch (error) {
    fs.rmSync(outdir, { recursive: true, force: true });
    throw error;
  }
}

type Json = unknown;

/**
 * Renders a CloudFormation value as one string: `Fn::Join` parts are concatenated, `Ref` becomes
 * `${Name}`, `Fn::GetAtt` becomes `${Name.Attr}`, `Fn::Sub` keeps its template, `Fn::Base64` is
 * unwrapped. Lets tests compare ARNs and scripts without hashed logical ids in the expectations.
 */
export function render(value: Json): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const o = value as Record<string, Json>;
    if ('Fn::Join' in o) {
      const [sep, parts] = o['Fn::Join'] as [string, Json[]];
      return parts.map(render).join(sep);
    }
    if ('Ref' in o) return `\${${String(o.Ref)}}`;
    if ('Fn::GetAtt' in o) return `\${${(o['Fn::GetAtt'] as string[]).join('.')}}`;
    if ('Fn::Sub' in o) return String(o['Fn::Sub']);
    if ('Fn::Base64' in o) return render(o['Fn::Base64']);
  }
  throw new Error(`cannot render ${JSON.stringify(value)}`);
}

export interface Statement {
  readonly Sid?: string;
  readonly Effect: 'Allow' | 'Deny';
  readonly Action: string | string[];
  readonly Resource: Json | Json[];
  readonly Condition?: Record<string, Record<string, Json>>;
}

/** `Action` or `Resource` as an array. */
export function list<T>(value: T | T[]): T[] {
  return Array.isArray(value) ? value : [value];
}

/** Logical id of the only resource of `type` whose properties match `predicate`. */
export function onlyResource(template: Template, type: string, predicate: (props: Record<string, Json>) => boolean = () => true): string {
  const matches = Object.entries(template.findResources(type)).filter(([, r]) => predicate((r as { Properties?: Record<string, Json> }).Properties ?? {}));
  if (matches.length !== 1) throw new Error(`expected one ${type} to match, found ${matches.length}`);
  return matches[0]![0];
}

/** Logical id of the Lambda function with this description. */
export function functionId(template: Template, description: string): string {
  return onlyResource(template, 'AWS::Lambda::Function', (p) => p.Description === description);
}

/** Logical id of the execution role of a Lambda function. */
export function functionRoleId(template: Template, fnId: string): string {
  const fn = template.findResources('AWS::Lambda::Function')[fnId] as { Properties: { Role: { 'Fn::GetAtt': [string, string] } } };
  return fn.Properties.Role['Fn::GetAtt'][0];
}

/** Every statement of every AWS::IAM::Policy attached to the role. */
export function roleStatements(template: Template, roleId: string): Statement[] {
  return Object.values(template.findResources('AWS::IAM::Policy')).flatMap((r) => {
    const props = (r as { Properties: { Roles: { Ref: string }[]; PolicyDocument: { Statement: Statement[] } } }).Properties;
    return props.Roles.some((role) => role.Ref === roleId) ? props.PolicyDocument.Statement : [];
  });
}

/** The sorted, de-duplicated actions of the statements. */
export function actionsOf(statements: readonly Statement[]): string[] {
  return [...new Set(statements.flatMap((s) => list(s.Action)))].sort();
}

/** The statement with this Sid. */
export function bySid(statements: readonly Statement[], sid: string): Statement {
  const found = statements.filter((s) => s.Sid === sid);
  if (found.length !== 1) throw new Error(`expected one statement ${sid}, found ${found.length}`);
  return found[0]!;
}

/** The managed policy ARNs of a role, rendered. */
export function managedPolicies(template: Template, roleId: string): string[] {
  const role = template.findResources('AWS::IAM::Role')[roleId] as { Properties: { ManagedPolicyArns?: Json[] } };
  return (role.Properties.ManagedPolicyArns ?? []).map(render).sort();
}
