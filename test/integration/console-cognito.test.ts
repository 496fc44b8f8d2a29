/**
 * The web console's sign-in on AWS, in chromium: a user name and password, then the TOTP code the
 * user pool requires, sent to Cognito's JSON endpoint from the page (here a stand-in on 127.0.0.1
 * that checks each request as Cognito would and answers browsers as Cognito does, with CORS). The
 * ID token it gives is what the console then sends to the API.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../adapters/memory/store.ts';
import { makeApiHandler } from '../../app/handlers/api.ts';
import { startApiServer, type LocalApiServer } from '../../local/api-server.ts';
import { aSpec } from '../builders.ts';
import { builtConsole, launchBrowser, noBrowserReason } from '../helpers/browser.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ID_TOKEN = randomBytes(32).toString('base64url');
const CLIENT_ID = '4example5client6id7abcdefg';
const skip = noBrowserReason();

let server: LocalApiServer;
let cognito: Server;
let browser: Browser;
let page: Page;
const calls: { target: string; body: Record<string, unknown> }[] = [];
const store = new MemoryStore();
/** Every URL the page asked for. */
const listRequests: string[] = [];

/** Cognito's InitiateAuth and RespondToAuthChallenge, for one user with one password and one code. */
function startCognito(): Promise<string> {
  cognito = createServer((req, res) => {
    const cors = {
      'access-control-allow-origin': req.headers.origin ?? '*',
      'access-control-allow-headers': 'content-type, x-amz-target',
      'access-control-allow-methods': 'POST',
    };
    if (req.method === 'OPTIONS') {
      res.writeHead(204, cors);
      res.end();
      return;
    }
    let text = '';
    req.on('data', (d) => (text += d));
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      const body = JSON.parse(text) as Record<string, any>;
      calls.push({ target, body });
      const answer = (status: number, out: unknown) => {
        res.writeHead(status, { ...cors, 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify(out));
      };
      if (req.headers['content-type'] !== 'application/x-amz-json-1.1' || body.ClientId !== CLIENT_ID)
        return answer(400, { __type: 'InvalidParameterException', message: 'bad request' });
      if (target === 'AWSCognitoIdentityProviderService.InitiateAuth') {
        if (body.AuthFlow !== 'USER_PASSWORD_AUTH' || body.AuthParameters?.USERNAME !== 'ada' || body.AuthParameters?.PASSWORD !== 'Right-password-1')
          return answer(400, { __type: 'NotAuthorizedException', message: 'Incorrect username or password.' });
        return answer(200, { ChallengeName: 'SOFTWARE_TOKEN_MFA', Session: 'session-1', ChallengeParameters: {} });
      }
      if (target === 'AWSCognitoIdentityProviderService.RespondToAuthChallenge') {
        if (body.ChallengeName !== 'SOFTWARE_TOKEN_MFA' || body.Session !== 'session-1' || body.ChallengeResponses?.USERNAME !== 'ada')
          return answer(400, { __type: 'InvalidParameterException', message: 'bad challenge response' });
        if (body.ChallengeResponses?.SOFTWARE_TOKEN_MFA_CODE !== '123456')
          return answer(400, { __type: 'CodeMismatchException', message: 'Invalid code received for user' });
        return answer(200, { AuthenticationResult: { IdToken: ID_TOKEN, AccessToken: 'a', RefreshToken: 'r', ExpiresIn: 3600, TokenType: 'Bearer' } });
      }
      return answer(400, { __type: 'UnknownOperationException', message: target });
    });
  });
  return new Promise((resolve) => cognito.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(cognito.address() as { port: number }).port}/`)));
}

beforeAll(async () => {
  if (skip) return;
  const endpoint = await startCognito();
  const handler = makeApiHandler({
    store,
    now: () => new Date(),
    kickScheduler: async () => {},
    // The local server plays API Gateway here, and takes the ID token as its bearer token (on AWS the
    // console sends it to the /user routes, where the JWT authorizer checks it: the prefix is app/handlers/api.ts's).
    // As on AWS, lists are read every 3 s rather than watched.
    console: {
      dir: builtConsole(ROOT),
      config: { apiPrefix: '', signIn: 'cognito', cognito: { region: 'eu-west-1', clientId: CLIENT_ID, endpoint }, watch: false },
    },
  });
  server = await startApiServer(handler, { token: ID_TOKEN });
  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 1100, height: 680 } });
  page.setDefaultTimeout(10_000);
  page.on('request', (r) => listRequests.push(r.url()));
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await new Promise((r) => (cognito ? cognito.close(r) : r(undefined)));
});

describe.skipIf(skip !== undefined)("the web console's Cognito sign-in", () => {
  it('allows Cognito in its content security policy, and nothing else beyond its own origin', async () => {
    const res = await fetch(`${server.url}/console`);
    expect(res.headers.get('content-security-policy')).toMatch(/connect-src 'self' http:\/\/127\.0\.0\.1:\d+;/);
  });

  it("shows Cognito's refusal of a wrong password in its words", async () => {
    await page.goto(`${server.url}/console`);
    await page.getByLabel('User name or email').fill('ada');
    await page.getByLabel('Password').fill('wrong');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toBe('Cognito: NotAuthorizedException: Incorrect username or password.');
  });

  it('asks for the authenticator code, then signs in with the ID token Cognito gives', async () => {
    await page.getByLabel('Password').fill('Right-password-1');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const code = page.getByLabel('Code from your authenticator app');
    await code.waitFor();
    await expect(code.evaluate((el) => el === document.activeElement)).resolves.toBe(true);
    await code.fill('654321');
    await page.getByRole('button', { name: 'Send the code' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toContain('Invalid code received for user');
    await code.fill('123456');
    await page.getByRole('button', { name: 'Send the code' }).click();
    await page.getByRole('heading', { name: 'Services', level: 1 }).waitFor();
    await expect(page.evaluate(() => sessionStorage.getItem('skiff.console.token'))).resolves.toBe(ID_TOKEN);
    // Each step went to Cognito as its API wants it, once per try.
    expect(calls.map((c) => c.target.split('.').pop())).toEqual(['InitiateAuth', 'InitiateAuth', 'RespondToAuthChallenge', 'RespondToAuthChallenge']);
  });

  it('reads the lists again every few seconds where it does not watch them (as on AWS)', async () => {
    await page.getByText('No services yet').waitFor();
    await store.putService(aSpec({ name: 'late', namespace: 'default', replicas: 1 }), new Date().toISOString());
    await page.getByRole('row', { name: /default\/late/ }).waitFor({ timeout: 15_000 });
    // No watch was asked for.
    expect(listRequests.some((q) => q.includes('watch=true'))).toBe(false);
  });
});
