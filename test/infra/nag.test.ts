import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { App } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { INagLogger } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { addSkiffNagChecks } from '../../infra/nag.ts';
import type { SkiffClusterProps } from '../../infra/skiff-cluster.ts';
import { SkiffStack } from '../../infra/skiff-stack.ts';
import { cdkJsonContext, FIXTURE_ENTRIES, NO_DOCKER } from './helpers.ts';

interface NagRun {
  /** Unsuppressed findings and rule errors, one line each: rule, finding, construct path. */
  readonly findings: string[];
  /** Suppressed findings with their reasons. */
  readonly suppressed: { rule: string; reason: string }[];
}

/**
 * Synthesizes the stack the app deploys (fixture entries: the handlers' code does not change
 * any resource) with the AwsSolutions checks on, and collects what they report. The checks are
 * Aspects and report through their own logger, so CDK's template validation can stay off.
 */
function synthWithNag(cluster: SkiffClusterProps = {}, change: (stack: SkiffStack) => void = () => {}): NagRun {
  process.env.CDK_DOCKER = NO_DOCKER;
  process.env.CDK_VALIDATION = 'false';
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-nag-'));
  const findings: string[] = [];
  const suppressed: { rule: string; reason: string }[] = [];
  const ignore = () => {};
  const collector: INagLogger = {
    onCompliance: ignore,
    onNotApplicable: ignore,
    onNonCompliance: (d) => findings.push(`${d.ruleId}${d.findingId ? `[${d.findingId}]` : ''} on ${d.resource.node.path}`),
    onError: (d) => findings.push(`${d.ruleId} could not run on ${d.resource.node.path}: ${d.errorMessage}`),
    onSuppressed: (d) => suppressed.push({ rule: d.ruleId, reason: d.suppressionReason }),
    onSuppressedError: (d) => suppressed.push({ rule: d.ruleId, reason: d.errorSuppressionReason }),
  };
  try {
    const app = new App({ context: cdkJsonContext(), outdir });
    change(new SkiffStack(app, 'Skiff-nag', { cluster: { ...FIXTURE_ENTRIES, ...cluster } }));
    addSkiffNagChecks(app, { reports: false, additionalLoggers: [collector] });
    try {
      app.synth();
    } catch (error) {
      // cdk-nag's error annotations fail synthesis; the findings collected say which.
      if (findings.length === 0) throw error;
    }
    return { findings, suppressed };
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
}

describe('cdk-nag AwsSolutions checks on the Skiff stack', () => {
  it('leave no unsuppressed finding, and every suppression says why', () => {
    const { findings, suppressed } = synthWithNag();
    expect(findings).toEqual([]);
    expect(suppressed.length).toBeGreaterThan(0);
    for (const s of suppressed) expect(s.reason.length, `reason of ${s.rule}`).toBeGreaterThan(40);
  });

  // Also the other load balancer scheme: its open listener is a finding of its own (EC23), suppressed with its reason.
  it('still report a wildcard that no suppression justifies (internet-facing load balancer)', () => {
    const { findings, suppressed } = synthWithNag({ loadBalancerScheme: 'internet-facing' }, (stack) =>
      stack.cluster.apiFunction.addToRolePolicy(new PolicyStatement({ actions: ['s3:*'], resources: ['*'] })),
    );
    expect(suppressed.map((s) => s.rule)).toContain('AwsSolutions-EC23');
    expect(findings).toEqual([
      expect.stringMatching(/^AwsSolutions-IAM5\[Action::s3:\*\] on Skiff-nag\/Cluster\/ControlPlane\/ApiFunction\/ServiceRole\/DefaultPolicy\/Resource$/),
    ]);
  });
});
