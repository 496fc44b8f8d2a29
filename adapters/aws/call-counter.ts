/**
 * Counts the AWS calls that SDK v3 clients make, per service and operation, and the DynamoDB
 * capacity units those calls consumed. The cost benchmark (bench/cost.ts) attaches one counter to
 * the clients of a single handler run, so that every call is attributed to that run; against AWS
 * it works the same, since it only reads what DynamoDB returns.
 */

/** What a counter saw: calls per `Service.Operation`, and DynamoDB read and write request units. */
export interface CallTally {
  readonly calls: Readonly<Record<string, number>>;
  readonly readUnits: number;
  readonly writeUnits: number;
}

// The slice of an SDK v3 client the counter needs; structural, so that any client fits.
interface ClientWithStack {
  middlewareStack: { add(middleware: unknown, options: Record<string, unknown>): void };
}

interface Capacity {
  CapacityUnits?: number;
  ReadCapacityUnits?: number;
  WriteCapacityUnits?: number;
}

const READ_OPERATIONS = new Set(['GetItem', 'BatchGetItem', 'Query', 'Scan', 'TransactGetItems', 'ExecuteStatement']);

export class CallCounter {
  private calls = new Map<string, number>();
  private readUnits = 0;
  private writeUnits = 0;

  /**
   * Counts every call `client` makes from now on, under `service` (e.g. 'DynamoDB', 'SSM').
   * DynamoDB calls that do not ask for consumed capacity are sent asking for it (INDEXES, so that
   * index writes are included), and the figure is taken out of the output again: the caller sees
   * exactly what it would have seen.
   */
  attach(client: ClientWithStack, service: string): void {
    const middleware =
      (next: (args: { input: Record<string, unknown> }) => Promise<{ output: Record<string, unknown> }>, context: { commandName?: string }) =>
      async (args: { input: Record<string, unknown> }) => {
        const op = (context.commandName ?? 'Unknown').replace(/Command$/, '');
        this.calls.set(`${service}.${op}`, (this.calls.get(`${service}.${op}`) ?? 0) + 1);
        const inject = service === 'DynamoDB' && args.input.ReturnConsumedCapacity === undefined;
        const result = await next(inject ? { ...args, input: { ...args.input, ReturnConsumedCapacity: 'INDEXES' } } : args);
        if (service === 'DynamoDB') {
          this.addCapacity(op, result.output.ConsumedCapacity as Capacity | Capacity[] | undefined);
          if (inject) delete result.output.ConsumedCapacity;
        }
        return result;
      };
    client.middlewareStack.add(middleware, { step: 'initialize', name: 'skiffCallCounter', override: true });
  }

  /** Counts a call that no SDK client makes (e.g. a wake-up standing in for SSM SendCommand). */
  record(key: string, n = 1): void {
    this.calls.set(key, (this.calls.get(key) ?? 0) + n);
  }

  snapshot(): CallTally {
    return { calls: Object.fromEntries([...this.calls].sort(([a], [b]) => a.localeCompare(b))), readUnits: this.readUnits, writeUnits: this.writeUnits };
  }

  reset(): void {
    this.calls.clear();
    this.readUnits = 0;
    this.writeUnits = 0;
  }

  private addCapacity(op: string, consumed: Capacity | Capacity[] | undefined): void {
    for (const c of Array.isArray(consumed) ? consumed : consumed ? [consumed] : []) {
      // AWS splits the figure when it can; otherwise the operation says which kind it was.
      if (c.ReadCapacityUnits !== undefined || c.WriteCapacityUnits !== undefined) {
        this.readUnits += c.ReadCapacityUnits ?? 0;
        this.writeUnits += c.WriteCapacityUnits ?? 0;
      } else if (READ_OPERATIONS.has(op)) this.readUnits += c.CapacityUnits ?? 0;
      else this.writeUnits += c.CapacityUnits ?? 0;
    }
  }
}

/** One item before and after a write: its size in bytes (DynamoDB's rules) and its index key, if it is in the index. */
export interface ItemImage {
  readonly size: number;
  /** The item's global secondary index key (partition and sort values joined); undefined when the item is not in the index. */
  readonly indexKey?: string;
}

/**
 * Write request units of one item write under DynamoDB's rules: the table pays for the larger of
 * the old and new item, 1 KB units, at least 1; an index with all attributes projected pays
 * the new entry when the key is unchanged, the old entry's delete plus the new entry's put when
 * it changed, and only one side when the item enters or leaves the index. A failed conditional
 * write pays the table side only.
 */
export function writeUnits(before: ItemImage | undefined, after: ItemImage | undefined, failed = false): { table: number; index: number } {
  const units = (size: number) => Math.max(1, Math.ceil(size / 1024));
  const table = Math.max(1, before ? units(before.size) : 0, after && !failed ? units(after.size) : 0);
  if (failed) return { table, index: 0 };
  const inOld = before?.indexKey !== undefined;
  const inNew = after?.indexKey !== undefined;
  let index = 0;
  if (inOld && inNew) index = before!.indexKey === after!.indexKey ? units(after!.size) : units(before!.size) + units(after!.size);
  else if (inOld) index = units(before!.size);
  else if (inNew) index = units(after!.size);
  return { table, index };
}
