/**
 * The API handler: API Gateway HTTP API (payload v2) event → the API core → response. The Lambda
 * (`functions/api/handler.ts`) and local mode's HTTP server (`local/api-server.ts`, which builds
 * the same events) both run it.
 */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { createApi, type ApiDeps, type ApiRequest } from '../api.ts';
import { controlPlaneConfig } from '../env.ts';
import { awsControlPlane } from '../wiring.ts';
import { errorBoundary } from './middleware.ts';
import { ENV } from '../env-names.ts';
import { isPublicRoute } from '../public-routes.ts';
import {
  ANONYMOUS,
  identityFromAws,
  parseNamespaceRole,
  UnauthorizedError,
  type AwsAuthorizerContext,
  type Binding,
  type IamBindingConfig,
  type Identity,
} from '../../core/authz.ts';
import { isDnsLabel } from '../../core/spec.ts';
import { SSMClient } from '@aws-sdk/client-ssm';
import { SsmSigningKeyStore } from '../../adapters/aws/ssm-signing-keys.ts';
import { WorkloadTokenIssuer } from '../workload-tokens.ts';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { CloudWatchLogStore } from '../../adapters/aws/cloudwatch-log-store.ts';
import { cognitoEndpoint, consoleAsset, type ConsoleAssets, type ConsolePageConfig } from '../console-assets.ts';

export type ApiHandler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;

/** The handler over given dependencies (local mode and tests pass their own). */
export function makeApiHandler(deps: ApiDeps & { readonly iam?: IamBindingConfig; readonly console?: ConsoleAssets }): ApiHandler {
  const api = createApi(deps);
  return middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
    .use(errorBoundary('api'))
    .handler(async (event) => {
      // The web console's files (public, no data) are not API routes: served before the API core.
      const asset = deps.console && consoleAsset(deps.console, event.requestContext.http.method, event.rawPath);
      if (asset) return { statusCode: asset.status, headers: asset.headers, body: asset.body };
      let request: ApiRequest;
      try {
        request = fromEvent(event, deps.iam);
      } catch (err) {
        if (!(err instanceof UnauthorizedError)) throw err;
        return toResult({ status: 401, body: err.toJSON() });
      }
      return toResult(await api(request));
    });
}

/**
 * The handler over the AWS adapters, configured from the environment. `consoleDir`: where the web
 * console's built files are (functions/api bundles them beside the handler); absent, no console.
 */
export function apiHandlerFromEnv(env: NodeJS.ProcessEnv, opts: { readonly consoleDir?: string } = {}): ApiHandler {
  const config = controlPlaneConfig(env);
  const cp = awsControlPlane(config);
  return makeApiHandler({
    store: cp.store,
    tenancy: cp.tenancy,
    now: () => new Date(),
    kickScheduler: cp.kickScheduler,
    iam: iamBindingsFromEnv(env),
    ...(cp.secrets ? { secrets: cp.secrets } : {}),
    workloadIdentity: workloadIdentityFromEnv(env, config),
    ...logsFromEnv(env, config),
    ...(opts.consoleDir ? { console: { dir: opts.consoleDir, config: consoleConfigFromEnv(env, config.region) } } : {}),
  });
}

/** People's routes on AWS (infra/api.ts USER_ROUTE_PREFIX): the gateway checks their Cognito JWT there. */
const USER_PREFIX = '/user';

/**
 * People sign in to the console with Cognito on AWS, and it sends their ID token to the /user routes:
 * with a user name and password when the stack names the app client (SKIFF_COGNITO_CLIENT_ID), else
 * with an ID token pasted from `skiff login`.
 */
export function consoleConfigFromEnv(env: NodeJS.ProcessEnv, region: string | undefined): ConsolePageConfig {
  const clientId = env[ENV.cognitoClientId]?.trim();
  // Lists are read every few seconds, not watched: cheaper than a long-poll on Lambda (ConsolePageConfig.watch).
  if (!clientId || !region) return { apiPrefix: USER_PREFIX, signIn: 'cognito-id-token', watch: false };
  if (!/^[\w+]{1,128}$/.test(clientId)) throw new Error(`${ENV.cognitoClientId} is not a Cognito app client id: ${JSON.stringify(clientId.slice(0, 140))}`);
  if (!/^[a-z]{2}(-[a-z]+)+-\d$/.test(region)) throw new Error(`AWS_REGION is not a region: ${JSON.stringify(region.slice(0, 40))}`);
  return { apiPrefix: USER_PREFIX, signIn: 'cognito', cognito: { region, clientId, endpoint: cognitoEndpoint(region) }, watch: false };
}

/** The cluster's log group when SKIFF_LOG_GROUP names one (docs/logs.md); unset: the log routes answer 503. */
function logsFromEnv(env: NodeJS.ProcessEnv, config: ReturnType<typeof controlPlaneConfig>): Pick<ApiDeps, 'logs'> {
  const group = env[ENV.logGroup]?.trim();
  if (!group) return {};
  const endpoint = env[ENV.logsEndpoint]?.trim();
  const client = new CloudWatchLogsClient({ ...(config.region ? { region: config.region } : {}), ...(endpoint ? { endpoint } : {}) });
  const text = env[ENV.controlLogGroups]?.trim();
  let controlLogs: Record<string, CloudWatchLogStore> | undefined;
  if (text) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new Error(`${ENV.controlLogGroups} is not JSON (${(err as Error).message}); expected {"api": "<log group>", ...}`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed) || Object.values(parsed).some((v) => typeof v !== 'string' || v === ''))
      throw new Error(`${ENV.controlLogGroups} must be a JSON object of function name to log group name, got ${text.slice(0, 200)}`);
    controlLogs = Object.fromEntries(Object.entries(parsed as Record<string, string>).map(([fn, name]) => [fn, new CloudWatchLogStore(client, name)]));
  }
  return { logs: new CloudWatchLogStore(client, group), ...(controlLogs ? { controlLogs } : {}) };
}

/** The workload token issuer when SKIFF_WORKLOAD_ISSUER names one: keys from the cluster's SSM parameter (docs/identity.md). */
function workloadIdentityFromEnv(env: NodeJS.ProcessEnv, config: ReturnType<typeof controlPlaneConfig>): ApiDeps['workloadIdentity'] {
  const issuer = env[ENV.workloadIssuer]?.trim();
  if (!issuer) return { cluster: config.cluster };
  const ssm = new SSMClient({ ...(config.region ? { region: config.region } : {}), ...(config.ssmEndpoint ? { endpoint: config.ssmEndpoint } : {}) });
  return { cluster: config.cluster, issuer: new WorkloadTokenIssuer({ issuer, keys: new SsmSigningKeyStore(ssm, { prefix: config.paramPrefix }) }) };
}

/**
 * `SKIFF_IAM_BINDINGS`: JSON `{ "<role or user ARN>": [{ "role": "edit", "namespace": "shop" }], "*": [...] }`
 * (set by the stack from its `iamBindings` prop). Unset: every IAM principal the gateway lets in is
 * a cluster admin (core/authz.ts identityFromAws says why).
 */
export function iamBindingsFromEnv(env: NodeJS.ProcessEnv): IamBindingConfig {
  const hostRole = env[ENV.hostRoleArn]?.trim();
  const hosts = hostRole ? { hostRoleArn: hostRole } : {};
  const text = env[ENV.iamBindings];
  if (text === undefined || text.trim() === '') return hosts;
  const wrong = (why: string) => new Error(`SKIFF_IAM_BINDINGS ${why}; expected {"<role or user ARN>": [{"role": "edit", "namespace": "shop"}], "*": [...]}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw wrong(`is not JSON (${(err as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw wrong('is not a JSON object');
  const bindings: Record<string, Binding[]> = {};
  for (const [principal, list] of Object.entries(parsed)) {
    if (!Array.isArray(list)) throw wrong(`maps ${principal} to something other than a list`);
    bindings[principal] = list.map((b: unknown) => {
      const { role, namespace } = (b ?? {}) as { role?: unknown; namespace?: unknown };
      if (role === 'cluster-admin' && namespace === undefined) return { role: 'cluster-admin' };
      const nsRole = parseNamespaceRole(role);
      if (nsRole && typeof namespace === 'string' && isDnsLabel(namespace)) return { role: nsRole, namespace };
      throw wrong(
        `gives ${principal} the binding ${JSON.stringify(b)?.slice(0, 80)}, which is neither {"role": "cluster-admin"} nor an admin, edit or view role with a namespace`,
      );
    });
  }
  return { bindings, ...hosts };
}

/**
 * Who called: local mode's server passes the identity its bearer token proved as a Lambda
 * authorizer's context (local/api-server.ts); on AWS, API Gateway's IAM or JWT authorizer context.
 */
export function identityOf(event: APIGatewayProxyEventV2, iam: IamBindingConfig = {}): Identity {
  const authorizer = (event.requestContext as { authorizer?: AwsAuthorizerContext & { lambda?: { skiffIdentity?: Identity } } }).authorizer;
  const local = authorizer?.lambda?.skiffIdentity;
  if (local && typeof local.subject === 'string' && Array.isArray(local.bindings)) return local;
  return identityFromAws(authorizer, iam);
}

export function fromEvent(event: APIGatewayProxyEventV2, iam: IamBindingConfig = {}): ApiRequest {
  const headers: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(event.headers ?? {})) headers[k.toLowerCase()] = v;
  const body = event.body === undefined ? undefined : event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  // Public routes (the OIDC discovery document, the JWKS) have no authorizer on AWS and no token locally.
  const identity = isPublicRoute(event.requestContext.http.method, event.rawPath) ? ANONYMOUS : identityOf(event, iam);
  // People's routes are under /user (infra/api.ts: one authorizer per route); the API is the same.
  const path = identity.source === 'cognito' && /^\/user(\/|$)/.test(event.rawPath) ? event.rawPath.slice('/user'.length) || '/' : event.rawPath;
  return {
    method: event.requestContext.http.method,
    path,
    query: event.queryStringParameters ?? {},
    headers,
    body,
    identity,
  };
}

function toResult(res: { status: number; body: unknown; headers?: Record<string, string> }): APIGatewayProxyStructuredResultV2 {
  return { statusCode: res.status, headers: { 'content-type': 'application/json', ...res.headers }, body: JSON.stringify(res.body) };
}
