/**
 * The service spec: the document people write, review and keep in git. Parses YAML or an
 * already-decoded object, rejects it whole with every problem listed by path, and returns the
 * validated shape with every default filled in (what is stored and what `skiff get -o json` shows).
 */
import { z } from 'zod';
import YAML from 'yaml';
import { ValidationError } from './errors.ts';
import type { FieldIssue } from './errors.ts';
import { formatCpu, formatMemory, parseCpu, parseMemory } from './quantity.ts';
import type { ContainerSpec, HealthCheck, ServiceSpec } from './types.ts';

/** Service and namespace names are DNS labels of at most this length (see NAME_LENGTH_REASON). */
export const MAX_NAME_LENGTH = 40;
const NAME_LENGTH_REASON =
  'task ids append "-<slot>-<5 characters>" to the service name and must stay within the 63-character limit of a hostname';

/** A DNS label (RFC 1123) may have at most 63 characters. */
const DNS_LABEL_MAX = 63;
export const MAX_REPLICAS = 1000;
export const MAX_CONTAINERS = 10;

/** CPU a container gets when its spec names none: 100m (a tenth of a core). */
export const DEFAULT_CPU_MILLIS = 100;
/** Memory a container gets when its spec names none: 64Mi. */
export const DEFAULT_MEMORY_BYTES = 64 * 1024 * 1024;
/**
 * The smallest memory limit Docker accepts since Engine 20.10: the daemon refuses anything below
 * 6291456 bytes ("Minimum memory limit allowed is 6MB"; it was 4MB before 20.10, but a limit that
 * some supported Docker rejects would fail only at run time, on the host).
 */
export const MIN_MEMORY_BYTES = 6 * 1024 * 1024;

/** Health check timing defaults, in seconds (docs/spec.md explains each). */
export const HEALTH_DEFAULTS = {
  intervalSeconds: 10,
  /** Or intervalSeconds when that is shorter: a probe may not outlast the interval (see healthIssues). */
  timeoutSeconds: 1,
  startPeriodSeconds: 0,
  failureThreshold: 3,
  successThreshold: 1,
} as const;
/** Healthy HTTP statuses when a check names none: Kubernetes' rule, 2xx and 3xx (redirects are not followed). */
export const DEFAULT_HEALTHY_STATUS: readonly [number, number] = [200, 399];
/** The shortest interval and timeout: probes are timers and connections on the host, not a busy loop. */
export const MIN_PROBE_SECONDS = 0.1;
/** Interval and timeout at most an hour: a rarer probe no longer watches health, and the agent's timers stay far below Node's 24.8-day limit. */
export const MAX_PROBE_SECONDS = 3600;
/** A start period of at most a day (a slow database recovery), for the same timer limit. */
export const MAX_START_PERIOD_SECONDS = 86_400;

const DNS_LABEL = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?$/;
const DNS_LABEL_RULE = 'lowercase letters, digits and "-", starting and ending with a letter or digit';

/** True for an RFC 1123 DNS label: lowercase letters, digits and '-', alphanumeric at both ends, at most 63 characters. */
export function isDnsLabel(value: string): boolean {
  return value.length <= DNS_LABEL_MAX && DNS_LABEL.test(value);
}

// ---------------------------------------------------------------------------------------------
// Messages. Every message names what is accepted and what was given; the path is added later.

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function got(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  return String(value);
}

const EXPECTED: Readonly<Record<string, string>> = {
  object: 'a map',
  record: 'a map',
  array: 'a list',
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
};

/** A zod issue as the error map sees it, reduced to what the messages here read. */
interface RawIssue {
  readonly code?: string;
  readonly input?: unknown;
  readonly expected?: string;
  readonly values?: readonly unknown[];
}

/** An error map for one schema: "is required" when absent, else the rule and what was given. */
function rule(text: string): (issue: RawIssue) => string {
  return (issue) => (issue.input === undefined && issue.code === 'invalid_type' ? 'is required' : `${text}; got ${got(issue.input)}`);
}

/** Strings in YAML must be quoted when they look like numbers or booleans; say so instead of "expected string". */
function stringValue(issue: RawIssue): string {
  if (issue.input === undefined) return 'is required';
  if (typeof issue.input === 'number' || typeof issue.input === 'boolean') {
    return `must be a string; got the ${typeof issue.input} ${String(issue.input)}: quote it in YAML ("${String(issue.input)}")`;
  }
  return `must be a string; got ${got(issue.input)}`;
}

/** The fallback for issues that no schema words itself. */
function defaultMessage(issue: RawIssue): string | undefined {
  if (issue.code === 'invalid_type') {
    if (issue.input === undefined) return 'is required';
    return `must be ${EXPECTED[issue.expected ?? ''] ?? issue.expected}; got ${got(issue.input)}`;
  }
  if (issue.code === 'invalid_value' && issue.values) {
    const hint = typeof issue.input === 'string' ? didYouMean(issue.input, issue.values.map(String)) : '';
    return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}; got ${got(issue.input)}${hint}`;
  }
  return undefined;
}

/** Levenshtein distance, for "did you mean". */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length];
}

/** The candidate that matches case-insensitively or is within 2 edits, if any. */
function closest(word: string, candidates: readonly string[]): string | undefined {
  const lower = word.toLowerCase();
  const exact = candidates.find((c) => c.toLowerCase() === lower);
  if (exact !== undefined) return exact;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(lower, c.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  // A two-letter word is within 2 edits of every short field; only suggest when something of it survives.
  return bestDistance <= 2 && bestDistance < word.length ? best : undefined;
}

/** ` (did you mean "x"?)` when a candidate is close, else ''. */
function didYouMean(word: string, candidates: readonly string[]): string {
  const match = closest(word, candidates);
  return match === undefined ? '' : ` (did you mean "${match}"?)`;
}

// ---------------------------------------------------------------------------------------------
// Field rules that are more than a type.

function dnsLabelProblem(value: string, max: number, reason?: string): string | undefined {
  if (!DNS_LABEL.test(value)) return `must be a DNS label (${DNS_LABEL_RULE}); got ${got(value)}`;
  if (value.length > max) {
    return `must be at most ${max} characters${reason ? ` (${reason})` : ''}; got ${value.length} characters`;
  }
  return undefined;
}

/** The first component of a reference is a registry host when it has a '.' or ':' or is localhost (Docker's rule). */
function imageProblem(ref: string): string | undefined {
  if (ref === '') return 'must not be empty';
  if (/\s/.test(ref)) return `must not contain spaces; got ${got(ref)}`;
  let name = ref;
  const at = ref.indexOf('@');
  if (at >= 0) {
    const digest = ref.slice(at + 1);
    name = ref.slice(0, at);
    if (!/^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,}$/.test(digest)) {
      return `has an invalid digest ${got(digest)} (expected algorithm:hex, such as sha256:<64 hex digits>)`;
    }
  }
  const colon = name.lastIndexOf(':');
  if (colon > name.lastIndexOf('/')) {
    const tag = name.slice(colon + 1);
    name = name.slice(0, colon);
    if (!/^\w[\w.-]{0,127}$/.test(tag)) {
      return `has an invalid tag ${got(tag)} (letters, digits, "_", "." and "-", at most 128, not starting with "." or "-")`;
    }
  }
  const parts = name.split('/');
  const hasRegistry = parts.length > 1 && (/[.:]/.test(parts[0]) || parts[0] === 'localhost');
  if (hasRegistry && !/^[A-Za-z0-9.-]+(?::\d+)?$/.test(parts[0])) return `has an invalid registry host ${got(parts[0])}`;
  const repository = hasRegistry ? parts.slice(1) : parts;
  if (/[A-Z]/.test(repository.join('/'))) return `repository name must be lowercase; got ${got(ref)}`;
  for (const part of repository) {
    if (!/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/.test(part)) {
      return `must be a Docker image reference such as skiff/busybox:latest; ${got(part)} is not a valid repository path component in ${got(ref)}`;
    }
  }
  return undefined;
}

/** IANA service names, as Kubernetes checks port names: at most 15, lowercase alnum and '-', a letter, no '--', no '-' at either end. */
function portNameProblem(name: string): string | undefined {
  const rules = 'at most 15 characters of lowercase letters, digits and "-", with at least one letter, no "--" and no "-" at either end';
  const ok = name.length <= 15 && /^[a-z0-9-]+$/.test(name) && /[a-z]/.test(name) && !name.includes('--') && !/^-|-$/.test(name);
  return ok ? undefined : `must be an IANA service name (${rules}); got ${got(name)}`;
}

const LABEL_NAME = /^[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_NAME_RULE = 'at most 63 letters, digits, "-", "_" and ".", starting and ending with a letter or digit';

/** Label keys and values follow Kubernetes: `[prefix/]name`, the prefix a DNS subdomain. */
function labelKeyProblem(key: string): string | undefined {
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) {
    return `label key prefix ${got(prefix)} must be a DNS subdomain such as example.com`;
  }
  if (name.length > DNS_LABEL_MAX || !LABEL_NAME.test(name)) return `label key ${got(key)} must be [prefix/]name, name ${LABEL_NAME_RULE}`;
  return undefined;
}

function labelValueProblem(value: string): string | undefined {
  if (value === '' || (value.length <= DNS_LABEL_MAX && LABEL_NAME.test(value))) return undefined;
  return `must be empty or ${LABEL_NAME_RULE}; got ${got(value)}`;
}

/** A placement constraint against host labels. */
export interface Constraint {
  readonly key: string;
  readonly op: '==' | '!=';
  readonly value: string;
}

const CONSTRAINT = /^\s*([^\s=!]+)\s*(==|!=)\s*(\S+)\s*$/;

/** Parses `key == value` or `key != value`; undefined when the text is not a constraint. */
export function parseConstraint(text: string): Constraint | undefined {
  const m = CONSTRAINT.exec(text);
  if (!m || labelKeyProblem(m[1]) !== undefined || labelValueProblem(m[3]) !== undefined) return undefined;
  return { key: m[1], op: m[2] as Constraint['op'], value: m[3] };
}

function envNameProblem(name: string): string | undefined {
  // Docker passes env as "NAME=value" strings: a name cannot hold '=' or be empty (Kubernetes' rule too).
  if (name === '' || name.includes('=') || name.includes('\0')) {
    return `environment variable name ${got(name)} must be non-empty and must not contain "="`;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Schemas.

/** Adds an issue with `problem`'s message when it finds one. */
function checked<T extends z.ZodType>(schema: T, problem: (value: z.output<T>) => string | undefined): T {
  return schema.check((payload) => {
    const message = problem(payload.value);
    if (message !== undefined) payload.issues.push({ code: 'custom', message, input: payload.value });
  });
}

function dnsLabel(max: number, reason?: string) {
  return checked(z.string({ error: rule(`must be a DNS label (${DNS_LABEL_RULE})`) }), (v) => dnsLabelProblem(v, max, reason));
}

/** A quantity field: string or number in, integer out, `fallback` when absent. */
function quantity(parse: (value: string | number) => number, fallback: number, minimum: (n: number) => string | undefined) {
  return z.unknown().transform((value, ctx): number => {
    if (value === undefined) return fallback;
    try {
      // The parsers check the type at run time too, and word the error with the accepted forms.
      const n = parse(value as string | number);
      const low = minimum(n);
      if (low !== undefined) ctx.addIssue({ code: 'custom', message: low, input: value });
      return n;
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      for (const issue of error.issues) ctx.addIssue({ code: 'custom', message: issue.message, input: value });
      return z.NEVER;
    }
  });
}

function port(what: string) {
  const error = rule(`${what} must be an integer from 1 to 65535`);
  return z.number({ error }).int({ error }).min(1, { error }).max(65535, { error });
}

const stringList = (example: string) =>
  z.array(z.string({ error: stringValue }), { error: rule(`must be a list of strings, such as ${example}`) });

/**
 * A map of names to strings (env, labels), `{}` when absent. Checked by hand rather than with
 * z.record, which drops a `__proto__` key and rejects a map holding a `constructor` key.
 */
function stringMap(keyProblem: (key: string) => string | undefined, valueProblem: (value: string) => string | undefined = () => undefined) {
  return z.unknown().transform((value, ctx): Record<string, string> => {
    if (value === undefined) return {};
    if (!isRecord(value)) {
      ctx.addIssue({ code: 'custom', message: `must be a map of names to strings; got ${got(value)}`, input: value });
      return {};
    }
    const entries: [string, string][] = [];
    for (const [key, item] of Object.entries(value)) {
      const keyIssue = keyProblem(key);
      if (keyIssue !== undefined) ctx.addIssue({ code: 'custom', message: keyIssue, input: key, path: [key] });
      const valueIssue = typeof item === 'string' ? valueProblem(item) : stringValue({ code: 'invalid_type', input: item });
      if (valueIssue !== undefined) ctx.addIssue({ code: 'custom', message: valueIssue, input: item, path: [key] });
      if (typeof item === 'string') entries.push([key, item]);
    }
    // fromEntries defines own properties, so even a key named __proto__ stays an ordinary entry.
    return Object.fromEntries(entries);
  });
}

const PortSchema = z.strictObject({
  containerPort: port('containerPort'),
  name: checked(z.string({ error: stringValue }), portNameProblem).optional(),
  protocol: z.enum(['tcp', 'udp']).default('tcp'),
  hostPort: port('hostPort').optional(),
});

const ResourcesSchema = z.strictObject({
  cpu: quantity(parseCpu, DEFAULT_CPU_MILLIS, (m) => (m > 0 ? undefined : 'cpu must be more than 0, such as 100m')),
  memory: quantity(parseMemory, DEFAULT_MEMORY_BYTES, (b) =>
    b >= MIN_MEMORY_BYTES ? undefined : `memory must be at least 6Mi (${MIN_MEMORY_BYTES} bytes), the smallest limit Docker accepts; got ${formatMemory(b)}`,
  ),
});

/** Seconds as a number from `min` to `max`; fractions allowed (tests use 0.5 s probes). */
function seconds(min: number, max: number) {
  const error = rule(`must be a number of seconds from ${min} to ${max}`);
  return z.number({ error }).min(min, { error }).max(max, { error });
}

function threshold() {
  const error = rule('must be an integer of at least 1');
  return z.number({ error }).int({ error }).min(1, { error });
}

/**
 * A probed port: a containerPort number or the name of a port of the pod. Whether the pod declares
 * it is checked across containers in healthIssues; names become numbers in resolveHealth.
 */
const probePort = z.unknown().transform((value, ctx): number | string => {
  const error = 'must be a containerPort number (1 to 65535) or the name of a port declared in the pod';
  if (value === undefined) ctx.addIssue({ code: 'custom', message: 'is required', input: value });
  else if (typeof value === 'string' || (typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65535)) return value;
  else ctx.addIssue({ code: 'custom', message: `${error}; got ${got(value)}`, input: value });
  return z.NEVER;
});

function httpPathProblem(path: string): string | undefined {
  if (!path.startsWith('/')) return `must be a URL path starting with "/", such as /healthz; got ${got(path)}`;
  if (/[\s\x00-\x1f\x7f]/.test(path)) return `must not contain spaces or control characters (percent-encode them); got ${got(path)}`;
  return undefined;
}

/** An inclusive range of healthy HTTP statuses, `[min, max]`. */
const httpStatusRange = z.unknown().transform((value, ctx): [number, number] => {
  if (value === undefined) return [...DEFAULT_HEALTHY_STATUS] as [number, number];
  const isStatus = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 100 && n <= 599;
  if (Array.isArray(value) && value.length === 2 && isStatus(value[0]) && isStatus(value[1])) {
    if (value[0] <= value[1]) return [value[0], value[1]];
    ctx.addIssue({ code: 'custom', message: `must be [min, max] with min <= max; got [${value[0]}, ${value[1]}]`, input: value });
    return z.NEVER;
  }
  const given = Array.isArray(value) ? JSON.stringify(value) : got(value);
  ctx.addIssue({ code: 'custom', message: `must be [min, max], two HTTP statuses from 100 to 599, such as [200, 399]; got ${given}`, input: value });
  return z.NEVER;
});

const HttpProbeSchema = z.strictObject({
  path: checked(z.string({ error: stringValue }), httpPathProblem).default('/'),
  port: probePort,
  status: httpStatusRange,
});

const TcpProbeSchema = z.strictObject({ port: probePort });

const ExecProbeSchema = z.strictObject({
  command: checked(stringList('["test", "-f", "/tmp/ready"]'), (v) =>
    v.length === 0 ? 'must not be empty: give the program and its arguments, such as ["test", "-f", "/tmp/ready"]' : v.some((a) => a === '') ? `must not hold an empty string; got ${JSON.stringify(v)}` : undefined,
  ),
});

/** Exactly one of http, tcp, exec (checked in healthIssues, with every other issue); timings as written. */
const HealthSchema = z.strictObject({
  http: HttpProbeSchema.optional(),
  tcp: TcpProbeSchema.optional(),
  exec: ExecProbeSchema.optional(),
  intervalSeconds: seconds(MIN_PROBE_SECONDS, MAX_PROBE_SECONDS).default(HEALTH_DEFAULTS.intervalSeconds),
  // No default here: it depends on the interval (resolveHealth).
  timeoutSeconds: seconds(MIN_PROBE_SECONDS, MAX_PROBE_SECONDS).optional(),
  startPeriodSeconds: seconds(0, MAX_START_PERIOD_SECONDS).default(HEALTH_DEFAULTS.startPeriodSeconds),
  failureThreshold: threshold().default(HEALTH_DEFAULTS.failureThreshold),
  successThreshold: threshold().default(HEALTH_DEFAULTS.successThreshold),
});

const ContainerSchema = z.strictObject({
  name: dnsLabel(DNS_LABEL_MAX),
  image: checked(z.string({ error: rule('must be a Docker image reference such as skiff/busybox:latest') }), imageProblem),
  command: checked(stringList('["sh", "-c", "exec httpd -f"]'), (v) => (v.length === 0 ? "must not be empty: omit it to use the image's entrypoint" : undefined)).optional(),
  args: stringList('["--port", "8080"]').optional(),
  env: stringMap(envNameProblem),
  ports: z.array(PortSchema, { error: rule('must be a list of ports, such as [{ containerPort: 8080 }]') }).default(() => []),
  resources: ResourcesSchema.default(() => ({ cpu: DEFAULT_CPU_MILLIS, memory: DEFAULT_MEMORY_BYTES })),
  health: HealthSchema.optional(),
});

const PlacementSchema = z.strictObject({
  strategy: z.enum(['spread', 'binpack']).default('spread'),
  constraints: z
    .array(
      z.string({ error: rule('must be a constraint "key == value" or "key != value"') }).transform((text, ctx) => {
        const c = parseConstraint(text);
        if (c) return `${c.key} ${c.op} ${c.value}`;
        ctx.addIssue({ code: 'custom', message: `must be a constraint "key == value" or "key != value" on host labels; got ${got(text)}`, input: text });
        return z.NEVER;
      }),
      { error: rule('must be a list of constraints, such as ["zone == a"]') },
    )
    .default(() => []),
});

/** The longest DNS name (RFC 1035: 255 octets on the wire, 253 characters written out). */
const DNS_NAME_MAX = 253;

/**
 * An ingress host: a lowercase DNS name, matched against the request's Host header. Common slips
 * (a URL, a port, a trailing dot, capitals) get the host they probably meant.
 */
function ingressHostProblem(host: string): string | undefined {
  const rules = `a DNS name such as shop.example.com: labels of ${DNS_LABEL_RULE}, separated by "."`;
  const suggest = (fixed: string): string => (fixed !== host && ingressHostProblem(fixed) === undefined ? ` (did you mean "${fixed}"?)` : '');
  if (host === '') return `must be ${rules}; got an empty string`;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(host) || host.includes('/')) {
    const bare = host.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').split('/')[0].replace(/:\d*$/, '').toLowerCase();
    return `must be a host name without a scheme or path${suggest(bare)}: ${rules}; got ${got(host)}`;
  }
  if (/:\d*$/.test(host)) {
    return `must be a host name without a port${suggest(host.replace(/:\d*$/, '').toLowerCase())}: the load balancer listens on its own port; got ${got(host)}`;
  }
  if (host.startsWith('*')) return `must be one host name: wildcard hosts are not supported; got ${got(host)}`;
  if (host.endsWith('.')) return `must be written without the trailing "."${suggest(host.replace(/\.+$/, ''))}; got ${got(host)}`;
  if (host !== host.toLowerCase()) return `must be lowercase${suggest(host.toLowerCase())}: Host headers are matched without regard to case; got ${got(host)}`;
  if (host.length > DNS_NAME_MAX) return `must be at most ${DNS_NAME_MAX} characters (the longest DNS name); got ${host.length} characters`;
  const labels = host.split('.');
  const bad = labels.find((l) => !isDnsLabel(l));
  if (bad !== undefined) {
    const what = bad === '' ? 'an empty label (two dots in a row, or a leading dot)' : `the label ${got(bad)}`;
    return `must be ${rules}, each label at most ${DNS_LABEL_MAX} characters; ${what} is not one, in ${got(host)}`;
  }
  // No top-level domain is all digits, so such a name is an IP address or a typo of one.
  if (/^\d+$/.test(labels[labels.length - 1])) return `must be a DNS name, not an IP address: requests are routed by their Host header; got ${got(host)}`;
  return undefined;
}

/** `spec.ingress`: whether the port exists in the pod is checked with the whole pod in ingressIssues. */
const IngressSchema = z.strictObject({
  host: checked(z.string({ error: stringValue }), ingressHostProblem),
  port: probePort,
  sessionAffinity: z
    .boolean({ error: rule('must be true or false (true keeps each client on one replica, with a cookie)') })
    .default(false),
}, { error: rule('must be a map such as { host: shop.example.com, port: http }') });

const replicasRule = rule(`must be an integer from 0 to ${MAX_REPLICAS}`);
const containersRule = (issue: RawIssue): string =>
  Array.isArray(issue.input)
    ? `must list from 1 to ${MAX_CONTAINERS} containers; got ${issue.input.length}`
    : rule('must be a list of containers')(issue);

const SpecSchema = z.strictObject({
  replicas: z.number({ error: replicasRule }).int({ error: replicasRule }).min(0, { error: replicasRule }).max(MAX_REPLICAS, { error: replicasRule }).default(1),
  containers: z.array(ContainerSchema, { error: containersRule }).min(1, { error: containersRule }).max(MAX_CONTAINERS, { error: containersRule }),
  restartPolicy: z.enum(['always', 'on-failure', 'never']).default('always'),
  placement: PlacementSchema.default(() => ({ strategy: 'spread' as const, constraints: [] })),
  ingress: IngressSchema.optional(),
});

const MetadataSchema = z.strictObject({
  name: dnsLabel(MAX_NAME_LENGTH, NAME_LENGTH_REASON),
  namespace: dnsLabel(MAX_NAME_LENGTH, 'the same limit as service names').default('default'),
  labels: stringMap(labelKeyProblem, labelValueProblem),
});

const ServiceSchema = z.strictObject(
  {
    kind: z.literal('Service', {
      error: (issue) =>
        issue.input === undefined ? 'is required: a service spec starts with "kind: Service"' : `must be "Service" (the only kind so far); got ${got(issue.input)}`,
    }),
    metadata: MetadataSchema,
    spec: SpecSchema,
  },
  { error: (issue) => `a service spec must be a map with kind, metadata and spec; got ${got(issue.input)}` },
);

/**
 * Names other tools give a field (Docker, Compose, Kubernetes), answered with Skiff's name: they are
 * too far from it for the edit-distance suggestion.
 */
const ALIASES = new Map<z.ZodType, Readonly<Record<string, string>>>([
  [
    HealthSchema,
    {
      interval: 'intervalSeconds',
      periodSeconds: 'intervalSeconds',
      timeout: 'timeoutSeconds',
      retries: 'failureThreshold',
      start_period: 'startPeriodSeconds',
      startPeriod: 'startPeriodSeconds',
      initialDelaySeconds: 'startPeriodSeconds',
      test: 'exec',
      httpGet: 'http',
      tcpSocket: 'tcp',
    },
  ],
  [
    IngressSchema,
    {
      hostname: 'host',
      hosts: 'host',
      servicePort: 'port',
      targetPort: 'port',
      containerPort: 'port',
      sticky: 'sessionAffinity',
      stickySessions: 'sessionAffinity',
      stickiness: 'sessionAffinity',
      affinity: 'sessionAffinity',
    },
  ],
]);

/** Fields of spec.md's later shape: named as "not supported yet" rather than as typos. */
const PLANNED = new Map<z.ZodType, readonly string[]>([
  [SpecSchema, ['volumes', 'autoscaling', 'update']],
  [ContainerSchema, ['volumeMounts']],
]);

// ---------------------------------------------------------------------------------------------
// Issues: zod's, turned into FieldIssues with readable paths, plus the pod-wide rules.

/** `spec.containers[0].env["MY-VAR"]` */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (typeof segment === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(String(segment))}]`;
  }
  return out;
}

/** Walks the schema along a value path to the object schema found there, for "did you mean". */
function objectSchemaAt(path: readonly PropertyKey[]): z.ZodObject | undefined {
  let schema: z.ZodType | undefined = ServiceSchema;
  const unwrap = (s: z.ZodType | undefined): z.ZodType | undefined => {
    while (s instanceof z.ZodDefault || s instanceof z.ZodOptional) s = s.unwrap() as z.ZodType;
    return s;
  };
  for (const segment of path) {
    schema = unwrap(schema);
    if (schema instanceof z.ZodObject) schema = (schema.shape as Record<string, z.ZodType>)[String(segment)];
    else if (schema instanceof z.ZodArray) schema = schema.element as z.ZodType;
    else return undefined;
  }
  schema = unwrap(schema);
  return schema instanceof z.ZodObject ? schema : undefined;
}

function unknownFieldIssues(path: readonly PropertyKey[], keys: readonly string[]): FieldIssue[] {
  const schema = objectSchemaAt(path);
  const known = schema ? Object.keys(schema.shape) : [];
  const planned = (schema && PLANNED.get(schema)) ?? [];
  return keys.map((key) => {
    if (planned.includes(key)) return { path: formatPath([...path, key]), message: `unknown field "${key}": not supported yet` };
    const aliases = (schema && ALIASES.get(schema)) ?? {};
    const alias = Object.hasOwn(aliases, key) ? aliases[key] : undefined;
    if (alias !== undefined) return { path: formatPath([...path, key]), message: `unknown field "${key}" (did you mean "${alias}"?)` };
    // A typo of a planned field still gets its suggestion, with the news that it does not exist yet.
    const match = closest(key, [...known, ...planned]);
    const hint = match === undefined ? '' : planned.includes(match) ? ` (did you mean "${match}"? it is not supported yet)` : ` (did you mean "${match}"?)`;
    return { path: formatPath([...path, key]), message: `unknown field "${key}"${hint}` };
  });
}

function toFieldIssues(issues: readonly z.core.$ZodIssue[]): FieldIssue[] {
  return issues.flatMap((issue): FieldIssue[] => {
    if (issue.code === 'unrecognized_keys') return unknownFieldIssues(issue.path, issue.keys);
    return [{ path: formatPath(issue.path), message: issue.message }];
  });
}

/**
 * Rules across the containers of a pod. They read the raw input defensively, skipping values
 * of the wrong type (zod reports those), so that they are reported together with every other
 * issue: zod would skip a refinement on an object that has any issue inside it.
 */
function podIssues(input: unknown): FieldIssue[] {
  const containers = isRecord(input) && isRecord(input.spec) && Array.isArray(input.spec.containers) ? input.spec.containers : [];
  const issues: FieldIssue[] = [];
  const names = new Map<string, string>();
  const portNames = new Map<string, string>();
  const containerPorts = new Map<string, string>();
  const hostPorts = new Map<string, string>();
  const claim = (seen: Map<string, string>, key: string, path: string, message: (first: string) => string): void => {
    const first = seen.get(key);
    if (first === undefined) seen.set(key, path);
    else issues.push({ path, message: message(first) });
  };
  containers.forEach((container, i) => {
    if (!isRecord(container)) return;
    const at = `spec.containers[${i}]`;
    if (typeof container.name === 'string') {
      claim(names, container.name, `${at}.name`, (first) => `duplicate container name "${container.name}" (also at ${first}): container names must be unique within the pod`);
    }
    if (!Array.isArray(container.ports)) return;
    container.ports.forEach((p, j) => {
      if (!isRecord(p)) return;
      const portAt = `${at}.ports[${j}]`;
      const protocol = p.protocol === undefined ? 'tcp' : p.protocol;
      if (protocol !== 'tcp' && protocol !== 'udp') return;
      if (Number.isInteger(p.containerPort)) {
        claim(containerPorts, `${protocol}/${p.containerPort}`, `${portAt}.containerPort`, (first) =>
          `containerPort ${p.containerPort}/${protocol} is already used at ${first}: the containers of a pod share one network namespace, so each port/protocol appears once`,
        );
      }
      if (Number.isInteger(p.hostPort)) {
        claim(hostPorts, `${protocol}/${p.hostPort}`, `${portAt}.hostPort`, (first) => `hostPort ${p.hostPort}/${protocol} is already used at ${first}: a host port can be bound once`);
      }
      if (typeof p.name === 'string') {
        claim(portNames, p.name, `${portAt}.name`, (first) => `duplicate port name "${p.name}" (also at ${first}): port names must be unique within the pod`);
      }
    });
  });
  return issues;
}

/** The ports a pod declares, read from raw input: `tcp/8080` and names, each with where it is declared. */
interface DeclaredPort {
  readonly containerPort: number;
  readonly protocol: string;
  readonly name?: string;
}

function declaredPorts(containers: readonly unknown[]): DeclaredPort[] {
  return containers.flatMap((c) =>
    isRecord(c) && Array.isArray(c.ports)
      ? c.ports.flatMap((p): DeclaredPort[] =>
          isRecord(p) && Number.isInteger(p.containerPort)
            ? [{ containerPort: p.containerPort as number, protocol: p.protocol === undefined ? 'tcp' : String(p.protocol), ...(typeof p.name === 'string' ? { name: p.name } : {}) }]
            : [],
        )
      : [],
  );
}

/** Why a probe may not use `port`, if it may not; `declared` are the pod's ports. */
function probePortProblem(port: unknown, kind: string, declared: readonly DeclaredPort[]): string | undefined {
  // The host may only talk to its own loopback (locally) or the host's address, never a container's
  // bridge IP: the agent reaches a port through the host endpoint it is published on, and Skiff
  // publishes exactly the ports the pod declares.
  const why = 'the agent probes a port through its published host endpoint, and only declared ports are published';
  if (typeof port === 'number' && Number.isInteger(port)) {
    const match = declared.filter((p) => p.containerPort === port);
    if (match.length === 0) {
      return `port ${port} is not a containerPort declared in the pod: ${why}; add it to ports (such as ports: [{ containerPort: ${port} }])`;
    }
    if (!match.some((p) => p.protocol === 'tcp')) return `port ${port} is declared with protocol udp, but ${kind} probes connect over tcp`;
    return undefined;
  }
  if (typeof port === 'string') {
    if (/^\d+$/.test(port) && !declared.some((p) => p.name === port)) return `must be a number or a port name; got the string "${port}": write it without quotes`;
    const named = declared.find((p) => p.name === port);
    if (named === undefined) {
      const names = declared.flatMap((p) => (p.name === undefined ? [] : [p.name]));
      const hint = didYouMean(port, names);
      const known = names.length === 0 ? 'the pod names no ports' : `the pod's port names are ${names.map((n) => JSON.stringify(n)).join(', ')}`;
      return `port "${port}" is not the name of a port declared in the pod${hint}: ${why}; ${known}`;
    }
    if (named.protocol !== 'tcp') return `port "${port}" is declared with protocol ${named.protocol}, but ${kind} probes connect over tcp`;
  }
  // Other types are zod's to report.
  return undefined;
}

/**
 * Rules of health checks that need more than one field or the whole pod: exactly one probe kind,
 * a probed port the pod declares, a timeout within the interval. Read from the raw input like
 * podIssues, so they come with every other issue.
 */
function healthIssues(input: unknown): FieldIssue[] {
  const containers = isRecord(input) && isRecord(input.spec) && Array.isArray(input.spec.containers) ? input.spec.containers : [];
  const declared = declaredPorts(containers);
  const issues: FieldIssue[] = [];
  containers.forEach((container, i) => {
    if (!isRecord(container) || !isRecord(container.health)) return;
    const health = container.health;
    const at = `spec.containers[${i}].health`;
    const kinds = (['http', 'tcp', 'exec'] as const).filter((k) => health[k] !== undefined);
    if (kinds.length !== 1) {
      const given = kinds.length === 0 ? 'none' : kinds.join(' and ');
      issues.push({ path: at, message: `must have exactly one probe, http, tcp or exec, such as http: { path: /healthz, port: 8080 }; got ${given}` });
    }
    for (const kind of ['http', 'tcp'] as const) {
      const probe = health[kind];
      if (!isRecord(probe)) continue;
      const problem = probePortProblem(probe.port, kind, declared);
      if (problem !== undefined) issues.push({ path: `${at}.${kind}.port`, message: problem });
    }
    const interval = health.intervalSeconds === undefined ? HEALTH_DEFAULTS.intervalSeconds : health.intervalSeconds;
    const timeout = health.timeoutSeconds;
    if (typeof timeout === 'number' && typeof interval === 'number' && timeout > interval) {
      // Probes of a container never overlap, so a longer timeout would silently stretch the interval
      // (Kubernetes allows it; Skiff says so instead).
      issues.push({
        path: `${at}.timeoutSeconds`,
        message: `must not be longer than intervalSeconds (${interval}${health.intervalSeconds === undefined ? ', the default' : ''}): a container's probes never overlap; got ${timeout}`,
      });
    }
  });
  return issues;
}

/** Why the ingress may not use `port`, if it may not; `declared` are the pod's ports. */
function ingressPortProblem(port: unknown, declared: readonly DeclaredPort[]): string | undefined {
  // The load balancer reaches a replica where its host publishes the port (the host's address and
  // host port), never at the container's own IP; Skiff publishes exactly the ports the pod declares.
  const why = 'the load balancer reaches each replica where its host publishes the port, and only declared ports are published';
  if (typeof port === 'number' && Number.isInteger(port) && port >= 1 && port <= 65535) {
    const match = declared.filter((p) => p.containerPort === port);
    if (match.length === 0) {
      return `port ${port} is not a containerPort declared in the pod: ${why}; add it to ports (such as ports: [{ containerPort: ${port}, name: http }])`;
    }
    if (!match.some((p) => p.protocol === 'tcp')) return `port ${port} is declared with protocol udp, but ingress carries HTTP over tcp`;
    return undefined;
  }
  if (typeof port === 'string') {
    if (/^\d+$/.test(port) && !declared.some((p) => p.name === port)) return `must be a number or a port name; got the string "${port}": write it without quotes`;
    const named = declared.find((p) => p.name === port);
    if (named === undefined) {
      const names = declared.flatMap((p) => (p.name === undefined ? [] : [p.name]));
      const known = names.length === 0 ? 'the pod names no ports' : `the pod's port names are ${names.map((n) => JSON.stringify(n)).join(', ')}`;
      return `port "${port}" is not the name of a port declared in the pod${didYouMean(port, names)}: ${why}; ${known}`;
    }
    if (named.protocol !== 'tcp') return `port "${port}" is declared with protocol ${named.protocol}, but ingress carries HTTP over tcp`;
  }
  // Other types are zod's to report.
  return undefined;
}

/** The ingress port against the whole pod, read from the raw input like healthIssues. */
function ingressIssues(input: unknown): FieldIssue[] {
  if (!isRecord(input) || !isRecord(input.spec) || !isRecord(input.spec.ingress)) return [];
  const containers = Array.isArray(input.spec.containers) ? input.spec.containers : [];
  const problem = ingressPortProblem(input.spec.ingress.port, declaredPorts(containers));
  return problem === undefined ? [] : [{ path: 'spec.ingress.port', message: problem }];
}

type ParsedService = z.output<typeof ServiceSchema>;
type ParsedContainer = ParsedService['spec']['containers'][number];

/** The stored HealthCheck: port names resolved to numbers, the timeout defaulted, keys in one order. */
function resolveHealth(health: NonNullable<ParsedContainer['health']>, containers: readonly ParsedContainer[]): HealthCheck {
  const number = (port: number | string): number => {
    if (typeof port === 'number') return port;
    // healthIssues has checked that the name exists.
    const found = containers.flatMap((c) => c.ports).find((p) => p.name === port);
    if (found === undefined) throw new Error(`health port "${port}" was not resolved; healthIssues should have rejected it`);
    return found.containerPort;
  };
  const probe: Pick<HealthCheck, 'http' | 'tcp' | 'exec'> = health.http
    ? { http: { path: health.http.path, port: number(health.http.port), status: [health.http.status[0], health.http.status[1]] } }
    : health.tcp
      ? { tcp: { port: number(health.tcp.port) } }
      : { exec: { command: health.exec!.command } };
  return {
    ...probe,
    intervalSeconds: health.intervalSeconds,
    timeoutSeconds: health.timeoutSeconds ?? Math.min(HEALTH_DEFAULTS.timeoutSeconds, health.intervalSeconds),
    startPeriodSeconds: health.startPeriodSeconds,
    failureThreshold: health.failureThreshold,
    successThreshold: health.successThreshold,
  };
}

/** The validated spec with every health check in its stored form. */
function toServiceSpec(parsed: ParsedService): ServiceSpec {
  const containers = parsed.spec.containers.map((c): ContainerSpec => {
    const { health, ...rest } = c;
    return health === undefined ? rest : { ...rest, health: resolveHealth(health, parsed.spec.containers) };
  });
  const { ingress, ...spec } = parsed.spec;
  return { ...parsed, spec: { ...spec, containers, ...(ingress === undefined ? {} : { ingress: resolveIngress(ingress, parsed.spec.containers) }) } };
}

/** The stored ingress: the port as its containerPort number. */
function resolveIngress(ingress: NonNullable<ParsedService['spec']['ingress']>, containers: readonly ParsedContainer[]): NonNullable<ServiceSpec['spec']['ingress']> {
  let port = ingress.port;
  if (typeof port === 'string') {
    // ingressIssues has checked that the name exists.
    const found = containers.flatMap((c) => c.ports).find((p) => p.name === port);
    if (found === undefined) throw new Error(`ingress port "${port}" was not resolved; ingressIssues should have rejected it`);
    port = found.containerPort;
  }
  return { host: ingress.host, port, sessionAffinity: ingress.sessionAffinity };
}

// ---------------------------------------------------------------------------------------------
// Entry points.

/** Validates a decoded spec (from YAML or JSON) and fills defaults; throws ValidationError listing every issue. */
export function parseServiceSpec(input: unknown): ServiceSpec {
  const result = ServiceSchema.safeParse(input, { error: (issue) => defaultMessage(issue as RawIssue) });
  const issues = [...(result.success ? [] : toFieldIssues(result.error.issues)), ...podIssues(input), ...healthIssues(input), ...ingressIssues(input)];
  if (issues.length > 0 || !result.success) throw new ValidationError(issues, { cause: result.error });
  return toServiceSpec(result.data);
}

/** Parses one YAML document holding a service spec; syntax errors carry their line and column. */
export function parseServiceYaml(text: string): ServiceSpec {
  const documents = YAML.parseAllDocuments(text);
  const syntax = documents.flatMap((doc) =>
    doc.errors.map((error): FieldIssue => {
      const where = error.linePos ? `line ${error.linePos[0].line}, column ${error.linePos[0].col}` : 'unknown position';
      const what = error.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
      return { path: '', message: `YAML syntax error at ${where}: ${what}` };
    }),
  );
  if (syntax.length > 0) throw new ValidationError(syntax);
  let values: unknown[];
  try {
    values = documents.map((doc) => doc.toJS({ maxAliasCount: 100 }) as unknown);
  } catch (error) {
    // toJS throws on unresolved aliases and on alias expansion bombs.
    throw new ValidationError([{ path: '', message: `YAML error: ${(error as Error).message}` }], { cause: error });
  }
  // A trailing "---" makes an empty document; it holds nothing to apply.
  const present = values.filter((v) => v !== null && v !== undefined);
  if (present.length === 0) {
    throw new ValidationError([{ path: '', message: 'the file is empty: expected a service spec with kind: Service, metadata and spec' }]);
  }
  if (present.length > 1) {
    throw new ValidationError([
      { path: '', message: `the file holds ${present.length} YAML documents separated by "---": multi-document files are not supported yet, put one service per file` },
    ]);
  }
  return parseServiceSpec(present[0]);
}

/**
 * The spec as a JSON-ready document for people: quantities written back as Kubernetes strings
 * (`100m`, `64Mi`). Parsing the result with parseServiceSpec yields the same spec.
 */
export function serviceSpecToJson(spec: ServiceSpec) {
  return {
    ...spec,
    spec: {
      ...spec.spec,
      containers: spec.spec.containers.map((c) => ({
        ...c,
        resources: { cpu: formatCpu(c.resources.cpu), memory: formatMemory(c.resources.memory) },
      })),
    },
  };
}
