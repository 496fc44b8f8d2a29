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
  readonly signIn: 'local-token' | 'cognito-id-token';
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
 * Scripts and styles from this origin only, requests to this origin only (the API), no framing, no
 * forms posted elsewhere: a page that holds a token gives an injected script nowhere to send it.
 */
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

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
      'content-security-policy': CSP,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    },
    body: m === 'HEAD' ? '' : text,
  };
}

function json(status: number, error: string, message: string): AssetResponse {
  return { status, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error, message }) };
}
