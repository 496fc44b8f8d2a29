/**
 * Wakes hosts through SSM Run Command: the instance's SSM Agent long-polls for commands at no
 * per-call cost, so a wake-up reaches a host in about a second without the host polling
 * Parameter Store often. The command signals the Skiff agent, which then reads its document.
 *
 * The command is the cluster's own SSM document (infra/hosts.ts), whose one fixed command signals
 * the agent and which takes no parameters: the scheduler's role may send only that document, so
 * whoever holds the role can wake hosts but not run anything else on them.
 *
 * Best effort: a wake-up that cannot be sent only delays the change to the host's next poll.
 */
import { SendCommandCommand, type SSMClient } from '@aws-sdk/client-ssm';
import type { HostWaker } from '../../ports/index.ts';
import { isRetryableSdkError } from './sdk-errors.ts';

/** SendCommand accepts at most 50 instance ids per call. */
export const MAX_TARGETS = 50;

export interface RunCommandWakerOptions {
  /** Name of the cluster's wake-up document (`SKIFF_WAKE_DOCUMENT`). */
  readonly documentName: string;
  /**
   * Pause between two SendCommand calls. SendCommand's rate quota is not published; 200 ms (5
   * calls/s) wakes 2,000 hosts in 8 s, and paces the reads the woken hosts then make (50 hosts per
   * call, 250 reads/s at most, which Parameter Store's throttling absorbs with the agents' retries).
   * @default 200
   */
  readonly pauseMs?: number;
  /** Attempts per call while throttled or SSM does not answer. @default 4 */
  readonly attempts?: number;
  readonly sleep?: (ms: number) => Promise<void>;
}

const sleeper = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class RunCommandWaker implements HostWaker {
  private readonly pauseMs: number;
  private readonly attempts: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly documentName: string;

  constructor(
    private readonly client: SSMClient,
    options: RunCommandWakerOptions,
  ) {
    this.documentName = options.documentName;
    this.pauseMs = options.pauseMs ?? 200;
    this.attempts = options.attempts ?? 4;
    this.sleep = options.sleep ?? sleeper;
  }

  async wake(hostIds: readonly string[]): Promise<void> {
    // Only EC2 instances have an SSM Agent to receive the command.
    const instances = hostIds.filter((id) => /^i-[0-9a-f]{8,17}$/.test(id));
    for (let i = 0; i < instances.length; i += MAX_TARGETS) {
      if (i > 0) await this.sleep(this.pauseMs);
      await this.send(instances.slice(i, i + MAX_TARGETS));
    }
  }

  private async send(instanceIds: string[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.client.send(
          new SendCommandCommand({
            InstanceIds: instanceIds,
            // No Parameters: the document's command is fixed.
            DocumentName: this.documentName,
            TimeoutSeconds: 30,
            Comment: 'skiff: host document changed',
          }),
        );
        return;
      } catch (err) {
        // Best effort: a refused call (bad instance id, access) is left to the hosts' poll.
        if (!isRetryableSdkError(err) || attempt >= this.attempts) return;
        await this.sleep(this.pauseMs * 2 ** attempt);
      }
    }
  }
}
