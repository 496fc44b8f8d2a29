/** The validated spec in its stored form: port names resolved to numbers, defaults that depend on other fields. */
import type { ContainerSpec, HealthCheck, ServiceSpec, VolumeSpec } from '../types.ts';
import { HEALTH_DEFAULTS } from './defaults.ts';
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

/** The validated spec with every health check in its stored form. */
export function toServiceSpec(parsed: ParsedService): ServiceSpec {
  const containers = parsed.spec.containers.map((c): ContainerSpec => {
    const { health, ...rest } = c;
    return health === undefined ? rest : { ...rest, health: resolveHealth(health, parsed.spec.containers) };
  });
  const { ingress, volumes, initContainers, ...spec } = parsed.spec;
  return {
    ...parsed,
    spec: {
      ...spec,
      containers,
      // Absent rather than empty when none: a pod stored before these fields existed stays equal to its spec.
      ...(initContainers !== undefined && initContainers.length > 0 ? { initContainers: initContainers.map(({ health: _, ...c }) => c) } : {}),
      ...(volumes !== undefined && volumes.length > 0 ? { volumes: volumes.map(volumeOf) } : {}),
      ...(ingress === undefined ? {} : { ingress: resolveIngress(ingress, parsed.spec.containers) }),
    },
  };
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
  return { host: ingress.host, port, sessionAffinity: ingress.sessionAffinity };
}
