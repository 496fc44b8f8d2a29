/**
 * Ingress rules beyond one host per service: path prefixes, wildcard hosts, TLS. Pure: the spec
 * parser checks fields with the `...Problem` functions, the API refuses overlapping claims with
 * `ingressClaimConflict`, and the local proxy picks a route with `matchRoute` (the ALB adapter
 * orders its rules with `routeOrder`, so both pick the same route for a request).
 *
 * - A path is a prefix matched segment-wise: `/api` matches `/api`, `/api/` and `/api/v1`, not
 *   `/apis` (Kubernetes' `Prefix` path type). `/` matches every path.
 * - A wildcard host `*.shop.example.com` matches one or more labels before `.shop.example.com`
 *   (`a.shop.example.com`, `a.b.shop.example.com`), never `shop.example.com` itself: the ALB's `*`
 *   matches dots too, and namespaces' `*.suffix` patterns read the same way (core/namespace.ts).
 * - A request goes to the most specific host that has a route for its path: the exact host first,
 *   then wildcards, the longest suffix first; within a host, the longest matching path.
 */
import { got } from './spec/messages.ts';

/** ALB path patterns are at most 128 characters; `/api` becomes `/api` and `/api/*`, so 100 leaves room. */
export const MAX_INGRESS_PATH_LENGTH = 100;

/**
 * Characters a path prefix may hold: those an ALB path-pattern condition accepts, less its
 * wildcards `*` and `?` (a prefix is literal) and `&`, which it wants written as `&amp;`.
 */
const PATH_CHARS = /^[A-Za-z0-9\-._~/$@:+'"]+$/;

/** Why `path` is not an ingress path prefix, or undefined. */
export function ingressPathProblem(path: string): string | undefined {
  if (path.length > MAX_INGRESS_PATH_LENGTH) return `must be at most ${MAX_INGRESS_PATH_LENGTH} characters; got ${path.length}`;
  if (!path.startsWith('/'))
    return `must be a URL path prefix starting with "/", such as /api${path !== '' && !path.includes('/') ? ` (did you mean "/${path}"?)` : ''}; got ${got(path)}`;
  if (path.includes('?') || path.includes('*')) {
    return `must be a literal prefix: no "*" or "?" (a prefix already matches everything below it; the query string is not matched); got ${got(path)}`;
  }
  if (!PATH_CHARS.test(path))
    return `may hold only letters, digits and - . _ ~ / $ @ : + ' " (what the load balancer's path patterns accept); got ${got(path)}`;
  if (path !== '/' && path.endsWith('/'))
    return `must not end with "/" (did you mean "${path.replace(/\/+$/, '') || '/'}"?): /api already matches /api/ and everything below it; got ${got(path)}`;
  const segments = path.slice(1).split('/');
  if (path !== '/' && segments.some((s) => s === '' || s === '.' || s === '..'))
    return `must be a normalised path (no "//", "." or ".." segment); got ${got(path)}`;
  return undefined;
}

/** True when request path `path` (no query) lies under prefix `prefix`. */
export function pathMatches(prefix: string, path: string): boolean {
  if (prefix === '/') return true;
  return path === prefix || (path.startsWith(prefix) && path.charCodeAt(prefix.length) === 47) /* "/" */;
}

/** `shop.example.com` for `*.shop.example.com`; undefined for an exact host. */
export function wildcardSuffix(host: string): string | undefined {
  return host.startsWith('*.') ? host.slice(2) : undefined;
}

/** True when ingress host `pattern` (exact, or `*.suffix`) serves request host `host`. */
export function ingressHostMatches(pattern: string, host: string): boolean {
  const suffix = wildcardSuffix(pattern);
  return suffix === undefined ? pattern === host : host.length > suffix.length + 1 && host.endsWith(`.${suffix}`);
}

/** Why `arn` is not an ACM certificate ARN, or undefined. */
export function certificateArnProblem(arn: string): string | undefined {
  if (/^arn:aws(-[a-z]+)*:acm:[a-z]{2}(-[a-z]+)+-\d:\d{12}:certificate\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(arn))
    return undefined;
  return `must be the ARN of an ACM certificate, such as arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789; got ${got(arn)}`;
}

/** What a route is matched by. */
export interface RouteKey {
  readonly host: string;
  /** Absent means `/`. */
  readonly path?: string;
}

/** The order in which routes are tried (ALB rule priorities follow it): most specific first. */
export function routeOrder(a: RouteKey, b: RouteKey): number {
  return (
    hostRank(b.host) - hostRank(a.host) || (b.path ?? '/').length - (a.path ?? '/').length || compare(a.host, b.host) || compare(a.path ?? '/', b.path ?? '/')
  );
}

/** Exact hosts above every wildcard; a longer wildcard suffix above a shorter one. */
function hostRank(host: string): number {
  const suffix = wildcardSuffix(host);
  return suffix === undefined ? Number.MAX_SAFE_INTEGER : suffix.length;
}

/** True when some request can match both routes, so their order decides which serves it. */
export function routesMayOverlap(a: RouteKey, b: RouteKey): boolean {
  const pa = a.path ?? '/';
  const pb = b.path ?? '/';
  if (!pathMatches(pa, pb) && !pathMatches(pb, pa)) return false;
  if (a.host === b.host) return true;
  const sa = wildcardSuffix(a.host);
  const sb = wildcardSuffix(b.host);
  if (sa !== undefined && sb !== undefined) return sa.endsWith(`.${sb}`) || sb.endsWith(`.${sa}`);
  return ingressHostMatches(a.host, b.host) || ingressHostMatches(b.host, a.host);
}

/**
 * The route that serves a request for `host` and `path`, from routes sorted by `routeOrder`, or
 * undefined. `host` is already lowercase without port or trailing dot; `path` has no query.
 */
export function matchRoute<R extends RouteKey>(sorted: readonly R[], host: string, path: string): R | undefined {
  for (const r of sorted) if (ingressHostMatches(r.host, host) && pathMatches(r.path ?? '/', path)) return r;
  return undefined;
}

/**
 * A route index for the proxy: routes of each exact host, and of each wildcard, in `routeOrder`.
 * `matchRoute` over all routes is linear; this looks up the request's host and each of its
 * parent domains, so a table of thousands of hosts costs a few map lookups per request.
 */
export class RouteIndex<R extends RouteKey> {
  private readonly exact = new Map<string, R[]>();
  private readonly wild = new Map<string, R[]>();
  readonly size: number;

  constructor(routes: readonly R[]) {
    for (const r of [...routes].sort(routeOrder)) {
      const suffix = wildcardSuffix(r.host);
      const map = suffix === undefined ? this.exact : this.wild;
      const key = suffix ?? r.host;
      const list = map.get(key);
      if (list) list.push(r);
      else map.set(key, [r]);
    }
    this.size = routes.length;
  }

  /** Same answer as `matchRoute(sorted, host, path)`. */
  match(host: string, path: string): R | undefined {
    const own = pick(this.exact.get(host), path);
    if (own) return own;
    // Longest suffix first: drop one label at a time.
    for (let dot = host.indexOf('.'); dot >= 0; dot = host.indexOf('.', dot + 1)) {
      const found = pick(this.wild.get(host.slice(dot + 1)), path);
      if (found) return found;
    }
    return undefined;
  }

  /** True when some route names `host` (exactly or by wildcard), whatever its path. */
  hasHost(host: string): boolean {
    if (this.exact.has(host)) return true;
    for (let dot = host.indexOf('.'); dot >= 0; dot = host.indexOf('.', dot + 1)) if (this.wild.has(host.slice(dot + 1))) return true;
    return false;
  }
}

function pick<R extends RouteKey>(list: readonly R[] | undefined, path: string): R | undefined {
  if (list === undefined) return undefined;
  for (const r of list) if (pathMatches(r.path ?? '/', path)) return r;
  return undefined;
}

/** The claim of one service: its ingress host and path. */
export interface IngressClaim {
  readonly namespace: string;
  readonly name: string;
  readonly host: string;
  readonly path?: string;
  readonly deleting?: boolean;
}

/**
 * The stored claim that `claim` overlaps (the same host and path), other than the service's own,
 * or undefined. Different paths on one host, and a wildcard beside an exact host, do not
 * overlap: the more specific route wins (see the module doc).
 */
export function ingressClaimConflict<C extends IngressClaim>(claim: IngressClaim, others: readonly C[]): C | undefined {
  return others.find((o) => o.host === claim.host && (o.path ?? '/') === (claim.path ?? '/') && !(o.namespace === claim.namespace && o.name === claim.name));
}

/** `shop.example.com/api`, or `shop.example.com` for `/`: how messages name a claim. */
export function claimName(host: string, path: string | undefined): string {
  return path === undefined || path === '/' ? host : `${host}${path}`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
