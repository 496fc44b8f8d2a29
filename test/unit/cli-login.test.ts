/**
 * `skiff login` (cli/login.ts): Cognito (InitiateAuth and the MFA challenges) is mocked at the SDK boundary
 * (aws-sdk-client-mock), the only part that cannot run here; the saved file, the refresh and the
 * requests the CLI then sends (to a real HTTP server on 127.0.0.1) are real.
 */
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AssociateSoftwareTokenCommand,
  CodeMismatchException,
  CognitoIdentityProviderClient,
  InitiateAuthCommand,
  NotAuthorizedException,
  RespondToAuthChallengeCommand,
  VerifySoftwareTokenCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ApiClient, findApi } from '../../cli/client.ts';
import { writeConfig } from '../../cli/config.ts';
import { idToken, logIn, loginPath, readLogin, saveLogin, type SavedLogin } from '../../cli/login.ts';

const cognito = mockClient(CognitoIdentityProviderClient);
const T0 = new Date('2026-12-07T10:00:00.000Z');
let home: string;
let env: NodeJS.ProcessEnv;

beforeEach(() => {
  cognito.reset();
  home = mkdtempSync(join(tmpdir(), 'skiff-login-'));
  env = { XDG_CONFIG_HOME: home };
});
afterEach(() => rmSync(home, { recursive: true, force: true }));

const API = 'https://abc123.execute-api.eu-west-1.amazonaws.com';
const saved = (over: Partial<SavedLogin> = {}): SavedLogin => ({
  api: API,
  region: 'eu-west-1',
  clientId: 'client1',
  user: 'ana',
  idToken: 'id-1',
  refreshToken: 'refresh-1',
  expiresAt: new Date(T0.getTime() + 3_600_000).toISOString(),
  ...over,
});

describe('logIn', () => {
  it('signs in with USER_PASSWORD_AUTH and keeps the ID and refresh tokens, 0600', async () => {
    cognito.on(InitiateAuthCommand).resolves({ AuthenticationResult: { IdToken: 'id-1', RefreshToken: 'refresh-1', ExpiresIn: 3600 } });
    const login = await logIn({ api: API, region: 'eu-west-1', clientId: 'client1', user: 'ana', password: 'pw', now: () => T0 });
    expect(cognito.commandCalls(InitiateAuthCommand)[0].args[0].input).toEqual({
      AuthFlow: 'USER_PASSWORD_AUTH',
      ClientId: 'client1',
      AuthParameters: { USERNAME: 'ana', PASSWORD: 'pw' },
    });
    expect(login).toEqual(saved());
    saveLogin(login, env);
    expect(statSync(loginPath(env)).mode & 0o777).toBe(0o600);
    expect(readLogin(API, env)).toEqual(login);
    expect(readLogin('https://other.example.com', env)).toBeUndefined();
  });

  it('says what to do about a wrong password, a new password to set and another challenge', async () => {
    cognito.on(InitiateAuthCommand).rejects(new NotAuthorizedException({ message: 'Incorrect username or password.', $metadata: {} }));
    const args = { api: API, region: 'eu-west-1', clientId: 'client1', user: 'ana', password: 'nope' };
    await expect(logIn(args)).rejects.toThrow('Cognito refused ana: wrong user name or password (or the user is disabled)');
    cognito.reset();
    cognito.on(InitiateAuthCommand).resolves({ ChallengeName: 'NEW_PASSWORD_REQUIRED', Session: 's' });
    await expect(logIn(args)).rejects.toThrow('ana must set a new password first');
    cognito.reset();
    cognito.on(InitiateAuthCommand).resolves({ ChallengeName: 'SMS_MFA', Session: 's' });
    await expect(logIn(args)).rejects.toThrow('Cognito asks for SMS_MFA, which skiff login does not answer (it answers TOTP MFA only)');
  });
});

describe('logIn with MFA (the pool requires TOTP)', () => {
  const args = { api: API, region: 'eu-west-1', clientId: 'client1', user: 'ana', password: 'pw', now: () => T0 };
  const prompts = (codes: string[], shown: string[] = [], asked: string[] = []) => ({
    code: async (why: string) => {
      asked.push(why);
      return codes.shift() ?? '';
    },
    show: (text: string) => void shown.push(text),
  });

  it('answers SOFTWARE_TOKEN_MFA with the code asked for, in the same session', async () => {
    cognito.on(InitiateAuthCommand).resolves({ ChallengeName: 'SOFTWARE_TOKEN_MFA', Session: 'sess-1' });
    cognito.on(RespondToAuthChallengeCommand).resolves({ AuthenticationResult: { IdToken: 'id-1', RefreshToken: 'refresh-1', ExpiresIn: 3600 } });
    const asked: string[] = [];
    expect(await logIn({ ...args, prompts: prompts(['123456'], [], asked) })).toEqual(saved());
    expect(asked).toEqual(['an MFA code']);
    expect(cognito.commandCalls(RespondToAuthChallengeCommand)[0].args[0].input).toEqual({
      ClientId: 'client1',
      ChallengeName: 'SOFTWARE_TOKEN_MFA',
      Session: 'sess-1',
      ChallengeResponses: { USERNAME: 'ana', SOFTWARE_TOKEN_MFA_CODE: '123456' },
    });
  });

  it('sets up the authenticator on the first sign-in: shows the secret, verifies its first code, then answers MFA_SETUP', async () => {
    cognito.on(InitiateAuthCommand).resolves({ ChallengeName: 'MFA_SETUP', Session: 'sess-1' });
    cognito.on(AssociateSoftwareTokenCommand).resolves({ SecretCode: 'JBSWY3DPEHPK3PXP', Session: 'sess-2' });
    cognito.on(VerifySoftwareTokenCommand).resolves({ Status: 'SUCCESS', Session: 'sess-3' });
    cognito.on(RespondToAuthChallengeCommand).resolves({ AuthenticationResult: { IdToken: 'id-1', RefreshToken: 'refresh-1', ExpiresIn: 3600 } });
    const shown: string[] = [];
    expect(await logIn({ ...args, prompts: prompts(['654321'], shown) })).toEqual(saved());
    expect(shown.join('\n')).toContain('otpauth://totp/skiff%3Aana?secret=JBSWY3DPEHPK3PXP&issuer=skiff');
    expect(cognito.commandCalls(AssociateSoftwareTokenCommand)[0].args[0].input).toEqual({ Session: 'sess-1' });
    expect(cognito.commandCalls(VerifySoftwareTokenCommand)[0].args[0].input).toEqual({ Session: 'sess-2', UserCode: '654321', FriendlyDeviceName: 'skiff' });
    expect(cognito.commandCalls(RespondToAuthChallengeCommand)[0].args[0].input).toEqual({
      ClientId: 'client1',
      ChallengeName: 'MFA_SETUP',
      Session: 'sess-3',
      ChallengeResponses: { USERNAME: 'ana' },
    });
  });

  it('says plainly when no code can be asked, a code is malformed, wrong, or the set-up is not verified', async () => {
    cognito.on(InitiateAuthCommand).resolves({ ChallengeName: 'SOFTWARE_TOKEN_MFA', Session: 'sess-1' });
    await expect(logIn(args)).rejects.toThrow('Cognito asks ana for an MFA code: pass --mfa-code CODE, or sign in on a terminal');
    await expect(logIn({ ...args, prompts: prompts(['12a456']) })).rejects.toThrow('the MFA code must be the 6 digits your authenticator shows, got "12a456"');
    expect(cognito.commandCalls(RespondToAuthChallengeCommand)).toHaveLength(0);
    cognito.on(RespondToAuthChallengeCommand).rejects(new CodeMismatchException({ message: 'Invalid code received for user', $metadata: {} }));
    await expect(logIn({ ...args, prompts: prompts(['123456']) })).rejects.toThrow('Cognito refused the MFA code of ana: wrong or expired');
    cognito.reset();
    cognito.on(InitiateAuthCommand).resolves({ ChallengeName: 'MFA_SETUP', Session: 'sess-1' });
    cognito.on(AssociateSoftwareTokenCommand).resolves({ SecretCode: 'JBSWY3DPEHPK3PXP', Session: 'sess-2' });
    cognito.on(VerifySoftwareTokenCommand).resolves({ Status: 'ERROR' });
    await expect(logIn({ ...args, prompts: prompts(['123456']) })).rejects.toThrow('Cognito did not accept the code');
    expect(cognito.commandCalls(RespondToAuthChallengeCommand)).toHaveLength(0);
  });
});

describe('idToken', () => {
  it('sends the saved token while it has more than a minute left, then refreshes it and saves the new one', async () => {
    cognito.on(InitiateAuthCommand).resolves({ AuthenticationResult: { IdToken: 'id-2', ExpiresIn: 3600 } });
    const login = saved();
    saveLogin(login, env);
    expect(await idToken(login, { env, now: () => new Date(T0.getTime() + 58 * 60_000) })).toBe('id-1');
    expect(cognito.commandCalls(InitiateAuthCommand)).toHaveLength(0);
    const late = new Date(T0.getTime() + 59 * 60_000 + 1);
    expect(await idToken(login, { env, now: () => late })).toBe('id-2');
    expect(cognito.commandCalls(InitiateAuthCommand)[0].args[0].input).toEqual({
      AuthFlow: 'REFRESH_TOKEN_AUTH',
      ClientId: 'client1',
      AuthParameters: { REFRESH_TOKEN: 'refresh-1' },
    });
    expect(readLogin(API, env)).toEqual({ ...login, idToken: 'id-2', expiresAt: new Date(late.getTime() + 3_600_000).toISOString() });
  });

  it('asks for a new sign-in once the refresh token is refused', async () => {
    cognito.on(InitiateAuthCommand).rejects(new NotAuthorizedException({ message: 'Refresh Token has expired', $metadata: {} }));
    await expect(idToken(saved(), { env, now: () => new Date(T0.getTime() + 2 * 3_600_000) })).rejects.toThrow(
      'the sign-in of ana has expired: run skiff login again',
    );
  });
});

describe('the saved file', () => {
  it('is refused when others may read it, or when it is not what login wrote', () => {
    saveLogin(saved(), env);
    chmodSync(loginPath(env), 0o644);
    expect(() => readLogin(API, env)).toThrow('may be read by other users');
    writeFileSync(loginPath(env), '{"api": 1}', { mode: 0o600 });
    chmodSync(loginPath(env), 0o600);
    expect(() => readLogin(API, env)).toThrow('lacks api');
  });
});

describe('requests after skiff login', () => {
  let server: Server;
  let url: string;
  const seen: IncomingMessage[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push(req);
      res.setHeader('content-type', 'application/json');
      res.end('[]');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it("go to the API's /user routes with the ID token, unsigned; --token still wins", async () => {
    writeConfig({ api: url, region: 'eu-west-1' }, join(home, 'skiff', 'config.json'));
    saveLogin(saved({ api: url, expiresAt: new Date(Date.now() + 3_600_000).toISOString() }), env);
    const target = findApi(undefined, { env, cwd: home });
    expect(target).toMatchObject({ url, source: 'config', login: { user: 'ana' } });
    expect(target.region).toBeUndefined();
    await new ApiClient(target).request('GET', '/v1/services');
    expect(seen.at(-1)?.url).toBe('/user/v1/services');
    expect(seen.at(-1)?.headers.authorization).toBe('Bearer id-1');
    const withToken = findApi(undefined, { env, cwd: home, token: 'tok' });
    expect(withToken.login).toBeUndefined();
  });
});
