/**
 * A local stand-in for the subset of AWS STS that workload identity uses: AssumeRole (the agent, for
 * each task's `spec.identity.awsRole`) and GetCallerIdentity (whoever holds credentials, to see whom
 * they name). It speaks the AWS query protocol as `@aws-sdk/client-sts` sends it (`POST /`, a form
 * body `Action=AssumeRole&Version=2011-06-15&...`, XML answers and `ErrorResponse` errors), so the
 * agent's production code runs against it with only an endpoint set.
 *
 * What it enforces, as STS and IAM do (docs/identity.md lists the sources):
 * - RoleArn must be a role ARN; RoleSessionName 2-64 of `[\w+=,.@-]`; DurationSeconds 900-43200 and at
 *   most the role's maximum session duration (1 hour, IAM's default): `ValidationError` otherwise;
 * - the caller may assume only roles under the cluster's role path (`allowedRolePath`, the CDK
 *   grant's convention: `/skiff/<cluster>/`): `AccessDenied` otherwise, in STS's wording;
 * - credentials it issued are accepted until they expire: GetCallerIdentity signed with them answers
 *   the assumed-role ARN; an unknown or expired session token is `InvalidClientTokenId` /
 *   `ExpiredToken`. `isAccepted` lets another stand-in make the same check.
 *
 * Like the other stand-ins it does not check SigV4 signatures (nothing on 127.0.0.1 is signed with a
 * secret it knows): the access key id and session token sent identify the caller.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError, checkStandInOptions, errorMessage, readBody, serveHttp, type StandInOptions } from './stand-in.ts';

export interface StsServerOptions extends Omit<StandInOptions, 'dataFile'> {
  /**
   * The IAM path of roles callers may assume (`/skiff/local/`): the host role's grant (infra/hosts.ts).
   * `false`: any role. @default '/skiff/'
   */
  readonly allowedRolePath?: string | false;
  /** The account in the ARNs of assumed roles' sessions and of callers. @default '123456789012' */
  readonly accountId?: string;
  /** The clock credentials expire by (tests move it). @default Date.now */
  readonly now?: () => number;
}

/** Credentials the stand-in issued. */
export interface IssuedCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
  readonly expiration: Date;
  /** `arn:aws:sts::<account>:assumed-role/<role name>/<session name>`. */
  readonly arn: string;
  readonly roleArn: string;
  readonly sessionName: string;
}

export interface StsServer {
  readonly endpoint: string;
  readonly port: number;
  /** Every AssumeRole answered, oldest first (tests check session names and roles). */
  issued(): readonly IssuedCredentials[];
  /** Requests received per operation. */
  counts(): Record<string, number>;
  /** True when `accessKeyId` with `sessionToken` are credentials this stand-in issued, unexpired. */
  isAccepted(accessKeyId: string, sessionToken: string | undefined): boolean;
  close(): Promise<void>;
}

/** STS's bounds on DurationSeconds, and IAM's default maximum session duration of a role. */
export const STS_LIMITS = { minDurationSeconds: 900, maxDurationSeconds: 43_200, defaultMaxSessionSeconds: 3600, defaultDurationSeconds: 3600 } as const;

const OPTION_KEYS = new Set(['host', 'port', 'allowedRolePath', 'accountId', 'now']);
const XMLNS = 'https://sts.amazonaws.com/doc/2011-06-15/';
const ROLE_ARN = /^arn:(aws|aws-cn|aws-us-gov):iam::(\d{12}):role((?:\/[\x21-\x7e]+)*)\/([\w+=,.@-]{1,64})$/;
const SESSION_NAME = /^[\w+=,.@-]{2,64}$/;
const MAX_BODY_BYTES = 64 * 1024;
/** Issued credentials kept at most; an expired one is dropped first (a long local run issues many). */
const MAX_KEPT = 10_000;

export async function startStsServer(opts: StsServerOptions = {}): Promise<StsServer> {
  const { host, port } = checkStandInOptions('startStsServer', opts, OPTION_KEYS);
  const allowedPath = opts.allowedRolePath ?? '/skiff/';
  if (allowedPath !== false && (typeof allowedPath !== 'string' || !/^\/([\x21-\x7e]+\/)*$/.test(allowedPath)))
    throw new TypeError(`startStsServer: allowedRolePath must be an IAM path such as /skiff/local/ (or false), got ${JSON.stringify(allowedPath)}`);
  const accountId = opts.accountId ?? '123456789012';
  if (!/^\d{12}$/.test(accountId)) throw new TypeError(`startStsServer: accountId must be 12 digits, got ${JSON.stringify(accountId)}`);
  const now = opts.now ?? Date.now;
  const byKey = new Map<string, IssuedCredentials>();
  const log: IssuedCredentials[] = [];
  const counts: Record<string, number> = {};

  const isAccepted = (accessKeyId: string, sessionToken: string | undefined): boolean => {
    const c = byKey.get(accessKeyId);
    return c !== undefined && c.sessionToken === sessionToken && c.expiration.getTime() > now();
  };

  const assumeRole = (params: URLSearchParams, callerArn: string): string => {
    const roleArn = required(params, 'RoleArn');
    const sessionName = required(params, 'RoleSessionName');
    const m = ROLE_ARN.exec(roleArn);
    if (!m) throw new ApiError('ValidationError', `${roleArn} is invalid`);
    if (!SESSION_NAME.test(sessionName))
      throw new ApiError(
        'ValidationError',
        `1 validation error detected: Value '${sessionName}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*`,
      );
    const durationText = params.get('DurationSeconds');
    const duration = durationText === null ? STS_LIMITS.defaultDurationSeconds : Number(durationText);
    if (!Number.isInteger(duration) || duration < STS_LIMITS.minDurationSeconds || duration > STS_LIMITS.maxDurationSeconds)
      throw new ApiError(
        'ValidationError',
        `1 validation error detected: Value '${durationText}' at 'durationSeconds' failed to satisfy constraint: Member must have value between ${STS_LIMITS.minDurationSeconds} and ${STS_LIMITS.maxDurationSeconds}`,
      );
    if (duration > STS_LIMITS.defaultMaxSessionSeconds)
      throw new ApiError('ValidationError', 'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.');
    const path = `${m[3]}/`;
    if (allowedPath !== false && !path.startsWith(allowedPath))
      throw new ApiError('AccessDenied', `User: ${callerArn} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`, 403);
    const roleName = m[4];
    const issued: IssuedCredentials = {
      accessKeyId: `ASIA${randomBytes(8).toString('hex').toUpperCase()}`,
      secretAccessKey: randomBytes(30).toString('base64'),
      sessionToken: randomBytes(96).toString('base64'),
      expiration: new Date(Math.floor(now() / 1000) * 1000 + duration * 1000),
      arn: `arn:${m[1]}:sts::${m[2]}:assumed-role/${roleName}/${sessionName}`,
      roleArn,
      sessionName,
    };
    remember(issued);
    return xml(
      'AssumeRole',
      `<Credentials><AccessKeyId>${issued.accessKeyId}</AccessKeyId><SecretAccessKey>${esc(issued.secretAccessKey)}</SecretAccessKey>` +
        `<SessionToken>${esc(issued.sessionToken)}</SessionToken><Expiration>${issued.expiration.toISOString()}</Expiration></Credentials>` +
        `<AssumedRoleUser><AssumedRoleId>AROA${roleIdOf(roleArn)}:${esc(sessionName)}</AssumedRoleId><Arn>${esc(issued.arn)}</Arn></AssumedRoleUser>` +
        '<PackedPolicySize>0</PackedPolicySize>',
    );
  };

  const remember = (c: IssuedCredentials) => {
    if (byKey.size >= MAX_KEPT) {
      for (const [k, v] of byKey) if (v.expiration.getTime() <= now()) byKey.delete(k);
      if (byKey.size >= MAX_KEPT) byKey.delete(byKey.keys().next().value as string);
    }
    byKey.set(c.accessKeyId, c);
    log.push(c);
    if (log.length > MAX_KEPT) log.shift();
  };

  // The caller as the request names it: the access key id of its SigV4 credential scope.
  const callerOf = (req: IncomingMessage): { accessKeyId: string; arn: string } => {
    const accessKeyId = /Credential=([^/,\s]+)\//.exec(String(req.headers.authorization ?? ''))?.[1] ?? '';
    const token = req.headers['x-amz-security-token'];
    const sessionToken = Array.isArray(token) ? token[0] : token;
    if (accessKeyId.startsWith('ASIA')) {
      const c = byKey.get(accessKeyId);
      if (!c || c.sessionToken !== sessionToken) throw new ApiError('InvalidClientTokenId', 'The security token included in the request is invalid.', 403);
      if (c.expiration.getTime() <= now()) throw new ApiError('ExpiredToken', 'The security token included in the request is expired', 400);
      return { accessKeyId, arn: c.arn };
    }
    // Long-lived local keys (the agents' `local`) stand for the hosts' role.
    return { accessKeyId, arn: `arn:aws:iam::${accountId}:user/${accessKeyId || 'anonymous'}` };
  };

  const http = await serveHttp(
    async (req: IncomingMessage, res: ServerResponse) => {
      const requestId = randomUUID();
      try {
        const body = await readBody(req, MAX_BODY_BYTES, () => new ApiError('ValidationError', `request body exceeds ${MAX_BODY_BYTES} bytes`));
        if (req.method !== 'POST' || (req.url ?? '/').split('?')[0] !== '/')
          throw new ApiError('InvalidAction', `${req.method} ${req.url} is not an STS query request`);
        const params = new URLSearchParams(body);
        const action = params.get('Action') ?? '';
        counts[action] = (counts[action] ?? 0) + 1;
        if (params.get('Version') !== '2011-06-15') throw new ApiError('InvalidAction', `Version ${params.get('Version')} is not 2011-06-15`);
        const caller = callerOf(req);
        let out: string;
        if (action === 'AssumeRole') out = assumeRole(params, caller.arn);
        else if (action === 'GetCallerIdentity')
          out = xml(
            'GetCallerIdentity',
            `<Arn>${esc(caller.arn)}</Arn><UserId>${esc(caller.accessKeyId)}</UserId><Account>${caller.arn.split(':')[4] || accountId}</Account>`,
          );
        else
          throw new ApiError(
            'InvalidAction',
            `Could not find operation ${action} for version 2011-06-15 in the local STS stand-in (AssumeRole, GetCallerIdentity)`,
          );
        send(res, 200, requestId, out.replace('</ResponseMetadata>', `<RequestId>${requestId}</RequestId></ResponseMetadata>`));
      } catch (err) {
        const e = err instanceof ApiError ? err : new ApiError('InternalFailure', errorMessage(err), 500);
        send(
          res,
          e.status,
          requestId,
          `<ErrorResponse xmlns="${XMLNS}"><Error><Type>${e.status >= 500 ? 'Receiver' : 'Sender'}</Type><Code>${e.code}</Code><Message>${esc(e.message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
        );
      }
    },
    host,
    port,
    async () => {},
  );
  return { endpoint: http.endpoint, port: http.port, issued: () => [...log], counts: () => ({ ...counts }), isAccepted, close: http.close };
}

function required(params: URLSearchParams, name: string): string {
  const v = params.get(name);
  if (v === null || v === '')
    throw new ApiError(
      'ValidationError',
      `1 validation error detected: Value null at '${name.charAt(0).toLowerCase()}${name.slice(1)}' failed to satisfy constraint: Member must not be null`,
    );
  return v;
}

function xml(action: string, result: string): string {
  return `<${action}Response xmlns="${XMLNS}"><${action}Result>${result}</${action}Result><ResponseMetadata></ResponseMetadata></${action}Response>`;
}

function send(res: ServerResponse, status: number, requestId: string, text: string): void {
  res.writeHead(status, { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(text), 'x-amzn-requestid': requestId });
  res.end(text);
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A stable role id (IAM's are `AROA` and 17 characters) from the ARN, so a role keeps its id across calls. */
function roleIdOf(arn: string): string {
  let h = 0;
  for (const ch of arn) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return h.toString(36).toUpperCase().padStart(17, '0').slice(0, 17);
}
