/** The API Lambda entry point (API Gateway HTTP API, payload v2): the handler of app/handlers/api.ts over the AWS adapters. */
import { fileURLToPath } from 'node:url';
import { apiHandlerFromEnv, type ApiHandler } from '../../app/handlers/api.ts';
import { onFirstCall } from '../../app/handlers/lazy.ts';

// The web console's files sit beside the bundle (infra/control-functions.ts builds them into the asset's console/).
export const handler: ApiHandler = onFirstCall(() => apiHandlerFromEnv(process.env, { consoleDir: fileURLToPath(new URL('./console/', import.meta.url)) }));
