/**
 * The API routes served without authentication, in a file with no imports: the shells
 * (local/api-server.ts, app/handlers/api.ts) skip the caller's proof for these alone, the route table
 * marks them `public` (app/api.ts) or the API handler serves them before the API core (the web
 * console's files, app/console-assets.ts), and the CDK stack gives them no authorizer (infra/api.ts).
 */
/** The OIDC discovery document of workload tokens (OpenID Connect Discovery 1.0). */
export const DISCOVERY_PATH = '/.well-known/openid-configuration';
/** The JWKS the discovery document names. */
export const JWKS_PATH = '/.well-known/jwks.json';

/**
 * The web console's files by path (app/console-assets.ts, docs/console.md): code and styles only, no
 * data; the pages read everything from the API with the token the person signs in with.
 */
export const CONSOLE_ASSETS: Readonly<Record<string, string>> = {
  '/console': 'index.html',
  '/console/console.js': 'console.js',
  '/console/console.css': 'console.css',
};

export const PUBLIC_ROUTES: readonly (readonly [method: string, path: string])[] = [
  ['GET', DISCOVERY_PATH],
  ['GET', JWKS_PATH],
  ...Object.keys(CONSOLE_ASSETS).map((path) => ['GET', path] as const),
];

/** True for a request to a public route (trailing slashes ignored, as the router does). */
export function isPublicRoute(method: string, path: string): boolean {
  const p = path.replace(/\/+$/, '') || '/';
  return PUBLIC_ROUTES.some(([m, route]) => m === method.toUpperCase() && route === p);
}
