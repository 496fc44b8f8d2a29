import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NO_DOCKER, REPO_ROOT } from './helpers.ts';

const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-cdk-cli-'));
afterAll(() => fs.rmSync(workDir, { recursive: true, force: true }));

/**
 * The environment of an offline machine with no AWS account: no credentials, no profile files,
 * no instance metadata (so the SDK's credential chain never leaves the host), no Docker.
 */
function offlineEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('AWS_') && !key.startsWith('CDK_')) env[key] = value;
  return {
    ...env,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: path.join(workDir, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: path.join(workDir, 'no-aws-credentials'),
    CDK_DOCKER: NO_DOCKER,
    CDK_HOME: path.join(workDir, 'cdk-home'),
    CDK_DISABLE_VERSION_CHECK: 'true',
    CDK_DISABLE_CLI_TELEMETRY: 'true',
  };
}

describe('cdk synth (CLI, cdk.json app, real entries)', () => {
  it('synthesizes the real app offline, without credentials or Docker, configured from -c', { timeout: 300_000 }, () => {
    const outdir = path.join(workDir, 'cdk.out');
    const run = spawnSync('npx', ['cdk', 'synth', '--output', outdir, '--quiet', '--no-notices', '-c', 'clusterName=ci', '-c', 'maxHosts=5'], {
      cwd: REPO_ROOT,
      env: offlineEnv(),
      encoding: 'utf8',
      // A full synth with validation bundles every function: about 40 s on a quiet machine, minutes on a loaded one.
      timeout: 290_000,
    });
    expect(run.stderr).not.toMatch(/docker/i);
    expect(run.status, run.stderr).toBe(0);

    const template = JSON.parse(fs.readFileSync(path.join(outdir, 'Skiff-ci.template.json'), 'utf8')) as {
      Outputs: Record<string, { Value: unknown }>;
      Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
    };
    expect(template.Outputs.ClusterName!.Value).toBe('ci');
    expect(template.Outputs.ParameterPrefix!.Value).toBe('/skiff/ci');
    const asg = Object.values(template.Resources).find((r) => r.Type === 'AWS::AutoScaling::AutoScalingGroup')!;
    expect(asg.Properties.MaxSize).toBe('5');

    // Five function bundles (ESM: API, scheduler, health, autoscaler, host autoscaler) and the agent as one .mjs file, all built by local esbuild.
    const assets = fs.readdirSync(outdir).filter((f) => f.startsWith('asset.'));
    expect(assets.filter((a) => a.endsWith('.mjs'))).toHaveLength(1);
    const functionBundles = assets.filter((a) => fs.existsSync(path.join(outdir, a, 'index.mjs')));
    expect(functionBundles).toHaveLength(5);
    const functions = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function');
    expect(functions.map((f) => f.Properties.Description)).toContain('Skiff health (cluster ci)');
  });
});
