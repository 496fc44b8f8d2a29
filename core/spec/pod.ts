/**
 * Rules across the containers of a pod: unique names and ports, probed and ingress ports that
 * the pod declares, a probe timeout within its interval.
 */
import type { FieldIssue } from '../errors.ts';
import { HEALTH_DEFAULTS, MAX_CONTAINERS } from './defaults.ts';
import { MAX_PORTS } from './limits.ts';
import { got, isRecord } from './messages.ts';
import { didYouMean } from './suggest.ts';

/**
 * The pod's containers and each one's ports, as raw input, cut at their limits: past a limit the
 * spec is refused anyway (zod says so), and the rules here compare ports with ports, so they must
 * not see more than the limits allow.
 */
function podContainers(input: unknown): unknown[] {
  return isRecord(input) && isRecord(input.spec) && Array.isArray(input.spec.containers) ? input.spec.containers.slice(0, MAX_CONTAINERS) : [];
}

function portsOf(container: Record<string, unknown>): unknown[] {
  return Array.isArray(container.ports) ? container.ports.slice(0, MAX_PORTS) : [];
}

/**
 * Rules across the containers of a pod. They read the raw input defensively, skipping values
 * of the wrong type (zod reports those), so that they are reported together with every other
 * issue: zod would skip a refinement on an object that has any issue inside it.
 */
export function podIssues(input: unknown): FieldIssue[] {
  const containers = podContainers(input);
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
      claim(
        names,
        container.name,
        `${at}.name`,
        (first) => `duplicate container name ${got(container.name)} (also at ${first}): container names must be unique within the pod`,
      );
    }
    portsOf(container).forEach((p, j) => {
      if (!isRecord(p)) return;
      const portAt = `${at}.ports[${j}]`;
      const protocol = p.protocol === undefined ? 'tcp' : p.protocol;
      if (protocol !== 'tcp' && protocol !== 'udp') return;
      if (Number.isInteger(p.containerPort)) {
        claim(
          containerPorts,
          `${protocol}/${p.containerPort}`,
          `${portAt}.containerPort`,
          (first) =>
            `containerPort ${p.containerPort}/${protocol} is already used at ${first}: the containers of a pod share one network namespace, so each port/protocol appears once`,
        );
      }
      if (Number.isInteger(p.hostPort)) {
        claim(
          hostPorts,
          `${protocol}/${p.hostPort}`,
          `${portAt}.hostPort`,
          (first) => `hostPort ${p.hostPort}/${protocol} is already used at ${first}: a host port can be bound once`,
        );
      }
      if (typeof p.name === 'string') {
        claim(
          portNames,
          p.name,
          `${portAt}.name`,
          (first) => `duplicate port name ${got(p.name)} (also at ${first}): port names must be unique within the pod`,
        );
      }
    });
  });
  // A container over the limit has its own issue; this one is for a pod over it only in total.
  const counts = containers.map((c) => (isRecord(c) && Array.isArray(c.ports) ? c.ports.length : 0));
  const total = counts.reduce((sum, n) => sum + n, 0);
  if (total > MAX_PORTS && counts.every((n) => n <= MAX_PORTS)) {
    issues.push({
      path: 'spec.containers',
      message: `the pod declares ${total} ports; at most ${MAX_PORTS} over all its containers: each published port is a proxy process on the host`,
    });
  }
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
    isRecord(c)
      ? portsOf(c).flatMap((p): DeclaredPort[] =>
          isRecord(p) && Number.isInteger(p.containerPort)
            ? [
                {
                  containerPort: p.containerPort as number,
                  protocol: p.protocol === undefined ? 'tcp' : String(p.protocol),
                  ...(typeof p.name === 'string' ? { name: p.name } : {}),
                },
              ]
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
    if (/^\d+$/.test(port) && !declared.some((p) => p.name === port))
      return `must be a number or a port name; got the string ${got(port)}: write it without quotes`;
    const named = declared.find((p) => p.name === port);
    if (named === undefined) {
      const names = declared.flatMap((p) => (p.name === undefined ? [] : [p.name]));
      const hint = didYouMean(port, names);
      const known = names.length === 0 ? 'the pod names no ports' : `the pod's port names are ${names.map((n) => got(n)).join(', ')}`;
      return `port ${got(port)} is not the name of a port declared in the pod${hint}: ${why}; ${known}`;
    }
    if (named.protocol !== 'tcp') return `port ${got(port)} is declared with protocol ${named.protocol}, but ${kind} probes connect over tcp`;
  }
  // Other types are zod's to report.
  return undefined;
}

/**
 * Rules of health checks that need more than one field or the whole pod: exactly one probe kind,
 * a probed port the pod declares, a timeout within the interval. Read from the raw input like
 * podIssues, so they come with every other issue.
 */
export function healthIssues(input: unknown): FieldIssue[] {
  const containers = podContainers(input);
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
    if (/^\d+$/.test(port) && !declared.some((p) => p.name === port))
      return `must be a number or a port name; got the string ${got(port)}: write it without quotes`;
    const named = declared.find((p) => p.name === port);
    if (named === undefined) {
      const names = declared.flatMap((p) => (p.name === undefined ? [] : [p.name]));
      const known = names.length === 0 ? 'the pod names no ports' : `the pod's port names are ${names.map((n) => got(n)).join(', ')}`;
      return `port ${got(port)} is not the name of a port declared in the pod${didYouMean(port, names)}: ${why}; ${known}`;
    }
    if (named.protocol !== 'tcp') return `port ${got(port)} is declared with protocol ${named.protocol}, but ingress carries HTTP over tcp`;
  }
  // Other types are zod's to report.
  return undefined;
}

/** The ingress port against the whole pod, read from the raw input like healthIssues. */
export function ingressIssues(input: unknown): FieldIssue[] {
  if (!isRecord(input) || !isRecord(input.spec) || !isRecord(input.spec.ingress)) return [];
  const containers = podContainers(input);
  const problem = ingressPortProblem(input.spec.ingress.port, declaredPorts(containers));
  return problem === undefined ? [] : [{ path: 'spec.ingress.port', message: problem }];
}

/**
 * runAsNonRoot with runAsUser 0 can never start. Read from the raw input like healthIssues. With no
 * runAsUser the image's user decides, which only the host knows: the agent checks it before starting.
 */
export function securityIssues(input: unknown): FieldIssue[] {
  const issues: FieldIssue[] = [];
  podContainers(input).forEach((container, i) => {
    if (!isRecord(container) || !isRecord(container.securityContext)) return;
    const sc = container.securityContext;
    if (sc.runAsNonRoot === true && sc.runAsUser === 0) {
      issues.push({
        path: `spec.containers[${i}].securityContext.runAsUser`,
        message: 'must not be 0 (root) when runAsNonRoot is true: the container could never start; give a non-zero uid or drop runAsNonRoot',
      });
    }
  });
  return issues;
}
