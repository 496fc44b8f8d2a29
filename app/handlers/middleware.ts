/** Cross-cutting middy middleware: structured error logging and a JSON 500 that leaks nothing. */
import type middy from '@middy/core';
import { componentLogger } from '../logger.ts';

export function errorBoundary(component: string): middy.MiddlewareObj {
  const log = componentLogger(component);
  return {
    onError: async (request) => {
      const err = request.error as Error & { status?: number };
      log.error('handler failed', err);
      // API Gateway events get a JSON 500; other triggers rethrow so Lambda records the failure.
      const event = request.event as { requestContext?: { http?: unknown } } | undefined;
      if (event?.requestContext?.http) {
        request.response = {
          statusCode: 500,
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ error: 'InternalError', message: 'internal error' }),
        };
        return request.response;
      }
      return undefined;
    },
  };
}
