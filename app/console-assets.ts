/**
 * The web console's files (docs/console.md), served by the API itself at `/console`: locally by the
 * local API server, on AWS by the API function behind the same API Gateway. They hold no data:
 * every figure on the pages comes from the API, with the token the person signs in with, so these
 * routes are public (app/public-routes.ts) and the API's own routes keep their authentication.
 *
 * The files are built by scripts/build-console.mjs (dist/console/ locally; the API function's asset
 * on AWS) and read from disk at each request: a few KB, and a rebuild shows without a restart.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONSOLE_ASSETS } from './public-routes.ts';

/** What the page tells the console about the API it talks to. */
export interface ConsolePageConfig {
  /** '' locally; '/user' on AWS, where people's Cognito tokens go (infra/api.ts). */
  readonly apiPrefix: string;
  /**
   * `local-token`: a local cluster's token; `cognito`: a Cognito user name and password (and TOTP
   * code), turned into an ID token by the user pool; `cognito-id-token`: an ID token pasted (an API
   * that does not know the app client).
   */
  readonly signIn: 'local-token' | 'cognito' | 'cognito-id-token';
  /** The user pool's app client, for `cognito`: the page calls Cognito's endpoint itself (no AWS credentials needed). */
  readonly cognito?: { readonly region: string; readonly clientId: string; readonly endpoint: string };
  /**
   * Whether the page watches lists (a long-poll) or reads them every few seconds. Locally a waiting
   * watch costs nothing; on AWS it holds a Lambda execution for up to 25 s and reads its list every
   * second meanwhile, about 12 times what reading it every 3 s costs (docs/console.md). @default true
   */
  readonly watch?: boolean;
}

export interface ConsoleAssets {
  /** The built console's directory (index.html, console.js, console.css). */
  readonly dir: string;
  readonly config: ConsolePageConfig;
}

export interface AssetResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

const TYPES: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'console.js': 'text/javascript; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
};

/**
 * Scripts and styles from this origin only, requests to this origin (the API) and Cognito's
 * endpoint only, no framing, no forms posted elsewhere: a page that holds a token gives an injected
 * script nowhere to send it.
 */
function csp(config: ConsolePageConfig): string {
  const cognito = config.signIn === 'cognito' && config.cognito ? ` ${new URL(config.cognito.endpoint).origin}` : '';
  return `default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'${cognito}; base-uri 'none'; form-action 'self'; frame-ancestors 'none'`;
}

/** Cognito's endpoint in a region (the Identity Provider API's JSON protocol). */
export function cognitoEndpoint(region: string): string {
  return `https://cognito-idp.${region}.amazonaws.com/`;
}

/** The console's answer to a request, or undefined when the request is not for the console. */
export function consoleAsset(assets: ConsoleAssets, method: string, path: string): AssetResponse | undefined {
  const p = path.replace(/\/+$/, '') || '/';
  const file = CONSOLE_ASSETS[p];
  if (!file) return undefined;
  const m = method.toUpperCase();
  if (m !== 'GET' && m !== 'HEAD') return json(405, 'MethodNotAllowed', `${method} is not allowed on ${p}: the console's files are read with GET`);
  let text: string;
  try {
    text = readFileSync(join(assets.dir, file), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return json(404, 'NotFound', `the web console is not built (no ${join(assets.dir, file)}): run npm run build:console`);
  }
  // The configuration goes in the page's JSON data block; `<` is escaped so that no value can end the block.
  if (file === 'index.html') {
    const config = JSON.stringify(assets.config).replace(/</g, '\\u003c');
    text = text.replace(
      /(<script id="skiff-console-config" type="application\/json">)[^<]*(<\/script>)/,
      (_m, open: string, close: string) => open + config + close,
    );
  }
  return {
    status: 200,
    headers: {
      'content-type': TYPES[file],
      // Fixed names, rebuilt in place: the browser asks again each time (a few KB).
      'cache-control': 'no-cache',
      'content-security-policy': csp(assets.config),
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    },
    body: m === 'HEAD' ? '' : text,
  };
}

function json(status: number, error: string, message: string): AssetResponse {
  return { status, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error, message }) };
}
