/**
 * One Docker network per namespace (issue 14), where the host has no container network of its
 * own (local mode): a pod's first container joins `<base>-ns-<namespace>` (`default` keeps `<base>`,
 * the cluster's network, as before namespaces were isolated). Docker keeps user-defined bridge
 * networks apart (its isolation chains drop traffic between two bridges), so a container reaches
 * only its own namespace's pods, by address or by name (the service aliases live on that network
 * alone). Published ports are bound to the host's loopback address (127.0.1.x), which containers
 * do not reach either.
 *
 * On AWS the host document carries one routed subnet per host (agent/host-network.ts) and pods of
 * every namespace share it: isolation there needs rules per namespace in the document (not done).
 */
import Docker from 'dockerode';

/** The label the local cluster removes its networks by (local/cluster.ts removeNetwork). */
const CLUSTER_LABEL = 'skiff.cluster';
const NAMESPACE_LABEL = 'skiff.namespace';

/** The network of a namespace's pods: the base network for `default`, a network of its own for any other. */
export function namespaceNetworkName(base: string, namespace: string): string {
  return namespace === 'default' ? base : `${base}-ns-${namespace}`;
}

export class NamespaceNetworks {
  private readonly known = new Set<string>();

  constructor(
    private readonly base: string,
    private readonly cluster: string,
    private readonly docker: Pick<Docker, 'listNetworks' | 'createNetwork'> = new Docker(),
  ) {}

  /** The namespace's network, created when missing. Idempotent; another agent creating it meanwhile is fine. */
  async ensure(namespace: string): Promise<string> {
    const name = namespaceNetworkName(this.base, namespace);
    if (this.known.has(name) || name === this.base) return name;
    const existing = await this.docker.listNetworks({ filters: { name: [name] } });
    if (!existing.some((n) => n.Name === name)) {
      try {
        await this.docker.createNetwork({
          Name: name,
          Driver: 'bridge',
          CheckDuplicate: true,
          Labels: { [CLUSTER_LABEL]: this.cluster, [NAMESPACE_LABEL]: namespace },
        });
      } catch (err) {
        // 409: another local agent created it meanwhile; that one is as good.
        if ((err as { statusCode?: number }).statusCode !== 409) throw err;
      }
    }
    this.known.add(name);
    return name;
  }
}
