/**
 * DynamoDB's throughput limits on one table, modelled on an SDK client for bench/scale.ts (dynalite
 * throttles nothing), as the Parameter Store stand-in models SSM's: a request that finds its
 * partition's or the table's bucket empty fails with `ProvisionedThroughputExceededException`
 * (what DynamoDB answers; the SDK and the adapters retry it), and every request's units are counted
 * per second, as DynamoDB bills them.
 *
 * Published figures (docs/scale.md): 1,000 WCU and 3,000 RCU per second per partition; an on-demand
 * table serves up to 4,000 WRU/s and 12,000 RRU/s from its creation (then double its previous peak),
 * and an account's default table quota is 40,000 of each. Units: a write is ceil(item / 1 KB); a
 * read ceil(item / 4 KB), half of that eventually consistent. A bucket may go into debt by one
 * request (its size is known only from the answer), as DynamoDB's burst capacity allows.
 */
import { ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import { itemBytes } from '../adapters/aws/dynamo-host-channel.ts';

export interface DynamoLimits {
  readonly partitionWcu: number;
  readonly partitionRcu: number;
  readonly tableWru: number;
  readonly tableRru: number;
}

/** A new on-demand table's throughput and the per-partition ceiling. */
export const ON_DEMAND_NEW_TABLE: DynamoLimits = { partitionWcu: 1000, partitionRcu: 3000, tableWru: 4000, tableRru: 12_000 };

class Bucket {
  private tokens: number;
  private at = performance.now();
  constructor(private readonly rate: number) {
    this.tokens = rate;
  }
  /** True when the bucket has tokens (or a little debt allowed, see above). */
  ready(): boolean {
    const now = performance.now();
    this.tokens = Math.min(this.rate, this.tokens + ((now - this.at) / 1000) * this.rate);
    this.at = now;
    return this.tokens > 0;
  }
  take(units: number): void {
    this.tokens -= units;
  }
}

type Av = Parameters<typeof itemBytes>[0];

export interface LimiterStats {
  readonly throttled: number;
  /** Units consumed so far (the caller samples them each second for rates). */
  readonly rru: number;
  readonly wru: number;
  /** The most units one partition took in one second. */
  readonly partitionPeak: { readonly rru: number; readonly wru: number };
}

export class DynamoLimiter {
  private readonly partitions = new Map<string, { r: Bucket; w: Bucket; second: number; rru: number; wru: number }>();
  private readonly table: { r: Bucket; w: Bucket };
  private throttled = 0;
  private rru = 0;
  private wru = 0;
  private partitionPeak = { rru: 0, wru: 0 };

  /** `share`: this process's part of the table's limits (the agents run in several processes). */
  constructor(
    private readonly tableName: string,
    private readonly limits: DynamoLimits = ON_DEMAND_NEW_TABLE,
    share = 1,
  ) {
    this.table = { r: new Bucket(limits.tableRru * share), w: new Bucket(limits.tableWru * share) };
  }

  stats(): LimiterStats {
    return { throttled: this.throttled, rru: this.rru, wru: this.wru, partitionPeak: this.partitionPeak };
  }

  attach(client: { middlewareStack: { add(m: unknown, o: Record<string, unknown>): void } }): void {
    client.middlewareStack.add(
      (next: (a: { input: Record<string, unknown> }) => Promise<{ output: Record<string, unknown> }>, context: { commandName?: string }) =>
        async (args: { input: Record<string, unknown> }) => {
          const input = args.input;
          const op = (context.commandName ?? '').replace(/Command$/, '');
          if (input.TableName !== this.tableName || !['GetItem', 'PutItem', 'DeleteItem'].includes(op)) return next(args);
          const key = ((input.Item ?? input.Key) as Record<string, { S?: string }> | undefined)?.pk?.S ?? '?';
          const p = this.partition(key);
          const write = op !== 'GetItem';
          if (!(write ? p.w.ready() && this.table.w.ready() : p.r.ready() && this.table.r.ready())) {
            this.throttled++;
            throw new ProvisionedThroughputExceededException({
              message: 'The level of configured provisioned throughput for the table was exceeded (bench/dynamo-limits.ts)',
              $metadata: { httpStatusCode: 400 },
            });
          }
          const result = await next(args);
          const units = write
            ? Math.max(1, Math.ceil(itemBytes((input.Item ?? {}) as Av) / 1024))
            : Math.max(1, Math.ceil(itemBytes((result.output.Item ?? {}) as Av) / 4096)) * (input.ConsistentRead ? 1 : 0.5);
          (write ? p.w : p.r).take(units);
          (write ? this.table.w : this.table.r).take(units);
          this.count(p, write ? 'wru' : 'rru', units);
          return result;
        },
      { step: 'initialize', name: 'benchDynamoLimiter', override: true },
    );
  }

  private partition(key: string) {
    let p = this.partitions.get(key);
    if (!p) {
      p = { r: new Bucket(this.limits.partitionRcu), w: new Bucket(this.limits.partitionWcu), second: -1, rru: 0, wru: 0 };
      this.partitions.set(key, p);
    }
    return p;
  }

  private count(p: { second: number; rru: number; wru: number }, kind: 'rru' | 'wru', units: number): void {
    const second = Math.floor(Date.now() / 1000);
    if (p.second !== second) {
      p.second = second;
      p.rru = 0;
      p.wru = 0;
    }
    p[kind] += units;
    this.partitionPeak = { ...this.partitionPeak, [kind]: Math.max(this.partitionPeak[kind], p[kind]) };
    this[kind] += units;
  }
}
