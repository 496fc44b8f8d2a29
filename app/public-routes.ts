/**
 * The API routes served without authentication, in a file with no imports: the shells
 * (local/api-server.ts, app/handlers/api.ts) skip the caller's proof for these alone, the route table
 * marks them `public` (app/api.ts), and the CDK stack gives them no authorizer (infra/api.ts).
 */
/** The OIDC discovery document of workload tokens (OpenID Connect Discovery 1.0). */
export const DISCOVERY_PATH = '/.well-known/openid-configuration';
/** The JWKS the discovery document names. */
export const JWKS_PATH = '/.well-known/jwks.json';

export const PUBLIC_ROUTES: readonly (readonly [method: string, path: string])[] = [
  ['GET', DISCOVERY_PATH],
  ['GET', JWKS_PATH],
];

/** True for a request to a public route (trailing slashes ignored, as the router does). */
export function isPublicRoute(method: string, path: string): boolean {
  const p = path.replace(/\/+$/, '') || '/';
  return PUBLIC_ROUTES.some(([m, route]) => m === method.toUpperCase() && route === p);
}
