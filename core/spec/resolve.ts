/** The validated spec in its stored form: port names resolved to numbers, defaults that depend on other fields. */
import type { ContainerSpec, CronSpec, HealthCheck, JobSpec, SecretKeyRef, ServiceSpec, VolumeSpec } from '../types.ts';
import { HEALTH_DEFAULTS } from './defaults.ts';
import { DEFAULT_BACKOFF_LIMIT, DEFAULT_FAILED_JOBS_HISTORY, DEFAULT_JOB_RESTART_POLICY, DEFAULT_SUCCESSFUL_JOBS_HISTORY } from './kinds.ts';
import type { ParsedContainer, ParsedService } from './schema.ts';

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

/** The validated spec with every health check in its stored form, env split from secret references, kind fields grouped. */
export function toServiceSpec(parsed: ParsedService): ServiceSpec {
  const containers = parsed.spec.containers.map((c) => resolveContainer(c, parsed));
  const {
    ingress,
    volumes,
    initContainers,
    mode,
    restartPolicy,
    completions,
    parallelism,
    backoffLimit,
    activeDeadlineSeconds,
    schedule,
    timeZone,
    concurrencyPolicy,
    successfulJobsHistoryLimit,
    failedJobsHistoryLimit,
    ...spec
  } = parsed.spec;
  const batch = parsed.kind !== 'Service';
  const job: JobSpec | undefined = batch
    ? {
        completions: completions ?? 1,
        parallelism: parallelism ?? 1,
        backoffLimit: backoffLimit ?? DEFAULT_BACKOFF_LIMIT,
        ...(activeDeadlineSeconds === undefined ? {} : { activeDeadlineSeconds }),
      }
    : undefined;
  const cron: CronSpec | undefined =
    parsed.kind === 'CronJob'
      ? {
          schedule: schedule!.trim().split(/\s+/).join(' '),
          ...(timeZone === undefined ? {} : { timeZone }),
          concurrencyPolicy: concurrencyPolicy ?? 'allow',
          successfulJobsHistoryLimit: successfulJobsHistoryLimit ?? DEFAULT_SUCCESSFUL_JOBS_HISTORY,
          failedJobsHistoryLimit: failedJobsHistoryLimit ?? DEFAULT_FAILED_JOBS_HISTORY,
        }
      : undefined;
  return {
    ...parsed,
    spec: {
      ...spec,
      containers,
      restartPolicy: restartPolicy ?? (batch ? DEFAULT_JOB_RESTART_POLICY : 'always'),
      // Absent rather than empty when none: a pod stored before these fields existed stays equal to its spec.
      ...(initContainers !== undefined && initContainers.length > 0
        ? { initContainers: initContainers.map(({ health: _, ...c }) => resolveContainer(c, parsed)) }
        : {}),
      ...(volumes !== undefined && volumes.length > 0 ? { volumes: volumes.map(volumeOf) } : {}),
      ...(ingress === undefined ? {} : { ingress: resolveIngress(ingress, parsed.spec.containers) }),
      ...(mode === 'global' ? { mode } : {}),
      ...(job ? { job } : {}),
      ...(cron ? { cron } : {}),
    },
  };
}

/** A container in its stored form: the env split from secret references, the probe resolved (init containers have none). */
function resolveContainer(c: ParsedService['spec']['containers'][number], parsed: ParsedService): ContainerSpec {
  const { health, ...rest } = c;
  const mixed = c.env;
  // fromEntries: a name such as __proto__ stays an ordinary entry.
  const entries = Object.entries(mixed);
  const env: Record<string, string> = Object.fromEntries(entries.flatMap(([n, v]) => (typeof v === 'string' ? [[n, v]] : [])));
  const secretEnv: Record<string, SecretKeyRef> = Object.fromEntries(
    entries.flatMap(([n, v]) => (typeof v === 'string' ? [] : [[n, { name: v.secretKeyRef.name, key: v.secretKeyRef.key }]])),
  );
  // The env keeps its place among the keys: stored specs are compared as JSON.
  const container: ContainerSpec = { ...rest, env, ...(Object.keys(secretEnv).length > 0 ? { secretEnv } : {}) };
  return health === undefined ? container : { ...container, health: resolveHealth(health, parsed.spec.containers) };
}

/** The stored volume: its name and its one kind, in one key order. */
function volumeOf(volume: NonNullable<ParsedService['spec']['volumes']>[number]): VolumeSpec {
  return volume.persistent !== undefined ? { name: volume.name, persistent: {} } : { name: volume.name, emptyDir: {} };
}

/** The stored ingress: the port as its containerPort number. */
function resolveIngress(
  ingress: NonNullable<ParsedService['spec']['ingress']>,
  containers: readonly ParsedContainer[],
): NonNullable<ServiceSpec['spec']['ingress']> {
  let port = ingress.port;
  if (typeof port === 'string') {
    // ingressIssues has checked that the name exists.
    const found = containers.flatMap((c) => c.ports).find((p) => p.name === port);
    if (found === undefined) throw new Error(`ingress port "${port}" was not resolved; ingressIssues should have rejected it`);
    port = found.containerPort;
  }
  // Stored only when not the default, so that a spec stored before these fields existed reads the same.
  const path = ingress.path === '/' ? {} : { path: ingress.path };
  const tls = ingress.tls === undefined || ingress.tls === false ? {} : { tls: ingress.tls };
  return { host: ingress.host, port, sessionAffinity: ingress.sessionAffinity, ...path, ...tls };
}
