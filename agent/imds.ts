/**
 * Who the agent is on EC2: an IMDSv2 client over `fetch` (instance id, private IPv4, region,
 * availability zone), and the host's capacity from what the OS reports.
 *
 * IMDSv2 only, with no fallback to IMDSv1: Skiff's hosts are launched with `HttpTokens: required`
 * (docs/aws.md), and every EC2 instance has served IMDSv2 since 2019.
 */
import { isIPv4 } from 'node:net';
import { SkiffError } from '../core/errors.ts';
import type { Resources } from '../core/types.ts';

/** The IPv4 endpoint of the instance metadata service (link-local, on every instance). */
export const IMDS_IPV4_ENDPOINT = 'http://169.254.169.254';
/** The IPv6 endpoint, on Nitro instances with the IPv6 endpoint turned on. */
export const IMDS_IPV6_ENDPOINT = 'http://[fd00:ec2::254]';

/**
 * IMDS is a link-local service on the instance itself and answers in milliseconds. On a machine
 * that is not EC2, 169.254.169.254 is usually unrouted and a connect hangs rather than being
 * refused, so without a short bound the agent would sit there before saying it cannot find its
 * identity. 1 s is also the AWS SDK's IMDS timeout.
 */
export const IMDS_TIMEOUT_MS = 1000;
/** 6 h, the longest IMDS allows (and what the SDK asks for): one token covers a whole boot. */
export const IMDS_TOKEN_TTL_SECONDS = 21_600;
// Refresh a little before the token's end, so that a request in flight does not outlive it.
const TOKEN_EXPIRY_MARGIN_MS = 60_000;

const TOKEN_PATH = '/latest/api/token';
export const IMDS_PATHS = {
  instanceId: '/latest/meta-data/instance-id',
  localIpv4: '/latest/meta-data/local-ipv4',
  availabilityZone: '/latest/meta-data/placement/availability-zone',
  region: '/latest/meta-data/placement/region',
  identityDocument: '/latest/dynamic/instance-identity/document',
} as const;

/** IMDS could not be reached, refused a request, or answered something unexpected. */
export class ImdsError extends SkiffError {
  /** The IMDS path the failing request was for. */
  readonly path: string;
  /** The HTTP status, when IMDS answered at all. */
  readonly httpStatus: number | undefined;
  constructor(path: string, message: string, options?: { cause?: unknown; httpStatus?: number }) {
    super(`instance metadata ${path}: ${message}`, options);
    this.name = 'ImdsError';
    this.path = path;
    this.httpStatus = options?.httpStatus;
  }
}

export interface ImdsOptions {
  /** Where IMDS listens. @default imdsEndpoint(env) */
  readonly endpoint?: string;
  /** Read for AWS_EC2_METADATA_SERVICE_ENDPOINT(_MODE) when `endpoint` is absent. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** Per request, connect to last byte. @default IMDS_TIMEOUT_MS */
  readonly timeoutMs?: number;
  /** @default IMDS_TOKEN_TTL_SECONDS */
  readonly tokenTtlSeconds?: number;
  /** The clock the token's expiry is judged by. @default Date.now */
  readonly now?: () => number;
}

const OPTION_KEYS = new Set(['endpoint', 'env', 'timeoutMs', 'tokenTtlSeconds', 'now']);

/**
 * The IMDS endpoint, chosen as the AWS SDK does: AWS_EC2_METADATA_SERVICE_ENDPOINT (a full URL)
 * first, then AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE (`IPv4` or `IPv6`), else IPv4.
 */
export function imdsEndpoint(env: NodeJS.ProcessEnv): string {
  const explicit = env.AWS_EC2_METADATA_SERVICE_ENDPOINT?.trim();
  if (explicit) {
    let url: URL;
    try {
      url = new URL(explicit);
    } catch (err) {
      throw new SkiffError(`AWS_EC2_METADATA_SERVICE_ENDPOINT is not a URL: "${explicit}"`, { cause: err });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new SkiffError(`AWS_EC2_METADATA_SERVICE_ENDPOINT must be an http(s) URL, got "${explicit}"`);
    }
    return explicit.replace(/\/+$/, '');
  }
  const mode = env.AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE?.trim();
  if (mode === undefined || mode === '' || mode.toLowerCase() === 'ipv4') return IMDS_IPV4_ENDPOINT;
  if (mode.toLowerCase() === 'ipv6') return IMDS_IPV6_ENDPOINT;
  throw new SkiffError(`AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE must be IPv4 or IPv6, got "${mode}"`);
}

/** An IMDSv2 session: takes a token once, sends it with every read, and takes a new one when IMDS says it expired. */
export class ImdsClient {
  readonly endpoint: string;
  private readonly timeoutMs: number;
  private readonly ttlSeconds: number;
  private readonly now: () => number;
  private token: { value: string; expiresAt: number } | undefined;
  // Concurrent reads share one token request instead of each taking their own.
  private pendingToken: Promise<string> | undefined;

  constructor(opts: ImdsOptions = {}) {
    for (const key of Object.keys(opts)) {
      if (!OPTION_KEYS.has(key)) throw new SkiffError(`ImdsClient: unknown option "${key}"`);
    }
    this.endpoint = opts.endpoint?.replace(/\/+$/, '') ?? imdsEndpoint(opts.env ?? process.env);
    this.timeoutMs = opts.timeoutMs ?? IMDS_TIMEOUT_MS;
    this.ttlSeconds = opts.tokenTtlSeconds ?? IMDS_TOKEN_TTL_SECONDS;
    this.now = opts.now ?? Date.now;
    if (!Number.isInteger(this.ttlSeconds) || this.ttlSeconds < 1 || this.ttlSeconds > IMDS_TOKEN_TTL_SECONDS) {
      throw new SkiffError(`ImdsClient: tokenTtlSeconds must be an integer from 1 to ${IMDS_TOKEN_TTL_SECONDS}, got ${this.ttlSeconds}`);
    }
    if (!(this.timeoutMs > 0)) throw new SkiffError(`ImdsClient: timeoutMs must be positive, got ${this.timeoutMs}`);
  }

  /** GET `path` (for example `/latest/meta-data/instance-id`) with the session token; the body as text. */
  async get(path: string): Promise<string> {
    const first = await this.request('GET', path, { 'x-aws-ec2-metadata-token': await this.sessionToken() });
    if (first.status !== 401) return this.body(path, first);
    // 401: the token outlived its TTL (or IMDS restarted). One new token, one more try: a second
    // 401 means something else is wrong, and looping would hide it.
    await first.body?.cancel();
    this.token = undefined;
    const second = await this.request('GET', path, { 'x-aws-ec2-metadata-token': await this.sessionToken() });
    if (second.status === 401) {
      await second.body?.cancel();
      throw new ImdsError(path, 'refused a fresh session token (401)', { httpStatus: 401 });
    }
    return this.body(path, second);
  }

  private async sessionToken(): Promise<string> {
    if (this.token && this.now() < this.token.expiresAt) return this.token.value;
    this.pendingToken ??= this.fetchToken().finally(() => {
      this.pendingToken = undefined;
    });
    return this.pendingToken;
  }

  private async fetchToken(): Promise<string> {
    const res = await this.request('PUT', TOKEN_PATH, { 'x-aws-ec2-metadata-token-ttl-seconds': String(this.ttlSeconds) });
    const value = (await this.body(TOKEN_PATH, res)).trim();
    if (value === '') throw new ImdsError(TOKEN_PATH, 'answered an empty session token');
    this.token = { value, expiresAt: this.now() + Math.max(0, this.ttlSeconds * 1000 - TOKEN_EXPIRY_MARGIN_MS) };
    return value;
  }

  private async request(method: 'GET' | 'PUT', path: string, headers: Record<string, string>): Promise<Response> {
    const url = `${this.endpoint}${path}`;
    try {
      return await fetch(url, { method, headers, signal: AbortSignal.timeout(this.timeoutMs), redirect: 'error' });
    } catch (err) {
      throw this.transportError(path, err);
    }
  }

  private async body(path: string, res: Response): Promise<string> {
    if (!res.ok) {
      await res.body?.cancel();
      throw new ImdsError(path, `answered ${res.status}${hint(path, res.status)}`, { httpStatus: res.status });
    }
    try {
      return await res.text();
    } catch (err) {
      throw this.transportError(path, err);
    }
  }

  private transportError(path: string, err: unknown): ImdsError {
    const name = (err as Error | undefined)?.name;
    if (name === 'TimeoutError' || name === 'AbortError') {
      return new ImdsError(path, `no answer from ${this.endpoint} within ${this.timeoutMs} ms (is this an EC2 instance?)`, { cause: err });
    }
    const code = (err as { cause?: { code?: string } } | undefined)?.cause?.code ?? (err as Error | undefined)?.message;
    return new ImdsError(path, `cannot reach ${this.endpoint} (${code}) (is this an EC2 instance?)`, { cause: err });
  }
}

function hint(path: string, status: number): string {
  if (path === TOKEN_PATH && status === 403) return ': IMDS is turned off for this instance, or the request was forwarded';
  if (path === TOKEN_PATH && status === 400) return ': the token TTL was refused';
  if (status === 404) return ': not available on this instance';
  if (status === 429) return ': throttled';
  return '';
}

/** Who the host is, as EC2 sees it. */
export interface Ec2Identity {
  /** The instance id, `i-0123456789abcdef0`: the host's id in Skiff. */
  readonly hostId: string;
  /** The primary private IPv4 address: where the host publishes container ports. */
  readonly address: string;
  readonly region: string;
  /** The availability zone, `eu-west-1a`. */
  readonly zone: string;
  /** The instance type from the identity document, `t4g.small`: claimed, never trusted (the control plane asks EC2). */
  readonly instanceType?: string;
}

const INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;
const INSTANCE_TYPE = /^[a-z0-9-]+\.[a-z0-9-]+$/;
const REGION = /^[a-z]{2}(-[a-z0-9]+)+-\d+$/;
const ZONE = /^[a-z]{2}(-[a-z0-9]+)+-\d+[a-z]$/;

/** Reads the instance id, private IPv4, region and availability zone from IMDSv2, checking each. */
export async function ec2Identity(opts: ImdsOptions | ImdsClient = {}): Promise<Ec2Identity> {
  const imds = opts instanceof ImdsClient ? opts : new ImdsClient(opts);
  // The four reads run together; they share the one session token the first of them asks for.
  const [hostId, address, zone, document] = await Promise.all([
    imds.get(IMDS_PATHS.instanceId),
    imds.get(IMDS_PATHS.localIpv4),
    imds.get(IMDS_PATHS.availabilityZone),
    imds.get(IMDS_PATHS.identityDocument),
  ]);
  let region: unknown;
  let instanceType: unknown;
  try {
    ({ region, instanceType } = JSON.parse(document) as { region?: unknown; instanceType?: unknown });
  } catch (err) {
    throw new ImdsError(IMDS_PATHS.identityDocument, 'is not JSON', { cause: err });
  }
  const check = (path: string, value: unknown, ok: (v: string) => boolean, what: string): string => {
    const v = typeof value === 'string' ? value.trim() : '';
    if (!ok(v)) throw new ImdsError(path, `expected ${what}, got ${JSON.stringify(value)}`);
    return v;
  };
  return {
    hostId: check(IMDS_PATHS.instanceId, hostId, (v) => INSTANCE_ID.test(v), 'an instance id like i-0123456789abcdef0'),
    address: check(IMDS_PATHS.localIpv4, address, isIPv4, 'an IPv4 address'),
    region: check(`${IMDS_PATHS.identityDocument} (region)`, region, (v) => REGION.test(v), 'a region like eu-west-1'),
    zone: check(IMDS_PATHS.availabilityZone, zone, (v) => ZONE.test(v), 'an availability zone like eu-west-1a'),
    ...(typeof instanceType === 'string' && INSTANCE_TYPE.test(instanceType) ? { instanceType } : {}),
  };
}

const MiB = 1024 * 1024;
/** The smallest memory reserve: see memoryReserve. */
export const MIN_MEMORY_RESERVE_BYTES = 256 * MiB;

/**
 * Memory held back from containers for what else runs on a host: the kernel's page cache needs,
 * dockerd and containerd (~100 MB), the agent (Node.js, ~80 MB), the SSM Agent (~40 MB) and
 * systemd/journald. 10% of the machine, but never under 256 MiB, since those daemons do not shrink
 * with the host (10% of a 2 GiB t4g.small would leave them 200 MB).
 */
export function memoryReserve(totalmem: number): number {
  return Math.max(MIN_MEMORY_RESERVE_BYTES, Math.floor(totalmem * 0.1));
}

/** What a host offers to tasks: 1000 millicores per CPU, and its memory less `reserve` bytes. */
export function hostCapacity(cpus: number, totalmem: number, reserve: number = memoryReserve(totalmem)): Resources {
  if (!Number.isInteger(cpus) || cpus < 1) throw new SkiffError(`host CPU count must be a positive integer, got ${cpus}`);
  if (!Number.isFinite(totalmem) || totalmem <= 0) throw new SkiffError(`host memory must be a positive number of bytes, got ${totalmem}`);
  if (!Number.isFinite(reserve) || reserve < 0) throw new SkiffError(`memory reserve must be zero or more bytes, got ${reserve}`);
  if (reserve >= totalmem) {
    throw new SkiffError(
      `host memory (${Math.floor(totalmem / MiB)} MiB) is not more than the memory reserve (${Math.floor(reserve / MiB)} MiB): set SKIFF_HOST_MEMORY`,
    );
  }
  return { cpu: cpus * 1000, memory: Math.floor(totalmem - reserve) };
}
