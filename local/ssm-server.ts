/**
 * A local stand-in for the subset of AWS Systems Manager Parameter Store that Skiff uses.
 *
 * It speaks the AWS JSON 1.1 protocol (`POST /`, `X-Amz-Target: AmazonSSM.<Op>`), so the real
 * `@aws-sdk/client-ssm` SSMClient runs against it with only `endpoint` set, and it enforces the
 * Parameter Store limits Skiff can hit (name rules, value size per tier, batch sizes, parameter
 * counts, request rates, tag rules) so that a design that would break on AWS breaks here first.
 * Every limit and error name, with its source, is listed in docs/host-channel.md.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
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

/** Per operation group; a group left out keeps its AWS default. */
export interface SsmLimits {
  /** GetParameter, GetParameters, GetParametersByPath (one shared AWS quota). */
  readonly get?: RateLimit;
  /** PutParameter. */
  readonly put?: RateLimit;
  /** DeleteParameter, DeleteParameters. */
  readonly delete?: RateLimit;
}

export interface SsmServerOptions extends StandInOptions {
  /** Request-rate limits; `false` turns throttling off. @default AWS defaults (DEFAULT_SSM_LIMITS) */
  readonly limits?: false | SsmLimits;
}

export interface SsmServer {
  /** `http://host:port`, for the SDK client's `endpoint`. */
  readonly endpoint: string;
  readonly port: number;
  /** Requests received per operation (throttled and failed ones included: AWS counts them too). */
  counts(): Record<string, number>;
  /** Stops listening, drops open connections and waits for the last write to the data file. */
  close(): Promise<void>;
}

type Group = 'get' | 'put' | 'delete';

/**
 * AWS's default throughput, per account and Region. `get`: 40 TPS shared by GetParameter,
 * GetParameters and GetParametersByPath (Systems Manager service quotas). `put`: 3 TPS, which
 * AWS does not publish; AWS Support gave this figure (github-aws-runners/terraform-aws-github-runner
 * issue 2944). `delete`: not published either; assumed as low as `put`, so local mode errs towards
 * being throttled.
 */
export const DEFAULT_SSM_LIMITS: Readonly<Record<Group, Required<RateLimit>>> = {
  get: { rate: 40, burst: 40 },
  put: { rate: 3, burst: 3 },
  delete: { rate: 3, burst: 3 },
};

/** Parameter Store limits enforced here (sources in docs/host-channel.md). */
export const SSM_QUOTAS = {
  standardValueBytes: 4096,
  advancedValueBytes: 8192,
  /** The ARN of a parameter, prefix included, may not exceed this many characters. */
  maxArnLength: 1011,
  maxNameLength: 2048,
  maxHierarchyLevels: 15,
  maxDescriptionLength: 1024,
  /** Names per GetParameters / DeleteParameters, and MaxResults of GetParametersByPath. */
  maxBatch: 10,
  /** Tags per parameter ("Most resources can have a maximum of 50 tags", AddTagsToResource). */
  maxTags: 50,
  /** `TagKey` and `TagValue` lengths in the SSM API model (a value may not be empty in SSM). */
  maxTagKeyLength: 128,
  maxTagValueLength: 256,
  standardParameters: 10_000,
  advancedParameters: 100_000,
} as const;

/** Supported operations and the rate group each draws on (`null`: no published quota, not throttled). */
const OPERATIONS: Readonly<Record<string, Group | null>> = {
  GetParameter: 'get',
  GetParameters: 'get',
  GetParametersByPath: 'get',
  PutParameter: 'put',
  DeleteParameter: 'delete',
  DeleteParameters: 'delete',
  // Skiff itself never calls it; tests use it to see the tags a publisher set.
  ListTagsForResource: null,
};

const ACCOUNT_ID = '123456789012';
const DATA_FORMAT = 'skiff-ssm-local/1';
/** Requests larger than this are not Parameter Store requests (values are at most 8 KB). */
const MAX_BODY_BYTES = 1024 * 1024;

/** The wording AWS returns for a name that breaks the pattern (as observed on the real service). */
const NAME_PATTERN_MESSAGE =
  'Parameter name: can\'t be prefixed with "ssm" (case-insensitive). If formed as a path, it can consist of ' +
  'sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, numbers and the ' +
  'following 3 symbols .-_';
const PATH_PATTERN_MESSAGE =
  "The parameter doesn't meet the parameter name requirements. The parameter name must begin with a forward " +
  'slash "/". It can\'t be prefixed with "aws" or "ssm" (case-insensitive). It must use only letters, numbers, ' +
  'or the following symbols: . (period), - (hyphen), _ (underscore). Special characters are not allowed. All ' +
  'sub-paths, if specified, must use the forward slash symbol "/". Valid example: /get/parameters2-/by1./path0_.';

type ParameterType = 'String' | 'StringList' | 'SecureString';
type Tier = 'Standard' | 'Advanced';

interface Tag {
  readonly Key: string;
  readonly Value: string;
}

interface StoredParameter {
  readonly Name: string;
  readonly Type: ParameterType;
  readonly Value: string;
  readonly Version: number;
  readonly Tier: Tier;
  readonly Description?: string;
  readonly AllowedPattern?: string;
  /** Set when the parameter is created; kept by overwrites, as on AWS. */
  readonly Tags?: readonly Tag[];
  /** Epoch seconds, as the JSON protocol carries timestamps. */
  readonly LastModifiedDate: number;
}

const OPTION_KEYS = new Set(['host', 'port', 'dataFile', 'limits']);
const GROUPS = new Set<string>(['get', 'put', 'delete']);

/** Start the stand-in on 127.0.0.1 (port 0 = ephemeral). */
export async function startSsmServer(opts: SsmServerOptions = {}): Promise<SsmServer> {
  const { host, port, dataFile, limits } = checkOptions(opts);
  const store = new ParameterStore(dataFile);
  await store.load();
  const buckets = limits === false ? undefined : makeBuckets(limits);
  const counts: Record<string, number> = {};
  const http = await serveHttp(
    (req, res) => void handle(req, res, store, buckets, counts),
    host,
    port,
    () => store.flushed(),
  );
  return { endpoint: http.endpoint, port: http.port, counts: () => ({ ...counts }), close: http.close };
}

function checkOptions(opts: SsmServerOptions): { host: string; port: number; dataFile: string | undefined; limits: false | SsmLimits } {
  const { host, port, dataFile } = checkStandInOptions('startSsmServer', opts, OPTION_KEYS);
  const limits = opts.limits ?? {};
  if (limits !== false) {
    if (typeof limits !== 'object' || limits === null) throw new TypeError('startSsmServer: limits must be false or an object');
    for (const [group, limit] of Object.entries(limits)) {
      if (!GROUPS.has(group)) {
        throw new TypeError(`startSsmServer: unknown limits group ${group}; known: ${[...GROUPS].join(', ')}`);
      }
      checkRateLimit('startSsmServer', `limits.${group}`, limit);
    }
  }
  return { host, port, dataFile, limits };
}

function makeBuckets(limits: SsmLimits): Record<Group, TokenBucket> {
  const bucket = (group: Group): TokenBucket => TokenBucket.of(limits[group] ?? DEFAULT_SSM_LIMITS[group]);
  return { get: bucket('get'), put: bucket('put'), delete: bucket('delete') };
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  store: ParameterStore,
  buckets: Record<Group, TokenBucket> | undefined,
  counts: Record<string, number>,
): Promise<void> {
  const requestId = randomUUID();
  try {
    const body = await readBody(req, MAX_BODY_BYTES, () => new ApiError('SerializationException', `request body exceeds ${MAX_BODY_BYTES} bytes`));
    if (req.method !== 'POST' || (req.url ?? '/').split('?')[0] !== '/') {
      throw new ApiError('UnknownOperationException', `${req.method} ${req.url} is not an AWS JSON 1.1 request`);
    }
    const target = String(req.headers['x-amz-target'] ?? '');
    const op = target.startsWith('AmazonSSM.') ? target.slice('AmazonSSM.'.length) : '';
    const group = Object.hasOwn(OPERATIONS, op) ? OPERATIONS[op] : undefined;
    if (group === undefined) {
      throw new ApiError('UnknownOperationException', `operation ${JSON.stringify(target)} is not supported by the local SSM stand-in`);
    }
    counts[op] = (counts[op] ?? 0) + 1;
    if (buckets && group !== null && !buckets[group].take()) throw new ApiError('ThrottlingException', 'Rate exceeded');
    const input = parseInput(body);
    const output = await dispatch(op, input, store, regionOf(req));
    send(res, 200, requestId, output);
  } catch (err) {
    if (err instanceof ApiError) {
      send(res, err.status, requestId, { __type: err.code, message: err.message });
    } else {
      send(res, 500, requestId, { __type: 'InternalServerError', message: errorMessage(err) });
    }
  }
}

function parseInput(body: string): Record<string, unknown> {
  if (body.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new ApiError('SerializationException', 'request body is not valid JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ApiError('SerializationException', 'request body must be a JSON object');
  }
  return parsed as Record<string, unknown>;
}

function send(res: ServerResponse, status: number, requestId: string, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/x-amz-json-1.1',
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': requestId,
  });
  res.end(text);
}

/** The Region the client signed for (from the SigV4 credential scope); ARNs carry it. */
function regionOf(req: IncomingMessage): string {
  const auth = String(req.headers.authorization ?? '');
  return /Credential=[^/,]+\/\d{8}\/([a-z0-9-]+)\/ssm\//.exec(auth)?.[1] ?? 'us-east-1';
}

function dispatch(op: string, input: Record<string, unknown>, store: ParameterStore, region: string): Promise<unknown> | unknown {
  switch (op) {
    case 'GetParameter':
      return getParameter(input, store, region);
    case 'GetParameters':
      return getParameters(input, store, region);
    case 'GetParametersByPath':
      return getParametersByPath(input, store, region);
    case 'PutParameter':
      return putParameter(input, store, region);
    case 'DeleteParameter':
      return deleteParameter(input, store);
    case 'DeleteParameters':
      return deleteParameters(input, store);
    case 'ListTagsForResource':
      return listTagsForResource(input, store);
  }
  throw new ApiError('UnknownOperationException', `operation ${op} is not supported`);
}

// ---- input helpers -------------------------------------------------------------------------

/** AWS's wording for a member that fails a model constraint. */
function constraint(member: string, value: unknown, rule: string): ApiError {
  const shown = typeof value === 'string' ? value : JSON.stringify(value);
  return new ApiError('ValidationException', `1 validation error detected: Value '${shown}' at '${member}' failed to satisfy constraint: ${rule}`);
}

function requiredString(input: Record<string, unknown>, field: string): string {
  const value = input[field];
  if (value === undefined || value === null) {
    throw new ApiError(
      'ValidationException',
      `1 validation error detected: Value null at '${lowerFirst(field)}' failed to satisfy constraint: Member must not be null`,
    );
  }
  if (typeof value !== 'string') throw new ApiError('SerializationException', `${field} must be a string`);
  return value;
}

function optionalString(input: Record<string, unknown>, field: string): string | undefined {
  const value = input[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new ApiError('SerializationException', `${field} must be a string`);
  return value;
}

function optionalBoolean(input: Record<string, unknown>, field: string): boolean | undefined {
  const value = input[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw new ApiError('SerializationException', `${field} must be a boolean`);
  return value;
}

function nameList(input: Record<string, unknown>, field: string): string[] {
  const value = input[field];
  if (value === undefined || value === null) {
    throw new ApiError(
      'ValidationException',
      `1 validation error detected: Value null at '${lowerFirst(field)}' failed to satisfy constraint: Member must not be null`,
    );
  }
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    throw new ApiError('SerializationException', `${field} must be a list of strings`);
  }
  const names = value as string[];
  if (names.length < 1) throw constraint(lowerFirst(field), '[]', 'Member must have length greater than or equal to 1');
  if (names.length > SSM_QUOTAS.maxBatch) {
    throw constraint(lowerFirst(field), `[${names.join(', ')}]`, `Member must have length less than or equal to ${SSM_QUOTAS.maxBatch}`);
  }
  return names;
}

function rejectUnknown(input: Record<string, unknown>, known: readonly string[], op: string): void {
  const unknown = Object.keys(input).filter((k) => !known.includes(k));
  if (unknown.length > 0) {
    throw new ApiError('ValidationException', `${op}: ${unknown.join(', ')} not supported by the local SSM stand-in (supported: ${known.join(', ')})`);
  }
}

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}

// ---- names -----------------------------------------------------------------------------------

/** AWS drops spaces at either end of a name; spaces inside it fail the pattern. */
function trimName(name: string): string {
  return name.replace(/^ +| +$/g, '');
}

/** Whether a name fits the pattern: `a-zA-Z0-9_.-`, and `/`-separated non-empty segments after a leading `/`. */
function matchesNamePattern(name: string): boolean {
  if (name === '' || !/^[a-zA-Z0-9_.\-/]+$/.test(name)) return false;
  if (!name.includes('/')) return true;
  return (
    name.startsWith('/') &&
    name
      .slice(1)
      .split('/')
      .every((segment) => segment !== '')
  );
}

function checkNameForRead(raw: string): string {
  const name = trimName(raw);
  if (raw.length > SSM_QUOTAS.maxNameLength) {
    throw constraint('name', raw, `Member must have length less than or equal to ${SSM_QUOTAS.maxNameLength}`);
  }
  if (name.includes(':')) {
    throw new ApiError('ValidationException', `Parameter selectors (name:version, name:label) are not supported by the local SSM stand-in: ${name}`);
  }
  if (!matchesNamePattern(name)) throw new ApiError('ValidationException', NAME_PATTERN_MESSAGE);
  return name;
}

function arnOf(region: string, name: string): string {
  return `arn:aws:ssm:${region}:${ACCOUNT_ID}:parameter${name.startsWith('/') ? name : `/${name}`}`;
}

/** The rules for names that are written: reserved prefixes, hierarchy depth, ARN length. */
function checkNameForWrite(raw: string, region: string): string {
  const name = checkNameForRead(raw);
  const bare = name.replace(/^\//, '').toLowerCase();
  if (bare.startsWith('aws') || bare.startsWith('ssm')) {
    // Observed on AWS: a path under an aws-prefixed root is refused as access to a reserved
    // name; other reserved prefixes fail validation.
    if (name.startsWith('/') && name.slice(1).includes('/') && bare.startsWith('aws')) {
      throw new ApiError('AccessDeniedException', `No access to reserved parameter name: ${name}.`);
    }
    throw new ApiError(
      'ValidationException',
      name.includes('/') ? NAME_PATTERN_MESSAGE : 'Parameter name: can\'t be prefixed with "aws" or "ssm" (case-insensitive).',
    );
  }
  const levels = name.replace(/^\//, '').split('/').length;
  if (levels > SSM_QUOTAS.maxHierarchyLevels) {
    throw new ApiError(
      'HierarchyLevelLimitExceededException',
      `A hierarchy can have a maximum of ${SSM_QUOTAS.maxHierarchyLevels} levels; ${name} has ${levels}.`,
    );
  }
  const arn = arnOf(region, name);
  if (arn.length > SSM_QUOTAS.maxArnLength) {
    throw new ApiError(
      'ValidationException',
      `Parameter name is too long: with its ARN prefix it is ${arn.length} characters, the maximum is ${SSM_QUOTAS.maxArnLength}.`,
    );
  }
  return name;
}

// ---- operations ------------------------------------------------------------------------------

function view(p: StoredParameter, region: string, withDecryption: boolean, store: ParameterStore): Record<string, unknown> {
  return {
    Name: p.Name,
    Type: p.Type,
    // A SecureString is kept encrypted (LocalKey); read without decryption it returns the ciphertext, never the plain value.
    Value: p.Type === 'SecureString' && withDecryption ? store.key.open(p.Value) : p.Value,
    Version: p.Version,
    LastModifiedDate: p.LastModifiedDate,
    ARN: arnOf(region, p.Name),
    DataType: 'text',
  };
}

function getParameter(input: Record<string, unknown>, store: ParameterStore, region: string): unknown {
  rejectUnknown(input, ['Name', 'WithDecryption'], 'GetParameter');
  const name = checkNameForRead(requiredString(input, 'Name'));
  const decrypt = optionalBoolean(input, 'WithDecryption') ?? false;
  const p = store.get(name);
  if (!p) throw new ApiError('ParameterNotFound', `Parameter ${name} not found.`);
  return { Parameter: view(p, region, decrypt, store) };
}

function getParameters(input: Record<string, unknown>, store: ParameterStore, region: string): unknown {
  rejectUnknown(input, ['Names', 'WithDecryption'], 'GetParameters');
  const names = nameList(input, 'Names');
  const decrypt = optionalBoolean(input, 'WithDecryption') ?? false;
  const found: Record<string, unknown>[] = [];
  const invalid: string[] = [];
  for (const raw of new Set(names)) {
    const name = trimName(raw);
    const p = matchesNamePattern(name) ? store.get(name) : undefined;
    if (p) found.push(view(p, region, decrypt, store));
    else invalid.push(raw);
  }
  return { Parameters: found, InvalidParameters: invalid };
}

interface PageToken {
  readonly path: string;
  readonly recursive: boolean;
  readonly after: string;
}

function getParametersByPath(input: Record<string, unknown>, store: ParameterStore, region: string): unknown {
  rejectUnknown(input, ['Path', 'Recursive', 'WithDecryption', 'MaxResults', 'NextToken'], 'GetParametersByPath');
  const path = requiredString(input, 'Path');
  if (path !== '/' && (!path.startsWith('/') || !matchesNamePattern(path.replace(/\/$/, '')))) {
    throw new ApiError('ValidationException', PATH_PATTERN_MESSAGE);
  }
  const recursive = optionalBoolean(input, 'Recursive') ?? false;
  const decrypt = optionalBoolean(input, 'WithDecryption') ?? false;
  const maxRaw = input.MaxResults;
  const max = maxRaw === undefined || maxRaw === null ? SSM_QUOTAS.maxBatch : maxRaw;
  if (typeof max !== 'number' || !Number.isInteger(max)) throw new ApiError('SerializationException', 'MaxResults must be an integer');
  if (max < 1) throw constraint('maxResults', String(max), 'Member must have value greater than or equal to 1');
  if (max > SSM_QUOTAS.maxBatch) throw constraint('maxResults', String(max), `Member must have value less than or equal to ${SSM_QUOTAS.maxBatch}`);
  const prefix = path.endsWith('/') ? path : `${path}/`;
  let after = '';
  const tokenRaw = optionalString(input, 'NextToken');
  if (tokenRaw !== undefined) {
    const token = decodeToken(tokenRaw);
    if (!token || token.path !== prefix || token.recursive !== recursive) {
      throw new ApiError('InvalidNextToken', "The specified token isn't valid.");
    }
    after = token.after;
  }
  const matches = store
    .names()
    .map((name) => ({ name, rooted: name.startsWith('/') ? name : `/${name}` }))
    .filter(({ rooted }) => rooted.startsWith(prefix) && rooted.length > prefix.length)
    .filter(({ rooted }) => recursive || !rooted.slice(prefix.length).includes('/'))
    .map(({ name }) => name)
    .filter((name) => name > after);
  const page = matches.slice(0, max);
  const out: Record<string, unknown> = {
    Parameters: page.map((name) => view(store.get(name)!, region, decrypt, store)),
  };
  if (matches.length > page.length) {
    const token: PageToken = { path: prefix, recursive, after: page[page.length - 1]! };
    out.NextToken = Buffer.from(JSON.stringify(token)).toString('base64url');
  }
  return out;
}

function decodeToken(raw: string): PageToken | undefined {
  try {
    const t = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as Partial<PageToken>;
    if (typeof t.path === 'string' && typeof t.recursive === 'boolean' && typeof t.after === 'string') {
      return { path: t.path, recursive: t.recursive, after: t.after };
    }
  } catch {
    // fall through: any undecodable token is simply invalid
  }
  return undefined;
}

const PARAMETER_TYPES = new Set<string>(['String', 'StringList', 'SecureString']);
const TIERS = new Set<string>(['Standard', 'Advanced', 'Intelligent-Tiering']);

async function putParameter(input: Record<string, unknown>, store: ParameterStore, region: string): Promise<unknown> {
  rejectUnknown(input, ['Name', 'Description', 'Value', 'Type', 'KeyId', 'Overwrite', 'AllowedPattern', 'Tags', 'Tier', 'DataType'], 'PutParameter');
  const name = checkNameForWrite(requiredString(input, 'Name'), region);
  const value = requiredString(input, 'Value');
  if (value.length < 1) throw constraint('value', '', 'Member must have length greater than or equal to 1');
  const description = optionalString(input, 'Description');
  if (description !== undefined && description.length > SSM_QUOTAS.maxDescriptionLength) {
    throw constraint('description', description, `Member must have length less than or equal to ${SSM_QUOTAS.maxDescriptionLength}`);
  }
  const type = optionalString(input, 'Type');
  if (type !== undefined && !PARAMETER_TYPES.has(type)) {
    throw constraint('type', type, 'Member must satisfy enum value set: [SecureString, StringList, String]');
  }
  const tierIn = optionalString(input, 'Tier');
  if (tierIn !== undefined && !TIERS.has(tierIn)) {
    throw constraint('tier', tierIn, 'Member must satisfy enum value set: [Advanced, Intelligent-Tiering, Standard]');
  }
  const dataType = optionalString(input, 'DataType');
  if (dataType !== undefined && dataType !== 'text') {
    throw new ApiError('ValidationException', `DataType ${dataType} is not supported by the local SSM stand-in (only text)`);
  }
  const overwrite = optionalBoolean(input, 'Overwrite') ?? false;
  const tags = tagList(input);
  if (overwrite && tags !== undefined) {
    throw new ApiError(
      'ValidationException',
      "Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please remove " +
        'overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or RemoveTagsFromResource.',
    );
  }
  const existing = store.get(name);
  if (existing && !overwrite) {
    throw new ApiError('ParameterAlreadyExists', 'The parameter already exists. To overwrite this value, set the overwrite option in the request to true.');
  }
  if (!existing && type === undefined) {
    throw new ApiError('ValidationException', 'A parameter type is required when you create a parameter.');
  }
  const allowedPattern = optionalString(input, 'AllowedPattern') ?? (input.AllowedPattern === undefined ? existing?.AllowedPattern : undefined);
  if (allowedPattern !== undefined) checkAllowedPattern(allowedPattern, value);

  const bytes = Buffer.byteLength(value, 'utf8');
  const tier = resolveTier(tierIn, existing, bytes, store);
  const limit = tier === 'Standard' ? SSM_QUOTAS.standardValueBytes : SSM_QUOTAS.advancedValueBytes;
  if (bytes > limit) {
    throw new ApiError(
      'ValidationException',
      tier === 'Standard'
        ? `Standard tier parameters support a maximum parameter value of ${limit} characters. To create a larger ` +
            'parameter value, upgrade the parameter to use the advanced-parameter tier. For more information, see ' +
            'https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html'
        : `Advanced tier parameters support a maximum parameter value of ${limit} characters; this value has ${bytes} bytes.`,
    );
  }
  if (!existing || existing.Tier !== tier) {
    const count = store.countTier(tier);
    const max = tier === 'Standard' ? SSM_QUOTAS.standardParameters : SSM_QUOTAS.advancedParameters;
    if (count >= max) {
      throw new ApiError(
        'ParameterLimitExceeded',
        `You have exceeded the number of ${tier} parameters (${max}) for this AWS account. Delete one or more parameters and try again.`,
      );
    }
  }
  const storedType = (type ?? existing!.Type) as ParameterType;
  const stored: StoredParameter = {
    Name: name,
    Type: storedType,
    Value: storedType === 'SecureString' ? store.key.seal(value) : value,
    Version: (existing?.Version ?? 0) + 1,
    Tier: tier,
    LastModifiedDate: Date.now() / 1000,
    ...((description ?? existing?.Description) !== undefined ? { Description: description ?? existing?.Description } : {}),
    ...(allowedPattern !== undefined ? { AllowedPattern: allowedPattern } : {}),
    ...((tags ?? existing?.Tags) !== undefined ? { Tags: tags ?? existing?.Tags } : {}),
  };
  store.set(stored);
  await store.persist();
  return { Version: stored.Version, Tier: stored.Tier };
}

/** Characters allowed in tag keys and values (`TagKey`, `TagValue` in the SSM API model). */
const TAG_PATTERN = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;

/** PutParameter's `Tags`, checked against the API model and the per-resource tag limit; undefined when absent. */
function tagList(input: Record<string, unknown>): Tag[] | undefined {
  const raw = input.Tags;
  if (raw === undefined || raw === null) return undefined;
  if (!Array.isArray(raw)) throw new ApiError('SerializationException', 'Tags must be a list of { Key, Value }');
  if (raw.length > SSM_QUOTAS.maxTags) {
    throw new ApiError('ValidationException', `A parameter can have at most ${SSM_QUOTAS.maxTags} tags; the request has ${raw.length}.`);
  }
  const tags: Tag[] = [];
  const keys = new Set<string>();
  for (const [i, item] of raw.entries()) {
    const at = `tags.${i + 1}.member`;
    if (item === null || typeof item !== 'object' || Array.isArray(item)) throw new ApiError('SerializationException', `Tags[${i}] must be { Key, Value }`);
    const tag = item as Record<string, unknown>;
    const unknown = Object.keys(tag).filter((k) => k !== 'Key' && k !== 'Value');
    if (unknown.length > 0) throw new ApiError('SerializationException', `Tags[${i}]: unknown member(s) ${unknown.join(', ')}`);
    for (const field of ['Key', 'Value'] as const) {
      const value = tag[field];
      const member = `${at}.${field.toLowerCase()}`;
      if (value === undefined || value === null) {
        throw new ApiError(
          'ValidationException',
          `1 validation error detected: Value null at '${member}' failed to satisfy constraint: Member must not be null`,
        );
      }
      if (typeof value !== 'string') throw new ApiError('SerializationException', `Tags[${i}].${field} must be a string`);
      const max = field === 'Key' ? SSM_QUOTAS.maxTagKeyLength : SSM_QUOTAS.maxTagValueLength;
      if (value.length < 1) throw constraint(member, value, 'Member must have length greater than or equal to 1');
      if (value.length > max) throw constraint(member, value, `Member must have length less than or equal to ${max}`);
      if (!TAG_PATTERN.test(value)) throw constraint(member, value, 'Member must satisfy regular expression pattern: ^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$');
    }
    const key = tag.Key as string;
    // The aws: prefix is reserved for tags AWS itself sets.
    if (/^aws:/i.test(key)) throw new ApiError('ValidationException', `Tag keys can't start with "aws:" (reserved for AWS use): ${key}`);
    if (keys.has(key)) throw new ApiError('ValidationException', `Duplicate tag key in the request: ${key}`);
    keys.add(key);
    tags.push({ Key: key, Value: tag.Value as string });
  }
  return tags;
}

/** The tags of a parameter (the only resource type the stand-in holds). */
function listTagsForResource(input: Record<string, unknown>, store: ParameterStore): unknown {
  rejectUnknown(input, ['ResourceType', 'ResourceId'], 'ListTagsForResource');
  const type = requiredString(input, 'ResourceType');
  if (type !== 'Parameter') {
    throw new ApiError('ValidationException', `ResourceType ${type} is not supported by the local SSM stand-in (only Parameter)`);
  }
  const id = requiredString(input, 'ResourceId');
  const name = trimName(id);
  const p = matchesNamePattern(name) ? store.get(name) : undefined;
  if (!p) throw new ApiError('InvalidResourceId', 'The resource ID is not valid. Verify that you entered the correct ID and try again.');
  return { TagList: (p.Tags ?? []).map((t) => ({ Key: t.Key, Value: t.Value })) };
}

function checkAllowedPattern(pattern: string, value: string): void {
  let re: RegExp;
  try {
    re = new RegExp(pattern);
  } catch {
    throw new ApiError('InvalidAllowedPatternException', `The request does not meet the regular expression requirement: ${pattern}`);
  }
  if (!re.test(value)) {
    throw new ApiError('ParameterPatternMismatchException', `Parameter value, cannot be validated against allowedPattern: ${pattern}`);
  }
}

/**
 * Standard is the account's default tier. An Advanced parameter can't go back to Standard;
 * Intelligent-Tiering picks Standard unless the value or the Standard count needs Advanced.
 */
function resolveTier(requested: string | undefined, existing: StoredParameter | undefined, bytes: number, store: ParameterStore): Tier {
  if (requested === 'Advanced') return 'Advanced';
  if (requested === 'Intelligent-Tiering') {
    if (existing?.Tier === 'Advanced') return 'Advanced';
    const standardFull = !existing && store.countTier('Standard') >= SSM_QUOTAS.standardParameters;
    return bytes > SSM_QUOTAS.standardValueBytes || standardFull ? 'Advanced' : 'Standard';
  }
  if (existing?.Tier === 'Advanced') {
    if (requested === 'Standard') {
      throw new ApiError(
        'ValidationException',
        "This parameter uses the advanced-parameter tier. You can't downgrade a parameter from the advanced-parameter " +
          'tier to the standard-parameter tier. If necessary, you can delete the advanced parameter and recreate it as a standard parameter.',
      );
    }
    return 'Advanced';
  }
  return 'Standard';
}

async function deleteParameter(input: Record<string, unknown>, store: ParameterStore): Promise<unknown> {
  rejectUnknown(input, ['Name'], 'DeleteParameter');
  const name = checkNameForRead(requiredString(input, 'Name'));
  if (!store.delete(name)) throw new ApiError('ParameterNotFound', `Parameter ${name} not found.`);
  await store.persist();
  return {};
}

async function deleteParameters(input: Record<string, unknown>, store: ParameterStore): Promise<unknown> {
  rejectUnknown(input, ['Names'], 'DeleteParameters');
  const names = nameList(input, 'Names');
  const deleted: string[] = [];
  const invalid: string[] = [];
  for (const raw of new Set(names)) {
    const name = trimName(raw);
    if (matchesNamePattern(name) && store.delete(name)) deleted.push(raw);
    else invalid.push(raw);
  }
  if (deleted.length > 0) await store.persist();
  return { DeletedParameters: deleted, InvalidParameters: invalid };
}

// ---- storage ---------------------------------------------------------------------------------

/** The parameters, in memory, optionally mirrored to a JSON file. */
class ParameterStore {
  private readonly params = new Map<string, StoredParameter>();
  private readonly file: JsonFileStore;
  /** Encrypts SecureString values at rest, as KMS does on AWS. */
  readonly key: LocalKey;

  constructor(dataFile: string | undefined) {
    this.file = new JsonFileStore(dataFile, DATA_FORMAT, 'SSM stand-in', () => ({ parameters: [...this.params.values()] }));
    this.key = LocalKey.load(dataFile === undefined ? undefined : `${dataFile}.key`);
  }

  async load(): Promise<void> {
    for (const p of ((await this.file.load('parameters')) ?? []) as StoredParameter[]) {
      if (typeof p?.Name !== 'string' || typeof p.Value !== 'string' || typeof p.Version !== 'number') throw this.file.malformed('parameter', p);
      this.params.set(p.Name, p);
    }
  }

  get(name: string): StoredParameter | undefined {
    return this.params.get(name);
  }

  set(p: StoredParameter): void {
    this.params.set(p.Name, p);
  }

  delete(name: string): boolean {
    return this.params.delete(name);
  }

  /** Names in code-unit order: the order pages of GetParametersByPath follow. */
  names(): string[] {
    return [...this.params.keys()].sort();
  }

  countTier(tier: Tier): number {
    let n = 0;
    for (const p of this.params.values()) if (p.Tier === tier) n++;
    return n;
  }

  /** Resolves once every change made so far is on disk (writes are shared; see JsonFileStore). */
  persist(): Promise<void> {
    return this.file.persist();
  }

  /** Waits for a write in progress, if any. */
  flushed(): Promise<void> {
    return this.file.flushed();
  }
}

/**
 * The stand-in's KMS: one AES-256-GCM key, in a 0600 file beside the data file (or in memory when the
 * stand-in keeps no file), that SecureString values are sealed with before they are kept or written.
 * A reader without WithDecryption gets the sealed form, as from AWS.
 */
class LocalKey {
  private constructor(private readonly key: Buffer) {}

  static load(file: string | undefined): LocalKey {
    if (file === undefined) return new LocalKey(randomBytes(32));
    if (existsSync(file)) {
      const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
      if (key.length !== 32) throw new Error(`SSM stand-in: ${file} does not hold a 32-byte key`);
      return new LocalKey(key);
    }
    const key = randomBytes(32);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, key.toString('base64'), { mode: 0o600 });
    chmodSync(file, 0o600);
    return new LocalKey(key);
  }

  seal(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return `local-kms:v1:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
  }

  open(sealed: string): string {
    const m = /^local-kms:v1:(.+)$/.exec(sealed);
    if (!m) throw new ApiError('InvalidKeyId', 'the SecureString parameter is not sealed with the local key');
    const raw = Buffer.from(m[1], 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  }
}
