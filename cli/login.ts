/**
 * People's sign-in on AWS (`skiff login`): the stack's Cognito user pool (`Users`, app client
 * `CliClient`, no self sign-up) gives an ID token for a user name and password; the API's JWT
 * authorizer checks it on the `/user/...` routes, and the API maps the user's groups to roles
 * (docs/security.md). The tokens are kept beside the config, 0600, and the ID token is refreshed
 * with the refresh token a minute before it expires (Cognito's default lifetimes: an hour for the
 * ID token, 30 days for the refresh token).
 *
 * The Cognito client is loaded only here; InitiateAuth needs no AWS credentials.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { CognitoIdentityProviderClient, InitiateAuthCommandOutput } from '@aws-sdk/client-cognito-identity-provider';
import { writeFileAtomicSync } from '../adapters/fs/atomic-write.ts';
import { configPath } from './config.ts';

/** What `skiff login` keeps for one API. */
export interface SavedLogin {
  readonly api: string;
  readonly region: string;
  readonly clientId: string;
  readonly user: string;
  readonly idToken: string;
  readonly refreshToken: string;
  /** When the ID token expires (ISO). */
  readonly expiresAt: string;
}

/** Refresh this long before the ID token expires: a request signed with it must still be good when it arrives. */
const REFRESH_MARGIN_MS = 60_000;

export function loginPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(dirname(configPath(env)), 'login.json');
}

/** The saved login, if there is one for `api`. A file others may read is refused: it holds tokens. */
export function readLogin(api: string, env: NodeJS.ProcessEnv = process.env): SavedLogin | undefined {
  const file = loginPath(env);
  if (!existsSync(file)) return undefined;
  if ((statSync(file).mode & 0o077) !== 0) throw new Error(`${file} may be read by other users: it holds your tokens; chmod 600 it or run skiff login again`);
  let saved: unknown;
  try {
    saved = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    throw new Error(`${file} is not JSON: run skiff logout, then skiff login`);
  }
  const s = saved as Partial<SavedLogin>;
  for (const key of ['api', 'region', 'clientId', 'user', 'idToken', 'refreshToken', 'expiresAt'] as const) {
    if (typeof s[key] !== 'string' || s[key] === '') throw new Error(`${file} lacks ${key}: run skiff logout, then skiff login`);
  }
  return s.api === api ? (s as SavedLogin) : undefined;
}

export function saveLogin(login: SavedLogin, env: NodeJS.ProcessEnv = process.env): string {
  const file = loginPath(env);
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileAtomicSync(file, `${JSON.stringify(login, null, 2)}\n`, { mode: 0o600 });
  return file;
}

/** Forgets the saved login; true when there was one. */
export function forgetLogin(env: NodeJS.ProcessEnv = process.env): boolean {
  const file = loginPath(env);
  const had = existsSync(file);
  rmSync(file, { force: true });
  return had;
}

async function cognitoClient(region: string): Promise<CognitoIdentityProviderClient> {
  const { CognitoIdentityProviderClient: Client } = await import('@aws-sdk/client-cognito-identity-provider');
  return new Client({ region });
}

/** Why Cognito said no, in words a person can act on. */
function refusal(err: unknown, user: string): Error {
  const name = (err as { name?: string }).name;
  if (name === 'NotAuthorizedException') return new Error(`Cognito refused ${user}: wrong user name or password (or the user is disabled)`);
  if (name === 'UserNotFoundException') return new Error(`Cognito refused ${user}: wrong user name or password (or the user is disabled)`);
  if (name === 'PasswordResetRequiredException') return new Error(`${user} must reset the password first (aws cognito-idp forgot-password)`);
  if (name === 'UserNotConfirmedException') return new Error(`${user} is not confirmed yet: an administrator confirms users of this pool`);
  if (name === 'ResourceNotFoundException')
    return new Error('the app client id is not one of this region: check --client-id (the UserPoolClientId output of the stack) and the region');
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * How `logIn` talks to the person when Cognito asks for more than the password: the pool requires
 * a TOTP second factor (infra/api.ts), so a sign-in either answers SOFTWARE_TOKEN_MFA with a code,
 * or, the first time, sets the authenticator up (MFA_SETUP) and then answers with its first code.
 */
export interface LoginPrompts {
  /** A 6-digit code from the user's authenticator app; `why` says what it is for. */
  code(why: string): Promise<string>;
  /** Text to show (the secret to add to an authenticator). */
  show(text: string): void;
}

const TOTP_CODE = /^\d{6}$/;

/** Signs in with a user name and password (USER_PASSWORD_AUTH), answering the MFA challenges, and returns what to save. */
export async function logIn(
  opts: { api: string; region: string; clientId: string; user: string; password: string; prompts?: LoginPrompts; now?: () => Date },
  client?: CognitoIdentityProviderClient,
): Promise<SavedLogin> {
  const { InitiateAuthCommand, RespondToAuthChallengeCommand, AssociateSoftwareTokenCommand, VerifySoftwareTokenCommand } = await import(
    '@aws-sdk/client-cognito-identity-provider'
  );
  const cognito = client ?? (await cognitoClient(opts.region));
  const now = opts.now ?? (() => new Date());
  const ask = async (why: string): Promise<string> => {
    if (!opts.prompts) throw new Error(`Cognito asks ${opts.user} for ${why}: pass --mfa-code CODE, or sign in on a terminal`);
    const code = (await opts.prompts.code(why)).trim();
    if (!TOTP_CODE.test(code)) throw new Error(`the MFA code must be the 6 digits your authenticator shows, got "${code}"`);
    return code;
  };
  // InitiateAuth's answer, then each challenge's: the same three fields.
  let res: Pick<InitiateAuthCommandOutput, 'ChallengeName' | 'Session' | 'AuthenticationResult'>;
  try {
    res = await cognito.send(
      new InitiateAuthCommand({ AuthFlow: 'USER_PASSWORD_AUTH', ClientId: opts.clientId, AuthParameters: { USERNAME: opts.user, PASSWORD: opts.password } }),
    );
    if (res.ChallengeName === 'MFA_SETUP') {
      // The first sign-in: a secret for the user's authenticator, proven by its first code.
      const associated = await cognito.send(new AssociateSoftwareTokenCommand({ Session: res.Session }));
      if (!associated.SecretCode) throw new Error('Cognito answered the MFA set-up without a secret');
      const label = encodeURIComponent(`skiff:${opts.user}`);
      opts.prompts?.show(
        `${opts.user} has no authenticator yet. Add this secret to an authenticator app (TOTP, 6 digits, 30 s):\n` +
          `  ${associated.SecretCode}\n  otpauth://totp/${label}?secret=${associated.SecretCode}&issuer=skiff`,
      );
      const verified = await cognito.send(
        new VerifySoftwareTokenCommand({
          Session: associated.Session,
          UserCode: await ask('the first code of the new authenticator'),
          FriendlyDeviceName: 'skiff',
        }),
      );
      if (verified.Status !== 'SUCCESS') throw new Error('Cognito did not accept the code: check the clock of the device and try again');
      res = await cognito.send(
        new RespondToAuthChallengeCommand({
          ClientId: opts.clientId,
          ChallengeName: 'MFA_SETUP',
          Session: verified.Session,
          ChallengeResponses: { USERNAME: opts.user },
        }),
      );
    } else if (res.ChallengeName === 'SOFTWARE_TOKEN_MFA') {
      res = await cognito.send(
        new RespondToAuthChallengeCommand({
          ClientId: opts.clientId,
          ChallengeName: 'SOFTWARE_TOKEN_MFA',
          Session: res.Session,
          ChallengeResponses: { USERNAME: opts.user, SOFTWARE_TOKEN_MFA_CODE: await ask('an MFA code') },
        }),
      );
    }
  } catch (err) {
    if ((err as { name?: string }).name === 'CodeMismatchException')
      throw new Error(`Cognito refused the MFA code of ${opts.user}: wrong or expired; try the next one`);
    if ((err as { name?: string }).name === 'EnableSoftwareTokenMFAException')
      throw new Error(`Cognito refused the new authenticator's code for ${opts.user}: try again`);
    throw refusal(err, opts.user);
  }
  if (res.ChallengeName === 'NEW_PASSWORD_REQUIRED')
    throw new Error(`${opts.user} must set a new password first: aws cognito-idp admin-set-user-password --permanent (an administrator), then skiff login`);
  if (res.ChallengeName)
    throw new Error(
      `Cognito asks for ${res.ChallengeName}, which skiff login does not answer (it answers TOTP MFA only): sign in another way (docs/security.md)`,
    );
  const r = res.AuthenticationResult;
  if (!r?.IdToken || !r.RefreshToken) throw new Error('Cognito answered without an ID token and a refresh token');
  return {
    api: opts.api,
    region: opts.region,
    clientId: opts.clientId,
    user: opts.user,
    idToken: r.IdToken,
    refreshToken: r.RefreshToken,
    expiresAt: new Date(now().getTime() + (r.ExpiresIn ?? 3600) * 1000).toISOString(),
  };
}

/** The ID token to send: the saved one, or a fresh one (saved) when it expires within a minute. */
export async function idToken(
  login: SavedLogin,
  opts: { env?: NodeJS.ProcessEnv; now?: () => Date } = {},
  client?: CognitoIdentityProviderClient,
): Promise<string> {
  const now = opts.now ?? (() => new Date());
  if (Date.parse(login.expiresAt) - now().getTime() > REFRESH_MARGIN_MS) return login.idToken;
  const { InitiateAuthCommand } = await import('@aws-sdk/client-cognito-identity-provider');
  const cognito = client ?? (await cognitoClient(login.region));
  let res: InitiateAuthCommandOutput;
  try {
    res = await cognito.send(
      new InitiateAuthCommand({ AuthFlow: 'REFRESH_TOKEN_AUTH', ClientId: login.clientId, AuthParameters: { REFRESH_TOKEN: login.refreshToken } }),
    );
  } catch (err) {
    if ((err as { name?: string }).name === 'NotAuthorizedException') throw new Error(`the sign-in of ${login.user} has expired: run skiff login again`);
    throw err;
  }
  const id = res.AuthenticationResult?.IdToken;
  if (!id) throw new Error('Cognito answered the refresh without an ID token: run skiff login again');
  // Cognito does not return a new refresh token on a refresh: the saved one stays.
  saveLogin({ ...login, idToken: id, expiresAt: new Date(now().getTime() + (res.AuthenticationResult?.ExpiresIn ?? 3600) * 1000).toISOString() }, opts.env);
  return id;
}
