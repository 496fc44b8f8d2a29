/**
 * Local mode's wake-up: SIGUSR1 to the agent process, found by its pid file — the same signal
 * SSM Run Command sends on AWS.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HostWaker } from '../ports/index.ts';

export class SignalWaker implements HostWaker {
  constructor(private readonly pidDir: string) {}

  async wake(hostIds: readonly string[]): Promise<void> {
    await Promise.all(
      hostIds.map(async (id) => {
        try {
          const pid = Number((await readFile(join(this.pidDir, `${id}.pid`), 'utf8')).trim());
          if (Number.isInteger(pid) && pid > 0) process.kill(pid, 'SIGUSR1');
        } catch {
          // No pid file or no such process: the host is down or not local; its poll will catch up.
        }
      }),
    );
  }
}
