import { describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import { SSMClient, SendCommandCommand, ThrottlingException, InvalidInstanceId } from '@aws-sdk/client-ssm';
import { RunCommandWaker } from '../../adapters/aws/run-command-waker.ts';

const DOCUMENT = 'Skiff-test-WakeDocument-AbC123';
const ids = (n: number) => Array.from({ length: n }, (_, i) => `i-${(0x10000000 + i).toString(16)}`);

describe('RunCommandWaker (at the SDK boundary)', () => {
  it('signals the agents of up to 50 instances per SendCommand, pacing the calls', async () => {
    const ssm = mockClient(SSMClient);
    ssm.on(SendCommandCommand).resolves({});
    const pauses: number[] = [];
    await new RunCommandWaker(ssm as unknown as SSMClient, { documentName: DOCUMENT, sleep: async (ms) => void pauses.push(ms) }).wake([...ids(120), 'host-1']);
    const calls = ssm.commandCalls(SendCommandCommand);
    expect(calls.map((c) => c.args[0].input.InstanceIds!.length)).toEqual([50, 50, 20]);
    // The cluster's own document, whose one fixed command signals the agent: nothing to pass it.
    for (const call of calls) {
      expect(call.args[0].input.DocumentName).toBe(DOCUMENT);
      expect(call.args[0].input.Parameters).toBeUndefined();
    }
    expect(pauses).toEqual([200, 200]);
    ssm.restore();
  });

  it('retries a throttled call with back-off, and gives up quietly on other errors', async () => {
    const ssm = mockClient(SSMClient);
    ssm
      .on(SendCommandCommand)
      .rejectsOnce(new ThrottlingException({ message: 'slow down', Message: 'slow down', $metadata: {} }))
      .resolvesOnce({})
      .rejects(new InvalidInstanceId({ message: 'gone', $metadata: {} }));
    const pauses: number[] = [];
    const waker = new RunCommandWaker(ssm as unknown as SSMClient, { documentName: DOCUMENT, sleep: async (ms) => void pauses.push(ms) });
    await waker.wake(ids(1));
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(2);
    expect(pauses).toEqual([400]);
    await expect(waker.wake(ids(1))).resolves.toBeUndefined();
    ssm.restore();
  });

  it('sends nothing for hosts that are not EC2 instances', async () => {
    const ssm = mockClient(SSMClient);
    await new RunCommandWaker(ssm as unknown as SSMClient, { documentName: DOCUMENT }).wake(['host-1', 'host-2']);
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(0);
    ssm.restore();
  });
});
