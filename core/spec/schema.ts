/**
 * The zod schemas of each part of a spec (ports, resources, probes, containers, placement,
 * ingress, metadata), with their messages; plus the names other tools give fields (ALIASES) and
 * fields planned but not supported yet (PLANNED), for the unknown-field messages.
 */
import { z } from 'zod';
import { ValidationError } from '../errors.ts';
import { formatMemory, parseCpu, parseMemory } from '../quantity.ts';
import {
  ALLOWED_CAPABILITIES,
  DEFAULT_CPU_MILLIS,
  DEFAULT_HEALTHY_STATUS,
  DEFAULT_MEMORY_BYTES,
  DEFAULT_PIDS_LIMIT,
  DNS_LABEL_MAX,
  HEALTH_DEFAULTS,
  MAX_CONTAINERS,
  MAX_NAME_LENGTH,
  MAX_PIDS_LIMIT,
  MAX_PROBE_SECONDS,
  MAX_REPLICAS,
  MAX_START_PERIOD_SECONDS,
  MAX_UID,
  MIN_MEMORY_BYTES,
  MIN_PIDS_LIMIT,
  MIN_PROBE_SECONDS,
  MAX_MIN_READY_SECONDS,
  MAX_PROGRESS_DEADLINE_SECONDS,
  MAX_REVISION_HISTORY,
  NAME_LENGTH_REASON,
  UPDATE_DEFAULTS,
} from './defaults.ts';
import {
  DNS_LABEL_RULE,
  dnsLabelProblem,
  envNameProblem,
  httpPathProblem,
  imageProblem,
  ingressHostProblem,
  labelKeyProblem,
  labelValueProblem,
  mountPathProblem,
  parseConstraint,
  portNameProblem,
} from './fields.ts';
import {
  MAX_ARGS,
  MAX_ARG_LENGTH,
  MAX_CONSTRAINTS,
  MAX_CONSTRAINT_LENGTH,
  MAX_ENV,
  MAX_ENV_VALUE_LENGTH,
  MAX_LABELS,
  MAX_PORTS,
  MAX_QUANTITY_LENGTH,
  MAX_VOLUMES,
  tooLong,
  tooMany,
} from './limits.ts';
import { AUTOSCALING_ALIASES, AutoscalingSchema } from './autoscaling.ts';
import { certificateArnProblem, ingressPathProblem } from '../ingress-match.ts';
import { IdentitySchema } from './identity.ts';
import { NetworkSchema } from './network.ts';
import { got, isRecord, rule, stringValue, type RawIssue } from './messages.ts';
import { DEFAULT_TERMINATION_GRACE_SECONDS, MAX_TERMINATION_GRACE_SECONDS, STOP_SIGNALS, stopSignalProblem } from '../stopping.ts';

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
    if (typeof value === 'string' && value.length > MAX_QUANTITY_LENGTH) {
      ctx.addIssue({ code: 'custom', message: `must be a quantity such as 250m or 128Mi, ${tooLong(value, MAX_QUANTITY_LENGTH)}`, input: value });
      return z.NEVER;
    }
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

/** command, args, exec command: at most MAX_ARGS strings of at most MAX_ARG_LENGTH characters. */
const stringList = (example: string) =>
  z
    .array(
      checked(z.string({ error: stringValue }), (v) => tooLong(v, MAX_ARG_LENGTH)),
      { error: rule(`must be a list of strings, such as ${example}`) },
    )
    .max(MAX_ARGS, { error: (issue) => tooMany((issue.input as unknown[]).length, MAX_ARGS, 'items') });

/**
 * A map of names to strings (env, labels), `{}` when absent. Checked by hand rather than with
 * z.record, which drops a `__proto__` key and rejects a map holding a `constructor` key.
 */
function stringMap(max: number, keyProblem: (key: string) => string | undefined, valueProblem: (value: string) => string | undefined = () => undefined) {
  return z.unknown().transform((value, ctx): Record<string, string> => {
    if (value === undefined) return {};
    if (!isRecord(value)) {
      ctx.addIssue({ code: 'custom', message: `must be a map of names to strings; got ${got(value)}`, input: value });
      return {};
    }
    // Counted before any entry is checked, so a huge map costs one pass and one issue.
    const count = tooMany(Object.keys(value).length, max, 'entries');
    if (count !== undefined) {
      ctx.addIssue({ code: 'custom', message: count, input: value });
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

/** `{ secretKeyRef: { name, key } }`: a key of a Secret of the pod's namespace (core/spec/secret.ts). */
export interface EnvSecretRef {
  readonly secretKeyRef: { readonly name: string; readonly key: string };
}

/**
 * `env`: names to strings, or to `{ secretKeyRef: { name, key } }`. Checked by hand like stringMap
 * (and for the same reason); the references are split from the plain values in resolve.ts.
 */
const envMap = z.unknown().transform((value, ctx): Record<string, string | EnvSecretRef> => {
  if (value === undefined) return {};
  if (!isRecord(value)) {
    ctx.addIssue({ code: 'custom', message: `must be a map of names to strings; got ${got(value)}`, input: value });
    return {};
  }
  const count = tooMany(Object.keys(value).length, MAX_ENV, 'entries');
  if (count !== undefined) {
    ctx.addIssue({ code: 'custom', message: count, input: value });
    return {};
  }
  const entries: [string, string | EnvSecretRef][] = [];
  for (const [key, item] of Object.entries(value)) {
    const keyIssue = envNameProblem(key);
    if (keyIssue !== undefined) ctx.addIssue({ code: 'custom', message: keyIssue, input: key, path: [key] });
    if (typeof item === 'string') {
      const long = tooLong(item, MAX_ENV_VALUE_LENGTH);
      if (long !== undefined) ctx.addIssue({ code: 'custom', message: long, input: item, path: [key] });
      else entries.push([key, item]);
      continue;
    }
    if (!isRecord(item)) {
      ctx.addIssue({ code: 'custom', message: stringValue({ code: 'invalid_type', input: item }), input: item, path: [key] });
      continue;
    }
    const ref = secretRefProblem(item);
    if (typeof ref === 'string')
      ctx.addIssue({ code: 'custom', message: ref, input: item, path: [key, ...(isRecord(item) && isRecord(item.secretKeyRef) ? ['secretKeyRef'] : [])] });
    else entries.push([key, ref]);
  }
  return Object.fromEntries(entries);
});

const SECRET_REF_EXAMPLE = 'a string, or { secretKeyRef: { name: db, key: password } }';

/** The reference, or why it is not one. */
function secretRefProblem(item: unknown): EnvSecretRef | string {
  if (!isRecord(item)) return `must be ${SECRET_REF_EXAMPLE}; got ${got(item)}`;
  const extra = Object.keys(item).filter((k) => k !== 'secretKeyRef');
  if (extra.length > 0 || !isRecord(item.secretKeyRef))
    return `must be ${SECRET_REF_EXAMPLE}; got a map with ${
      Object.keys(item)
        .map((k) => got(k))
        .join(', ') || 'no keys'
    }`;
  const ref = item.secretKeyRef;
  const unknown = Object.keys(ref).filter((k) => k !== 'name' && k !== 'key');
  if (unknown.length > 0) return `unknown field ${got(unknown[0])}: a secretKeyRef has name and key only`;
  if (typeof ref.name !== 'string') return `name is required: the name of a Secret of the same namespace; got ${got(ref.name)}`;
  const nameIssue = dnsLabelProblem(ref.name, MAX_NAME_LENGTH);
  if (nameIssue !== undefined) return `name ${nameIssue}`;
  if (typeof ref.key !== 'string') return `key is required: a key of the Secret's data; got ${got(ref.key)}`;
  const keyIssue = secretKeyProblem(ref.key);
  if (keyIssue !== undefined) return `key ${keyIssue}`;
  return { secretKeyRef: { name: ref.name, key: ref.key } };
}

/** Kubernetes' rule for the keys of a Secret's data (they may become file names). */
export function secretKeyProblem(key: string): string | undefined {
  if (key.length === 0 || key.length > 253 || !/^[-._a-zA-Z0-9]+$/.test(key) || key === '.' || key === '..') {
    return `must be 1 to 253 letters, digits, "-", "_" or ".", not "." or ".."; got ${got(key)}`;
  }
  return undefined;
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
    v.length === 0
      ? 'must not be empty: give the program and its arguments, such as ["test", "-f", "/tmp/ready"]'
      : v.some((a) => a === '')
        ? `must not hold an empty string; got ${JSON.stringify(v)}`
        : undefined,
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

/** A uid or gid: an integer from 0 to MAX_UID. */
function id(what: string) {
  const error = rule(`must be a ${what} from 0 to ${MAX_UID}`);
  return z.number({ error }).int({ error }).min(0, { error }).max(MAX_UID, { error });
}

const ALLOWED: ReadonlySet<string> = new Set(ALLOWED_CAPABILITIES);

/** Why `name` may not be added back, if it may not. */
function capabilityProblem(name: string): string | undefined {
  if (ALLOWED.has(name)) return undefined;
  const allowed = `the capabilities that may be added are ${ALLOWED_CAPABILITIES.join(', ')}`;
  const bare = name.toUpperCase().replace(/^CAP_/, '');
  if (bare !== name && ALLOWED.has(bare)) return `must be written ${got(bare)}, Kubernetes' name, without "CAP_" and in capitals; got ${got(name)}`;
  if (bare === 'ALL') return `"ALL" may not be added: it would give the container every capability of the host's root; ${allowed}`;
  if (bare === 'NET_RAW')
    return `"NET_RAW" may not be added: raw sockets let a container forge ARP and IP packets on the bridge it shares with other pods; ${allowed}`;
  return `capability ${got(name)} may not be added: it reaches beyond the container (the host's network, mounts, kernel, devices or other processes); ${allowed}`;
}

const capabilityList = (problem: (name: string) => string | undefined, example: string) =>
  z
    .array(checked(z.string({ error: stringValue }), problem), { error: rule(`must be a list of capability names, such as ${example}`) })
    .max(ALLOWED_CAPABILITIES.length + 1, { error: (issue) => tooMany((issue.input as unknown[]).length, ALLOWED_CAPABILITIES.length + 1, 'items') });

const CapabilitiesSchema = z.strictObject({
  add: capabilityList(capabilityProblem, '["NET_BIND_SERVICE"]').optional(),
  // Everything outside the default set is dropped already; drop takes away some of the defaults too.
  drop: capabilityList((name) => (name === 'ALL' || ALLOWED.has(name) ? undefined : capabilityProblem(name)), '["ALL"]').optional(),
});

const flag = (meaning: string) => z.boolean({ error: rule(`must be true or false (${meaning})`) });

/**
 * `securityContext` of a container, with Kubernetes' names. What Kubernetes allows beyond this
 * (privileged, host namespaces, devices) is refused with its reason (REFUSED).
 */
const SecurityContextSchema = z.strictObject({
  runAsUser: id('uid').optional(),
  runAsGroup: id('gid').optional(),
  runAsNonRoot: flag("true refuses to start the container as root, the image's user included").optional(),
  readOnlyRootFilesystem: flag("true mounts the image's filesystem read-only").optional(),
  // Always false in effect (no-new-privileges is set on every container); written down in many Kubernetes specs.
  allowPrivilegeEscalation: z
    .literal(false, {
      error: (issue) => `must be false: every container runs with no-new-privileges, so setuid programs cannot gain privileges; got ${got(issue.input)}`,
    })
    .optional(),
  capabilities: CapabilitiesSchema.optional(),
});

/** `volumeMounts[]`: that the volume exists and paths differ is checked with the whole pod in volumeIssues. */
const VolumeMountSchema = z.strictObject(
  {
    name: dnsLabel(DNS_LABEL_MAX),
    mountPath: checked(z.string({ error: rule('must be an absolute path in the container, such as /data') }), mountPathProblem),
    readOnly: z.boolean({ error: rule('must be true or false (true mounts the volume read-only)') }).optional(),
  },
  { error: rule('must be a mount such as { name: data, mountPath: /data }') },
);

const ContainerSchema = z.strictObject({
  name: dnsLabel(DNS_LABEL_MAX),
  image: checked(z.string({ error: rule('must be a Docker image reference such as skiff/busybox:latest') }), imageProblem),
  command: checked(stringList('["sh", "-c", "exec httpd -f"]'), (v) =>
    v.length === 0 ? "must not be empty: omit it to use the image's entrypoint" : undefined,
  ).optional(),
  args: stringList('["--port", "8080"]').optional(),
  env: envMap,
  ports: z
    .array(PortSchema, { error: rule('must be a list of ports, such as [{ containerPort: 8080 }]') })
    .max(MAX_PORTS, { error: (issue) => tooMany((issue.input as unknown[]).length, MAX_PORTS, 'ports') })
    .default(() => []),
  resources: ResourcesSchema.default(() => ({ cpu: DEFAULT_CPU_MILLIS, memory: DEFAULT_MEMORY_BYTES })),
  health: HealthSchema.optional(),
  securityContext: SecurityContextSchema.optional(),
  stopSignal: checked(z.string({ error: rule(`must be a signal name, one of ${STOP_SIGNALS.join(', ')}`) }), stopSignalProblem).optional(),
  volumeMounts: z
    .array(VolumeMountSchema, { error: rule('must be a list of mounts, such as [{ name: data, mountPath: /data }]') })
    .max(MAX_VOLUMES, { error: (issue) => tooMany((issue.input as unknown[]).length, MAX_VOLUMES, 'mounts') })
    .optional(),
});

const emptyOptions = (kind: string) => z.strictObject({}, { error: rule(`must be an empty map ({}): ${kind} volumes take no options yet`) }).optional();

/** `spec.volumes[]`: exactly one kind, checked in volumeIssues with the mounts that name it. */
const VolumeSchema = z.strictObject(
  {
    name: dnsLabel(DNS_LABEL_MAX),
    emptyDir: emptyOptions('emptyDir'),
    persistent: emptyOptions('persistent'),
  },
  { error: rule('must be a volume such as { name: scratch, emptyDir: {} } or { name: data, persistent: {} }') },
);

const PlacementSchema = z.strictObject({
  strategy: z.enum(['spread', 'binpack']).default('spread'),
  constraints: z
    .array(
      z.string({ error: rule('must be a constraint "key == value" or "key != value"') }).transform((text, ctx) => {
        const long = tooLong(text, MAX_CONSTRAINT_LENGTH);
        if (long !== undefined) {
          ctx.addIssue({ code: 'custom', message: long, input: text });
          return z.NEVER;
        }
        const c = parseConstraint(text);
        if (c) return `${c.key} ${c.op} ${c.value}`;
        ctx.addIssue({ code: 'custom', message: `must be a constraint "key == value" or "key != value" on host labels; got ${got(text)}`, input: text });
        return z.NEVER;
      }),
      { error: rule('must be a list of constraints, such as ["zone == a"]') },
    )
    .max(MAX_CONSTRAINTS, { error: (issue) => tooMany((issue.input as unknown[]).length, MAX_CONSTRAINTS, 'constraints') })
    .default(() => []),
});

const TLS_RULE =
  "must be true (the local CA locally, the stack's certificate on AWS), false, or { certificateArn: arn:aws:acm:<region>:<account>:certificate/<id> }";

/** `spec.ingress`: whether the port exists in the pod is checked with the whole pod in ingressIssues. */
const IngressSchema = z.strictObject(
  {
    host: checked(z.string({ error: stringValue }), ingressHostProblem),
    port: probePort,
    sessionAffinity: z.boolean({ error: rule('must be true or false (true keeps each client on one replica, with a cookie)') }).default(false),
    path: checked(z.string({ error: stringValue }), ingressPathProblem).default('/'),
    // Checked by hand rather than with a union, whose one message would hide which part is wrong.
    tls: z
      .unknown()
      .transform((value, ctx): boolean | { certificateArn: string } => {
        if (typeof value === 'boolean') return value;
        if (isRecord(value) && Object.keys(value).length === 1 && typeof value.certificateArn === 'string') {
          const problem = certificateArnProblem(value.certificateArn);
          if (problem === undefined) return { certificateArn: value.certificateArn };
          ctx.addIssue({ code: 'custom', message: problem, path: ['certificateArn'], input: value.certificateArn });
          return z.NEVER;
        }
        ctx.addIssue({ code: 'custom', message: `${TLS_RULE}; got ${got(value)}`, input: value });
        return z.NEVER;
      })
      .optional(),
  },
  { error: rule('must be a map such as { host: shop.example.com, port: http }') },
);

const pidsRule = rule(
  `must be an integer from ${MIN_PIDS_LIMIT} to ${MAX_PIDS_LIMIT}: the processes and threads each container of the pod may run (default ${DEFAULT_PIDS_LIMIT})`,
);
const graceRule = rule(
  `must be an integer number of seconds from 0 to ${MAX_TERMINATION_GRACE_SECONDS}: how long each replica gets between its stop signal and the kill (default ${DEFAULT_TERMINATION_GRACE_SECONDS})`,
);
const replicasRule = rule(`must be an integer from 0 to ${MAX_REPLICAS}`);
const containersRule = (issue: RawIssue): string =>
  Array.isArray(issue.input) ? `must list from 1 to ${MAX_CONTAINERS} containers; got ${issue.input.length}` : rule('must be a list of containers')(issue);

/** Jobs: at most this many completions (and tasks at once): a completion is a slot, as a replica is. */
export const MAX_COMPLETIONS = MAX_REPLICAS;
/** Kubernetes' default is 6; more than 100 failures is a broken job, not bad luck. */
export const MAX_BACKOFF_LIMIT = 100;
/** A job may run for at most 30 days. */
export const MAX_ACTIVE_DEADLINE_SECONDS = 30 * 86_400;
/** CronJob history kept, each way: bounded, since each finished job is a stored item. */
export const MAX_JOBS_HISTORY = 20;

function count(min: number, max: number, meaning: string) {
  const error = rule(`must be an integer from ${min} to ${max} (${meaning})`);
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
}
const budgetRule = (what: string, def: string) =>
  rule(`must be a count of replicas (an integer from 0 to ${MAX_REPLICAS}) or a percentage of the replicas such as "25%" (${what}; default ${def})`);
/** A replica budget: a count or `N%` (0-100). */
const budget = (what: string, def: string) => {
  const error = budgetRule(what, def);
  return z.union(
    [z.number({ error }).int({ error }).min(0, { error }).max(MAX_REPLICAS, { error }), z.string({ error }).regex(/^(100|[1-9]?[0-9])%$/, { error })],
    {
      error,
    },
  ) as z.ZodType<number | `${number}%`>;
};
const secondsRule = (max: number, what: string) => rule(`must be a whole number of seconds from 0 to ${max} (${what})`);
const wholeSeconds = (max: number, what: string) =>
  z
    .number({ error: secondsRule(max, what) })
    .int({ error: secondsRule(max, what) })
    .min(0, { error: secondsRule(max, what) })
    .max(max, { error: secondsRule(max, what) });
const deadlineRule = rule(
  `must be a whole number of seconds from 1 to ${MAX_PROGRESS_DEADLINE_SECONDS} (how long a rollout may go without a new replica becoming available)`,
);
const historyRule = rule(`must be an integer from 1 to ${MAX_REVISION_HISTORY} (pod templates kept for rollout history and undo)`);

/** `spec.update`: how a changed pod rolls out (docs/spec.md). Both budgets zero is refused in updateIssues. */
const UpdateSchema = z.strictObject(
  {
    maxSurge: budget('replicas above the desired count while updating', UPDATE_DEFAULTS.maxSurge).default(UPDATE_DEFAULTS.maxSurge),
    maxUnavailable: budget('replicas below the desired count while updating', String(UPDATE_DEFAULTS.maxUnavailable)).default(UPDATE_DEFAULTS.maxUnavailable),
    minReadySeconds: wholeSeconds(MAX_MIN_READY_SECONDS, 'how long a new replica must run and pass its probe before it counts').default(
      UPDATE_DEFAULTS.minReadySeconds,
    ),
    progressDeadlineSeconds: z
      .number({ error: deadlineRule })
      .int({ error: deadlineRule })
      .min(1, { error: deadlineRule })
      .max(MAX_PROGRESS_DEADLINE_SECONDS, { error: deadlineRule })
      .default(UPDATE_DEFAULTS.progressDeadlineSeconds),
    autoRollback: z
      .boolean({ error: rule('must be true or false (true: a failed rollout returns to the last healthy revision)') })
      .default(UPDATE_DEFAULTS.autoRollback),
    revisionHistoryLimit: z
      .number({ error: historyRule })
      .int({ error: historyRule })
      .min(1, { error: historyRule })
      .max(MAX_REVISION_HISTORY, { error: historyRule })
      .default(UPDATE_DEFAULTS.revisionHistoryLimit),
  },
  { error: rule('must be a map such as { maxSurge: 1, maxUnavailable: 0 }') },
);

const SpecSchema = z.strictObject({
  replicas: z
    .number({ error: replicasRule })
    .int({ error: replicasRule })
    .min(0, { error: replicasRule })
    .max(MAX_REPLICAS, { error: replicasRule })
    .default(1),
  containers: z.array(ContainerSchema, { error: containersRule }).min(1, { error: containersRule }).max(MAX_CONTAINERS, { error: containersRule }),
  initContainers: z
    .array(ContainerSchema, { error: rule('must be a list of containers, run in order before the app containers') })
    .max(MAX_CONTAINERS, { error: (issue) => tooMany((issue.input as unknown[]).length, MAX_CONTAINERS, 'init containers') })
    .optional(),
  volumes: z
    .array(VolumeSchema, { error: rule('must be a list of volumes, such as [{ name: data, persistent: {} }]') })
    .max(MAX_VOLUMES, { error: (issue) => tooMany((issue.input as unknown[]).length, MAX_VOLUMES, 'volumes') })
    .optional(),
  // No default here: it depends on the kind (resolve.ts: always for services, never for jobs).
  restartPolicy: z.enum(['always', 'on-failure', 'never']).optional(),
  placement: PlacementSchema.default(() => ({ strategy: 'spread' as const, constraints: [] })),
  ingress: IngressSchema.optional(),
  autoscaling: AutoscalingSchema.optional(),
  identity: IdentitySchema.optional(),
  network: NetworkSchema.optional(),
  pidsLimit: z
    .number({ error: pidsRule })
    .int({ error: pidsRule })
    .min(MIN_PIDS_LIMIT, { error: pidsRule })
    .max(MAX_PIDS_LIMIT, { error: pidsRule })
    .default(DEFAULT_PIDS_LIMIT),
  // Services: where the replicas run. Kind rules (which fields go with which kind) are in kinds.ts.
  mode: z
    .enum(['replicated', 'global'], { error: rule('must be "replicated" (the default: spec.replicas of them) or "global" (one on every matching host)') })
    .optional(),
  // Jobs and CronJobs (kinds.ts fills their defaults).
  completions: count(1, MAX_COMPLETIONS, 'tasks that must exit 0').optional(),
  parallelism: count(1, MAX_COMPLETIONS, 'tasks running at once').optional(),
  backoffLimit: count(0, MAX_BACKOFF_LIMIT, 'failed tasks tolerated before the job fails').optional(),
  activeDeadlineSeconds: count(1, MAX_ACTIVE_DEADLINE_SECONDS, 'seconds the job may run').optional(),
  // CronJobs.
  schedule: z.string({ error: rule('must be a cron schedule of five fields, such as "*/5 * * * *"') }).optional(),
  timeZone: z.string({ error: rule('must be an IANA time zone, such as Europe/Paris') }).optional(),
  concurrencyPolicy: z
    .enum(['allow', 'forbid', 'replace'], { error: rule('must be allow, forbid (skip a run while one is active) or replace (stop the active one)') })
    .optional(),
  successfulJobsHistoryLimit: count(0, MAX_JOBS_HISTORY, 'finished jobs kept').optional(),
  failedJobsHistoryLimit: count(0, MAX_JOBS_HISTORY, 'failed jobs kept').optional(),
  update: UpdateSchema.default(() => ({ ...UPDATE_DEFAULTS })),
  terminationGracePeriodSeconds: z
    .number({ error: graceRule })
    .int({ error: graceRule })
    .min(0, { error: graceRule })
    .max(MAX_TERMINATION_GRACE_SECONDS, { error: graceRule })
    .default(DEFAULT_TERMINATION_GRACE_SECONDS),
});

const MetadataSchema = z.strictObject({
  name: dnsLabel(MAX_NAME_LENGTH, NAME_LENGTH_REASON),
  namespace: dnsLabel(MAX_NAME_LENGTH, 'the same limit as service names').default('default'),
  labels: stringMap(MAX_LABELS, labelKeyProblem, labelValueProblem),
});

export const ServiceSchema = z.strictObject(
  {
    kind: z.enum(['Service', 'Job', 'CronJob'], {
      error: (issue) =>
        issue.input === undefined
          ? 'is required: a service spec starts with "kind: Service"'
          : `must be "Service", "Job", "CronJob" or "Secret"; got ${got(issue.input)}`,
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
export const ALIASES = new Map<z.ZodType, Readonly<Record<string, string>>>([
  [
    SpecSchema,
    {
      stop_grace_period: 'terminationGracePeriodSeconds',
      stopGracePeriod: 'terminationGracePeriodSeconds',
      stopTimeout: 'terminationGracePeriodSeconds',
      killTimeout: 'terminationGracePeriodSeconds',
      kill_timeout: 'terminationGracePeriodSeconds',
      gracePeriodSeconds: 'terminationGracePeriodSeconds',
    },
  ],
  [ContainerSchema, { stop_signal: 'stopSignal', StopSignal: 'stopSignal', killSignal: 'stopSignal', kill_signal: 'stopSignal' }],
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
    UpdateSchema,
    {
      surge: 'maxSurge',
      max_surge: 'maxSurge',
      unavailable: 'maxUnavailable',
      max_unavailable: 'maxUnavailable',
      min_healthy_time: 'minReadySeconds',
      minHealthyTime: 'minReadySeconds',
      healthy_deadline: 'progressDeadlineSeconds',
      progress_deadline: 'progressDeadlineSeconds',
      progressDeadline: 'progressDeadlineSeconds',
      auto_revert: 'autoRollback',
      autoRevert: 'autoRollback',
      rollback: 'autoRollback',
      revisionHistory: 'revisionHistoryLimit',
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
  [AutoscalingSchema, AUTOSCALING_ALIASES],
]);

const HOST_NAMESPACE = 'a pod shares the host only through its published ports';
/**
 * Fields other tools offer that Skiff refuses, with the reason: each would hand a container the host
 * (its devices, network, processes or files), which the other pods on the host share.
 */
export const REFUSED = new Map<z.ZodType, Readonly<Record<string, string>>>([
  [
    SpecSchema,
    {
      hostNetwork: `the host's network is refused: the pod could bind any host address and see every pod's traffic; ${HOST_NAMESPACE}`,
      hostPID: `the host's process namespace is refused: the pod could see and signal every process on the host; ${HOST_NAMESPACE}`,
      hostIPC: `the host's IPC namespace is refused: the pod could read other processes' shared memory; ${HOST_NAMESPACE}`,
    },
  ],
  [
    ContainerSchema,
    {
      privileged:
        'privileged containers are refused: they get every capability and every device of the host; add the few capabilities needed in securityContext.capabilities.add',
      devices: "host devices are refused: a device node gives the container the host's hardware, shared by every pod",
      hostPath:
        'host paths are refused: a host directory in a container bypasses every other isolation; use spec.volumes (emptyDir or persistent) and volumeMounts',
    },
  ],
  [
    SecurityContextSchema,
    {
      privileged:
        'privileged containers are refused: they get every capability and every device of the host; add the few capabilities needed in capabilities.add',
    },
  ],
]);

/** Fields of spec.md's later shape: named as "not supported yet" rather than as typos. */
export const PLANNED = new Map<z.ZodType, readonly string[]>([]);

export type ParsedService = z.output<typeof ServiceSchema>;
export type ParsedContainer = ParsedService['spec']['containers'][number];
