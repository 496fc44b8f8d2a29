/**
 * One Docker network per namespace (issue 14), where the host has no container network of its
 * own (local mode): a pod's first container joins `<base>-ns-<namespace>` (`default` keeps `<base>`,
 * the cluster's network, as before namespaces were isolated). Docker keeps user-defined bridge
 * networks apart (its isolation chains drop traffic between two bridges), so a container reaches
 * only its own namespace's pods, by address or by name (the service aliases live on that network
 * alone). Published ports are bound to the host's loopback address (127.0.1.x), which containers
 * do not reach either.
 *
 * A service may let other namespaces in (`spec.network.allowFrom`): its pods' first containers also
 * join those namespaces' networks, with their aliases there (namespaceNetworksOf; docs/network.md), as
 * guests that may answer there but never open a connection (agent/guest-isolation.ts writes the rules).
 *
 * On AWS the host document carries one routed subnet per host (agent/host-network.ts) and pods of
 * every namespace share it: isolation there needs the namespace blocks and rules of
 * core/packet-filter.ts (designed, not wired yet), and `allowFrom` has nothing to open.
 */
import Docker from 'dockerode';

/** The label the local cluster removes its networks by (local/cluster.ts removeNetwork). */
const CLUSTER_LABEL = 'skiff.cluster';
const NAMESPACE_LABEL = 'skiff.namespace';

/** The network of a namespace's pods: the base network for `default`, a network of its own for any other. */
export function namespaceNetworkName(base: string, namespace: string): string {
  return namespace === 'default' ? base : `${base}-ns-${namespace}`;
}

/**
 * The networks of a pod's first container: its namespace's, and (`alsoOn`) those of the namespaces its
 * spec lets in (`spec.network.allowFrom`, without its own), each made if missing, in the spec's order,
 * without repeats.
 */
export async function namespaceNetworksOf(
  networks: { ensure(namespace: string): Promise<string> },
  namespace: string,
  allowFrom: readonly string[],
): Promise<{ network: string; alsoOn?: string[] }> {
  const network = await networks.ensure(namespace);
  const alsoOn: string[] = [];
  for (const ns of allowFrom) {
    const name = await networks.ensure(ns);
    if (name !== network && !alsoOn.includes(name)) alsoOn.push(name);
  }
  return alsoOn.length > 0 ? { network, alsoOn } : { network };
}

export class NamespaceNetworks {
  private readonly known = new Set<string>();
  /** One creation per network at a time: a namespace's first pods start together. */
  private readonly inflight = new Map<string, Promise<string>>();

  constructor(
    private readonly base: string,
    private readonly cluster: string,
    private readonly docker: Pick<Docker, 'listNetworks' | 'createNetwork' | 'getNetwork'> = new Docker(),
  ) {}

  /** The namespace's network, created when missing. Idempotent; another agent creating it meanwhile is fine. */
  async ensure(namespace: string): Promise<string> {
    const name = namespaceNetworkName(this.base, namespace);
    if (this.known.has(name) || name === this.base) return name;
    let pending = this.inflight.get(name);
    if (!pending) {
      pending = this.create(name, namespace).finally(() => this.inflight.delete(name));
      this.inflight.set(name, pending);
    }
    return pending;
  }

  private async create(name: string, namespace: string): Promise<string> {
    const named = async () => (await this.docker.listNetworks({ filters: { name: [name] } })).filter((n) => n.Name === name);
    let created: string | undefined;
    if ((await named()).length === 0) {
      try {
        ({ id: created } = await this.docker.createNetwork({
          Name: name,
          Driver: 'bridge',
          CheckDuplicate: true,
          Labels: { [CLUSTER_LABEL]: this.cluster, [NAMESPACE_LABEL]: namespace },
        }));
      } catch (err) {
        // 409: another local agent created it meanwhile; that one is as good.
        if ((err as { statusCode?: number }).statusCode !== 409) throw err;
      }
    }
    // CheckDuplicate is best effort: another agent on this daemon (a local host is a process of
    // its own) creating it at the same moment leaves two networks of one name, and a container
    // naming it then fails as "ambiguous". The oldest stays; a newer one this agent made goes. A
    // second look a moment later catches a twin that was not listed yet at the first.
    for (let look = 0; created !== undefined && look < 2; look++) {
      if (look > 0) await new Promise((r) => setTimeout(r, 200));
      const all = (await named()).sort((a, b) => createdKey(a.Created).localeCompare(createdKey(b.Created)) || a.Id.localeCompare(b.Id));
      if (all.length > 1 && all[0].Id !== created) {
        await this.docker
          .getNetwork(created)
          .remove()
          .catch((err: { statusCode?: number }) => {
            if (err.statusCode !== 404) throw err;
          });
        created = undefined;
      }
    }
    this.known.add(name);
    return name;
  }
}

/** Docker's `Created` (RFC 3339 with up to 9 fraction digits, trailing zeros dropped) in an order strings keep. */
function createdKey(created: string): string {
  return created.replace(/\.(\d{1,9})/, (_, fraction: string) => `.${fraction.padEnd(9, '0')}`);
}
