/** The web console's files as the API serves them (app/console-assets.ts), and their place among the public routes. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { consoleAsset } from '../../app/console-assets.ts';
import { consoleConfigFromEnv } from '../../app/handlers/api.ts';
import { isPublicRoute } from '../../app/public-routes.ts';

function built(): string {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-console-'));
  writeFileSync(join(dir, 'index.html'), '<html><head><script id="skiff-console-config" type="application/json">{ "apiPrefix": "" }</script></head></html>');
  writeFileSync(join(dir, 'console.js'), 'console.log(1)');
  writeFileSync(join(dir, 'console.css'), 'body{}');
  return dir;
}

describe('the web console files', () => {
  it('are public routes, with or without a trailing slash, and only for GET', () => {
    for (const path of ['/console', '/console/', '/console/console.js', '/console/console.css']) expect(isPublicRoute('GET', path)).toBe(true);
    expect(isPublicRoute('POST', '/console')).toBe(false);
    expect(isPublicRoute('GET', '/console/other.js')).toBe(false);
  });

  it('puts the configuration in the page, escaped so that it cannot end the script block', () => {
    const dir = built();
    const page = consoleAsset({ dir, config: { apiPrefix: '/user</script><script>x', signIn: 'cognito-id-token' } }, 'GET', '/console/');
    expect(page?.status).toBe(200);
    expect(page?.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page?.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page?.body).toContain('{"apiPrefix":"/user\\u003c/script>\\u003cscript>x","signIn":"cognito-id-token"}</script>');
    expect(page?.body.match(/<\/script>/g)).toHaveLength(1);
  });

  it('serves the script and the styles with their types, answers HEAD without a body, and refuses other methods', () => {
    const assets = { dir: built(), config: { apiPrefix: '', signIn: 'local-token' as const } };
    expect(consoleAsset(assets, 'GET', '/console/console.js')).toMatchObject({
      status: 200,
      body: 'console.log(1)',
      headers: { 'content-type': 'text/javascript; charset=utf-8' },
    });
    expect(consoleAsset(assets, 'GET', '/console/console.css')?.headers['content-type']).toBe('text/css; charset=utf-8');
    expect(consoleAsset(assets, 'HEAD', '/console/console.css')).toMatchObject({ status: 200, body: '' });
    expect(consoleAsset(assets, 'POST', '/console')?.status).toBe(405);
    expect(consoleAsset(assets, 'GET', '/v1/services')).toBeUndefined();
  });

  it('says how to build the console when it is not built', () => {
    const missing = consoleAsset({ dir: join(tmpdir(), 'skiff-no-such-console'), config: { apiPrefix: '', signIn: 'local-token' } }, 'GET', '/console');
    expect(missing?.status).toBe(404);
    expect(JSON.parse(missing?.body ?? '{}').message).toMatch(/the web console is not built .* run npm run build:console/);
  });

  it("lets the page reach Cognito's endpoint only when it signs people in there", () => {
    const dir = built();
    const aws = consoleConfigFromEnv({ SKIFF_COGNITO_CLIENT_ID: '4example5client6id7abcdefg' }, 'eu-west-1');
    expect(aws).toEqual({
      apiPrefix: '/user',
      signIn: 'cognito',
      cognito: { region: 'eu-west-1', clientId: '4example5client6id7abcdefg', endpoint: 'https://cognito-idp.eu-west-1.amazonaws.com/' },
      // Lists are read every 3 s there, not watched: a waiting watch would hold a Lambda execution.
      watch: false,
    });
    expect(consoleAsset({ dir, config: aws }, 'GET', '/console')?.headers['content-security-policy']).toContain(
      "connect-src 'self' https://cognito-idp.eu-west-1.amazonaws.com;",
    );
    // A stack that does not name the app client: an ID token pasted, and no Cognito in the policy.
    const pasted = consoleConfigFromEnv({}, 'eu-west-1');
    expect(pasted).toEqual({ apiPrefix: '/user', signIn: 'cognito-id-token', watch: false });
    expect(consoleAsset({ dir, config: pasted }, 'GET', '/console')?.headers['content-security-policy']).toContain("connect-src 'self';");
    expect(() => consoleConfigFromEnv({ SKIFF_COGNITO_CLIENT_ID: 'x y' }, 'eu-west-1')).toThrow(/SKIFF_COGNITO_CLIENT_ID is not a Cognito app client id/);
  });
});
