/** The host autoscaler Lambda entry point (EventBridge, once a minute): the handler of app/handlers/host-autoscaler.ts over the AWS adapters. */
import { hostAutoscalerHandlerFromEnv, type HostAutoscalerHandler } from '../../app/handlers/host-autoscaler.ts';
import { onFirstCall } from '../../app/handlers/lazy.ts';

export const handler: HostAutoscalerHandler = onFirstCall(() => hostAutoscalerHandlerFromEnv(process.env));
