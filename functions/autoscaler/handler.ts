/** The autoscaler Lambda entry point (EventBridge: a schedule and CloudWatch alarm state changes): app/handlers/autoscaler.ts over the AWS adapters. */
import { autoscalerHandlerFromEnv, type AutoscalerHandler } from '../../app/handlers/autoscaler.ts';
import { onFirstCall } from '../../app/handlers/lazy.ts';

export const handler: AutoscalerHandler = onFirstCall(() => autoscalerHandlerFromEnv(process.env));
