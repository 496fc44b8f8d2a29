/**
 * What local mode's API server refuses before the handler sees a request. The API listens on
 * 127.0.0.1 with no credentials (bearer tokens are the tenancy issue's), so the threat is not a
 * remote caller but a web page open in the user's browser:
 *
 * - Cross-site request forgery: a page can POST a `text/plain` or form body to any address without
 *   a CORS preflight, and the API core would parse it as JSON. Only JSON and YAML bodies pass, and a
 *   page can send those cross-origin only after a preflight, which the Origin check refuses.
 * - Requests a page makes with an Origin of its own (fetch from another site, a body-less POST in
 *   `no-cors` mode, a preflight): browsers send Origin on every such request, so any Origin other
 *   than the API's own is refused.
 * - DNS rebinding: a page's own host name re-pointed at 127.0.0.1 makes the browser treat the API
 *   as same-origin, but the Host header still carries that name. Only loopback names with the
 *   API's own port pass.
 *
 * Pure: the server passes the request's headers and its own port.
 */

/** Body media types the API core parses (app/api.ts: YAML when the type says so, else JSON). */
export const BODY_TYPES: readonly string[] = ['application/json', 'application/yaml', 'application/x-yaml', 'text/yaml'];

export interface GuardedRequest {
  readonly host?: string;
  readonly origin?: string;
  readonly contentType?: string;
  /** The request carries a body (Content-Length above 0, or Transfer-Encoding). */
  readonly hasBody: boolean;
}

export interface Refusal {
  readonly status: 403 | 415 | 421;
  readonly error: 'Forbidden' | 'UnsupportedMediaType' | 'MisdirectedRequest';
  readonly message: string;
}

/** Why the request is refused, or undefined when it may reach the handler. */
export function refusal(req: GuardedRequest, port: number): Refusal | undefined {
  const own = `127.0.0.1:${port}`;
  if (!isOwnAuthority(req.host, port)) {
    return {
      status: 421,
      error: 'MisdirectedRequest',
      message: `${req.host ? `Host ${req.host}` : 'a request with no Host header'} is not this API: the local API answers only requests to ${own} or localhost:${port}`,
    };
  }
  // Same origin: the scheme (this server speaks plain HTTP) and the authority the request was sent to.
  if (req.origin !== undefined && req.origin.toLowerCase() !== `http://${req.host!.toLowerCase()}`) {
    return {
      status: 403,
      error: 'Forbidden',
      message: `requests from web pages of another origin (${req.origin}) are refused: the local API serves the skiff CLI at http://${own}`,
    };
  }
  if (req.hasBody) {
    const type = (req.contentType ?? '').split(';')[0].trim().toLowerCase();
    if (!BODY_TYPES.includes(type)) {
      return {
        status: 415,
        error: 'UnsupportedMediaType',
        message: `${type ? `a body of type ${type}` : 'a body with no Content-Type'} is not accepted: send JSON (application/json) or YAML (${BODY_TYPES.slice(1).join(', ')})`,
      };
    }
  }
  return undefined;
}

/** `localhost`, an address in 127.0.0.0/8 or `[::1]`, with exactly this port (which may go unsaid when it is 80). */
function isOwnAuthority(host: string | undefined, port: number): boolean {
  if (host === undefined) return false;
  const m = /^(\[::1\]|[^:]+)(?::(\d+))?$/.exec(host.trim().toLowerCase());
  if (!m || Number(m[2] ?? 80) !== port) return false;
  const name = m[1];
  return name === 'localhost' || name === '[::1]' || isLoopbackV4(name);
}

function isLoopbackV4(name: string): boolean {
  const parts = name.split('.');
  return parts.length === 4 && parts[0] === '127' && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}
