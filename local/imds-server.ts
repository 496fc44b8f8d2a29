/**
 * A stand-in for the EC2 instance metadata service (IMDS) on 127.0.0.1, for tests: the IMDSv2
 * token flow and the few paths the agent reads. Point the agent at it with
 * AWS_EC2_METADATA_SERVICE_ENDPOINT=<endpoint>.
 *
 * What it copies from IMDS: `PUT /latest/api/token` needs `X-aws-ec2-metadata-token-ttl-seconds`
 * from 1 to 21600 (else 400) and refuses a request carrying `X-Forwarded-For` (403); a GET with an
 * unknown or expired token gets 401; a GET with no token gets 401 when IMDSv1 is refused
 * (`HttpTokens: required`), else is answered (IMDSv1); an unknown path gets 404.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { serveHttp } from './stand-in.ts';

/** The instance the stand-in describes. */
export interface ImdsIdentity {
  readonly instanceId: string;
  readonly privateIp: string;
  readonly region: string;
  readonly availabilityZone: string;
}

export interface ImdsServerOptions {
  /** @default an instance i-0123456789abcdef0 at 10.0.1.23 in eu-west-1a */
  readonly identity?: Partial<ImdsIdentity>;
  /** Refuse requests without a token, like an instance with `HttpTokens: required`. @default true */
  readonly requireTokens?: boolean;
  /** The clock token expiry is judged by; a test moves it to expire tokens. @default Date.now */
  readonly now?: () => number;
  /** @default 0 (any free port) */
  readonly port?: number;
}

export interface ImdsServer {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  /** Requests received, as `METHOD path`, with the answer's status, in order. */
  requests(): readonly { readonly method: string; readonly path: string; readonly status: number }[];
  /** Switch IMDSv1 off (true) or on (false) from now on. */
  requireTokens(required: boolean): void;
  close(): Promise<void>;
}

export const DEFAULT_IMDS_IDENTITY: ImdsIdentity = {
  instanceId: 'i-0123456789abcdef0',
  privateIp: '10.0.1.23',
  region: 'eu-west-1',
  availabilityZone: 'eu-west-1a',
};

const MAX_TTL_SECONDS = 21_600;

/** Starts the IMDS stand-in on 127.0.0.1. */
export async function startImdsServer(opts: ImdsServerOptions = {}): Promise<ImdsServer> {
  const identity: ImdsIdentity = { ...DEFAULT_IMDS_IDENTITY, ...opts.identity };
  const now = opts.now ?? Date.now;
  let tokensRequired = opts.requireTokens ?? true;
  const tokens = new Map<string, number>(); // token → expiry (ms)
  const log: { method: string; path: string; status: number }[] = [];

  const paths: Record<string, () => string> = {
    '/latest/meta-data/instance-id': () => identity.instanceId,
    '/latest/meta-data/local-ipv4': () => identity.privateIp,
    '/latest/meta-data/placement/availability-zone': () => identity.availabilityZone,
    '/latest/meta-data/placement/region': () => identity.region,
    '/latest/dynamic/instance-identity/document': () =>
      JSON.stringify(
        {
          accountId: '123456789012',
          architecture: 'arm64',
          availabilityZone: identity.availabilityZone,
          imageId: 'ami-0123456789abcdef0',
          instanceId: identity.instanceId,
          instanceType: 't4g.small',
          pendingTime: '2026-01-01T00:00:00Z',
          privateIp: identity.privateIp,
          region: identity.region,
          version: '2017-09-30',
        },
        null,
        2,
      ),
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://imds').pathname;
    const answer = (status: number, body = ''): void => {
      log.push({ method: req.method ?? '', path, status });
      res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) }).end(body);
    };
    if (path === '/latest/api/token') {
      if (req.method !== 'PUT') return answer(405);
      if (req.headers['x-forwarded-for'] !== undefined) return answer(403);
      const ttl = Number(req.headers['x-aws-ec2-metadata-token-ttl-seconds']);
      if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TTL_SECONDS) return answer(400);
      const token = randomBytes(24).toString('base64url');
      tokens.set(token, now() + ttl * 1000);
      res.setHeader('x-aws-ec2-metadata-token-ttl-seconds', String(ttl));
      return answer(200, token);
    }
    if (req.method !== 'GET') return answer(405);
    const token = req.headers['x-aws-ec2-metadata-token'];
    if (typeof token === 'string') {
      const expiry = tokens.get(token);
      if (expiry === undefined || now() >= expiry) {
        tokens.delete(token);
        return answer(401);
      }
    } else if (tokensRequired) {
      return answer(401);
    }
    const value = paths[path];
    return value ? answer(200, value()) : answer(404);
  };

  const http = await serveHttp(handle, '127.0.0.1', opts.port ?? 0, async () => {});
  return {
    endpoint: http.endpoint,
    requests: () => log.slice(),
    requireTokens: (required) => {
      tokensRequired = required;
    },
    close: http.close,
  };
}
