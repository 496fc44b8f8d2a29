/**
 * How the agent reads its document (docs/host-channel.md, "The wake-up is the fast path"): the
 * timer's polls are plain reads; a wake-up follows a publication, so its read is `fresh` (strongly
 * consistent on the DynamoDB channel), and a wake-up that arrives while a poll runs gets one more,
 * fresh read after it: the running one may have read before the publication.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryExecutor } from '../../adapters/memory/executor.ts';
import { Agent, type AgentStore } from '../../agent/agent.ts';
import { containerSpecHash } from '../../agent/docker.ts';
import type { HostDocument } from '../../core/types.ts';
import type { HostChannel, HostChannelFetchOptions } from '../../ports/index.ts';

describe('the agent reading its host document', () => {
  const dirs: string[] = [];
  const agents: Agent[] = [];
  afterEach(async () => {
    await Promise.all(agents.splice(0).map((a) => a.stop()));
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

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

  function agentOn(channel: HostChannel): Agent {
    const dir = mkdtempSync(join(tmpdir(), 'skiff-agent-wake-'));
    dirs.push(dir);
    const store: AgentStore = { putHostStatus: async () => {}, putHeartbeat: async () => {} };
    const agent = new Agent(
      {
        cluster: 'c',
        hostId: 'h1',
        address: '127.1.0.1',
        capacity: { cpu: 4000, memory: 2 ** 33 },
        labels: {},
        pollMs: 3_600_000,
        heartbeatMs: 60_000,
        reconcileMs: 60_000,
        stateFile: join(dir, 'state.json'),
        stopGraceSeconds: 0,
        parallelism: 4,
      },
      {
        store,
        channel,
        executor: new MemoryExecutor({ hashOf: containerSpecHash, startDelayMs: 0 }),
        hashOf: containerSpecHash,
        now: Date.now,
        random: () => 0.5,
        log: () => {},
        version: 't',
      },
    );
    agents.push(agent);
    return agent;
  }

  const until = async (what: string, cond: () => boolean) => {
    for (const end = Date.now() + 10_000; Date.now() < end; await new Promise((r) => setTimeout(r, 10))) if (cond()) return;
    throw new Error(`timed out waiting for ${what}`);
  };

  it('reads plainly on its own, fresh when woken, and once more (fresh) when woken during a read', async () => {
    const g = gatedChannel();
    const agent = agentOn(g.channel);
    void agent.start();
    await until('the first poll', () => g.reads.length === 1);
    expect(g.reads[0]).toBeUndefined();

    // Woken while that poll waits: it may have read before the publication, so one more read follows.
    g.publish({ cluster: 'c', hostId: 'h1', generation: 2, tasks: [] });
    agent.wake();
    agent.wake();
    g.gates.shift()!();
    await until('the read after the wake-up', () => g.reads.length === 2);
    expect(g.reads[1]).toEqual({ fresh: true });
    g.gates.shift()!();
    await agent.pollNow();
    // Two wake-ups during one poll cost one more read, not two.
    expect(g.reads.length).toBe(2);

    agent.wake();
    await until('the wake-up read', () => g.reads.length === 3);
    expect(g.reads[2]).toEqual({ fresh: true });
    g.gates.shift()!();
  });
});
