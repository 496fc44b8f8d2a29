/**
 * The web console on AWS (docs/console.md): its files are built into the API function's asset, beside
 * the handler that serves them, and API Gateway lets them through without an authorizer (they hold no
 * data; the pages call the API with the person's Cognito token).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENV } from '../../app/env-names.ts';
import { CONSOLE_ASSETS } from '../../app/public-routes.ts';
import { functionId, synthFixtureStack, type Synthesized } from './helpers.ts';

describe('the web console in the cluster stack', () => {
  let synth: Synthesized;

  beforeAll(() => {
    synth = synthFixtureStack({ clusterName: 'prod' });
  }, 120_000);
  afterAll(() => synth?.cleanup());

  it("builds the console's files into the API function's asset, under console/", () => {
    const fn = synth.template.toJSON().Resources[functionId(synth.template, 'Skiff API (cluster prod)')];
    const key = String(fn.Properties.Code.S3Key);
    const asset = join(synth.outdir, `asset.${key.replace(/\.zip$/, '')}`);
    for (const file of Object.values(CONSOLE_ASSETS)) expect(existsSync(join(asset, 'console', file)), file).toBe(true);
    expect(readFileSync(join(asset, 'console', 'index.html'), 'utf8')).toContain('/console/console.js');
    // Only the files: nothing that changes from one build to the next (the asset's hash is its content's).
    expect(readdirSync(join(asset, 'console')).sort()).toEqual(Object.values(CONSOLE_ASSETS).sort());
  });

  it('routes the console files without an authorizer', () => {
    const routes = Object.values(synth.template.findResources('AWS::ApiGatewayV2::Route')).map(
      (r) => r.Properties as { RouteKey: string; AuthorizationType?: string },
    );
    for (const path of Object.keys(CONSOLE_ASSETS)) expect(routes.find((r) => r.RouteKey === `GET ${path}`)?.AuthorizationType).toBe('NONE');
  });

  it("names the CLI's app client to the API function, for the console's sign-in", () => {
    const fn = synth.template.toJSON().Resources[functionId(synth.template, 'Skiff API (cluster prod)')];
    expect(fn.Properties.Environment.Variables[ENV.cognitoClientId]).toEqual({ Ref: expect.stringMatching(/UsersCliClient/) });
  });
});
