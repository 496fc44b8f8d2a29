/**
 * The per-task credentials endpoint (docs/identity.md): an HTTP server in the agent that serves each
 * task the temporary credentials of its `spec.identity.awsRole`, in the container credentials
 * provider's format that every AWS SDK and the AWS CLI read (`AWS_CONTAINER_CREDENTIALS_FULL_URI`
 * with `AWS_CONTAINER_AUTHORIZATION_TOKEN` sent as the Authorization header; the answer's
 * `AccessKeyId`, `SecretAccessKey`, `Token`, `Expiration`, and `RoleArn`).
 *
 * - Each task's URI names it (`/v1/tasks/<task>/credentials`) and its token is an HMAC of the task id
 *   under a secret of this host (`TaskTokens`): no token, a token for another task, or the token of a
 *   task this host no longer runs is refused, and the token survives an agent restart (the containers
 *   keep the env they were created with) without being stored per task.
 * - Credentials come from STS AssumeRole with the host's own credentials, with a session name naming
 *   the task (`skiff.<namespace>.<task>`, so CloudTrail says which replica did what); they are cached
 *   per task and renewed once less than `refreshBeforeMs` is left, one AssumeRole at a time per task.
 * - The host's own credentials are never served: only what AssumeRole returned for a task's role.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Temporary credentials of one role session. */
export interface RoleCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
  readonly expiration: Date;
}

/** STS AssumeRole as the endpoint needs it (adapters/aws/sts-role-assumer.ts over the SDK). */
export type AssumeRole = (req: { roleArn: string; sessionName: string; durationSeconds: number }) => Promise<RoleCredentials>;

/** A task this host runs, as the endpoint needs it. */
export interface CredentialTask {
  readonly id: string;
  readonly namespace: string;
  readonly service: string;
  /** The task's `spec.identity.awsRole`; absent: the task has no AWS identity. */
  readonly roleArn?: string;
}

/** The path a task's credentials are served at. */
export function credentialsPath(taskId: string): string {
  return `/v1/tasks/${taskId}/credentials`;
}

/** Per-task authorization tokens: `v1.<task>.<HMAC-SHA256(secret, task)>`, checked in constant time. */
export class TaskTokens {
  constructor(private readonly secret: Uint8Array) {
    if (secret.length < 32) throw new Error('TaskTokens: the host secret must be at least 32 bytes');
  }

  tokenFor(taskId: string): string {
    return `v1.${taskId}.${this.mac(taskId)}`;
  }

  /** The task the token was made for, or undefined when it is not a token of this host. */
  taskOf(token: string): string | undefined {
    const m = /^v1\.([a-z0-9][a-z0-9-]{0,62})\.([A-Za-z0-9_-]{43})$/.exec(token);
    if (!m) return undefined;
    const expected = Buffer.from(this.mac(m[1]));
    const given = Buffer.from(m[2]);
    return expected.length === given.length && timingSafeEqual(expected, given) ? m[1] : undefined;
  }

  private mac(taskId: string): string {
    return createHmac('sha256', this.secret).update(`skiff-task-credentials:${taskId}`).digest('base64url');
  }
}

/** IAM's rule for a session name: 2-64 of `[\w+=,.@-]`. Namespaces and task ids are DNS labels, which fit it. */
export function sessionNameFor(task: Pick<CredentialTask, 'id' | 'namespace'>): string {
  const full = `skiff.${task.namespace}.${task.id}`;
  return full.length <= 64 ? full : task.id.slice(0, 64);
}

export interface CredentialsEndpointOptions {
  readonly tokens: TaskTokens;
  readonly assumeRole: AssumeRole;
  /** The tasks this host runs now (the agent's current document): a task absent from it is refused. */
  readonly tasks: () => ReadonlyMap<string, CredentialTask>;
  readonly now: () => number;
  /** Session length asked of STS. 3600: the longest a role allows unless its maximum was raised, and STS's default. */
  readonly durationSeconds?: number;
  /**
   * Cached credentials are renewed once less than this is left. 15 minutes: the SDKs ask again 5 minutes
   * before the expiry of what they hold (the JS SDK's window; botocore's is 15), so what they get always
   * outlives their own window.
   */
  readonly refreshBeforeMs?: number;
  /** Called for every AssumeRole that gave a task credentials (the agent makes it an event). */
  readonly onIssued?: (task: CredentialTask, credentials: RoleCredentials) => void;
  /** Called when AssumeRole fails for a task. */
  readonly onFailed?: (task: CredentialTask, error: Error) => void;
  /**
   * The port last bound on each address, kept across agent restarts: running containers keep the URI
   * they were created with, so a restarted agent must listen where it did (static stability).
   */
  readonly ports?: { get(address: string): number | undefined; set(address: string, port: number): void };
}

/** What the endpoint answers a container, in the container credentials provider's format. */
export interface CredentialsAnswer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/** The endpoint's logic, without HTTP: the server below and the tests call it. */
export class CredentialsEndpoint {
  private readonly cache = new Map<string, { roleArn: string; credentials: RoleCredentials }>();
  private readonly pending = new Map<string, Promise<RoleCredentials>>();
  private readonly servers = new Map<string, { server: Server; port: number }>();

  constructor(private readonly options: CredentialsEndpointOptions) {}

  /** Answers `GET <path>` with `authorization`. */
  async answer(method: string, path: string, authorization: string | undefined): Promise<CredentialsAnswer> {
    const m = /^\/v1\/tasks\/([^/]+)\/credentials$/.exec(path);
    if (!m) return refuse(404, 'NotFound', `no such endpoint: ${path.slice(0, 100)}`);
    if (method !== 'GET') return refuse(405, 'MethodNotAllowed', 'only GET');
    if (!authorization) return refuse(401, 'Unauthorized', 'missing the Authorization header (AWS_CONTAINER_AUTHORIZATION_TOKEN)');
    const asked = m[1];
    const tokenTask = this.options.tokens.taskOf(authorization.trim());
    // Same answer for a forged token and another task's: a container learns nothing about other tasks.
    if (tokenTask === undefined || tokenTask !== asked) return refuse(403, 'Forbidden', `the authorization token is not task ${asked}'s`);
    const task = this.options.tasks().get(asked);
    if (!task) {
      this.cache.delete(asked);
      return refuse(403, 'Forbidden', `task ${asked} does not run on this host any more`);
    }
    if (!task.roleArn) return refuse(404, 'NotFound', `task ${asked} has no AWS role (spec.identity.awsRole)`);
    let credentials: RoleCredentials;
    try {
      credentials = await this.credentialsOf(task, task.roleArn);
    } catch (err) {
      this.options.onFailed?.(task, err as Error);
      // The SDK error's name says why (AccessDenied: the role does not trust the host role); never a credential.
      return refuse(502, 'AssumeRoleFailed', `sts:AssumeRole of ${task.roleArn} failed: ${(err as Error).name}: ${(err as Error).message}`.slice(0, 500));
    }
    return {
      status: 200,
      body: {
        AccessKeyId: credentials.accessKeyId,
        SecretAccessKey: credentials.secretAccessKey,
        Token: credentials.sessionToken,
        Expiration: credentials.expiration.toISOString(),
        RoleArn: task.roleArn,
      },
    };
  }

  /** The token a task's containers are given (AWS_CONTAINER_AUTHORIZATION_TOKEN). */
  tokenFor(taskId: string): string {
    return this.options.tokens.tokenFor(taskId);
  }

  /** Drops the cached credentials of tasks no longer running here. */
  forgetAllBut(live: ReadonlySet<string>): void {
    for (const id of this.cache.keys()) if (!live.has(id)) this.cache.delete(id);
  }

  private credentialsOf(task: CredentialTask, roleArn: string): Promise<RoleCredentials> {
    const cached = this.cache.get(task.id);
    const refreshBefore = this.options.refreshBeforeMs ?? 15 * 60_000;
    if (cached && cached.roleArn === roleArn && cached.credentials.expiration.getTime() - this.options.now() > refreshBefore)
      return Promise.resolve(cached.credentials);
    // Concurrent requests of one task (several containers, an SDK retry) share one AssumeRole.
    let pending = this.pending.get(task.id);
    if (!pending) {
      pending = this.options
        .assumeRole({ roleArn, sessionName: sessionNameFor(task), durationSeconds: this.options.durationSeconds ?? 3600 })
        .then((credentials) => {
          this.cache.set(task.id, { roleArn, credentials });
          this.options.onIssued?.(task, credentials);
          return credentials;
        })
        .finally(() => this.pending.delete(task.id));
      this.pending.set(task.id, pending);
    }
    return pending;
  }

  /**
   * Serves on `address` (a port chosen by the OS unless given), once per address: the agent asks for
   * the address of each pod network it uses. Returns the URL base containers reach it at.
   */
  async listen(address: string, port?: number): Promise<string> {
    const existing = this.servers.get(address);
    if (existing) return baseUrl(address, existing.port);
    const saved = port ?? this.options.ports?.get(address);
    let server: Server;
    try {
      server = await this.bind(address, saved ?? 0);
    } catch (err) {
      // The saved port was taken meanwhile: a new one (containers made before keep failing until replaced).
      if (saved === undefined || saved === 0 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      server = await this.bind(address, 0);
    }
    const bound = (server.address() as AddressInfo).port;
    this.servers.set(address, { server, port: bound });
    if (bound !== saved) this.options.ports?.set(address, bound);
    return baseUrl(address, bound);
  }

  private async bind(address: string, port: number): Promise<Server> {
    const server = createServer((req, res) => void this.handle(req, res));
    // A container's SDK opens a connection, asks, and closes; nothing legitimate is slow here.
    server.requestTimeout = 10_000;
    server.headersTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, address, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return server;
  }

  /** The URI a task's container is given in AWS_CONTAINER_CREDENTIALS_FULL_URI, on `address`'s server. */
  uriFor(address: string, taskId: string): string {
    const s = this.servers.get(address);
    if (!s) throw new Error(`the credentials endpoint does not listen on ${address}`);
    return `${baseUrl(address, s.port)}${credentialsPath(taskId)}`;
  }

  async close(): Promise<void> {
    await Promise.all(
      [...this.servers.values()].map(
        ({ server }) =>
          new Promise<void>((resolve) => {
            server.closeAllConnections();
            server.close(() => resolve());
          }),
      ),
    );
    this.servers.clear();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let out: CredentialsAnswer;
    try {
      const path = new URL(req.url ?? '/', 'http://endpoint').pathname;
      out = await this.answer(req.method ?? 'GET', path, headerOf(req.headers.authorization));
    } catch {
      out = refuse(500, 'InternalError', 'internal error');
    }
    const text = JSON.stringify(out.body);
    res.writeHead(out.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
    res.end(text);
  }
}

function headerOf(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function baseUrl(address: string, port: number): string {
  return `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
}

function refuse(status: number, code: string, message: string): CredentialsAnswer {
  return { status, body: { code, message } };
}
