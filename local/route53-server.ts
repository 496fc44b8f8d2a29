/**
 * A local stand-in for the subset of Amazon Route 53 that Skiff uses.
 *
 * It speaks Route 53's REST/XML protocol (API version 2013-04-01), so the real
 * `@aws-sdk/client-route-53` Route53Client runs against it with only `endpoint` set:
 * CreateHostedZone, GetHostedZone, ChangeResourceRecordSets, ListResourceRecordSets, GetChange.
 * It enforces the limits Skiff can hit, so that a design that would break on AWS breaks here
 * first: the change-batch limits (1,000 ResourceRecord elements and 32,000 value characters per
 * request, an UPSERT counting twice), one change in progress per hosted zone
 * (`PriorRequestNotComplete` while a change is PENDING), and the account's request rate
 * (`Throttling`). Sources for every number are in docs/discovery.md.
 *
 * Only simple routing is supported (no SetIdentifier, alias, health check or routing policy):
 * that is all Skiff writes, and a request that uses anything else is refused rather than
 * half-understood.
 *
 * The local DNS server (local/dns-server.ts) reads a zone through `records(zoneId)` and learns
 * of changes through `subscribe`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import type { DnsRecordSet } from '../ports/index.ts';
import {
  ApiError,
  checkRateLimit,
  checkStandInOptions,
  errorMessage,
  JsonFileStore,
  readBody,
  serveHttp,
  TokenBucket,
  type RateLimit,
  type StandInOptions,
} from './stand-in.ts';

export type { RateLimit };

export interface Route53Limits {
  /** Requests per second, all operations together (Route 53 throttles per account). `false`: never throttle. @default DEFAULT_ROUTE53_LIMITS.requests */
  readonly requests?: RateLimit | false;
  /** ResourceRecord elements per ChangeResourceRecordSets request (an UPSERT counts twice). @default 1000 */
  readonly recordsPerBatch?: number;
  /** Characters of all Value elements per request (an UPSERT counts twice). @default 32000 */
  readonly charsPerBatch?: number;
  /** Values in one record set (Route 53's quota "Values in a record"). @default 400 */
  readonly valuesPerSet?: number;
}

export interface Route53ServerOptions extends StandInOptions {
  /** How long a change stays PENDING before it is INSYNC; meanwhile the zone refuses further changes. @default 50 */
  readonly pendingMs?: number;
  /** Limits; a key left out keeps its AWS default. */
  readonly limits?: Route53Limits;
}

export interface HostedZoneInfo {
  /** The bare id (`Z...`), as `GetHostedZone` takes it. */
  readonly id: string;
  /** The zone's name without the trailing dot. */
  readonly name: string;
  readonly recordSetCount: number;
}

/** One accepted ChangeResourceRecordSets request, as the limits counted it. */
export interface AcceptedBatch {
  readonly zoneId: string;
  readonly changes: number;
  /** ResourceRecord elements, an UPSERT's counted twice. */
  readonly records: number;
  /** Value characters, an UPSERT's counted twice. */
  readonly chars: number;
}

export interface Route53Server {
  /** `http://host:port`, for the SDK client's `endpoint`. */
  readonly endpoint: string;
  readonly port: number;
  /** The hosted zones. */
  zones(): HostedZoneInfo[];
  /** The id of the hosted zone named `name`, created (with its SOA and NS records) when there is none. */
  ensureZone(name: string): Promise<string>;
  /**
   * The zone's A and SRV record sets, names without the trailing dot. The same array is returned
   * until the zone changes, so a reader may index it once per change.
   */
  records(zoneId: string): readonly DnsRecordSet[];
  /** Calls `listener(zoneId)` after every accepted change; returns the unsubscribe function. */
  subscribe(listener: (zoneId: string) => void): () => void;
  /** Requests received per operation (throttled and refused ones included: AWS counts them too). */
  counts(): Record<string, number>;
  /** Error responses sent, per error code. */
  errors(): Record<string, number>;
  /** Every accepted change batch, oldest first. */
  batches(): AcceptedBatch[];
  /** Stops listening, drops open connections and waits for the last write to the data file. */
  close(): Promise<void>;
}

/**
 * AWS's limits. `requests`: Route 53 documented "five requests per second per AWS account" for
 * years; its newer token-bucket model allows 10 per second with a burst of 50. The stand-in keeps
 * the stricter figure, so that local mode is throttled before AWS would be.
 */
export const DEFAULT_ROUTE53_LIMITS = {
  requests: { rate: 5, burst: 5 },
  recordsPerBatch: 1000,
  charsPerBatch: 32_000,
  valuesPerSet: 400,
} as const;

const XMLNS = 'https://route53.amazonaws.com/doc/2013-04-01/';
const API = '/2013-04-01';
const DATA_FORMAT = 'skiff-route53-local/1';
/** ListResourceRecordSets returns at most this many record sets per page (its `maxitems`). */
const MAX_LIST_ITEMS = 300;
/** Requests larger than this are not Route 53 requests (32,000 value characters fit many times over). */
const MAX_BODY_BYTES = 4 * 1024 * 1024;
const MAX_TTL = 2_147_483_647;
/** Record types the stand-in stores; Skiff writes A and SRV, tests add others to check Skiff leaves them alone. */
const TYPES = new Set(['A', 'AAAA', 'CAA', 'CNAME', 'MX', 'NS', 'PTR', 'SOA', 'SPF', 'SRV', 'TXT']);
/** ResourceRecordSet members of routing policies and aliases, which the stand-in does not model. */
const UNSUPPORTED_MEMBERS = [
  'SetIdentifier',
  'Weight',
  'Region',
  'GeoLocation',
  'Failover',
  'MultiValueAnswer',
  'HealthCheckId',
  'AliasTarget',
  'TrafficPolicyInstanceId',
  'CidrRoutingConfig',
  'GeoProximityLocation',
];
/** What Route 53 says while a zone's previous change is still being applied. */
const PRIOR_REQUEST_MESSAGE = 'The request was rejected because Route 53 was still processing a prior request.';

interface StoredRecordSet {
  /** Lowercase, with the trailing dot, as Route 53 returns names. */
  readonly name: string;
  readonly type: string;
  readonly ttl: number;
  readonly values: readonly string[];
}

interface StoredZone {
  readonly id: string;
  /** With the trailing dot. */
  readonly name: string;
  readonly callerReference: string;
  readonly comment?: string;
  readonly privateZone: boolean;
  /** Keyed by `name type`. */
  records: Map<string, StoredRecordSet>;
  /** Bumped on every change; `records()` rebuilds its answer when it moves. */
  version: number;
  /** When the zone's last change becomes INSYNC (performance.now() time). */
  busyUntil: number;
}

interface StoredChange {
  readonly id: string;
  readonly submittedAt: string;
  readonly comment?: string;
  /** performance.now() time at which the change reads INSYNC. */
  readonly insyncAt: number;
}

const OPTION_KEYS = new Set(['host', 'port', 'dataFile', 'pendingMs', 'limits']);
const LIMIT_KEYS = new Set(['requests', 'recordsPerBatch', 'charsPerBatch', 'valuesPerSet']);

/** Start the stand-in on 127.0.0.1 (port 0 = ephemeral). */
export async function startRoute53Server(opts: Route53ServerOptions = {}): Promise<Route53Server> {
  const { host, port, dataFile, pendingMs, limits } = checkOptions(opts);
  const state = new ZoneStore(dataFile, pendingMs);
  await state.load();
  const bucket = limits.requests === false ? undefined : TokenBucket.of(limits.requests);
  const counts: Record<string, number> = {};
  const errors: Record<string, number> = {};
  const http = await serveHttp(
    (req, res) => void handle(req, res, { state, bucket, counts, errors, limits }),
    host,
    port,
    () => state.flushed(),
  );
  return {
    endpoint: http.endpoint,
    port: http.port,
    zones: () => state.list(),
    ensureZone: (name) => state.ensureZone(name),
    records: (zoneId) => state.dnsRecords(zoneId),
    subscribe: (listener) => state.subscribe(listener),
    counts: () => ({ ...counts }),
    errors: () => ({ ...errors }),
    batches: () => state.accepted.slice(),
    close: http.close,
  };
}

interface CheckedOptions {
  host: string;
  port: number;
  dataFile: string | undefined;
  pendingMs: number;
  limits: { requests: RateLimit | false; recordsPerBatch: number; charsPerBatch: number; valuesPerSet: number };
}

function checkOptions(opts: Route53ServerOptions): CheckedOptions {
  const { host, port, dataFile } = checkStandInOptions('startRoute53Server', opts, OPTION_KEYS);
  const pendingMs = opts.pendingMs ?? 50;
  if (typeof pendingMs !== 'number' || !Number.isFinite(pendingMs) || pendingMs < 0) {
    throw new TypeError(`startRoute53Server: pendingMs must be a number of milliseconds >= 0, got ${String(pendingMs)}`);
  }
  const given = opts.limits ?? {};
  if (given === null || typeof given !== 'object') throw new TypeError('startRoute53Server: limits must be an object');
  const unknownLimits = Object.keys(given).filter((k) => !LIMIT_KEYS.has(k));
  if (unknownLimits.length > 0) {
    throw new TypeError(`startRoute53Server: unknown limits key(s) ${unknownLimits.join(', ')}; known: ${[...LIMIT_KEYS].join(', ')}`);
  }
  const requests = given.requests ?? DEFAULT_ROUTE53_LIMITS.requests;
  if (requests !== false) checkRateLimit('startRoute53Server', 'limits.requests', requests, true);
  const recordsPerBatch = given.recordsPerBatch ?? DEFAULT_ROUTE53_LIMITS.recordsPerBatch;
  const charsPerBatch = given.charsPerBatch ?? DEFAULT_ROUTE53_LIMITS.charsPerBatch;
  const valuesPerSet = given.valuesPerSet ?? DEFAULT_ROUTE53_LIMITS.valuesPerSet;
  for (const [k, v] of [
    ['recordsPerBatch', recordsPerBatch],
    ['charsPerBatch', charsPerBatch],
    ['valuesPerSet', valuesPerSet],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new TypeError(`startRoute53Server: limits.${k} must be an integer >= 1, got ${String(v)}`);
  }
  return { host, port, dataFile, pendingMs, limits: { requests, recordsPerBatch, charsPerBatch, valuesPerSet } };
}

interface Context {
  readonly state: ZoneStore;
  readonly bucket: TokenBucket | undefined;
  readonly counts: Record<string, number>;
  readonly errors: Record<string, number>;
  readonly limits: CheckedOptions['limits'];
}

interface Route {
  readonly op: string;
  readonly id?: string;
}

/** Which operation a request is, from its method and path (the REST binding of the 2013-04-01 API). */
function route(method: string, path: string): Route | undefined {
  if (!path.startsWith(`${API}/`)) return undefined;
  const parts = path
    .slice(API.length + 1)
    .split('/')
    .filter((p, i, all) => p !== '' || i < all.length - 1);
  let decoded: string[];
  try {
    decoded = parts.map(decodeURIComponent);
  } catch {
    return undefined; // a malformed %-escape names no resource
  }
  const [resource, id, sub] = decoded;
  if (resource === 'hostedzone' && parts.length === 1 && method === 'POST') return { op: 'CreateHostedZone' };
  if (resource === 'hostedzone' && parts.length === 2 && method === 'GET') return { op: 'GetHostedZone', id };
  if (resource === 'hostedzone' && parts.length === 3 && sub === 'rrset') {
    if (method === 'POST') return { op: 'ChangeResourceRecordSets', id };
    if (method === 'GET') return { op: 'ListResourceRecordSets', id };
  }
  if (resource === 'change' && parts.length === 2 && method === 'GET') return { op: 'GetChange', id };
  return undefined;
}

async function handle(req: IncomingMessage, res: ServerResponse, ctx: Context): Promise<void> {
  const requestId = randomUUID();
  try {
    const body = await readBody(req, MAX_BODY_BYTES, () => new ApiError('InvalidInput', `request body exceeds ${MAX_BODY_BYTES} bytes`));
    const url = new URL(req.url ?? '/', 'http://localhost');
    const r = route(req.method ?? 'GET', url.pathname);
    if (!r) throw new ApiError('UnknownOperationException', `${req.method} ${url.pathname} is not an operation the local Route 53 stand-in supports`, 404);
    ctx.counts[r.op] = (ctx.counts[r.op] ?? 0) + 1;
    if (ctx.bucket && !ctx.bucket.take()) throw new ApiError('Throttling', 'Rate exceeded');
    const { status, xml } = await dispatch(r, body, url.searchParams, ctx);
    send(res, status, requestId, xml);
  } catch (err) {
    const e = err instanceof ApiError ? err : new ApiError('InternalFailure', errorMessage(err), 500);
    ctx.errors[e.code] = (ctx.errors[e.code] ?? 0) + 1;
    const type = e.status >= 500 ? 'Receiver' : 'Sender';
    send(
      res,
      e.status,
      requestId,
      `<ErrorResponse xmlns="${XMLNS}"><Error><Type>${type}</Type><Code>${esc(e.code)}</Code><Message>${esc(e.message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
    );
  }
}

function send(res: ServerResponse, status: number, requestId: string, xml: string): void {
  const text = `<?xml version="1.0" encoding="UTF-8"?>\n${xml}`;
  res.writeHead(status, { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(text), 'x-amzn-requestid': requestId });
  res.end(text);
}

async function dispatch(r: Route, body: string, query: URLSearchParams, ctx: Context): Promise<{ status: number; xml: string }> {
  switch (r.op) {
    case 'CreateHostedZone':
      return createHostedZone(body, ctx.state);
    case 'GetHostedZone':
      return { status: 200, xml: getHostedZone(ctx.state.zone(r.id!)) };
    case 'ChangeResourceRecordSets':
      return changeResourceRecordSets(r.id!, body, ctx);
    case 'ListResourceRecordSets':
      return { status: 200, xml: listResourceRecordSets(ctx.state.zone(r.id!), query) };
    case 'GetChange':
      return { status: 200, xml: getChange(ctx.state, r.id!) };
  }
  throw new ApiError('UnknownOperationException', `operation ${r.op} is not supported`, 404);
}

// ---- operations --------------------------------------------------------------------------------

async function createHostedZone(body: string, state: ZoneStore): Promise<{ status: number; xml: string }> {
  const root = parseRequest(body, 'CreateHostedZoneRequest');
  const name = requiredText(root, 'Name');
  const callerReference = requiredText(root, 'CallerReference');
  const config = child(root, 'HostedZoneConfig');
  const comment = config ? optionalText(config, 'Comment') : undefined;
  const privateZone = (config ? optionalText(config, 'PrivateZone') : undefined) === 'true' || child(root, 'VPC') !== undefined;
  const zone = await state.createZone(name, callerReference, comment, privateZone);
  const change = state.changeOf(zone);
  return {
    status: 201,
    xml:
      `<CreateHostedZoneResponse xmlns="${XMLNS}">${hostedZoneXml(zone)}${changeInfoXml(change)}` +
      `${zone.privateZone ? '' : delegationSetXml()}</CreateHostedZoneResponse>`,
  };
}

function getHostedZone(zone: StoredZone): string {
  return `<GetHostedZoneResponse xmlns="${XMLNS}">${hostedZoneXml(zone)}${zone.privateZone ? '' : delegationSetXml()}</GetHostedZoneResponse>`;
}

function hostedZoneXml(zone: StoredZone): string {
  return (
    `<HostedZone><Id>/hostedzone/${zone.id}</Id><Name>${esc(zone.name)}</Name><CallerReference>${esc(zone.callerReference)}</CallerReference>` +
    `<Config>${zone.comment !== undefined ? `<Comment>${esc(zone.comment)}</Comment>` : ''}<PrivateZone>${zone.privateZone}</PrivateZone></Config>` +
    `<ResourceRecordSetCount>${zone.records.size}</ResourceRecordSetCount></HostedZone>`
  );
}

function delegationSetXml(): string {
  return `<DelegationSet><NameServers><NameServer>ns-1.skiff.invalid</NameServer></NameServers></DelegationSet>`;
}

function changeInfoXml(change: StoredChange): string {
  const status = performance.now() < change.insyncAt ? 'PENDING' : 'INSYNC';
  return (
    `<ChangeInfo><Id>/change/${change.id}</Id><Status>${status}</Status><SubmittedAt>${change.submittedAt}</SubmittedAt>` +
    `${change.comment !== undefined ? `<Comment>${esc(change.comment)}</Comment>` : ''}</ChangeInfo>`
  );
}

function getChange(state: ZoneStore, id: string): string {
  const change = state.change(id);
  return `<GetChangeResponse xmlns="${XMLNS}">${changeInfoXml(change)}</GetChangeResponse>`;
}

type Action = 'CREATE' | 'DELETE' | 'UPSERT';

interface ParsedChange {
  readonly action: Action;
  readonly set: StoredRecordSet;
}

async function changeResourceRecordSets(zoneId: string, body: string, ctx: Context): Promise<{ status: number; xml: string }> {
  const zone = ctx.state.zone(zoneId);
  const root = parseRequest(body, 'ChangeResourceRecordSetsRequest');
  const batch = child(root, 'ChangeBatch');
  if (!batch) throw missing('ChangeBatch');
  const comment = optionalText(batch, 'Comment');
  const changesNode = child(batch, 'Changes');
  const changeNodes = changesNode ? children(changesNode, 'Change') : [];
  if (changeNodes.length === 0) {
    throw new ApiError(
      'InvalidInput',
      "1 validation error detected: Value '[]' at 'changeBatch.changes' failed to satisfy constraint: Member must have length greater than or equal to 1",
    );
  }
  const changes = changeNodes.map((node, i) => parseChange(node, i));

  // The request limits are checked before anything else, as on AWS: a batch that is too big is refused whole.
  let records = 0;
  let chars = 0;
  for (const c of changes) {
    const weight = c.action === 'UPSERT' ? 2 : 1;
    records += c.set.values.length * weight;
    chars += c.set.values.reduce((n, v) => n + v.length, 0) * weight;
  }
  const limitMessages: string[] = [];
  if (records > ctx.limits.recordsPerBatch) limitMessages.push(`Number of records limit of ${ctx.limits.recordsPerBatch} exceeded.`);
  if (chars > ctx.limits.charsPerBatch) limitMessages.push(`RDATA character limit of ${ctx.limits.charsPerBatch} exceeded.`);
  if (limitMessages.length > 0) throw invalidChangeBatch(limitMessages);

  // One change in progress per zone: Route 53 refuses the next one until it has processed the last.
  if (performance.now() < zone.busyUntil) throw new ApiError('PriorRequestNotComplete', PRIOR_REQUEST_MESSAGE);

  const next = new Map(zone.records);
  const messages: string[] = [];
  for (const c of changes) {
    // The exact wording of Route 53's refusal is not documented; the quota is ("Values in a record").
    if (c.action !== 'DELETE' && c.set.values.length > ctx.limits.valuesPerSet) {
      messages.push(
        `RRSet [name='${c.set.name}', type='${c.set.type}'] has ${c.set.values.length} values; a record may hold at most ${ctx.limits.valuesPerSet}`,
      );
      continue;
    }
    messages.push(...applyChange(zone, next, c));
  }
  if (messages.length > 0) throw invalidChangeBatch(messages);

  const change = await ctx.state.commit(zone, next, comment, { zoneId: zone.id, changes: changes.length, records, chars });
  return { status: 200, xml: `<ChangeResourceRecordSetsResponse xmlns="${XMLNS}">${changeInfoXml(change)}</ChangeResourceRecordSetsResponse>` };
}

function invalidChangeBatch(messages: readonly string[]): ApiError {
  return new ApiError('InvalidChangeBatch', messages.length === 1 ? messages[0] : `[${messages.join(', ')}]`);
}

function parseChange(node: XmlNode, i: number): ParsedChange {
  const at = `changeBatch.changes.${i + 1}.member`;
  const action = requiredText(node, 'Action');
  if (action !== 'CREATE' && action !== 'DELETE' && action !== 'UPSERT') {
    throw new ApiError(
      'InvalidInput',
      `1 validation error detected: Value '${action}' at '${at}.action' failed to satisfy constraint: Member must satisfy enum value set: [CREATE, DELETE, UPSERT]`,
    );
  }
  const rrs = child(node, 'ResourceRecordSet');
  if (!rrs) throw missing(`${at}.resourceRecordSet`);
  for (const member of UNSUPPORTED_MEMBERS) {
    if (child(rrs, member)) {
      throw new ApiError(
        'InvalidInput',
        `ResourceRecordSet.${member} is not supported by the local Route 53 stand-in: Skiff writes simple-routing records only`,
      );
    }
  }
  const name = normalizeName(requiredText(rrs, 'Name'));
  const type = requiredText(rrs, 'Type');
  if (!TYPES.has(type)) throw new ApiError('InvalidInput', `Invalid type ${type}; the local Route 53 stand-in supports ${[...TYPES].join(', ')}`);
  const ttlText = optionalText(rrs, 'TTL');
  if (ttlText === undefined)
    throw new ApiError(
      'InvalidInput',
      `Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found none in Change with [Action=${action}, Name=${name}, Type=${type}, SetIdentifier=null]`,
    );
  const ttl = Number(ttlText);
  if (!/^\d+$/.test(ttlText) || ttl > MAX_TTL) {
    throw new ApiError(
      'InvalidInput',
      `1 validation error detected: Value '${ttlText}' at '${at}.resourceRecordSet.tTL' failed to satisfy constraint: Member must have value less than or equal to ${MAX_TTL}`,
    );
  }
  const recordsNode = child(rrs, 'ResourceRecords');
  const values = recordsNode ? children(recordsNode, 'ResourceRecord').map((r) => requiredText(r, 'Value')) : [];
  if (values.length === 0) {
    throw new ApiError(
      'InvalidInput',
      `1 validation error detected: Value '[]' at '${at}.resourceRecordSet.resourceRecords' failed to satisfy constraint: Member must have length greater than or equal to 1`,
    );
  }
  return { action, set: { name, type, ttl, values } };
}

/** Applies one change to `records` (a copy of the zone's); returns what is wrong with it, if anything. */
function applyChange(zone: StoredZone, records: Map<string, StoredRecordSet>, c: ParsedChange): string[] {
  const { name, type } = c.set;
  const shown = `[name='${name}', type='${type}']`;
  if (name !== zone.name && !name.endsWith(`.${zone.name}`)) return [`RRSet with DNS name ${name} is not permitted in zone ${zone.name}`];
  const problems = valueProblems(c.set);
  if (problems.length > 0) return problems;
  const k = `${name} ${type}`;
  const existing = records.get(k);
  if (c.action !== 'DELETE') {
    // A CNAME is alone at its name (RFC 1034 3.6.2); Route 53 refuses either side of the conflict.
    const others = [...records.values()].filter((r) => r.name === name && r.type !== type);
    if (type === 'CNAME' && others.length > 0)
      return [`RRSet of type CNAME with DNS name ${name} is not permitted as it conflicts with other records with the same DNS name in zone ${zone.name}`];
    if (others.some((r) => r.type === 'CNAME'))
      return [
        `RRSet of type ${type} with DNS name ${name} is not permitted because a conflicting RRSet of type CNAME with the same DNS name already exists in zone ${zone.name}`,
      ];
  }
  switch (c.action) {
    case 'CREATE':
      if (existing) return [`Tried to create resource record set ${shown} but it already exists`];
      records.set(k, c.set);
      return [];
    case 'UPSERT':
      records.set(k, c.set);
      return [];
    case 'DELETE':
      if (!existing) return [`Tried to delete resource record set ${shown} but it was not found`];
      if (existing.ttl !== c.set.ttl || !sameValues(existing.values, c.set.values)) {
        return [`Tried to delete resource record set ${shown} but the values provided do not match the current values`];
      }
      if (name === zone.name && (type === 'SOA' || type === 'NS')) return [`A HostedZone must contain at least one ${type} record for the zone itself.`];
      records.delete(k);
      return [];
  }
}

function sameValues(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const sa = [...a].sort();
  const sb = [...b].sort();
  return sa.every((v, i) => v === sb[i]);
}

/** Route 53's checks of A and SRV values (the types Skiff writes), in its wording. */
function valueProblems(set: StoredRecordSet): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const v of set.values) {
    if (seen.has(v)) out.push(`Duplicate Resource Record: '${v}'`);
    seen.add(v);
    if (set.type === 'A' && !isIpv4(v)) {
      out.push(`Invalid Resource Record: 'FATAL problem: ARRDATAIllegalIPv4Address (Value is not a valid IPv4 address) encountered with '${v}''`);
    }
    if (set.type === 'SRV' && !isSrv(v)) {
      out.push(`Invalid Resource Record: 'FATAL problem: SRV value must be "priority weight port target", each number 0-65535, encountered with '${v}''`);
    }
  }
  return out;
}

function isIpv4(v: string): boolean {
  const parts = v.split('.');
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

function isSrv(v: string): boolean {
  const parts = v.split(' ');
  return parts.length === 4 && parts.slice(0, 3).every((p) => /^\d{1,5}$/.test(p) && Number(p) <= 65535) && /^[a-z0-9_.-]+$/i.test(parts[3]);
}

function listResourceRecordSets(zone: StoredZone, query: URLSearchParams): string {
  const startName = query.get('name');
  const startType = query.get('type');
  if (startType !== null && startName === null)
    throw new ApiError('InvalidInput', 'The input is not valid: a type requires a name (StartRecordType without StartRecordName)');
  if (query.get('identifier') !== null)
    throw new ApiError('InvalidInput', 'StartRecordIdentifier is not supported by the local Route 53 stand-in (no SetIdentifier records)');
  const maxText = query.get('maxitems');
  let max = MAX_LIST_ITEMS;
  if (maxText !== null) {
    if (!/^\d+$/.test(maxText) || Number(maxText) < 1) throw new ApiError('InvalidInput', `maxitems must be a positive integer, got ${maxText}`);
    max = Math.min(Number(maxText), MAX_LIST_ITEMS);
  }
  const sorted = [...zone.records.values()].sort(compareListed);
  let start = 0;
  if (startName !== null) {
    const from = { name: normalizeName(startName), type: startType ?? '' };
    start = sorted.findIndex((s) => compareListed(s, from) >= 0);
    if (start < 0) start = sorted.length;
  }
  const page = sorted.slice(start, start + max);
  const rest = sorted[start + max];
  const sets = page
    .map(
      (s) =>
        `<ResourceRecordSet><Name>${esc(s.name)}</Name><Type>${s.type}</Type><TTL>${s.ttl}</TTL><ResourceRecords>` +
        s.values.map((v) => `<ResourceRecord><Value>${esc(v)}</Value></ResourceRecord>`).join('') +
        `</ResourceRecords></ResourceRecordSet>`,
    )
    .join('');
  return (
    `<ListResourceRecordSetsResponse xmlns="${XMLNS}"><ResourceRecordSets>${sets}</ResourceRecordSets>` +
    `<IsTruncated>${rest !== undefined}</IsTruncated><MaxItems>${max}</MaxItems>` +
    (rest ? `<NextRecordName>${esc(rest.name)}</NextRecordName><NextRecordType>${rest.type}</NextRecordType>` : '') +
    `</ListResourceRecordSetsResponse>`
  );
}

/**
 * Route 53's listing order: by name with its labels reversed, compared as text with the dots
 * ("com.example.www."), then by type.
 */
function compareListed(a: { name: string; type: string }, b: { name: string; type: string }): number {
  const ka = reversedName(a.name);
  const kb = reversedName(b.name);
  if (ka !== kb) return ka < kb ? -1 : 1;
  return a.type < b.type ? -1 : a.type > b.type ? 1 : 0;
}

function reversedName(name: string): string {
  return `${name.replace(/\.$/, '').split('.').reverse().join('.')}.`;
}

/** Lowercase, with exactly one trailing dot: how Route 53 stores and returns names. */
function normalizeName(name: string): string {
  const n = name.toLowerCase();
  return n.endsWith('.') ? n : `${n}.`;
}

// ---- state -------------------------------------------------------------------------------------

/** The hosted zones, in memory, optionally mirrored to a JSON file. */
class ZoneStore {
  private readonly zones = new Map<string, StoredZone>();
  private readonly changes = new Map<string, StoredChange>();
  /** The change that created each zone, for CreateHostedZone's answer. */
  private readonly creations = new Map<string, StoredChange>();
  private readonly listeners = new Set<(zoneId: string) => void>();
  private readonly views = new Map<string, { version: number; records: readonly DnsRecordSet[] }>();
  readonly accepted: AcceptedBatch[] = [];
  private readonly file: JsonFileStore;

  constructor(
    dataFile: string | undefined,
    readonly pendingMs: number,
  ) {
    this.file = new JsonFileStore(dataFile, DATA_FORMAT, 'Route 53 stand-in', () => ({
      zones: [...this.zones.values()].map(({ records, version: _v, busyUntil: _b, ...z }) => ({ ...z, records: [...records.values()] })),
    }));
  }

  async load(): Promise<void> {
    const zones = (await this.file.load('zones')) ?? [];
    for (const z of zones as (Omit<StoredZone, 'records' | 'version' | 'busyUntil'> & { records: StoredRecordSet[] })[]) {
      if (typeof z?.id !== 'string' || typeof z.name !== 'string' || !Array.isArray(z.records)) throw this.file.malformed('zone', z);
      const records = new Map<string, StoredRecordSet>();
      for (const r of z.records) records.set(`${r.name} ${r.type}`, r);
      this.zones.set(z.id, { ...z, records, version: 0, busyUntil: 0 });
    }
  }

  list(): HostedZoneInfo[] {
    return [...this.zones.values()].map((z) => ({ id: z.id, name: z.name.replace(/\.$/, ''), recordSetCount: z.records.size }));
  }

  zone(rawId: string): StoredZone {
    const id = rawId.replace(/^\/?hostedzone\//, '');
    const zone = this.zones.get(id);
    if (!zone) throw new ApiError('NoSuchHostedZone', `No hosted zone found with ID: ${id}`, 404);
    return zone;
  }

  change(rawId: string): StoredChange {
    const id = rawId.replace(/^\/?change\//, '');
    const change = this.changes.get(id);
    if (!change) throw new ApiError('NoSuchChange', `Could not find resource with ID: ${id}`, 404);
    return change;
  }

  changeOf(zone: StoredZone): StoredChange {
    return this.creations.get(zone.id)!;
  }

  async createZone(rawName: string, callerReference: string, comment: string | undefined, privateZone: boolean): Promise<StoredZone> {
    const name = normalizeName(rawName);
    if (!/^([a-z0-9_](?:[-a-z0-9_]{0,61}[a-z0-9_])?\.)+$/.test(name) || name.length > 254) {
      throw new ApiError('InvalidDomainName', `${rawName} is not a valid domain name`);
    }
    for (const z of this.zones.values()) {
      if (z.callerReference === callerReference) {
        throw new ApiError('HostedZoneAlreadyExists', `A hosted zone has already been created with the specified caller reference.`, 409);
      }
    }
    const id = `Z${randomId(20)}`;
    // Every new zone gets an SOA and NS record at its apex, as on AWS; Skiff must leave them alone.
    const records = new Map<string, StoredRecordSet>([
      [`${name} SOA`, { name, type: 'SOA', ttl: 900, values: [`ns-1.skiff.invalid. hostmaster.skiff.invalid. 1 7200 900 1209600 86400`] }],
      [`${name} NS`, { name, type: 'NS', ttl: 172800, values: ['ns-1.skiff.invalid.'] }],
    ]);
    const zone: StoredZone = { id, name, callerReference, ...(comment !== undefined ? { comment } : {}), privateZone, records, version: 0, busyUntil: 0 };
    this.zones.set(id, zone);
    // Creating a zone does not hold up its first record change: Skiff (and CDK) write records right after.
    this.creations.set(id, this.newChange(zone, undefined));
    zone.busyUntil = 0;
    await this.persist();
    return zone;
  }

  async ensureZone(rawName: string): Promise<string> {
    const name = normalizeName(rawName);
    for (const z of this.zones.values()) if (z.name === name) return z.id;
    const zone = await this.createZone(rawName, `skiff-local-${name}`, 'created by the local Route 53 stand-in', true);
    return zone.id;
  }

  /** Replaces the zone's records by `next` (already validated), starts the PENDING window and tells subscribers. */
  async commit(zone: StoredZone, next: Map<string, StoredRecordSet>, comment: string | undefined, batch: AcceptedBatch): Promise<StoredChange> {
    zone.records = next;
    zone.version++;
    const change = this.newChange(zone, comment);
    this.accepted.push(batch);
    await this.persist();
    for (const listener of this.listeners) {
      try {
        listener(zone.id);
      } catch {
        // A subscriber's failure is its own; the change is accepted either way.
      }
    }
    return change;
  }

  private newChange(zone: StoredZone, comment: string | undefined): StoredChange {
    const change: StoredChange = {
      id: `C${randomId(20)}`,
      submittedAt: new Date().toISOString(),
      ...(comment !== undefined ? { comment } : {}),
      insyncAt: performance.now() + this.pendingMs,
    };
    zone.busyUntil = change.insyncAt;
    this.changes.set(change.id, change);
    return change;
  }

  dnsRecords(rawId: string): readonly DnsRecordSet[] {
    const zone = this.zone(rawId);
    const cached = this.views.get(zone.id);
    if (cached && cached.version === zone.version) return cached.records;
    const records: DnsRecordSet[] = [];
    for (const r of zone.records.values()) {
      if (r.type !== 'A' && r.type !== 'SRV') continue;
      records.push({
        name: r.name.replace(/\.$/, ''),
        type: r.type,
        ttl: r.ttl,
        values: r.type === 'SRV' ? r.values.map((v) => v.replace(/\.$/, '')) : [...r.values],
      });
    }
    records.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
    this.views.set(zone.id, { version: zone.version, records });
    return records;
  }

  subscribe(listener: (zoneId: string) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Resolves once the current state is on disk (writes are shared; see JsonFileStore). */
  persist(): Promise<void> {
    return this.file.persist();
  }

  flushed(): Promise<void> {
    return this.file.flushed();
  }
}

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

function randomId(length: number): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const b of bytes) out += ID_ALPHABET[b % ID_ALPHABET.length];
  return out;
}

// ---- XML ---------------------------------------------------------------------------------------

/** An element: its name without namespace prefix, its child elements and its text. */
interface XmlNode {
  readonly name: string;
  readonly children: XmlNode[];
  text: string;
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#\d+|amp|lt|gt|quot|apos);/g, (_, e: string) => {
    if (e[0] === '#') return String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
    return { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[e]!;
  });
}

/**
 * Parses the XML an SDK sends: elements, text, entities, CDATA; declarations and comments
 * skipped, attributes (the namespace) ignored. Anything malformed is refused.
 */
function parseXml(text: string): XmlNode {
  let i = 0;
  const fail = (what: string): never => {
    throw new ApiError('InvalidInput', `request body is not valid XML: ${what} at offset ${i}`);
  };
  const skipMisc = (): void => {
    for (;;) {
      while (i < text.length && /\s/.test(text[i])) i++;
      if (text.startsWith('<?', i)) {
        const end = text.indexOf('?>', i);
        if (end < 0) fail('unterminated declaration');
        i = end + 2;
      } else if (text.startsWith('<!--', i)) {
        const end = text.indexOf('-->', i);
        if (end < 0) fail('unterminated comment');
        i = end + 3;
      } else return;
    }
  };
  const element = (): XmlNode => {
    if (text[i] !== '<') fail('expected an element');
    const m = /^<([A-Za-z_][\w.:-]*)((?:\s+[\w.:-]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>/.exec(text.slice(i, i + 4096));
    if (!m) fail('malformed start tag');
    i += m![0].length;
    const qname = m![1];
    const node: XmlNode = { name: qname.includes(':') ? qname.slice(qname.indexOf(':') + 1) : qname, children: [], text: '' };
    if (m![3] === '/') return node;
    for (;;) {
      if (i >= text.length) fail(`unterminated element <${qname}>`);
      if (text.startsWith('</', i)) {
        const end = text.indexOf('>', i);
        if (end < 0 || text.slice(i + 2, end).trim() !== qname) fail(`mismatched end tag for <${qname}>`);
        i = end + 1;
        return node;
      }
      if (text.startsWith('<!--', i)) {
        const end = text.indexOf('-->', i);
        if (end < 0) fail('unterminated comment');
        i = end + 3;
      } else if (text.startsWith('<![CDATA[', i)) {
        const end = text.indexOf(']]>', i);
        if (end < 0) fail('unterminated CDATA');
        node.text += text.slice(i + 9, end);
        i = end + 3;
      } else if (text[i] === '<') {
        node.children.push(element());
      } else {
        const end = text.indexOf('<', i);
        node.text += decodeEntities(text.slice(i, end < 0 ? text.length : end));
        i = end < 0 ? text.length : end;
      }
    }
  };
  skipMisc();
  const root = element();
  skipMisc();
  if (i !== text.length) fail('content after the root element');
  return root;
}

function parseRequest(body: string, rootName: string): XmlNode {
  if (body.trim() === '') throw new ApiError('InvalidInput', `the request body must be a ${rootName} document`);
  const root = parseXml(body);
  if (root.name !== rootName) throw new ApiError('InvalidInput', `the request body must be a ${rootName} document, got <${root.name}>`);
  return root;
}

function child(node: XmlNode, name: string): XmlNode | undefined {
  return node.children.find((c) => c.name === name);
}

function children(node: XmlNode, name: string): XmlNode[] {
  return node.children.filter((c) => c.name === name);
}

function optionalText(node: XmlNode, name: string): string | undefined {
  return child(node, name)?.text;
}

function requiredText(node: XmlNode, name: string): string {
  const value = optionalText(node, name);
  if (value === undefined || value === '') throw missing(name);
  return value;
}

function missing(member: string): ApiError {
  return new ApiError('InvalidInput', `1 validation error detected: Value null at '${member}' failed to satisfy constraint: Member must not be null`);
}
