/**
 * Wakes hosts through SSM Run Command: the instance's SSM Agent long-polls for commands at no
 * per-call cost, so a wake-up reaches a host in about a second without the host polling
 * Parameter Store often. The command signals the Skiff agent, which then reads its document.
 */
import { SendCommandCommand, type SSMClient } from '@aws-sdk/client-ssm';
import type { HostWaker } from '../../ports/index.ts';

/** SendCommand accepts at most 50 instance ids per call. */
const MAX_TARGETS = 50;

export class RunCommandWaker implements HostWaker {
  constructor(private readonly client: SSMClient) {}

  async wake(hostIds: readonly string[]): Promise<void> {
    const instances = hostIds.filter((id) => /^i-[0-9a-f]{8,17}$/.test(id));
    for (let i = 0; i < instances.length; i += MAX_TARGETS) {
      await this.client.send(
        new SendCommandCommand({
          InstanceIds: instances.slice(i, i + MAX_TARGETS),
          DocumentName: 'AWS-RunShellScript',
          Parameters: { commands: ['systemctl kill -s USR1 skiff-agent'] },
          TimeoutSeconds: 30,
          Comment: 'skiff: host document changed',
        }),
      );
    }
  }
}
