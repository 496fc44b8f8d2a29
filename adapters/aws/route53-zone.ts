/**
 * The cluster's DNS zone on Route 53. `sync(desired)` makes the A and SRV record sets below the
 * zone equal `desired` and leaves everything else in the hosted zone alone.
 *
 * Route 53's limits shape every call (sources in docs/discovery.md):
 * - a ChangeResourceRecordSets request carries at most 1,000 ResourceRecord elements and 32,000
 *   characters of values, an UPSERT counting twice: changes are packed into batches under both;
 * - a record set holds at most 400 values (Route 53's quota on values in a record), and at most
 *   half of a request's characters (16,000), or it could never be UPSERTed: a larger set is
 *   capped to a deterministic subset and reported `capped`;
 * - a request is all or nothing: when Route 53 refuses a batch even after a fresh listing, the
 *   batch is split in halves until the refused sets stand alone; they are reported `rejected`,
 *   every other set is applied, and the refused ones are sent apart on later syncs;
 * - a hosted zone processes one change at a time (`PriorRequestNotComplete`), and the account
 *   has a request rate (`Throttling`): calls are paced, and both errors are retried with
 *   exponential backoff and full jitter;
 * - every call counts against the account's rate, so a sync that changes nothing sends nothing:
 *   the adapter diffs against the zone as it last saw it and lists the zone again only when that
 *   view is older than `cacheMs` or a change was refused because the view was stale.
 *
 * Inject a Route53Client built with `maxAttempts: 1`: this adapter paces and retries itself, and
 * the SDK's own retries would multiply its attempts and bypass the pacing.
 */
import {
  ChangeResourceRecordSetsCommand,
  ListResourceRecordSetsCommand,
  type Change,
  type ResourceRecordSet,
  type Route53Client,
} from '@aws-sdk/client-route-53';
import { compareRecordSets } from '../../core/discovery.ts';
import { createHash } from 'node:crypto';
import { SkiffError, ValidationError, type FieldIssue } from '../../core/errors.ts';
import type { DnsRecordSet, DnsSetFailure, DnsZone } from '../../ports/index.ts';
import { classifySdkError, isAccessDenied, sdkErrorCode, sdkErrorMessage, serviceErrors } from './sdk-errors.ts';

/** Route 53's own names; everything else is read by the shared classifier. */
export const ROUTE53_ERRORS = serviceErrors({
  // A change to the zone is still in progress: retryable, reported as `busy`.
  temporary: ['PriorRequestNotComplete'],
  'not-found': ['NoSuchHostedZone'],
  fatal: ['InvalidChangeBatch', 'InvalidInput'],
});

/** Route 53: "A request cannot contain more than 1,000 ResourceRecord elements" (an UPSERT's count twice). */
export const ROUTE53_MAX_RECORDS_PER_BATCH = 1000;
/** Route 53: the values of a request may total at most 32,000 characters (an UPSERT's count twice). */
export const ROUTE53_MAX_CHARS_PER_BATCH = 32_000;
/** Route 53's quota "Values in a record: 400 per record" (Quotas on records). */
export const ROUTE53_MAX_VALUES_PER_SET = 400;
/**
 * 200 ms between calls = 5 requests per second: the per-account rate Route 53 documented for
 * years. Its newer token bucket allows 10 per second (burst 50), shared with every other caller
 * in the account (console, CDK, other tools), so half of it is Skiff's share.
 */
const DEFAULT_MIN_INTERVAL_MS = 200;
/** ListResourceRecordSets returns at most 300 record sets per page. */
const LIST_PAGE = 300;
const MAX_TTL = 2_147_483_647;
const MAX_BACKOFF_MS = 10_000;

export type DnsZoneFailure = 'throttled' | 'busy' | 'unavailable' | 'rejected' | 'denied' | 'no-zone';

/**
 * The zone could not be brought to the desired records. `throttled` (request rate), `busy` (a
 * change to the zone still in progress) and `unavailable` (5xx, network) are retryable: the next
 * pass tries again. `rejected` (Route 53 refused the change), `denied` (IAM) and `no-zone` (no
 * such hosted zone) need a person.
 */
export class DnsZoneError extends SkiffError {
  override readonly status: number;
  override readonly retryable: boolean;
  readonly reason: DnsZoneFailure;
  constructor(reason: DnsZoneFailure, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DnsZoneError';
    this.reason = reason;
    this.retryable = reason === 'throttled' || reason === 'busy' || reason === 'unavailable';
    this.status = this.retryable ? 503 : 500;
  }
}

export interface Route53ZoneOptions {
  /** The hosted zone, `Z...` or `/hostedzone/Z...`. */
  readonly hostedZoneId: string;
  /** The DNS name Skiff owns, without the trailing dot: the hosted zone's name or a name below it. */
  readonly zone: string;
  /** @default 1000 (ROUTE53_MAX_RECORDS_PER_BATCH) */
  readonly maxRecordsPerBatch?: number;
  /** @default 32000 (ROUTE53_MAX_CHARS_PER_BATCH) */
  readonly maxCharsPerBatch?: number;
  /** The least time between the starts of two calls, retries included. @default 200 (5 requests/s) */
  readonly minIntervalMs?: number;
  /** Attempts per call when throttled, busy or unavailable. @default 8 */
  readonly maxAttempts?: number;
  /** First backoff ceiling; doubles per attempt up to 10 s; the wait is random below it (full jitter). @default 250 */
  readonly baseDelayMs?: number;
  /** How long the adapter trusts its own view of the zone before listing it again. @default 60000 */
  readonly cacheMs?: number;
  /**
   * No new change batch is started after a sync has run this long: the rest is left for the next
   * sync (`unfinished`). The zone takes one change at a time (each PENDING for up to 60 s), so a
   * sync of N changes takes about N / 1,000 × PENDING; the scheduler function, which runs the sync
   * after each pass, would otherwise hold its next pass that long (docs/scale.md). At least one
   * batch is sent per sync. @default no limit
   */
  readonly maxSyncMs?: number;
  /** Waits (tests pass a recording one). @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Jitter source in [0, 1). @default Math.random */
  readonly random?: () => number;
  /** A monotonic clock in milliseconds, for pacing and the cache. @default performance.now */
  readonly now?: () => number;
}

const OPTION_KEYS = new Set([
  'hostedZoneId',
  'zone',
  'maxRecordsPerBatch',
  'maxCharsPerBatch',
  'minIntervalMs',
  'maxAttempts',
  'baseDelayMs',
  'cacheMs',
  'maxSyncMs',
  'sleep',
  'random',
  'now',
]);

/** A record set as it is in Route 53: `values` compare with `DnsRecordSet`s, `wire` is what Route 53 holds. */
interface ZoneRecord {
  readonly name: string;
  readonly type: 'A' | 'SRV';
  readonly ttl: number;
  readonly values: readonly string[];
  readonly wire: readonly string[];
}

type Action = 'CREATE' | 'UPSERT' | 'DELETE';

/** What a sync did: changes applied, and the sets not held as desired (each failed alone). */
export interface DnsSyncResult {
  readonly changed: number;
  readonly failed: readonly DnsSetFailure[];
  /** Changes not sent because the sync ran past `maxSyncMs`: the next sync sends them. */
  readonly unfinished?: number;
}

/** Desired records, checked and keyed, with the sets capped on the way. */
interface Wanted {
  readonly records: Map<string, ZoneRecord>;
  readonly capped: readonly DnsSetFailure[];
}

interface PlannedChange {
  readonly action: Action;
  readonly record: ZoneRecord;
  /** ResourceRecord elements and value characters as Route 53 counts them (an UPSERT twice). */
  readonly records: number;
  readonly chars: number;
}

/** Skiff's records in a Route 53 hosted zone; see the module comment for how it respects Route 53's limits. */
export class Route53Zone implements DnsZone {
  private readonly hostedZoneId: string;
  private readonly zone: string;
  private readonly maxRecords: number;
  private readonly maxChars: number;
  private readonly minIntervalMs: number;
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly cacheMs: number;
  private readonly maxSyncMs: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;
  private readonly now: () => number;

  /** Skiff's records as the zone held them after the last list or accepted change; dropped on any doubt. */
  private view: { readonly listedAt: number; readonly records: Map<string, ZoneRecord> } | undefined;
  private lastCallAt = Number.NEGATIVE_INFINITY;
  private running: Promise<DnsSyncResult> | undefined;
  private queued: { desired: Wanted; promise: Promise<DnsSyncResult>; resolve: (v: DnsSyncResult) => void; reject: (e: unknown) => void } | undefined;
  /**
   * Changes Route 53 refused on their own, by record key, as `changeSignature`: sent alone (and
   * last) while they stay the same, so that one bad set costs one request per sync, not a
   * refused batch, a listing and a bisection.
   */
  private readonly refused = new Map<string, string>();

  constructor(
    private readonly client: Route53Client,
    options: Route53ZoneOptions,
  ) {
    const unknown = Object.keys(options ?? {}).filter((k) => !OPTION_KEYS.has(k));
    if (unknown.length > 0) throw new TypeError(`Route53Zone: unknown option(s) ${unknown.join(', ')}`);
    if (typeof options.hostedZoneId !== 'string' || !/^(\/?hostedzone\/)?[A-Z0-9]{1,32}$/.test(options.hostedZoneId)) {
      throw new TypeError(`Route53Zone: hostedZoneId must be a hosted zone id such as Z0123456789ABC, got ${JSON.stringify(options.hostedZoneId)}`);
    }
    this.hostedZoneId = options.hostedZoneId.replace(/^\/?hostedzone\//, '');
    if (typeof options.zone !== 'string' || !/^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)+$/.test(options.zone)) {
      throw new TypeError(
        `Route53Zone: zone must be a lowercase DNS name without the trailing dot, such as skiff.internal; got ${JSON.stringify(options.zone)}`,
      );
    }
    this.zone = options.zone;
    this.maxRecords = positiveInt('maxRecordsPerBatch', options.maxRecordsPerBatch ?? ROUTE53_MAX_RECORDS_PER_BATCH, ROUTE53_MAX_RECORDS_PER_BATCH);
    this.maxChars = positiveInt('maxCharsPerBatch', options.maxCharsPerBatch ?? ROUTE53_MAX_CHARS_PER_BATCH, ROUTE53_MAX_CHARS_PER_BATCH);
    this.minIntervalMs = nonNegative('minIntervalMs', options.minIntervalMs ?? DEFAULT_MIN_INTERVAL_MS);
    this.maxAttempts = positiveInt('maxAttempts', options.maxAttempts ?? 8, 100);
    this.baseDelayMs = nonNegative('baseDelayMs', options.baseDelayMs ?? 250);
    this.cacheMs = nonNegative('cacheMs', options.cacheMs ?? 60_000);
    this.maxSyncMs = options.maxSyncMs === undefined ? Number.POSITIVE_INFINITY : nonNegative('maxSyncMs', options.maxSyncMs);
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.random = options.random ?? Math.random;
    this.now = options.now ?? (() => performance.now());
  }

  /**
   * Make Skiff's records equal `desired`. Calls made while one is running are coalesced: only
   * the newest desired set is applied after it, and every waiting caller gets that result.
   */
  sync(desired: readonly DnsRecordSet[]): Promise<DnsSyncResult> {
    let wanted: Wanted;
    try {
      wanted = this.checkDesired(desired);
    } catch (err) {
      return Promise.reject(err);
    }
    if (!this.running) return this.start(wanted);
    if (this.queued) {
      this.queued.desired = wanted;
      return this.queued.promise;
    }
    let resolve!: (v: DnsSyncResult) => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<DnsSyncResult>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.queued = { desired: wanted, promise, resolve, reject };
    return promise;
  }

  private start(wanted: Wanted): Promise<DnsSyncResult> {
    const run = this.apply(wanted).finally(() => {
      this.running = undefined;
      const next = this.queued;
      this.queued = undefined;
      if (next) this.start(next.desired).then(next.resolve, next.reject);
    });
    this.running = run;
    return run;
  }

  private async apply(wanted: Wanted): Promise<DnsSyncResult> {
    const startedAt = this.now();
    let sent = 0;
    let changed = 0;
    const rejected = new Map<string, DnsSetFailure>();
    // A refused batch usually means the view was stale (someone else changed the zone): list it
    // again and replan; a batch refused against a fresh listing is split until the refused sets
    // stand alone (isolate).
    for (let attempt = 1; ; attempt++) {
      const isolate = attempt > 1;
      const current = await this.current(isolate);
      // Forget refusals of sets that are neither wanted nor in the zone any more.
      for (const k of this.refused.keys()) if (!wanted.records.has(k) && !current.has(k)) this.refused.delete(k);
      // A set already refused alone in this sync is not sent again.
      const plan = this.plan(current, wanted.records).filter((c) => !rejected.has(recordKey(c.record)));
      let stale = false;
      let unfinished = 0;
      try {
        for (const batch of this.batches(plan)) {
          // Out of time: what is left waits for the next sync, which plans it again from the zone.
          if (unfinished > 0 || (sent > 0 && this.now() - startedAt >= this.maxSyncMs)) {
            unfinished += batch.length;
            continue;
          }
          sent++;
          if (isolate || (batch.length === 1 && this.isRefused(batch[0]))) {
            changed += await this.sendIsolating(batch, current, rejected);
            continue;
          }
          try {
            await this.send(batch);
          } catch (err) {
            if (err instanceof DnsZoneError && err.reason === 'rejected') {
              stale = true;
              break;
            }
            throw err;
          }
          changed += this.applied(batch, current);
        }
      } catch (err) {
        this.view = undefined;
        throw err;
      }
      if (!stale) return { changed, failed: [...wanted.capped, ...[...rejected.values()].sort(byNameAndType)], ...(unfinished > 0 ? { unfinished } : {}) };
      this.view = undefined;
    }
  }

  /**
   * Sends `batch`; when Route 53 refuses it, sends each half in turn, down to single changes: k
   * refused sets among n cost about 2k·log2(n) requests instead of n. A refused single change is
   * recorded in `rejected` and remembered in `refused`; every other change is applied.
   */
  private async sendIsolating(batch: readonly PlannedChange[], current: Map<string, ZoneRecord>, rejected: Map<string, DnsSetFailure>): Promise<number> {
    try {
      await this.send(batch);
    } catch (err) {
      if (!(err instanceof DnsZoneError) || err.reason !== 'rejected') throw err;
      if (batch.length === 1) {
        const c = batch[0];
        const key = recordKey(c.record);
        this.refused.set(key, changeSignature(c));
        rejected.set(key, {
          name: c.record.name,
          type: c.record.type,
          reason: 'rejected',
          message: `Route 53 refused to ${c.action} ${c.record.type} ${c.record.name}: ${sdkErrorMessage(err.cause)}`,
        });
        return 0;
      }
      const half = Math.ceil(batch.length / 2);
      return (await this.sendIsolating(batch.slice(0, half), current, rejected)) + (await this.sendIsolating(batch.slice(half), current, rejected));
    }
    return this.applied(batch, current);
  }

  /** Records an accepted batch in the view; returns how many changes it held. */
  private applied(batch: readonly PlannedChange[], current: Map<string, ZoneRecord>): number {
    for (const c of batch) {
      const key = recordKey(c.record);
      if (c.action === 'DELETE') current.delete(key);
      else current.set(key, c.record);
      this.refused.delete(key);
    }
    return batch.length;
  }

  /** Skiff's records in the zone: the view when fresh, else listed anew. The map is the view itself. */
  private async current(forceList: boolean): Promise<Map<string, ZoneRecord>> {
    if (!forceList && this.view && this.now() - this.view.listedAt < this.cacheMs) return this.view.records;
    const listedAt = this.now();
    const records = await this.list();
    this.view = { listedAt, records };
    return records;
  }

  /**
   * Lists from the zone's apex on. Route 53 sorts by name with its labels reversed, so the apex
   * and everything below it come together; the first name outside ends the listing.
   */
  private async list(): Promise<Map<string, ZoneRecord>> {
    const out = new Map<string, ZoneRecord>();
    let start: { name: string; type?: string; identifier?: string } | undefined = { name: `${this.zone}.` };
    while (start) {
      const page = await this.call('ListResourceRecordSets', () =>
        this.client.send(
          new ListResourceRecordSetsCommand({
            HostedZoneId: this.hostedZoneId,
            StartRecordName: start!.name,
            ...(start!.type ? { StartRecordType: start!.type as ResourceRecordSet['Type'] } : {}),
            ...(start!.identifier ? { StartRecordIdentifier: start!.identifier } : {}),
            MaxItems: LIST_PAGE,
          }),
        ),
      );
      for (const set of page.ResourceRecordSets ?? []) {
        const name = fromWireName(set.Name ?? '');
        if (name !== this.zone && !name.endsWith(`.${this.zone}`)) return out;
        const record = this.owned(name, set);
        if (record) out.set(recordKey(record), record);
      }
      start =
        page.IsTruncated && page.NextRecordName
          ? {
              name: page.NextRecordName,
              ...(page.NextRecordType ? { type: page.NextRecordType } : {}),
              ...(page.NextRecordIdentifier ? { identifier: page.NextRecordIdentifier } : {}),
            }
          : undefined;
    }
    return out;
  }

  /**
   * Skiff owns the A and SRV records strictly below the zone, in simple routing. The apex (SOA,
   * NS, anything people put there), other types and routing-policy records are not Skiff's.
   */
  private owned(name: string, set: ResourceRecordSet): ZoneRecord | undefined {
    if (name === this.zone || (set.Type !== 'A' && set.Type !== 'SRV')) return undefined;
    if (set.SetIdentifier !== undefined || set.AliasTarget !== undefined || set.TTL === undefined) return undefined;
    const wire = (set.ResourceRecords ?? []).map((r) => r.Value ?? '');
    const values = set.Type === 'SRV' ? wire.map((v) => v.replace(/\.$/, '')) : wire;
    return { name, type: set.Type, ttl: set.TTL, values, wire };
  }

  /** The changes from `current` to `wanted`: creations first, then updates, then deletions, so names appear before old ones go. */
  private plan(current: Map<string, ZoneRecord>, wanted: Map<string, ZoneRecord>): PlannedChange[] {
    const creates: PlannedChange[] = [];
    const upserts: PlannedChange[] = [];
    const deletes: PlannedChange[] = [];
    for (const [k, w] of wanted) {
      const c = current.get(k);
      // CREATE counts once against the batch limits where UPSERT counts twice; a stale view that
      // makes a CREATE collide is handled by the re-list in apply.
      if (!c) creates.push(planned('CREATE', w));
      else if (c.ttl !== w.ttl || !sameValues(c.values, w.values)) upserts.push(planned('UPSERT', w));
    }
    for (const [k, c] of current) if (!wanted.has(k)) deletes.push(planned('DELETE', c));
    const byName = (a: PlannedChange, b: PlannedChange): number => compareRecordSets(a.record, b.record);
    return [...creates.sort(byName), ...upserts.sort(byName), ...deletes.sort(byName)];
  }

  /** True when Route 53 refused this very change on its own before. */
  private isRefused(c: PlannedChange): boolean {
    return this.refused.get(recordKey(c.record)) === changeSignature(c);
  }

  /**
   * Packs changes in order into batches within both request limits; a change Route 53 refused
   * before goes alone, after the others. Every change fits a request: checkDesired capped the
   * sets to half of each limit, and a set listed from the zone went in one request once (a
   * DELETE counts once).
   */
  private batches(plan: readonly PlannedChange[]): PlannedChange[][] {
    const out: PlannedChange[][] = [];
    const alone: PlannedChange[][] = [];
    let batch: PlannedChange[] = [];
    let records = 0;
    let chars = 0;
    for (const c of plan) {
      if (this.isRefused(c)) {
        alone.push([c]);
        continue;
      }
      if (batch.length > 0 && (records + c.records > this.maxRecords || chars + c.chars > this.maxChars)) {
        out.push(batch);
        batch = [];
        records = 0;
        chars = 0;
      }
      batch.push(c);
      records += c.records;
      chars += c.chars;
    }
    if (batch.length > 0) out.push(batch);
    return [...out, ...alone];
  }

  private async send(batch: readonly PlannedChange[]): Promise<void> {
    const changes: Change[] = batch.map((c) => ({
      Action: c.action,
      ResourceRecordSet: { Name: `${c.record.name}.`, Type: c.record.type, TTL: c.record.ttl, ResourceRecords: c.record.wire.map((Value) => ({ Value })) },
    }));
    await this.call('ChangeResourceRecordSets', () =>
      this.client.send(
        new ChangeResourceRecordSetsCommand({ HostedZoneId: this.hostedZoneId, ChangeBatch: { Comment: 'skiff service discovery', Changes: changes } }),
      ),
    );
  }

  /** One Route 53 call: paced, and retried with backoff while throttled, busy or unavailable. */
  private async call<T>(op: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const wait = this.lastCallAt + this.minIntervalMs - this.now();
      if (wait > 0) await this.sleep(wait);
      this.lastCallAt = this.now();
      try {
        return await fn();
      } catch (err) {
        const reason = classify(err);
        const retryable = reason === 'throttled' || reason === 'busy' || reason === 'unavailable';
        if (!retryable || attempt >= this.maxAttempts) {
          const name = sdkErrorCode(err);
          const message = sdkErrorMessage(err);
          throw new DnsZoneError(
            reason,
            `Route 53 ${op} on hosted zone ${this.hostedZoneId} failed${retryable ? ` after ${attempt} attempts` : ''}: ${name}: ${message}`,
            { cause: err },
          );
        }
        const ceiling = Math.min(MAX_BACKOFF_MS, this.baseDelayMs * 2 ** (attempt - 1));
        await this.sleep(Math.floor(this.random() * ceiling));
      }
    }
  }

  /** Checks `desired` and keys it by name and type; every problem is reported at once. */
  private checkDesired(desired: readonly DnsRecordSet[]): Wanted {
    if (!Array.isArray(desired)) throw new ValidationError([{ path: 'desired', message: 'must be an array of DNS record sets' }]);
    const issues: FieldIssue[] = [];
    const out = new Map<string, ZoneRecord>();
    const capped: DnsSetFailure[] = [];
    desired.forEach((r, i) => {
      const at = `desired[${i}]`;
      const before = issues.length;
      if (typeof r?.name !== 'string' || !(r.name.endsWith(`.${this.zone}`) && /^[a-z0-9_.-]+$/.test(r.name))) {
        issues.push({ path: `${at}.name`, message: `must be a lowercase name below ${this.zone}, without the trailing dot; got ${JSON.stringify(r?.name)}` });
      }
      if (r?.type !== 'A' && r?.type !== 'SRV') issues.push({ path: `${at}.type`, message: `must be A or SRV, got ${JSON.stringify(r?.type)}` });
      if (!Number.isInteger(r?.ttl) || r.ttl < 0 || r.ttl > MAX_TTL)
        issues.push({ path: `${at}.ttl`, message: `must be an integer from 0 to ${MAX_TTL}, got ${String(r?.ttl)}` });
      const values: readonly string[] = Array.isArray(r?.values) ? r.values : [];
      if (values.length === 0) issues.push({ path: `${at}.values`, message: 'must hold at least one value' });
      if (new Set(values).size !== values.length) issues.push({ path: `${at}.values`, message: 'must not repeat a value' });
      for (const v of values) {
        if (r.type === 'A' && !isIpv4(v)) issues.push({ path: `${at}.values`, message: `${JSON.stringify(v)} is not an IPv4 address` });
        if (r.type === 'SRV' && !isSrv(v)) issues.push({ path: `${at}.values`, message: `${JSON.stringify(v)} is not "priority weight port target"` });
      }
      if (issues.length > before) return;
      const k = recordKey(r);
      if (out.has(k)) {
        issues.push({ path: `${at}`, message: `repeats the ${r.type} record set ${r.name}; give each name and type once, with all its values` });
        return;
      }
      const kept = this.cap(r, values);
      if (kept.length < values.length) {
        capped.push({
          name: r.name,
          type: r.type,
          reason: 'capped',
          message:
            `${r.type} ${r.name} has ${values.length} values (${wireChars(r.type, values)} characters); one record set may hold ` +
            `${this.maxSetRecords()} values and ${this.maxSetChars()} characters, so kept ${kept.length}`,
        });
      }
      const wire = r.type === 'SRV' ? kept.map((v: string) => `${v}.`) : [...kept];
      out.set(k, { name: r.name, type: r.type, ttl: r.ttl, values: kept, wire });
    });
    if (issues.length > 0) throw new ValidationError(issues);
    return { records: out, capped };
  }

  /** Values one set may hold: Route 53's quota, and half a request, so that an UPSERT of it (counted twice) still fits one. */
  private maxSetRecords(): number {
    return Math.min(ROUTE53_MAX_VALUES_PER_SET, Math.max(1, Math.floor(this.maxRecords / 2)));
  }

  private maxSetChars(): number {
    return Math.floor(this.maxChars / 2);
  }

  /**
   * The values of a set within what one set may hold: all of them when they fit; else the ones
   * with the lowest hash of name and value (rendezvous hashing) while they fit, in their given
   * order. Deterministic, spread over the replicas rather than the first in name order, and
   * stable: a replica that comes or goes changes the kept subset by at most that one value.
   */
  private cap(r: DnsRecordSet, values: readonly string[]): string[] {
    const maxRecords = this.maxSetRecords();
    const maxChars = this.maxSetChars();
    if (values.length <= maxRecords && wireChars(r.type, values) <= maxChars) return [...values];
    const ranked = values
      .map((v) => ({ v, rank: createHash('sha256').update(`${r.name} ${v}`).digest('hex') }))
      .sort((x, y) => (x.rank < y.rank ? -1 : x.rank > y.rank ? 1 : 0));
    const keep = new Set<string>();
    let chars = 0;
    for (const { v } of ranked) {
      if (keep.size >= maxRecords) break;
      const n = wireChars(r.type, [v]);
      if (chars + n > maxChars) continue;
      keep.add(v);
      chars += n;
    }
    return values.filter((v) => keep.has(v));
  }
}

function planned(action: Action, record: ZoneRecord): PlannedChange {
  const weight = action === 'UPSERT' ? 2 : 1;
  return { action, record, records: record.wire.length * weight, chars: record.wire.reduce((n, v) => n + v.length, 0) * weight };
}

/** Characters the values take in a request: an SRV target is written with its trailing dot. */
function wireChars(type: 'A' | 'SRV', values: readonly string[]): number {
  return values.reduce((n, v) => n + v.length + (type === 'SRV' ? 1 : 0), 0);
}

/** A change as Route 53 would judge it: the same signature is refused the same way. */
function changeSignature(c: PlannedChange): string {
  return `${c.action} ${c.record.ttl} ${[...c.record.wire].sort().join(' ')}`;
}

function byNameAndType(a: { name: string; type: string }, b: { name: string; type: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : a.type < b.type ? -1 : a.type > b.type ? 1 : 0;
}

function recordKey(r: { name: string; type: string }): string {
  return `${r.name} ${r.type}`;
}

function sameValues(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const sa = [...a].sort();
  const sb = [...b].sort();
  return sa.every((v, i) => v === sb[i]);
}

/** Route 53 names end with a dot and escape unusual characters as `\ddd` (octal). */
function fromWireName(name: string): string {
  return name
    .replace(/\\(\d{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)))
    .replace(/\.$/, '')
    .toLowerCase();
}

function isIpv4(v: unknown): boolean {
  if (typeof v !== 'string') return false;
  const parts = v.split('.');
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

function isSrv(v: unknown): boolean {
  if (typeof v !== 'string') return false;
  const parts = v.split(' ');
  return parts.length === 4 && parts.slice(0, 3).every((p) => /^\d{1,5}$/.test(p) && Number(p) <= 65535) && /^[a-z0-9_-]+(\.[a-z0-9_-]+)+$/.test(parts[3]);
}

/** What the caller can do about a failed call, from the one SDK error classifier. */
function classify(err: unknown): DnsZoneFailure {
  if (isAccessDenied(err)) return 'denied';
  switch (classifySdkError(err, ROUTE53_ERRORS)) {
    case 'throttled':
      return 'throttled';
    case 'temporary':
      return sdkErrorCode(err) === 'PriorRequestNotComplete' ? 'busy' : 'unavailable';
    case 'not-found':
      // The only resource a call names is the hosted zone.
      return 'no-zone';
    default:
      return 'rejected';
  }
}

function positiveInt(name: string, value: number, max: number): number {
  if (!Number.isInteger(value) || value < 1 || value > max)
    throw new TypeError(`Route53Zone: ${name} must be an integer from 1 to ${max}, got ${String(value)}`);
  return value;
}

function nonNegative(name: string, value: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
    throw new TypeError(`Route53Zone: ${name} must be a number >= 0, got ${String(value)}`);
  return value;
}
