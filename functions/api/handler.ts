/** The API Lambda entry point (API Gateway HTTP API, payload v2): the handler of app/handlers/api.ts over the AWS adapters. */
import { apiHandlerFromEnv, type ApiHandler } from '../../app/handlers/api.ts';
import { onFirstCall } from '../../app/handlers/lazy.ts';

export const handler: ApiHandler = onFirstCall(() => apiHandlerFromEnv(process.env));
