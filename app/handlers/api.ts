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

export type ApiHandler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;

/** The handler over given dependencies (local mode and tests pass their own). */
export function makeApiHandler(deps: ApiDeps): ApiHandler {
  const api = createApi(deps);
  return middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
    .use(errorBoundary('api'))
    .handler(async (event) => toResult(await api(fromEvent(event))));
}

/** The handler over the AWS adapters, configured from the environment. */
export function apiHandlerFromEnv(env: NodeJS.ProcessEnv): ApiHandler {
  const cp = awsControlPlane(controlPlaneConfig(env));
  return makeApiHandler({ store: cp.store, now: () => new Date(), kickScheduler: cp.kickScheduler, ...(cp.secrets ? { secrets: cp.secrets } : {}) });
}

export function fromEvent(event: APIGatewayProxyEventV2): ApiRequest {
  const headers: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(event.headers ?? {})) headers[k.toLowerCase()] = v;
  const body = event.body === undefined ? undefined : event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  return { method: event.requestContext.http.method, path: event.rawPath, query: event.queryStringParameters ?? {}, headers, body };
}

function toResult(res: { status: number; body: unknown; headers?: Record<string, string> }): APIGatewayProxyStructuredResultV2 {
  return { statusCode: res.status, headers: { 'content-type': 'application/json', ...res.headers }, body: JSON.stringify(res.body) };
}
