/**
 * One-way `spec.network.allowFrom` in local mode (issue 14; docs/network.md, "Letting namespaces in").
 * A replica of a service that lets namespace N in joins N's Docker network as a guest, so N's containers
 * resolve and reach it; this keeps the guest from opening connections there (core/packet-filter.ts
 * `guestRules`), through this agent's packet filter chain.
 *
 * The rules follow the guest pods this agent runs: `admit` right after a guest pod's sandbox starts
 * (its addresses exist only from then) and before any container of the pod runs in it, `sync` every
 * round with the sandboxes of the tasks that let namespaces in (pods gone, rules gone; a chain flushed
 * behind the agent's back is written again within `recheckMs`).
 *
 * Without iptables, or without the right to use it (an agent not run as root), the agent says so once
 * and goes on: allowFrom then opens both ways, as a bridge does (docs/security.md).
 */
import type Dockerode from 'dockerode';
import { type GuestPod, guestRules } from '../core/packet-filter.ts';
import { ChainWriter } from './chain-writer.ts';
import type { PacketFilter } from './packet-filter.ts';

export interface GuestIsolationDeps {
  readonly docker: Pick<Dockerode, 'getContainer' | 'getNetwork'>;
  readonly filter: PacketFilter;
  readonly log: (level: 'info' | 'warn' | 'error', message: string, data?: Record<string, unknown>) => void;
  readonly now: () => number;
  /** Rules applied less than this long ago are not written again unless they changed. @default 60_000 */
  readonly recheckMs?: number;
}

/** A sandbox of a task whose spec lets other namespaces in. */
export interface GuestSandbox {
  readonly id: string;
  readonly taskId: string;
}

export class GuestIsolation {
  /** Guest pods by sandbox id; null: inspected, joined no other network. */
  private readonly pods = new Map<string, GuestPod | null>();
  private readonly subnets = new Map<string, string>();
  private readonly chain: ChainWriter;

  constructor(private readonly deps: GuestIsolationDeps) {
    this.chain = new ChainWriter({ ...deps, unavailableMeans: "A service's spec.network.allowFrom opens both ways on this host (docs/security.md)" });
  }

  /** A guest pod's sandbox started: its rules are written before any of its containers runs (cheap when they are). Never throws. */
  async admit(sandbox: GuestSandbox): Promise<void> {
    await this.chain.guard(async () => {
      if (!this.pods.has(sandbox.id)) await this.learn(sandbox);
      await this.write(false);
    });
  }

  /** Every round: the guest sandboxes that run now. Never throws. */
  async sync(sandboxes: readonly GuestSandbox[]): Promise<void> {
    await this.chain.guard(async () => {
      const ids = new Set(sandboxes.map((s) => s.id));
      for (const id of this.pods.keys()) if (!ids.has(id)) this.pods.delete(id);
      for (const s of sandboxes) if (!this.pods.has(s.id)) await this.learn(s);
      await this.write(true);
    });
  }

  /** The rules in force, as last written. */
  get rules(): ReturnType<typeof guestRules> {
    return guestRules([...this.pods.values()].filter((p): p is GuestPod => p !== null));
  }

  /** No guest here: no chain at all (agent/chain-writer.ts clear). A round re-checks rules written long ago; an admit writes only a change. */
  private async write(recheck: boolean): Promise<void> {
    const rules = this.rules;
    if (rules.length === 0) return await this.chain.clear();
    await this.chain.write(rules, recheck);
  }

  /** Reads a sandbox's addresses and the subnets of the networks it is a guest on (all but the one it was created on). */
  private async learn(sandbox: GuestSandbox): Promise<void> {
    const info = await this.deps.docker.getContainer(sandbox.id).inspect();
    const home = info.HostConfig?.NetworkMode;
    const networks = Object.entries(info.NetworkSettings?.Networks ?? {});
    const addresses = networks.map(([, n]) => n.IPAddress).filter((a): a is string => !!a);
    const guestSubnets: string[] = [];
    for (const [name] of networks) {
      if (name === home) continue;
      guestSubnets.push(...(await this.subnetOf(name)));
    }
    this.pods.set(sandbox.id, guestSubnets.length > 0 && addresses.length > 0 ? { task: sandbox.taskId, addresses, guestSubnets } : null);
  }

  private async subnetOf(network: string): Promise<string[]> {
    const known = this.subnets.get(network);
    if (known) return [known];
    const info = await this.deps.docker.getNetwork(network).inspect();
    const subnets = ((info.IPAM?.Config ?? []) as { Subnet?: string }[]).map((c) => c.Subnet).filter((s): s is string => !!s && !s.includes(':'));
    if (subnets.length === 1) this.subnets.set(network, subnets[0]);
    return subnets;
  }
}
