/**
 * The agent and one-way allowFrom (agent/guest-isolation.ts), over fakes: a guest pod's rules are in
 * force after its sandbox starts (its addresses exist only then) and before any of its containers is
 * created; every round passes the running guest sandboxes, and only those.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { GuestSandbox } from '../../agent/guest-isolation.ts';
import { namespaceNetworkName } from '../../agent/namespace-network.ts';
import { SANDBOX } from '../../agent/pod-sandbox.ts';
import type { HostDocument } from '../../core/types.ts';
import { documentChannel, RecordingExecutor, startTestAgent, stopTestAgents, testTask, until } from '../helpers/agent-harness.ts';

const taskOf = (id: string, namespace: string, allowFrom?: string[]) =>
  testTask(id, { namespace, service: 'db', ...(allowFrom ? { spec: { network: { allowFrom } } } : {}) });

afterEach(stopTestAgents);

describe('the agent and guest isolation', () => {
  it("writes a guest pod's rules between its sandbox's start and its first container, and syncs the running guest sandboxes", async () => {
    const events: string[] = [];
    const syncs: GuestSandbox[][] = [];
    const doc: HostDocument = { cluster: 'c', hostId: 'h1', generation: 1, tasks: [taskOf('db-1-aaaaa', 'team', ['shop']), taskOf('db-1-bbbbb', 'shop')] };
    startTestAgent(
      {
        channel: documentChannel({ current: doc }),
        executor: new RecordingExecutor(events),
        namespaceNetworks: { ensure: async (ns: string) => namespaceNetworkName('skiff-c', ns) },
        isolation: {
          admit: async (s) => void events.push(`admit ${s.taskId}`),
          sync: async (s) => void syncs.push([...s]),
        },
      },
      { parallelism: 1 },
    );
    await until(() => ((syncs.at(-1)?.length ?? 0) >= 1 ? true : undefined), 'a sync with the guest sandbox');
    const guest = events.filter((e) => e.includes('db-1-aaaaa'));
    expect(guest.slice(0, 4)).toEqual([`create db-1-aaaaa/${SANDBOX}`, `start db-1-aaaaa/${SANDBOX}`, 'admit db-1-aaaaa', 'admit db-1-aaaaa']);
    expect(guest.slice(4, 6)).toEqual(['create db-1-aaaaa/app', 'start db-1-aaaaa/app']);
    // The pod that lets nothing in is never admitted, nor synced.
    expect(events.filter((e) => e.startsWith('admit')).every((e) => e === 'admit db-1-aaaaa')).toBe(true);
    expect(syncs.at(-1)).toEqual([{ id: expect.any(String), taskId: 'db-1-aaaaa' }]);
  });
});
