/**
 * Namespaces as objects (issue 14): `kind: Namespace` with a quota and the ingress host suffixes
 * its services may use, both set by the cluster admin. Pure: the spec's validation, what a
 * namespace uses, and the checks an apply or a scale must pass.
 *
 * A namespace with no object is still usable (every cluster had `default` before namespaces were
 * objects): it has no quota and no suffixes of its own, but it may not take hosts that another
 * namespace's suffixes claim.
 */
import { SkiffError, ValidationError, type FieldIssue } from './errors.ts';
import { isDnsLabel } from './spec.ts';
import { MAX_NAME_LENGTH } from './spec/defaults.ts';
import { formatCpu, formatMemory, parseCpu, parseMemory } from './quantity.ts';
import { desiredReplicas } from './replicas.ts';
import type { Service, ServiceSpec } from './types.ts';

export interface NamespaceQuota {
  /** Millicores summed over every replica's containers. */
  readonly cpu?: number;
  /** Bytes summed over every replica's containers. */
  readonly memory?: number;
  /** Replicas (tasks) summed over services. */
  readonly tasks?: number;
  readonly services?: number;
  /** Services with an ingress host. */
  readonly ingressHosts?: number;
}

export interface NamespaceSpec {
  readonly kind: 'Namespace';
  readonly metadata: { readonly name: string; readonly labels: Readonly<Record<string, string>> };
  readonly spec: {
    readonly quota?: NamespaceQuota;
    /** Ingress host patterns the namespace's services may use: `shop.example.com` or `*.shop.example.com`. Absent: any host no other namespace claims. */
    readonly ingressHosts?: readonly string[];
  };
}

/** A namespace as stored. */
export interface Namespace {
  readonly name: string;
  readonly spec: NamespaceSpec;
  readonly version: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** Set by a delete: its services are being deleted, then the namespace goes. */
  readonly deleting?: string;
}

const QUOTA_KEYS = ['cpu', 'memory', 'tasks', 'services', 'ingressHosts'] as const;
const MAX_INGRESS_PATTERNS = 50;
const HOST_PATTERN = /^(\*\.)?([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)*[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Validates a decoded `kind: Namespace` document; throws ValidationError listing every issue. */
export function parseNamespaceSpec(input: unknown): NamespaceSpec {
  const issues: FieldIssue[] = [];
  if (!isRecord(input)) throw new ValidationError([{ path: '', message: 'a namespace spec must be an object with kind, metadata and spec' }]);
  for (const k of Object.keys(input))
    if (!['kind', 'apiVersion', 'metadata', 'spec'].includes(k)) issues.push({ path: k, message: 'is not a field of a Namespace' });
  if (input.kind !== 'Namespace') issues.push({ path: 'kind', message: `must be "Namespace"; got ${JSON.stringify(input.kind)?.slice(0, 40)}` });
  const meta = input.metadata;
  let name = '';
  let labels: Record<string, string> = {};
  if (!isRecord(meta)) issues.push({ path: 'metadata', message: 'must be an object with a name' });
  else {
    for (const k of Object.keys(meta)) if (!['name', 'labels'].includes(k)) issues.push({ path: `metadata.${k}`, message: 'is not a field of a Namespace' });
    if (typeof meta.name !== 'string' || !isDnsLabel(meta.name) || meta.name.length > MAX_NAME_LENGTH)
      issues.push({
        path: 'metadata.name',
        message: `must be a DNS label of at most ${MAX_NAME_LENGTH} characters; got ${JSON.stringify(meta.name)?.slice(0, 80)}`,
      });
    else name = meta.name;
    if (meta.labels !== undefined) {
      if (!isRecord(meta.labels) || Object.keys(meta.labels).length > 64 || !Object.values(meta.labels).every((v) => typeof v === 'string' && v.length <= 253))
        issues.push({ path: 'metadata.labels', message: 'must be a map of at most 64 string values of at most 253 characters' });
      else labels = meta.labels as Record<string, string>;
    }
  }
  const spec = input.spec ?? {};
  const quota: Record<string, number> = {};
  let ingressHosts: string[] | undefined;
  if (!isRecord(spec)) issues.push({ path: 'spec', message: 'must be an object (quota, ingressHosts)' });
  else {
    for (const k of Object.keys(spec))
      if (!['quota', 'ingressHosts'].includes(k)) issues.push({ path: `spec.${k}`, message: 'is not a field of a Namespace (quota, ingressHosts)' });
    if (spec.quota !== undefined) {
      if (!isRecord(spec.quota)) issues.push({ path: 'spec.quota', message: `must be an object with any of ${QUOTA_KEYS.join(', ')}` });
      else
        for (const [k, v] of Object.entries(spec.quota)) {
          const path = `spec.quota.${k}`;
          if (!(QUOTA_KEYS as readonly string[]).includes(k)) issues.push({ path, message: `is not a quota (${QUOTA_KEYS.join(', ')})` });
          else if (k === 'cpu' || k === 'memory') {
            try {
              if (typeof v !== 'string' && typeof v !== 'number')
                throw new ValidationError([{ path: '', message: `must be a quantity; got ${JSON.stringify(v)?.slice(0, 40)}` }]);
              quota[k] = k === 'cpu' ? parseCpu(v) : parseMemory(v);
            } catch (err) {
              if (!(err instanceof ValidationError)) throw err;
              issues.push({ path, message: err.message });
            }
          } else if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
            issues.push({ path, message: `must be a whole number of 0 or more; got ${JSON.stringify(v)?.slice(0, 40)}` });
          else quota[k] = v;
        }
    }
    if (spec.ingressHosts !== undefined) {
      const list = spec.ingressHosts;
      if (!Array.isArray(list) || list.length > MAX_INGRESS_PATTERNS)
        issues.push({ path: 'spec.ingressHosts', message: `must be a list of at most ${MAX_INGRESS_PATTERNS} host names or *.suffix patterns` });
      else {
        ingressHosts = [];
        list.forEach((p, i) => {
          if (typeof p !== 'string' || p.length > 253 || !HOST_PATTERN.test(p))
            issues.push({
              path: `spec.ingressHosts[${i}]`,
              message: `must be a lowercase host name or *.suffix (such as *.shop.example.com); got ${JSON.stringify(p)?.slice(0, 80)}`,
            });
          else ingressHosts?.push(p);
        });
      }
    }
  }
  if (issues.length > 0) throw new ValidationError(issues);
  return {
    kind: 'Namespace',
    metadata: { name, labels },
    spec: { ...(Object.keys(quota).length > 0 ? { quota } : {}), ...(ingressHosts ? { ingressHosts } : {}) },
  };
}

/** True when `host` matches `pattern` (`*.a.b` matches any name ending in `.a.b`, not `a.b` itself). */
export function hostMatches(pattern: string, host: string): boolean {
  return pattern.startsWith('*.') ? host.endsWith(pattern.slice(1)) : host === pattern;
}

/**
 * Why `namespace` may not use ingress `host`, or undefined. Its own patterns, when it has some,
 * must match; and a host another namespace's patterns claim is that namespace's alone, so a
 * tenant cannot squat a name that the cluster admin gave to another.
 */
export function ingressHostProblem(host: string, namespace: string, namespaces: readonly Namespace[]): string | undefined {
  const own = namespaces.find((n) => n.name === namespace);
  const ownPatterns = own?.spec.spec.ingressHosts;
  const wildcard = host.startsWith('*.');
  if (ownPatterns !== undefined && !ownPatterns.some((p) => patternCovers(p, host))) {
    const what = wildcard ? `a wildcard host must lie inside one of its patterns (*.example.com covers *.shop.example.com)` : `got ${host}`;
    return `namespace ${namespace} may use only ingress hosts matching ${ownPatterns.join(', ') || '(none)'}; ${wildcard ? `${host} is not inside them: ${what}` : what}`;
  }
  const other = namespaces.find((n) => n.name !== namespace && (n.spec.spec.ingressHosts ?? []).some((p) => patternsOverlap(p, host)));
  if (other !== undefined) {
    const whose = `namespace ${other.name} (its hosts: ${other.spec.spec.ingressHosts?.join(', ')})`;
    return wildcard ? `ingress host ${host} would take hosts that belong to ${whose}` : `ingress host ${host} belongs to ${whose}`;
  }
  return undefined;
}

/** True when every host `host` (exact, or a wildcard `*.x`) serves is matched by namespace pattern `pattern`. */
export function patternCovers(pattern: string, host: string): boolean {
  if (!host.startsWith('*.')) return hostMatches(pattern, host);
  // A wildcard serves every name below its suffix: only a pattern over that suffix or a parent of it covers them all.
  const suffix = host.slice(2);
  return pattern.startsWith('*.') && (suffix === pattern.slice(2) || suffix.endsWith(pattern.slice(1)));
}

/** True when some name is matched both by namespace pattern `pattern` and ingress host `host` (each exact or `*.x`). */
export function patternsOverlap(pattern: string, host: string): boolean {
  if (!host.startsWith('*.')) return hostMatches(pattern, host);
  if (!pattern.startsWith('*.')) return hostMatches(host, pattern);
  // Two wildcards share names when one suffix lies inside the other.
  const a = host.slice(1);
  const b = pattern.slice(1);
  return a.endsWith(b) || b.endsWith(a);
}

export interface NamespaceUsage {
  readonly cpu: number;
  readonly memory: number;
  readonly tasks: number;
  readonly services: number;
  readonly ingressHosts: number;
}

/** What one service counts for: its replicas now (desiredReplicas) times its pod's requests. */
export function serviceUsage(service: Pick<Service, 'spec' | 'scale'>): NamespaceUsage {
  const replicas = desiredReplicas(service);
  let cpu = 0;
  let memory = 0;
  for (const c of service.spec.spec.containers) {
    cpu += c.resources.cpu;
    memory += c.resources.memory;
  }
  return { cpu: cpu * replicas, memory: memory * replicas, tasks: replicas, services: 1, ingressHosts: service.spec.spec.ingress ? 1 : 0 };
}

const ZERO: NamespaceUsage = { cpu: 0, memory: 0, tasks: 0, services: 0, ingressHosts: 0 };

function add(a: NamespaceUsage, b: NamespaceUsage): NamespaceUsage {
  return {
    cpu: a.cpu + b.cpu,
    memory: a.memory + b.memory,
    tasks: a.tasks + b.tasks,
    services: a.services + b.services,
    ingressHosts: a.ingressHosts + b.ingressHosts,
  };
}

/** What a namespace's services use (those being deleted too: they hold their resources until they are gone). */
export function namespaceUsage(services: readonly Pick<Service, 'spec' | 'scale' | 'namespace'>[], namespace: string): NamespaceUsage {
  return services.filter((s) => s.namespace === namespace).reduce((u, s) => add(u, serviceUsage(s)), ZERO);
}

function format(key: keyof NamespaceUsage, value: number): string {
  return key === 'cpu' ? formatCpu(value) : key === 'memory' ? readableMemory(value) : String(value);
}

/** `7.5Gi` rather than `7680Mi`: the largest binary unit that shows the value exactly with at most two decimals. */
function readableMemory(bytes: number): string {
  for (const [suffix, unit] of [
    ['Ti', 2 ** 40],
    ['Gi', 2 ** 30],
    ['Mi', 2 ** 20],
    ['Ki', 2 ** 10],
  ] as const) {
    if (bytes >= unit && (bytes * 100) % unit === 0) return `${bytes / unit}${suffix}`;
  }
  return formatMemory(bytes);
}

/**
 * Refuses a change that would take a namespace over its quota: `before` is the service as stored
 * (undefined for a new one), `after` as it would be. Only what grows is checked, so a change that
 * shrinks or keeps a resource passes even in a namespace already over (a quota lowered later).
 * Exactly at the quota passes. The message carries the numbers:
 * `namespace shop: memory 7.5Gi of 8Gi used, this change needs 1Gi more`.
 */
export function quotaProblems(
  namespace: Namespace | undefined,
  services: readonly Pick<Service, 'spec' | 'scale' | 'namespace' | 'name'>[],
  before: Pick<Service, 'spec' | 'scale'> | undefined,
  after: Pick<Service, 'spec' | 'scale'>,
): string[] {
  const quota = namespace?.spec.spec.quota;
  if (!quota || !namespace) return [];
  const used = namespaceUsage(services, namespace.name);
  const was = before ? serviceUsage(before) : ZERO;
  const will = serviceUsage(after);
  const problems: string[] = [];
  for (const key of QUOTA_KEYS) {
    const limit = quota[key];
    if (limit === undefined) continue;
    const more = will[key] - was[key];
    if (more <= 0 || used[key] + more <= limit) continue;
    problems.push(
      `namespace ${namespace.name}: ${key === 'ingressHosts' ? 'ingress hosts' : key} ${format(key, used[key])} of ${format(key, limit)} used, this change needs ${format(key, more)} more`,
    );
  }
  return problems;
}

/**
 * The most replicas, from `current` up to `wanted`, that the namespace's quota lets `service`
 * have (the autoscaler's cap: it stops at the quota and says so). `problems` are what `wanted`
 * would break; empty when it fits. Usage grows with the count, so the
 * largest count that fits is found by bisection.
 */
export function replicasWithinQuota(
  namespace: Namespace | undefined,
  services: readonly Pick<Service, 'spec' | 'scale' | 'namespace' | 'name'>[],
  service: Pick<Service, 'spec' | 'scale'>,
  current: number,
  wanted: number,
): { replicas: number; problems: string[] } {
  const at = (replicas: number) => quotaProblems(namespace, services, service, { spec: service.spec, scale: { replicas, source: 'autoscaler', at: '' } });
  if (wanted <= current || at(wanted).length === 0) return { replicas: wanted, problems: [] };
  let fits = current;
  let breaks = wanted;
  while (breaks - fits > 1) {
    const mid = Math.floor((fits + breaks) / 2);
    if (at(mid).length === 0) fits = mid;
    else breaks = mid;
  }
  return { replicas: fits, problems: at(wanted) };
}

/** Throws a `QuotaExceededError` with every quota the change would break. */
export function checkQuota(...args: Parameters<typeof quotaProblems>): void {
  const problems = quotaProblems(...args);
  if (problems.length > 0) throw new QuotaExceededError(problems);
}

/** An apply or scale that would take a namespace over its quota: 403, as Kubernetes answers for a ResourceQuota. */
export class QuotaExceededError extends SkiffError {
  override readonly status = 403;
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(problems.join('; '));
    this.name = 'QuotaExceededError';
    this.problems = problems;
  }
}

/** A spec as the service would be stored (for usage): the service's current scale carried over as the API does. */
export function asService(spec: ServiceSpec, scale: Service['scale']): Pick<Service, 'spec' | 'scale'> {
  return { spec, scale };
}

/**
 * A namespace spec read back from the store, validated as if it were sent again: the stored form
 * holds cpu in millicores and memory in bytes, so they are turned back into quantities first.
 */
export function parseStoredNamespaceSpec(value: unknown): NamespaceSpec {
  if (!isRecord(value) || !isRecord(value.spec) || !isRecord(value.spec.quota)) return parseNamespaceSpec(value);
  const quota: Record<string, unknown> = { ...value.spec.quota };
  if (typeof quota.cpu === 'number') quota.cpu = `${quota.cpu}m`;
  return parseNamespaceSpec({ ...value, spec: { ...value.spec, quota } });
}
