/**
 * People's sign-in on AWS, in the page: the user pool's `USER_PASSWORD_AUTH` flow (as `skiff login`
 * does, cli/login.ts) called on Cognito's JSON endpoint directly, which needs no AWS credentials and
 * answers browsers (CORS). The pool requires a TOTP code (infra/api.ts): the first answer is then a
 * `SOFTWARE_TOKEN_MFA` challenge, answered with the code. What comes back is the ID token the API's
 * JWT authorizer checks on the /user routes.
 */

export interface CognitoClient {
  readonly endpoint: string;
  readonly clientId: string;
}

/** The next step of a sign-in: done with an ID token, or a code to ask for. */
export type SignInStep = { readonly idToken: string } | { readonly challenge: 'SOFTWARE_TOKEN_MFA'; readonly session: string; readonly user: string };

/** A refusal of Cognito's, in its own words (its `message`), with its exception name. */
export class CognitoError extends Error {
  constructor(
    readonly kind: string,
    message: string,
  ) {
    super(message);
    this.name = 'CognitoError';
  }
}

async function call(client: CognitoClient, action: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(client.endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `AWSCognitoIdentityProviderService.${action}` },
    body: JSON.stringify(body),
    credentials: 'omit',
    cache: 'no-store',
  });
  const out = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (!res.ok) {
    // `__type` may carry a namespace before '#'.
    const kind = String(out.__type ?? `HTTP ${res.status}`)
      .split('#')
      .pop() as string;
    throw new CognitoError(kind, typeof out.message === 'string' ? out.message : `Cognito answered ${res.status}`);
  }
  return out;
}

function next(out: Record<string, unknown>, user: string): SignInStep {
  const id = (out.AuthenticationResult as { IdToken?: unknown } | undefined)?.IdToken;
  if (typeof id === 'string' && id !== '') return { idToken: id };
  if (out.ChallengeName === 'SOFTWARE_TOKEN_MFA' && typeof out.Session === 'string') return { challenge: 'SOFTWARE_TOKEN_MFA', session: out.Session, user };
  if (out.ChallengeName === 'NEW_PASSWORD_REQUIRED' || out.ChallengeName === 'MFA_SETUP')
    throw new CognitoError(
      String(out.ChallengeName),
      `${user} must ${out.ChallengeName === 'MFA_SETUP' ? 'set up an authenticator app' : 'set a new password'} first (docs/security.md), then sign in here`,
    );
  throw new CognitoError(
    String(out.ChallengeName ?? 'NoToken'),
    `Cognito asks for ${String(out.ChallengeName ?? 'nothing and gave no token')}, which the console does not answer`,
  );
}

export async function startSignIn(client: CognitoClient, user: string, password: string): Promise<SignInStep> {
  const out = await call(client, 'InitiateAuth', {
    AuthFlow: 'USER_PASSWORD_AUTH',
    ClientId: client.clientId,
    AuthParameters: { USERNAME: user, PASSWORD: password },
  });
  return next(out, user);
}

export async function answerCode(client: CognitoClient, step: { session: string; user: string }, code: string): Promise<SignInStep> {
  const out = await call(client, 'RespondToAuthChallenge', {
    ChallengeName: 'SOFTWARE_TOKEN_MFA',
    ClientId: client.clientId,
    Session: step.session,
    ChallengeResponses: { USERNAME: step.user, SOFTWARE_TOKEN_MFA_CODE: code },
  });
  return next(out, step.user);
}
