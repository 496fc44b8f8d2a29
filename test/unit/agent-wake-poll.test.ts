/**
 * How the agent reads its document (docs/host-channel.md, "The wake-up is the fast path"): the
 * timer's polls are plain reads; a wake-up follows a publication, so its read is `fresh` (strongly
 * consistent on the DynamoDB channel), and a wake-up that arrives while a poll runs gets one more,
 * fresh read after it: the running one may have read before the publication.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryExecutor } from '../../adapters/memory/executor.ts';
import { containerSpecHash } from '../../agent/docker.ts';
import type { HostDocument } from '../../core/types.ts';
import type { HostChannel, HostChannelFetchOptions } from '../../ports/index.ts';
import { startTestAgent, stopTestAgents, until } from '../helpers/agent-harness.ts';

describe('the agent reading its host document', () => {
  afterEach(stopTestAgents);

  /** A channel whose reads wait until released, recording each read's options. */
  function gatedChannel() {
    const reads: (HostChannelFetchOptions | undefined)[] = [];
    const gates: (() => void)[] = [];
    let doc: HostDocument = { cluster: 'c', hostId: 'h1', generation: 1, tasks: [] };
    const channel: HostChannel = {
      fetch: async (_host, _known, options) => {
        reads.push(options);
        await new Promise<void>((r) => gates.push(r));
        return doc;
      },
      publish: async () => {},
      remove: async () => {},
    };
    return {
      channel,
      reads,
      gates,
      publish: (d: HostDocument) => {
        doc = d;
      },
    };
  }

  it('reads plainly on its own, fresh when woken, and once more (fresh) when woken during a read', async () => {
    const g = gatedChannel();
    // Only wake-ups and the first poll read: the timer's next poll is an hour away.
    const agent = startTestAgent(
      { channel: g.channel, executor: new MemoryExecutor({ hashOf: containerSpecHash, startDelayMs: 0 }), hashOf: containerSpecHash },
      { pollMs: 3_600_000, heartbeatMs: 60_000, reconcileMs: 60_000 },
    );
    await until(() => g.reads.length === 1 || undefined, 'the first poll');
    expect(g.reads[0]).toBeUndefined();

    // Woken while that poll waits: it may have read before the publication, so one more read follows.
    g.publish({ cluster: 'c', hostId: 'h1', generation: 2, tasks: [] });
    agent.wake();
    agent.wake();
    g.gates.shift()!();
    await until(() => g.reads.length === 2 || undefined, 'the read after the wake-up');
    expect(g.reads[1]).toEqual({ fresh: true });
    g.gates.shift()!();
    await agent.pollNow();
    // Two wake-ups during one poll cost one more read, not two.
    expect(g.reads.length).toBe(2);

    agent.wake();
    await until(() => g.reads.length === 3 || undefined, 'the wake-up read');
    expect(g.reads[2]).toEqual({ fresh: true });
    g.gates.shift()!();
  });
});
