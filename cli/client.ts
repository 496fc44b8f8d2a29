/** The CLI's HTTP client for the Skiff API, and how it finds the API. */
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import { send, type HttpRequestError, type HttpResponse } from './http.ts';
import { ConfigValueError, configPath, readConfig, validateApiUrl, validateRegion } from './config.ts';
import { isLoopbackUrl as isLoopback, readLocalToken, readTrustedStatus, statusFilePath, tokenFilePath } from './local-status.ts';
import { idToken, readLogin, type SavedLogin } from './login.ts';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The API to talk to, where it was found, and (for a deployed API) the region its requests are signed for. */
export interface ApiTarget {
  url: string;
  source: 'flag' | 'env' | 'local' | 'config';
  /** Set: every request is SigV4-signed for `execute-api` in this region. */
  region?: string;
  /** The AWS profile for the credential chain; unset, the chain's own default (`AWS_PROFILE`, else `default`). */
  profile?: string;
  /** Set: sent as `Authorization: Bearer <token>` (a local cluster's own, or `--token` / `$SKIFF_TOKEN`); never with signing. */
  token?: string;
  /** Set (`skiff login`): requests go to the API's `/user` routes with the user's Cognito ID token, not signed. */
  login?: SavedLogin;
}

/**
 * The API, from the first of: the `--api` flag, `$SKIFF_API`, the local cluster started from this
 * folder (`.skiff/local.json`), the config file (`skiff config set`). A flag or `$SKIFF_API` URL is
 * signed when `$SKIFF_REGION` or `$AWS_REGION` is set; `$AWS_REGION` is not taken for a loopback
 * URL, since it is often set for other tools and a local cluster checks no signature. A local
 * cluster is never signed; the config file's API is signed when it has a region. A status file
 * that cannot be trusted (see readTrustedStatus) is ignored with a warning, and the config applies.
 */
export function findApi(
  flag: string | undefined,
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; warn?: (line: string) => void; token?: string } = {},
): ApiTarget {
  const env = opts.env ?? process.env;
  const target = findApiTarget(flag, opts, env);
  // --token, else $SKIFF_TOKEN, else (a local cluster) its token file. A signed request carries none:
  // SigV4 owns the Authorization header.
  const token = opts.token ?? (env.SKIFF_TOKEN || undefined) ?? target.token;
  // A person signed in with `skiff login` to this API: their identity, unless a token was given.
  const login = token || target.source === 'local' ? undefined : readLogin(target.url, env);
  if (login) {
    delete target.region;
    delete target.profile;
    delete target.token;
    return { ...target, login };
  }
  if (!token || target.region) {
    delete target.token;
    return target;
  }
  return { ...target, token };
}

function findApiTarget(flag: string | undefined, opts: { cwd?: string; warn?: (line: string) => void }, env: NodeJS.ProcessEnv): ApiTarget {
  const warn = opts.warn ?? ((line: string) => process.stderr.write(`${line}\n`));
  const explicit = flag ?? env.SKIFF_API;
  try {
    if (explicit) {
      const url = validateApiUrl(explicit, flag !== undefined ? '--api' : 'SKIFF_API');
      const region = env.SKIFF_REGION
        ? validateRegion(env.SKIFF_REGION, 'SKIFF_REGION')
        : env.AWS_REGION && !isLoopback(url)
          ? validateRegion(env.AWS_REGION, 'AWS_REGION')
          : undefined;
      return { url, source: flag !== undefined ? 'flag' : 'env', ...(region ? { region } : {}) };
    }
  } catch (err) {
    // A wrong flag or variable is reported as itself, not as "no API".
    if (err instanceof ConfigValueError) throw new Error(err.message);
    throw err;
  }
  const file = statusFilePath(opts.cwd);
  const local = readTrustedStatus(file);
  if (local?.status) {
    const token = typeof local.status.dataDir === 'string' ? readLocalToken(local.status.dataDir) : undefined;
    if (token?.untrusted) warn(`skiff: ignoring ${tokenFilePath(local.status.dataDir)}: ${token.untrusted}`);
    return { url: local.status.api.replace(/\/+$/, ''), source: 'local', ...(token?.token ? { token: token.token } : {}) };
  }
  if (local?.untrusted) warn(`skiff: ignoring ${file}: ${local.untrusted}`);
  const config = readConfig(configPath(env));
  if (config)
    return { url: config.api, source: 'config', ...(config.region ? { region: config.region } : {}), ...(config.profile ? { profile: config.profile } : {}) };
  throw new Error(
    'no API given and no local cluster running here: start one with `npm start` (skiff local up), pass --api URL, or save a deployed one with skiff config set --api URL --region R',
  );
}

export interface ApiClientOptions {
  /** Credentials for signing; the standard AWS credential chain (with the target's profile) when absent. */
  credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  /** The signing clock (tests fix it). */
  now?: () => Date;
}

export class ApiClient {
  private readonly target: ApiTarget;
  private credentials?: AwsCredentialIdentityProvider;

  constructor(
    target: ApiTarget | string,
    private readonly opts: ApiClientOptions = {},
  ) {
    this.target = typeof target === 'string' ? { url: target.replace(/\/+$/, ''), source: 'flag' } : target;
    const c = opts.credentials;
    if (c) this.credentials = typeof c === 'function' ? c : async () => c;
  }

  /** The base URL requests go to. */
  get base(): string {
    return this.target.url;
  }

  /** `extra` headers go with the request (`if-match`: a write conditional on the version read, docs/api.md). */
  async request<T = unknown>(method: string, path: string, body?: string, contentType = 'application/json', extra: Record<string, string> = {}): Promise<T> {
    return (await this.exchange<T>(method, path, body, contentType, extra)).data;
  }

  /**
   * Every item of a list route: the API answers a page at a time (docs/api.md, `x-next-cursor`), and
   * this follows the cursor until the last page, so a long list is complete. A cursor that comes
   * back twice is the API going round in circles: an error, not an endless loop.
   */
  async list<T = unknown>(path: string): Promise<T[]> {
    const items: T[] = [];
    const seen = new Set<string>();
    let cursor: string | undefined;
    do {
      const page = cursor === undefined ? path : `${path}${path.includes('?') ? '&' : '?'}cursor=${encodeURIComponent(cursor)}`;
      const { data, nextCursor } = await this.exchange<T[]>('GET', page);
      if (!Array.isArray(data)) throw new ApiError(200, `the API answered GET ${path} with something that is not a list`);
      items.push(...data);
      if (nextCursor !== undefined && seen.has(nextCursor)) throw new ApiError(200, `the API gave the cursor ${nextCursor} twice for GET ${path}`);
      if (nextCursor !== undefined) seen.add(nextCursor);
      cursor = nextCursor;
    } while (cursor !== undefined);
    return items;
  }

  /**
   * Waits for the list at `path` to change from `version` (a long-poll, docs/api.md "Watch"), at most
   * `timeoutSeconds`; answers the list's version then (the same one after a timeout without a
   * change). Without `version`, answers the current one at once. Undefined: the API does not
   * version its lists (an older control plane), and the caller falls back to polling.
   */
  async listVersion(path: string, version?: string, timeoutSeconds = 25): Promise<string | undefined> {
    const params = new URLSearchParams({
      limit: '1000',
      ...(version ? { watch: 'true', resourceVersion: version, timeoutSeconds: String(timeoutSeconds) } : {}),
    });
    const { resourceVersion } = await this.exchange<unknown>('GET', `${path}${path.includes('?') ? '&' : '?'}${params}`);
    return resourceVersion;
  }

  private async exchange<T>(
    method: string,
    path: string,
    body?: string,
    contentType = 'application/json',
    extra: Record<string, string> = {},
  ): Promise<{ data: T; nextCursor?: string; resourceVersion?: string }> {
    const login = this.target.login;
    // People's routes are the same API under /user, behind the JWT authorizer (infra/api.ts).
    const url = `${this.base}${login ? '/user' : ''}${path}`;
    let headers: Record<string, string> = { ...extra, ...(body ? { 'content-type': contentType } : {}) };
    if (this.target.token && !this.target.region) headers.authorization = `Bearer ${this.target.token}`;
    if (login) headers.authorization = `Bearer ${await idToken(login)}`;
    if (this.target.region) headers = await this.sign(method, url, headers, body, this.target.region);
    let res: HttpResponse;
    try {
      res = await send(url, { method, headers, body, timeoutMs: 30_000 });
    } catch (err) {
      const code = (err as HttpRequestError).code;
      throw new Error(`cannot reach the API at ${this.base}${code ? ` (${code})` : ''}: is the cluster running?`, { cause: err });
    }
    const text = res.text;
    let data: unknown;
    try {
      data = text ? JSON.parse(text) : undefined;
    } catch {
      throw new ApiError(res.status, `the API answered ${res.status} with a body that is not JSON`);
    }
    if (res.status < 200 || res.status > 299) {
      // API Gateway's own refusals spell it `Message` (IAM) or `message`.
      const body = data as { message?: string; Message?: string } | undefined;
      let message = body?.message ?? body?.Message ?? `HTTP ${res.status}`;
      // The IAM refusal says little ("Forbidden"); say what to check.
      if (res.status === 401 && login) message += ` (the sign-in of ${login.user} was refused: run skiff login again)`;
      else if (res.status === 401 && !this.target.region)
        message += this.target.token ? ' (the token sent was refused: check --token or $SKIFF_TOKEN)' : ' (no token: pass --token or set $SKIFF_TOKEN)';
      if (res.status === 403 && this.target.region)
        message += ` (IAM authorization, region ${this.target.region}${this.target.profile ? `, profile ${this.target.profile}` : ''}: the caller needs execute-api:Invoke on this API)`;
      throw new ApiError(res.status, message);
    }
    return {
      data: data as T,
      ...(res.nextCursor ? { nextCursor: res.nextCursor } : {}),
      ...(res.resourceVersion ? { resourceVersion: res.resourceVersion } : {}),
    };
  }

  private async sign(method: string, url: string, headers: Record<string, string>, body: string | undefined, region: string): Promise<Record<string, string>> {
    if (!this.credentials) {
      // Loaded only when signing, so talking to a local cluster never loads the credential chain.
      const { defaultProvider } = await import('@aws-sdk/credential-provider-node');
      this.credentials = defaultProvider(this.target.profile ? { profile: this.target.profile } : {});
    }
    let credentials: AwsCredentialIdentity;
    try {
      credentials = await this.credentials();
    } catch (err) {
      const profile = this.target.profile ?? process.env.AWS_PROFILE;
      throw new Error(
        `cannot sign requests to ${this.base}: no AWS credentials${profile ? ` for profile "${profile}"` : ''} (${(err as Error).message.split('\n')[0]})`,
        { cause: err },
      );
    }
    // Loaded only when signing, like the credential chain: the signer is the SDK's.
    const { signRequest } = await import('./sigv4.ts');
    const signed = await signRequest({ method, url, headers, body }, { region, credentials, now: this.opts.now?.() });
    // node:http sets Host from the URL itself, the same value that was signed.
    delete signed.host;
    return signed;
  }
}
