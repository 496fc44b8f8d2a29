/**
 * The `SubnetAllocator` port on DynamoDB, in the cluster's single table, with single-item
 * conditional writes only (dynalite has no transactions). Items, write order and why a crash
 * anywhere neither leaks a subnet nor gives one to two hosts: docs/network.md.
 *
 * - subnet item `SUBNET#<cidr>` / `SUBNET`: the claim. Created with `attribute_not_exists(pk)`, so
 *   at most one host holds a subnet. Carries the holder's pointer version (see below).
 * - pointer item `SUBNETHOLDER#<hostId>` / `SUBNETHOLDER`: which subnet the host is after or holds,
 *   with a version bumped by every change. Written *before* the claim, so a crash between the two
 *   leaves an intent that holds nothing, which the next `acquire` of the host finishes.
 *
 * Deletes of a host's subnet items are fenced by the pointer version (`version <= v`), so a slow
 * caller acting on an old pointer can never delete a claim made under a newer one.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, PutCommand, UpdateCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { allocate, parseCidr, subnets, type Subnets } from '../../core/cidr.ts';
import { ConflictError, LimitError, SkiffError, ValidationError } from '../../core/errors.ts';
import { hash32 } from '../../core/random.ts';
import type { SubnetAllocator, SubnetLease } from '../../ports/network.ts';
import { dynamoCall, dynamoGet, dynamoQueryAll } from './dynamo-calls.ts';

export interface DynamoSubnetStoreOptions {
  /** The cluster's table (`tableDefinition()` in local/dynalite.ts, or the CDK stack's). */
  readonly tableName: string;
  /** The network all host subnets are carved from, `10.200.0.0/16`. It must not overlap the VPC. */
  readonly clusterCidr: string;
  /**
   * Prefix length of each host's subnet.
   * @default 24 (253 containers per host)
   */
  readonly hostPrefixLength?: number;
}

const OPTION_KEYS = new Set(['tableName', 'clusterCidr', 'hostPrefixLength']);

const SUBNET_SK = 'SUBNET';
const HOLDER_SK = 'SUBNETHOLDER';
/** `gsi1` partition listing every subnet item; its sort key `<hostId>#<cidr>` finds a host's items. */
const SUBNETS_INDEX_PK = 'SUBNETS';
/**
 * Rounds of acquire before giving up with a retryable `ConflictError`. A round is one decision on a
 * fresh read; each lost race teaches the caller one more held subnet, so 10 hosts racing for the
 * same free subnets need at most about 10 rounds each; 40 leaves room for pointer races on top.
 */
const MAX_ROUNDS = 40;
const RELEASE_ATTEMPTS = 5;

type Item = Record<string, unknown>;

interface Pointer {
  readonly cidr?: string;
  readonly version: number;
  /** Set by `release`: the host holds nothing (a tombstone, kept so versions never restart). */
  readonly released: boolean;
}

interface Claim {
  readonly hostId: string;
  readonly version: number;
}

/** Host subnets in the cluster's DynamoDB table (a plain `DynamoDBClient`, wrapped here in a document client). */
export class DynamoSubnetStore implements SubnetAllocator {
  private readonly doc: DynamoDBDocumentClient;
  private readonly table: string;
  private readonly plan: Subnets;

  constructor(client: DynamoDBClient, options: DynamoSubnetStoreOptions) {
    const unknown = Object.keys(options).filter((k) => !OPTION_KEYS.has(k));
    if (unknown.length > 0) throw new SkiffError(`DynamoSubnetStore: unknown option(s) ${unknown.join(', ')}`);
    if (!options.tableName) throw new SkiffError('DynamoSubnetStore: tableName is required');
    const hostPrefix = options.hostPrefixLength ?? 24;
    // Refuse a plan that cannot hold a container now, not at the first acquire.
    allocate(options.clusterCidr, hostPrefix, []);
    this.plan = subnets(options.clusterCidr, hostPrefix);
    this.table = options.tableName;
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  async acquire(hostId: string): Promise<string> {
    checkHostId(hostId);
    const lost = new Set<string>(); // subnets this call saw held by other hosts
    let pointer = await this.getPointer(hostId);
    for (let round = 1; round <= MAX_ROUNDS; round++) {
      if (pointer === undefined || pointer.released) {
        // A new host, or one released before: record the intent first (keeping the old subnet if still free).
        const cidr = pointer?.cidr ?? (await this.choose(hostId, lost));
        pointer = await this.movePointer(hostId, pointer, cidr);
        continue;
      }
      const cidr = pointer.cidr!;
      const claim = await this.getClaim(cidr);
      if (claim?.hostId === hostId && claim.version === pointer.version) return cidr;
      if (claim?.hostId === hostId && claim.version > pointer.version) {
        // A concurrent acquire of this host got further than our read of the pointer: follow it.
        pointer = await this.getPointer(hostId);
        continue;
      }
      if ((claim !== undefined && claim.hostId !== hostId) || this.plan.indexOf(cidr) === undefined) {
        // Held by another host (or left from another cluster CIDR setting): aim at another subnet.
        lost.add(cidr);
        pointer = await this.movePointer(hostId, pointer, await this.choose(hostId, lost));
        continue;
      }
      // Free, or ours under an older pointer version: claim it under the current one.
      if (!(await this.claim(hostId, cidr, pointer.version))) {
        pointer = await this.getPointer(hostId);
        continue;
      }
      // The pointer may have moved while we claimed (a concurrent acquire or release of this host):
      // the claim counts only if it is still the pointer's; otherwise undo it, fenced by our version.
      const now = await this.getPointer(hostId);
      if (now !== undefined && !now.released && now.version === pointer.version) return cidr;
      await this.unclaim(hostId, cidr, pointer.version);
      pointer = now;
    }
    throw new ConflictError(`could not settle a subnet for host ${hostId} in ${MAX_ROUNDS} rounds of concurrent changes; retry`);
  }

  async release(hostId: string): Promise<void> {
    checkHostId(hostId);
    for (let attempt = 1; ; attempt++) {
      const pointer = await this.getPointer(hostId);
      const stray = await this.claimsOf(hostId);
      if ((pointer === undefined || pointer.released) && stray.length === 0) return;
      // Tombstone first: from here a claim made under an older version is ours to delete, and an
      // acquire racing with us moves to a newer version that these deletes cannot touch.
      let tombstone: Pointer;
      try {
        tombstone = await this.writePointer(hostId, pointer, { cidr: pointer?.cidr, released: true });
      } catch (err) {
        if (err instanceof ConflictError && attempt < RELEASE_ATTEMPTS) continue;
        throw err;
      }
      const cidrs = new Set([...(pointer?.cidr === undefined ? [] : [pointer.cidr]), ...stray]);
      for (const cidr of cidrs) await this.unclaim(hostId, cidr, tombstone.version);
      return;
    }
  }

  async list(): Promise<SubnetLease[]> {
    const items = await this.queryAll(
      { TableName: this.table, IndexName: 'gsi1', KeyConditionExpression: 'gsi1pk = :p', ExpressionAttributeValues: { ':p': SUBNETS_INDEX_PK } },
      'subnets',
    );
    return items
      .map((i) => ({ hostId: String(i.hostId), cidr: String(i.cidr), routed: i.routed === true }))
      .sort((a, b) => parseCidr(a.cidr).address - parseCidr(b.cidr).address || a.cidr.localeCompare(b.cidr));
  }

  async markRouted(hostId: string, cidr: string): Promise<boolean> {
    checkHostId(hostId);
    parseCidr(cidr);
    try {
      // Conditional on the holder: a subnet released and claimed by another host meanwhile stays unrouted.
      await this.call('UpdateItem', `subnet ${cidr}`, () =>
        this.doc.send(
          new UpdateCommand({
            TableName: this.table,
            Key: subnetKey(cidr),
            UpdateExpression: 'SET #routed = :t',
            ConditionExpression: '#hostId = :h',
            ExpressionAttributeNames: { '#routed': 'routed', '#hostId': 'hostId' },
            ExpressionAttributeValues: { ':t': true, ':h': hostId },
          }),
        ),
      );
      return true;
    } catch (err) {
      if (err instanceof ConflictError) return false;
      throw err;
    }
  }

  // ---- steps ----

  /** A free subnet by the index (eventually consistent: a stale read only costs a lost claim and another round). */
  private async choose(hostId: string, lost: ReadonlySet<string>): Promise<string> {
    const held = new Set((await this.list()).map((l) => l.cidr));
    for (const cidr of lost) held.add(cidr);
    // Start at a hash of the host id, so hosts registering together mostly aim at different subnets.
    const cidr = allocate(this.plan.cluster, this.plan.prefixLength, held, hash32(hostId));
    if (cidr === undefined) {
      throw new LimitError(
        `no free /${this.plan.prefixLength} host subnet in cluster CIDR ${this.plan.cluster}: all ${this.plan.count} are held; ` +
          'release the subnets of terminated hosts, or use a larger cluster CIDR or a longer host prefix',
      );
    }
    return cidr;
  }

  /** Point the host at `cidr` (a new pointer version); on a lost race, return the pointer as it now is. */
  private async movePointer(hostId: string, previous: Pointer | undefined, cidr: string): Promise<Pointer | undefined> {
    try {
      return await this.writePointer(hostId, previous, { cidr, released: false });
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      return this.getPointer(hostId);
    }
  }

  private async writePointer(hostId: string, previous: Pointer | undefined, next: { cidr: string | undefined; released: boolean }): Promise<Pointer> {
    const pointer: Pointer = { cidr: next.cidr, version: (previous?.version ?? 0) + 1, released: next.released };
    await this.call(
      'PutItem',
      `subnet pointer of host ${hostId}`,
      () =>
        this.doc.send(
          new PutCommand({
            TableName: this.table,
            Item: { ...holderKey(hostId), type: 'subnet-holder', hostId, ...pointer },
            ...(previous === undefined
              ? { ConditionExpression: 'attribute_not_exists(pk)' }
              : {
                  ConditionExpression: '#version = :v',
                  ExpressionAttributeNames: { '#version': 'version' },
                  ExpressionAttributeValues: { ':v': previous.version },
                }),
          }),
        ),
      `subnet pointer of host ${hostId} changed concurrently`,
    );
    return pointer;
  }

  /**
   * Claim `cidr` for the host under pointer `version`: only if nobody holds it, or this host does
   * under a version not newer. False when the condition fails (another holder, or a newer claim).
   */
  private async claim(hostId: string, cidr: string, version: number): Promise<boolean> {
    try {
      await this.call('PutItem', `subnet ${cidr}`, () =>
        this.doc.send(
          new PutCommand({
            TableName: this.table,
            Item: { ...subnetKey(cidr), type: 'subnet', cidr, hostId, version, gsi1pk: SUBNETS_INDEX_PK, gsi1sk: `${hostId}#${cidr}` },
            ConditionExpression: 'attribute_not_exists(pk) OR (#hostId = :h AND #version <= :v)',
            ExpressionAttributeNames: { '#hostId': 'hostId', '#version': 'version' },
            ExpressionAttributeValues: { ':h': hostId, ':v': version },
          }),
        ),
      );
      return true;
    } catch (err) {
      if (err instanceof ConflictError) return false;
      throw err;
    }
  }

  /** Delete the host's claim of `cidr` made under `version` or older; leaves another host's claim and newer ones alone. */
  private async unclaim(hostId: string, cidr: string, version: number): Promise<void> {
    try {
      await this.call('DeleteItem', `subnet ${cidr}`, () =>
        this.doc.send(
          new DeleteCommand({
            TableName: this.table,
            Key: subnetKey(cidr),
            ConditionExpression: '#hostId = :h AND #version <= :v',
            ExpressionAttributeNames: { '#hostId': 'hostId', '#version': 'version' },
            ExpressionAttributeValues: { ':h': hostId, ':v': version },
          }),
        ),
      );
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
    }
  }

  private async getPointer(hostId: string): Promise<Pointer | undefined> {
    const item = await this.get(holderKey(hostId), `subnet pointer of host ${hostId}`);
    if (item === undefined) return undefined;
    return { ...(typeof item.cidr === 'string' ? { cidr: item.cidr } : {}), version: Number(item.version), released: item.released === true };
  }

  private async getClaim(cidr: string): Promise<Claim | undefined> {
    const item = await this.get(subnetKey(cidr), `subnet ${cidr}`);
    return item && { hostId: String(item.hostId), version: Number(item.version) };
  }

  /** The subnets the index shows held by the host (its claim, and any left by a crash mid-undo). */
  private async claimsOf(hostId: string): Promise<string[]> {
    const items = await this.queryAll(
      {
        TableName: this.table,
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :p AND begins_with(gsi1sk, :h)',
        ExpressionAttributeValues: { ':p': SUBNETS_INDEX_PK, ':h': `${hostId}#` },
      },
      `subnets of host ${hostId}`,
    );
    return items.map((i) => String(i.cidr));
  }

  private get(key: Item, label: string): Promise<Item | undefined> {
    return dynamoGet(this.doc, this.table, key, label);
  }

  private queryAll(input: QueryCommandInput, label: string): Promise<Item[]> {
    return dynamoQueryAll(this.doc, this.table, input, label);
  }

  /** Run one SDK call; its failure becomes a domain error (see dynamo-errors.ts). */
  private call<T>(op: string, label: string, send: () => Promise<T>, conflict?: string): Promise<T> {
    return dynamoCall(this.table, op, label, send, conflict);
  }
}

function checkHostId(hostId: string): void {
  if (typeof hostId !== 'string' || hostId === '' || hostId.includes('#')) {
    // '#' ends the host id in the index sort key `<hostId>#<cidr>`: `a#b` would see `a`'s subnets.
    throw new ValidationError([{ path: 'hostId', message: `must be a non-empty string without "#" (got ${JSON.stringify(hostId)})` }]);
  }
}

const subnetKey = (cidr: string) => ({ pk: `SUBNET#${cidr}`, sk: SUBNET_SK });
const holderKey = (hostId: string) => ({ pk: `SUBNETHOLDER#${hostId}`, sk: HOLDER_SK });
