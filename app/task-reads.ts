/**
 * The tasks a pass (or a discovery sync) must see, read service by service instead of by a Scan of
 * the whole table.
 *
 * A Scan reads, and bills, every item of the table to find the tasks: at 200 hosts after 10 minutes,
 * 87 % of what it read was the event log (docs/scale.md), which grows with the cluster's history,
 * not its size. A strongly consistent Query on a service's partition reads its tasks and nothing
 * else.
 *
 * Which services: those the index lists, and every service a host's allocations name. The index is
 * eventually consistent, so a service written a moment ago may be missing from it; its tasks would
 * then be missing too. That only delays a task nobody has placed yet (the next pass sees it), but a
 * placed task missing from the snapshot would make its allocation look stale and stop its
 * container (docs/state.md). A placed task is in its host's allocations, and hosts are read
 * strongly, so taking the services named there as well makes every placed task visible, whatever
 * the index says.
 */
import type { Host, Service, Task } from '../core/types.ts';
import type { TaskStore } from '../ports/index.ts';
import { forEachLimit } from '../core/async.ts';
import { ValidationError } from '../core/errors.ts';

/** Queries in flight at once: each is one small strongly consistent Query (≈ 10 ms on AWS). */
export const TASK_READ_CONCURRENCY = 16;

/** The services to read tasks for: the listed ones, then any other that a host's allocations name. */
export function servicesToRead(services: readonly Pick<Service, 'namespace' | 'name'>[], hosts: readonly Host[]): { namespace: string; name: string }[] {
  const out = new Map<string, { namespace: string; name: string }>();
  for (const s of services) out.set(`${s.namespace}/${s.name}`, { namespace: s.namespace, name: s.name });
  for (const h of hosts)
    for (const id in h.allocations) {
      const a = h.allocations[id];
      const key = `${a.namespace}/${a.service}`;
      if (!out.has(key)) out.set(key, { namespace: a.namespace, name: a.service });
    }
  return [...out.values()];
}

/**
 * Every task of those services, strongly consistent, ordered as `listAllTasks` orders them
 * (namespace, service, slot): the placement order follows the read order.
 */
export async function readTasks(
  store: Pick<TaskStore, 'listTasks'>,
  services: readonly Pick<Service, 'namespace' | 'name'>[],
  hosts: readonly Host[],
): Promise<Task[]> {
  const wanted = servicesToRead(services, hosts).sort((a, b) => compare(a.namespace, b.namespace) || compare(a.name, b.name));
  const lists: Task[][] = new Array(wanted.length);
  await forEachLimit(wanted, TASK_READ_CONCURRENCY, async (s, i) => {
    try {
      lists[i] = (await store.listTasks(s.namespace, s.name)).sort((a, b) => a.slot - b.slot);
    } catch (err) {
      // A name no key can hold (a '#', empty) has no task item: nothing to read, never a failed pass.
      if (!(err instanceof ValidationError)) throw err;
      lists[i] = [];
    }
  });
  return lists.flat();
}

// Code-unit order, as the DynamoDB adapter sorts (adapters/aws/dynamo/items.ts `compare`), not the locale's.
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
