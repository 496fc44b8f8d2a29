/**
 * Where a container reaches its host's credentials endpoint, the pure part (docs/identity.md, "How a
 * container reaches it"). Every AWS SDK and the AWS CLI refuse a plain-HTTP
 * `AWS_CONTAINER_CREDENTIALS_FULL_URI` unless its host is loopback, 169.254.170.2 (ECS), 169.254.170.23
 * or fd00:ec2::23 (EKS Pod Identity). Where the agent listens on its pod networks' gateways (local
 * mode), containers get `http://169.254.170.2/...` as ECS's do, and the host DNATs that address to
 * the agent, as the ECS agent does.
 *
 * Local hosts share their Docker networks (one bridge per namespace for every agent on the machine),
 * so a rule per bridge would send every container to one agent: each rule names one pod's address
 * (`-i <bridge> -s <pod ip>`) and sends it to its own host's listener. Each agent keeps its rules in
 * a chain of its own (`chainName`), jumped to from nat PREROUTING for 169.254.170.2:80 only; the
 * chain's rules match nothing but our bridges, so neither the host's own traffic (which never enters
 * PREROUTING) nor any other is caught.
 */
import { parseIpv4 } from './cidr.ts';
import { ValidationError, type FieldIssue } from './errors.ts';

/** The address containers send to: ECS's, which every AWS SDK accepts over plain HTTP. */
export const LINK_LOCAL_CREDENTIALS_ADDRESS = '169.254.170.2';
/** Port 80: the URI names no port, as ECS's does. */
export const LINK_LOCAL_CREDENTIALS_PORT = 80;

/** The URI a container is given when its pod is routed: `http://169.254.170.2<path>`. */
export function linkLocalCredentialsUri(path: string): string {
  return `http://${LINK_LOCAL_CREDENTIALS_ADDRESS}${path}`;
}

/** One DNAT rule: TCP from `source` coming in on `bridge`, for 169.254.170.2:80, goes to `to` (`ip:port`). */
export interface CredentialRoute {
  /** The task whose pod has this address (the rule's comment: an agent restarted adopts its rules by it). */
  readonly task: string;
  readonly bridge: string;
  readonly source: string;
  readonly to: string;
}

/** A pod to route: its address on each network it is on, and its host's listener. */
export interface PodRoutes {
  readonly task: string;
  /** Every (bridge, address) of the pod: its default route may go out through any of its networks. */
  readonly addresses: readonly { readonly bridge: string; readonly ip: string }[];
  readonly listener: { readonly address: string; readonly port: number };
}

// Linux interface names: at most 15 characters (IFNAMSIZ - 1); these are the ones Docker makes.
const BRIDGE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;
const TASK = /^[a-z0-9][a-z0-9-]{0,62}$/;

/**
 * The rules for `pods`, sorted by task then bridge then source. Two pods claiming one (bridge, address)
 * (a stale record beside a new pod that got the address again) keep the later one in `pods`' order:
 * the caller lists the newest last. A bad field is a ValidationError naming it.
 */
export function planCredentialRoutes(pods: readonly PodRoutes[]): CredentialRoute[] {
  const issues: FieldIssue[] = [];
  const byKey = new Map<string, CredentialRoute>();
  pods.forEach((pod, i) => {
    const at = `pods[${i}]`;
    if (!TASK.test(pod.task)) issues.push({ path: `${at}.task`, message: `${JSON.stringify(pod.task)} is not a task id` });
    const listener = checkAddress(pod.listener.address, `${at}.listener.address`, issues);
    if (!Number.isInteger(pod.listener.port) || pod.listener.port < 1 || pod.listener.port > 65535) {
      issues.push({ path: `${at}.listener.port`, message: `must be an integer 1-65535, got ${pod.listener.port}` });
    }
    pod.addresses.forEach((a, j) => {
      if (!BRIDGE.test(a.bridge)) issues.push({ path: `${at}.addresses[${j}].bridge`, message: `${JSON.stringify(a.bridge)} is not a network interface name` });
      const source = checkAddress(a.ip, `${at}.addresses[${j}].ip`, issues);
      if (source === undefined || listener === undefined) return;
      const key = `${a.bridge} ${source}`;
      byKey.delete(key);
      byKey.set(key, { task: pod.task, bridge: a.bridge, source, to: `${listener}:${pod.listener.port}` });
    });
  });
  if (issues.length > 0) throw new ValidationError(issues);
  return [...byKey.values()].sort((a, b) => a.task.localeCompare(b.task) || a.bridge.localeCompare(b.bridge) || a.source.localeCompare(b.source));
}

/** What to delete and what to add to turn the chain's `current` rules into `desired` (a duplicate in `current` is deleted). */
export function diffCredentialRoutes(
  current: readonly CredentialRoute[],
  desired: readonly CredentialRoute[],
): { remove: CredentialRoute[]; add: CredentialRoute[] } {
  const key = (r: CredentialRoute) => `${r.task} ${r.bridge} ${r.source} ${r.to}`;
  const wanted = new Set(desired.map(key));
  const seen = new Set<string>();
  const remove: CredentialRoute[] = [];
  for (const r of current) {
    const k = key(r);
    if (!wanted.has(k) || seen.has(k)) remove.push(r);
    seen.add(k);
  }
  return { remove, add: desired.filter((r) => !seen.has(key(r))) };
}

/**
 * The agent's chain: `SKIFF-CRED-` and 8 hex digits of FNV-1a over `<cluster>/<host>` (iptables allows
 * 28 characters; cluster names alone could be longer). The jump's comment (`jumpComment`) names both.
 */
export function credentialsChainName(cluster: string, host: string): string {
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(`${cluster}/${host}`)) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return `SKIFF-CRED-${h.toString(16).padStart(8, '0')}`;
}

/** The comment on the agent's jump from PREROUTING: how `local down` finds a cluster's (or a host's) chains. */
export function credentialsJumpComment(cluster: string, host: string): string {
  return `skiff-credentials:${cluster}:${host}`;
}

/** Which jump comments belong to `cluster` (and `host`, when given). Cluster and host names hold no ':'. */
export function ownsJumpComment(comment: string, cluster: string, host?: string): boolean {
  return host === undefined ? comment.startsWith(`skiff-credentials:${cluster}:`) : comment === credentialsJumpComment(cluster, host);
}

function checkAddress(text: string, path: string, issues: FieldIssue[]): string | undefined {
  try {
    parseIpv4(text, path);
    return text;
  } catch (err) {
    issues.push(...((err as ValidationError).issues ?? [{ path, message: String(err) }]));
    return undefined;
  }
}
