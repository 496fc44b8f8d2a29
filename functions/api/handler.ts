/**
 * The API Lambda: API Gateway HTTP API (payload v2) → the API core → response. Local mode's HTTP
 * server builds the same events and calls the same handler.
 */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { createApi, type ApiDeps, type ApiRequest } from '../../app/api.ts';
import { controlPlaneConfig } from '../../app/env.ts';
import { awsControlPlane } from '../../app/wiring.ts';
import { errorBoundary } from '../../app/handlers/middleware.ts';

export type ApiHandler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;

/** The handler over given dependencies (local mode and tests pass their own). */
export function makeApiHandler(deps: ApiDeps): ApiHandler {
  const api = createApi(deps);
  return middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
    .use(errorBoundary('api'))
    .handler(async (event) => toResult(await api(fromEvent(event))));
}

export function fromEvent(event: APIGatewayProxyEventV2): ApiRequest {
  const headers: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(event.headers ?? {})) headers[k.toLowerCase()] = v;
  const body = event.body === undefined ? undefined : event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  return { method: event.requestContext.http.method, path: event.rawPath, query: event.queryStringParameters ?? {}, headers, body };
}

function toResult(res: { status: number; body: unknown }): APIGatewayProxyStructuredResultV2 {
  return { statusCode: res.status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(res.body) };
}

let fromEnv: ApiHandler | undefined;

/** The Lambda entry point: wires the AWS adapters from the environment on the first invocation. */
export const handler: ApiHandler = (event, context) => {
  if (!fromEnv) {
    const cp = awsControlPlane(controlPlaneConfig(process.env));
    fromEnv = makeApiHandler({ store: cp.store, now: () => new Date(), kickScheduler: cp.kickScheduler });
  }
  return fromEnv(event, context);
};
