/**
 * The console's one way to the API: the same routes and the same bearer token as the CLI
 * (cli/client.ts). Locally the token is the cluster's (<data dir>/token) or one `skiff token create`
 * issued; on AWS it is a Cognito ID token, sent to the people's routes under `/user` (docs/api.md).
 */

/** What the server put in the page (app/console-assets.ts): where the API is and which token it takes. */
export interface ConsoleConfig {
  /** Prefix of the API's routes: '' locally, '/user' on AWS (Cognito tokens go there). */
  readonly apiPrefix: string;
  /**
   * 'local-token': a local cluster's token; 'cognito': a Cognito user name and password (AWS);
   * 'cognito-id-token': an ID token pasted from `skiff login` (AWS, when the API does not name the app client).
   */
  readonly signIn: 'local-token' | 'cognito' | 'cognito-id-token';
  /** The user pool's app client, for 'cognito'. */
  readonly cognito?: { readonly region: string; readonly clientId: string; readonly endpoint: string };
  /** Watch lists (long-poll), or read them every few seconds (on AWS, where a waiting watch costs Lambda time). */
  readonly watch: boolean;
}

/** An answer of the API other than 2xx: its `error` kind and the `message` it gives people. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly kind: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface Answer<T> {
  readonly body: T;
  readonly headers: Headers;
}

/** Where the token is kept: this tab only, gone when it closes (never localStorage, never a cookie). */
const TOKEN_KEY = 'skiff.console.token';

export function savedToken(): string | undefined {
  return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
}

export function saveToken(token: string | undefined): void {
  if (token === undefined) sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, token);
}

export class Api {
  constructor(
    private readonly config: ConsoleConfig,
    readonly token: string,
    /** Told when the API says the token is no good (401), so the console signs out. */
    private readonly onUnauthorized: (message: string) => void = () => {},
  ) {}

  /** Whether lists are watched (the server's choice, ConsoleConfig.watch). */
  get watches(): boolean {
    return this.config.watch;
  }

  async get<T>(path: string, signal?: AbortSignal): Promise<Answer<T>> {
    return this.call<T>('GET', path, undefined, {}, signal);
  }

  async post<T>(path: string, body: unknown = {}, headers: Record<string, string> = {}): Promise<Answer<T>> {
    return this.call<T>('POST', path, body, headers);
  }

  private async call<T>(method: string, path: string, body: unknown, headers: Record<string, string>, signal?: AbortSignal): Promise<Answer<T>> {
    const res = await fetch(`${this.config.apiPrefix}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.token}`,
        accept: 'application/json',
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      // The token travels in the header only: no cookie is ever sent or kept.
      credentials: 'omit',
      cache: 'no-store',
      ...(signal ? { signal } : {}),
    });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!res.ok) {
      const e = (parsed ?? {}) as { error?: unknown; message?: unknown };
      const message = typeof e.message === 'string' && e.message !== '' ? e.message : `${res.status} ${res.statusText || 'error'}`;
      const error = new ApiError(res.status, typeof e.error === 'string' ? e.error : `HTTP ${res.status}`, message);
      if (res.status === 401) this.onUnauthorized(message);
      throw error;
    }
    return { body: parsed as T, headers: res.headers };
  }
}

/** `/v1/namespaces/{ns}/services/{name}` with both parts encoded. */
export function servicePath(namespace: string, name: string): string {
  return `/v1/namespaces/${encodeURIComponent(namespace)}/services/${encodeURIComponent(name)}`;
}
