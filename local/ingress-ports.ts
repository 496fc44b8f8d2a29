/**
 * Which ports the local load balancer listens on. Ingress is reached by host name on the
 * well-known ports on AWS (80 and 443 of the ALB), and locally too when this process may bind
 * them: as root, with CAP_NET_BIND_SERVICE, or where the kernel lets anyone
 * (net.ipv4.ip_unprivileged_port_start). Otherwise, and when 80 or 443 is taken, `local up` uses
 * the ports given, or saved in the data folder, or free ones, and says which.
 */
import { readFileSync } from 'node:fs';

/** The ports of the web. */
export const WELL_KNOWN_PORTS = { http: 80, https: 443 } as const;

/** CAP_NET_BIND_SERVICE's bit in the capability sets of /proc/<pid>/status (linux/capability.h). */
const CAP_NET_BIND_SERVICE = 10n;

/** Why this process may bind ports below 1024, or undefined when it may not (or cannot tell). */
export function wellKnownPortsAllowed(read: (path: string) => string = (p) => readFileSync(p, 'utf8'), uid = process.getuid?.()): string | undefined {
  if (uid === 0) return 'running as root';
  try {
    const status = read('/proc/self/status');
    const eff = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1];
    if (eff !== undefined && (BigInt(`0x${eff}`) >> CAP_NET_BIND_SERVICE) & 1n) return 'the process has CAP_NET_BIND_SERVICE';
  } catch {
    // Not Linux: no capabilities to read.
  }
  try {
    const start = Number(read('/proc/sys/net/ipv4/ip_unprivileged_port_start').trim());
    if (Number.isInteger(start) && start <= WELL_KNOWN_PORTS.http) return `net.ipv4.ip_unprivileged_port_start is ${start}`;
  } catch {
    // Older kernels have no such setting.
  }
  return undefined;
}

/** True for an error (or its causes) that says a port is taken or not ours to bind. */
export function isPortUnavailable(err: unknown): boolean {
  for (let e = err as { code?: string; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (e.code === 'EADDRINUSE' || e.code === 'EACCES') return true;
  }
  return false;
}
