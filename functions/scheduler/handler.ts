/** The scheduler Lambda entry point (EventBridge schedule, DynamoDB stream, API kicks): the handler of app/handlers/scheduler.ts over the AWS adapters. */
import { schedulerHandlerFromEnv, type SchedulerHandler } from '../../app/handlers/scheduler.ts';
import { onFirstCall } from '../../app/handlers/lazy.ts';

export const handler: SchedulerHandler = onFirstCall(() => schedulerHandlerFromEnv(process.env));
