/**
 * `skiff login` and `skiff logout`: a person's sign-in to a deployed API through the stack's
 * Cognito user pool (cli/login.ts). After it, commands reach the API's `/user` routes with the
 * user's ID token, and the user's groups say what they may do (`skiff:<ns>:<role>`,
 * `skiff:cluster-admin`; docs/security.md).
 */
import { createInterface } from 'node:readline/promises';
import { findApi } from '../client.ts';
import { command, UsageError } from '../command.ts';
import { ConfigValueError, regionFromApiUrl, validateRegion } from '../config.ts';
import type { LoginPrompts } from '../login.ts';

const CLIENT_ID = /^[a-z0-9]{1,128}$/i;

/** The password: stdin with --password-stdin, else asked on the terminal without echo. */
async function readPassword(fromStdin: boolean): Promise<string> {
  if (fromStdin) {
    let text = '';
    for await (const chunk of process.stdin) text += chunk;
    return text.replace(/\r?\n$/, '');
  }
  if (!process.stdin.isTTY) throw new UsageError('no terminal to ask the password on: pass it on stdin with --password-stdin');
  process.stderr.write('Password: ');
  process.stdin.setRawMode(true);
  process.stdin.resume();
  try {
    let text = '';
    for await (const chunk of process.stdin) {
      for (const ch of String(chunk)) {
        if (ch === '\r' || ch === '\n') return text;
        if (ch === '\u0003') throw new Error('cancelled');
        if (ch === '\u007f') text = text.slice(0, -1);
        else text += ch;
      }
    }
    return text;
  } finally {
    process.stdin.setRawMode(false);
    process.stdin.pause();
    process.stderr.write('\n');
  }
}

/** MFA prompts: a code given with --mfa-code, else asked on the terminal (when the password was not read from stdin). */
function mfaPrompts(mfaCode: string | undefined, passwordFromStdin: boolean): LoginPrompts | undefined {
  const show = (text: string) => process.stderr.write(`${text}\n`);
  if (mfaCode !== undefined) return { code: async () => mfaCode, show };
  if (passwordFromStdin || !process.stdin.isTTY) return undefined;
  return {
    show,
    async code(why) {
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      try {
        return await rl.question(`${why[0].toUpperCase()}${why.slice(1)}: `);
      } finally {
        rl.close();
      }
    },
  };
}

export const login = command({
  name: 'login',
  summary: "sign in to a deployed API as a person (the stack's Cognito user pool); commands then act as you",
  usage: ['login --user NAME --client-id ID [--password-stdin] [--mfa-code CODE] [--region R]'],
  example: 'skiff login --user ana --client-id 4k1example2client3id',
  flags: {
    user: { type: 'string', value: 'NAME', help: 'your user name in the pool' },
    'client-id': { type: 'string', value: 'ID', help: 'the UserPoolClientId output of the stack' },
    'password-stdin': { type: 'boolean', help: 'read the password from stdin (else it is asked on the terminal)' },
    'mfa-code': { type: 'string', value: 'CODE', help: 'the 6-digit code of your authenticator (else it is asked on the terminal)' },
    region: { type: 'string', value: 'R', help: "the pool's region (default: the API's, from its URL or the config)" },
  },
  maxArgs: 0,
  async run({ values }, out) {
    if (!values.user) throw new UsageError('login needs --user NAME');
    const clientId = values['client-id'];
    if (!clientId) throw new UsageError('login needs --client-id ID (the UserPoolClientId output of the stack)');
    if (!CLIENT_ID.test(clientId)) throw new UsageError(`--client-id "${clientId}" is not an app client id (letters and digits)`);
    const target = findApi(values.api, { token: values.token });
    if (target.source === 'local') throw new UsageError('a local cluster has no user pool: its commands use the admin token, or skiff token create');
    let region: string | undefined;
    try {
      region = values.region ? validateRegion(values.region) : (target.region ?? regionFromApiUrl(target.url));
    } catch (err) {
      if (err instanceof ConfigValueError) throw new UsageError(err.message);
      throw err;
    }
    if (!region) throw new UsageError(`no region for ${target.url}: pass --region R`);
    const mfaCode = values['mfa-code'];
    if (mfaCode !== undefined && !/^\d{6}$/.test(mfaCode)) throw new UsageError(`--mfa-code must be the 6 digits your authenticator shows, got "${mfaCode}"`);
    const password = await readPassword(values['password-stdin'] === true);
    if (!password) throw new UsageError('the password is empty');
    const { logIn, saveLogin } = await import('../login.ts');
    const prompts = mfaPrompts(mfaCode, values['password-stdin'] === true);
    const saved = await logIn({ api: target.url, region, clientId, user: values.user, password, ...(prompts ? { prompts } : {}) });
    const file = saveLogin(saved);
    out.log(`signed in to ${target.url} as ${saved.user} until ${saved.expiresAt} (renewed as you go); tokens in ${file}`);
    return 0;
  },
});

export const logout = command({
  name: 'logout',
  summary: 'forget the sign-in of skiff login',
  usage: ['logout'],
  example: 'skiff logout',
  flags: {},
  maxArgs: 0,
  async run(_input, out) {
    const { forgetLogin, loginPath } = await import('../login.ts');
    out.log(forgetLogin() ? `signed out: removed ${loginPath()}` : 'not signed in');
    return 0;
  },
});
