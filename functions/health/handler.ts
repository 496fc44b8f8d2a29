/** The health Lambda entry point (EventBridge, once a minute): the handler of app/handlers/health.ts over the AWS adapters. */
import { healthHandlerFromEnv, type HealthHandler } from '../../app/handlers/health.ts';
import { onFirstCall } from '../../app/handlers/lazy.ts';

export const handler: HealthHandler = onFirstCall(() => healthHandlerFromEnv(process.env));
