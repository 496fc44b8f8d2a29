/**
 * The host's container network on AWS (docs/network.md, "Docker on the host"): a Docker bridge over
 * the host's container subnet (or, when the document isolates namespaces, one bridge per namespace
 * block of it: `ensureBlocks`), and the iptables rule that keeps container-to-container traffic
 * un-masqueraded. Local mode never uses it: its documents carry no `network`.
 */
import Dockerode from 'dockerode';
import { SkiffError, ValidationError } from '../core/errors.ts';
import { MAX_HOST_PREFIX, contains, formatCidr, formatIpv4, parseCidr } from '../core/cidr.ts';
import type { HostDocumentTask, HostNetwork } from '../core/types.ts';
import { documentBlocks } from '../core/packet-filter.ts';
import { LABELS } from './executor.ts';
import { dockerCall } from './docker-calls.ts';
import { type CommandResult, IptablesCommand, NOT_FOUND, TIMED_OUT } from './iptables.ts';

/** Makes sure the host's container network exists as the document describes it. */
export interface HostNetworkManager {
  /** Creates or checks the network and its masquerade exception; returns the Docker network to run pods on. */
  ensure(network: HostNetwork): Promise<string>;
  /**
   * With `network.blockPrefix` (namespace isolation): one bridge per namespace block the tasks need
   * (`documentBlocks`), in place of the bridge over the whole subnet; returns the Docker network of each
   * slot, which its namespace's pods join.
   */
  ensureBlocks(network: HostNetwork, tasks: readonly HostDocumentTask[]): Promise<ReadonlyMap<number, string>>;
}

/** The label that marks a namespace block's bridge, with the block as its value: how unneeded ones are found. */
export const BLOCK_LABEL = 'skiff.network-block';

/** The host's network cannot be brought to the document's shape without a person or a later round. */
export class HostNetworkError extends SkiffError {
  override readonly retryable: boolean;
  constructor(message: string, options: { retryable: boolean; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.name = 'HostNetworkError';
    this.retryable = options.retryable;
  }
}

export interface DockerHostNetworkOptions {
  /** The Docker client; default: one from DOCKER_HOST or the default socket. */
  readonly docker?: Dockerode;
  /** Cluster name: the network is `skiff-<cluster>`, the name local mode uses too. */
  readonly cluster: string;
  /** MTU of the bridge. @default 9001 (the VPC's jumbo frames: no encapsulation eats into it) */
  readonly mtu?: number;
  /** The iptables executable. @default 'iptables' */
  readonly iptables?: string;
  /** A network ensured less than this long ago is not checked again. @default 60_000 */
  readonly recheckMs?: number;
  readonly now?: () => number;
}

const OPTION_KEYS = new Set(['docker', 'cluster', 'mtu', 'iptables', 'recheckMs', 'now']);

// A network inspect, list or remove is one small answer from a healthy daemon (see DEFAULT_TIMEOUTS in
// docker.ts); a round that gives up simply tries again next time.
const DOCKER_TIMEOUT_MS = 10_000;
// Creating a bridge network creates a Linux bridge and programs iptables: well under a second normally, but
// it waits for the xtables lock that a busy dockerd holds while it starts containers.
const CREATE_TIMEOUT_MS = 30_000;

/** The masquerade exception's iptables argv: `check`, `insert` (at the top of POSTROUTING), `delete`, or `list` of the chain. */
export function masqueradeExceptionArgs(action: 'check' | 'insert' | 'delete' | 'list', network: HostNetwork): string[] {
  const rule = ['-s', network.subnet, '-d', network.clusterCidr, '-j', 'RETURN'];
  switch (action) {
    case 'check':
      return ['-t', 'nat', '-C', 'POSTROUTING', ...rule];
    case 'insert':
      return ['-t', 'nat', '-I', 'POSTROUTING', '1', ...rule];
    case 'delete':
      return ['-t', 'nat', '-D', 'POSTROUTING', ...rule];
    case 'list':
      return ['-t', 'nat', '-S', 'POSTROUTING'];
  }
}

/**
 * Where the masquerade exception stands in a `-S POSTROUTING` listing: `shadowed` when Docker's
 * MASQUERADE rule for the subnet comes first (Docker inserts its rules at the top when it creates a
 * network or restarts, which leaves an older exception behind it and without effect), `missing` when the
 * listing does not show it (a `-C` settles whether it is there in a form this parser does not know).
 */
export function exceptionPlace(listing: string, network: HostNetwork): 'ok' | 'shadowed' | 'missing' {
  const ours = ['-A', 'POSTROUTING', ...masqueradeExceptionArgs('check', network).slice(4)].join(' ');
  const lines = listing.split('\n').map((line) => line.trim().split(/\s+/));
  const at = lines.findIndex((tokens) => tokens.join(' ') === ours);
  if (at < 0) return 'missing';
  // Docker's rule names its network's subnet: the host subnet, or one namespace block inside it.
  const inSubnet = (source: string | undefined) => {
    try {
      return source !== undefined && contains(network.subnet, source);
    } catch {
      return false;
    }
  };
  const masquerade = lines.findIndex((tokens) => tokens.includes('MASQUERADE') && tokens.includes('-s') && inSubnet(tokens[tokens.indexOf('-s') + 1]));
  return masquerade >= 0 && masquerade < at ? 'shadowed' : 'ok';
}

/** The host network over Docker and iptables; see `HostNetworkManager`. */
export class DockerHostNetwork implements HostNetworkManager {
  private readonly docker: Dockerode;
  private readonly name: string;
  private readonly cluster: string;
  private readonly mtu: number;
  private readonly iptables: IptablesCommand;
  private readonly recheckMs: number;
  private readonly now: () => number;
  private last: { key: string; at: number } | undefined;

  constructor(options: DockerHostNetworkOptions) {
    const issues = Object.keys(options)
      .filter((key) => !OPTION_KEYS.has(key))
      .map((key) => ({ path: `DockerHostNetwork.${key}`, message: `unknown option; expected one of ${[...OPTION_KEYS].join(', ')}` }));
    if (typeof options.cluster !== 'string' || !/^[a-zA-Z0-9][a-zA-Z0-9_-]*$/.test(options.cluster)) {
      issues.push({
        path: 'DockerHostNetwork.cluster',
        message: `must be letters, digits, '_' or '-' (as for DockerExecutor; it is part of the network name), got ${JSON.stringify(options.cluster)}`,
      });
    }
    const mtu = options.mtu ?? 9001;
    // 68 is IPv4's minimum MTU; 65535 the largest a Linux bridge takes.
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) issues.push({ path: 'DockerHostNetwork.mtu', message: `must be an integer 68-65535, got ${mtu}` });
    if (issues.length > 0) throw new ValidationError(issues);
    this.docker = options.docker ?? new Dockerode();
    this.cluster = options.cluster;
    this.name = `skiff-${options.cluster}`;
    this.mtu = mtu;
    this.iptables = new IptablesCommand(options.iptables ?? 'iptables', []);
    this.recheckMs = options.recheckMs ?? 60_000;
    this.now = options.now ?? Date.now;
  }

  async ensure(network: HostNetwork): Promise<string> {
    const { subnet, canonical } = checkNetwork(network);
    const key = `${canonical.subnet} ${canonical.clusterCidr}`;
    const now = this.now();
    // Both calls below are idempotent; the cache only spares Docker and iptables a check every round. It
    // expires so that a Docker restart or a flushed chain gets repaired.
    if (this.last?.key === key && now - this.last.at < this.recheckMs) return this.name;
    this.last = undefined;
    await this.ensureBridge(this.name, canonical.subnet, formatIpv4(subnet.address + 1));
    // After the bridge: creating it makes Docker insert its MASQUERADE rule at the top of POSTROUTING.
    await this.ensureException(canonical);
    this.last = { key, at: now };
    return this.name;
  }

  async ensureBlocks(network: HostNetwork, tasks: readonly HostDocumentTask[]): Promise<ReadonlyMap<number, string>> {
    const { canonical } = checkNetwork(network);
    // Throws naming the problem when the blocks do not fit the subnet (a bad document).
    const blocks = documentBlocks({ ...network, ...canonical }, tasks);
    const names = new Map([...blocks.keys()].map((slot) => [slot, `${this.name}-block-${slot}`]));
    const key = `${canonical.subnet} ${canonical.clusterCidr} /${network.blockPrefix} ${[...blocks.keys()].join(',')}`;
    const now = this.now();
    if (this.last?.key === key && now - this.last.at < this.recheckMs) return names;
    this.last = undefined;
    // The bridge over the whole subnet overlaps every block (Docker refuses overlapping networks): it goes
    // first, and only when nothing uses it; so do the bridges of blocks no task needs any more.
    await this.removeUnused(new Set(names.values()), true);
    for (const [slot, block] of blocks) {
      const cidr = parseCidr(block, 'block');
      await this.ensureBridge(names.get(slot)!, block, formatIpv4(cidr.address + 1), { [BLOCK_LABEL]: block });
    }
    // One exception for the whole host subnet covers every block in it.
    await this.ensureException(canonical);
    this.last = { key, at: now };
    return names;
  }

  /**
   * Removes this cluster's bridges that are not in `keep` and that no container uses: those of namespace
   * blocks, and with `whole` the bridge over the whole subnet. One still in use stays, and says so.
   */
  private async removeUnused(keep: ReadonlySet<string>, whole: boolean): Promise<void> {
    const networks = await dockerCall(`list networks of ${this.name}`, DOCKER_TIMEOUT_MS, (abortSignal) =>
      this.docker.listNetworks({ filters: { label: [`${LABELS.cluster}=${this.cluster}`] }, abortSignal } as Dockerode.NetworkListOptions),
    );
    for (const n of networks) {
      const ours = n.Name === this.name ? whole : n.Labels?.[BLOCK_LABEL] !== undefined;
      if (!ours || keep.has(n.Name)) continue;
      const attached = await this.attached(n.Name, n.Id);
      if (attached.length > 0) {
        if (n.Name === this.name) {
          throw new HostNetworkError(
            `Docker network ${this.name} spans this host's whole container subnet, but the document cuts it into namespace blocks, and ` +
              `${attached.length} container(s) still use it (${attached.slice(0, 3).join(', ')}${attached.length > 3 ? ', ...' : ''}): ` +
              'no pod is created until they are removed (docker rm -f) and the network with them',
            { retryable: false },
          );
        }
        continue;
      }
      await dockerCall(`remove network ${n.Name}`, DOCKER_TIMEOUT_MS, (abortSignal) => this.docker.getNetwork(n.Id).remove({ abortSignal }));
    }
  }

  private async ensureBridge(name: string, subnet: string, gateway: string, labels: Readonly<Record<string, string>> = {}): Promise<void> {
    if (name === this.name) {
      // The whole subnet's bridge overlaps the blocks of an earlier isolating document: those go first.
      await this.removeUnused(new Set(), false);
    }
    const existing = await this.inspect(name);
    if (existing) {
      const subnets = (existing.IPAM?.Config ?? []).map((c) => c.Subnet).filter((s): s is string => typeof s === 'string');
      if (subnets.includes(subnet)) return;
      const attached = await this.attached(name, existing.Id);
      if (attached.length > 0) {
        throw new HostNetworkError(
          `Docker network ${name} has subnet ${subnets.join(', ') || 'none'} but this host's container subnet is now ${subnet}, and ` +
            `${attached.length} container(s) still use it (${attached.slice(0, 3).join(', ')}${attached.length > 3 ? ', ...' : ''}): ` +
            `no pod is created until they are removed (docker rm -f) and the network with them`,
          { retryable: false },
        );
      }
      await dockerCall(`remove network ${name}`, DOCKER_TIMEOUT_MS, (abortSignal) => this.docker.getNetwork(existing.Id).remove({ abortSignal }));
    }
    await dockerCall(`create network ${name} (${subnet})`, CREATE_TIMEOUT_MS, (abortSignal) =>
      this.docker.createNetwork({
        Name: name,
        Driver: 'bridge',
        CheckDuplicate: true,
        IPAM: { Driver: 'default', Config: [{ Subnet: subnet, Gateway: gateway }] },
        Options: {
          'com.docker.network.driver.mtu': String(this.mtu),
          // Docker 28+ drops packets routed to a container from another host unless the gateway mode allows
          // it; older daemons store the option and ignore it (checked on 20.10).
          'com.docker.network.bridge.gateway_mode_ipv4': 'nat-unprotected',
        },
        Labels: { [LABELS.cluster]: this.cluster, ...labels },
        abortSignal,
      }),
    );
  }

  private async inspect(name: string): Promise<Dockerode.NetworkInspectInfo | undefined> {
    return dockerCall(`inspect network ${name}`, DOCKER_TIMEOUT_MS, async () => {
      try {
        // dockerode's network inspect takes no abort signal: on timeout the request is left to finish.
        return await this.docker.getNetwork(name).inspect();
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode === 404) return undefined;
        throw err;
      }
    });
  }

  /** Names of the containers on a network, stopped ones included (inspect shows only running endpoints). */
  private async attached(name: string, networkId: string): Promise<string[]> {
    const containers = await dockerCall(`list containers on network ${name}`, DOCKER_TIMEOUT_MS, (abortSignal) =>
      // By name and by id (values of one filter are OR'ed): a container created but never started matches only by name.
      this.docker.listContainers({ all: true, filters: { network: [name, networkId] }, abortSignal }),
    );
    return containers.map((c) => (c.Names?.[0] ?? c.Id.slice(0, 12)).replace(/^\//, ''));
  }

  private async ensureException(network: HostNetwork): Promise<void> {
    const listing = await this.run(masqueradeExceptionArgs('list', network));
    const place = exceptionPlace(listing.stdout, network);
    if (place === 'ok') return;
    if (place === 'shadowed') {
      // Behind Docker's MASQUERADE the rule has no effect, so deleting it before the insert opens no gap.
      await this.run(masqueradeExceptionArgs('delete', network));
    } else if ((await this.run(masqueradeExceptionArgs('check', network), true)).code === 0) {
      // Present, in a form the listing parser does not recognize: inserting again would pile up duplicates.
      return;
    }
    await this.run(masqueradeExceptionArgs('insert', network));
  }

  /** Runs iptables; a non-zero exit is an error unless `allowFailure` (then its code is returned). */
  private async run(args: readonly string[], allowFailure = false): Promise<CommandResult> {
    const result = await this.iptables.attempt(args);
    if (result.code === 0 || (allowFailure && result.code !== NOT_FOUND && result.code !== TIMED_OUT)) return result;
    // Retryable even when iptables may not be used: the round reports it, and a fixed host recovers without a restart.
    throw new HostNetworkError(this.iptables.failure(args, result).message, { retryable: true });
  }
}

/** The document's network checked and in canonical form, before anything touches Docker. */
function checkNetwork(network: HostNetwork): { subnet: { address: number; prefix: number }; canonical: { subnet: string; clusterCidr: string } } {
  const subnet = parseCidr(network.subnet, 'network.subnet');
  const cluster = parseCidr(network.clusterCidr, 'network.clusterCidr');
  if (subnet.prefix > MAX_HOST_PREFIX) {
    throw new ValidationError([
      { path: 'network.subnet', message: `${network.subnet} leaves no address for a container: use a /${MAX_HOST_PREFIX} or larger` },
    ]);
  }
  if (!contains(cluster, subnet)) {
    throw new ValidationError([{ path: 'network.subnet', message: `${network.subnet} is not inside the cluster CIDR ${network.clusterCidr}` }]);
  }
  return { subnet, canonical: { subnet: formatCidr(subnet), clusterCidr: formatCidr(cluster) } };
}
