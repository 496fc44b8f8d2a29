/** Asks for a scheduler pass by invoking the scheduler function asynchronously (fire and forget). */
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';

export class LambdaSchedulerTrigger {
  constructor(
    private readonly client: LambdaClient,
    private readonly functionName: string,
  ) {}

  async kick(): Promise<void> {
    // InvocationType Event: queued by Lambda, retried by it on failure; the API does not wait for the pass.
    await this.client.send(new InvokeCommand({ FunctionName: this.functionName, InvocationType: 'Event', Payload: new TextEncoder().encode('{"source":"skiff.api"}') }));
  }
}
