/** Asks for a scheduler pass by invoking the scheduler function asynchronously (fire and forget). */
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { sdkDomainError, serviceErrors } from './sdk-errors.ts';

/**
 * Lambda's own names. Too many queued or concurrent invocations is a rate, not a broken request;
 * a function still being created or updated takes the next invoke.
 */
export const LAMBDA_ERRORS = serviceErrors({
  throttled: ['TooManyRequestsException', 'EC2ThrottledException'],
  temporary: ['ResourceNotReadyException', 'ResourceConflictException'],
});

export class LambdaSchedulerTrigger {
  constructor(
    private readonly client: LambdaClient,
    private readonly functionName: string,
  ) {}

  /** Queues the invocation; a failure becomes a domain error (UnavailableError when a retry may help). */
  async kick(): Promise<void> {
    try {
      // InvocationType Event: queued by Lambda, retried by it on failure; the API does not wait for the pass.
      await this.client.send(
        new InvokeCommand({ FunctionName: this.functionName, InvocationType: 'Event', Payload: new TextEncoder().encode('{"source":"skiff.api"}') }),
      );
    } catch (err) {
      throw sdkDomainError('Lambda', 'Invoke', `function ${this.functionName}`, err, LAMBDA_ERRORS);
    }
  }
}
