/**
 * Local mode's API Gateway: an HTTP server on 127.0.0.1 that turns each request into an API
 * Gateway HTTP API (payload v2) event and calls the very same Lambda handler. Before that, it
 * refuses what a web page in the user's browser could send it (local/api-guard.ts), then any
 * request without a valid bearer token (local/token.ts, app/tokens.ts): any local user or process
 * can connect to 127.0.0.1, and only a token's holder may act, as far as its role allows.
 *
 * The identity the token proves travels to the handler in the event's
 * `requestContext.authorizer.lambda`, where API Gateway puts what a Lambda authorizer returns: the
 * local server plays API Gateway and its authorizer. On AWS the stack configures no Lambda
 * authorizer, so that field is never set there, and a client cannot set it (API Gateway writes the
 * request context).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import type { ApiHandler } from '../app/handlers/api.ts';
import { refusal } from './api-guard.ts';
import { ANONYMOUS, LOCAL_ADMIN, UnauthorizedError, type Identity } from '../core/authz.ts';
import { isPublicRoute } from '../app/public-routes.ts';

/** API Gateway's own payload limit is 10 MB; a spec is tiny, so refuse early. */
const MAX_BODY_BYTES = 1024 * 1024;

export interface LocalApiServer {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * True when the Authorization header is `Bearer <token>`. Both sides are hashed first, so the
 * comparison takes the same time whatever the length and content of what was sent.
 */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer +(\S+) *$/i.exec(header ?? '');
  const digest = (v: string) => createHash('sha256').update(v).digest();
  const ok = timingSafeEqual(digest(m?.[1] ?? ''), digest(token));
  return ok && m !== null;
}

/** Turns the Authorization header into an identity, or throws `UnauthorizedError` (a 401 with its message). */
export type Authenticate = (authorization: string | undefined) => Promise<Identity>;

/** Only the cluster's admin token (the server before signed tokens, and tests of the gate). */
function adminOnly(token: string): Authenticate {
  return async (header) => {
    if (bearerMatches(header, token)) return LOCAL_ADMIN;
    throw new UnauthorizedError(
      header
        ? "the bearer token is wrong: the local cluster's token is in <data dir>/token (the CLI sends it; --token or $SKIFF_TOKEN override it)"
        : "missing Authorization: Bearer <token>: the local cluster's token is in <data dir>/token (the CLI sends it; --token or $SKIFF_TOKEN override it)",
    );
  };
}

export async function startApiServer(
  handler: ApiHandler,
  opts: { token?: string; authenticate?: Authenticate; host?: string; port?: number },
): Promise<LocalApiServer> {
  if (!opts.token && !opts.authenticate) throw new Error('the local API needs a token or an authenticator');
  const authenticate = opts.authenticate ?? adminOnly(opts.token as string);
  const host = opts.host ?? '127.0.0.1';
  let port = 0;
  const server: Server = createServer(async (req, res) => {
    try {
      // Without Content-Length or Transfer-Encoding a request has no body (RFC 9112 §6.3).
      const hasBody = req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
      const refused = refusal({ host: req.headers.host, origin: req.headers.origin, contentType: req.headers['content-type'], hasBody }, port);
      if (refused) {
        // The body is left unread: the connection closes rather than drain it.
        res.writeHead(refused.status, { 'content-type': 'application/json', ...(hasBody ? { connection: 'close' } : {}) });
        res.end(JSON.stringify({ error: refused.error, message: refused.message }));
        return;
      }
      let identity: Identity;
      try {
        // The OIDC discovery document and the JWKS are public (app/public-routes.ts PUBLIC_ROUTES).
        identity = isPublicRoute(req.method ?? 'GET', new URL(req.url ?? '/', 'http://localhost').pathname)
          ? ANONYMOUS
          : await authenticate(req.headers.authorization);
      } catch (err) {
        if (!(err instanceof UnauthorizedError)) throw err;
        res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer realm="skiff"', ...(hasBody ? { connection: 'close' } : {}) });
        res.end(JSON.stringify({ error: 'Unauthorized', message: err.message }));
        return;
      }
      const body = await readBody(req);
      const event = toEvent(req, body, identity);
      const result = await handler(event, lambdaContext());
      res.writeHead(result.statusCode ?? 200, { 'content-type': 'application/json', ...(result.headers as Record<string, string>) });
      res.end(result.body ?? '');
    } catch (err) {
      const tooLarge = (err as Error).message === 'too large';
      res.writeHead(tooLarge ? 413 : 500, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify(
          tooLarge
            ? { error: 'PayloadTooLarge', message: `request body exceeds ${MAX_BODY_BYTES} bytes` }
            : { error: 'InternalError', message: 'internal error' },
        ),
      );
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const address = server.address();
  port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error('too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(chunks.length ? Buffer.concat(chunks).toString('utf8') : undefined));
    req.on('error', reject);
  });
}

function toEvent(req: IncomingMessage, body: string | undefined, identity: Identity): APIGatewayProxyEventV2 {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(',') : v;
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) query[k] = query[k] === undefined ? v : `${query[k]},${v}`;
  const method = req.method ?? 'GET';
  const now = new Date();
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    headers,
    queryStringParameters: Object.keys(query).length ? query : undefined,
    body,
    isBase64Encoded: false,
    requestContext: {
      // What a Lambda authorizer's context looks like in a payload 2.0 event (see the file's comment).
      ...({ authorizer: { lambda: { skiffIdentity: identity } } } as object),
      accountId: 'local',
      apiId: 'local',
      domainName: headers.host ?? 'localhost',
      domainPrefix: 'local',
      requestId: randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
      http: { method, path: url.pathname, protocol: 'HTTP/1.1', sourceIp: req.socket.remoteAddress ?? '127.0.0.1', userAgent: headers['user-agent'] ?? '' },
    },
  };
}

function lambdaContext(): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'skiff-api-local',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:local:000000000000:function:skiff-api-local',
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: 'local',
    logStreamName: 'local',
    getRemainingTimeInMillis: () => 29_000,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}
