/**
 * Local mode's wake-up: SIGUSR1 to the agent process, found by its pid file — the same signal
 * SSM Run Command sends on AWS.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HostWaker } from '../ports/index.ts';

export class SignalWaker implements HostWaker {
  /**
   * `isAgent` says whether a pid file's process is really that host's agent: SIGUSR1 kills a
   * process that does not handle it, so a stale pid file (the agent died, its pid was reused)
   * must not point it at anyone else. Without it, every pid is taken at its word.
   */
  constructor(
    private readonly pidDir: string,
    private readonly isAgent: (hostId: string, pid: number) => boolean = () => true,
  ) {}

  async wake(hostIds: readonly string[]): Promise<void> {
    await Promise.all(
      hostIds.map(async (id) => {
        try {
          const pid = Number((await readFile(join(this.pidDir, `${id}.pid`), 'utf8')).trim());
          if (Number.isInteger(pid) && pid > 0 && this.isAgent(id, pid)) process.kill(pid, 'SIGUSR1');
        } catch {
          // No pid file or no such process: the host is down or not local; its poll will catch up.
        }
      }),
    );
  }
}
